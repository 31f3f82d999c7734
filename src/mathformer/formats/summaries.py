"""The evaluation summary (.json beside each predictions table): counts, accuracy at each
tolerance and its 95 % interval. The one owner of its keys: evaluate writes it, the OOD
analysis reads it. Torch-free.

Keys: run, test_set, task, count, decoded, accuracy {tolerance as a string: share},
accuracy_interval {tolerance: [low, high]}, and training_warning when the model's training
diverged.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mathformer.core.intervals import wilson
from mathformer.core.metrics import TOLERANCES, accuracy
from mathformer.formats.atomic import atomic_path


def summarise(table: pd.DataFrame | pa.Table) -> dict[str, Any]:
    """Counts and accuracy at each tolerance of a predictions table (keys of `accuracy` as strings, JSON-ready)."""
    if isinstance(table, pa.Table):
        table = table.select(["decoded", "error"]).to_pandas()
    if len(table) == 0:
        raise ValueError("cannot score an empty predictions table")
    errors = table["error"].to_numpy(dtype=np.float64)
    shares = accuracy(errors, TOLERANCES)
    count = len(table)
    intervals = {
        str(tol): [float(bound) for bound in wilson(round(share * count), count)]
        for tol, share in shares.items()
    }
    return {
        "count": int(count),
        "decoded": int(table["decoded"].sum()),
        "accuracy": {str(tol): float(share) for tol, share in shares.items()},
        "accuracy_interval": intervals,  # 95 % Wilson interval of each accuracy, as shares
    }


def write_summary(summary: dict[str, Any], path: str | os.PathLike) -> None:
    """The summary as indented JSON, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """An evaluation summary JSON; ValueError naming the file when it is missing or has no accuracy."""
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read evaluation summary {str(path)!r}: {err}") from err
    if not isinstance(summary, dict) or not isinstance(summary.get("accuracy"), dict):
        raise ValueError(f"evaluation summary {str(path)!r} has no 'accuracy' mapping")
    return summary


def _at_tolerance(summary: Mapping[str, Any], key: str, tolerance: float) -> Any:
    """The entry of `summary[key]` (keyed by tolerances as strings) for `tolerance`."""
    for text, value in summary.get(key, {}).items():
        if math.isclose(float(text), tolerance):
            return value
    raise ValueError(
        f"summary of run {summary.get('run')!r} has no {key} at tolerance {tolerance}; it has {', '.join(summary.get(key, {}))}"
    )


def summary_accuracy(summary: Mapping[str, Any], tolerance: float) -> float:
    """Accuracy (a share, 0..1) at `tolerance` from a summary."""
    return float(_at_tolerance(summary, "accuracy", tolerance))


def summary_interval(summary: Mapping[str, Any], tolerance: float) -> tuple[float, float]:
    """The 95 % Wilson interval (shares) of the accuracy at `tolerance`, as `summarise` stored it."""
    low, high = _at_tolerance(summary, "accuracy_interval", tolerance)
    return float(low), float(high)
