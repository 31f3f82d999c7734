"""Result tables written three ways (CSV, Markdown, LaTeX), every number printed alike."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mathformer.formats.tables import format_cell, read_table, to_latex, to_markdown, write_table


def test_cells_print_alike_in_every_format():
    assert format_cell(1.0104) == "1.0104"
    assert format_cell(99.94) == "99.94"
    assert format_cell(np.int64(1200000)) == "1,200,000"
    assert format_cell(1200000.0) == "1,200,000"
    assert format_cell(float("nan")) == "n/a"
    assert format_cell(float("inf")) == "inf"
    assert format_cell(pd.array([None], dtype="Int64")[0]) == "n/a"  # a run trained with one seed has none
    frame = pd.DataFrame({"name": ["a_b|c"], "share_pct": [12.345678]})
    assert "| a_b\\|c | 12.346 |" in to_markdown(frame)
    assert "---:" in to_markdown(frame)
    latex = to_latex(frame, caption="5 % & more", label="t")
    assert r"a\_b|c & 12.346 \\" in latex and r"\caption{5 \% \& more}" in latex and r"\label{tab:t}" in latex


def test_write_table_round_trips_through_csv(tmp_path):
    frame = pd.DataFrame({"run": ["a", "b"], "auc": [0.5, 1.0], "count": [3, 4]})
    paths = write_table(frame, tmp_path / "tables", "t", caption="A caption")
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["t.csv", "t.md", "t.tex"]
    pd.testing.assert_frame_equal(read_table(paths["csv"]), frame)
    assert paths["md"].read_text().startswith("A caption\n")
