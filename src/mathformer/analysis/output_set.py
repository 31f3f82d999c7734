"""An analysis's files as one set: all written aside first, then put in place together, or none.

Every file of the set (its tables, figures, captions, copied logs) is written into a hidden
staging folder inside the results folder (`.mathformer-staging-*`, on the same file system, so
that moving a file is a rename). Only once all of them are written, the old files of the set are
removed and the new ones renamed into place, the table of figures first. So:

- a failure while computing or writing (a bad input, a figure that cannot be drawn, a full disk)
  leaves the results folder exactly as it was, the staging folder removed;
- Ctrl-C or SIGTERM during the renames waits until they are done;
- only a SIGKILL or a crash in the middle of the renames leaves part of the set missing (never new
  files beside old ones), which Snakemake and the report both see as missing outputs; the staging
  folder left then holds the rest and may be deleted.

Files are not fsynced: the guarantee is against a process dying, not the machine losing power.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mathformer.analysis import catalogue
from mathformer.analysis.catalogue import FOLDERS, Output
from mathformer.figures.style import SAVE_ORDER, save_figure
from mathformer.formats import figure_index
from mathformer.formats.atomic import move_into_place, staging_folder
from mathformer.formats.tables import write_table


class OutputSet:
    """The files of one run of an analysis, staged under `staging` until `commit` moves them to `out`."""

    def __init__(self, out: Path, staging: Path, analysis: str) -> None:
        self.out, self.staging = out, staging
        self.expected = catalogue.OUTPUTS[analysis]
        self.files: list[str] = []  # staged, relative to the results folder
        self.captions: dict[str, str] = {}

    def table(self, output: Output, frame: pd.DataFrame, caption: str) -> None:
        """Stage tables/NAME.{csv,md,tex}."""
        self._check(output)
        paths = catalogue.paths(output)
        with self._writing(f"{FOLDERS['table']}/{output.name}.{{{','.join(catalogue.suffixes(output))}}}"):
            write_table(frame, self.staging / FOLDERS["table"], output.name, caption)
        self.files += paths

    def figure(self, output: Output, figure: Figure, caption: str) -> None:
        """Stage figures/NAME.{png,pdf}, and its caption for the table of figures."""
        self._check(output)
        for suffix in SAVE_ORDER:
            path = f"{FOLDERS['figure']}/{output.name}.{suffix}"
            with self._writing(path):
                (self.staging / path).parent.mkdir(parents=True, exist_ok=True)
                save_figure(figure, self.staging / path)
            self.files.append(path)
        self.captions[output.name] = caption

    def file(self, path: str, content: bytes) -> None:
        """Stage a file of the set that is not a table or figure (a copied training log), by its relative path."""
        with self._writing(path):
            (self.staging / path).parent.mkdir(parents=True, exist_ok=True)
            (self.staging / path).write_bytes(content)
        self.files.append(path)

    def _check(self, output: Output) -> None:
        if output not in self.expected:
            raise ValueError(
                f"{output.kind} {output.name!r} is not an output of this analysis (see catalogue)"
            )

    @contextlib.contextmanager
    def _writing(self, path: str) -> Iterator[None]:
        """Name the file of the results folder, not the staged one, when writing fails (a full disk)."""
        try:
            yield
        except Exception as err:
            cause = _os_error(err)
            if cause is None:
                raise
            raise OSError(
                f"cannot write {self.out / path}: {cause.strerror or cause}; nothing under {self.out} was changed"
            ) from None

    def commit(self) -> None:
        """Put every staged file in place: old files of the set removed, then the new ones renamed in."""
        missing = [
            output.name for output in self.expected if not set(catalogue.paths(output)) <= set(self.files)
        ]
        if missing:
            raise ValueError(
                f"the analysis wrote no {', '.join(missing)}: nothing under {self.out} was changed"
            )
        moves = [(self.staging / path, self.out / path) for path in self.files]
        with contextlib.ExitStack() as stack:
            if self.captions:
                # Analyses running side by side share the table of figures: hold it until the renames are done.
                index = stack.enter_context(figure_index.locked(self.out / FOLDERS["figure"]))
                staged = self.staging / FOLDERS["figure"] / figure_index.FIGURE_INDEX
                with self._writing(f"{FOLDERS['figure']}/{figure_index.FIGURE_INDEX}"):
                    captions = figure_index.read_figure_captions(index.parent) | self.captions
                    staged.write_text(figure_index.index_text(captions), encoding="utf-8")
                moves.insert(0, (staged, index))
            move_into_place(moves)


def _os_error(error: BaseException | None) -> OSError | None:
    """The OSError behind an error, if any: matplotlib's PDF writer hides a full disk behind an
    AttributeError of its own, raised while it handles the OSError."""
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    return error


@contextlib.contextmanager
def output_set(out_dir: str | os.PathLike, analysis: str) -> Iterator[OutputSet]:
    """Stage the files of `analysis` inside the block; commit them under out_dir when it ends
    without an error, and drop them all when it raises."""
    out = Path(out_dir)
    with staging_folder(out) as staging:
        outputs = OutputSet(out, staging, analysis)
        yield outputs
        outputs.commit()
