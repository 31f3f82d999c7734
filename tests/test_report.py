"""The papermill notebooks and the one-page HTML report."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import synthetic_results as synthetic
from mathformer.report import NOTEBOOK_ORDER, build_report, concatenate, frame_html, locate, notebook_paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "workflow" / "notebooks"
CLAIMS = ROOT / "config" / "claims.yaml"
TABLES = (
    "roughly_right", "condition_numbers", "failure_predictors", "inverse_distance",
    "ood_accuracy", "ood_accuracy_2", "ood_accuracy_1", "examples_to_accuracy", "training",
)  # fmt: skip
FIGURES = ("roughly_right", "condition_histograms", "roc_curves", "ood_heatmap", "learning_curves")


def parameter_cell(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, path.name
    return tagged[0]


@pytest.mark.parametrize("name", NOTEBOOK_ORDER)
def test_each_notebook_has_a_parameters_cell_of_paths_and_labels(name):
    cell = parameter_cell(NOTEBOOK_DIR / f"{name}.ipynb")
    assigned = {
        target.id: ast.literal_eval(node.value)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
    }
    assert set(assigned) == {"results_dir", "claims", "scale"}
    assert all(isinstance(value, str) for value in assigned.values())
    assert (ROOT / assigned["claims"]).is_file()


def test_notebooks_run_in_report_order(tmp_path):
    for name in ("extra", *NOTEBOOK_ORDER):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")
    assert [path.stem for path in notebook_paths(tmp_path)] == [*NOTEBOOK_ORDER, "extra"]
    with pytest.raises(ValueError, match="no notebooks"):
        notebook_paths(tmp_path / "empty")


def test_concatenation_drops_parameters_and_keeps_ids_unique():
    first, second = (nbformat.v4.new_notebook() for _ in range(2))
    for notebook, text in ((first, "one"), (second, "two")):
        parameters = nbformat.v4.new_code_cell("results_dir = 'x'")
        parameters.metadata["tags"] = ["parameters"]
        notebook.cells = [parameters, nbformat.v4.new_markdown_cell(text)]
        for number, cell in enumerate(notebook.cells):
            cell.id = f"cell-{number}"
    joined = concatenate([first, second], "Title")
    assert [cell.source for cell in joined.cells] == ["# Title", "one", "two"]
    assert len({cell.id for cell in joined.cells}) == 3
    assert first.cells[1].id == "cell-1"  # the sources are left as they were


def test_tables_display_numbers_as_the_markdown_does():
    markup = frame_html(pd.DataFrame({"run": ["a<b"], "auc": [0.987654321], "count": [1200000]}))
    assert "0.98765" in markup and "1,200,000" in markup and "a&lt;b" in markup


def test_locate_finds_repository_paths_from_a_subfolder(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "claims.yaml").write_text("claims: []\n")
    (tmp_path / "workflow" / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "workflow" / "notebooks")
    assert locate("config/claims.yaml").resolve() == (tmp_path / "config" / "claims.yaml").resolve()
    assert locate("nowhere.yaml") == Path("nowhere.yaml")


def test_report_refuses_a_missing_results_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build_report(NOTEBOOK_DIR, tmp_path / "missing", CLAIMS, tmp_path / "report")


@pytest.mark.slow
def test_report_embeds_every_table_and_figure(tmp_path):
    results = synthetic.full_results(tmp_path)
    html_path = build_report(NOTEBOOK_DIR, results, CLAIMS, results / "report")
    assert html_path == results / "report" / "report.html"
    assert sorted(path.name for path in (results / "report").glob("*.ipynb")) == sorted(f"{n}.ipynb" for n in NOTEBOOK_ORDER)
    page = html_path.read_text(encoding="utf-8")
    for name in TABLES:
        assert f"Table: {name}</h4>" in page, name
    for name in FIGURES:
        assert f'alt="figure {name}"' in page, name
    assert page.count("data:image/png;base64,") >= len(FIGURES)
    assert "Missing" not in page
    # The summary sets the run beside the paper with a verdict and its rule.
    assert "E1-accuracy-5" in page and "reproduced if" in page
    assert "smoke scale" in page  # the scale comes from the results folder's name
    claims = pd.read_csv(results / "report" / "claims.csv")
    assert set(claims["verdict"]) <= {"reproduced", "partly", "not", "not testable", "missing"}
    # Code stays in the executed notebooks, out of the page.
    assert "show_table(" not in page
    assert not any(name.startswith(".") for name in os.listdir(results / "report"))
