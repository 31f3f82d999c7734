"""What results 1 and 2 share: what a failure is, and the runs they read (predictions, titles, captions).

A prediction *fails* at tolerance t when its task error is >= t (undecoded predictions have
infinite error, so they fail at every tolerance).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mathformer.analysis.catalogue import ANALYSIS_TASKS
from mathformer.analysis.claims import PaperValue, paper_values
from mathformer.core.metrics import HEADLINE_TOLERANCE
from mathformer.formats import run_folder
from mathformer.formats.predictions import describe_run, load_predictions, read_metadata
from mathformer.formats.run_folder import SEEDED_RUN

# Result 2 splits correct from failed at the headline tolerance and at the strict one.
SPLIT_TOLERANCES = (HEADLINE_TOLERANCE, 0.01)
# What the percentage in a run's title is, said in every failure figure's caption.
TITLE_NOTE = f"Percentages in the titles: test accuracy at {100 * HEADLINE_TOLERANCE:g} % tolerance"
# Said once, in the caption of a figure that shows a weak snapshot: what the paper's weaker model is here.
WEAK_NOTE = (
    f"A weak snapshot is an earlier epoch of the same training run, the one whose validation accuracy at "
    f"{100 * HEADLINE_TOLERANCE:g} % was closest to the run's weak_accuracy (the paper's weaker, ~70 % model)"
)


def failed_at(errors: np.ndarray, tolerance: float) -> np.ndarray:
    """True where the prediction fails at `tolerance` (error >= tolerance, NaN counts as failed)."""
    return ~(np.asarray(errors, dtype=np.float64) < tolerance)


def decoded_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose prediction decoded to a well-formed answer."""
    return frame[frame["decoded"].to_numpy(dtype=bool)]


def accuracy_pct(frame: pd.DataFrame, tolerance: float = HEADLINE_TOLERANCE) -> float:
    return float(100 * np.mean(~failed_at(frame["error"].to_numpy(), tolerance)))


def is_weak(metadata: Mapping[str, object]) -> bool:
    """Whether the predictions come from the weak snapshot (evaluate records which weights it read)."""
    return metadata.get("model_file") == run_folder.WEAK


def run_title(name: str, metadata: Mapping[str, object], accuracy: float) -> str:
    """A readable name for titles and legends: 'eigenvectors 3x3 (weak snapshot, seed 1, 69 %)'."""
    n = metadata.get("n", "?")
    notes = ["weak snapshot"] if is_weak(metadata) else []
    seeded = SEEDED_RUN.fullmatch(name)
    if seeded is not None:
        notes.append(f"seed {seeded['seed']}")
    notes.append(f"{accuracy:.0f} %")
    return f"{metadata.get('task', '?')} {n}x{n} ({', '.join(notes)})"


def unique_titles(titles: Mapping[str, str]) -> dict[str, str]:
    """Run name -> title, with the run name added where two runs would read the same."""
    counts = pd.Series(list(titles.values())).value_counts()
    return {name: f"{title} [{name}]" if counts[title] > 1 else title for name, title in titles.items()}


@dataclass(frozen=True)
class Run:
    """One run's predictions as results 1 and 2 read them."""

    name: str
    task: str
    frame: pd.DataFrame
    metadata: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.metadata["n"])


# The columns an analysis reads for a task: (scalar columns, list columns).
Columns = Callable[[str], tuple[Sequence[str], Sequence[str]]]


def read_runs(runs: Mapping[str, str | os.PathLike], analysis: str, columns: Columns) -> list[Run]:
    """Each run's predictions table (name -> path), refused unless its task is one the analysis accepts."""
    verb = analysis.replace("_", "-")
    if not runs:
        raise ValueError(f"{verb} needs at least one run (NAME=PREDICTIONS.parquet)")
    read = []
    for name, path in runs.items():
        # The task first: a table of another task lacks the columns, and the task says why.
        task = read_metadata(path).get("task")
        allowed = ANALYSIS_TASKS[analysis]
        if task not in allowed:
            raise ValueError(
                f"{verb} run {name!r} ({path}) needs a predictions table of task {' or '.join(allowed)}, got task {task!r}"
            )
        required, lists = columns(task)
        frame, metadata = load_predictions(path, required=required, lists=lists)
        read.append(Run(name, task, frame, metadata))
    return read


def titles(runs: Sequence[Run]) -> dict[str, str]:
    """Run name -> its title, unique among these runs."""
    return unique_titles(
        {run.name: run_title(run.name, run.metadata, accuracy_pct(run.frame)) for run in runs}
    )


def runs_caption(title: str, runs: Sequence[Run]) -> str:
    """A table's caption: what it shows, and which runs (task, size, test spectrum)."""
    return f"{title}. Runs: {'; '.join(describe_run(run.name, run.metadata) for run in runs)}."


def figure_caption(caption: str, runs: Sequence[Run]) -> str:
    """A failure figure's caption: what the titles' percentages are, and what a weak snapshot is if one is shown."""
    weak = any(is_weak(run.metadata) for run in runs)
    return f"{caption} {TITLE_NOTE}." + (f" {WEAK_NOTE}." if weak else "")


def with_size(table: pd.DataFrame, run: Run) -> pd.DataFrame:
    """The table with the run's matrix size `n` after `run`: some claims cannot be tested at small n."""
    if table.empty:
        return table
    sized = table.drop(columns="n", errors="ignore")
    sized.insert(sized.columns.get_loc("run") + 1, "n", run.n)
    return sized


def concat_or_empty(parts: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate the non-empty parts; an empty frame with `columns` when there are none (the file must still exist)."""
    kept = [part for part in parts if not part.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(columns))


def paper_values_about(
    claims: str | os.PathLike | None, out_dir: str | os.PathLike, scale: str | None, table: str
) -> list[PaperValue]:
    """The paper's numeric values about `table`, for the figures; none without a claims file.
    The scale names the runs (claims map roles to run names per scale): by default the name of
    the results folder, as in the report."""
    if claims is None:
        return []
    return [value for value in paper_values(claims, scale or Path(out_dir).name) if value.table == table]
