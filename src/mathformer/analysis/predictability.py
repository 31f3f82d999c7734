"""Result 2 of the paper: failures are predictable, from the condition number above all.

Pure functions give the statistics and histograms of condition numbers (and, for inversion, the
distance to the true inverse) of correct vs failed predictions; the predictors live in
`predictors`. `predictability` is the entry point behind `mathformer analyse predictability`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mathformer.analysis import catalogue
from mathformer.analysis.catalogue import CONDITION_OF
from mathformer.analysis.claims import PaperValue
from mathformer.analysis.failures import (
    SPLIT_TOLERANCES,
    Run,
    concat_or_empty,
    decoded_rows,
    failed_at,
    figure_caption,
    paper_values_about,
    read_runs,
    runs_caption,
    titles,
    with_size,
)
from mathformer.analysis.output_set import output_set
from mathformer.analysis.predictors import (
    FALSE_ALARM_RATE,
    FEATURE_FLOOR,
    FEATURE_NAMES,
    INVERSE_TASKS,
    PREDICTION_FEATURES,
    PREDICTOR_COLUMNS,
    PROBLEM_FEATURES,
    SPLIT_SEED,
    failure_predictors,
    with_prediction_features,
)
from mathformer.core.intervals import bootstrap
from mathformer.core.metrics import HEADLINE_TOLERANCE
from mathformer.figures.predictability import MARK_COLUMNS, condition_histograms_figure, roc_figure
from mathformer.figures.style import style

HISTOGRAM_BINS = 40
# The paper splits correct from failed predictions by the upper tail of the correct ones' condition
# numbers and the lower tail of the failed ones' (1.031 vs 1.042 at 5 %): the histograms mark these.
SPLIT_STATISTICS = {"correct": "p98", "failed": "p2"}
STATISTICS = ("count", "mean", "median", "p2", "p98", "min", "max")
# The statistics that carry 95 % bootstrap intervals, as <name>_low and <name>_high columns.
BOUNDED = ("mean_low", "mean_high", "p2_low", "p2_high", "p98_low", "p98_high")
HISTOGRAM_COLUMNS = [
    "run", "outcome", "count", "bin_left", "bin_right", "density", "clipped_low", "clipped_high", "quantity", "condition_of",
    "offset", "tolerance_pct",
]  # fmt: skip


def _mean_and_tails(values: np.ndarray) -> np.ndarray:
    """mean, 2nd and 98th percentile (order statistics, so inf stays inf instead of NaN)."""
    p2, p98 = np.quantile(values, (0.02, 0.98), method="nearest")
    with np.errstate(invalid="ignore"):
        return np.array([values.mean(), p2, p98])


def outcome_statistics(values: np.ndarray, failed: np.ndarray) -> pd.DataFrame:
    """count, mean, median, 2nd/98th percentile, min, max of `values` for correct and failed rows,
    with 95 % bootstrap intervals of the mean and the two percentiles (`<name>_low`, `<name>_high`).

    NaN values (undecoded predictions) are left out. Percentiles are order statistics (no
    interpolation), so an infinite value stays infinite instead of turning into NaN.
    """
    rows = []
    for outcome, mask in (("correct", ~failed), ("failed", failed)):
        chosen = values[mask]
        chosen = chosen[~np.isnan(chosen)]
        if chosen.size == 0:
            rows.append(
                {"outcome": outcome, "count": 0} | {name: np.nan for name in STATISTICS[1:] + BOUNDED}
            )
            continue
        mean, p2, p98 = _mean_and_tails(chosen)
        low, high = bootstrap(_mean_and_tails, chosen)
        row = {
            "outcome": outcome,
            "count": chosen.size,
            "mean": mean,
            "median": np.quantile(chosen, 0.5, method="nearest"),
            "p2": p2,
            "p98": p98,
            "min": chosen.min(),
            "max": chosen.max(),
        }
        for i, name in enumerate(("mean", "p2", "p98")):
            row[f"{name}_low"], row[f"{name}_high"] = low[i], high[i]
        rows.append(row)
    return pd.DataFrame(rows)


def _statistics_by_tolerance(
    frame: pd.DataFrame, column: str, keys: dict[str, object], tolerances: Sequence[float]
) -> pd.DataFrame:
    """Statistics of `column` for correct vs failed decoded predictions; `undecoded` counts the rows left out.

    Undecoded predictions fail for want of a well-formed answer, not for a property of the
    matrix, so they would blur the comparison.
    """
    decoded = decoded_rows(frame)
    values = decoded[column].to_numpy(dtype=np.float64)
    parts = []
    for tolerance in tolerances:
        stats = outcome_statistics(values, failed_at(decoded["error"].to_numpy(), tolerance))
        parts.append(stats.assign(tolerance_pct=100 * tolerance))
    table = pd.concat(parts, ignore_index=True).assign(**keys, undecoded=len(frame) - len(decoded))
    return table[[*keys, "tolerance_pct", "outcome", *STATISTICS, *BOUNDED, "undecoded"]]


def condition_number_table(
    frame: pd.DataFrame, task: str, run: str, tolerances: Sequence[float] = SPLIT_TOLERANCES
) -> pd.DataFrame:
    """Condition-number statistics of correct vs failed predictions at each tolerance.

    The condition number is that of the predicted eigenvector matrix for eigenvectors (1 for an
    orthogonal matrix) and that of the input matrix for the other tasks.
    """
    column, of = CONDITION_OF[task]
    keys = {"run": run, "task": task, "condition_of": of}
    return _statistics_by_tolerance(frame, column, keys, tolerances)


def inverse_distance_table(
    frame: pd.DataFrame, run: str, tolerances: Sequence[float] = SPLIT_TOLERANCES
) -> pd.DataFrame:
    """For inversion: statistics of sum|P - M^-1| / sum|M^-1| for correct vs failed predictions."""
    return _statistics_by_tolerance(frame, "inverse_distance", {"run": run}, tolerances)


def condition_histogram(
    frame: pd.DataFrame,
    task: str,
    run: str,
    tolerance: float = HEADLINE_TOLERANCE,
    bins: int = HISTOGRAM_BINS,
) -> pd.DataFrame:
    """Densities of log condition number for correct and failed predictions, on shared bins.

    Eigenvectors bin log10(cond - 1): the predicted eigenvector matrices are nearly orthogonal
    (cond 1.01 vs 1.04 in the paper), and the distance from 1 is what separates them. Other
    tasks bin log10(cond); values are floored at 1e-12. Only finite values of decoded
    predictions are binned; the bins span the pooled 0.5th to 99.5th percentiles and values
    beyond fall in the end bins, so a few outliers cannot squash the rest into one bin;
    `clipped_low` and `clipped_high` count, per outcome, the values the first and last bins
    took in that way. Each outcome is normalised to unit area so that rare failures show beside
    many correct predictions. `offset` is what was subtracted before the log (1 or 0),
    `condition_of` what the condition number is of, and `quantity` names what was binned.
    """
    column, of = CONDITION_OF[task]
    frame = decoded_rows(frame)
    offset, quantity = (
        (1.0, f"log10 (condition number - 1) of {of}")
        if task == "eigenvectors"
        else (0.0, f"log10 condition number of {of}")
    )
    values = frame[column].to_numpy(dtype=np.float64) - offset
    failed = failed_at(frame["error"].to_numpy(), tolerance)
    usable = np.isfinite(values)
    if not usable.any():
        return pd.DataFrame(columns=HISTOGRAM_COLUMNS)
    # An exactly orthogonal prediction has cond - 1 = 0: the floor keeps it, in the lowest bin.
    logs = np.log10(np.maximum(np.where(usable, values, 1.0), FEATURE_FLOOR))
    low, high = np.percentile(logs[usable], (0.5, 99.5))
    edges = np.histogram_bin_edges(logs[usable], bins=bins, range=(low, high) if high > low else None)
    clipped = np.clip(logs, edges[0], edges[-1])
    parts = []
    for outcome, mask in (("correct", ~failed), ("failed", failed)):
        chosen = usable & mask
        if not chosen.any():
            continue
        density, _ = np.histogram(clipped[chosen], bins=edges, density=True)
        beyond = {
            "clipped_low": int((logs[chosen] < edges[0]).sum()),
            "clipped_high": int((logs[chosen] > edges[-1]).sum()),
        }
        bin_columns = {"bin_left": edges[:-1], "bin_right": edges[1:], "density": density}
        parts.append(pd.DataFrame({"outcome": outcome, "count": int(chosen.sum())} | bin_columns | beyond))
    keys = {
        "run": run,
        "quantity": quantity,
        "condition_of": of,
        "offset": offset,
        "tolerance_pct": 100 * tolerance,
    }
    table = pd.concat(parts, ignore_index=True).assign(**keys)
    return table[HISTOGRAM_COLUMNS]


def condition_marks(values: Sequence[PaperValue], tolerance: float = HEADLINE_TOLERANCE) -> pd.DataFrame:
    """The paper's split of condition numbers at `tolerance` (98th percentile of the correct,
    2nd of the failed predictions), for the histograms: run, outcome, statistic, value."""
    rows = [
        {
            "run": value.run,
            "outcome": value.where["outcome"],
            "statistic": value.statistic,
            "value": value.value,
        }
        for value in values
        if np.isclose(float(value.where.get("tolerance_pct", np.nan)), 100 * tolerance)
        and SPLIT_STATISTICS.get(value.where.get("outcome")) == value.statistic
    ]
    return pd.DataFrame(rows, columns=MARK_COLUMNS)


def columns_read(task: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The predictions-table columns `predictability` reads for a task (pred_inverse_cond it computes
    from the prediction, the one list column it reads, for inverse tasks)."""
    stored = [name for name in PREDICTION_FEATURES[task] if name != "pred_inverse_cond"]
    extra = ["inverse_distance"] if task in INVERSE_TASKS else []
    scalars = dict.fromkeys(["error", "decoded", *PROBLEM_FEATURES, CONDITION_OF[task][0], *stored, *extra])
    return tuple(scalars), ("prediction",) if task in INVERSE_TASKS else ()


def _captions(false_alarm_rate: float) -> dict[catalogue.Output, str]:
    """What each table and figure shows (the runs are added to each)."""
    return {
        catalogue.CONDITION_NUMBERS: "Condition number of correct vs failed predictions (predicted eigenvectors for eigenvectors, input matrix otherwise)",
        catalogue.FAILURE_PREDICTORS: f"Failure predictors, scored on a held-out half: ROC AUC, accuracy, and failures caught at a {100 * false_alarm_rate:g} % false-alarm rate",
        catalogue.INVERSE_DISTANCE: "Inversion: relative L1 distance sum|P - M^-1| / sum|M^-1| of correct vs failed predictions",
        catalogue.CONDITION_HISTOGRAMS: f"Condition numbers of correct and failed predictions at {100 * HEADLINE_TOLERANCE:g} % tolerance",
        catalogue.ROC_CURVES: "Held-out ROC curves of the paper's failure predictor (a threshold on the condition number) and of the best "
        "other single feature (best training AUC), with the held-out AUC and its 95 % bootstrap interval",
    }  # fmt: skip


def _run_parts(run: Run, false_alarm_rate: float, seed: int) -> dict[str, list[pd.DataFrame]]:
    """One run's rows of each table and figure: conditions, predictors, distances, histograms, curves."""
    frame = with_prediction_features(run.frame, run.task, run.n)
    parts: dict[str, list[pd.DataFrame]] = {
        "conditions": [with_size(condition_number_table(frame, run.task, run.name), run)],
        "histograms": [condition_histogram(frame, run.task, run.name)],
        "predictors": [],
        "curves": [],
        "distances": [inverse_distance_table(frame, run.name)] if run.task in INVERSE_TASKS else [],
    }
    for tolerance in SPLIT_TOLERANCES:
        table, roc = failure_predictors(frame, run.task, run.name, tolerance, false_alarm_rate, seed=seed)
        parts["predictors"].append(with_size(table, run))
        if tolerance == HEADLINE_TOLERANCE:
            parts["curves"].append(roc)
    return parts


def predictability(
    runs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = SPLIT_SEED,
    claims: str | os.PathLike | None = None,
    scale: str | None = None,
) -> dict[str, pd.DataFrame]:
    """`mathformer analyse predictability`: runs of any task (name -> predictions table) to the
    condition_numbers, failure_predictors and inverse_distance tables and the
    condition_histograms and roc_curves figures under out_dir. With a claims file, the
    histograms mark the paper's split of condition numbers. Returns the tables by name.
    """
    read = read_runs(runs, "predictability", columns_read)
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    parts: dict[str, list[pd.DataFrame]] = {}
    for run in read:
        for key, rows in _run_parts(run, false_alarm_rate, seed).items():
            parts.setdefault(key, []).extend(rows)
    tables = {
        catalogue.CONDITION_NUMBERS: pd.concat(parts["conditions"], ignore_index=True),
        catalogue.FAILURE_PREDICTORS: concat_or_empty(parts["predictors"], PREDICTOR_COLUMNS),
        catalogue.INVERSE_DISTANCE: concat_or_empty(
            parts["distances"], ["run", "tolerance_pct", "outcome", *STATISTICS, *BOUNDED, "undecoded"]
        ),
    }
    marks = condition_marks(paper_values_about(claims, out_dir, scale, catalogue.CONDITION_NUMBERS.name))
    captions = {
        output: runs_caption(caption, read) for output, caption in _captions(false_alarm_rate).items()
    }
    with style(), output_set(out_dir, "predictability") as outputs:
        named = titles(read)
        figures = {
            catalogue.CONDITION_HISTOGRAMS: condition_histograms_figure(
                concat_or_empty(parts["histograms"], HISTOGRAM_COLUMNS), named, marks
            ),
            catalogue.ROC_CURVES: roc_figure(concat_or_empty(parts["curves"], []), named, FEATURE_NAMES),
        }
        for output, table in tables.items():
            outputs.table(output, table, captions[output])
        for output, figure in figures.items():
            outputs.figure(output, figure, figure_caption(captions[output], read))
    return {output.name: table for output, table in tables.items()}
