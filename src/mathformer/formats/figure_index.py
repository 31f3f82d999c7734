"""figures/README.md: the table of figures, each figure's name and caption; the one owner of its format.

The analyses record a caption here rather than in the image (a caption baked into a PNG would
print twice under the report's own, and could not be read or fixed without redrawing); the
report reads it back. Several analyses share the file, so whoever rewrites it holds `locked`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

FIGURE_INDEX = "README.md"
_HEADER = (
    "# Figures\n\n"
    "Each figure of this folder (NAME.pdf and NAME.png) and its caption; written by mathformer.formats.figure_index.\n\n"
    "| figure | caption |\n|:---|:---|\n"
)
# A row: | name | caption |, where the caption may hold escaped pipes (\|).
_ROW = re.compile(r"^\| (?P<name>[^|\s]+) \| (?P<caption>(?:[^|\\]|\\.)*) \|$")
_NAME = re.compile(r"[^|\s]+")


def _cell(text: str) -> str:
    # One line per figure: newlines would end the row, a bare pipe would split it.
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def read_figure_captions(figures_dir: str | os.PathLike) -> dict[str, str]:
    """Figure name -> caption from figures_dir/README.md ({} when the folder has none yet)."""
    path = Path(figures_dir) / FIGURE_INDEX
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.startswith("|")][2:]  # after the header and its rule
    captions = {}
    for line in rows:
        match = _ROW.match(line)
        if match is None:
            raise ValueError(f"{path}: not a '| figure | caption |' row: {line[:80]!r}")
        captions[match["name"]] = re.sub(r"\\(.)", r"\1", match["caption"])
    return captions


def index_text(captions: Mapping[str, str]) -> str:
    """The file's text for these captions, rows sorted by name (the same figures, the same bytes)."""
    for name in captions:
        if not _NAME.fullmatch(name):
            raise ValueError(f"figure name {name!r} must be non-empty, without spaces or '|'")
    return _HEADER + "".join(f"| {name} | {_cell(captions[name])} |\n" for name in sorted(captions))


@contextlib.contextmanager
def locked(figures_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the figures folder's lock (created if need be) and yield the index's path.

    Analyses that run at the same time share the index: a read-modify-write done inside this
    block loses no caption. The lock is on the folder itself, so no lock file is left behind.
    """
    folder = Path(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield folder / FIGURE_INDEX
    finally:
        os.close(handle)  # closing releases the lock
