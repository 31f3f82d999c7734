"""The HTML report: papermill runs each notebook over a results folder, nbconvert joins them.

`build_report` is the entry point behind `mathformer report`. The `show_*` helpers and `locate`
are what the notebooks in workflow/notebooks call, so that the notebooks hold paths, labels
and prose, and the display logic is tested here once.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mathformer.files import atomic_path
from mathformer.tables import format_cell, write_table

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


def run_notebook(source: Path, destination: Path, parameters: Mapping[str, Any], kernel_name: str = KERNEL) -> Any:
    """Execute `source` with papermill into `destination`, which appears only once the run succeeded.

    A notebook that fails is kept beside it as NAME.failed.ipynb, with the error in its cells.
    """
    import papermill

    running = destination.with_name(f".{destination.stem}.running.ipynb")
    try:
        # papermill records the input path in the notebook: relative, it names no machine folder.
        notebook = papermill.execute_notebook(
            _portable(source), str(running), parameters=dict(parameters), kernel_name=kernel_name, progress_bar=False
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
            copy.deepcopy(cell) for cell in notebook.cells if not PARAMETER_TAGS & set(cell.metadata.get("tags", []))
        )
    for number, cell in enumerate(joined.cells):
        cell.id = f"cell-{number}"
    return joined


def notebook_html(notebook: Any, title: str) -> str:
    """The notebook as one self-contained HTML page, outputs only (the code stays in the .ipynb files)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return body


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
    executed = [run_notebook(path, out / path.name, parameters, kernel_name) for path in notebook_paths(notebook_dir)]
    title = f"mathformer: {scale} scale beside Charton (2022)"
    verdicts = claims_table(claims_path, results, scale)
    write_table(verdicts, out, "claims", f"The paper's numbers beside this run ({scale} scale), with verdicts")
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
    document = {"scale": scale, "verdicts": {name: int(counts.get(name, 0)) for name in VERDICTS}, "claims": claims}
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


def frame_html(frame: pd.DataFrame) -> str:
    """A table as HTML with every number printed as in the Markdown and LaTeX tables."""
    return frame.map(format_cell).to_html(index=False, escape=True, border=0)


def _display_html(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(markup))


def _missing(kind: str, path: Path) -> None:
    _display_html(f"<p><strong>Missing {kind}:</strong> <code>{html.escape(str(path))}</code> (not produced for this run)</p>")


def show_frame(frame: pd.DataFrame, heading: str) -> None:
    _display_html(f"<h4>{html.escape(heading)}</h4>" + frame_html(frame))


def show_table(results_dir: str | os.PathLike, name: str) -> pd.DataFrame | None:
    """Display results_dir/tables/NAME.csv under its name and caption; return it (None if missing)."""
    tables = Path(results_dir) / "tables"
    csv_path = tables / f"{name}.csv"
    if not csv_path.is_file():
        _missing("table", csv_path)
        return None
    frame = pd.read_csv(csv_path)
    markdown = tables / f"{name}.md"
    caption = markdown.read_text().split("\n", 1)[0] if markdown.is_file() else ""
    caption = "" if caption.startswith("|") else caption
    _display_html(
        f"<h4>Table: {html.escape(name)}</h4><p><em>{html.escape(caption)}</em></p>"
        + (frame_html(frame) if len(frame) else "<p>(no rows: no run of this kind at this scale)</p>")
    )
    return frame


def show_figure(results_dir: str | os.PathLike, name: str) -> None:
    """Display results_dir/figures/NAME.png inline (embedded, so the HTML stands alone)."""
    png = Path(results_dir) / "figures" / f"{name}.png"
    if not png.is_file():
        _missing("figure", png)
        return
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    _display_html(
        f'<h4>Figure: {html.escape(name)}</h4><figure><img alt="figure {html.escape(name)}" '
        f'style="max-width:100%" src="data:image/png;base64,{data}"/>'
        f"<figcaption>PDF beside it: figures/{html.escape(name)}.pdf</figcaption></figure>"
    )
