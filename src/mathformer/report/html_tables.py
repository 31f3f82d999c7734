"""Tables as the report prints them: labelled headers, fixed decimals per column, verdicts marked.

The CSV, Markdown and LaTeX tables keep every column and digit; the report shows a table for a
reader: a header a person wrote for each column (with its unit, grouped under a spanning header
where several columns share one), numbers with a fixed number of decimals per column (formatted
by mathformer.formats.tables, the owner of how a number or a missing value reads), a 95 %
interval in small type under its value instead of in two more columns, and a verdict as a
coloured mark beside its word, so that colour is never the only signal.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mathformer.formats.tables import format_cell, format_fixed, is_numeric_column

INTERVAL_ENDS = ("_low", "_high")
# Counts print as integers with thousands separators, whatever dtype the CSV gave them.
COUNT_COLUMN = re.compile(r"^(n|count|failures|seeds|width|undecoded\w*|\w+_count|examples\w*|claims)$")
# Tables whose numbers are all accuracies in percent (the OOD matrices: one column per spectrum).
PERCENT_TABLES = re.compile(r"^ood_accuracy(_\d+)?$")
# Tables of condition numbers and distances: 3 decimals tell 1.031 from 1.042.
FINE_TABLES = {"condition_numbers", "inverse_distance"}
# A verdict's mark: a symbol and a colour (the style's v-<verdict> class), beside the word.
VERDICT_SYMBOLS = {
    "reproduced": "\u2714",  # heavy check mark
    "partly": "\u25d0",  # circle, left half black
    "not": "\u2718",  # heavy ballot x
    "not testable": "\u2298",  # circled division slash
    "missing": "\u2013",  # en dash
}
VERDICT_COLUMN = "verdict"


@dataclass(frozen=True)
class Label:
    """A column's header: its text (with the unit), and the header spanning it and its neighbours."""

    text: str
    group: str = ""


def plain_label(column: str) -> Label:
    """The header of a column nobody labelled: its name in words, `_pct` as the unit (%)."""
    words = column.removesuffix("_pct").replace("_", " ")
    return Label(words + (" (%)" if column.endswith("_pct") else ""))


def decimals(table: str | None, column: str, values: pd.Series) -> int:
    """Decimals to print a numeric column with: counts 0, percentages 1, AUCs and condition numbers 3."""
    if COUNT_COLUMN.match(column):
        return 0
    if "auc" in column:
        return 3
    if column.endswith("_pct") or PERCENT_TABLES.match(table or ""):
        return 1
    if table in FINE_TABLES:
        return 3
    if column in ("minutes", "mean", "sd", "min", "max"):  # training minutes; seed_spread's accuracies
        return 1
    finite = values.dropna()
    finite = finite[np.isfinite(finite.to_numpy(dtype=float))]
    return 0 if len(finite) and (finite == finite.round()).all() else 3


def intervals(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Columns with a 95 % interval beside them: name -> (NAME_low, NAME_high)."""
    return {
        column: (f"{column}_low", f"{column}_high")
        for column in frame.columns
        if all(f"{column}{end}" in frame for end in INTERVAL_ENDS)
    }


def verdict_mark(verdict: str) -> str:
    """A verdict as HTML: its symbol and word, coloured by the style's class for it."""
    slug = verdict.replace(" ", "-")
    symbol = VERDICT_SYMBOLS.get(verdict, "?")
    return f'<span class="verdict v-{html.escape(slug)}">{symbol}&nbsp;{html.escape(verdict)}</span>'


# Text up to this long stays on one line: a run name wrapped at its underscore reads as two words.
SHORT_TEXT = 16


def breakable(text: str) -> str:
    """Escaped text that may wrap after '_', '+' and ',' when long (long identifiers would widen the page)."""
    escaped = html.escape(text)
    return escaped if len(text) <= SHORT_TEXT else re.sub(r"([_+,])", r"\1<wbr>", escaped)


def _header(shown: list[str], labels: Mapping[str, Label], numeric: set[str]) -> str:
    """The <thead>: one row of labels, or two when some columns share a spanning header."""

    def cell(column: str, extra: str = "") -> str:
        kind = "num" if column in numeric else "text"
        return f'<th class="{kind}"{extra}>{breakable(labels[column].text)}</th>'

    if not any(labels[column].group for column in shown):
        return "<thead><tr>" + "".join(cell(column) for column in shown) + "</tr></thead>"
    top, bottom, start = [], [], 0
    while start < len(shown):
        group = labels[shown[start]].group
        end = start + 1
        while end < len(shown) and group and labels[shown[end]].group == group:
            end += 1
        if group:
            top.append(f'<th class="group" colspan="{end - start}">{html.escape(group)}</th>')
            bottom.extend(cell(column) for column in shown[start:end])
        else:
            top.append(cell(shown[start], ' rowspan="2"'))
        start = end
    return f"<thead><tr>{''.join(top)}</tr><tr>{''.join(bottom)}</tr></thead>"


def _number_cell(row: pd.Series, column: str, places: int, interval: tuple[str, str] | None) -> str:
    cell = format_fixed(row[column], places)
    if interval is not None and not pd.isna(row[column]):
        low, high = (format_fixed(row[bound], places) for bound in interval)
        cell += f'<br><span class="interval">{low}&ndash;{high}</span>'
    return f'<td class="num">{cell}</td>'


def _text_cell(column: str, value: object) -> str:
    if column == VERDICT_COLUMN and isinstance(value, str):
        return f'<td class="text">{verdict_mark(value)}</td>'
    return f'<td class="text">{breakable(format_cell(value))}</td>'


def table_html(
    frame: pd.DataFrame, labels: Mapping[str, Label] | None = None, table: str | None = None
) -> str:
    """One <table> of `frame`, no index: headers from `labels` (plain_label for the others),
    text left, numbers right with the decimals of `table`'s rules, intervals in small type below."""
    bounds = intervals(frame)
    hidden = {bound for pair in bounds.values() for bound in pair}
    shown = [column for column in frame.columns if column not in hidden]
    labels = {column: (labels or {}).get(column) or plain_label(column) for column in shown}
    places = {
        column: decimals(table, column, frame[column]) for column in shown if is_numeric_column(frame[column])
    }
    rows = []
    for _, row in frame.iterrows():
        cells = (
            _number_cell(row, column, places[column], bounds.get(column))
            if column in places
            else _text_cell(column, row[column])
            for column in shown
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = '<p class="note">Small type under a value: its 95 % interval.</p>' if bounds else ""
    return f"<table>{_header(shown, labels, set(places))}<tbody>{''.join(rows)}</tbody></table>{note}"
