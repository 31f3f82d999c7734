"""The predictions table on disk: one parquet row per test matrix, JSON metadata under "mathformer".

`predictions_table` builds it from decoded predictions (`mathformer.engine.evaluate` calls it),
`write_predictions` stores it, the analyses read it. Readers can ask for only the columns they
need: the list columns (input, target, prediction) are most of a 50,000-row table and most
analyses need none of them. The module uses pyarrow alone, which keeps torch out of the analysis
commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mathformer.core.metrics import prediction_properties, problem_features, task_error
from mathformer.formats.atomic import atomic_path

METADATA_KEY = b"mathformer"
LIST_COLUMNS = ("input", "target", "prediction")
# The model's own confidence in each answer (mathformer.engine.decoding fills them): minus the sum of its
# tokens' log-probabilities, the probability of its least likely token, and, with beam search,
# whether the best beam differs from the greedy answer (1.0 / 0.0; NaN when greedy decoded it).
CONFIDENCE_COLUMNS = ("surprisal", "min_token_prob", "beam_differs")
# The columns every predictions table starts with; metric columns follow them.
BASE_COLUMNS = ("index", "input", "target", "prediction", "decoded", "error", "error_exact")


def _list_column(values: np.ndarray) -> pa.ListArray:
    """(N, ...) float array -> a parquet list<double> column, one flattened row per matrix."""
    flat = values.reshape(len(values), -1)
    offsets = np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.ravel(), type=pa.float64()))


def predictions_table(
    task: str,
    inputs: np.ndarray,
    targets: np.ndarray,
    predictions: np.ndarray,
    decoded: np.ndarray,
    *,
    read_inputs: np.ndarray,
    confidence: Mapping[str, np.ndarray] | None = None,
) -> pa.Table:
    """The predictions table of the contract, scored: errors, problem features, prediction properties.

    `read_inputs` are the matrices as the model read them (`Vocabulary.read_source`): as in the
    paper, `error`, the features and the properties are computed on them. `error_exact` scores
    the same prediction against the exact input, beside it.
    """
    errors = task_error(task, read_inputs, predictions, decoded, targets)
    columns: dict[str, pa.Array] = {
        "index": pa.array(np.arange(len(inputs), dtype=np.int64)),
        "input": _list_column(inputs),
        "target": _list_column(targets),
        "prediction": _list_column(predictions),
        "decoded": pa.array(np.asarray(decoded, dtype=bool)),
        "error": pa.array(np.asarray(errors, dtype=np.float64)),
        "error_exact": pa.array(task_error(task, inputs, predictions, decoded, targets)),
    }
    # The model's own confidence (CONFIDENCE_COLUMNS), when the decoder measured it.
    extra = {
        **problem_features(task, read_inputs),
        **prediction_properties(task, read_inputs, predictions, decoded, targets),
        **(confidence or {}),
    }
    for name, column in extra.items():
        columns[name] = pa.array(np.asarray(column, dtype=np.float64))
    return pa.table(columns)


def write_predictions(table: pa.Table, metadata: dict[str, Any], path: str | os.PathLike) -> None:
    """Write the table atomically with `metadata` as JSON under the parquet key "mathformer"."""
    stamped = table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(stamped, tmp)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The "mathformer" JSON metadata of a predictions table (task, n, spectrum, run, ...)."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ValueError(f"cannot read predictions table {str(path)!r}: {err}") from err
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{str(path)!r} is not a mathformer predictions table (no 'mathformer' metadata)")
    try:
        metadata = json.loads(raw)
    except json.JSONDecodeError:
        metadata = None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("task"), str)
        or not _is_size(metadata.get("n"))
    ):
        raise ValueError(f"{str(path)!r} has 'mathformer' metadata without a task and a matrix size n")
    return metadata


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def load_predictions(
    path: str | os.PathLike, required: Iterable[str] = ("error", "decoded"), lists: Iterable[str] = ()
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The scalar columns of a predictions table, plus the list columns named in `lists`, and its metadata.

    Raises ValueError naming the file when a column in `required` or `lists` is absent.
    """
    metadata = read_metadata(path)
    names = pq.read_schema(path).names
    wanted_lists = tuple(lists)
    missing = [name for name in (*required, *wanted_lists) if name not in names]
    if missing:
        raise ValueError(
            f"predictions table {str(path)!r} lacks column(s) {', '.join(missing)}; it has {', '.join(names)}"
        )
    columns = [name for name in names if name not in LIST_COLUMNS or name in wanted_lists]
    return pq.read_table(path, columns=columns).to_pandas(), metadata


def read_predictions(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The whole table (list columns hold numpy arrays) and its metadata."""
    return load_predictions(path, required=(), lists=LIST_COLUMNS)


def stack_column(frame: pd.DataFrame, column: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A list column of a predictions table as one float array (N, k), or (N, *shape) when given."""
    stacked = np.stack(frame[column].to_numpy()).astype(np.float64)
    return stacked if shape is None else stacked.reshape(len(frame), *shape)


def describe_run(name: str, metadata: dict[str, Any]) -> str:
    """A short label for captions: 'E1 = eigenvectors 5x5, tested on semicircle'."""
    n = metadata.get("n", "?")
    tested = metadata.get("spectrum")
    suffix = f", tested on {tested}" if tested and metadata.get("task") != "inversion" else ""
    return f"{name} = {metadata.get('task', '?')} {n}x{n}{suffix}"
