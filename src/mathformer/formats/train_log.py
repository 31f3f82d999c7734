"""train_log.csv: one row per epoch of a training run, the one owner of its columns.

Columns: epoch, examples, wall_seconds, lr, loss, then the accuracy of every evaluation set at
every tolerance, named "<set>_acc_<tolerance in percent>" (valid_acc_5, laplace_acc_0.5). The
validation set is always "valid"; the other sets are named by the run (the OOD spectra).
Training writes it, the OOD learning curves, the training table and the GPU check read it.
Torch-free, so that the analyses stay light.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from mathformer.core.metrics import TOLERANCES
from mathformer.formats.atomic import atomic_path

VALID = "valid"
BASE_COLUMNS = ("epoch", "examples", "wall_seconds", "lr", "loss")
_ACCURACY_COLUMN = re.compile(r"^(?P<evaluated_on>.+)_acc_(?P<tolerance_pct>\d+(?:\.\d+)?)$")


def accuracy_column(set_name: str, tolerance: float) -> str:
    """'valid_acc_5' for 5 %, 'laplace_acc_0.5' for 0.5 %."""
    return f"{set_name}_acc_{tolerance * 100:g}"


def parse_accuracy_column(column: str) -> tuple[str, float] | None:
    """('laplace', 0.5) for 'laplace_acc_0.5' (the set and the tolerance in percent); None for other columns."""
    match = _ACCURACY_COLUMN.match(column)
    return None if match is None else (match["evaluated_on"], float(match["tolerance_pct"]))


def log_columns(test_names: Iterable[str]) -> list[str]:
    """The columns of train_log.csv, in order, for a run scoring `valid` and these sets."""
    columns = list(BASE_COLUMNS)
    for name in [VALID, *test_names]:
        columns += [accuracy_column(name, tolerance) for tolerance in TOLERANCES]
    return columns


def write_log(
    rows: Iterable[Mapping[str, float]], test_names: Iterable[str], path: str | os.PathLike
) -> None:
    """Write the log atomically; a set a row did not score (added on resume) is a blank cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=log_columns(test_names), restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def read_log(path: str | os.PathLike) -> pd.DataFrame:
    """The log as a frame; ValueError naming the file when it cannot be read."""
    path = Path(path)
    try:
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"cannot read training log {str(path)!r}: {err}") from err
