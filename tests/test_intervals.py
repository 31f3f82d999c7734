"""95 % intervals: Wilson for shares, bootstrap for the rest; both must cover what they claim to."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mathformer.core.intervals import auc, auc_interval, bootstrap, wilson


@pytest.mark.parametrize("share, trials", [(0.5, 100), (0.92, 1000), (0.99, 5000), (0.03, 400)])
def test_wilson_interval_covers_the_true_share_95_percent_of_the_time(share, trials):
    rng = np.random.default_rng(0)
    successes = rng.binomial(trials, share, size=4000)
    low, high = wilson(successes, trials)
    coverage = np.mean((low <= share) & (share <= high))
    assert 0.93 <= coverage <= 0.975, coverage
    assert ((0 <= low) & (low <= successes / trials) & (successes / trials <= high) & (high <= 1)).all()


def test_wilson_by_hand_and_at_the_edges():
    low, high = wilson(8, 10)  # a classic: 0.490 to 0.943
    assert (float(low), float(high)) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    low, high = wilson(np.array([0, 10]), 10)
    assert low[0] == pytest.approx(0.0, abs=1e-12) and 0.27 < high[0] < 0.28
    assert high[1] == pytest.approx(1.0) and 0.72 < low[1] < 0.73
    low, high = wilson(0, 0)
    assert np.isnan(low) and np.isnan(high)


def test_rank_auc_is_sklearns():
    rng = np.random.default_rng(1)
    labels = rng.random(500) < 0.3
    scores = np.round(rng.normal(labels * 1.0, 1.0), 1)  # rounded: ties count half
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(auc(np.zeros(5, bool), np.arange(5.0)))


def test_bootstrap_interval_of_an_auc_covers_the_known_auc():
    # Scores N(d, 1) for positives, N(0, 1) for negatives: AUC = Phi(d / sqrt 2) = 0.760 for d = 1.
    known = 0.7602
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        labels = rng.random(600) < 0.4
        scores = rng.normal(labels.astype(float), 1.0)
        low, high = bootstrap(auc, labels, scores, resamples=400, seed=seed)
        covered += low <= known <= high
        assert high - low < 0.12
    assert covered >= 34  # ~95 % of 40, with room for chance


def test_bootstrap_is_seeded_and_handles_vector_statistics():
    values = np.random.default_rng(2).exponential(size=300)
    first = bootstrap(lambda v: np.array([v.mean(), np.median(v)]), values, resamples=200)
    again = bootstrap(lambda v: np.array([v.mean(), np.median(v)]), values, resamples=200)
    np.testing.assert_array_equal(first[0], again[0])
    assert first[0].shape == (2,) and (first[0] < first[1]).all()
    assert first[0][0] < values.mean() < first[1][0]


@pytest.mark.parametrize("rows, positives, ties", [(2000, 0.3, True), (500, 0.5, False), (40, 0.05, True)])
def test_the_auc_interval_is_the_bootstrap_of_the_auc_to_the_bit(rows, positives, ties):
    rng = np.random.default_rng(rows)
    labels = rng.random(rows) < positives
    scores = rng.normal(labels * 0.8, 1.0)
    if ties:
        scores = np.round(scores, 1)
    # 40 rows with 5 % positives: some resamples hold no positive (an undefined AUC, left out).
    assert auc_interval(labels, scores, resamples=300) == tuple(
        float(end) for end in bootstrap(auc, labels, scores, resamples=300)
    )
    assert all(np.isnan(auc_interval(np.array([], bool), np.array([]))))
