"""Result 1's figure: shares of predictions right in each part against tolerance, all and failed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mathformer.figures.style import legend_right, panels, percent_axis

ROUGHLY_RIGHT_CURVES = (
    ("accuracy_pct", "correct (task error < tol)", "black", "-"),
    ("eigenvalues_pct", "eigenvalues within tol", "tab:green", "-"),
    ("norms_pct", "eigenvector norms within tol of 1", "tab:orange", "--"),
    ("orthogonal_pct", "eigenvectors orthogonal (|cos| < tol)", "tab:purple", "-"),
    ("eigenvalues_norms_pct", "eigenvalues and norms within tol", "tab:cyan", ":"),
)
PAPER_MARKER = {"marker": "*", "markersize": 9, "markerfacecolor": "white", "linestyle": "none", "zorder": 5}
PAPER_LABEL = "the paper's value"
MARK_COLUMNS = ["run", "column", "tolerance_pct", "value"]


def _curve_column(key: str, population: str) -> str | None:
    """The table column of a curve for a population; accuracy is a share of all predictions
    (among failures it is 0 by definition), so it has no failed_ curve."""
    if key == "accuracy_pct":
        return key if population == "all" else None
    return f"{population}_{key}"


def _interval_band(ax: Axes, x: pd.Series, rows: pd.DataFrame, name: str, colour: str) -> None:
    """The 95 % Wilson interval of a share as a band, where the table has it and it is known."""
    if f"{name}_low" not in rows:
        return
    low, high = rows[f"{name}_low"].to_numpy(float), rows[f"{name}_high"].to_numpy(float)
    known = np.isfinite(low) & np.isfinite(high)
    if known.any():
        ax.fill_between(
            x.to_numpy(float)[known], low[known], high[known], color=colour, alpha=0.15, linewidth=0
        )


def _paper_points(ax: Axes, marks: pd.DataFrame, name: str, colour: str, headline_pct: float | None) -> None:
    """The paper's values of one curve as stars in its colour; the headline accuracy is written out."""
    chosen = marks[marks["column"] == name]
    if chosen.empty:
        return
    ax.plot(
        chosen["tolerance_pct"], chosen["value"], markeredgecolor=colour, label=PAPER_LABEL, **PAPER_MARKER
    )
    headline = (
        chosen[np.isclose(chosen["tolerance_pct"], headline_pct)]
        if headline_pct is not None
        else chosen.iloc[:0]
    )
    if name == "accuracy_pct" and not headline.empty:
        value = float(headline["value"].iloc[0])
        # Written in the lower right, where the curves (rising with the tolerance) leave room.
        ax.annotate(
            f"paper: {value:g} % at {headline_pct:g} %", (headline_pct, value), xytext=(0.97, 0.06), textcoords="axes fraction",
            ha="right", fontsize=7, arrowprops={"arrowstyle": "->", "linewidth": 0.6, "color": "grey"},
        )  # fmt: skip


def _panel(
    ax: Axes, rows: pd.DataFrame, population: str, marks: pd.DataFrame, headline_pct: float | None
) -> None:
    """One run's curves for one population ('all' or 'failed'), with their bands and the paper's stars."""
    for key, label, colour, line in ROUGHLY_RIGHT_CURVES:
        name = _curve_column(key, population)
        if name is None or name not in rows:
            continue
        ax.plot(rows["tolerance_pct"], rows[name], line, color=colour, marker="o", markersize=3, label=label)
        _interval_band(ax, rows["tolerance_pct"], rows, name, colour)
        _paper_points(ax, marks, name, colour, headline_pct)
    ax.set_xscale("log")
    ax.set_xlabel("tolerance (%, log scale)")
    percent_axis(
        ax, "share of all predictions (%)" if population == "all" else "share of decoded failures (%)"
    )


def roughly_right_figure(
    table: pd.DataFrame,
    titles: Mapping[str, str] | None = None,
    paper: pd.DataFrame | None = None,
    headline_pct: float | None = None,
) -> Figure:
    """Per run (columns), shares against tolerance for all predictions (top) and failures (bottom).

    `titles` names the runs (run -> readable name); `paper` holds the paper's values (run,
    column, tolerance_pct, value), drawn as stars on the curve they belong to, the accuracy at
    `headline_pct` written out. One legend for all panels, right of them.
    """
    runs = list(dict.fromkeys(table["run"]))
    titles = titles or {}
    marks = paper if paper is not None else pd.DataFrame(columns=MARK_COLUMNS)
    figure, axes = panels(len(runs), rows=2, legend_right=True)
    for column, run in enumerate(runs):
        for row, population in enumerate(("all", "failed")):
            ax = axes[row, column]
            _panel(ax, table[table["run"] == run], population, marks[marks["run"] == run], headline_pct)
            ax.set_title(
                f"{titles.get(run, run)}\n{'all test matrices' if population == 'all' else 'decoded failures'}"
            )
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if PAPER_LABEL in handles:  # one legend entry for the stars of every colour
        handles[PAPER_LABEL] = Line2D([], [], markeredgecolor="black", **PAPER_MARKER)
    legend_right(figure, list(handles.values()), list(handles))
    return figure
