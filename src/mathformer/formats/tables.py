"""Result tables: written three ways (CSV the data, Markdown to read, LaTeX for a paper), and their cells as text.

The Markdown and LaTeX writers are small and local on purpose: they print every number the
same way in both, need no optional dependency (pandas' own writers want tabulate and jinja2),
and a table comes out byte-identical for the same frame. The report prints the same cells with
fixed decimals per column (`format_fixed`): one owner of how a number or a missing value reads.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mathformer.formats.atomic import atomic_path

# Five significant digits keep the paper's precision (1.010 vs 1.031, 99.94 %) without noise.
SIGNIFICANT_DIGITS = 5
MISSING = "n/a"
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _special_cell(value: object) -> str | None:
    """The text of a cell that is not a finite number: NaN (and the NA of pandas' nullable
    integers, such as the seed of a run trained once) as n/a, booleans, infinities; else None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Real) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def format_cell(value: object) -> str:
    """One cell as text: integers exactly, floats to five significant digits, the rest as
    `_special_cell` says (n/a for a missing value)."""
    special = _special_cell(value)
    if special is not None:
        return special
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        # Whole numbers such as example counts print in full, not as 1.2e+06.
        if number.is_integer() and abs(number) >= 10**SIGNIFICANT_DIGITS:
            return f"{int(number):,}"
        return f"{number:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


def format_fixed(value: object, places: int) -> str:
    """A number with `places` decimals and thousands separators, for a table read on screen (the
    report's): missing values, booleans and infinities as in format_cell, and never '-0.0'."""
    special = _special_cell(value)
    if special is not None:
        return special
    text = f"{float(value):,.{places}f}"
    return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text


def is_numeric_column(column: pd.Series) -> bool:
    """Whether a column holds numbers (printed right-aligned); booleans are not numbers here."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    return [[format_cell(value) for value in row] for row in frame.itertuples(index=False, name=None)]


def to_markdown(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), the caption as a line above it."""

    def escape(text: str) -> str:
        return text.replace("|", r"\|")

    header = "| " + " | ".join(escape(str(name)) for name in frame.columns) + " |"
    rule = (
        "|" + "|".join("---:" if is_numeric_column(frame[name]) else ":---" for name in frame.columns) + "|"
    )
    body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in _cells(frame)]
    lines = ([caption, ""] if caption else []) + [header, rule, *body]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def to_latex(frame: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs table environment; numeric columns right-aligned, text left-aligned."""
    alignment = "".join("r" if is_numeric_column(frame[name]) else "l" for name in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{tab:{label}}}")
    lines += [
        rf"\begin{{tabular}}{{{alignment}}}",
        r"\toprule",
        " & ".join(latex_escape(str(name)) for name in frame.columns) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in _cells(frame)),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def write_table(
    frame: pd.DataFrame, tables_dir: str | os.PathLike, name: str, caption: str | None = None
) -> dict[str, Path]:
    """Write tables_dir/name.{csv,md,tex}, each atomically; returns the paths by suffix.

    The index is not written: tables keep their keys (run, tolerance, ...) as columns, so the
    CSV reads back into the same frame.
    """
    folder = Path(tables_dir)
    paths = {suffix: folder / f"{name}.{suffix}" for suffix in ("csv", "md", "tex")}
    with atomic_path(paths["csv"]) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(to_markdown(frame, caption))
    with atomic_path(paths["tex"]) as tmp:
        tmp.write_text(to_latex(frame, caption, label=name))
    return paths


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table written by `write_table`, read back from its CSV."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"table {str(path)!r} does not exist")
    return pd.read_csv(path)
