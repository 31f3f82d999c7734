"""Results 1 and 2 of the paper: wrong predictions are roughly right, and failures are predictable.

Pure functions turn one predictions table (a DataFrame with the contract's columns) into result
tables; `roughly_right` and `predictability` are the thin entry points behind
`mathformer analyse roughly-right|predictability`: they read the tables, call the pure
functions, and write tables and figures under an output folder.

Vocabulary: a prediction *fails* at tolerance t when its task error is >= t (undecoded
predictions have infinite error, so they fail at every tolerance).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mathformer.analysis.catalogue import CONDITION_OF
from mathformer.analysis.claims import PaperValue, paper_values
from mathformer.core.intervals import auc, bootstrap, wilson
from mathformer.core.metrics import condition_number
from mathformer.figures import plots
from mathformer.formats.predictions import (
    CONFIDENCE_COLUMNS,
    describe_run,
    load_predictions,
    read_metadata,
    stack_column,
)
from mathformer.formats.run_folder import SEEDED_RUN
from mathformer.formats.tables import write_table

# Result 1 reads accuracy as a curve: the paper's six tolerances and the gaps between them.
ROUGHLY_RIGHT_TOLERANCES = (0.005, 0.01, 0.02, 0.05, 0.075, 0.10, 0.15, 0.20, 0.25)
# Result 1's parts of an eigen-decomposition -> the predictions-table column that measures each.
# The first three are the paper notebook's definitions (mathformer.core.metrics, *_paper); the last is
# ours, stricter, reported beside them.
ROUGHLY_RIGHT_PARTS = {
    "eigenvalues": "eigenvalue_error_paper",
    "norms": "norm_error_paper",
    "orthogonal": "orthogonality_paper",
    "orthogonal_all_pairs": "orthogonality",
}
# Result 2 splits correct from failed at the headline tolerance and at the strict one.
SPLIT_TOLERANCES = (0.05, 0.01)
FALSE_ALARM_RATE = 0.05
HELD_OUT_SHARE = 0.5
SPLIT_SEED = 0
HISTOGRAM_BINS = 40

# Features known before the model answers. Those of the prediction need no ground truth either
# (eigenvalue_error and inverse_distance do, so they describe failures but cannot predict them).
PROBLEM_FEATURES = ("input_cond", "min_eigengap", "spectral_spread", "max_coefficient")
PREDICTION_FEATURES = {
    "eigenvalues": (),
    "eigenvectors": ("pred_vectors_cond", "norm_error_cols", "norm_error_rows", "orthogonality"),
    "inversion": ("pred_inverse_cond",),
    "syminverse": ("pred_inverse_cond",),
}
# The model's own confidence in its answer (mathformer.engine.decoding): a question the paper does not
# ask, whether failures can be told from the decoder's probabilities alone.
SINGLE_FEATURE_SETS = ("problem", "prediction", "confidence")
INVERSE_TASKS = ("inversion", "syminverse")
# The paper splits correct from failed predictions by the upper tail of the correct ones' condition
# numbers and the lower tail of the failed ones' (1.031 vs 1.042 at 5 %): the histograms mark these.
SPLIT_STATISTICS = {"correct": "p98", "failed": "p2"}
# Features in words, for legends.
FEATURE_NAMES = {
    "input_cond": "cond of the input",
    "pred_vectors_cond": "cond of the predicted eigenvectors",
    "pred_inverse_cond": "cond of the predicted inverse",
    "min_eigengap": "smallest eigenvalue gap",
    "spectral_spread": "spectral spread",
    "max_coefficient": "largest coefficient",
    "norm_error_cols": "norm error of the columns",
    "norm_error_rows": "norm error of the rows",
    "orthogonality": "orthogonality (max |cos|)",
    "surprisal": "decoder surprisal",
    "min_token_prob": "smallest token probability",
}
# All features are non-negative magnitudes spanning decades (condition numbers up to ~1e16):
# predictors see log10 of them, clipped so that 0 and inf stay finite.
FEATURE_FLOOR, FEATURE_CEILING = 1e-12, 1e16
STATISTICS = ("count", "mean", "median", "p2", "p98", "min", "max")
# The statistics that carry 95 % bootstrap intervals, as <name>_low and <name>_high columns.
BOUNDED = ("mean_low", "mean_high", "p2_low", "p2_high", "p98_low", "p98_high")


def failed_at(errors: np.ndarray, tolerance: float) -> np.ndarray:
    """True where the prediction fails at `tolerance` (error >= tolerance, NaN counts as failed)."""
    return ~(np.asarray(errors, dtype=np.float64) < tolerance)


def _percent(part: np.ndarray | float, whole: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.asarray(part, dtype=np.float64) / whole


def _check_task(task: str, allowed: Sequence[str], what: str) -> None:
    if task not in allowed:
        raise ValueError(
            f"{what} needs a predictions table of task {' or '.join(allowed)}, got task {task!r}"
        )


# ---------------------------------------------------------------- result 1: roughly right


def roughly_right_table(
    frame: pd.DataFrame, run: str, tolerances: Sequence[float] = ROUGHLY_RIGHT_TOLERANCES
) -> pd.DataFrame:
    """For an eigenvector predictions table: at each tolerance t, accuracy and which parts are right.

    A part is right within t when its property is below t, with the definitions of the paper's
    notebook (`ROUGHLY_RIGHT_PARTS`): eigenvalues compared in order, norms over all rows and
    columns, orthogonality over consecutive rows; `orthogonal_all_pairs` (every pair of
    eigenvectors, stricter from n = 4) stands beside them. `all_*` shares are over all
    predictions, undecoded ones counting as wrong on every part, as in the paper. `failed_*`
    shares are over the DECODED failures at t: an undecoded answer has no parts to be right or
    wrong, and mixing them in would hide what the decoded failures do; `undecoded_failures`
    counts them. Shares are in percent.
    """
    tol = np.asarray(tolerances, dtype=np.float64)[None, :]
    failed = failed_at(frame["error"].to_numpy()[:, None], tol)
    decoded = frame["decoded"].to_numpy(dtype=bool)[:, None]
    right = {
        part: frame[column].to_numpy(dtype=np.float64)[:, None] < tol
        for part, column in ROUGHLY_RIGHT_PARTS.items()
    }
    right["eigenvalues_norms"] = right["eigenvalues"] & right["norms"]
    right["eigenvalues_norms_orthogonal"] = right["eigenvalues_norms"] & right["orthogonal"]
    count = len(frame)
    failures = failed.sum(axis=0)
    decoded_failures = (failed & decoded).sum(axis=0)
    table = {
        "run": run,
        "tolerance_pct": 100 * tol[0],
        "count": count,
        "failures": failures,
        "undecoded_failures": failures - decoded_failures,
    }
    _add_share(table, "accuracy_pct", count - failures, count)
    for part, mask in right.items():
        _add_share(table, f"all_{part}_pct", mask.sum(axis=0), count)
    for part, mask in right.items():
        _add_share(table, f"failed_{part}_pct", (mask & failed & decoded).sum(axis=0), decoded_failures)
    return pd.DataFrame(table)


def _add_share(table: dict[str, object], column: str, part: np.ndarray, whole: np.ndarray | int) -> None:
    """The share in percent, and its 95 % Wilson interval as `<column>_low` and `<column>_high`."""
    low, high = wilson(part, whole)
    table[column] = _percent(part, whole)
    table[f"{column}_low"], table[f"{column}_high"] = 100 * low, 100 * high


# ---------------------------------------------------------------- result 2: statistics by outcome


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


def _decoded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["decoded"].to_numpy(dtype=bool)]


def _statistics_by_tolerance(
    frame: pd.DataFrame, column: str, keys: dict[str, object], tolerances: Sequence[float]
) -> pd.DataFrame:
    """Statistics of `column` for correct vs failed decoded predictions; `undecoded` counts the rows left out.

    Undecoded predictions fail for want of a well-formed answer, not for a property of the
    matrix, so they would blur the comparison.
    """
    decoded = _decoded(frame)
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


def with_prediction_features(frame: pd.DataFrame, task: str, n: int) -> pd.DataFrame:
    """Add the prediction features the evaluate step does not store (inversion: cond of the predicted inverse).

    Needs the `prediction` list column for inverse tasks; other tasks come back unchanged.
    """
    if task not in INVERSE_TASKS:
        return frame
    predicted = stack_column(frame, "prediction", (n, n))
    cond = condition_number(predicted)
    cond[~frame["decoded"].to_numpy(dtype=bool)] = np.nan
    return frame.assign(pred_inverse_cond=cond)


def condition_histogram(
    frame: pd.DataFrame,
    task: str,
    run: str,
    tolerance: float = SPLIT_TOLERANCES[0],
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
    frame = _decoded(frame)
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


HISTOGRAM_COLUMNS = [
    "run", "outcome", "count", "bin_left", "bin_right", "density", "clipped_low", "clipped_high", "quantity", "condition_of",
    "offset", "tolerance_pct",
]  # fmt: skip


# ---------------------------------------------------------------- result 2: failure predictors


def log_features(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """log10 of the named non-negative feature columns, (N, k); NaN stays NaN, 0 and inf are clipped."""
    values = frame[list(names)].to_numpy(dtype=np.float64)
    return np.log10(np.clip(values, FEATURE_FLOOR, FEATURE_CEILING))


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold t maximising the accuracy of 'fails when score > t' on these rows.

    Candidates are -inf (flag everything) and every distinct score (the largest flags nothing);
    the accuracy of all of them comes from one sort and two cumulative sums.
    """
    distinct, position = np.unique(scores, return_inverse=True)
    positives_at = np.bincount(position, weights=labels, minlength=distinct.size)
    negatives_at = np.bincount(position, weights=~labels, minlength=distinct.size)
    # Accuracy with threshold distinct[k]: negatives at or below it plus positives above it.
    correct = np.cumsum(negatives_at) + (labels.sum() - np.cumsum(positives_at))
    candidates = np.concatenate(([-np.inf], distinct))
    correct = np.concatenate(([labels.sum()], correct))
    return float(candidates[np.argmax(correct)])


@dataclass(frozen=True)
class Score:
    """How a failure score does on the held-out rows, with thresholds chosen on the training rows."""

    auc: float
    auc_low: float  # 95 % bootstrap interval of the held-out AUC
    auc_high: float
    accuracy: float
    caught: float
    false_alarm: float
    false_alarm_rates: np.ndarray
    caught_rates: np.ndarray


def score_predictor(
    train_scores: np.ndarray,
    train_labels: np.ndarray,
    test_scores: np.ndarray,
    test_labels: np.ndarray,
    false_alarm_rate: float = FALSE_ALARM_RATE,
) -> Score:
    """Held-out ROC AUC, accuracy at the training split's best threshold, and the share of failures
    caught when the threshold lets `false_alarm_rate` of the training split's correct predictions be flagged.
    """
    accuracy_threshold = best_accuracy_threshold(train_scores, train_labels)
    alarm_threshold = np.quantile(train_scores[~train_labels], 1.0 - false_alarm_rate, method="higher")
    flagged = test_scores > alarm_threshold
    fpr, tpr, _ = roc_curve(test_labels, test_scores)
    auc_low, auc_high = bootstrap(auc, test_labels, test_scores)
    return Score(
        auc=auc(test_labels, test_scores),
        auc_low=float(auc_low),
        auc_high=float(auc_high),
        accuracy=float(np.mean((test_scores > accuracy_threshold) == test_labels)),
        caught=float(flagged[test_labels].mean()),
        false_alarm=float(flagged[~test_labels].mean()),
        false_alarm_rates=fpr,
        caught_rates=tpr,
    )


def _usable_features(frame: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The named features present in the table with at least one value (min_eigengap is all NaN for inversion)."""
    return [name for name in names if name in frame and frame[name].notna().any()]


def _impute_with_train_medians(features: np.ndarray, train: np.ndarray) -> np.ndarray:
    medians = np.nanmedian(features[train], axis=0)
    medians = np.where(np.isnan(medians), 0.0, medians)
    return np.where(np.isnan(features), medians, features)


@dataclass(frozen=True)
class _Split:
    """The decoded rows' log features and failure labels, split into training and held-out rows."""

    names: list[str]
    features: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    test: np.ndarray

    def columns(self, used: Sequence[str]) -> np.ndarray:
        return self.features[:, [self.names.index(name) for name in used]]

    def score(self, scores: tuple[np.ndarray, np.ndarray], false_alarm_rate: float) -> Score:
        return score_predictor(
            scores[0], self.labels[self.train], scores[1], self.labels[self.test], false_alarm_rate
        )


def _feature_sets(decoded: pd.DataFrame, task: str) -> dict[str, list[str]]:
    """The features of each family present in the table: the problem's, the prediction's and,
    beyond the paper, the model's confidence, alone and with result 2's predictor."""
    condition = CONDITION_OF[task][0]
    feature_sets = {
        "problem": _usable_features(decoded, PROBLEM_FEATURES),
        "prediction": _usable_features(decoded, PREDICTION_FEATURES[task]),
        "confidence": _usable_features(decoded, CONFIDENCE_COLUMNS),
        "confidence+condition": _usable_features(decoded, (*CONFIDENCE_COLUMNS, condition)),
    }
    if feature_sets["confidence+condition"] == [condition]:  # no confidence columns: nothing to add
        del feature_sets["confidence+condition"]
    return {name: used for name, used in feature_sets.items() if used}


def _threshold_predictor(split: _Split, name: str, false_alarm_rate: float) -> tuple[float, Score]:
    """One feature as a threshold predictor: (its training AUC, its held-out score)."""
    train_auc, scores = threshold_scores(split.columns([name])[:, 0], split.labels, split.train, split.test)
    return train_auc, split.score(scores, false_alarm_rate)


def _logistic_predictor(split: _Split, used: Sequence[str], false_alarm_rate: float) -> tuple[Score, str]:
    """A logistic regression on these features: (its held-out score, its weights in words)."""
    scores, weights = logistic_scores(split.columns(used), split.labels, split.train, split.test, used)
    return split.score(scores, false_alarm_rate), weights


def _roc_curves(thresholds: list[tuple[str, float, Score]], condition: str) -> list[pd.DataFrame]:
    """The ROC figure's curves: the paper's predictor (a threshold on the condition number) and,
    beside it, the other feature with the best TRAINING AUC (chosen without the held-out rows)."""
    curves = [_roc_rows(name, "paper", score) for name, _, score in thresholds if name == condition]
    others = [entry for entry in thresholds if entry[0] != condition]
    if others:
        name, _, score = max(others, key=lambda entry: entry[1])  # the first of equal AUCs
        curves.append(_roc_rows(name, "best other feature", score))
    return curves


def failure_predictors(
    frame: pd.DataFrame,
    task: str,
    run: str,
    tolerance: float = SPLIT_TOLERANCES[0],
    false_alarm_rate: float = FALSE_ALARM_RATE,
    held_out_share: float = HELD_OUT_SHARE,
    seed: int = SPLIT_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How well features of the problem, and separately of the prediction, predict failure at `tolerance`.

    Decoded rows are split (stratified, `seed`) into a training and a held-out part. Each feature
    alone is a threshold predictor whose direction and thresholds are chosen on the training
    part; a logistic regression on standardised log features is fitted on the training part for
    each feature set. Everything reported is measured on the held-out part. Undecoded rows are
    left out: the decoder already flags them, so they would flatter any predictor.

    Returns (table: one row per predictor, curves: held-out ROC points of a threshold on the
    paper's predictor, `CONDITION_OF`, and on the other feature with the best training AUC). Both
    are empty when either class has fewer than two rows, because no honest split exists then.
    """
    decoded = _decoded(frame)
    labels = failed_at(decoded["error"].to_numpy(), tolerance)
    if min(labels.sum(), (~labels).sum()) < 2:
        return pd.DataFrame(), pd.DataFrame()
    feature_sets = _feature_sets(decoded, task)
    names = list(dict.fromkeys(name for used in feature_sets.values() for name in used))
    train, test = train_test_split(
        np.arange(len(decoded)), test_size=held_out_share, random_state=seed, stratify=labels
    )
    split = _Split(
        names, _impute_with_train_medians(log_features(decoded, names), train), labels, train, test
    )
    common = {
        "run": run,
        "task": task,
        "tolerance_pct": 100 * tolerance,
        "train_count": train.size,
        "held_out_count": test.size,
        "undecoded": len(frame) - len(decoded),
        "held_out_failure_pct": 100 * labels[test].mean(),
        "majority_accuracy_pct": 100 * max(labels[test].mean(), 1 - labels[test].mean()),
    }
    rows, thresholds = [], []
    for feature_set, used in feature_sets.items():
        # A combined set only adds its logistic model: its features are scored alone in theirs.
        for name in used if feature_set in SINGLE_FEATURE_SETS else ():
            train_auc, score = _threshold_predictor(split, name, false_alarm_rate)
            rows.append(
                common | _predictor_row(feature_set, "threshold", [name], score, false_alarm_rate, "")
            )
            thresholds.append((name, train_auc, score))
        score, weights = _logistic_predictor(split, used, false_alarm_rate)
        rows.append(common | _predictor_row(feature_set, "logistic", used, score, false_alarm_rate, weights))
    columns = ["feature", "role", "false_alarm_rate", "caught_rate", "auc", "auc_low", "auc_high"]
    curve_table = _concat_or_empty(_roc_curves(thresholds, CONDITION_OF[task][0]), columns)
    return pd.DataFrame(rows), curve_table.assign(run=run, tolerance_pct=100 * tolerance)


def threshold_scores(
    column: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """One feature as a failure score, its direction (do failures have larger or smaller values?)
    learnt on the training rows: (training AUC, (training scores, held-out scores))."""
    train_auc = auc(labels[train], column[train])
    sign = 1.0 if train_auc >= 0.5 else -1.0
    # Turning the score around turns its AUC into 1 - AUC (ties count half either way).
    return max(train_auc, 1.0 - train_auc), (sign * column[train], sign * column[test])


def logistic_scores(
    features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, used: Sequence[str]
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """A logistic regression on standardised features, fitted on the training rows:
    ((training scores, held-out scores), its standardised weights in words)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features[train], labels[train])
    weights = "; ".join(f"{name} {coef:+.3g}" for name, coef in zip(used, model[-1].coef_[0]))
    return (model.decision_function(features[train]), model.decision_function(features[test])), weights


def _predictor_row(
    feature_set: str, predictor: str, used: Sequence[str], score: Score, false_alarm_rate: float, weights: str
) -> dict[str, object]:
    return {
        "feature_set": feature_set,
        "predictor": predictor,
        "features": "+".join(used),
        "auc": score.auc,
        "auc_low": score.auc_low,
        "auc_high": score.auc_high,
        "accuracy_pct": 100 * score.accuracy,
        "caught_pct": 100 * score.caught,
        "false_alarm_pct": 100 * score.false_alarm,
        "target_false_alarm_pct": 100 * false_alarm_rate,
        "weights": weights,
    }


def _roc_rows(feature: str, role: str, score: Score) -> pd.DataFrame:
    """Held-out ROC points of a threshold on one feature; `role`: the paper's predictor or the best other feature."""
    return pd.DataFrame(
        {
            "feature": feature,
            "role": role,
            "false_alarm_rate": score.false_alarm_rates,
            "caught_rate": score.caught_rates,
            "auc": score.auc,
            "auc_low": score.auc_low,
            "auc_high": score.auc_high,
        }
    )


# ---------------------------------------------------------------- entry points (I/O)


def _caption(title: str, labels: Sequence[str]) -> str:
    return f"{title}. Runs: {'; '.join(labels)}."


# What the percentage in a run's title is, said in every failure figure's caption.
TITLE_NOTE = "Percentages in the titles: test accuracy at 5 % tolerance"
# Said once, in the caption of a figure that shows a weak snapshot: what the paper's weaker model is here.
WEAK_NOTE = (
    "A weak snapshot is an earlier epoch of the same training run, the one whose validation accuracy at 5 % was "
    "closest to the run's weak_accuracy (the paper's weaker, ~70 % model)"
)


def is_weak(metadata: Mapping[str, object]) -> bool:
    """Whether the predictions come from the weak snapshot (evaluate records which weights it read)."""
    return metadata.get("model_file") == "weak.pt"


def run_title(name: str, metadata: Mapping[str, object], accuracy_pct: float) -> str:
    """A readable name for titles and legends: 'eigenvectors 3x3 (weak snapshot, seed 1, 69 %)'."""
    n = metadata.get("n", "?")
    notes = ["weak snapshot"] if is_weak(metadata) else []
    seeded = SEEDED_RUN.fullmatch(name)
    if seeded is not None:
        notes.append(f"seed {seeded['seed']}")
    notes.append(f"{accuracy_pct:.0f} %")
    return f"{metadata.get('task', '?')} {n}x{n} ({', '.join(notes)})"


def unique_titles(titles: Mapping[str, str]) -> dict[str, str]:
    """Run name -> title, with the run name added where two runs would read the same."""
    counts = pd.Series(list(titles.values())).value_counts()
    return {name: f"{title} [{name}]" if counts[title] > 1 else title for name, title in titles.items()}


def _accuracy_pct(frame: pd.DataFrame, tolerance: float = SPLIT_TOLERANCES[0]) -> float:
    return float(100 * np.mean(~failed_at(frame["error"].to_numpy(), tolerance)))


def _paper_values(
    claims: str | os.PathLike | None, out_dir: str | os.PathLike, scale: str | None, table: str
) -> list[PaperValue]:
    """The paper's numeric values about `table`, for the figures; none without a claims file.
    The scale names the runs (claims map roles to run names per scale): by default the name of
    the results folder, as in the report."""
    if claims is None:
        return []
    return [value for value in paper_values(claims, scale or Path(out_dir).name) if value.table == table]


def roughly_right_marks(values: Sequence[PaperValue]) -> pd.DataFrame:
    """The paper's points on the roughly-right curves: run, column, tolerance_pct, value."""
    rows = [
        {
            "run": value.run,
            "column": value.statistic,
            "tolerance_pct": float(value.where["tolerance_pct"]),
            "value": value.value,
        }
        for value in values
        if set(value.where) == {"tolerance_pct"}
    ]
    return pd.DataFrame(rows, columns=["run", "column", "tolerance_pct", "value"])


def condition_marks(values: Sequence[PaperValue], tolerance: float = SPLIT_TOLERANCES[0]) -> pd.DataFrame:
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
    return pd.DataFrame(rows, columns=["run", "outcome", "statistic", "value"])


def roughly_right(
    runs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    claims: str | os.PathLike | None = None,
    scale: str | None = None,
) -> pd.DataFrame:
    """`mathformer analyse roughly-right`: eigenvector runs (name -> predictions table) to
    out_dir/tables/roughly_right.{csv,md,tex} and out_dir/figures/roughly_right.{pdf,png}.
    With a claims file, the figure marks the paper's values beside the runs they are about.
    """
    if not runs:
        raise ValueError("roughly-right needs at least one run (NAME=PREDICTIONS.parquet)")
    parts, labels, titles, metadata_list = [], [], {}, []
    for name, path in runs.items():
        # The task first: a table of another task lacks the columns, and the task says why.
        _check_task(
            read_metadata(path).get("task"), ("eigenvectors",), f"roughly-right run {name!r} ({path})"
        )
        frame, metadata = load_predictions(path, required=("error", "decoded", *ROUGHLY_RIGHT_PARTS.values()))
        parts.append(_with_size(roughly_right_table(frame, name), metadata))
        labels.append(describe_run(name, metadata))
        titles[name] = run_title(name, metadata, _accuracy_pct(frame))
        metadata_list.append(metadata)
    table = pd.concat(parts, ignore_index=True)
    out = Path(out_dir)
    caption = _caption(
        "Roughly right: accuracy, and the share of predictions whose eigenvalues, eigenvector norms and orthogonality are right, against tolerance",
        labels,
    )
    marks = roughly_right_marks(_paper_values(claims, out_dir, scale, "roughly_right"))
    with plots.style():
        # Drawn before anything is written.
        figure = plots.roughly_right_figure(table, unique_titles(titles), marks, 100 * SPLIT_TOLERANCES[0])
        write_table(table, out / "tables", "roughly_right", caption)
        plots.save_figure(figure, out / "figures", "roughly_right", _figure_caption(caption, metadata_list))
    return table


def _figure_caption(caption: str, metadata: Sequence[Mapping[str, object]]) -> str:
    """A failure figure's caption: what the titles' percentages are, and what a weak snapshot is if one is shown."""
    return f"{caption} {TITLE_NOTE}." + (
        f" {WEAK_NOTE}." if any(is_weak(entry) for entry in metadata) else ""
    )


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
    if not runs:
        raise ValueError("predictability needs at least one run (NAME=PREDICTIONS.parquet)")
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    conditions, predictors, distances, histograms, curves, labels = [], [], [], [], [], []
    titles, metadata_list = {}, []
    for name, path in runs.items():
        metadata = read_metadata(path)
        task = metadata.get("task")
        _check_task(task, tuple(CONDITION_OF), f"predictability run {name!r} ({path})")
        frame, _ = load_predictions(path, required=_stored_columns(task), lists=list_columns_read(task))
        frame = with_prediction_features(frame, task, int(metadata["n"]))
        labels.append(describe_run(name, metadata))
        titles[name] = run_title(name, metadata, _accuracy_pct(frame))
        metadata_list.append(metadata)
        conditions.append(_with_size(condition_number_table(frame, task, name), metadata))
        histograms.append(condition_histogram(frame, task, name))
        for tolerance in SPLIT_TOLERANCES:
            table, roc = failure_predictors(frame, task, name, tolerance, false_alarm_rate, seed=seed)
            predictors.append(_with_size(table, metadata))
            if tolerance == SPLIT_TOLERANCES[0]:
                curves.append(roc)
        if task in INVERSE_TASKS:
            distances.append(inverse_distance_table(frame, name))
    tables = {
        "condition_numbers": pd.concat(conditions, ignore_index=True),
        "failure_predictors": _concat_or_empty(predictors, PREDICTOR_COLUMNS),
        "inverse_distance": _concat_or_empty(
            distances, ["run", "tolerance_pct", "outcome", *STATISTICS, *BOUNDED, "undecoded"]
        ),
    }
    out = Path(out_dir)
    captions = {
        "condition_numbers": "Condition number of correct vs failed predictions (predicted eigenvectors for eigenvectors, input matrix otherwise)",
        "failure_predictors": f"Failure predictors, scored on a held-out half: ROC AUC, accuracy, and failures caught at a {100 * false_alarm_rate:g} % false-alarm rate",
        "inverse_distance": "Inversion: relative L1 distance sum|P - M^-1| / sum|M^-1| of correct vs failed predictions",
    }
    titles = unique_titles(titles)
    marks = condition_marks(_paper_values(claims, out_dir, scale, "condition_numbers"))
    with plots.style():
        # Figures drawn before anything is written: a failure leaves no half-updated results.
        figures = {
            "condition_histograms": (
                plots.condition_histograms_figure(
                    _concat_or_empty(histograms, HISTOGRAM_COLUMNS), titles, marks
                ),
                _caption(
                    f"Condition numbers of correct and failed predictions at {100 * SPLIT_TOLERANCES[0]:g} % tolerance",
                    labels,
                ),
            ),
            "roc_curves": (
                plots.roc_figure(_concat_or_empty(curves, []), titles, FEATURE_NAMES),
                _caption(
                    "Held-out ROC curves of the paper's failure predictor (a threshold on the condition number) and of the best "
                    "other single feature (best training AUC), with the held-out AUC and its 95 % bootstrap interval",
                    labels,
                ),
            ),
        }
        for name, table in tables.items():
            write_table(table, out / "tables", name, _caption(captions[name], labels))
        for name, (figure, caption) in figures.items():
            plots.save_figure(figure, out / "figures", name, _figure_caption(caption, metadata_list))
    return tables


PREDICTOR_COLUMNS = [
    "run", "n", "task", "tolerance_pct", "train_count", "held_out_count", "undecoded", "held_out_failure_pct",
    "majority_accuracy_pct", "feature_set", "predictor", "features", "auc", "auc_low", "auc_high", "accuracy_pct", "caught_pct",
    "false_alarm_pct", "target_false_alarm_pct", "weights",
]  # fmt: skip


def _with_size(table: pd.DataFrame, metadata: Mapping[str, object]) -> pd.DataFrame:
    """The table with the run's matrix size `n` after `run`: some claims cannot be tested at small n."""
    if table.empty:
        return table
    sized = table.drop(columns="n", errors="ignore")
    sized.insert(sized.columns.get_loc("run") + 1, "n", int(metadata["n"]))
    return sized


def _concat_or_empty(parts: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate the non-empty parts; an empty frame with `columns` when there are none (the file must still exist)."""
    kept = [part for part in parts if not part.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(columns))


def list_columns_read(task: str) -> tuple[str, ...]:
    """The list columns of a predictions table that the failure analyses read (every scalar column
    they may read too): the predicted inverse, for inversion. The others can be left out of a
    table that only feeds them (benchmarks/gpu_scale.py ships predictions so reduced)."""
    return ("prediction",) if task in INVERSE_TASKS else ()


def _stored_columns(task: str) -> tuple[str, ...]:
    """The predictions-table columns `predictability` reads for a task (pred_inverse_cond it computes)."""
    stored = [name for name in PREDICTION_FEATURES[task] if name != "pred_inverse_cond"]
    extra = ["inverse_distance"] if task in INVERSE_TASKS else []
    return tuple(
        dict.fromkeys(["error", "decoded", *PROBLEM_FEATURES, CONDITION_OF[task][0], *stored, *extra])
    )
