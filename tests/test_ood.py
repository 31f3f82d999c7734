"""Result 3 (out of distribution): the accuracy tables, learning curves and their figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import legend_texts, row

import synthetic_results as synthetic
from mathformer.analysis.ood import (
    accuracy_intervals,
    accuracy_matrix,
    examples_to_accuracy,
    learning_curves,
    seed_bands,
    short_names,
    spectrum_names,
    split_seed,
)
from mathformer.core.problems import SPECTRA
from mathformer.figures.ood import _interval_fits, learning_curves_figure, ood_heatmap_figure
from mathformer.figures.style import style


def test_ood_table_from_summaries(tmp_path):
    values = {
        (train, test): (i * 7 + j) / 100
        for i, train in enumerate(reversed(SPECTRA))
        for j, test in enumerate(SPECTRA)
    }
    del values[("laplace", "marcenko")]
    summaries = {
        pair: json.loads(path.read_text()) for pair, path in synthetic.ood_summaries(tmp_path, values).items()
    }
    table = accuracy_matrix(summaries, 0.05)
    assert list(table.columns) == ["train_spectrum", *SPECTRA]
    assert list(table["train_spectrum"]) == list(SPECTRA)  # the paper's order, whatever the input order
    indexed = table.set_index("train_spectrum")
    assert indexed.loc["uniform", "gaussian"] == pytest.approx(100 * values[("uniform", "gaussian")])
    assert np.isnan(indexed.loc["laplace", "marcenko"])
    strict = accuracy_matrix(summaries, 0.02).set_index("train_spectrum")
    assert strict.loc["uniform", "gaussian"] == pytest.approx(50 * values[("uniform", "gaussian")])


def test_run_names_shorten_to_their_spectrum():
    assert short_names(["eigval_laplace", "eigval_positive2"]) == {
        "eigval_laplace": "laplace",
        "eigval_positive2": "positive2",
    }
    assert short_names(["eigval_laplace"]) == {"eigval_laplace": "laplace"}
    assert short_names(["a_x", "a_x"]) == {"a_x": "x"}
    assert short_names(["run_", "run_b"]) == {
        "run_": "run_",
        "run_b": "run_b",
    }  # cutting would leave one empty


def test_seeded_run_names_shorten_to_their_spectrum_and_keep_the_seed():

    # The seeds of one spectrum alone share 'eigval_laplace_s': shortening must not eat the spectrum.
    assert spectrum_names(["eigval_laplace_s0", "eigval_laplace_s1"]) == {
        "eigval_laplace_s0": "laplace_s0",
        "eigval_laplace_s1": "laplace_s1",
    }
    assert spectrum_names(["eigval_laplace_s0", "eigval_uniform"]) == {
        "eigval_laplace_s0": "laplace_s0",
        "eigval_uniform": "uniform",
    }
    assert split_seed("laplace_s12") == ("laplace", 12) and split_seed("laplace") == ("laplace", None)


def test_examples_to_accuracy_from_a_training_log(tmp_path):
    fast = pd.read_csv(synthetic.train_log(tmp_path / "fast.csv", [0.1, 0.6, 0.92, 0.97]))
    slow = pd.read_csv(synthetic.train_log(tmp_path / "slow.csv", [0.05, 0.2, 0.55, 0.8]))
    curves = learning_curves({"uniform": slow, "laplace": fast})
    assert set(curves["evaluated_on"]) == {"valid", "semicircle"}
    assert set(curves["tolerance_pct"]) == {5.0, 2.0, 1.0, 0.5}
    table = examples_to_accuracy(curves)
    assert list(table["train_spectrum"]) == ["uniform", "uniform", "laplace", "laplace"]  # paper order
    laplace = row(table, train_spectrum="laplace", evaluated_on="valid")
    assert (laplace["examples_to_50_pct"], laplace["examples_to_90_pct"], laplace["examples_to_95_pct"]) == (
        2000,
        3000,
        4000,
    )
    assert laplace["final_accuracy_pct"] == pytest.approx(97.0)
    uniform = row(table, train_spectrum="uniform", evaluated_on="valid")
    assert uniform["examples_to_50_pct"] == 3000 and np.isnan(uniform["examples_to_90_pct"])
    # The semicircle test set scores half the validation accuracy in these logs: never 50 %.
    assert np.isnan(row(table, train_spectrum="laplace", evaluated_on="semicircle")["examples_to_50_pct"])


def test_learning_curves_need_examples():
    with pytest.raises(ValueError, match="examples"):
        learning_curves({"laplace": pd.DataFrame({"valid_acc_5": [0.5]})})


def _seeded_summaries(tmp_path) -> dict:
    values = {
        ("laplace_s0", "laplace"): 0.9,
        ("laplace_s1", "laplace"): 0.8,
        ("laplace_s0", "uniform"): 0.7,
        ("laplace_s1", "uniform"): 0.5,
    }
    values |= {("uniform", "laplace"): 0.3, ("uniform", "uniform"): 0.95}
    return {
        pair: json.loads(path.read_text()) for pair, path in synthetic.ood_summaries(tmp_path, values).items()
    }


def test_ood_tables_fold_seeds_into_their_mean_and_spread(tmp_path):

    summaries = _seeded_summaries(tmp_path)
    matrix = accuracy_matrix(summaries, 0.05).set_index("train_spectrum")
    assert list(matrix.index) == ["uniform", "laplace"]  # one row per spectrum, the paper's order
    assert matrix.loc["laplace", "laplace"] == pytest.approx(85.0) and matrix.loc[
        "laplace", "uniform"
    ] == pytest.approx(60.0)
    table = accuracy_intervals(summaries, 0.05)
    seeded = table[(table["train_spectrum"] == "laplace") & (table["test_spectrum"] == "uniform")]
    assert list(seeded["seed"]) == [0, 1] and list(seeded["accuracy_pct"]) == pytest.approx([70.0, 50.0])
    assert (seeded["seeds"] == 2).all() and seeded["seed_mean_pct"].iloc[0] == pytest.approx(60.0)
    assert seeded["seed_sd_pct"].iloc[0] == pytest.approx(np.std([70.0, 50.0], ddof=1))
    assert (seeded["seed_min_pct"].iloc[0], seeded["seed_max_pct"].iloc[0]) == (
        pytest.approx(50.0),
        pytest.approx(70.0),
    )
    # The pooled interval is that of 120 successes in 200 matrices.
    low, high = synthetic.wilson(120, 200)
    assert (seeded["pooled_pct_low"].iloc[0], seeded["pooled_pct_high"].iloc[0]) == (
        pytest.approx(100 * low),
        pytest.approx(100 * high),
    )
    single = row(table, train_spectrum="uniform", test_spectrum="uniform")
    assert pd.isna(single["seed"]) and single["seeds"] == 1 and np.isnan(single["seed_sd_pct"])
    assert (single["pooled_pct_low"], single["pooled_pct_high"]) == (
        single["accuracy_pct_low"],
        single["accuracy_pct_high"],
    )


def test_ood_heatmap_writes_intervals_and_outlines_the_diagonal(tmp_path):
    from matplotlib.patches import Rectangle

    summaries = _seeded_summaries(tmp_path)
    table = accuracy_intervals(summaries, 0.05).drop_duplicates(["train_spectrum", "test_spectrum"])
    cells = table[["train_spectrum", "test_spectrum", "pooled_pct_low", "pooled_pct_high", "seeds"]]
    cells = cells.set_axis(["train_spectrum", "test_spectrum", "low", "high", "seeds"], axis=1)
    with style():
        figure = ood_heatmap_figure(accuracy_matrix(summaries, 0.05), 5.0, cells)
    ax = figure.axes[0]
    texts = [text.get_text() for text in ax.texts]
    expected = row(table, train_spectrum="laplace", test_spectrum="uniform")
    assert f"60.0\n[{expected['pooled_pct_low']:.1f}, {expected['pooled_pct_high']:.1f}]" in texts
    outlined = [
        (patch.get_x() + 0.5, patch.get_y() + 0.5) for patch in ax.patches if isinstance(patch, Rectangle)
    ]
    assert sorted(outlined) == [(0.0, 0.0), (1.0, 1.0)]  # rows and columns both uniform, laplace
    columns = [label.get_text() for label in ax.get_xticklabels()]
    rows_ = [label.get_text() for label in ax.get_yticklabels()]
    assert rows_ == ["uniform", "laplace\n(mean of 2 seeds)"]
    assert all(rows_[int(y)].split("\n")[0] == columns[int(x)] for x, y in outlined)
    with style():
        plain = ood_heatmap_figure(accuracy_matrix(summaries, 0.05), 5.0)
    assert not any("[" in text.get_text() for text in plain.axes[0].texts)
    # An interval is written only where it fits its cell.
    assert _interval_fits(75.0, "[79.4, 89.3]") and not _interval_fits(30.0, "[79.4, 89.3]")


def test_learning_curves_of_several_seeds_are_a_mean_with_a_band(tmp_path):
    from matplotlib.collections import PolyCollection

    logs = {
        "laplace_s0": pd.read_csv(synthetic.train_log(tmp_path / "a.csv", [0.2, 0.6, 0.9])),
        "laplace_s1": pd.read_csv(
            synthetic.train_log(tmp_path / "b.csv", [0.4, 0.8])
        ),  # stopped an epoch early
        "uniform": pd.read_csv(synthetic.train_log(tmp_path / "c.csv", [0.1, 0.3, 0.5])),
    }
    curves = learning_curves(logs)
    assert set(curves["train_spectrum"]) == {"laplace", "uniform"} and set(curves["seed"].dropna()) == {0, 1}
    bands = seed_bands(curves[(curves["tolerance_pct"] == 5.0) & (curves["evaluated_on"] == "valid")])
    laplace = bands[bands["train_spectrum"] == "laplace"]
    assert list(laplace["examples"]) == [1000, 2000]  # only where both seeds got to
    assert list(laplace["accuracy_pct"]) == pytest.approx([30.0, 70.0]) and list(
        laplace["accuracy_pct_max"]
    ) == pytest.approx([40.0, 80.0])
    assert (laplace["seeds"] == 2).all() and (
        bands.loc[bands["train_spectrum"] == "uniform", "seeds"] == 1
    ).all()
    with style():
        figure = learning_curves_figure(bands, [("valid", "validation")], 5.0)
    ax = figure.axes[0]
    assert len([child for child in ax.collections if isinstance(child, PolyCollection)]) == 1  # laplace only
    assert "laplace (mean of 2 seeds)" in legend_texts(
        figure
    ) and "band: min to max over seeds" in legend_texts(figure)
    # Examples to an accuracy stay per seed: spectra in the paper's order, then seeds.
    valid = examples_to_accuracy(curves).query("evaluated_on == 'valid'")
    assert [
        (spectrum, None if pd.isna(seed) else int(seed))
        for spectrum, seed in zip(valid["train_spectrum"], valid["seed"])
    ] == [("uniform", None), ("laplace", 0), ("laplace", 1)]
