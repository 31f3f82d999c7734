"""Result 3 of the paper: which training distribution generalizes, and which learns fastest.

Pure functions build the training-spectrum x test-spectrum accuracy table from evaluation
summaries, and learning curves and examples-to-accuracy from training logs; `ood_study` is the
entry point behind `mathformer analyse ood`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mathformer import plots
from mathformer.problems import SPECTRA
from mathformer.summaries import read_summary, summary_accuracy, summary_interval
from mathformer.tables import write_table
from mathformer.train_log import VALID, parse_accuracy_column, read_log

# Companion tables at the stricter tolerances, named by their percentage (ood_accuracy_2, _1).
TABLE_TOLERANCES = {"ood_accuracy": 0.05, "ood_accuracy_2": 0.02, "ood_accuracy_1": 0.01}
LEVELS_PCT = (50, 90, 95)
CURVE_TOLERANCE = 0.05
REFERENCE_TEST = "semicircle"


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


# ---------------------------------------------------------------- the 7 x 7 table


def accuracy_matrix(summaries: Mapping[tuple[str, str], Mapping[str, Any]], tolerance: float) -> pd.DataFrame:
    """Accuracy in percent, training spectrum (rows, a `train_spectrum` column) by test spectrum (columns).

    Pairs with no summary are NaN, so a partial study still gives a (holey) table.
    """
    if not summaries:
        raise ValueError("the OOD table needs at least one summary (TRAIN/TEST=SUMMARY.json)")
    cells = pd.Series({pair: 100 * summary_accuracy(summary, tolerance) for pair, summary in summaries.items()})
    matrix = cells.unstack()
    matrix = matrix.reindex(index=spectrum_order(matrix.index), columns=spectrum_order(matrix.columns))
    matrix.index.name = "train_spectrum"
    matrix.columns.name = None
    return matrix.reset_index()


def accuracy_intervals(summaries: Mapping[tuple[str, str], Mapping[str, Any]], tolerance: float) -> pd.DataFrame:
    """The cells of `accuracy_matrix` as rows, with the test-set size and a 95 % Wilson interval:
    train_spectrum, test_spectrum, count, accuracy_pct, accuracy_pct_low, accuracy_pct_high."""
    rows = []
    for (train, test), summary in summaries.items():
        share, (low, high) = summary_accuracy(summary, tolerance), summary_interval(summary, tolerance)
        rows.append({"train_spectrum": train, "test_spectrum": test, "count": int(summary["count"]), "accuracy_pct": 100 * share, "accuracy_pct_low": 100 * low, "accuracy_pct_high": 100 * high})
    table = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(spectrum_order([*table["train_spectrum"], *table["test_spectrum"]]))}
    return table.sort_values(["train_spectrum", "test_spectrum"], key=lambda column: column.map(order), ignore_index=True)


# ---------------------------------------------------------------- learning curves


def learning_curves(logs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Training logs (training spectrum -> train_log.csv frame) as one long table.

    Columns: train_spectrum, evaluated_on (valid or a test-set name), tolerance_pct, examples,
    accuracy_pct. Log accuracies are shares (0..1); rows where a set was not evaluated are dropped.
    """
    parts = []
    for spectrum, log in logs.items():
        if "examples" not in log:
            raise ValueError(f"training log of {spectrum!r} has no 'examples' column; it has {', '.join(log.columns)}")
        for column in log.columns:
            parsed = parse_accuracy_column(column)
            if parsed is None:
                continue
            evaluated_on, tolerance_pct = parsed
            parts.append(
                pd.DataFrame(
                    {
                        "train_spectrum": spectrum,
                        "evaluated_on": evaluated_on,
                        "tolerance_pct": tolerance_pct,
                        "examples": log["examples"].to_numpy(dtype=np.float64),
                        "accuracy_pct": 100 * log[column].to_numpy(dtype=np.float64),
                    }
                )
            )
    columns = ["train_spectrum", "evaluated_on", "tolerance_pct", "examples", "accuracy_pct"]
    if not parts:
        return pd.DataFrame(columns=columns)
    curves = pd.concat(parts, ignore_index=True).dropna(subset=["accuracy_pct"])
    rank = {name: i for i, name in enumerate(spectrum_order(curves["train_spectrum"]))}
    curves = curves.assign(_rank=curves["train_spectrum"].map(rank))
    ordered = curves.sort_values(["_rank", "evaluated_on", "tolerance_pct", "examples"], kind="stable", ignore_index=True)
    return ordered.drop(columns="_rank")


def examples_to_reach(examples: np.ndarray, accuracy_pct: np.ndarray, level_pct: float) -> float:
    """Examples seen at the first evaluation with accuracy >= level; NaN if it never got there."""
    reached = np.flatnonzero(accuracy_pct >= level_pct)
    return float(examples[reached[0]]) if reached.size else math.nan


def examples_to_accuracy(
    curves: pd.DataFrame,
    evaluated_on: Sequence[str] = (VALID, REFERENCE_TEST),
    tolerance_pct: float = 100 * CURVE_TOLERANCE,
    levels_pct: Sequence[float] = LEVELS_PCT,
) -> pd.DataFrame:
    """Per training spectrum and evaluation set: examples needed to reach each accuracy level,
    the final accuracy and the examples seen in all."""
    chosen = curves[curves["evaluated_on"].isin(evaluated_on) & np.isclose(curves["tolerance_pct"], tolerance_pct)]
    rows = []
    for (spectrum, evaluation), group in chosen.groupby(["train_spectrum", "evaluated_on"], sort=False):
        examples = group["examples"].to_numpy()
        accuracy = group["accuracy_pct"].to_numpy()
        row: dict[str, Any] = {"train_spectrum": spectrum, "evaluated_on": evaluation, "tolerance_pct": tolerance_pct}
        for level in levels_pct:
            row[f"examples_to_{level:g}_pct"] = examples_to_reach(examples, accuracy, level)
        row |= {"final_accuracy_pct": accuracy[-1], "examples_seen": examples[-1]}
        rows.append(row)
    columns = ["train_spectrum", "evaluated_on", "tolerance_pct", *(f"examples_to_{level:g}_pct" for level in levels_pct), "final_accuracy_pct", "examples_seen"]
    table = pd.DataFrame(rows, columns=columns)
    # Spectra in the paper's order, the validation set before the test set within each.
    rank = {name: i for i, name in enumerate(spectrum_order(table["train_spectrum"]))}
    set_rank = {name: i for i, name in enumerate(evaluated_on)}
    return table.sort_values(
        ["train_spectrum", "evaluated_on"], key=lambda col: col.map(rank if col.name == "train_spectrum" else set_rank), ignore_index=True
    )


# ---------------------------------------------------------------- entry point (I/O)


def ood_study(
    summaries: Mapping[tuple[str, str], str | os.PathLike],
    logs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    reference_test: str = REFERENCE_TEST,
) -> dict[str, pd.DataFrame]:
    """`mathformer analyse ood`: summaries ((train, test) spectra -> summary JSON) and training logs
    (train spectrum -> train_log.csv) to the ood_accuracy tables (5, 2, 1 %), the
    examples_to_accuracy table and the ood_heatmap and learning_curves figures under out_dir.
    `reference_test` is the test set, as named in the logs, whose curve is drawn beside the
    validation curve. Training runs are labelled by their names less the prefix they share
    (eigval_laplace -> laplace; see `short_names`). Returns the tables by name.
    """
    names = short_names([train for train, _ in summaries] + list(logs))
    loaded = {(names[train], test): read_summary(path) for (train, test), path in summaries.items()}
    curves = learning_curves({names[train]: read_log(path) for train, path in logs.items()})
    tables = {name: accuracy_matrix(loaded, tolerance) for name, tolerance in TABLE_TOLERANCES.items()}
    tables["ood_accuracy_interval"] = accuracy_intervals(loaded, TABLE_TOLERANCES["ood_accuracy"])
    tables["examples_to_accuracy"] = examples_to_accuracy(curves, (VALID, reference_test))
    runs = f"Runs: {', '.join(dict.fromkeys(train for train, _ in summaries))}"
    out = Path(out_dir)
    captions = {
        name: f"Accuracy (%) at {100 * tolerance:g} % tolerance, training spectrum (rows) by test spectrum (columns). {runs}."
        for name, tolerance in TABLE_TOLERANCES.items()
    }
    captions["ood_accuracy_interval"] = (
        f"Accuracy (%) at {100 * TABLE_TOLERANCES['ood_accuracy']:g} % tolerance of every training spectrum on every "
        f"test spectrum, with its 95 % Wilson interval and the test-set size. {runs}."
    )
    captions["examples_to_accuracy"] = (
        f"Training examples needed to reach {', '.join(f'{level} %' for level in LEVELS_PCT)} accuracy at "
        f"{100 * CURVE_TOLERANCE:g} % tolerance (n/a: never reached). Runs: {', '.join(logs)}."
    )
    with plots.style():
        # Figures drawn before anything is written: a failure leaves no half-updated results.
        heatmap = plots.ood_heatmap_figure(tables["ood_accuracy"], 100 * TABLE_TOLERANCES["ood_accuracy"])
        at_tolerance = curves[np.isclose(curves["tolerance_pct"], 100 * CURVE_TOLERANCE)]
        present = set(at_tolerance["evaluated_on"])
        panel_titles = [(key, title) for key, title in ((VALID, "in distribution (validation set)"), (reference_test, f"{reference_test} test set")) if key in present]
        curves_figure = plots.learning_curves_figure(at_tolerance, panel_titles, 100 * CURVE_TOLERANCE)
        for name, caption in captions.items():
            write_table(tables[name], out / "tables", name, caption)
        plots.save_figure(heatmap, out / "figures", "ood_heatmap", f"Out-of-distribution accuracy of eigenvalue models. {runs}.")
        plots.save_figure(curves_figure, out / "figures", "learning_curves", f"Learning curves. Runs: {', '.join(logs)}.")
    return tables
