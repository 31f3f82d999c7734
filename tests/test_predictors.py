"""Result 2's failure predictors: thresholds and logistic models scored on a held-out half, and the ROC figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synthetic_results as synthetic
from analysis_helpers import assert_legends_cover_no_axes, drawn, legend_texts, row
from mathformer.analysis.predictability import inverse_distance_table
from mathformer.analysis.predictors import (
    FEATURE_NAMES,
    best_accuracy_threshold,
    failure_predictors,
    score_predictor,
    with_prediction_features,
)
from mathformer.figures.predictability import roc_figure
from mathformer.figures.style import style


def test_ill_conditioned_failures_are_predicted_perfectly():
    table, ill = synthetic.inversion_predictions(count=600)
    frame = with_prediction_features(table.to_pandas(), "inversion", 3)
    predictors, curves = failure_predictors(frame, "inversion", "inv", tolerance=0.05)
    for features in ("input_cond", "pred_inverse_cond"):
        line = row(predictors, predictor="threshold", features=features)
        assert line["auc"] == 1.0
        assert line["caught_pct"] == 100.0
    assert row(predictors, predictor="logistic", feature_set="problem")["auc"] == 1.0
    assert row(predictors, predictor="threshold", features="input_cond")["undecoded"] == 5
    # min_eigengap means nothing for a general matrix (all NaN) and is not used.
    assert "min_eigengap" not in set(predictors["features"])
    # The ROC figure's curves: the paper's predictor (cond of the input) and the best other feature.
    assert set(zip(curves["feature"], curves["role"])) == {
        ("input_cond", "paper"),
        ("pred_inverse_cond", "best other feature"),
    }
    distances = inverse_distance_table(frame, "inv")
    assert row(distances, tolerance_pct=5.0, outcome="failed")["median"] == pytest.approx(0.5)
    assert row(distances, tolerance_pct=5.0, outcome="correct")["max"] < 1e-9


def test_eigenvector_failures_are_predicted_from_the_prediction_not_the_problem():
    table, _ = synthetic.eigenvector_predictions(count=600)
    predictors, _ = failure_predictors(table.to_pandas(), "eigenvectors", "eig", tolerance=0.01)
    assert row(predictors, predictor="threshold", features="pred_vectors_cond")["auc"] == 1.0
    assert row(predictors, predictor="threshold", features="orthogonality")["accuracy_pct"] == 100.0
    # The broken rows were picked at random: problem features carry no signal.
    assert row(predictors, predictor="logistic", feature_set="problem")["auc"] < 0.7


def test_random_failures_give_chance_auc():
    rng = np.random.default_rng(3)
    count = 4000
    frame = pd.DataFrame(
        {
            "decoded": True,
            "error": rng.choice([0.0, 1.0], size=count),
            "input_cond": rng.lognormal(2, 1, count),
            "min_eigengap": rng.random(count),
            "spectral_spread": rng.random(count) * 30,
            "max_coefficient": rng.random(count) * 10,
        }
    )
    predictors, _ = failure_predictors(frame, "eigenvalues", "random")
    assert set(predictors["feature_set"]) == {"problem"}  # eigenvalue predictions have no features here
    assert np.all(np.abs(predictors["auc"] - 0.5) < 0.06)


def test_a_split_needs_both_outcomes():
    frame = pd.DataFrame({"decoded": True, "error": np.zeros(50), "input_cond": np.arange(1.0, 51.0)})
    predictors, curves = failure_predictors(frame, "inversion", "all-right")
    assert predictors.empty and curves.empty


def brute_force_best_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    candidates = np.concatenate(([-np.inf], scores))
    return max(np.mean((scores > t) == labels) for t in candidates)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=30))
def test_best_accuracy_threshold_is_the_best(pairs):
    scores = np.array([float(score) for score, _ in pairs])
    labels = np.array([label for _, label in pairs])
    threshold = best_accuracy_threshold(scores, labels)
    assert np.mean((scores > threshold) == labels) == pytest.approx(brute_force_best_accuracy(scores, labels))


def test_false_alarm_rate_is_set_on_training_rows_and_holds_on_held_out_rows():
    rng = np.random.default_rng(0)
    labels = rng.random(20000) < 0.3
    scores = rng.normal(size=20000) + 2.0 * labels
    score = score_predictor(
        scores[:10000], labels[:10000], scores[10000:], labels[10000:], false_alarm_rate=0.05
    )
    assert score.false_alarm == pytest.approx(0.05, abs=0.01)
    assert 0.6 < score.caught < 0.8  # P(N(2,1) > 1.645) ~ 0.64
    assert score.auc == pytest.approx(0.92, abs=0.02)


def test_the_models_confidence_is_a_third_family_of_failure_predictors():
    table, broken = synthetic.eigenvector_predictions(count=600)
    frame = table.to_pandas()
    rng = np.random.default_rng(5)
    # A decoder that is unsure exactly where it fails, plus noise: confidence alone predicts well.
    frame["surprisal"] = np.where(broken, 3.0, 0.3) * rng.lognormal(0.0, 0.3, len(frame))
    frame["min_token_prob"] = np.where(broken, 0.4, 0.95) * rng.uniform(0.8, 1.0, len(frame))
    predictors, curves = failure_predictors(frame, "eigenvectors", "eig", tolerance=0.05)
    confidence = row(predictors, feature_set="confidence", predictor="logistic")
    assert confidence["auc"] > 0.95 and confidence["auc_low"] <= confidence["auc"] <= confidence["auc_high"]
    combined = row(predictors, feature_set="confidence+condition", predictor="logistic")
    assert combined["features"] == "surprisal+min_token_prob+pred_vectors_cond"
    assert set(predictors.loc[predictors["feature_set"] == "confidence+condition", "predictor"]) == {
        "logistic"
    }
    assert row(curves.drop_duplicates("role"), role="paper")["feature"] == "pred_vectors_cond"


def test_roc_figure_shows_the_papers_predictor_with_its_auc():
    table, _ = synthetic.eigenvector_predictions(count=400)
    _, curves = failure_predictors(table.to_pandas(), "eigenvectors", "eig", tolerance=0.05)
    assert set(curves["role"]) == {"paper", "best other feature"}

    with style():
        figure = drawn(roc_figure(curves, {"eig": "eigenvectors 4x4 (80 %)"}, FEATURE_NAMES))
    texts = legend_texts(figure)
    assert any(
        text.startswith("cond of the predicted eigenvectors (the paper's predictor)\nAUC 1.000 [")
        for text in texts
    )
    assert sum("AUC" in text for text in texts) == 2
    assert_legends_cover_no_axes(figure)
