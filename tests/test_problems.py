"""Tests for mathformer.core.problems: shapes, determinism, correct answers, and the seven spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mathformer.core import problems
from mathformer.core.problems import LAWS, SPECTRA, TASKS, Problem, canonical_signs

# Enough pooled eigenvalues for the distribution tests to have power, few enough to stay fast.
LAW_SAMPLES = 2000


def residual(matrices: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    n = matrices.shape[-1]
    return np.abs(matrices @ candidates - np.eye(n)).sum(axis=(-2, -1)) / n


def pooled_eigenvalues(spectrum: str, law: str = "uniform") -> tuple[Problem, np.ndarray]:
    problem = Problem("eigenvalues", n=5, spectrum=spectrum, law=law)
    _, eigenvalues = problem.sample(LAW_SAMPLES, np.random.default_rng(2022))
    return problem, eigenvalues.ravel()


def is_symmetric(matrices: np.ndarray) -> bool:
    return bool(np.array_equal(matrices, np.swapaxes(matrices, -1, -2)))


# --- the Problem object ---------------------------------------------------------------------


def test_defaults_and_sigma_follow_the_paper() -> None:
    problem = Problem("eigenvectors")
    assert (problem.n, problem.spectrum, problem.law, problem.coeff_range) == (
        5,
        "semicircle",
        "uniform",
        10.0,
    )
    assert problem.sigma == pytest.approx(12.91, abs=0.01)
    assert Problem("eigenvalues", n=7, coeff_range=3.0).sigma == pytest.approx(
        math.sqrt(7) * 3 / math.sqrt(3)
    )


@pytest.mark.parametrize(
    ("task", "target_shape"),
    [
        ("eigenvalues", (4,)),
        ("eigenvectors", (5, 4)),
        ("inversion", (4, 4)),
        ("syminverse", (4, 4)),
    ],
)
def test_shapes(task: str, target_shape: tuple[int, ...]) -> None:
    problem = Problem(task, n=4)
    assert problem.input_shape == (4, 4)
    assert problem.target_shape == target_shape


@pytest.mark.parametrize(
    ("fields", "bad_value", "allowed"),
    [
        ({"task": "det"}, "'det'", "eigenvalues, eigenvectors, inversion, syminverse"),
        ({"task": "eigenvalues", "spectrum": "wigner"}, "'wigner'", ", ".join(SPECTRA)),
        ({"task": "eigenvalues", "law": "cauchy"}, "'cauchy'", "uniform, gaussian"),
        ({"task": "eigenvalues", "n": 1}, "1", "2 to 10"),
        ({"task": "eigenvalues", "n": 11}, "11", "2 to 10"),
        ({"task": "eigenvalues", "n": 5.0}, "5.0", "2 to 10"),
        ({"task": "eigenvalues", "coeff_range": 0.0}, "0.0", "positive"),
        ({"task": "eigenvalues", "coeff_range": -3}, "-3", "positive"),
        ({"task": "eigenvalues", "coeff_range": math.inf}, "inf", "positive"),
    ],
)
def test_bad_fields_raise_naming_the_value(fields: dict, bad_value: str, allowed: str) -> None:
    with pytest.raises(ValueError) as error:
        Problem(**fields)
    message = str(error.value)
    assert bad_value in message
    assert allowed in message
    assert "\n" not in message


@pytest.mark.parametrize("count", [-1, 2.5, True])
def test_bad_count_raises(count: object) -> None:
    with pytest.raises(ValueError, match="count must be a non-negative integer"):
        Problem("eigenvalues").sample(count, np.random.default_rng(0))  # type: ignore[arg-type]


# --- sampling: shapes, dtypes, determinism --------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    task=st.sampled_from(TASKS),
    n=st.integers(2, 10),
    spectrum=st.sampled_from(SPECTRA),
    law=st.sampled_from(LAWS),
    count=st.integers(0, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_problem_samples_finite_float64_of_the_promised_shapes(
    task: str, n: int, spectrum: str, law: str, count: int, seed: int
) -> None:
    problem = Problem(task, n=n, spectrum=spectrum, law=law)
    inputs, targets = problem.sample(count, np.random.default_rng(seed))
    assert inputs.shape == (count, n, n) and inputs.dtype == np.float64
    assert targets.shape == (count, *problem.target_shape) and targets.dtype == np.float64
    assert np.isfinite(inputs).all() and np.isfinite(targets).all()


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("spectrum", ["semicircle", "laplace", "marcenko"])
def test_same_generator_state_gives_same_bytes(task: str, spectrum: str) -> None:
    problem = Problem(task, spectrum=spectrum)
    first = problem.sample(50, np.random.default_rng(123))
    second = problem.sample(50, np.random.default_rng(123))
    other = problem.sample(50, np.random.default_rng(124))
    assert first[0].tobytes() == second[0].tobytes()
    assert first[1].tobytes() == second[1].tobytes()
    assert first[0].tobytes() != other[0].tobytes()


# --- the answers are right -------------------------------------------------------------------


@pytest.mark.parametrize("spectrum", SPECTRA)
def test_eigenvalues_are_sorted_and_correct(spectrum: str) -> None:
    inputs, targets = Problem("eigenvalues", n=6, spectrum=spectrum).sample(200, np.random.default_rng(1))
    assert is_symmetric(inputs)
    assert (np.diff(targets, axis=1) >= 0).all()
    np.testing.assert_allclose(targets, np.linalg.eigvalsh(inputs), rtol=0, atol=1e-9)


@pytest.mark.parametrize("spectrum", SPECTRA)
@pytest.mark.parametrize("law", LAWS)
def test_eigenvectors_reconstruct_the_input(spectrum: str, law: str) -> None:
    inputs, targets = Problem("eigenvectors", n=5, spectrum=spectrum, law=law).sample(
        200, np.random.default_rng(2)
    )
    eigenvalues, vectors = targets[:, 0, :], targets[:, 1:, :]
    assert is_symmetric(inputs)
    assert (np.diff(eigenvalues, axis=1) >= 0).all()
    reconstructed = (vectors * eigenvalues[:, None, :]) @ np.swapaxes(vectors, -1, -2)
    np.testing.assert_allclose(reconstructed, inputs, rtol=0, atol=1e-9)
    identity = np.broadcast_to(np.eye(5), vectors.shape)
    np.testing.assert_allclose(np.swapaxes(vectors, -1, -2) @ vectors, identity, atol=1e-12)
    # Column j is the eigenvector of eigenvalue j: M v_j = lambda_j v_j.
    np.testing.assert_allclose(inputs @ vectors, vectors * eigenvalues[:, None, :], atol=1e-9)


def test_eigenvector_targets_carry_lapack_signs_by_default() -> None:
    inputs, targets = Problem("eigenvectors").sample(50, np.random.default_rng(3))
    _, vectors = np.linalg.eigh(inputs)
    np.testing.assert_array_equal(targets[:, 1:, :], vectors)


def test_eigenvector_signs_are_a_function_of_the_matrix() -> None:
    inputs, targets = Problem("eigenvectors", signs="canonical").sample(300, np.random.default_rng(3))
    vectors = targets[:, 1:, :]
    largest = np.take_along_axis(vectors, np.abs(vectors).argmax(axis=1)[:, None, :], axis=1)
    assert (largest > 0).all()
    # Whatever signs the eigensolver happens to return, the target is the same.
    flips = np.random.default_rng(30).choice([-1.0, 1.0], size=(300, 1, 5))
    np.testing.assert_array_equal(canonical_signs(vectors * flips), vectors)


@pytest.mark.parametrize("law", LAWS)
def test_inversion_inverts_general_matrices(law: str) -> None:
    inputs, targets = Problem("inversion", n=6, law=law).sample(300, np.random.default_rng(4))
    assert not is_symmetric(inputs)
    assert (residual(inputs, targets) <= 1e-6).all()
    np.testing.assert_allclose(targets, np.linalg.inv(inputs), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("spectrum", SPECTRA)
def test_syminverse_inverts_symmetric_matrices_of_the_spectrum(spectrum: str) -> None:
    inputs, targets = Problem("syminverse", n=5, spectrum=spectrum).sample(300, np.random.default_rng(5))
    assert is_symmetric(inputs)
    assert (residual(inputs, targets) <= 1e-6).all()
    assert (residual(targets, inputs) <= 1e-6).all()


class SingularFirstRound:
    """A generator stand-in whose first batch of coefficients has a singular matrix every other
    slot (row 1 copies row 0); later batches come straight from a real generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def uniform(self, low: float, high: float, size: tuple[int, ...]) -> np.ndarray:
        values = self.rng.uniform(low, high, size=size)
        if self.calls == 0:
            values[::2, 1, :] = values[::2, 0, :]
        self.calls += 1
        return values


def test_singular_draws_are_redrawn_never_returned() -> None:
    fake_rng = SingularFirstRound(seed=6)
    inputs, targets = Problem("inversion", n=4).sample(10, fake_rng)  # type: ignore[arg-type]
    assert fake_rng.calls >= 2
    assert inputs.shape == (10, 4, 4)
    assert (np.abs(np.linalg.det(inputs)) > 1e-9).all()
    assert (residual(inputs, targets) <= 1e-6).all()
    # The first round's invertible matrices (odd slots) come first, in order.
    first_round = np.random.default_rng(6).uniform(-10, 10, size=(10, 4, 4))
    np.testing.assert_array_equal(inputs[:5], first_round[1::2])


# --- the coefficient laws and the seven spectra ----------------------------------------------


@pytest.mark.parametrize(
    ("law", "reference"),
    [("uniform", stats.uniform(loc=-10, scale=20)), ("gaussian", stats.norm(0, 10 / math.sqrt(3)))],
)
def test_wigner_matrices_are_symmetric_matrices_of_the_law(law: str, reference) -> None:
    inputs, _ = Problem("eigenvalues", n=5, spectrum="semicircle", law=law).sample(
        LAW_SAMPLES, np.random.default_rng(7)
    )
    assert is_symmetric(inputs)
    rows, columns = np.tril_indices(5)
    lower_triangle = inputs[:, rows, columns]
    assert stats.kstest(lower_triangle.ravel(), reference.cdf).pvalue > 0.001
    # Both laws have the variance of U(-A, A): A^2 / 3.
    assert lower_triangle.var() == pytest.approx(100 / 3, rel=0.03)


def test_gaussian_and_uniform_laws_have_the_same_variance() -> None:
    uniform_inputs, _ = Problem("inversion", law="uniform").sample(2000, np.random.default_rng(8))
    gaussian_inputs, _ = Problem("inversion", law="gaussian").sample(2000, np.random.default_rng(8))
    assert gaussian_inputs.var() == pytest.approx(uniform_inputs.var(), rel=0.03)
    assert np.abs(uniform_inputs).max() <= 10
    assert np.abs(gaussian_inputs).max() > 10  # really gaussian: tails beyond the uniform range


@pytest.mark.parametrize("spectrum", ["semicircle", "uniform", "gaussian", "laplace"])
@pytest.mark.parametrize("law", LAWS)
def test_spectra_share_the_wigner_sigma(spectrum: str, law: str) -> None:
    problem, eigenvalues = pooled_eigenvalues(spectrum, law)
    assert abs(eigenvalues.mean()) < 0.05 * problem.sigma
    assert eigenvalues.std() == pytest.approx(problem.sigma, rel=0.04)


def kolmogorov_reference(spectrum: str, sigma: float):
    laplace_scale = sigma / math.sqrt(2)
    return {
        "uniform": stats.uniform(loc=-math.sqrt(3) * sigma, scale=2 * math.sqrt(3) * sigma),
        "gaussian": stats.norm(0, sigma),
        "laplace": stats.laplace(0, laplace_scale),
        "positive2": stats.expon(scale=laplace_scale),  # |Laplace(0, b)| is exponential of scale b
    }[spectrum]


@pytest.mark.parametrize("spectrum", ["uniform", "gaussian", "laplace", "positive2"])
def test_replaced_spectra_follow_their_law(spectrum: str) -> None:
    problem, eigenvalues = pooled_eigenvalues(spectrum)
    reference = kolmogorov_reference(spectrum, problem.sigma)
    assert stats.kstest(eigenvalues, reference.cdf).pvalue > 0.001
    # The test has power: the semicircle spectrum is rejected against the same reference.
    _, semicircle = pooled_eigenvalues("semicircle")
    if spectrum == "positive2":
        semicircle = np.abs(semicircle)
    assert stats.kstest(semicircle, reference.cdf).pvalue < 0.001


@pytest.mark.parametrize("spectrum", ["positive", "positive2", "marcenko"])
def test_positive_spectra_are_positive(spectrum: str) -> None:
    problem, eigenvalues = pooled_eigenvalues(spectrum)
    assert eigenvalues.min() >= -1e-9 * problem.sigma


def test_positive_spectrum_is_the_absolute_semicircle() -> None:
    # Same seed: the positive spectrum folds exactly the Wigner matrices the semicircle one draws.
    _, semicircle = pooled_eigenvalues("semicircle")
    _, positive = pooled_eigenvalues("positive")
    np.testing.assert_allclose(
        np.sort(positive.reshape(-1, 5), axis=1),
        np.sort(np.abs(semicircle.reshape(-1, 5)), axis=1),
        atol=1e-9,
    )


@pytest.mark.parametrize("law", LAWS)
def test_marcenko_matrices_are_gram_matrices_of_sqrt_range_factors(law: str) -> None:
    inputs, _ = Problem("eigenvalues", n=5, spectrum="marcenko", law=law).sample(
        LAW_SAMPLES, np.random.default_rng(9)
    )
    # M = B^T B with B entries of variance A / 3: E[trace M] = n^2 A / 3.
    traces = np.trace(inputs, axis1=1, axis2=2)
    assert traces.mean() == pytest.approx(25 * 10 / 3, rel=0.03)
    if law == "uniform":
        # Each diagonal entry is a sum of n squares each at most A.
        assert np.diagonal(inputs, axis1=1, axis2=2).max() <= 5 * 10


def test_spectra_are_set_as_in_the_paper_q_transposed_diag_q():
    # eigh returns eigenvectors as the columns of Q; the paper builds Q^T diag(lambda) Q, so the
    # ROWS of Q are the eigenvectors of the result. For a rotation Q by theta and lambda = (1, 2):
    # Q^T D Q = [[c^2 + 2 s^2, c s], [c s, s^2 + 2 c^2]] (Q D Q^T would have -c s off the diagonal).
    c, s = np.cos(0.4), np.sin(0.4)
    rotation = np.array([[[c, -s], [s, c]]])
    built = problems._with_eigenvalues(rotation, np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(built[0], [[c**2 + 2 * s**2, c * s], [c * s, s**2 + 2 * c**2]])
    np.testing.assert_allclose(built[0] @ rotation[0, 0], 1.0 * rotation[0, 0])  # row 0 of Q: eigenvalue 1


def test_entry_laws_differ_by_position_as_the_authors_construction_makes_them():
    # Q^T diag Q spreads some positions more than others (measured on 50,000 5x5 matrices: std of
    # M[0, 1] 4.86, of M[0, 3] 5.45); a construction invariant under permutations would not.
    inputs, _ = Problem("eigenvalues", n=5, spectrum="uniform").sample(20000, np.random.default_rng(8))
    assert inputs[:, 0, 3].std() - inputs[:, 0, 1].std() > 0.3
