"""Fixed problem sets on disk, and the endless seeded stream of encoded training batches."""

from __future__ import annotations

import dataclasses
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mathformer.encoding import Vocabulary
from mathformer.files import atomic_path
from mathformer.problems import Problem

# 2: eigenvector sign convention stored ("signs"); spectra built as Q^T diag Q (the paper's).
FORMAT_VERSION = 2
# The largest fixed set: 10 million 10x10 problems already take ~16 GB (the paper's largest
# set is 50,000), and a typo's 10^11 should be an error, not a MemoryError.
MAX_DATASET_SIZE = 10_000_000
MAX_SEED = 2**63 - 1
# Batches the stream makes per encoding call (see TrainingStream.batches).
BATCHES_PER_CALL = 16
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


def load_dataset(path: str | Path) -> Dataset:
    """Read a set written by `save_dataset`; any defect is a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            fields = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable dataset file ({error})") from None
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
    problem = Problem(
        task=str(fields["task"]),
        n=int(fields["n"]),
        spectrum=str(fields["spectrum"]),
        law=str(fields["law"]),
        coeff_range=float(fields["coeff_range"]),
        signs=str(fields["signs"]),
    )
    inputs, targets = fields["inputs"], fields["targets"]
    size = len(inputs)
    if inputs.shape != (size, *problem.input_shape) or targets.shape != (size, *problem.target_shape):
        raise ValueError(
            f"{path}: arrays of shape {inputs.shape} and {targets.shape} do not fit {problem.task} with n={problem.n}"
        )
    return Dataset(problem, inputs, targets, int(fields["seed"]))


# The key of the repeated pool's generator: no batch index reaches it (2**62 batches).
POOL_STREAM = 2**62


class TrainingStream(IterableDataset):
    """Endless encoded training batches; batch i depends only on (seed, i).

    Seeding each batch by its index (not each worker by its id) makes the sequence the same for
    any number of DataLoader workers, and lets a resumed run continue from a batch position
    without replaying the stream. With k workers, worker w yields batches w, w+k, ...; the
    DataLoader takes one from each worker in turn, so the consumer sees 0, 1, 2, ...
    """

    def __init__(
        self,
        problem: Problem,
        vocab: Vocabulary,
        batch_size: int,
        seed: int,
        start_batch: int = 0,
        fixed: Dataset | None = None,
        sizes: Sequence[int] | None = None,
        repeated: tuple[int, float] | None = None,
    ) -> None:
        """`fixed`: draw each batch (with replacement) from this set instead of fresh problems.

        `sizes`: draw each batch's matrix size uniformly from these (each batch holds one size,
        so no padding is needed); None is the problem's own n.

        `repeated` = (pool size, share): "two-set training" (Charton & Kempe 2024). A pool of that
        many problems is drawn once from the seed, and that share of every batch is drawn from
        it (with replacement), so those examples are seen many times; the rest are fresh.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if seed < 0 or start_batch < 0:
            raise ValueError(f"seed and start_batch must be non-negative, got {seed} and {start_batch}")
        self.problem = problem
        self.vocab = vocab
        self.batch_size = batch_size
        self.seed = seed
        self.start_batch = start_batch
        self.fixed = fixed
        self.problems = [problem] if sizes is None else [dataclasses.replace(problem, n=n) for n in sizes]
        if fixed is not None and len(self.problems) > 1:
            raise ValueError("a fixed training set has one matrix size; mixed sizes need fresh problems")
        self.pool: tuple[np.ndarray, np.ndarray] | None = None
        self.pool_rows = 0
        if repeated is not None:
            size, share = repeated
            if fixed is not None or len(self.problems) > 1:
                raise ValueError(
                    "a repeated pool mixes with fresh problems of one size: not with a fixed set or mixed sizes"
                )
            if size < 1 or not 0 < share < 1:
                raise ValueError(
                    f"a repeated pool needs a size >= 1 and a share in (0, 1), got {size} and {share}"
                )
            # A stream of its own, apart from the per-batch ones (whose keys are [seed, index]).
            self.pool = problem.sample(size, np.random.default_rng([seed, POOL_STREAM, size]))
            self.pool_rows = round(share * batch_size)

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(src (B, Ls), tgt (B, Lt)) int64 token ids of batch number `index`."""
        return self.batches([index])[0]

    def batches(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Several batches by index, drawn one by one but encoded together.

        Encoding 64 problems is mostly numpy's fixed cost per call; encoding a few batches in one
        call costs little more than one. Each batch still depends only on (seed, its index).
        """
        drawn = [self._draw(np.random.default_rng([self.seed, index])) for index in indices]
        if len({inputs.shape for inputs, _ in drawn}) > 1:  # mixed sizes: one call per batch
            return [pair for batch in drawn for pair in self._encode([batch])]
        return self._encode(drawn)

    def _encode(self, drawn: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        src = torch.from_numpy(self.vocab.encode_source(np.concatenate([inputs for inputs, _ in drawn])))
        tgt = torch.from_numpy(self.vocab.encode_target(np.concatenate([targets for _, targets in drawn])))
        return list(zip(src.split(self.batch_size), tgt.split(self.batch_size)))

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.pool is not None:
            inputs, targets = self.problems[0].sample(self.batch_size - self.pool_rows, rng)
            rows = rng.integers(len(self.pool[0]), size=self.pool_rows)
            return np.concatenate([self.pool[0][rows], inputs]), np.concatenate([self.pool[1][rows], targets])
        if self.fixed is None:
            # One size draws no number for the choice: a run without n_min keeps its old stream.
            problem = (
                self.problems[0]
                if len(self.problems) == 1
                else self.problems[rng.integers(len(self.problems))]
            )
            return problem.sample(self.batch_size, rng)
        rows = rng.integers(len(self.fixed), size=self.batch_size)
        return self.fixed.inputs[rows], self.fixed.targets[rows]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker = get_worker_info()
        offset, stride = (0, 1) if worker is None else (worker.id, worker.num_workers)
        first = self.start_batch + offset
        while True:
            yield from self.batches(range(first, first + stride * BATCHES_PER_CALL, stride))
            first += stride * BATCHES_PER_CALL
