"""Result 3 of the paper: which training distribution generalizes, and which learns fastest.

Pure functions build the training-spectrum x test-spectrum accuracy table from evaluation
summaries, and learning curves and examples-to-accuracy from training logs; `ood_study` is the
entry point behind `mathformer analyse ood`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mathformer.analysis import catalogue
from mathformer.analysis.output_set import output_set
from mathformer.core.intervals import wilson
from mathformer.core.metrics import HEADLINE_TOLERANCE
from mathformer.core.problems import SPECTRA
from mathformer.figures.ood import learning_curves_figure, ood_heatmap_figure
from mathformer.figures.style import style
from mathformer.formats.run_folder import SEEDED_RUN, seeded_run_name
from mathformer.formats.summaries import read_summary, summary_accuracy, summary_interval
from mathformer.formats.tables import MISSING
from mathformer.formats.train_log import VALID, accuracy_column, parse_accuracy_column, read_log

LEVELS_PCT = (50, 90, 95)


def spectrum_order(names: Iterable[str]) -> list[str]:
    """The paper's order of spectra (semicircle first); unknown names follow, sorted."""
    distinct = set(names)
    return [s for s in SPECTRA if s in distinct] + sorted(distinct - set(SPECTRA))


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Training-run names without the prefix they share, cut after an underscore.

    The workflow names OOD runs after their spectrum ('eigval_laplace', 'eigval_marcenko'), and the
    table and figures read better with the spectrum alone. Names are kept whole when cutting
    would leave one empty or make two equal.
    """
    distinct = list(dict.fromkeys(names))
    shared = os.path.commonprefix(distinct)
    prefix = shared[: shared.rfind("_") + 1]
    short = {name: name[len(prefix) :] for name in distinct}
    if "" in short.values() or len(set(short.values())) < len(short):
        return {name: name for name in distinct}
    return short


def split_seed(name: str) -> tuple[str, int | None]:
    """('laplace', 1) for 'laplace_s1', a run of a row trained with several seeds; (name, None) otherwise."""
    match = SEEDED_RUN.fullmatch(name)
    return (name, None) if match is None else (match["group"], int(match["seed"]))


def spectrum_names(runs: Iterable[str]) -> dict[str, str]:
    """Run -> its `short_names` name, the seed kept: eigval_laplace_s1 -> laplace_s1. The seeds
    are set aside while shortening, or the seeds of one spectrum alone would shorten to 's0', 's1'."""
    split = {run: split_seed(run) for run in dict.fromkeys(runs)}
    short = short_names(group for group, _ in split.values())
    return {
        run: short[group] if seed is None else seeded_run_name(short[group], seed)
        for run, (group, seed) in split.items()
    }


# ---------------------------------------------------------------- the 7 x 7 table


def accuracy_matrix(summaries: Mapping[tuple[str, str], Mapping[str, Any]], tolerance: float) -> pd.DataFrame:
    """Accuracy in percent, training spectrum (rows, a `train_spectrum` column) by test spectrum (columns).

    Runs of one spectrum trained with several seeds (SPECTRUM_s<seed>) make one row, the mean
    over the seeds (`accuracy_intervals` has each seed's value and the spread). Pairs with no
    summary are NaN, so a partial study still gives a (holey) table.
    """
    if not summaries:
        raise ValueError("the OOD table needs at least one summary (TRAIN/TEST=SUMMARY.json)")
    cells = pd.DataFrame(
        [
            (split_seed(train)[0], test, 100 * summary_accuracy(summary, tolerance))
            for (train, test), summary in summaries.items()
        ],
        columns=["train", "test", "accuracy_pct"],
    )
    matrix = cells.groupby(["train", "test"], sort=False)["accuracy_pct"].mean().unstack()
    matrix = matrix.reindex(index=spectrum_order(matrix.index), columns=spectrum_order(matrix.columns))
    matrix.index.name = "train_spectrum"
    matrix.columns.name = None
    return matrix.reset_index()


INTERVAL_COLUMNS = [
    "train_spectrum", "seed", "test_spectrum", "count", "accuracy_pct", "accuracy_pct_low", "accuracy_pct_high",
    "seeds", "seed_mean_pct", "seed_sd_pct", "seed_min_pct", "seed_max_pct", "pooled_pct_low", "pooled_pct_high",
]  # fmt: skip


def accuracy_intervals(
    summaries: Mapping[tuple[str, str], Mapping[str, Any]], tolerance: float
) -> pd.DataFrame:
    """The cells of `accuracy_matrix` as rows, one per training run (and seed), with the test-set
    size and the 95 % Wilson interval the summary stores: train_spectrum, seed (blank for a run
    of one seed), test_spectrum, count, accuracy_pct, accuracy_pct_low, accuracy_pct_high.

    Beside each value, the spread of its training spectrum over the seeds on the same test set:
    seeds, seed_mean_pct, seed_sd_pct (blank with one seed), seed_min_pct, seed_max_pct; and
    pooled_pct_low/high, the Wilson interval of the accuracy over all the seeds' test matrices
    (the heat map's interval, of the mean it shows; with one seed, the run's own interval).
    """
    rows = []
    for (train, test), summary in summaries.items():
        spectrum, seed = split_seed(train)
        share, (low, high) = summary_accuracy(summary, tolerance), summary_interval(summary, tolerance)
        rows.append(
            {"train_spectrum": spectrum, "seed": seed, "test_spectrum": test, "count": int(summary["count"]),
             "accuracy_pct": 100 * share, "accuracy_pct_low": 100 * low, "accuracy_pct_high": 100 * high}
        )  # fmt: skip
    table = pd.DataFrame(rows).astype({"seed": "Int64"})
    table = pd.concat([table, _seed_spread(table)], axis=1)
    order = {
        name: i for i, name in enumerate(spectrum_order([*table["train_spectrum"], *table["test_spectrum"]]))
    }
    by_name = lambda column: column if column.name == "seed" else column.map(order)  # noqa: E731
    table = table.sort_values(["train_spectrum", "test_spectrum", "seed"], key=by_name, ignore_index=True)
    return table[INTERVAL_COLUMNS]


def _seed_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per row, the spread over the seeds of its (training spectrum, test spectrum) pair, and the pooled interval."""
    groups = table.groupby(["train_spectrum", "test_spectrum"], sort=False)
    accuracy = groups["accuracy_pct"]
    successes = (table["accuracy_pct"] / 100 * table["count"]).round()
    pooled_successes = successes.groupby(
        [table["train_spectrum"], table["test_spectrum"]], sort=False
    ).transform("sum")
    pooled_low, pooled_high = wilson(pooled_successes, groups["count"].transform("sum"))
    seeds = accuracy.transform("size")
    single = seeds == 1  # one seed: the interval the summary stores, not a recomputed one
    return pd.DataFrame(
        {
            "seeds": seeds,
            "seed_mean_pct": accuracy.transform("mean"),
            "seed_sd_pct": accuracy.transform("std"),
            "seed_min_pct": accuracy.transform("min"),
            "seed_max_pct": accuracy.transform("max"),
            "pooled_pct_low": np.where(single, table["accuracy_pct_low"], 100 * pooled_low),
            "pooled_pct_high": np.where(single, table["accuracy_pct_high"], 100 * pooled_high),
        },
        index=table.index,
    )


# ---------------------------------------------------------------- learning curves


def learning_curves(logs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Training logs (training spectrum -> train_log.csv frame) as one long table.

    Columns: train_spectrum, seed (blank unless the run is one of several seeds, SPECTRUM_s<seed>),
    evaluated_on (valid or a test-set name), tolerance_pct, examples, accuracy_pct. Log
    accuracies are shares (0..1); rows where a set was not evaluated are dropped.
    """
    parts = []
    for name, log in logs.items():
        if "examples" not in log:
            raise ValueError(
                f"training log of {name!r} has no 'examples' column; it has {', '.join(log.columns)}"
            )
        spectrum, seed = split_seed(name)
        for column in log.columns:
            parsed = parse_accuracy_column(column)
            if parsed is None:
                continue
            evaluated_on, tolerance_pct = parsed
            parts.append(
                pd.DataFrame(
                    {
                        "train_spectrum": spectrum,
                        "seed": seed,
                        "evaluated_on": evaluated_on,
                        "tolerance_pct": tolerance_pct,
                        "examples": log["examples"].to_numpy(dtype=np.float64),
                        "accuracy_pct": 100 * log[column].to_numpy(dtype=np.float64),
                    }
                )
            )
    columns = ["train_spectrum", "seed", "evaluated_on", "tolerance_pct", "examples", "accuracy_pct"]
    if not parts:
        return pd.DataFrame(columns=columns)
    curves = pd.concat(parts, ignore_index=True).dropna(subset=["accuracy_pct"]).astype({"seed": "Int64"})
    rank = {name: i for i, name in enumerate(spectrum_order(curves["train_spectrum"]))}
    curves = curves.assign(_rank=curves["train_spectrum"].map(rank))
    ordered = curves.sort_values(
        ["_rank", "seed", "evaluated_on", "tolerance_pct", "examples"], kind="stable", ignore_index=True
    )
    return ordered.drop(columns="_rank")[columns]


def seed_bands(curves: pd.DataFrame) -> pd.DataFrame:
    """The learning curves with the seeds of each training spectrum folded into one: the mean
    accuracy and its min and max over the seeds (accuracy_pct, accuracy_pct_min,
    accuracy_pct_max), and how many seeds (`seeds`). Only the evaluations every seed reached are
    kept, so that a seed that stopped early does not make the mean jump where it ends."""
    keys = ["train_spectrum", "evaluated_on", "tolerance_pct", "examples"]
    seeds = curves.groupby("train_spectrum", sort=False)["seed"].nunique(dropna=False)
    grouped = curves.groupby(keys, sort=False)["accuracy_pct"]
    bands = grouped.agg(
        accuracy_pct="mean", accuracy_pct_min="min", accuracy_pct_max="max", reached="size"
    ).reset_index()
    bands["seeds"] = bands["train_spectrum"].map(seeds).astype(int)
    return bands[bands["reached"] == bands["seeds"]].drop(columns="reached").reset_index(drop=True)


def examples_to_reach(examples: np.ndarray, accuracy_pct: np.ndarray, level_pct: float) -> float:
    """Examples seen at the first evaluation with accuracy >= level; NaN if it never got there."""
    reached = np.flatnonzero(accuracy_pct >= level_pct)
    return float(examples[reached[0]]) if reached.size else math.nan


def examples_to_accuracy(
    curves: pd.DataFrame,
    evaluated_on: Sequence[str] = (VALID, catalogue.REFERENCE_SPECTRUM),
    tolerance_pct: float = 100 * HEADLINE_TOLERANCE,
    levels_pct: Sequence[float] = LEVELS_PCT,
) -> pd.DataFrame:
    """Per training spectrum and evaluation set: examples needed to reach each accuracy level,
    the final accuracy and the examples seen in all."""
    chosen = curves[
        curves["evaluated_on"].isin(evaluated_on) & np.isclose(curves["tolerance_pct"], tolerance_pct)
    ]
    rows = []
    for (spectrum, seed, evaluation), group in chosen.groupby(
        ["train_spectrum", "seed", "evaluated_on"], sort=False, dropna=False
    ):
        examples = group["examples"].to_numpy()
        accuracy = group["accuracy_pct"].to_numpy()
        row: dict[str, Any] = {
            "train_spectrum": spectrum,
            "seed": seed,
            "evaluated_on": evaluation,
            "tolerance_pct": tolerance_pct,
        }
        for level in levels_pct:
            row[f"examples_to_{level:g}_pct"] = examples_to_reach(examples, accuracy, level)
        row |= {"final_accuracy_pct": accuracy[-1], "examples_seen": examples[-1]}
        rows.append(row)
    columns = [
        "train_spectrum",
        "seed",
        "evaluated_on",
        "tolerance_pct",
        *(f"examples_to_{level:g}_pct" for level in levels_pct),
        "final_accuracy_pct",
        "examples_seen",
    ]
    table = pd.DataFrame(rows, columns=columns)
    # Spectra in the paper's order, then seeds, the validation set before the test set within each.
    rank = {name: i for i, name in enumerate(spectrum_order(table["train_spectrum"]))}
    set_rank = {name: i for i, name in enumerate(evaluated_on)}
    orders = {"train_spectrum": rank, "evaluated_on": set_rank}
    table = table.astype({"seed": "Int64"})
    return table.sort_values(
        ["train_spectrum", "seed", "evaluated_on"],
        key=lambda col: col.map(orders[col.name]) if col.name in orders else col,
        ignore_index=True,
    )


# ---------------------------------------------------------------- reading and checking the inputs


def _read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """An evaluation summary with what the tables read: a test-set size, and the accuracy (a share)
    at each reported tolerance with the interval at the headline one; ValueError naming the file."""
    summary = read_summary(path)
    try:
        count = summary.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"its test-set size 'count' must be a positive integer, got {count!r}")
        for tolerance in catalogue.OOD_ACCURACY:
            share = summary_accuracy(summary, tolerance)
            if not 0 <= share <= 1:
                raise ValueError(
                    f"its accuracy at {100 * tolerance:g} % must be a share in [0, 1], got {share!r}"
                )
        summary_interval(summary, HEADLINE_TOLERANCE)
    except (ValueError, TypeError) as err:
        raise ValueError(f"evaluation summary {str(path)!r} is unusable: {err}") from None
    return summary


def _read_log(path: str | os.PathLike) -> pd.DataFrame:
    """A training log with what the learning curves draw: a row per epoch, the examples seen and the
    validation accuracy at the headline tolerance, all numbers; ValueError naming the file."""
    log = read_log(path)
    curve = accuracy_column(VALID, HEADLINE_TOLERANCE)
    accuracy = [column for column in log.columns if parse_accuracy_column(column) is not None]
    missing = [column for column in ("examples", curve) if column not in log]
    if missing:
        raise ValueError(
            f"training log {str(path)!r} lacks column(s) {', '.join(missing)} (the learning curves draw the "
            f"validation accuracy at {100 * HEADLINE_TOLERANCE:g} % against examples); it has {', '.join(log.columns)}"
        )
    if log.empty:
        raise ValueError(f"training log {str(path)!r} has a header but no rows: it needs one row per epoch")
    wrong = [column for column in ("examples", *accuracy) if not pd.api.types.is_numeric_dtype(log[column])]
    if wrong:
        raise ValueError(
            f"training log {str(path)!r} has values that are not numbers in column(s) {', '.join(wrong)}"
        )
    if log[curve].isna().all():
        raise ValueError(
            f"training log {str(path)!r} has no value in column {curve}: no learning curve to draw"
        )
    return log


def _check_pairs(
    summaries: Mapping[tuple[str, str], object], logs: Mapping[str, pd.DataFrame], paths: Mapping[str, object]
) -> None:
    """The same training runs in the summaries and the logs, and the reference test curve in all logs or none."""
    if not summaries:
        raise ValueError("the OOD study needs at least one summary (TRAIN/TEST=SUMMARY.json)")
    summarised = sorted({train for train, _ in summaries})
    for train in logs:
        if train not in summarised:
            raise ValueError(
                f"training log {str(paths[train])!r} is of run {train!r}, which has no evaluation summary; "
                f"runs with summaries: {', '.join(summarised)}"
            )
    unlogged = [train for train in summarised if train not in logs]
    if unlogged:
        raise ValueError(
            f"summaries of run(s) {', '.join(unlogged)} have no training log: the OOD study needs the log of every run"
        )


def _check_reference(
    logs: Mapping[str, pd.DataFrame],
    paths: Mapping[str, object],
    names: Mapping[str, str],
    reference_test: str,
) -> None:
    """The reference test set's curve in every log or in none: a line is never left out silently.
    A run trained on the reference spectrum is exempt: its validation set is of that spectrum, so
    training does not score a second set of it (`Plan.monitored_sets`)."""
    column = accuracy_column(reference_test, HEADLINE_TOLERANCE)
    others = {train: log for train, log in logs.items() if split_seed(names[train])[0] != reference_test}
    lacking = [train for train, log in others.items() if column not in log]
    if lacking and len(lacking) < len(others):
        raise ValueError(
            f"training log {str(paths[lacking[0]])!r} lacks column {column}, the {reference_test} test curve "
            "the other logs have (the learning curves draw it for every run or for none)"
        )


# ---------------------------------------------------------------- entry point (I/O)


def _captions(runs: str, logs: Iterable[str], seeded: str) -> dict[catalogue.Output, str]:
    """What each table and figure of the study shows; `runs` names the runs, `seeded` says how seeds fold."""
    tables = {
        output: f"Accuracy (%) at {100 * tolerance:g} % tolerance, training spectrum (rows) by test spectrum (columns){seeded}. {runs}."
        for tolerance, output in catalogue.OOD_ACCURACY.items()
    }
    band = (
        "; a spectrum trained with several seeds: their mean, the band spanning their min to max"
        if seeded
        else ""
    )
    return tables | {
        catalogue.OOD_ACCURACY_INTERVAL: (
            f"Accuracy (%) at {100 * HEADLINE_TOLERANCE:g} % tolerance of every training run on every "
            f"test spectrum, with its 95 % Wilson interval and the test-set size; beside it, over the seeds of its training "
            f"spectrum: their number, mean, standard deviation, min and max, and the Wilson interval of all their test matrices pooled. {runs}."
        ),
        catalogue.EXAMPLES_TO_ACCURACY: (
            f"Training examples needed to reach {', '.join(f'{level} %' for level in LEVELS_PCT)} accuracy at "
            f"{100 * HEADLINE_TOLERANCE:g} % tolerance ({MISSING}: never reached). Runs: {', '.join(logs)}."
        ),
        catalogue.OOD_HEATMAP: (
            f"Out-of-distribution accuracy of eigenvalue models{seeded}, with the 95 % Wilson interval of each cell "
            f"(of all the seeds' test matrices pooled). {runs}."
        ),
        catalogue.LEARNING_CURVES: f"Learning curves{band}. Runs: {', '.join(logs)}.",
    }  # fmt: skip


def _figures(
    tables: Mapping[catalogue.Output, pd.DataFrame], curves: pd.DataFrame, reference_test: str
) -> dict[catalogue.Output, Any]:
    """The heat map (one interval per cell: that of the mean it shows) and the learning curves."""
    headline = catalogue.OOD_ACCURACY[HEADLINE_TOLERANCE]
    cells = tables[catalogue.OOD_ACCURACY_INTERVAL].drop_duplicates(["train_spectrum", "test_spectrum"])
    cells = cells[["train_spectrum", "test_spectrum", "pooled_pct_low", "pooled_pct_high", "seeds"]].set_axis(
        ["train_spectrum", "test_spectrum", "low", "high", "seeds"], axis=1
    )
    at_tolerance = seed_bands(curves[np.isclose(curves["tolerance_pct"], 100 * HEADLINE_TOLERANCE)])
    present = set(at_tolerance["evaluated_on"])
    panel_titles = [
        (key, title)
        for key, title in (
            (VALID, "in distribution (validation set)"),
            (reference_test, f"{reference_test} test set"),
        )
        if key in present
    ]
    return {
        catalogue.OOD_HEATMAP: ood_heatmap_figure(tables[headline], 100 * HEADLINE_TOLERANCE, cells),
        catalogue.LEARNING_CURVES: learning_curves_figure(
            at_tolerance, panel_titles, 100 * HEADLINE_TOLERANCE
        ),
    }


def ood_study(
    summaries: Mapping[tuple[str, str], str | os.PathLike],
    logs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    reference_test: str = catalogue.REFERENCE_SPECTRUM,
) -> dict[str, pd.DataFrame]:
    """`mathformer analyse ood`: summaries ((train, test) spectra -> summary JSON) and training logs
    (train spectrum -> train_log.csv) to the ood_accuracy tables (5, 2, 1 %), the
    examples_to_accuracy table and the ood_heatmap and learning_curves figures under out_dir.
    `reference_test` is the test set, as named in the logs, whose curve is drawn beside the
    validation curve. Training runs are labelled by their names less the prefix they share
    (eigval_laplace -> laplace; see `spectrum_names`). Runs named SPECTRUM_s<seed> are seeds of
    one training spectrum: the 7 x 7 tables and the heat map show their mean, the interval table
    each seed beside their spread, the learning curves their mean within a min-max band.
    Every training run needs its log and its summaries. Returns the tables by name.
    """
    loaded = {pair: _read_summary(path) for pair, path in summaries.items()}
    read_logs = {train: _read_log(path) for train, path in logs.items()}
    _check_pairs(loaded, read_logs, logs)
    names = spectrum_names([train for train, _ in summaries] + list(logs))
    _check_reference(read_logs, logs, names, reference_test)
    loaded = {(names[train], test): summary for (train, test), summary in loaded.items()}
    curves = learning_curves({names[train]: log for train, log in read_logs.items()})
    tables = {
        output: accuracy_matrix(loaded, tolerance) for tolerance, output in catalogue.OOD_ACCURACY.items()
    }
    tables[catalogue.OOD_ACCURACY_INTERVAL] = accuracy_intervals(loaded, HEADLINE_TOLERANCE)
    tables[catalogue.EXAMPLES_TO_ACCURACY] = examples_to_accuracy(curves, (VALID, reference_test))
    seeded = (
        "; a spectrum trained with several seeds shows their mean"
        if tables[catalogue.OOD_ACCURACY_INTERVAL]["seeds"].max() > 1
        else ""
    )
    captions = _captions(f"Runs: {', '.join(dict.fromkeys(train for train, _ in summaries))}", logs, seeded)
    with style(), output_set(out_dir, "ood") as outputs:
        for output, table in tables.items():
            outputs.table(output, table, captions[output])
        for output, figure in _figures(tables, curves, reference_test).items():
            outputs.figure(output, figure, captions[output])
    return {output.name: table for output, table in tables.items()}
