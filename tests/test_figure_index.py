"""figures/README.md, the table of figures: each figure's caption, one row each, read back as written."""

from __future__ import annotations

import pytest

from mathformer.formats.figure_index import FIGURE_INDEX, index_text, locked, read_figure_captions


def test_captions_read_back_as_written_one_sorted_row_each(tmp_path):
    captions = {"b_fig": "Second | with a pipe,\nand a line break.", "a_fig": "First \\ with a backslash."}
    (tmp_path / FIGURE_INDEX).write_text(index_text(captions))
    assert read_figure_captions(tmp_path) == {
        "a_fig": "First \\ with a backslash.",
        "b_fig": "Second | with a pipe, and a line break.",  # one line per figure
    }
    readme = (tmp_path / FIGURE_INDEX).read_text()
    assert readme.index("| a_fig |") < readme.index("| b_fig |")  # sorted: the same figures, the same bytes
    assert "written by mathformer.formats.figure_index" in readme
    assert read_figure_captions(tmp_path / "none") == {}


def test_a_damaged_table_of_figures_is_one_clear_error(tmp_path):
    (tmp_path / FIGURE_INDEX).write_text(index_text({"fig": "Caption."}) + "| broken row\n")
    with pytest.raises(ValueError, match="not a '| figure | caption |' row: '| broken row'"):
        read_figure_captions(tmp_path)
    with pytest.raises(ValueError, match="figure name 'a b'"):
        index_text({"a b": "x"})


def test_the_lock_is_on_the_folder_and_leaves_no_file(tmp_path):
    with locked(tmp_path / "figures") as index:
        assert index == tmp_path / "figures" / FIGURE_INDEX
    assert list((tmp_path / "figures").iterdir()) == []
