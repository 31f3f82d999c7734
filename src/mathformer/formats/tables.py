"""Write a result table three ways: CSV (the data), Markdown (to read) and LaTeX (for a paper).

The Markdown and LaTeX writers are small and local on purpose: they print every number the
same way in both, need no optional dependency (pandas' own writers want tabulate and jinja2),
and a table comes out byte-identical for the same frame.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

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


def format_cell(value: object) -> str:
    """One cell as text: integers exactly, floats to five significant digits, NaN (and the NA of
    pandas' nullable integers, such as the seed of a run trained once) as n/a."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        # Whole numbers such as example counts print in full, not as 1.2e+06.
        if number.is_integer() and abs(number) >= 10**SIGNIFICANT_DIGITS:
            return f"{int(number):,}"
        return f"{number:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    return [[format_cell(value) for value in row] for row in frame.itertuples(index=False, name=None)]


def to_markdown(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), the caption as a line above it."""

    def escape(text: str) -> str:
        return text.replace("|", r"\|")

    header = "| " + " | ".join(escape(str(name)) for name in frame.columns) + " |"
    rule = "|" + "|".join("---:" if _is_numeric(frame[name]) else ":---" for name in frame.columns) + "|"
    body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in _cells(frame)]
    lines = ([caption, ""] if caption else []) + [header, rule, *body]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def to_latex(frame: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs table environment; numeric columns right-aligned, text left-aligned."""
    alignment = "".join("r" if _is_numeric(frame[name]) else "l" for name in frame.columns)
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
