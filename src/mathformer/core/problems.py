"""Random linear-algebra problems: the matrices a model reads and the answers it must write.

A `Problem` names one task (eigenvalues, eigenvectors, inversion of a general matrix, inversion of
a symmetric one), the matrix size, the coefficient law and, for symmetric matrices, the law of the
eigenvalues (the "spectrum"). `Problem.sample` draws a whole batch at once; everything is
vectorized over the batch, and the same generator state always gives the same bytes.

Symmetric matrices with a given spectrum are built as in the paper: a Wigner matrix (symmetric,
from the lower triangle of an i.i.d. matrix) has a semicircle spectrum with standard deviation
sigma = sqrt(n) A / sqrt(3); every other spectrum keeps the (random, orthogonal) eigenvectors of a
fresh Wigner matrix and replaces its eigenvalues by draws with the same sigma, so the spectra
differ in shape only, not in scale. The exception is "marcenko", B^T B with B of coefficients in
[-sqrt(A), sqrt(A)].

Eigenvector targets carry LAPACK's signs by default, as the authors trained on; `signs="canonical"`
fixes each sign by a rule of the vector alone (see `canonical_signs`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TASKS = ("eigenvalues", "eigenvectors", "inversion", "syminverse")
SPECTRA = ("semicircle", "uniform", "gaussian", "laplace", "positive", "positive2", "marcenko")
LAWS = ("uniform", "gaussian")
EIGENVECTOR_SIGNS = ("lapack", "canonical")
MIN_DIM, MAX_DIM = 2, 10

# Inversion targets are only kept when M P reproduces the identity this well (sum|M P - I| / n):
# a numerically singular matrix has no meaningful inverse to learn.
MAX_INVERSE_RESIDUAL = 1e-6
# Each redraw round replaces only the rejected matrices, and rejections are rare (ill-conditioned
# draws), so a handful of rounds suffices; the cap turns a would-be endless loop into an error.
MAX_DRAW_ROUNDS = 100

_INVERSE_TASKS = ("inversion", "syminverse")


def unknown_choice(kind: str, value: object, allowed: Sequence[str]) -> ValueError:
    """The one wording of a bad choice: "unknown task 'x'; allowed: a, b"."""
    return ValueError(f"unknown {kind} {value!r}; allowed: {', '.join(allowed)}")


def check_choice(kind: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise unknown_choice(kind, value, allowed)


def target_shape(task: str, n: int) -> tuple[int, ...]:
    """The shape of one answer: eigenvalues (n,); eigenvectors (n + 1, n), row 0 the eigenvalues
    and rows 1..n the eigenvectors as columns; inverses (n, n)."""
    if task == "eigenvalues":
        return (n,)
    if task == "eigenvectors":
        return (n + 1, n)
    return (n, n)


def draw_coefficients(
    law: str, half_width: float, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """I.i.d. coefficients, uniform in [-half_width, half_width] or gaussian of equal variance."""
    if law == "uniform":
        return rng.uniform(-half_width, half_width, size=shape)
    # Same variance as the uniform law (half_width^2 / 3), so the two laws differ in shape only.
    return rng.normal(0.0, half_width / math.sqrt(3.0), size=shape)


def wigner_matrices(count: int, n: int, law: str, coeff_range: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric matrices whose lower triangle (diagonal included) holds i.i.d. coefficients."""
    coefficients = draw_coefficients(law, coeff_range, (count, n, n), rng)
    lower = np.tril(coefficients)
    return lower + np.swapaxes(np.tril(coefficients, -1), -1, -2)


def _with_eigenvalues(eigenvectors: np.ndarray, eigenvalues: np.ndarray) -> np.ndarray:
    """Q^T diag(lambda) Q for stacked Q (eigh's eigenvectors as columns) and lambda.

    This is the authors' construction: the ROWS of Q become the eigenvectors of the result. The
    transpose matters: Q is not Haar-distributed (uniform coefficients are not orthogonally
    invariant, and eigh orders the columns by eigenvalue), so Q diag(lambda) Q^T has another entry
    law (off-diagonal std 4.87 instead of 5.08 at n = 5, KS p ~ 1e-9 on 150k matrices).
    """
    matrices = np.swapaxes(eigenvectors, -1, -2) @ (eigenvalues[:, :, None] * eigenvectors)
    return _symmetrized(matrices)


def _symmetrized(matrices: np.ndarray) -> np.ndarray:
    # Rounding in the products leaves the two triangles a few ulps apart; the model should read
    # an exactly symmetric matrix, as for the Wigner spectrum.
    return 0.5 * (matrices + np.swapaxes(matrices, -1, -2))


def symmetric_matrices(
    count: int, n: int, spectrum: str, law: str, coeff_range: float, rng: np.random.Generator
) -> np.ndarray:
    """Symmetric matrices whose eigenvalues follow `spectrum` (all with the Wigner sigma)."""
    if spectrum == "marcenko":
        factors = draw_coefficients(law, math.sqrt(coeff_range), (count, n, n), rng)
        return _symmetrized(np.swapaxes(factors, -1, -2) @ factors)
    wigner = wigner_matrices(count, n, law, coeff_range, rng)
    if spectrum == "semicircle":
        return wigner
    semicircle_values, eigenvectors = np.linalg.eigh(wigner)
    sigma = math.sqrt(n) * coeff_range / math.sqrt(3.0)
    laplace_scale = sigma / math.sqrt(2.0)  # Laplace(0, b) has variance 2 b^2
    shape = (count, n)
    if spectrum == "uniform":
        half_width = math.sqrt(3.0) * sigma
        eigenvalues = rng.uniform(-half_width, half_width, size=shape)
    elif spectrum == "gaussian":
        eigenvalues = rng.normal(0.0, sigma, size=shape)
    elif spectrum == "laplace":
        eigenvalues = rng.laplace(0.0, laplace_scale, size=shape)
    elif spectrum == "positive":
        eigenvalues = np.abs(semicircle_values)
    else:  # positive2
        eigenvalues = np.abs(rng.laplace(0.0, laplace_scale, size=shape))
    return _with_eigenvalues(eigenvectors, eigenvalues)


def canonical_signs(eigenvectors: np.ndarray) -> np.ndarray:
    """Flip each eigenvector (column) so that its largest-magnitude component is positive.

    An eigenvector is only defined up to its sign, and LAPACK picks one by accident of the
    algorithm. The model must learn a function of the matrix, so the target fixes the sign by a
    rule that depends on the vector alone. (Ties in magnitude go to the first component.)
    """
    largest_row = np.argmax(np.abs(eigenvectors), axis=-2)
    largest = np.take_along_axis(eigenvectors, largest_row[..., None, :], axis=-2)
    return eigenvectors * np.where(largest < 0, -1.0, 1.0)


def inverses(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stacked inverses and a mask of the matrices that are numerically invertible.

    np.linalg.inv is 8x faster than the pseudo-inverse but raises for the whole batch when one
    matrix is exactly singular; only then does the batch fall back to the pseudo-inverse, which
    never raises. Either way a singular matrix fails the residual test, which is what rejects it.
    """
    n = matrices.shape[-1]
    try:
        candidates = np.linalg.inv(matrices)
    except np.linalg.LinAlgError:
        candidates = np.linalg.pinv(matrices)
    with np.errstate(invalid="ignore", over="ignore"):
        residual = np.abs(matrices @ candidates - np.eye(n)).sum(axis=(-2, -1)) / n
    invertible = np.isfinite(candidates).all(axis=(-2, -1)) & (residual <= MAX_INVERSE_RESIDUAL)
    return candidates, invertible


@dataclass(frozen=True)
class Problem:
    """One kind of problem; `sample` draws batches of (input matrix, target) pairs."""

    task: str
    n: int = 5
    spectrum: str = "semicircle"
    law: str = "uniform"
    coeff_range: float = 10.0
    signs: str = "lapack"  # eigenvector targets: LAPACK's signs, or canonical_signs

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("eigenvector signs", self.signs, EIGENVECTOR_SIGNS)
        check_choice("spectrum", self.spectrum, SPECTRA)
        check_choice("law", self.law, LAWS)
        n_is_integer = isinstance(self.n, numbers.Integral) and not isinstance(self.n, bool)
        if not n_is_integer or not MIN_DIM <= self.n <= MAX_DIM:
            raise ValueError(f"n must be an integer from {MIN_DIM} to {MAX_DIM}, got {self.n!r}")
        range_is_real = isinstance(self.coeff_range, numbers.Real) and not isinstance(self.coeff_range, bool)
        if not range_is_real or not (math.isfinite(self.coeff_range) and self.coeff_range > 0):
            raise ValueError(f"coeff_range must be a positive finite number, got {self.coeff_range!r}")

    @property
    def sigma(self) -> float:
        """Standard deviation of the eigenvalues of the Wigner matrices (and of every spectrum)."""
        return math.sqrt(self.n) * self.coeff_range / math.sqrt(3.0)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def target_shape(self) -> tuple[int, ...]:
        return target_shape(self.task, self.n)

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`count` problems: inputs float64 (count, n, n), targets float64 (count, *target_shape).

        Inversion tasks redraw the numerically singular matrices (only those, in further rounds),
        so every returned input has a valid inverse; the draws consumed depend only on the
        generator state, so the same state gives the same bytes.
        """
        if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < 0:
            raise ValueError(f"count must be a non-negative integer, got {count!r}")
        inputs = np.empty((0, *self.input_shape))
        targets = np.empty((0, *self.target_shape))
        for _ in range(MAX_DRAW_ROUNDS):
            missing = count - len(inputs)
            if missing == 0:
                return inputs, targets
            round_inputs, round_targets, usable = self._draw_round(missing, rng)
            inputs = np.concatenate([inputs, round_inputs[usable]])
            targets = np.concatenate([targets, round_targets[usable]])
        raise RuntimeError(
            f"{self} still lacks {count - len(inputs)} invertible matrices "
            f"after {MAX_DRAW_ROUNDS} redraw rounds"
        )

    def _draw_round(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw `count` candidate problems; the mask says which ones may be returned."""
        if self.task == "inversion":
            matrices = draw_coefficients(self.law, self.coeff_range, (count, self.n, self.n), rng)
        else:
            matrices = symmetric_matrices(count, self.n, self.spectrum, self.law, self.coeff_range, rng)
        if self.task in _INVERSE_TASKS:
            matrix_inverses, invertible = inverses(matrices)
            return matrices, matrix_inverses, invertible
        everything = np.ones(count, dtype=bool)
        if self.task == "eigenvalues":
            # Recomputed from the final matrix rather than taken from the draw, so the target is
            # exactly the function of the input the model sees (eigvalsh sorts ascending).
            return matrices, np.linalg.eigvalsh(matrices), everything
        eigenvalues, eigenvectors = np.linalg.eigh(matrices)
        if self.signs == "canonical":
            eigenvectors = canonical_signs(eigenvectors)
        stacked = np.concatenate([eigenvalues[:, None, :], eigenvectors], axis=1)
        return matrices, stacked, everything
