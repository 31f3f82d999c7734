"""How right a predicted solution is, and the properties that explain why it is wrong.

Everything here works on a batch: the first axis counts problems (N) and numpy's linear
algebra runs on the whole stack at once. Two kinds of function live here:

* the task error (the paper's accuracy criterion) and accuracy at a set of tolerances;
* failure-analysis properties of the problem (``problem_features``) and of the predicted
  solution (``prediction_properties``), the columns of the predictions table.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mathformer.core.problems import TASKS, check_choice, target_shape

TOLERANCES: tuple[float, ...] = (0.05, 0.02, 0.01, 0.005)
# The paper's headline tolerance: "accuracy" alone means accuracy at 5 % (stopping, the weak
# snapshot, the OOD tables, result 2's split).
HEADLINE_TOLERANCE = 0.05

# Tasks whose inputs are symmetric: their spectrum is real and eigvalsh applies.
SYMMETRIC_TASKS = ("eigenvalues", "eigenvectors", "syminverse")

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


# ---------------------------------------------------------------- validation


def _check_task(task: str) -> None:
    check_choice("task", task, TASKS)


def _square_stack(name: str, matrices: ArrayLike) -> FloatArray:
    array = np.asarray(matrices, dtype=np.float64)
    if array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"{name} must have shape (N, n, n), got {array.shape}")
    return array


def _finite_inputs(inputs: ArrayLike) -> FloatArray:
    # Inputs are generated problems, never model output: a non-finite one is a caller's bug.
    array = _square_stack("inputs", inputs)
    if not np.isfinite(array).all():
        raise ValueError("inputs contain non-finite values; problems must be finite matrices")
    return array


def _same_shape(name_a: str, a: FloatArray, name_b: str, b: FloatArray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}")


def _row_all(mask: NDArray[np.bool_]) -> BoolArray:
    """True for the rows (first axis) where every entry of mask is true."""
    return mask.reshape(mask.shape[0], -1).all(axis=1)


def _validated_batch(
    task: str, inputs: ArrayLike, predictions: ArrayLike, decoded: ArrayLike, targets: ArrayLike
) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
    _check_task(task)
    matrices = _finite_inputs(inputs)
    count, n, _ = matrices.shape
    expected = (count, *target_shape(task, n))
    predicted = np.asarray(predictions, dtype=np.float64)
    true = np.asarray(targets, dtype=np.float64)
    for name, array in (("predictions", predicted), ("targets", true)):
        if array.shape != expected:
            raise ValueError(
                f"{task} {name} must have shape {expected} for inputs of shape "
                f"{matrices.shape}, got {array.shape}"
            )
    decoded = np.asarray(decoded, dtype=bool)
    if decoded.shape != (count,):
        raise ValueError(f"decoded must have shape {(count,)}, got {decoded.shape}")
    return matrices, predicted, decoded, true


def _usable_predictions(
    predictions: FloatArray, decoded: BoolArray, targets: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """Predictions with unusable rows replaced by their targets, and the usable-row mask.

    A row is usable when it decoded and every value is finite. The stand-in values keep
    linear algebra and arithmetic on clean numbers (no warnings, no LAPACK errors); callers
    overwrite those rows with their failure value afterwards.
    """
    usable = decoded & _row_all(np.isfinite(predictions))
    row_mask = usable.reshape((-1,) + (1,) * (predictions.ndim - 1))
    return np.where(row_mask, predictions, targets), usable


def _transpose(matrices: FloatArray) -> FloatArray:
    return np.swapaxes(matrices, -1, -2)


# ---------------------------------------------------------------- task error and accuracy


def _eigenvector_residual(matrices: FloatArray, predictions: FloatArray) -> FloatArray:
    """sum|V^T M V - D| / sum|D|, V the predicted eigenvectors (columns), D = diag(predicted values).

    No ground-truth vector is needed, so the criterion is free of the sign of each vector and
    of the order of the pairs: permuting the columns of V together with the eigenvalues
    permutes both sides alike and still scores 0, while permuting the vectors alone (values
    left in place) puts the wrong value beside each vector and scores badly.
    """
    values = predictions[:, 0, :]
    vectors = predictions[:, 1:, :]
    n = values.shape[1]
    residual = _transpose(vectors) @ matrices @ vectors - values[:, :, None] * np.eye(n)
    return np.abs(residual).sum(axis=(1, 2)) / np.abs(values).sum(axis=1)


def _inverse_residual(matrices: FloatArray, predictions: FloatArray) -> FloatArray:
    """sum|M P - I| / n."""
    n = matrices.shape[1]
    return np.abs(matrices @ predictions - np.eye(n)).sum(axis=(1, 2)) / n


def task_error(
    task: str, inputs: ArrayLike, predictions: ArrayLike, decoded: ArrayLike, targets: ArrayLike
) -> FloatArray:
    """The paper's relative error of each prediction, shape (N,).

    eigenvalues: sum|p - t| / sum|t|; eigenvectors: sum|V^T M V - D| / sum|D|;
    inversion and syminverse: sum|M P - I| / n. A row that did not decode (decoded False), holds
    a non-finite value or whose error is not finite (e.g. all predicted eigenvalues zero) gets
    inf, so it is wrong at every tolerance.
    """
    matrices, predicted, decoded, true = _validated_batch(task, inputs, predictions, decoded, targets)
    filled, usable = _usable_predictions(predicted, decoded, true)
    # Finite but huge predictions may overflow, and a zero denominator divides by zero:
    # both give non-finite errors, which become inf below.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if task == "eigenvalues":
            errors = np.abs(filled - true).sum(axis=1) / np.abs(true).sum(axis=1)
        elif task == "eigenvectors":
            errors = _eigenvector_residual(matrices, filled)
        else:
            errors = _inverse_residual(matrices, filled)
    errors[~usable | ~np.isfinite(errors)] = np.inf
    return errors


def _checked_tolerances(tolerances: Iterable[float]) -> tuple[float, ...]:
    checked = tuple(float(t) for t in tolerances)
    if not checked or not all(np.isfinite(t) and t > 0 for t in checked):
        raise ValueError(f"tolerances must be positive finite numbers, got {checked}")
    return checked


def _error_vector(errors: ArrayLike) -> FloatArray:
    array = np.asarray(errors, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"errors must be a non-empty 1-D array, got shape {array.shape}")
    return array


def correct(errors: ArrayLike, tolerances: Iterable[float] = TOLERANCES) -> BoolArray:
    """Whether each error is below each tolerance: bool (N, len(tolerances)). NaN counts as wrong."""
    array = _error_vector(errors)
    return array[:, None] < np.asarray(_checked_tolerances(tolerances))[None, :]


def accuracy(errors: ArrayLike, tolerances: Iterable[float] = TOLERANCES) -> dict[float, float]:
    """Share of errors below each tolerance, keyed by tolerance."""
    checked = _checked_tolerances(tolerances)
    shares = correct(errors, checked).mean(axis=0)
    return {t: float(share) for t, share in zip(checked, shares)}


# ---------------------------------------------------------------- properties of a prediction


def eigenvalue_error(pred_vals: ArrayLike, true_vals: ArrayLike) -> FloatArray:
    """Relative L1 error sum|p - t| / sum|t| after sorting both, shape (N,).

    Sorting makes this a property of the predicted spectrum alone, whatever order the
    model wrote it in. NaN in a prediction gives NaN.
    """
    return eigenvalue_error_paper(
        np.sort(np.asarray(pred_vals, dtype=np.float64), axis=-1), np.sort(true_vals, axis=-1)
    )


def eigenvalue_error_paper(pred_vals: ArrayLike, true_vals: ArrayLike) -> FloatArray:
    """Relative L1 error sum|p - t| / sum|t| with the two rows compared in the order written, (N,).

    The paper's notebook definition: no sorting, so a model that writes the right spectrum in
    another order than the target's (ascending) is counted wrong. NaN in a prediction gives NaN.
    """
    predicted = np.asarray(pred_vals, dtype=np.float64)
    true = np.asarray(true_vals, dtype=np.float64)
    if predicted.ndim != 2:
        raise ValueError(f"pred_vals must have shape (N, n), got {predicted.shape}")
    _same_shape("pred_vals", predicted, "true_vals", true)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(predicted - true).sum(axis=1) / np.abs(true).sum(axis=1)


def norm_errors(vectors: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """max |norm - 1| over the columns, and over the rows, of each matrix: two arrays (N,).

    An orthogonal matrix has unit columns and unit rows. The columns are the eigenvectors; the
    paper's notebook takes the max over both (see `norm_error_paper`).
    """
    array = _square_stack("vectors", vectors)
    columns = np.abs(np.linalg.norm(array, axis=1) - 1.0).max(axis=1)
    rows = np.abs(np.linalg.norm(array, axis=2) - 1.0).max(axis=1)
    return columns, rows


def orthogonality(vectors: ArrayLike) -> FloatArray:
    """max |cos| of the angle between two different columns, shape (N,): 0 when orthogonal.

    A zero column has no direction, so the result is NaN for that matrix.
    """
    array = _square_stack("vectors", vectors)
    n = array.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = array / np.linalg.norm(array, axis=1, keepdims=True)
        cosines = np.abs(_transpose(unit) @ unit)
    off_diagonal = ~np.eye(n, dtype=bool)
    # initial=0 covers n == 1 (no pairs); NaN still propagates through max.
    return np.max(cosines, axis=(1, 2), initial=0.0, where=off_diagonal)


def norm_error_paper(vectors: ArrayLike) -> FloatArray:
    """The paper's notebook: max |norm - 1| over ALL rows and ALL columns of each matrix, (N,)."""
    columns, rows = norm_errors(vectors)
    return np.maximum(columns, rows)


def orthogonality_paper(vectors: ArrayLike) -> FloatArray:
    """The paper's notebook: max |cos| over pairs of ROWS, each row with the next and the last with the first.

    For n <= 3 these are all pairs of rows; from n = 4 on some pairs go unchecked, so this is
    laxer than `orthogonality` (all pairs of columns). NaN for a matrix with a zero row.
    """
    array = _square_stack("vectors", vectors)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = array / np.linalg.norm(array, axis=2, keepdims=True)
        cosines = np.abs((unit * np.roll(unit, -1, axis=1)).sum(axis=2))
    return cosines.max(axis=1)


def _singular_values(matrices: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Singular values (descending) of each matrix, and which matrices are invertible.

    A matrix is invertible here when it is finite and its smallest singular value exceeds
    numpy's rank tolerance (s_max * n * eps): rounding makes exactly singular matrices look
    merely ill-conditioned, with s_min ~ 1e-16 s_max. Non-finite matrices are replaced by
    the identity before the SVD, which LAPACK cannot run on them.
    """
    finite = _row_all(np.isfinite(matrices))
    n = matrices.shape[1]
    clean = np.where(finite[:, None, None], matrices, np.eye(n))
    singular_values = np.linalg.svd(clean, compute_uv=False)
    rank_tolerance = singular_values[:, 0] * n * np.finfo(np.float64).eps
    return singular_values, finite & (singular_values[:, -1] > rank_tolerance)


def condition_number(matrices: ArrayLike) -> FloatArray:
    """2-norm condition number s_max / s_min, shape (N,).

    inf when the matrix is non-finite or singular (s_min within numpy's rank tolerance),
    so finite values stay below about 1 / (n * eps).
    """
    array = _square_stack("matrices", matrices)
    singular_values, invertible = _singular_values(array)
    cond = np.full(array.shape[0], np.inf)
    cond[invertible] = singular_values[invertible, 0] / singular_values[invertible, -1]
    return cond


def inverse_distance(pred: ArrayLike, inputs: ArrayLike) -> FloatArray:
    """Relative distance to the true inverse, sum|P - M^-1| / sum|M^-1|, shape (N,).

    inf when M is singular (as in condition_number) or P is not finite.
    """
    predicted = _square_stack("pred", pred)
    matrices = _finite_inputs(inputs)
    _same_shape("pred", predicted, "inputs", matrices)
    _, invertible = _singular_values(matrices)
    n = matrices.shape[1]
    # Singular rows are swapped for the identity so that one of them cannot abort the batch.
    true_inverse = np.linalg.inv(np.where(invertible[:, None, None], matrices, np.eye(n)))
    with np.errstate(invalid="ignore", over="ignore"):
        distance = np.abs(predicted - true_inverse).sum(axis=(1, 2)) / np.abs(true_inverse).sum(axis=(1, 2))
    distance[~invertible | ~np.isfinite(distance)] = np.inf
    return distance


# ---------------------------------------------------------------- table columns


def problem_features(task: str, inputs: ArrayLike) -> dict[str, FloatArray]:
    """Properties of each problem that may predict failure, each of shape (N,).

    input_cond: condition number of M. min_eigengap (symmetric tasks; NaN for inversion):
    smallest gap between consecutive sorted eigenvalues divided by the standard deviation
    of that matrix's eigenvalues (NaN when they are all equal). spectral_spread: range of
    the spectrum, lambda_max - lambda_min for symmetric tasks and max|lambda| - min|lambda|
    for inversion (complex eigenvalues). max_coefficient: max |M_ij|.
    """
    _check_task(task)
    matrices = _finite_inputs(inputs)
    count = matrices.shape[0]
    if task in SYMMETRIC_TASKS:
        eigenvalues = np.linalg.eigvalsh(matrices)  # ascending
        gaps = np.diff(eigenvalues, axis=1).min(axis=1, initial=np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            min_eigengap = gaps / eigenvalues.std(axis=1)
        min_eigengap[~np.isfinite(min_eigengap)] = np.nan
        spectral_spread = eigenvalues[:, -1] - eigenvalues[:, 0]
    else:
        moduli = np.abs(np.linalg.eigvals(matrices))
        min_eigengap = np.full(count, np.nan)
        spectral_spread = moduli.max(axis=1) - moduli.min(axis=1)
    return {
        "input_cond": condition_number(matrices),
        "min_eigengap": min_eigengap,
        "spectral_spread": spectral_spread,
        "max_coefficient": np.abs(matrices).max(axis=(1, 2)),
    }


def prediction_properties(
    task: str, inputs: ArrayLike, predictions: ArrayLike, decoded: ArrayLike, targets: ArrayLike
) -> dict[str, FloatArray]:
    """Properties of each predicted solution, each of shape (N,), NaN where decoded is False.

    eigenvalues: eigenvalue_error. eigenvectors: the paper's notebook definitions
    (eigenvalue_error_paper, norm_error_paper, orthogonality_paper), ours beside them
    (eigenvalue_error sorted, norm_error_cols, norm_error_rows, orthogonality over all column
    pairs), and pred_vectors_cond (condition number of the predicted eigenvector matrix, 1 when
    orthogonal). inversion and syminverse: inverse_distance.
    A decoded row with non-finite values keeps what each property gives it (inf or NaN).
    """
    matrices, predicted, decoded, true = _validated_batch(task, inputs, predictions, decoded, targets)
    # Not-decoded rows hold NaN; computing on their targets instead keeps the batch clean.
    filled = np.where(decoded.reshape((-1,) + (1,) * (predicted.ndim - 1)), predicted, true)
    if task == "eigenvalues":
        properties = {"eigenvalue_error": eigenvalue_error(filled, true)}
    elif task == "eigenvectors":
        vectors = filled[:, 1:, :]
        norm_cols, norm_rows = norm_errors(vectors)
        properties = {
            "eigenvalue_error_paper": eigenvalue_error_paper(filled[:, 0, :], true[:, 0, :]),
            "norm_error_paper": norm_error_paper(vectors),
            "orthogonality_paper": orthogonality_paper(vectors),
            "eigenvalue_error": eigenvalue_error(filled[:, 0, :], true[:, 0, :]),
            "norm_error_cols": norm_cols,
            "norm_error_rows": norm_rows,
            "orthogonality": orthogonality(vectors),
            "pred_vectors_cond": condition_number(vectors),
        }
    else:
        properties = {"inverse_distance": inverse_distance(filled, matrices)}
    for column in properties.values():
        column[~decoded] = np.nan
    return properties
