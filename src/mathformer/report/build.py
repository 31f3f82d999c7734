"""The HTML report: papermill runs each notebook over a results folder, nbconvert joins them.

`build_report` is the entry point behind `mathformer report`. The `show_*` helpers and `locate`
are what the notebooks in workflow/notebooks call, so that the notebooks hold paths, labels
and prose, and the display logic is tested here once: tables formatted for reading (fixed
decimals per column, cut into parts that fit a page), figures under the captions recorded in
figures/README.md, and the summary's opening line per result.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mathformer.formats.atomic import atomic_path
from mathformer.formats.tables import write_table

# Summary first: a reader sees the verdicts, then the evidence, result by result.
NOTEBOOK_ORDER = ("summary", "roughly_right", "predictability", "ood")
KERNEL = "python3"
# Tags of the cells that hold (default and injected) parameters: code, not report content.
PARAMETER_TAGS = {"parameters", "injected-parameters"}


def notebook_paths(notebook_dir: str | os.PathLike) -> list[Path]:
    """Every notebook of the folder: the known ones in report order, any others after, by name."""
    folder = Path(notebook_dir)
    found = {path.stem: path for path in folder.glob("*.ipynb")}
    if not found:
        raise ValueError(f"no notebooks (*.ipynb) in {str(folder)!r}")
    known = [found[name] for name in NOTEBOOK_ORDER if name in found]
    return known + sorted(path for name, path in found.items() if name not in NOTEBOOK_ORDER)


class ReportError(ValueError):
    """A notebook of the report failed; the message names it and where its failed copy is."""


def run_notebook(
    source: Path, destination: Path, parameters: Mapping[str, Any], kernel_name: str = KERNEL
) -> Any:
    """Execute `source` with papermill into `destination`, which appears only once the run succeeded.

    A notebook that fails is kept beside it as NAME.failed.ipynb, with the error in its cells.
    """
    import papermill

    running = destination.with_name(f".{destination.stem}.running.ipynb")
    try:
        # papermill records the input path in the notebook: relative, it names no machine folder.
        notebook = papermill.execute_notebook(
            _portable(source),
            str(running),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as err:
        failed = destination.with_name(f"{destination.stem}.failed.ipynb")
        if running.exists():
            os.replace(running, failed)
        raise ReportError(f"notebook {source.name} failed ({err.ename}: {err.evalue}); see {failed}") from err
    os.replace(running, destination)
    return notebook


def concatenate(notebooks: list[Any], title: str) -> Any:
    """One notebook: a title cell, then the cells of each notebook except the parameter cells.

    Cells are copied and renumbered: ids must be unique within a notebook, and each source
    notebook numbers its own from the start.
    """
    import nbformat

    joined = nbformat.v4.new_notebook(metadata=copy.deepcopy(notebooks[0].metadata))
    joined.cells.append(nbformat.v4.new_markdown_cell(f"# {title}"))
    for notebook in notebooks:
        joined.cells.extend(
            copy.deepcopy(cell)
            for cell in notebook.cells
            if not PARAMETER_TAGS & set(cell.metadata.get("tags", []))
        )
    for number, cell in enumerate(joined.cells):
        cell.id = f"cell-{number}"
    return joined


def notebook_html(notebook: Any, title: str) -> str:
    """The notebook as one self-contained HTML page, outputs only (the code stays in the .ipynb files)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    if "</head>" not in body:
        raise ReportError("nbconvert returned a page without </head>: cannot add the report's style")
    return body.replace("</head>", f"<style>{REPORT_STYLE}</style>\n</head>", 1)


# The template's tables are centred, fixed-layout and right-aligned throughout; the report's
# are left-aligned text beside right-aligned numbers, sized to their content, narrow enough for
# a page (selectors more specific than the template's, so no !important).
REPORT_STYLE = """
section.mf-table table { table-layout: auto; margin: 0.3em 0 0.6em 0; border-collapse: collapse; font-size: 12px; }
section.mf-table th, section.mf-table td { padding: 2px 6px; border-bottom: 1px solid #ddd; vertical-align: top; }
section.mf-table th.text, section.mf-table td.text { text-align: left; }
section.mf-table th.num, section.mf-table td.num { text-align: right; }
section.mf-table td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
section.mf-table .interval { font-size: 85%; color: #666; }
section.mf-table p.note { font-size: 85%; color: #666; margin: 0 0 1em 0; }
figure.mf-figure { margin: 0.5em 0 1.5em 0; }
figure.mf-figure img { max-width: 100%; }
figure.mf-figure figcaption { font-size: 90%; color: #333; max-width: 60em; }
section.headlines p.headline { margin: 0.5em 0; max-width: 60em; }
section.headlines span.claim { color: #555; }
"""


def build_report(
    notebook_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    claims: str | os.PathLike,
    out_dir: str | os.PathLike,
    scale: str | None = None,
    kernel_name: str = KERNEL,
) -> Path:
    """`mathformer report`: run every notebook over `results_dir` into out_dir/NAME.ipynb, write
    out_dir/report.html (all of them, in report order) and out_dir/claims.{csv,md,tex}.

    `scale` labels the report and picks the claims' run names; by default it is the name of the
    results folder (results/quick -> quick). Returns the HTML path.
    """
    from mathformer.analysis.claims import claims_table

    # Paths go to the notebooks as given (relative to the working folder, where papermill runs
    # them): the executed notebooks are committed, and must not carry this machine's paths.
    results = Path(results_dir)
    claims_path = Path(claims)
    if not results.is_dir():
        raise ValueError(f"results folder {str(results)!r} does not exist")
    if not claims_path.is_file():
        raise ValueError(f"claims file {str(claims_path)!r} does not exist")
    scale = scale or results.resolve().name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"results_dir": _portable(results), "claims": _portable(claims_path), "scale": scale}
    executed = [
        run_notebook(path, out / path.name, parameters, kernel_name) for path in notebook_paths(notebook_dir)
    ]
    title = f"mathformer: {scale} scale beside Charton (2022)"
    verdicts = claims_table(claims_path, results, scale)
    write_table(
        verdicts, out, "claims", f"The paper's numbers beside this run ({scale} scale), with verdicts"
    )
    write_metrics(verdicts, scale, out / METRICS_NAME)
    html_path = out / "report.html"
    with atomic_path(html_path) as tmp:
        tmp.write_text(notebook_html(concatenate(executed, title), title), encoding="utf-8")
    return html_path


def _portable(path: Path) -> str:
    """The path relative to the working folder (where papermill runs the notebooks), so that the
    executed notebooks, which are committed, name no folder of this machine."""
    return os.path.relpath(path)


METRICS_NAME = "metrics.json"


def write_metrics(verdicts: pd.DataFrame, scale: str, path: str | os.PathLike) -> None:
    """The headline numbers for `dvc metrics show`: each claim's value and verdict, and the counts.

    A claim with no value at this scale is null (JSON has no NaN).
    """
    from mathformer.analysis.claims import VERDICTS

    claims = {
        row.id: {"this_run": None if pd.isna(row.this_run) else float(row.this_run), "verdict": row.verdict}
        for row in verdicts.itertuples()
    }
    counts = verdicts["verdict"].value_counts()
    document = {
        "scale": scale,
        "verdicts": {name: int(counts.get(name, 0)) for name in VERDICTS},
        "claims": claims,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n")


# ---------------------------------------------------------------- helpers the notebooks call


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


# ---------------------------------------------------------------- how a table reads in the report
#
# The CSV, Markdown and LaTeX tables keep every column and digit; the report shows the same data
# for a reader: numbers with a fixed number of decimals per column, a 95 % interval under its
# value instead of in two more columns, and wide tables cut into parts that fit a page.

MISSING = "n/a"
INTERVAL_ENDS = ("_low", "_high")
# Counts print as integers with thousands separators, whatever dtype the CSV gave them.
COUNT_COLUMN = re.compile(r"^(n|count|failures|seeds|width|undecoded\w*|\w+_count|examples\w*)$")
# Tables whose numbers are all accuracies in percent (the OOD matrices: one column per spectrum).
PERCENT_TABLES = re.compile(r"^ood_accuracy(_\d+)?$")
# Tables of condition numbers and distances: 3 decimals tell 1.031 from 1.042.
FINE_TABLES = {"condition_numbers", "inverse_distance"}
# Past this many columns a table without a layout is cut into parts (keys repeated in each).
MAX_COLUMNS = 12


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


def format_number(value: object, places: int) -> str:
    """A number with `places` decimals and thousands separators; NaN as n/a, never '-0.0'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    number = float(value)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    text = f"{number:,.{places}f}"
    return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text


def _breakable(text: str) -> str:
    """Escaped text that may wrap after '_', '+' and ',' (long identifiers would widen the page)."""
    return re.sub(r"([_+,])", r"\1<wbr>", html.escape(text))


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _intervals(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Columns with a 95 % interval beside them: name -> (NAME_low, NAME_high)."""
    return {
        column: (f"{column}_low", f"{column}_high")
        for column in frame.columns
        if all(f"{column}{end}" in frame for end in INTERVAL_ENDS)
    }


def _table_markup(frame: pd.DataFrame, table: str | None) -> str:
    """One <table>: text left, numbers right with their decimals, intervals in small type below."""
    intervals = _intervals(frame)
    hidden = {bound for pair in intervals.values() for bound in pair}
    shown = [column for column in frame.columns if column not in hidden]
    numeric = [column for column in frame.columns if _is_numeric(frame[column])]
    places = {column: decimals(table, column, frame[column]) for column in numeric}
    header = "".join(
        f'<th class="{"num" if column in places else "text"}">{_breakable(str(column))}</th>'
        for column in shown
    )
    rows = []
    for _, row in frame.iterrows():
        cells = (
            _number_cell(row, column, places[column], intervals.get(column))
            if column in places
            else _text_cell(row[column])
            for column in shown
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = '<p class="note">Small type under a value: its 95 % interval.</p>' if intervals else ""
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def _text_cell(value: object) -> str:
    text = MISSING if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return f'<td class="text">{_breakable(text)}</td>'


def _number_cell(row: pd.Series, column: str, places: int, interval: tuple[str, str] | None) -> str:
    cell = format_number(row[column], places)
    if interval is not None and not pd.isna(row[column]):
        low, high = (format_number(row[bound], places) for bound in interval)
        cell += f'<br><span class="interval">{low}&ndash;{high}</span>'
    return f'<td class="num">{cell}</td>'


@dataclass(frozen=True)
class Part:
    """A slice of a wide table: its key columns, then the columns matching `columns` (fnmatch
    patterns); duplicate rows are dropped, so a part of per-run settings has one row per run."""

    title: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]


LAYOUTS: dict[str, tuple[Part, ...]] = {
    "roughly_right": (
        Part("All test matrices", ("run", "n", "tolerance_pct"), ("count", "accuracy_pct", "all_*")),
        Part(
            "The decoded failures", ("run", "tolerance_pct"), ("failures", "undecoded_failures", "failed_*")
        ),
    ),
    "failure_predictors": (
        Part(
            "The held-out split, per run and tolerance",
            ("run", "tolerance_pct"),
            (
                "n",
                "task",
                "train_count",
                "held_out_count",
                "undecoded",
                "held_out_failure_pct",
                "majority_accuracy_pct",
                "target_false_alarm_pct",
            ),
        ),
        Part(
            "Each predictor, scored on the held-out half",
            ("run", "tolerance_pct"),
            (
                "feature_set",
                "predictor",
                "features",
                "auc",
                "accuracy_pct",
                "caught_pct",
                "false_alarm_pct",
                "weights",
            ),
        ),
    ),
    "condition_numbers": (
        Part("Per run", ("run",), ("n", "task", "condition_of", "undecoded")),
        Part(
            "Statistics",
            ("run", "tolerance_pct", "outcome"),
            ("count", "mean", "median", "p2", "p98", "min", "max"),
        ),
    ),
}


def _matching(frame: pd.DataFrame, patterns: tuple[str, ...], taken: set[str]) -> list[str]:
    """Columns matching the patterns, in pattern order, with their interval columns."""
    chosen: list[str] = []
    for pattern in patterns:
        for column in frame.columns:
            if column in taken or column in chosen or not fnmatch.fnmatchcase(column, pattern):
                continue
            chosen.append(column)
    intervals = _intervals(frame)
    return [column for column in chosen if not any(column in pair for pair in intervals.values())] + [
        bound for column in chosen if column in intervals for bound in intervals[column] if bound not in taken
    ]


def table_parts(frame: pd.DataFrame, layout_name: str | None) -> list[tuple[str, pd.DataFrame]]:
    """The frame as (title, slice) parts that each fit a page; a narrow table is one untitled part.

    `layout_name` picks a layout of LAYOUTS (a whole result table); without one, a table wider
    than MAX_COLUMNS is cut into chunks. Every column lands in some part: any the layout does not
    name go to a last part, so a column added to an analysis shows up rather than vanishing.
    """
    layout = LAYOUTS.get(layout_name or "")
    if layout is None:
        layout = _generic_layout(frame)
    if not layout:
        return [("", frame)]
    parts, placed = [], set()
    for part in layout:
        keys = [key for key in part.keys if key in frame]
        columns = _matching(frame, part.columns, placed | set(keys))
        if columns:
            parts.append((part.title, frame[keys + columns].drop_duplicates().reset_index(drop=True)))
            placed |= set(keys) | set(columns)
    rest = [column for column in frame.columns if column not in placed]
    if rest:
        keys = [key for key in layout[0].keys if key in frame]
        parts.append(("Other columns", frame[keys + rest].drop_duplicates().reset_index(drop=True)))
    return parts


def _generic_layout(frame: pd.DataFrame) -> tuple[Part, ...]:
    """No layout and too wide: the leading text columns as keys, the rest in chunks of MAX_COLUMNS."""
    shown = [column for column in frame.columns if not any(column.endswith(end) for end in INTERVAL_ENDS)]
    if len(shown) <= MAX_COLUMNS:
        return ()
    keys = []
    for column in shown:
        if _is_numeric(frame[column]) or len(keys) == 3:
            break
        keys.append(column)
    rest = [column for column in shown if column not in keys]
    size = MAX_COLUMNS - len(keys)
    chunks = [tuple(rest[start : start + size]) for start in range(0, len(rest), size)]
    return tuple(
        Part(f"Columns {number + 1} of {len(chunks)}", tuple(keys), chunk)
        for number, chunk in enumerate(chunks)
    )


def frame_html(frame: pd.DataFrame, table: str | None = None, layout: bool = True) -> str:
    """A table as the report shows it: HTML, no index, numbers by `table`'s rules (see decimals),
    cut into parts by its layout (LAYOUTS) when `layout`, else only when too wide."""
    parts = table_parts(frame, table if layout else None)
    return "".join(
        (f"<h5>{html.escape(title)}</h5>" if title else "") + _table_markup(part, table)
        for title, part in parts
    )


def _display_html(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(markup))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _missing(kind: str, relative: str) -> None:
    _display_html(
        f"<p><strong>Missing {kind}:</strong> <code>{html.escape(relative)}</code> (not produced for this run)</p>"
    )


def show_frame(frame: pd.DataFrame, heading: str, table: str | None = None) -> None:
    """Display a frame under `heading`, with the number rules of `table` (the table it comes from)."""
    _display_html(
        f'<section class="mf-table" id="view-{_slug(heading)}"><h4>{html.escape(heading)}</h4>'
        + frame_html(frame, table, layout=False)  # a few columns of `table`: its layout would not fit
        + "</section>"
    )


def read_result_table(results_dir: str | os.PathLike, name: str) -> pd.DataFrame | None:
    """results_dir/tables/NAME.csv as a frame, None when this run did not produce it."""
    path = Path(results_dir) / "tables" / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def show_table(results_dir: str | os.PathLike, name: str) -> None:
    """Display results_dir/tables/NAME.csv under its name and caption.

    Returns nothing on purpose: a notebook cell that ends with a returned frame would print it a
    second time, raw. A cell that needs the numbers reads them with read_result_table.
    """
    frame = read_result_table(results_dir, name)
    if frame is None:
        _missing("table", f"tables/{name}.csv")
        return
    markdown = Path(results_dir) / "tables" / f"{name}.md"
    caption = markdown.read_text().split("\n", 1)[0] if markdown.is_file() else ""
    caption = "" if caption.startswith("|") else caption
    body = frame_html(frame, name) if len(frame) else "<p>(no rows: no run of this kind at this scale)</p>"
    _display_html(
        f'<section class="mf-table" id="table-{html.escape(name)}"><h4>Table: {html.escape(name)}</h4>'
        f"<p><em>{html.escape(caption)}</em></p>{body}</section>"
    )


def show_figure(results_dir: str | os.PathLike, name: str) -> None:
    """Display results_dir/figures/NAME.png inline (embedded, so the HTML stands alone), with the
    caption recorded for it in the folder's table of figures (README.md)."""
    from mathformer.figures.plots import read_figure_captions

    figures = Path(results_dir) / "figures"
    png = figures / f"{name}.png"
    if not png.is_file():
        _missing("figure", f"figures/{name}.png")
        return
    caption = read_figure_captions(figures).get(name, "(no caption recorded for this figure)")
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    _display_html(
        f'<figure class="mf-figure" id="figure-{html.escape(name)}"><h4>Figure: {html.escape(name)}</h4>'
        f'<img alt="figure {html.escape(name)}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


# ---------------------------------------------------------------- the summary's opening lines

# The paper's three results, and the claims whose number carries each, best first: a claim that
# this run cannot test (or did not measure) hands over to the next, and the line says why.
HEADLINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1", "wrong predictions are roughly right",
     ("E1-failed-eigenvalues-norms-5", "E2-weak-failed-eigenvalues-norms-5")),
    ("2", "failures are predictable",
     ("E1-predictable-5", "E3-predictable-5")),
    ("3", "the training distribution decides generalization",
     ("E4-laplace-generalizes", "E4-semicircle-does-not-generalize")),
)  # fmt: skip
VERDICT_WORDS = {
    "reproduced": "reproduced",
    "partly": "partly reproduced",
    "not": "not reproduced",
    "not testable": "not testable here",
    "missing": "not measured at this scale",
}
UNMEASURED = ("not testable", "missing")


def claim_value(value: object, unit: str) -> str:
    """A claim's number as the summary prints it: percentages to 1 decimal, ratios with 'x', others to 3."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    # A no-break space keeps a number and its unit on one line in a narrow column.
    if unit == "%":
        return f"{format_number(value, 1)}\u00a0%"
    if unit == "x":
        return f"{format_number(value, 1)}x"
    return format_number(value, 3) + (f" {unit}" if unit else "")


def _paper_value(value: object, unit: str) -> str:
    # The paper's own figures print as the paper gave them (1.031, 92), not padded to our decimals.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}" + ("\u00a0%" if unit == "%" else unit)
    return str(value)


def _why(row: pd.Series, scale: str, skipped: list[pd.Series], smaller: Sequence[str]) -> str:
    """What stands behind a line besides its number: the claims it could not use, and whether the
    models are smaller than the paper's (`smaller`: mathformer.analysis.claims.size_departures)."""
    notes = []
    for claim in skipped:
        reason = claim.rule if claim.verdict == "not testable" else "no number at this scale"
        notes.append(f"Shown instead of {claim.name}: {reason}.")
    if row.verdict != "reproduced" and smaller:
        notes.append(
            f"Why it may differ: at {scale} scale the matrices and models are smaller than the paper's, so the "
            "number checks the pipeline rather than replicates the paper (docs/cpu-recipes.md, docs/departures.md)."
        )
    return " ".join(notes)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def headline(
    verdicts: pd.DataFrame,
    scale: str,
    result: str,
    title: str,
    claim_ids: tuple[str, ...],
    *,
    smaller: Sequence[str],
) -> str:
    """One result's line (HTML): the verdict, its number beside the paper's, and why they differ."""
    rows = verdicts.set_index("id")
    known = [claim for claim in claim_ids if claim in rows.index]
    if not known:
        raise ValueError(f"result {result}: none of the claims {', '.join(claim_ids)} is in the claims table")
    claims = [rows.loc[claim] for claim in known]  # each Series is named by its claim id
    chosen_at = next((at for at, claim in enumerate(claims) if claim.verdict not in UNMEASURED), 0)
    chosen, skipped = claims[chosen_at], claims[:chosen_at]
    why = _why(chosen, scale, skipped, smaller)
    return (
        f'<p class="headline"><strong>Result {html.escape(result)}, {html.escape(title)}: '
        f"{html.escape(VERDICT_WORDS[chosen.verdict])}.</strong> "
        f"This run: <strong>{html.escape(claim_value(chosen.this_run, chosen.unit))}</strong>; "
        f"the paper: {html.escape(_paper_value(chosen.paper, chosen.unit))}. "
        f'<span class="claim">{html.escape(_sentence(chosen.description))} [{html.escape(str(chosen.name))}]</span>'
        + (f" {html.escape(why)}" if why else "")
        + "</p>"
    )


def show_headlines(verdicts: pd.DataFrame, scale: str, *, smaller: Sequence[str]) -> None:
    """The summary's opening: one line per result of the paper."""
    lines = "".join(headline(verdicts, scale, *entry, smaller=smaller) for entry in HEADLINES)
    _display_html(f'<section class="headlines" id="headlines">{lines}</section>')


def scale_note(scale: str, smaller: Sequence[str]) -> str:
    """What the verdicts of this scale are (HTML): a replication when its models have the paper's
    sizes, a check of the pipeline when some are smaller, which ones."""
    if not smaller:
        return (
            f"<p>At {html.escape(scale)} scale the models behind the claims have the paper's matrix sizes and "
            "models: each verdict compares this run's number with the paper's, number for number. How the "
            "training differs from the paper's, and why, is in <code>docs/departures.md</code>.</p>"
        )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in smaller)
    return (
        f"<p>At {html.escape(scale)} scale some models are smaller than the paper's:</p><ul>{items}</ul>"
        "<p>Their verdicts check that the pipeline measures what the paper measured; they do not replicate "
        "it. Only runs with the paper's matrix sizes and models compare number for number; how this repository "
        "departs from the paper, and why, is in <code>docs/departures.md</code>, and what the CPU recipes reach in "
        "<code>docs/cpu-recipes.md</code>.</p>"
    )


def show_scale_note(scale: str, smaller: Sequence[str]) -> None:
    _display_html(scale_note(scale, smaller))


def claims_view(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The claims table as the report prints it: each value in its claim's unit, as text."""
    view = verdicts.copy()
    view["paper"] = [_paper_value(value, unit) for value, unit in zip(verdicts["paper"], verdicts["unit"])]
    view["this_run"] = [
        claim_value(value, unit) for value, unit in zip(verdicts["this_run"], verdicts["unit"])
    ]
    return view.drop(columns="unit")
