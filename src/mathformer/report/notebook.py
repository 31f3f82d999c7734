"""What the notebooks of workflow/notebooks call: find the results, show a table, a figure, the claims.

The notebooks hold paths, labels and prose; the display logic lives here, tested once. A table
shows as its view (mathformer.report.views) and names the full table's files under it; a figure
is embedded (the page stands alone) under the caption recorded in figures/README.md.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mathformer.analysis.catalogue import FOLDERS, TABLE_SUFFIXES
from mathformer.formats.figure_index import read_figure_captions
from mathformer.report.headlines import claim_value, headlines_html, paper_value, scale_note
from mathformer.report.html_tables import Label, table_html
from mathformer.report.views import view_of

CLAIM_LABELS = {
    "id": Label("claim"),
    "experiment": Label("experiment"),
    "description": Label("what is compared"),
    "paper": Label("the paper"),
    "this_run": Label("this run"),
    "verdict": Label("verdict"),
    "rule": Label("rule of the verdict"),
}


def locate(path: str | os.PathLike) -> Path:
    """A path as given, or, when relative and absent, found in a parent of the working folder.

    Notebook defaults are relative to the repository root; this lets a notebook opened in
    workflow/notebooks find them too.
    """
    given = Path(path)
    if given.is_absolute() or given.exists():
        return given
    for parent in Path.cwd().resolve().parents:
        if (parent / given).exists():
            return parent / given
    return given


def read_result_table(results_dir: str | os.PathLike, name: str) -> pd.DataFrame | None:
    """results_dir/tables/NAME.csv as a frame, None when this run did not produce it."""
    path = Path(results_dir) / FOLDERS["table"] / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def _display_html(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(markup))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>' if text else ""


def _missing(kind: str, relative: str) -> None:
    _display_html(
        f"<p><strong>Missing {kind}:</strong> <code>{html.escape(relative)}</code> (not produced for this run)</p>"
    )


def show_frame(
    frame: pd.DataFrame, heading: str, labels: Mapping[str, Label] | None = None, table: str | None = None
) -> None:
    """Display a frame under `heading`, with headers from `labels` and the number rules of `table`
    (the result table it comes from)."""
    _display_html(
        f'<section class="mf-table" id="view-{_slug(heading)}"><h4>{html.escape(heading)}</h4>'
        + table_html(frame, labels, table)
        + "</section>"
    )


def _full_table(name: str, frame: pd.DataFrame) -> str:
    files = ", ".join(
        f"<code>{FOLDERS['table']}/{html.escape(name)}.{suffix}</code>" for suffix in TABLE_SUFFIXES
    )
    size = f"{len(frame):,} rows, {len(frame.columns)} columns"
    return f'<p class="note full">The full table ({size}), in this scale\'s results folder: {files}.</p>'


def show_table(results_dir: str | os.PathLike, name: str, note: str = "") -> None:
    """Display results_dir/tables/NAME.csv as the report reads it: under its name and caption,
    its view (the rows and columns that carry the result), the view's notes, `note`, and where
    the full table is.

    Returns nothing on purpose: a notebook cell that ends with a returned frame would print it a
    second time, raw. A cell that needs the numbers reads them with read_result_table.
    """
    frame = read_result_table(results_dir, name)
    if frame is None:
        _missing("table", f"{FOLDERS['table']}/{name}.csv")
        return
    markdown = Path(results_dir) / FOLDERS["table"] / f"{name}.md"
    caption = markdown.read_text().split("\n", 1)[0] if markdown.is_file() else ""
    caption = "" if caption.startswith("|") else caption
    view = view_of(name, frame)
    if len(view.frame):
        body = (f'<p class="view">{html.escape(view.title)}</p>' if view.title else "") + table_html(
            view.frame, view.labels, name
        )
    else:
        body = "<p>(no rows: no run of this kind at this scale)</p>"
    _display_html(
        f'<section class="mf-table" id="table-{html.escape(name)}"><h4>Table: {html.escape(name)}</h4>'
        f"<p><em>{html.escape(caption)}</em></p>{body}"
        + "".join(_note(text) for text in (*view.notes, note))
        + _full_table(name, frame)
        + "</section>"
    )


def show_figure(results_dir: str | os.PathLike, name: str, note: str = "") -> None:
    """Display results_dir/figures/NAME.png inline (embedded, so the HTML stands alone), with the
    caption recorded for it in the folder's table of figures (README.md), and `note` under it."""
    figures = Path(results_dir) / FOLDERS["figure"]
    png = figures / f"{name}.png"
    if not png.is_file():
        _missing("figure", f"{FOLDERS['figure']}/{name}.png")
        return
    caption = read_figure_captions(figures).get(name, "(no caption recorded for this figure)")
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    _display_html(
        f'<figure class="mf-figure" id="figure-{html.escape(name)}"><h4>Figure: {html.escape(name)}</h4>'
        f'<img alt="figure {html.escape(name)}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{html.escape(caption)}</figcaption>{_note(note)}</figure>"
    )


def show_headlines(verdicts: pd.DataFrame, scale: str, *, smaller: Sequence[str]) -> None:
    """The summary's opening: one line per result of the paper."""
    _display_html(headlines_html(verdicts, scale, smaller))


def show_scale_note(scale: str, smaller: Sequence[str]) -> None:
    """Whether this scale's verdicts replicate the paper or check the pipeline (headlines.scale_note)."""
    _display_html(scale_note(scale, smaller))


def claims_view(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The claims table as the report prints it: each value in its claim's unit, as text."""
    view = verdicts.copy()
    view["paper"] = [paper_value(value, unit) for value, unit in zip(verdicts["paper"], verdicts["unit"])]
    view["this_run"] = [
        claim_value(value, unit) for value, unit in zip(verdicts["this_run"], verdicts["unit"])
    ]
    return view.drop(columns="unit")


def show_claims(verdicts: pd.DataFrame, heading: str) -> None:
    """Display every claim: the paper's value, this run's, the verdict (marked) and its rule."""
    show_frame(claims_view(verdicts), heading, CLAIM_LABELS)
