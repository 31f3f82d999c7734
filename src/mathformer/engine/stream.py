"""The endless seeded stream of encoded training batches (fresh problems, a fixed set, or both)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from mathformer.core.config import RunConfig
from mathformer.core.encoding import Vocabulary
from mathformer.core.problems import Problem
from mathformer.formats.datasets import Dataset

# Batches the stream makes per encoding call (see TrainingStream.batches).
BATCHES_PER_CALL = 16


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

    @classmethod
    def of_run(cls, cfg: RunConfig, start_batch: int = 0, fixed: Dataset | None = None) -> TrainingStream:
        """The stream a run trains on, from batch `start_batch` (`fixed`: its --train-data set)."""
        return cls(
            cfg.problem(),
            cfg.vocabulary(),
            cfg.batch_size,
            cfg.seed,
            start_batch=start_batch,
            fixed=fixed,
            sizes=cfg.training_sizes(),
            repeated=cfg.repeated(),
        )

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


def batch_iterator(
    stream: TrainingStream, workers: int, pin_memory: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The stream's batches, made in this process (`workers` 0) or by that many DataLoader
    processes, in page-locked memory if `pin_memory` (a GPU then copies them without waiting)."""
    if workers == 0:
        return iter(stream)
    loader = DataLoader(
        stream, batch_size=None, num_workers=workers, pin_memory=pin_memory, prefetch_factor=4
    )
    return iter(loader)
