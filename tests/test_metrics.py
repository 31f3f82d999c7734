"""Tests of mathformer.core.metrics: task errors, accuracy and the failure-analysis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathformer.core.metrics import (
    TOLERANCES,
    accuracy,
    condition_number,
    correct,
    eigenvalue_error,
    eigenvalue_error_paper,
    inverse_distance,
    norm_error_paper,
    norm_errors,
    orthogonality,
    orthogonality_paper,
    prediction_properties,
    problem_features,
    task_error,
)

N, COUNT = 5, 64


def symmetric_batch(seed: int, count: int = COUNT, n: int = N) -> np.ndarray:
    coefficients = np.random.default_rng(seed).uniform(-10, 10, size=(count, n, n))
    return np.tril(coefficients) + np.swapaxes(np.tril(coefficients, -1), 1, 2)


def general_batch(seed: int, count: int = COUNT, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-10, 10, size=(count, n, n))


def eigen_solution(matrices: np.ndarray) -> np.ndarray:
    """The (N, n+1, n) eigenvectors target: eigenvalues on row 0, vectors as columns below."""
    values, vectors = np.linalg.eigh(matrices)
    return np.concatenate([values[:, None, :], vectors], axis=1)


def all_ok(count: int = COUNT) -> np.ndarray:
    return np.ones(count, dtype=bool)


# ---------------------------------------------------------------- task_error


def test_exact_eigenvalues_score_zero() -> None:
    matrices = symmetric_batch(0)
    values = np.linalg.eigvalsh(matrices)
    errors = task_error("eigenvalues", matrices, values, all_ok(), values)
    np.testing.assert_allclose(errors, 0.0, atol=1e-15)


def test_scaled_eigenvalues_have_the_scale_as_error() -> None:
    matrices = symmetric_batch(1)
    values = np.linalg.eigvalsh(matrices)
    errors = task_error("eigenvalues", matrices, values * 1.01, all_ok(), values)
    np.testing.assert_allclose(errors, 0.01, rtol=1e-9)


def test_exact_eigen_decomposition_scores_zero() -> None:
    matrices = symmetric_batch(2)
    solution = eigen_solution(matrices)
    errors = task_error("eigenvectors", matrices, solution, all_ok(), solution)
    assert errors.max() < 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_eigenvector_signs_do_not_matter(seed: int) -> None:
    matrices = symmetric_batch(seed, count=8)
    solution = eigen_solution(matrices)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(8, 1, N))
    flipped = solution.copy()
    flipped[:, 1:, :] *= signs
    errors = task_error("eigenvectors", matrices, flipped, all_ok(8), solution)
    assert errors.max() < 1e-12


def test_pairs_shuffled_together_still_score_zero() -> None:
    matrices = symmetric_batch(3)
    solution = eigen_solution(matrices)
    order = np.array([3, 0, 4, 1, 2])
    shuffled = solution[:, :, order]  # values and vectors permuted alike
    errors = task_error("eigenvectors", matrices, shuffled, all_ok(), solution)
    assert errors.max() < 1e-12


def test_vectors_shuffled_alone_are_wrong() -> None:
    matrices = symmetric_batch(4)
    solution = eigen_solution(matrices)
    shuffled = solution.copy()
    shuffled[:, 1:, :] = solution[:, 1:, [3, 0, 4, 1, 2]]  # eigenvalues left in place
    errors = task_error("eigenvectors", matrices, shuffled, all_ok(), solution)
    assert errors.min() > 0.5
    assert not correct(errors).any()


@pytest.mark.parametrize("task", ["inversion", "syminverse"])
def test_exact_inverse_scores_zero(task: str) -> None:
    matrices = general_batch(5) if task == "inversion" else symmetric_batch(5)
    inverses = np.linalg.inv(matrices)
    errors = task_error(task, matrices, inverses, all_ok(), inverses)
    assert errors.max() < 1e-12


def test_perturbed_inverse_has_the_residual_of_the_perturbation() -> None:
    matrices = general_batch(6)
    inverses = np.linalg.inv(matrices)
    perturbation = np.random.default_rng(7).normal(scale=1e-3, size=matrices.shape)
    errors = task_error("inversion", matrices, inverses + perturbation, all_ok(), inverses)
    expected = np.abs(matrices @ perturbation).sum(axis=(1, 2)) / N
    np.testing.assert_allclose(errors, expected, rtol=1e-6)


@pytest.mark.parametrize("task", ["eigenvalues", "eigenvectors", "inversion", "syminverse"])
def test_failed_rows_are_inf_and_wrong_at_every_tolerance(task: str) -> None:
    matrices = symmetric_batch(8, count=6)
    if task == "eigenvalues":
        solution = np.linalg.eigvalsh(matrices)
    elif task == "eigenvectors":
        solution = eigen_solution(matrices)
    else:
        solution = np.linalg.inv(matrices)
    predictions = solution.copy()
    decoded = np.array([True, False, True, True, False, True])
    predictions[~decoded] = np.nan  # what decode_target writes for malformed rows
    predictions[2].flat[0] = np.inf  # decodes (an overflow token) but is not finite
    with np.errstate(all="raise"):  # no warning may escape from the bad rows
        errors = task_error(task, matrices, predictions, decoded, solution)
    assert np.isinf(errors[[1, 2, 4]]).all()
    assert (errors[[0, 3, 5]] < 1e-9).all()
    assert correct(errors).tolist() == [[row in (0, 3, 5)] * len(TOLERANCES) for row in range(6)]


def test_zero_predicted_eigenvalues_are_inf_not_nan() -> None:
    matrices = symmetric_batch(9, count=2)
    predictions = np.zeros((2, N + 1, N))
    errors = task_error("eigenvectors", matrices, predictions, all_ok(2), eigen_solution(matrices))
    assert np.isinf(errors).all()


# ---------------------------------------------------------------- accuracy


def test_accuracy_counts_errors_strictly_below_each_tolerance() -> None:
    errors = np.array([0.0, 0.004, 0.005, 0.015, 0.03, 0.2, np.inf, np.nan])
    assert accuracy(errors) == {0.05: 5 / 8, 0.02: 4 / 8, 0.01: 3 / 8, 0.005: 2 / 8}
    assert accuracy(errors, (0.1,)) == {0.1: 5 / 8}
    assert correct(errors, (0.02, 0.005)).shape == (8, 2)


@pytest.mark.parametrize("tolerances", [(), (0.0,), (-0.1,), (np.inf,)])
def test_accuracy_rejects_bad_tolerances(tolerances: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="tolerances"):
        accuracy(np.zeros(3), tolerances)


def test_accuracy_rejects_empty_errors() -> None:
    with pytest.raises(ValueError, match="errors"):
        accuracy(np.array([]))


# ---------------------------------------------------------------- properties


def test_eigenvalue_error_sorts_both_sides() -> None:
    true = np.array([[1.0, 2.0, 3.0]])
    predicted = np.array([[3.03, 1.01, 2.02]])
    np.testing.assert_allclose(eigenvalue_error(predicted, true), [0.01])


def test_norm_errors_of_scaled_columns() -> None:
    orthogonal = np.linalg.qr(general_batch(10, count=4))[0]
    scaled = orthogonal * np.array([1.0, 1.02, 0.95, 1.0, 1.0])  # scales columns
    cols, rows = norm_errors(scaled)
    np.testing.assert_allclose(cols, 0.05, atol=1e-12)
    assert (rows > 0).all() and (rows < 0.05).all()
    cols, rows = norm_errors(orthogonal)
    assert max(cols.max(), rows.max()) < 1e-12


def test_orthogonality_of_orthogonal_and_degenerate_matrices() -> None:
    orthogonal = np.linalg.qr(general_batch(11, count=4))[0]
    assert orthogonality(orthogonal).max() < 1e-12
    repeated = orthogonal.copy()
    repeated[:, :, 3] = -2.0 * repeated[:, :, 1]  # parallel columns: |cos| = 1
    np.testing.assert_allclose(orthogonality(repeated), 1.0)


def test_condition_number_of_orthogonal_and_singular_matrices() -> None:
    orthogonal = np.linalg.qr(general_batch(12, count=4))[0]
    np.testing.assert_allclose(condition_number(orthogonal), 1.0)
    singular = general_batch(13, count=3)
    singular[:, 0, :] = 0.0
    not_finite = general_batch(14, count=1)
    not_finite[0, 1, 1] = np.nan
    with np.errstate(all="raise"):
        assert np.isinf(condition_number(np.concatenate([singular, not_finite]))).all()
    np.testing.assert_allclose(condition_number(np.diag([1.0, 2.0, 8.0])[None]), [8.0])


def test_inverse_distance() -> None:
    matrices = general_batch(15)
    inverses = np.linalg.inv(matrices)
    assert inverse_distance(inverses, matrices).max() < 1e-12
    np.testing.assert_allclose(inverse_distance(1.03 * inverses, matrices), 0.03)
    singular = np.ones((1, 3, 3))
    with np.errstate(all="raise"):
        assert np.isinf(inverse_distance(np.eye(3)[None], singular)).all()


@pytest.mark.parametrize("task", ["eigenvalues", "eigenvectors", "inversion", "syminverse"])
def test_problem_features_shapes(task: str) -> None:
    matrices = general_batch(16) if task == "inversion" else symmetric_batch(16)
    features = problem_features(task, matrices)
    assert list(features) == ["input_cond", "min_eigengap", "spectral_spread", "max_coefficient"]
    assert all(column.shape == (COUNT,) for column in features.values())
    assert (features["input_cond"] >= 1).all()
    assert np.isnan(features["min_eigengap"]).all() == (task == "inversion")


def test_problem_features_by_hand() -> None:
    rotation = np.linalg.qr(general_batch(17, count=1))[0]
    eigenvalues = np.array([-4.0, -1.0, 0.5, 2.0, 6.0])
    matrix = rotation @ np.diag(eigenvalues) @ np.swapaxes(rotation, 1, 2)
    features = problem_features("eigenvectors", matrix)
    np.testing.assert_allclose(features["min_eigengap"], [1.5 / eigenvalues.std()])
    np.testing.assert_allclose(features["spectral_spread"], [10.0])
    np.testing.assert_allclose(features["input_cond"], [12.0])
    np.testing.assert_allclose(features["max_coefficient"], [np.abs(matrix).max()])


def test_prediction_properties_columns_and_nan_rows() -> None:
    matrices = symmetric_batch(18, count=4)
    solution = eigen_solution(matrices)
    decoded = np.array([True, False, True, True])
    predictions = solution.copy()
    predictions[1] = np.nan
    predictions[2, 1:, :] *= 1.02  # every eigenvector 2 % too long
    properties = prediction_properties("eigenvectors", matrices, predictions, decoded, solution)
    assert list(properties) == [
        "eigenvalue_error_paper",
        "norm_error_paper",
        "orthogonality_paper",
        "eigenvalue_error",
        "norm_error_cols",
        "norm_error_rows",
        "orthogonality",
        "pred_vectors_cond",
    ]
    for column in properties.values():
        assert column.shape == (4,) and np.isnan(column[1]) and np.isfinite(column[[0, 2, 3]]).all()
    np.testing.assert_allclose(properties["norm_error_cols"][[0, 2, 3]], [0, 0.02, 0], atol=1e-12)
    np.testing.assert_allclose(properties["pred_vectors_cond"][[0, 2, 3]], 1.0)

    values = solution[:, 0, :]
    assert list(prediction_properties("eigenvalues", matrices, values, decoded, values)) == [
        "eigenvalue_error"
    ]
    inverses = np.linalg.inv(matrices)
    inverse_props = prediction_properties("syminverse", matrices, inverses, decoded, inverses)
    assert list(inverse_props) == ["inverse_distance"]
    assert np.isnan(inverse_props["inverse_distance"][1])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda m: task_error("determinant", m, m, np.ones(2, bool), m),
        lambda m: problem_features("eigenvalue", m),
        lambda m: prediction_properties("inverse", m, m, np.ones(2, bool), m),
    ],
)
def test_unknown_task_names_the_allowed_ones(call) -> None:
    with pytest.raises(ValueError, match="unknown task .*eigenvalues, eigenvectors, inversion"):
        call(symmetric_batch(19, count=2))


def test_shape_mismatches_name_the_shapes() -> None:
    matrices = symmetric_batch(20, count=2)
    with pytest.raises(ValueError, match=r"\(2, 6, 5\).*got \(2, 5\)"):
        task_error("eigenvectors", matrices, np.zeros((2, 5)), np.ones(2, bool), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"decoded must have shape \(2,\)"):
        task_error("eigenvalues", matrices, np.zeros((2, 5)), np.ones(3, bool), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(N, n, n\), got \(2, 5\)"):
        orthogonality(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(2, 4, 4\).*\(2, 5, 5\)"):
        inverse_distance(np.zeros((2, 4, 4)), matrices)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        eigenvalue_error(np.zeros((2, 3)), np.zeros((2, 4)))


# ---------------------------------------------------------------- the paper notebook's definitions


def test_paper_eigenvalue_error_compares_in_order_ours_sorts():
    predicted, true = np.array([[2.0, 1.0]]), np.array([[1.0, 2.0]])
    assert eigenvalue_error_paper(predicted, true)[0] == pytest.approx(2 / 3)  # (|2-1| + |1-2|) / 3
    assert eigenvalue_error(predicted, true)[0] == 0.0


def test_paper_norm_error_takes_rows_and_columns():
    # Unit columns, rows of norm sqrt(0.72) and sqrt(1.28): only the rows are off.
    vectors = np.array([[[0.6, 0.6], [0.8, 0.8]]])
    columns, rows = norm_errors(vectors)
    assert columns[0] == pytest.approx(0.0)
    assert norm_error_paper(vectors)[0] == pytest.approx(1 - np.sqrt(0.72)) == rows[0]


def test_paper_orthogonality_checks_consecutive_rows_ours_every_column_pair():
    # Rows e0, e1, (e0 + e2) / sqrt 2, e3: each row is orthogonal to the next (and the last to the
    # first), but rows 0 and 2 meet at 45 degrees.
    s = 1 / np.sqrt(2)
    vectors = np.array([[[1, 0, 0, 0], [0, 1, 0, 0], [s, 0, s, 0], [0, 0, 0, 1]]], dtype=float)
    assert orthogonality_paper(vectors)[0] == pytest.approx(0.0)
    # Columns 0 = (1, 0, s, 0) and 2 = (0, 0, s, 0): |cos| = 0.5 / (sqrt(1.5) s) = 1 / sqrt 3.
    assert orthogonality(vectors)[0] == pytest.approx(1 / np.sqrt(3))
    # For 3x3 the notebook's pairs are all pairs of rows.
    skewed = np.array([[[1, 0, 0], [0, 1, 0], [s, 0, s]]])
    assert orthogonality_paper(skewed)[0] == pytest.approx(s)
