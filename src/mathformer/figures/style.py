"""The one look of every figure: style, colours, panels, legends outside the data, and saving.

Figures are built with `matplotlib.figure.Figure`, never pyplot: no global state, no GUI
backend, safe in a batch job. Each figure module draws from the table its analysis computed
(the same numbers the CSV holds); `save_figure` writes the image, and the analysis records its
caption in the folder's table of figures (mathformer.formats.figure_index), not in the image.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 8,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "savefig.dpi": 150,
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
}
PANEL_SIZE = (3.6, 2.8)  # inches per panel
# One colour per spectrum, shared by every figure, so a spectrum is recognisable across them.
SPECTRUM_COLOURS = dict(
    zip(
        ("semicircle", "uniform", "gaussian", "laplace", "positive", "positive2", "marcenko"),
        matplotlib.colormaps["tab10"].colors,
    )
)
OUTCOME_COLOURS = {"correct": "tab:blue", "failed": "tab:red"}
LEGEND_WIDTH = 2.3  # inches added right of the panels for a shared legend (`legend_right`)
LEGEND_LINE = 0.15  # inches per line of a legend set under its panel (7 pt text and spacing)
# Each figure is saved as PDF, then PNG: a drawing leaves its layout a little changed, so the
# order is part of what makes the same results give the same bytes.
SAVE_ORDER = ("pdf", "png")
# No creation date in the PDF: the same results give the same bytes (and no git diff).
SAVE_METADATA = {"pdf": {"CreationDate": None}, "png": {}}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The project style; artists take rcParams when created, so draw inside this block."""
    with matplotlib.rc_context(STYLE):
        yield


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Write the figure to `path`, as PDF or PNG by its suffix, with no caption in the image."""
    path = Path(path)
    suffix = path.suffix[1:]
    figure.savefig(path, format=suffix, bbox_inches="tight", metadata=SAVE_METADATA[suffix])
    return path


def panels(count: int, rows: int = 1, legend_right: bool = False) -> tuple[Figure, np.ndarray]:
    """A figure with `rows` x `count` panels (a 2-D array of axes) and constrained layout; with
    `legend_right`, wider by room for a legend right of the panels, so they keep their size."""
    width = PANEL_SIZE[0] * count + (LEGEND_WIDTH if legend_right else 0.0)
    figure = Figure(figsize=(width, PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, count, squeeze=False)
    return figure, axes


def no_data_figure(message: str) -> Figure:
    """A single empty panel saying why there is nothing to draw (the file must exist all the same)."""
    figure, axes = panels(1)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def percent_axis(axes: Axes, label: str) -> None:
    """A y axis of percentages, 0 to 100 with a little room."""
    axes.set_ylabel(label)
    axes.set_ylim(-2, 102)


def legend_panels(count: int) -> tuple[Figure, np.ndarray]:
    """`count` panels side by side, each with a legend row under it (axes with no frame: see
    `legends_below`), so that legends sit outside the data and the panels stay aligned.
    Returns the figure and a (2, count) array of axes: the panels, then their legend rows."""
    figure = Figure(figsize=(PANEL_SIZE[0] * count, PANEL_SIZE[1]), layout="constrained")
    axes = figure.subplots(2, count, squeeze=False)
    for ax in axes[1]:
        ax.axis("off")
    return figure, axes


def _legend_lines(labels: Sequence[str]) -> int:
    return sum(label.count("\n") + 1 for label in labels)


def legends_below(
    figure: Figure, axes: np.ndarray, entries: Sequence[tuple[Sequence[object], Sequence[str]]]
) -> None:
    """Each panel's legend (handles, labels) in the row under it, the row as tall as the longest
    legend needs and the figure taller by as much."""
    lines = max(_legend_lines(labels) for _, labels in entries)
    height = LEGEND_LINE * lines + 0.25
    for ax, (handles, labels) in zip(axes[1], entries):
        ax.legend(handles, labels, loc="upper center", borderaxespad=0, frameon=True)
    axes[0, 0].get_gridspec().set_height_ratios([PANEL_SIZE[1], height])
    figure.set_size_inches(figure.get_figwidth(), PANEL_SIZE[1] + height)


def legend_right(
    figure: Figure, handles: Sequence[object], labels: Sequence[str], title: str | None = None
) -> None:
    """One legend for all panels, right of them, outside the data area."""
    figure.legend(handles, labels, loc="outside center right", title=title)
