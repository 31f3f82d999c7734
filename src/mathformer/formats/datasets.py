"""data/<set>.npz: fixed problem sets on disk (the validation, test and OOD sets), and their seeds."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mathformer.core.problems import Problem
from mathformer.formats.atomic import atomic_path

# 2: eigenvector sign convention stored ("signs"); spectra built as Q^T diag Q (the paper's).
FORMAT_VERSION = 2
# The largest fixed set: 10 million 10x10 problems already take ~16 GB (the paper's largest
# set is 50,000), and a typo's 10^11 should be an error, not a MemoryError.
MAX_DATASET_SIZE = 10_000_000
MAX_SEED = 2**63 - 1
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip file can hold
_KEYS = (
    "inputs",
    "targets",
    "task",
    "spectrum",
    "law",
    "n",
    "coeff_range",
    "signs",
    "seed",
    "format_version",
)


@dataclass
class Dataset:
    """`size` problems of one kind: inputs (size, n, n) and targets (size, *target_shape), float64."""

    problem: Problem
    inputs: np.ndarray
    targets: np.ndarray
    seed: int

    def __len__(self) -> int:
        return len(self.inputs)


def dataset_seed(base_seed: int, *identity: str) -> int:
    """The seed of one fixed set: stable across runs and machines (crc32, not Python's salted
    hash), distinct for every set identity (task, n, law, range, spectrum, role) and base seed,
    and below 2**63 for base seeds up to 2**31 - 1 (the config schema's maximum)."""
    return base_seed * 2**32 + zlib.crc32("/".join(identity).encode())


def generate_dataset(problem: Problem, size: int, seed: int) -> Dataset:
    """The same (problem, size, seed) always gives the same bytes."""
    if not 1 <= size <= MAX_DATASET_SIZE:
        raise ValueError(f"dataset size must be from 1 to {MAX_DATASET_SIZE:,}, got {size}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be from 0 to 2**63 - 1 (it is stored as int64), got {seed}")
    inputs, targets = problem.sample(size, np.random.default_rng(seed))
    return Dataset(problem, inputs, targets, seed)


def save_dataset(dataset: Dataset, path: str | Path) -> None:
    """Write an .npz that `np.load` reads; the same dataset always gives the same bytes."""
    problem = dataset.problem
    arrays = {
        "inputs": dataset.inputs,
        "targets": dataset.targets,
        "task": np.array(problem.task),
        "spectrum": np.array(problem.spectrum),
        "law": np.array(problem.law),
        "n": np.array(problem.n),
        "coeff_range": np.array(problem.coeff_range),
        "signs": np.array(problem.signs),
        "seed": np.array(dataset.seed),
        "format_version": np.array(FORMAT_VERSION),
    }
    # np.savez stamps each member with the current time; a fixed stamp keeps the bytes (and so the
    # DVC hash) of a regenerated set unchanged.
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIMESTAMP)
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asarray(array), allow_pickle=False)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at `path`; a file that is not one, or is damaged, is a ValueError."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a dataset file: not a readable .npz archive")
    fields = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    fields[key] = archive[key]
                except ValueError as error:
                    # numpy refuses object arrays with a hint to allow pickles: never to be followed here.
                    why = "it holds Python objects" if "pickle" in str(error) else "it is damaged"
                    raise ValueError(
                        f"{path} is not a mathformer dataset: {key} cannot be read ({why})"
                    ) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        raise ValueError(f"{path} is damaged: its .npz archive cannot be read") from None
    return fields


def _scalar(fields: dict[str, np.ndarray], key: str, kinds: str, path: Path) -> np.ndarray:
    """The 0-d array `key` whose dtype is of one of `kinds` (numpy kind letters: 'iu', 'f', 'U')."""
    value = fields[key]
    if value.shape != () or value.dtype.kind not in kinds:
        raise ValueError(f"{path} is not a mathformer dataset: {key} is not a single value of the right type")
    return value


def _check_numbers(path: Path, name: str, values: np.ndarray) -> None:
    if values.dtype.kind != "f":
        raise ValueError(f"{path}: {name} are {values.dtype}, not floating-point numbers")
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise ValueError(
            f"{path}: {name} hold NaN or infinite values (first in problem {first}); "
            "a dataset holds finite numbers only"
        )


def load_dataset(path: str | Path) -> Dataset:
    """Read a set written by `save_dataset`; any defect is a one-line error naming the file.

    Checked: the format version, every field's type, the arrays' shapes against the problem, and
    that inputs and targets are finite (a NaN target would score as a silent failure).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    fields = _read_arrays(path)
    # The version first: an older file lacks keys that a newer format added.
    version = fields.get("format_version")
    if version is None or version.shape != () or not np.issubdtype(version.dtype, np.integer):
        raise ValueError(f"{path} is not a mathformer dataset: no scalar integer format_version")
    if int(version) != FORMAT_VERSION:
        raise ValueError(
            f"{path} has dataset format version {int(version)}; this mathformer reads {FORMAT_VERSION}"
        )
    missing = [key for key in _KEYS if key not in fields]
    if missing:
        raise ValueError(f"{path} is not a mathformer dataset: missing {', '.join(missing)}")
    try:
        problem = Problem(
            task=str(_scalar(fields, "task", "U", path)),
            n=int(_scalar(fields, "n", "iu", path)),
            spectrum=str(_scalar(fields, "spectrum", "U", path)),
            law=str(_scalar(fields, "law", "U", path)),
            coeff_range=float(_scalar(fields, "coeff_range", "iuf", path)),
            signs=str(_scalar(fields, "signs", "U", path)),
        )
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    inputs, targets = fields["inputs"], fields["targets"]
    size = len(inputs) if inputs.ndim else 0
    if inputs.shape != (size, *problem.input_shape) or targets.shape != (size, *problem.target_shape):
        raise ValueError(
            f"{path}: arrays of shape {inputs.shape} and {targets.shape} do not fit {problem.task} with n={problem.n}"
        )
    _check_numbers(path, "inputs", inputs)
    _check_numbers(path, "targets", targets)
    return Dataset(problem, inputs, targets, int(_scalar(fields, "seed", "iu", path)))
