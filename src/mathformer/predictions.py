"""Read predictions tables (written by mathformer.evaluate) for the analyses.

Only the columns an analysis needs are read: the list columns (input, target, prediction) are
most of a 50,000-row table, and most analyses need none of them. Reading here, with pyarrow
alone, also keeps torch out of the analysis commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"mathformer"
LIST_COLUMNS = ("input", "target", "prediction")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The "mathformer" JSON metadata of a predictions table (task, n, spectrum, run, ...)."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ValueError(f"cannot read predictions table {str(path)!r}: {err}") from err
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{str(path)!r} is not a mathformer predictions table (no 'mathformer' metadata)")
    return json.loads(raw)


def load_predictions(
    path: str | os.PathLike, required: Iterable[str] = ("error", "decodes"), lists: Iterable[str] = ()
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The scalar columns of a predictions table, plus the list columns named in `lists`, and its metadata.

    Raises ValueError naming the file when a column in `required` or `lists` is absent.
    """
    metadata = read_metadata(path)
    names = pq.read_schema(path).names
    wanted_lists = tuple(lists)
    missing = [name for name in (*required, *wanted_lists) if name not in names]
    if missing:
        raise ValueError(f"predictions table {str(path)!r} lacks column(s) {', '.join(missing)}; it has {', '.join(names)}")
    columns = [name for name in names if name not in LIST_COLUMNS or name in wanted_lists]
    return pq.read_table(path, columns=columns).to_pandas(), metadata


def describe_run(name: str, metadata: dict[str, Any]) -> str:
    """A short label for captions: 'E1 = eigenvectors 5x5, tested on semicircle'."""
    n = metadata.get("n", "?")
    tested = metadata.get("spectrum")
    suffix = f", tested on {tested}" if tested and metadata.get("task") != "inversion" else ""
    return f"{name} = {metadata.get('task', '?')} {n}x{n}{suffix}"

