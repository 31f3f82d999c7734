"""Result 1 (roughly right) on synthetic predictions whose answers are known, its figure, and run titles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthetic_results as synthetic
from analysis_helpers import assert_legends_cover_no_axes, drawn, legend_texts, row
from mathformer.analysis.claims import paper_values
from mathformer.analysis.failures import WEAK_NOTE, run_title, unique_titles
from mathformer.analysis.output_set import OutputSet
from mathformer.analysis.roughly_right import (
    ROUGHLY_RIGHT_TOLERANCES,
    roughly_right,
    roughly_right_marks,
    roughly_right_table,
)
from mathformer.figures.roughly_right import PAPER_LABEL, roughly_right_figure
from mathformer.figures.style import save_figure, style

CLAIMS_FILE = Path(__file__).resolve().parents[1] / "config" / "claims.yaml"


def test_roughly_right_counts_each_part_over_all_and_over_failures():
    errors = np.linspace(0.0, 0.3, 1000, endpoint=False)
    frame = pd.DataFrame(
        {
            "error": np.append(errors, [np.inf, np.inf]),  # two predictions that did not decode
            "decoded": np.append(np.ones(1000, bool), [False, False]),
            "eigenvalue_error_paper": np.append(np.zeros(1000), [np.nan, np.nan]),
            "norm_error_paper": np.append(np.zeros(1000), [np.nan, np.nan]),
            # Orthogonality breaks exactly as much as the task error: failures are the non-orthogonal ones.
            "orthogonality_paper": np.append(errors, [np.nan, np.nan]),
            # Over all pairs of columns, every prediction is twice as far from orthogonal.
            "orthogonality": np.append(2 * errors, [np.nan, np.nan]),
        }
    )
    table = roughly_right_table(frame, "toy")
    assert list(table["tolerance_pct"]) == pytest.approx([100 * t for t in ROUGHLY_RIGHT_TOLERANCES])
    for tolerance in ROUGHLY_RIGHT_TOLERANCES:
        line = row(table, tolerance_pct=100 * tolerance)
        correct = (errors < tolerance).sum()
        assert line["failures"] == 1002 - correct
        assert line["undecoded_failures"] == 2
        assert line["accuracy_pct"] == pytest.approx(100 * correct / 1002)
        # Over all predictions, undecoded ones count as wrong on every part.
        assert line["all_eigenvalues_pct"] == pytest.approx(100 * 1000 / 1002)
        assert line["all_orthogonal_pct"] == pytest.approx(line["accuracy_pct"])
        assert line["all_orthogonal_all_pairs_pct"] == pytest.approx(
            100 * (2 * errors < tolerance).sum() / 1002
        )
        # Over the decoded failures: all of them keep eigenvalues and norms, none orthogonality.
        assert line["failed_eigenvalues_norms_pct"] == 100.0
        assert line["failed_orthogonal_pct"] == 0.0


def test_roughly_right_on_eigenvectors_that_lose_orthogonality_only():
    table, broken = synthetic.eigenvector_predictions(count=400)
    frame = table.to_pandas()
    line = row(roughly_right_table(frame, "eig"), tolerance_pct=1.0)
    assert line["failures"] == broken.sum()  # at 1 % every broken prediction fails, and only those
    assert line["failed_eigenvalues_pct"] == line["failed_norms_pct"] == 100.0
    assert line["failed_orthogonal_pct"] == 0.0
    assert line["all_orthogonal_pct"] == pytest.approx(100 * (1 - broken.mean()))


def test_roughly_right_figure_draws_a_run_whose_failures_never_decode(tmp_path):
    # No decoded failure at any tolerance: every failed_* share and its interval is NaN.
    table = pd.DataFrame({"run": "a", "tolerance_pct": [0.5, 1.0, 5.0], "accuracy_pct": [0.0, 50.0, 100.0]})
    for column in ("accuracy_pct", "failed_eigenvalues_pct", "all_eigenvalues_pct"):
        values = table["accuracy_pct"] if column == "accuracy_pct" else pd.Series([np.nan] * 3)
        table[column] = values
        table[f"{column}_low"], table[f"{column}_high"] = values - 1, values + 1
    with style():
        path = save_figure(roughly_right_figure(table), tmp_path / "rr.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_roughly_right_figure_marks_the_papers_values_and_names_runs_readably(tmp_path):

    table, _ = synthetic.eigenvector_predictions(count=200)
    frame = roughly_right_table(table.to_pandas(), "eigvec")
    marks = roughly_right_marks(
        [value for value in paper_values(CLAIMS_FILE, "smoke") if value.table == "roughly_right"]
    )
    with style():
        figure = drawn(roughly_right_figure(frame, {"eigvec": "eigenvectors 4x4 (80 %)"}, marks, 5.0))
    top = figure.axes[0]
    stars = [
        line
        for line in top.get_lines()
        if line.get_label() == PAPER_LABEL and line.get_markeredgecolor() == "black"
    ]
    assert any(5.0 in line.get_xdata() and 92.0 in line.get_ydata() for line in stars)
    assert any(text.get_text() == "paper: 92 % at 5 %" for text in top.texts)
    assert top.get_title().startswith("eigenvectors 4x4 (80 %)") and "eigvec\n" not in top.get_title()
    assert "the paper's value" in legend_texts(figure)
    assert_legends_cover_no_axes(figure)
    # Failures have no paper values: their panel has no star.
    assert not any(line.get_label() == PAPER_LABEL for line in figure.axes[1].get_lines())


def test_run_titles_say_weak_snapshot_seed_and_accuracy():

    weak = {"task": "eigenvectors", "n": 3, "model_file": "weak.pt"}
    assert run_title("eigvec3_weak", weak, 69.4) == "eigenvectors 3x3 (weak snapshot, 69 %)"
    assert (
        run_title("inv5_s1", {"task": "inversion", "n": 5, "model_file": "model.pt"}, 85.0)
        == "inversion 5x5 (seed 1, 85 %)"
    )
    assert unique_titles({"a": "x (1 %)", "b": "x (1 %)", "c": "y"}) == {
        "a": "x (1 %) [a]",
        "b": "x (1 %) [b]",
        "c": "y",
    }
    assert "weak_accuracy" in WEAK_NOTE


def test_failure_figures_name_weak_snapshots_and_explain_them_once(tmp_path, monkeypatch):
    table, _ = synthetic.eigenvector_predictions(count=200)
    paths = {
        "eigvec": synthetic.write_table(table, tmp_path / "eigvec.parquet", "eigenvectors", 4),
        "eigvec_weak": synthetic.write_table(
            table, tmp_path / "eigvec_weak.parquet", "eigenvectors", 4, model_file="weak.pt"
        ),
    }
    saved = {}
    stage = OutputSet.figure

    def record(outputs, output, figure, caption):
        saved[output.name] = (figure, caption)
        stage(outputs, output, figure, caption)

    monkeypatch.setattr(OutputSet, "figure", record)
    roughly_right(paths, tmp_path / "smoke", claims=CLAIMS_FILE)
    figure, caption = saved["roughly_right"]
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[1].startswith("eigenvectors 4x4 (weak snapshot, ") and titles[0].startswith(
        "eigenvectors 4x4 ("
    )
    assert caption.count("weak_accuracy") == 1 and "test accuracy at 5 %" in caption
    # The results folder is named after the smoke scale, whose E1 is 'eigvec': its panel gets the paper's values.
    assert any(line.get_label() == PAPER_LABEL for line in figure.axes[0].get_lines())
    saved.clear()
    roughly_right(paths, tmp_path / "smoke")  # without the claims file: no paper values to mark
    assert not any(line.get_label() == PAPER_LABEL for line in saved["roughly_right"][0].axes[0].get_lines())


def test_figures_are_the_same_bytes_when_drawn_again(tmp_path):
    table, _ = synthetic.eigenvector_predictions(count=200)
    path = synthetic.write_table(table, tmp_path / "e.parquet", "eigenvectors", 4)
    roughly_right({"e": path}, tmp_path / "first")
    roughly_right({"e": path}, tmp_path / "second")
    for suffix in ("pdf", "png", "csv"):
        folder = "tables" if suffix == "csv" else "figures"
        first = (tmp_path / "first" / folder / f"roughly_right.{suffix}").read_bytes()
        assert first == (tmp_path / "second" / folder / f"roughly_right.{suffix}").read_bytes(), suffix
