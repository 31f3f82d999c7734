"""What the report shows of each result table: the rows and columns that carry the result, labelled.

The report prints a view of a table, not the whole table: roughly_right has 45 columns and
failure_predictors one row per predictor, tolerance and run. Each view keeps what the paper's
claim is about (the 5 % tolerance, the paper's predictor beside the best of each family of
features), gives every column a header with its unit, and turns what is the same in every row
into a note. The full tables stay in tables/NAME.{csv,md,tex}; the report names them under each view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mathformer.analysis.catalogue import CONDITION_OF
from mathformer.core.metrics import HEADLINE_TOLERANCE
from mathformer.formats.tables import format_fixed
from mathformer.report.html_tables import INTERVAL_ENDS, PERCENT_TABLES, Label

HEADLINE_PCT = 100 * HEADLINE_TOLERANCE


@dataclass(frozen=True)
class View:
    """The rows and columns the report prints of a table, their headers, what the rows are
    (when not all of the table's), and notes for what the columns no longer say."""

    frame: pd.DataFrame
    labels: Mapping[str, Label]
    title: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


# Columns that mean the same in every table.
COMMON_LABELS = {
    "run": Label("run"),
    "n": Label("n"),
    "task": Label("task"),
    "tolerance_pct": Label("tolerance (%)"),
    "outcome": Label("outcome"),
    "train_spectrum": Label("trained on"),
    "evaluated_on": Label("evaluated on"),
    "seed": Label("seed"),
    "accuracy_pct": Label("accuracy (%)"),
}
# Result 1's parts, as the paper names them.
PART_WORDS = {
    "eigenvalues": "eigenvalues",
    "norms": "norms",
    "orthogonal": "orthogonality",
    "orthogonal_all_pairs": "orthogonality, all pairs",
    "eigenvalues_norms": "eigenvalues and norms",
    "eigenvalues_norms_orthogonal": "all three",
}
FAILED_SHARE = re.compile(r"^failed_(\w+)_pct$")
STATISTIC_WORDS = {
    "mean": "mean",
    "median": "median",
    "p2": "2nd percentile",
    "p98": "98th percentile",
    "min": "min",
    "max": "max",
}
EXAMPLES_TO = re.compile(r"^examples_to_(\d+)_pct$")
VALID_ACCURACY = re.compile(r"^(best_)?valid_acc_([\d.]+)_pct$")


def pct(value: float) -> str:
    """A percentage as prose writes it: 5 %, 0.5 %."""
    return f"{value:g} %"


def _columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns of `frame` among `columns` (in that order), each with its interval columns."""
    chosen = [column for column in columns if column in frame]
    with_bounds = [
        name
        for column in chosen
        for name in (column, *(column + end for end in INTERVAL_ENDS))
        if name in frame
    ]
    return frame[with_bounds].reset_index(drop=True)


def _at_headline(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[np.isclose(frame["tolerance_pct"], HEADLINE_PCT)] if "tolerance_pct" in frame else frame


def _per_run(frame: pd.DataFrame, column: str) -> dict[str, object]:
    return frame.groupby("run", sort=False)[column].first().to_dict() if column in frame else {}


def _counts(values: Mapping[str, object]) -> str:
    return ", ".join(f"{run} {format_fixed(value, 0)}" for run, value in values.items())


def roughly_right_view(frame: pd.DataFrame) -> View:
    """Result 1 at the headline tolerance: accuracy, and what each part of the decoded failures gets right."""
    parts = [column for column in frame.columns if FAILED_SHARE.match(column)]
    shares = {
        column: Label(
            PART_WORDS.get(part, part.replace("_", " ")), "share of decoded failures that get right (%)"
        )
        for column in parts
        for part in [FAILED_SHARE.match(column)[1]]
    }
    labels = {
        **COMMON_LABELS,
        "count": Label("test matrices"),
        "failures": Label("failures"),
        "undecoded_failures": Label("undecoded failures"),
        **shares,
    }
    columns = ["run", "n", "count", "accuracy_pct", "failures", "undecoded_failures", *parts]
    title = f"At {pct(HEADLINE_PCT)} tolerance; every tolerance, and the shares of all test matrices, are in the figure and the full table."
    return View(_columns(_at_headline(frame), columns), labels, title)


def _statistics_view(frame: pd.DataFrame, quantity: str, notes: tuple[str, ...]) -> View:
    labels = {
        **COMMON_LABELS,
        "count": Label("predictions"),
        **{column: Label(word, quantity) for column, word in STATISTIC_WORDS.items()},
    }
    columns = ["run", "tolerance_pct", "outcome", "count", *STATISTIC_WORDS]
    undecoded = _per_run(frame, "undecoded")
    if undecoded:
        notes += (f"Undecoded predictions, left out (no {quantity}): {_counts(undecoded)}.",)
    return View(_columns(frame, columns), labels, notes=notes)


def condition_numbers_view(frame: pd.DataFrame) -> View:
    """Result 2's statistics of the condition number, correct beside failed; per-run facts as notes."""
    of = _per_run(frame, "condition_of")
    runs_by_matrix: dict[object, list[str]] = {}
    for run, matrix in of.items():
        runs_by_matrix.setdefault(matrix, []).append(run)
    notes = ()
    if runs_by_matrix:
        listed = "; ".join(f"of {matrix} for {', '.join(runs)}" for matrix, runs in runs_by_matrix.items())
        notes = (f"The condition number {listed}.",)
    return _statistics_view(frame, "condition number", notes)


def inverse_distance_view(frame: pd.DataFrame) -> View:
    return _statistics_view(frame, "relative L1 distance", ())


def _predictor_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Per run, the paper's predictor (a threshold on the task's condition number) and the
    best held-out AUC of each family of features; a row that is both is printed once."""
    picked: list[tuple[str, pd.Series]] = []
    for _, group in rows.groupby("run", sort=False):
        roles: dict[object, list[str]] = {}
        condition = CONDITION_OF.get(str(group["task"].iloc[0]), ("",))[0]
        paper = group[(group["predictor"] == "threshold") & (group["features"] == condition)]
        for index in paper.index[:1]:
            roles.setdefault(index, []).append("the paper's")
        for family, members in group.groupby("feature_set", sort=False):
            best = members.sort_values("auc", ascending=False, kind="stable").index[0]
            roles.setdefault(best, []).append(f"best {family}")
        picked.extend((", ".join(names), group.loc[index]) for index, names in roles.items())
    table = pd.DataFrame([row for _, row in picked]).reset_index(drop=True)
    table.insert(table.columns.get_loc("run") + 1, "row", [role for role, _ in picked])
    return table


def failure_predictors_view(frame: pd.DataFrame) -> View:
    """Result 2's predictors at the headline tolerance: the paper's, and the best of each family."""
    rows = _at_headline(frame)
    held_out = rows.drop_duplicates("run")
    split = "; ".join(
        f"{row.run} {format_fixed(row.held_out_count, 0)} test matrices, {format_fixed(row.held_out_failure_pct, 1)} % failures"
        for row in held_out.itertuples()
    )
    targets = sorted(set(rows["target_false_alarm_pct"]))
    title = (
        f"At {pct(HEADLINE_PCT)} tolerance, scored on the held-out half: the paper's predictor (a threshold on the "
        "condition number) and the best of each family of features (by held-out ROC AUC)."
    )
    notes = [f"The held-out halves: {split}."] if split else []
    if len(targets) == 1:
        notes.append(
            f"Failures caught and false alarms: with each threshold set to flag {pct(targets[0])} of the training half's correct predictions."
        )
    labels = {
        **COMMON_LABELS,
        "row": Label("which"),
        "predictor": Label("kind"),
        "features": Label("features"),
        "auc": Label("ROC AUC"),
        "accuracy_pct": Label("predictor", "accuracy (%)"),
        "majority_accuracy_pct": Label("always \u201ccorrect\u201d", "accuracy (%)"),
        "caught_pct": Label("failures caught", "held-out half (%)"),
        "false_alarm_pct": Label("false alarms", "held-out half (%)"),
    }
    columns = [
        "run", "row", "predictor", "features", "auc", "accuracy_pct", "majority_accuracy_pct", "caught_pct", "false_alarm_pct",
    ]  # fmt: skip
    shown = _columns(_predictor_rows(rows), columns) if len(rows) else _columns(rows, columns)
    return View(shown, labels, title, tuple(notes))


def examples_to_accuracy_view(frame: pd.DataFrame) -> View:
    """Result 3's learning speed: a column per accuracy level; the one tolerance in the title."""
    levels = [column for column in frame.columns if EXAMPLES_TO.match(column)]
    labels = {
        **COMMON_LABELS,
        **{
            column: Label(f"{EXAMPLES_TO.match(column)[1]} %", "training examples to reach")
            for column in levels
        },
        "final_accuracy_pct": Label("final accuracy (%)"),
        "examples_seen": Label("examples seen"),
    }
    seed = ["seed"] if "seed" in frame and frame["seed"].notna().any() else []
    columns = ["train_spectrum", *seed, "evaluated_on", *levels, "final_accuracy_pct", "examples_seen"]
    tolerances = sorted(set(frame["tolerance_pct"])) if "tolerance_pct" in frame else []
    if len(tolerances) != 1:
        columns.insert(len(seed) + 2, "tolerance_pct")
    title = f"Accuracy at {pct(tolerances[0])} tolerance." if len(tolerances) == 1 else ""
    return View(_columns(frame, columns), labels, title)


def ood_accuracy_view(frame: pd.DataFrame) -> View:
    labels = {column: Label(column, "tested on") for column in frame.columns}
    return View(frame, {**labels, "train_spectrum": Label("trained on")})


def training_view(frame: pd.DataFrame) -> View:
    """How each model trained; its validation accuracies under one header."""
    accuracies = {}
    for column in frame.columns:
        match = VALID_ACCURACY.match(column)
        if match:
            words = f"best, {match[2]} %" if match[1] else f"{match[2]} %"
            accuracies[column] = Label(words, "validation accuracy (%) at tolerance")
    labels = {
        **COMMON_LABELS,
        "spectrum": Label("trained on"),
        "layers": Label("layers (enc/dec)"),
        "width": Label("width"),
        "examples": Label("examples seen"),
        "minutes": Label("minutes"),
        **accuracies,
    }
    return View(frame, labels)


VIEWS: dict[str, Callable[[pd.DataFrame], View]] = {
    "roughly_right": roughly_right_view,
    "condition_numbers": condition_numbers_view,
    "failure_predictors": failure_predictors_view,
    "inverse_distance": inverse_distance_view,
    "examples_to_accuracy": examples_to_accuracy_view,
    "training": training_view,
}


def view_of(name: str, frame: pd.DataFrame) -> View:
    """The report's view of table `name`: its own, the OOD matrices', or the whole table."""
    if name in VIEWS:
        return VIEWS[name](frame)
    if PERCENT_TABLES.match(name):
        return ood_accuracy_view(frame)
    return View(frame, COMMON_LABELS)
