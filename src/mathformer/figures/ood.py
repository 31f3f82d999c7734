"""Result 3's figures: the training x test spectrum accuracy heat map, and the learning curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from mathformer.figures.style import SPECTRUM_COLOURS, legend_right, no_data_figure, panels, percent_axis
from mathformer.formats.tables import MISSING

CELL_FONT = 7
INTERVAL_FONT = 6


def _interval_fits(cell_width_pt: float, text: str) -> bool:
    """Whether an interval line fits a cell: digits and brackets are about 0.6 em wide."""
    return len(text) * 0.6 * INTERVAL_FONT <= 0.92 * cell_width_pt


def _cell_texts(ax: Axes, matrix: pd.DataFrame, bounds: dict, cell_width: float) -> None:
    """Each cell's value and, where known and it fits, its interval; the diagonal outlined."""
    values = matrix.to_numpy(dtype=float)
    for (row, column), value in np.ndenumerate(values):
        text = MISSING if np.isnan(value) else f"{value:.1f}"
        low, high = bounds.get((matrix.index[row], matrix.columns[column]), (np.nan, np.nan))
        interval = f"[{low:.1f}, {high:.1f}]"
        if not np.isnan(value) and np.isfinite(low) and _interval_fits(72 * cell_width, interval):
            text += f"\n{interval}"
        colour = "white" if np.isnan(value) or value < 60 else "black"
        ax.text(
            column,
            row,
            text,
            ha="center",
            va="center",
            fontsize=CELL_FONT if "\n" not in text else INTERVAL_FONT,
            color=colour,
        )
        if matrix.index[row] == matrix.columns[column]:
            ax.add_patch(
                Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=2)
            )


def ood_heatmap_figure(
    accuracy: pd.DataFrame, tolerance_pct: float, intervals: pd.DataFrame | None = None
) -> Figure:
    """Training spectrum (rows) by test spectrum (columns) accuracy, 0 to 100 %, annotated with
    the value and, where `intervals` has it (train_spectrum, test_spectrum, low, high, in
    percent) and it fits, its 95 % interval; a `seeds` column there names the rows that are
    means. The in-distribution cells (train == test) are outlined."""
    matrix = accuracy.set_index("train_spectrum")
    cell = (1.05, 0.62) if intervals is not None else (0.8, 0.6)
    figure = Figure(
        figsize=(1.4 + cell[0] * matrix.shape[1], 0.9 + cell[1] * matrix.shape[0]), layout="constrained"
    )
    ax = figure.subplots()
    ax.grid(False)
    image = ax.imshow(matrix.to_numpy(dtype=float), vmin=0, vmax=100, cmap="viridis", aspect="auto")
    bounds = {} if intervals is None else {
        (line.train_spectrum, line.test_spectrum): (line.low, line.high) for line in intervals.itertuples()
    }  # fmt: skip
    _cell_texts(ax, matrix, bounds, cell[0])
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right")
    seeds = (
        {}
        if intervals is None or "seeds" not in intervals
        else intervals.groupby("train_spectrum")["seeds"].max().to_dict()
    )
    ax.set_yticks(
        range(matrix.shape[0]),
        [
            f"{name}\n(mean of {seeds[name]} seeds)" if seeds.get(name, 1) > 1 else name
            for name in matrix.index
        ],
    )
    ax.set_xlabel("test spectrum")
    ax.set_ylabel("training spectrum")
    ax.set_title("outlined: in distribution (trained and tested on the same spectrum)", fontsize=7)
    figure.colorbar(image, ax=ax, label=f"accuracy at {tolerance_pct:g} % tolerance (%)")
    return figure


def _count_unit(largest: float) -> tuple[float, str]:
    """A divisor and its name that keep axis numbers short: millions at paper scale, thousands in tests."""
    for scale, unit in ((1e6, "millions"), (1e3, "thousands")):
        if largest >= scale:
            return scale, unit
    return 1.0, "examples"


def learning_curves_figure(
    curves: pd.DataFrame, panel_titles: Sequence[tuple[str, str]], tolerance_pct: float
) -> Figure:
    """One panel per evaluation set (key, title): accuracy against examples seen, a line per
    training spectrum. Where a spectrum was trained with several seeds (`seeds` > 1) the line is
    their mean and a band spans their min to max (`accuracy_pct_min`, `accuracy_pct_max`)."""
    if curves.empty or not panel_titles:
        return no_data_figure("no learning curve at this tolerance in the training logs")
    figure, axes = panels(len(panel_titles), legend_right=True)
    scale, unit = _count_unit(curves["examples"].max())
    for ax, (evaluation, title) in zip(axes[0], panel_titles):
        rows = curves[curves["evaluated_on"] == evaluation]
        for spectrum, group in rows.groupby("train_spectrum", sort=False):
            colour = SPECTRUM_COLOURS.get(spectrum)
            seeds = int(group["seeds"].max()) if "seeds" in group else 1
            x = group["examples"] / scale
            ax.plot(
                x,
                group["accuracy_pct"],
                color=colour,
                label=spectrum if seeds == 1 else f"{spectrum} (mean of {seeds} seeds)",
            )
            if seeds > 1:
                ax.fill_between(
                    x,
                    group["accuracy_pct_min"],
                    group["accuracy_pct_max"],
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_xlabel(f"training examples seen ({unit})")
        percent_axis(ax, f"accuracy at {tolerance_pct:g} % tolerance (%)")
        ax.set_title(title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if "seeds" in curves and curves["seeds"].max() > 1:
        handles.append(Patch(color="grey", alpha=0.2))
        labels.append("band: min to max over seeds")
    legend_right(figure, handles, labels, title="trained on")
    return figure
