"""`mathformer report`: papermill runs each notebook over a results folder, nbconvert joins them.

`build_report` writes, into the report folder, each executed notebook, report.html (all of them
in report order, one page that stands alone: mathformer.report.page), the claims table
(claims.csv, .md, .tex) and metrics.json for DVC (mathformer.report.dvc_metrics). They are made
in a staging folder and moved into place together: a failure leaves the old report as it was.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mathformer.formats import results_layout
from mathformer.formats.atomic import move_into_place, staging_folder
from mathformer.formats.tables import write_table
from mathformer.report.dvc_metrics import write_metrics
from mathformer.report.page import notebook_html

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
    source: Path,
    destination: Path,
    parameters: Mapping[str, Any],
    kernel_name: str = KERNEL,
    failed_dir: Path | None = None,
) -> Any:
    """Execute `source` with papermill into `destination`, which appears only once the run succeeded.

    A notebook that fails is kept as NAME.failed.ipynb, with the error in its cells, in
    `failed_dir` (by default beside `destination`).
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
        failed = (failed_dir or destination.parent) / f"{destination.stem}.failed.ipynb"
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
    parameters = {"results_dir": _portable(results), "claims": _portable(claims_path), "scale": scale}
    with staging_folder(out) as staging:
        executed = [
            run_notebook(path, staging / path.name, parameters, kernel_name, failed_dir=out)
            for path in notebook_paths(notebook_dir)
        ]
        title = f"mathformer: {scale} scale beside Charton (2022)"
        verdicts = claims_table(claims_path, results, scale)
        write_table(
            verdicts,
            staging,
            results_layout.CLAIMS_TABLE,
            f"The paper's numbers beside this run ({scale} scale), with verdicts",
        )
        write_metrics(verdicts, staging / results_layout.METRICS)
        page = staging / results_layout.REPORT_PAGE
        page.write_text(notebook_html(concatenate(executed, title), title), encoding="utf-8")
        move_into_place([(path, out / path.name) for path in sorted(staging.iterdir())])
    return out / results_layout.REPORT_PAGE


def _portable(path: Path) -> str:
    """The path relative to the working folder (where papermill runs the notebooks), so that the
    executed notebooks, which are committed, name no folder of this machine."""
    return os.path.relpath(path)
