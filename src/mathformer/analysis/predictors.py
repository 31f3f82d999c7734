"""Result 2's failure predictors: which features of the problem, the prediction or the model's
confidence tell failures from correct predictions, scored on a held-out half (ROC, AUC).

The one user of scikit-learn (the split and the logistic regression).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mathformer.analysis.catalogue import CONDITION_OF
from mathformer.analysis.failures import concat_or_empty, decoded_rows, failed_at
from mathformer.core.intervals import auc, auc_interval
from mathformer.core.metrics import HEADLINE_TOLERANCE, condition_number
from mathformer.formats.predictions import CONFIDENCE_COLUMNS, stack_column

FALSE_ALARM_RATE = 0.05
HELD_OUT_SHARE = 0.5
SPLIT_SEED = 0
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
PREDICTOR_COLUMNS = [
    "run", "n", "task", "tolerance_pct", "train_count", "held_out_count", "undecoded", "held_out_failure_pct",
    "majority_accuracy_pct", "feature_set", "predictor", "features", "auc", "auc_low", "auc_high", "accuracy_pct", "caught_pct",
    "false_alarm_pct", "target_false_alarm_pct", "weights",
]  # fmt: skip
ROC_COLUMNS = ["feature", "role", "false_alarm_rate", "caught_rate", "auc", "auc_low", "auc_high"]


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
    auc_low, auc_high = auc_interval(test_labels, test_scores)
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
    tolerance: float = HEADLINE_TOLERANCE,
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
    decoded = decoded_rows(frame)
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
    curve_table = concat_or_empty(_roc_curves(thresholds, CONDITION_OF[task][0]), ROC_COLUMNS)
    return pd.DataFrame(rows), curve_table.assign(run=run, tolerance_pct=100 * tolerance)
