"""How each model trained: one row per model (problem, size, examples seen, time, validation
accuracy), and a copy of each training log beside the tables.

The weights and logs under models/ are versioned by DVC as one folder; the copies under
train_logs/ are small, so git keeps them with the tables, figures and report.
`training_summary` is the entry point behind `mathformer analyse training`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mathformer.analysis import catalogue
from mathformer.analysis.output_set import output_set
from mathformer.core.config import RunConfig, read_config_file
from mathformer.core.metrics import HEADLINE_TOLERANCE
from mathformer.formats import results_layout, run_folder
from mathformer.formats.run_folder import SEEDED_RUN
from mathformer.formats.train_log import VALID, accuracy_column, read_log

# The validation accuracies the table reports, by tolerance: valid_acc_5, _2, _1.
VALID_COLUMNS = {tolerance: accuracy_column(VALID, tolerance) for tolerance in catalogue.REPORTED_TOLERANCES}
HEADLINE_COLUMN = VALID_COLUMNS[HEADLINE_TOLERANCE]
# The workflow's run names (workflow/schemas/config.schema.yaml): safe as file names.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def read_training_log(path: Path) -> pd.DataFrame:
    """A model's train_log.csv with what its row reads: an epoch at least, examples, minutes and
    the validation accuracies; ValueError naming the file."""
    log = read_log(path)
    needed = ("examples", "wall_seconds", *VALID_COLUMNS.values())
    missing = [column for column in needed if column not in log]
    if missing:
        raise ValueError(f"training log {str(path)!r} lacks column(s) {', '.join(missing)}")
    if log.empty:
        raise ValueError(f"training log {str(path)!r} has a header but no rows: it needs one row per epoch")
    wrong = [column for column in needed if not pd.api.types.is_numeric_dtype(log[column])]
    if wrong:
        raise ValueError(
            f"training log {str(path)!r} has values that are not numbers in column(s) {', '.join(wrong)}"
        )
    return log


def training_row(name: str, settings: RunConfig, log: pd.DataFrame) -> dict[str, object]:
    """The row of one model: what it learned, at what size, and how far it got."""
    last = log.iloc[-1]
    row: dict[str, object] = {
        "run": name,
        "task": settings.task,
        "n": settings.n,
        "spectrum": settings.spectrum if settings.task != "inversion" else "-",
        "layers": f"{settings.enc_layers}/{settings.dec_layers}",
        "width": settings.enc_dim,
        "examples": int(last["examples"]),
        "minutes": round(float(last["wall_seconds"]) / 60, 1),
    }
    for column in VALID_COLUMNS.values():
        row[f"{column}_pct"] = round(100 * float(last[column]), 1)
    row[f"best_{HEADLINE_COLUMN}_pct"] = round(100 * float(log[HEADLINE_COLUMN].max()), 1)
    return row


def read_run_config(path: Path) -> RunConfig:
    values = read_config_file(path)
    try:
        return RunConfig.from_dict(values)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def training_summary(model_dirs: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike) -> pd.DataFrame:
    """`mathformer analyse training`: each model folder (config.yaml, train_log.csv) to a row of
    tables/training.{csv,md,tex}, and its log copied to train_logs/<name>.csv under out_dir."""
    rows, logs = [], {}
    for name, folder in model_dirs.items():
        if not RUN_NAME.fullmatch(name):
            raise ValueError(
                f"run name {name!r} must be letters, digits, '_' and '-' (it names {results_layout.TRAIN_LOGS}/{name}.csv)"
            )
        log_path = Path(folder) / run_folder.TRAIN_LOG
        settings = read_run_config(Path(folder) / run_folder.CONFIG)
        rows.append(training_row(name, settings, read_training_log(log_path)))
        logs[name] = log_path.read_bytes()
    table = pd.DataFrame(rows)
    percents = [f"{100 * tolerance:g}" for tolerance in VALID_COLUMNS]
    caption = (
        f"How each model trained: examples seen, training minutes, and validation accuracy (%) after the last epoch "
        f"at {', '.join(percents[:-1])} and {percents[-1]} % tolerance "
        f"(best at {100 * HEADLINE_TOLERANCE:g} % over all epochs)."
    )
    spread_caption = (
        "Runs trained with several seeds (NAME_s<seed>): final validation accuracy (%) at "
        f"{100 * HEADLINE_TOLERANCE:g} % across the seeds."
    )
    with output_set(out_dir, "training") as outputs:
        for name, content in logs.items():
            outputs.file(f"{results_layout.TRAIN_LOGS}/{name}.csv", content)
        outputs.table(catalogue.TRAINING, table, caption)
        outputs.table(catalogue.SEED_SPREAD, seed_spread(table, f"{HEADLINE_COLUMN}_pct"), spread_caption)
    return table


SPREAD_COLUMNS = ["group", "seeds", "column", "mean", "sd", "min", "max", "values"]


def seed_spread(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, standard deviation, min and max of `column` over the runs of each group of seeds
    (runs named GROUP_s<seed>, as the workflow names a row with several seeds), and the values."""
    rows = []
    matches = [(SEEDED_RUN.fullmatch(run), value) for run, value in zip(table["run"], table[column])]
    groups: dict[str, list[tuple[int, float]]] = {}
    for match, value in matches:
        if match is not None:
            groups.setdefault(match["group"], []).append((int(match["seed"]), float(value)))
    for group, members in groups.items():
        if len(members) < 2:
            continue
        values = [value for _, value in sorted(members)]
        rows.append(
            {
                "group": group,
                "seeds": len(values),
                "column": column,
                "mean": float(np.mean(values)),
                "sd": float(np.std(values, ddof=1)),
                "min": min(values),
                "max": max(values),
                "values": " ".join(f"{value:g}" for value in values),
            }
        )
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)
