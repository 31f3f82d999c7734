"""The sets a training scores at the end of every epoch: the validation set and the named test sets.

`train` loads them once (`load_eval_sets`) and greedy-decodes each of them per epoch
(`score_eval_sets`); the accuracies become columns of train_log.csv (`mathformer.formats.train_log`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mathformer.core.config import RunConfig
from mathformer.core.encoding import Vocabulary
from mathformer.core.metrics import TOLERANCES, accuracy, task_error
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.model import Seq2Seq
from mathformer.formats.datasets import Dataset, load_dataset
from mathformer.formats.train_log import VALID, accuracy_column


@dataclass
class EvalSet:
    name: str
    data: Dataset
    read_inputs: np.ndarray  # data.inputs as the model reads them (Vocabulary.read_source)


def load_eval_sets(cfg: RunConfig, valid: str | Path, tests: Mapping[str, str | Path]) -> list[EvalSet]:
    """The validation set first, then the named test sets; all must be this run's task and n."""
    for name in tests:
        if not name.isidentifier() or name == VALID:
            raise ValueError(
                f"test set name {name!r} must be a word (letters, digits, _) other than {VALID!r}"
            )
    vocab = cfg.vocabulary()
    sets = []
    for name, path in {VALID: valid, **tests}.items():
        data = load_dataset(path)
        if (data.problem.task, data.problem.n) != (cfg.task, cfg.n):
            raise ValueError(
                f"{path} holds {data.problem.task} with n={data.problem.n}, but this run trains {cfg.task} with n={cfg.n}"
            )
        sets.append(EvalSet(name, data, vocab.read_source(data.inputs)))
    return sets


def score_eval_sets(
    model: Seq2Seq,
    vocab: Vocabulary,
    eval_sets: list[EvalSet],
    batch_size: int,
    precision: str,
    cuda_graph: bool = False,
) -> dict[str, float]:
    """Greedy-decode every set: {train_log column name: accuracy}. The caller sets eval/train mode.
    `cuda_graph`: the run's cuda_graphs (see search.generate)."""
    scores: dict[str, float] = {}
    for eval_set in eval_sets:
        data = eval_set.data
        values, decoded = decode_test_set(
            model,
            vocab,
            data.inputs,
            data.problem.target_shape,
            1,
            batch_size,
            progress=False,
            precision=precision,
            cuda_graph=cuda_graph,
        )
        # Scored against the matrix the model read, as the paper scores it.
        errors = task_error(data.problem.task, eval_set.read_inputs, values, decoded, data.targets)
        for tolerance, share in accuracy(errors, TOLERANCES).items():
            scores[accuracy_column(eval_set.name, tolerance)] = share
    return scores
