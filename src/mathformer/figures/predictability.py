"""Result 2's figures: condition-number histograms of correct vs failed predictions, and ROC curves."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mathformer.figures.style import (
    OUTCOME_COLOURS,
    legend_panels,
    legends_below,
    no_data_figure,
    percent_axis,
)

MARK_COLUMNS = ["run", "outcome", "statistic", "value"]


def _log_ticks(ax: Axes, offset: float) -> None:
    """Few integer decades on the x axis, written 10^k (the bins are in log10 units), so the
    labels never run into each other; the axis label says whether 1 was subtracted."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=2))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"$10^{{{x:g}}}$"))
    ax.set_xlabel("condition number − 1 (log scale)" if offset else "condition number (log scale)")


def _clipped_notes(rows: pd.DataFrame, offset: float) -> list[str]:
    """Legend lines saying that the end bins also hold the values beyond them (the bins stop at
    the 0.5th and 99.5th percentiles), and how many, so a tall end bin is not read as a mode."""
    quantity = "cond − 1" if offset else "cond"
    notes = []
    for column, edge, word, sign in (
        ("clipped_low", "bin_left", "first", "≤"),
        ("clipped_high", "bin_right", "last", "≥"),
    ):
        clipped = int(rows.groupby("outcome", sort=False)[column].first().sum())
        if clipped:
            bound = rows[edge].min() if word == "first" else rows[edge].max()
            notes.append(f"{word} bin also holds {clipped} values with {quantity} {sign} {10**bound:.3g}")
    return notes


def _paper_split(ax: Axes, marks: pd.DataFrame, offset: float) -> None:
    """The paper's tails of the condition numbers as vertical lines in the outcome's colour."""
    for mark in marks.itertuples():
        if mark.value - offset <= 0:
            continue
        words = {"p98": "98th pct", "p2": "2nd pct"}.get(mark.statistic, mark.statistic)
        label = f"paper: {mark.outcome} {words} {mark.value:g}"
        ax.axvline(
            np.log10(mark.value - offset),
            color=OUTCOME_COLOURS.get(mark.outcome),
            linestyle="--",
            linewidth=1,
            label=label,
        )


def _histogram_panel(ax: Axes, rows: pd.DataFrame, marks: pd.DataFrame, title: str) -> tuple[list, list]:
    """One run's histograms and the paper's split; returns its legend's handles and labels."""
    offset = float(rows["offset"].iloc[0])
    top = 0.0
    for outcome, group in rows.groupby("outcome", sort=False):
        edges = np.append(group["bin_left"].to_numpy(), group["bin_right"].to_numpy()[-1])
        ax.stairs(
            group["density"].to_numpy(),
            edges,
            color=OUTCOME_COLOURS.get(outcome),
            label=f"{outcome} (n={int(group['count'].iloc[0])})",
        )
        top = max(top, float(group["density"].max()))
    _paper_split(ax, marks, offset)
    _log_ticks(ax, offset)
    ax.set_ylim(0, 1.05 * top if top > 0 else 1)
    ax.set_ylabel("density (per unit of log10)")
    ax.set_title(f"{title}\nof {rows['condition_of'].iloc[0]}, split at {rows['tolerance_pct'].iloc[0]:g} %")
    handles, labels = ax.get_legend_handles_labels()
    notes = _clipped_notes(rows, offset)
    return [*handles, *(Line2D([], [], linestyle="none") for _ in notes)], [*labels, *notes]


def condition_histograms_figure(
    histograms: pd.DataFrame, titles: Mapping[str, str] | None = None, paper: pd.DataFrame | None = None
) -> Figure:
    """Per run, the density of log condition number (the table's `quantity`) for correct and
    failed predictions; `paper` (run, outcome, statistic, value) marks the paper's split."""
    if histograms.empty:
        return no_data_figure("no finite condition numbers to show")
    runs = list(dict.fromkeys(histograms["run"]))
    titles = titles or {}
    marks = paper if paper is not None else pd.DataFrame(columns=MARK_COLUMNS)
    figure, axes = legend_panels(len(runs))
    entries = [
        _histogram_panel(
            ax, histograms[histograms["run"] == run], marks[marks["run"] == run], titles.get(run, run)
        )
        for ax, run in zip(axes[0], runs)
    ]
    legends_below(figure, axes, entries)
    return figure


def roc_figure(
    curves: pd.DataFrame,
    titles: Mapping[str, str] | None = None,
    feature_names: Mapping[str, str] | None = None,
) -> Figure:
    """Per run, held-out ROC curves of the paper's failure predictor and the best other feature,
    AUC and its 95 % interval in the legend (under the panel, where it covers no curve)."""
    if curves.empty:
        return no_data_figure("no run has both correct and failed predictions: no ROC curve")
    runs = list(dict.fromkeys(curves["run"]))
    titles, feature_names = titles or {}, feature_names or {}
    figure, axes = legend_panels(len(runs))
    entries = []
    for ax, run in zip(axes[0], runs):
        rows = curves[curves["run"] == run]
        for (feature, role), group in rows.groupby(["feature", "role"], sort=False):
            first = group.iloc[0]
            words = "the paper's predictor" if role == "paper" else role
            auc = f"AUC {first['auc']:.3f} [{first['auc_low']:.3f}, {first['auc_high']:.3f}]"
            label = f"{feature_names.get(feature, feature)} ({words})\n{auc}"
            style = {"linewidth": 2.0} if role == "paper" else {"linestyle": "--"}
            ax.plot(100 * group["false_alarm_rate"], 100 * group["caught_rate"], label=label, **style)
        ax.plot([0, 100], [0, 100], ":", color="grey", linewidth=1, label="chance")
        ax.set_xlabel("false alarms: correct predictions flagged (%)")
        percent_axis(ax, "failures caught (%)")
        ax.set_xlim(-2, 102)
        ax.set_title(
            f"{titles.get(run, run)}\nheld-out half, failures at {rows['tolerance_pct'].iloc[0]:g} %"
        )
        entries.append(ax.get_legend_handles_labels())
    legends_below(figure, axes, entries)
    return figure
