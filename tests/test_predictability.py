"""Result 2's statistics: condition numbers of correct vs failed predictions, their histograms and figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthetic_results as synthetic
from analysis_helpers import assert_legends_cover_no_axes, data_axes, drawn, legend_texts, overlaps, row
from mathformer.analysis.catalogue import ANALYSIS_TASKS
from mathformer.analysis.claims import paper_values
from mathformer.analysis.predictability import (
    condition_histogram,
    condition_marks,
    condition_number_table,
    outcome_statistics,
    predictability,
)
from mathformer.analysis.roughly_right import roughly_right
from mathformer.figures.predictability import condition_histograms_figure
from mathformer.figures.style import style

CLAIMS_FILE = Path(__file__).resolve().parents[1] / "config" / "claims.yaml"


def test_condition_of_eigenvector_failures_is_that_of_the_predicted_vectors():
    table, broken = synthetic.eigenvector_predictions(count=400)
    stats = condition_number_table(table.to_pandas(), "eigenvectors", "eig")
    correct = row(stats, tolerance_pct=1.0, outcome="correct")
    failed = row(stats, tolerance_pct=1.0, outcome="failed")
    assert correct["condition_of"] == "the predicted eigenvectors"
    assert correct["count"] == (~broken).sum() and failed["count"] == broken.sum()
    assert correct["max"] == pytest.approx(1.0)  # exact eigenvectors are orthogonal
    assert failed["min"] > correct["max"]


def test_outcome_statistics_keep_infinity_and_drop_nan():
    values = np.array([1.0, 2.0, 3.0, np.inf, np.nan, 5.0])
    failed = np.array([False, False, False, True, True, True])
    stats = outcome_statistics(values, failed).set_index("outcome")
    assert stats.loc["correct", "count"] == 3 and stats.loc["correct", "median"] == 2.0
    assert stats.loc["failed", "count"] == 2  # the NaN (an undecoded row) is left out
    assert stats.loc["failed", "max"] == np.inf and stats.loc["failed", "p98"] == np.inf
    empty = outcome_statistics(np.array([1.0]), np.array([False])).set_index("outcome")
    assert empty.loc["failed", "count"] == 0 and np.isnan(empty.loc["failed", "mean"])


def _histogram_frame(seed: int = 0) -> pd.DataFrame:
    """Eigenvector predictions whose cond - 1 is log-uniform over 1e-4..1 (correct below 1e-2),
    with a few far outliers for the end bins to take."""
    rng = np.random.default_rng(seed)
    cond_minus_one = 10 ** rng.uniform(-4, 0, 2000)
    cond_minus_one[:5] = 1e3  # beyond the 99.5th percentile: clipped into the last bin
    return pd.DataFrame(
        {
            "decoded": True,
            "error": np.where(cond_minus_one < 1e-2, 0.0, 1.0),
            "pred_vectors_cond": 1 + cond_minus_one,
        }
    )


def test_condition_histogram_counts_the_values_its_end_bins_take():

    histogram = condition_histogram(_histogram_frame(), "eigenvectors", "eig")
    failed, correct = (
        histogram[histogram["outcome"] == outcome].iloc[0] for outcome in ("failed", "correct")
    )
    # The bins stop at the pooled 99.5th percentile: the 5 outliers (log 3) and ~5 of the largest others lie beyond.
    assert histogram["bin_right"].max() < 3 and 5 <= failed["clipped_high"] <= 11
    assert correct["clipped_high"] == 0 and failed["clipped_low"] == 0 and 5 <= correct["clipped_low"] <= 11
    assert (histogram["offset"] == 1.0).all() and histogram["condition_of"].iloc[
        0
    ] == "the predicted eigenvectors"


def test_condition_histograms_mark_the_papers_split_and_keep_ticks_apart():

    histogram = pd.concat(
        [
            condition_histogram(_histogram_frame(), "eigenvectors", "eigvec"),
            condition_histogram(_histogram_frame(1), "eigenvectors", "other"),
        ]
    )
    marks = condition_marks(
        [value for value in paper_values(CLAIMS_FILE, "smoke") if value.table == "condition_numbers"]
    )
    assert sorted(marks["value"]) == [1.031, 1.042]  # the split at 5 %, not the means or extremes
    with style():
        figure = drawn(condition_histograms_figure(histogram, {"eigvec": "eigenvectors 5x5 (92 %)"}, marks))
    ax = figure.axes[0]
    paper_lines = {
        line.get_label(): line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label().startswith("paper")
    }
    assert paper_lines == {
        "paper: correct 98th pct 1.031": pytest.approx(np.log10(0.031)),
        "paper: failed 2nd pct 1.042": pytest.approx(np.log10(0.042)),
    }
    assert not any(
        line.get_label().startswith("paper") for line in data_axes(figure)[1].get_lines()
    )  # no claim about that run
    first = histogram[histogram["run"] == "eigvec"]
    clipped = first.groupby("outcome")["clipped_high"].first().sum()
    note = f"last bin also holds {clipped} values with cond − 1 ≥ {10 ** first['bin_right'].max():.3g}"
    assert clipped >= 5 and note in legend_texts(figure)
    renderer = figure.canvas.get_renderer()
    for axes in data_axes(figure):
        boxes = [
            label.get_window_extent(renderer)
            for label in axes.get_xticklabels()
            if label.get_text() and label.get_visible()
        ]
        assert len(boxes) >= 2
        assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # Neighbouring panels' axis labels do not run into each other either.
    first, second = (axes.xaxis.label.get_window_extent(renderer) for axes in data_axes(figure))
    assert not overlaps(first, second)
    assert_legends_cover_no_axes(figure)


def test_predictability_of_an_all_correct_run_still_writes_its_files(tmp_path):
    table = synthetic.scored_table("inversion", *_exact_inverses(40))
    path = synthetic.write_table(table, tmp_path / "inv.parquet", "inversion", 3)
    tables = predictability({"perfect": path}, tmp_path / "out")
    assert tables["failure_predictors"].empty
    assert (tmp_path / "out" / "figures" / "roc_curves.png").is_file()
    assert row(tables["condition_numbers"], tolerance_pct=5.0, outcome="failed")["count"] == 0


def _exact_inverses(count: int):
    from mathformer.core.problems import Problem

    inputs, targets = Problem("inversion", n=3).sample(count, np.random.default_rng(0))
    return inputs, targets, targets.copy(), np.ones(count, dtype=bool)


def test_the_workflow_offers_each_analysis_for_the_tasks_it_accepts(tmp_path):

    table, _ = synthetic.inversion_predictions(count=50)
    path = synthetic.write_table(table, tmp_path / "inv.parquet", "inversion", 3)
    assert "inversion" in ANALYSIS_TASKS["predictability"]
    predictability({"inv": path}, tmp_path / "out")  # accepted
    assert "inversion" not in ANALYSIS_TASKS["roughly_right"]
    with pytest.raises(ValueError, match="needs a predictions table of task eigenvectors"):
        roughly_right({"inv": path}, tmp_path / "out")
