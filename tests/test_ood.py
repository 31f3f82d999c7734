"""Result 3 (out of distribution): the accuracy tables, learning curves and their figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import synthetic_results as synthetic
from analysis_helpers import legend_texts, row
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


# ---------------------------------------------------------------- bad data: `mathformer analyse ood`


def _study(tmp_path) -> tuple[dict, dict]:
    """The inputs of a small, sound study: three training runs, each with its log and two summaries."""
    runs = ("eigval_semicircle", "eigval_uniform", "eigval_laplace")
    accuracy = {(train, test): 0.8 for train in runs for test in SPECTRA[:2]}
    summaries = synthetic.ood_summaries(tmp_path, accuracy)
    # As training writes them: the semicircle run's validation set is its semicircle curve, so its
    # log has no second semicircle column (Plan.monitored_sets).
    logs = {
        train: synthetic.train_log(
            tmp_path / f"{train}.csv",
            [0.2, 0.6, 0.9],
            tests=() if train == "eigval_semicircle" else ("semicircle",),
        )
        for train in runs
    }
    return summaries, logs


def _drop_column(path, column):
    pd.read_csv(path).drop(columns=column).to_csv(path, index=False)


def _keep_header(path, _):
    path.write_text(path.read_text().splitlines()[0] + "\n")


def _write_text(path, text):
    path.write_text(text)


def _write_bytes(path, _):
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe binary")


def _words_in_column(path, column):
    log = pd.read_csv(path).astype({column: object})
    log.loc[1, column] = "lots"
    log.to_csv(path, index=False)


def _blank_column(path, column):
    log = pd.read_csv(path)
    log[column] = np.nan
    log.to_csv(path, index=False)


def _summary_without(path, key):
    summary = json.loads(path.read_text())
    del summary[key]
    path.write_text(json.dumps(summary))


def _summary_with(path, change):
    path.write_text(json.dumps(json.loads(path.read_text()) | change))


BAD_LOGS = [
    (
        _drop_column,
        "valid_acc_5",
        "lacks column(s) valid_acc_5 (the learning curves draw the validation accuracy at 5 %",
    ),
    (_drop_column, "examples", "lacks column(s) examples"),
    (_keep_header, None, "has a header but no rows: it needs one row per epoch"),
    (_write_text, "", "cannot read training log"),
    (_write_bytes, None, "cannot read training log"),
    (_words_in_column, "examples", "has values that are not numbers in column(s) examples"),
    (_blank_column, "valid_acc_5", "has no value in column valid_acc_5"),
    (
        _drop_column,
        ["semicircle_acc_5"],
        "lacks column semicircle_acc_5, the semicircle test curve the other logs have",
    ),
]
BAD_SUMMARIES = [
    (_summary_without, "count", "its test-set size 'count' must be a positive integer, got None"),
    (_summary_without, "accuracy_interval", "has no accuracy_interval at tolerance 0.05"),
    (_summary_with, {"accuracy": {"0.05": 1.5, "0.02": 0.5, "0.01": 0.2}}, "accuracy at 5 % must be a share in [0, 1], got 1.5"),
    (_summary_with, {"accuracy": {"0.05": 0.5}}, "has no accuracy at tolerance 0.02; it has 0.05"),
    (_write_text, "{not json", "cannot read evaluation summary"),
    (_write_bytes, None, "cannot read evaluation summary"),
]  # fmt: skip


def _analyse_ood(capsys, summaries, logs, out) -> tuple[int, str]:
    from mathformer import cli

    argv = ["analyse", "ood", "--out", str(out)]
    argv += [f"--summary={train}/{test}={path}" for (train, test), path in summaries.items()]
    argv += [f"--log={train}={path}" for train, path in logs.items()]
    capsys.readouterr()
    status = cli.main(argv)
    lines = [
        line for line in capsys.readouterr().err.splitlines() if not line.startswith("mathformer analyse:")
    ]
    return status, "\n".join(lines)


def _assert_one_clear_line(message: str, path, expected: str) -> None:
    assert message.startswith("mathformer: error: ") and "\n" not in message, message
    assert repr(str(path)) in message and expected in message, message
    for hidden in (".tmp", "allow_pickle", "KeyError", "Traceback", "mathformer-staging"):
        assert hidden not in message, message


@pytest.mark.parametrize(("spoil", "what", "expected"), BAD_LOGS)
def test_analyse_ood_refuses_a_log_without_what_it_draws(tmp_path, capsys, spoil, what, expected):
    summaries, logs = _study(tmp_path)
    # The laplace log is spoiled; the semicircle test curve is dropped from it alone when asked.
    bad = logs["eigval_laplace"]
    spoil(bad, what[0] if isinstance(what, list) else what)
    status, message = _analyse_ood(capsys, summaries, logs, tmp_path / "out")
    assert status == 1
    _assert_one_clear_line(message, bad, expected)
    assert not (tmp_path / "out" / "tables").exists()


@pytest.mark.parametrize(("spoil", "what", "expected"), BAD_SUMMARIES)
def test_analyse_ood_refuses_a_summary_without_what_the_tables_read(tmp_path, capsys, spoil, what, expected):
    summaries, logs = _study(tmp_path)
    bad = summaries[("eigval_laplace", SPECTRA[1])]
    spoil(bad, what)
    status, message = _analyse_ood(capsys, summaries, logs, tmp_path / "out")
    assert status == 1
    _assert_one_clear_line(message, bad, expected)


def test_analyse_ood_refuses_a_log_and_summaries_of_different_runs(tmp_path, capsys):
    summaries, logs = _study(tmp_path)
    extra = synthetic.train_log(tmp_path / "gaussian.csv", [0.5])
    status, message = _analyse_ood(capsys, summaries, logs | {"eigval_gaussian": extra}, tmp_path / "out")
    assert status == 1
    _assert_one_clear_line(
        message,
        extra,
        "is of run 'eigval_gaussian', which has no evaluation summary; runs with summaries: eigval_laplace, eigval_semicircle, eigval_uniform",
    )
    del logs["eigval_laplace"]
    status, message = _analyse_ood(capsys, summaries, logs, tmp_path / "out")
    assert status == 1 and message == (
        "mathformer: error: summaries of run(s) eigval_laplace have no training log: the OOD study needs the log of every run"
    )


def test_analyse_ood_accepts_the_sound_study(tmp_path, capsys):
    summaries, logs = _study(tmp_path)
    status, message = _analyse_ood(capsys, summaries, logs, tmp_path / "out")
    assert status == 0, message
    assert (tmp_path / "out" / "figures" / "learning_curves.png").is_file()
