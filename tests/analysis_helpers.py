"""Helpers of the analysis tests: one row of a table, and what a drawn figure shows where."""

from __future__ import annotations

import pandas as pd


def row(table: pd.DataFrame, **where) -> pd.Series:
    selected = table
    for key, value in where.items():
        selected = selected[selected[key] == value]
    assert len(selected) == 1, where
    return selected.iloc[0]


def drawn(figure):
    """The figure laid out and drawn (constrained layout runs at draw time), for window extents."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).draw()
    return figure


def overlaps(first, second) -> bool:
    return first.x0 < second.x1 and second.x0 < first.x1 and first.y0 < second.y1 and second.y0 < first.y1


def legends(figure):
    return [
        *figure.legends,
        *(legend for sub in figure.subfigs for legend in sub.legends),
        *(ax.get_legend() for ax in figure.axes if ax.get_legend()),
    ]


def legend_texts(figure) -> list[str]:
    return [text.get_text() for legend in legends(figure) for text in legend.get_texts()]


def assert_legends_cover_no_axes(figure) -> None:
    renderer = figure.canvas.get_renderer()
    panels = data_axes(figure)
    assert panels
    for legend in legends(figure):
        box = legend.get_window_extent(renderer)
        for ax in panels:
            assert not overlaps(box, ax.get_window_extent(renderer)), legend_texts(figure)


def data_axes(figure):
    """The panels that show data (a legend row under a panel is an axes with no frame)."""
    return [ax for ax in figure.axes if ax.axison]
