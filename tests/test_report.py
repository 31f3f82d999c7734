"""The papermill notebooks and the one-page HTML report."""

from __future__ import annotations

import ast
import html
import json
import multiprocessing
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import synthetic_results as synthetic
from mathformer.figures import plots
from mathformer.report.build import (
    NOTEBOOK_ORDER,
    build_report,
    claims_view,
    concatenate,
    frame_html,
    headline,
    locate,
    notebook_paths,
    table_parts,
)

# A machine with the core dependencies only (a GPU box running `pytest -m cuda`) skips this module.
nbformat = pytest.importorskip("nbformat")

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


def test_tables_print_fixed_decimals_per_column_and_no_index():
    frame = pd.DataFrame(
        {
            "run": ["a<b", "c"],
            "accuracy_pct": [92.04999, 0.30000000000000004],
            "auc": [0.98765, 0.5],
            "examples_to_50_pct": [800000.0, float("nan")],
            "count": [1200000, 3],
        }
    )
    markup = frame_html(frame)
    for shown in ("92.0", "0.3", "0.988", "0.500", "800,000", "1,200,000", "n/a", "a&lt;b"):
        assert f">{shown}<" in markup, shown
    assert "800000.0" not in markup and "0.30000000000000004" not in markup
    assert "<th></th>" not in markup and 'class="dataframe"' not in markup  # no pandas index
    # Condition numbers: three decimals tell the paper's 1.031 from its 1.042; the tolerance keeps one.
    statistics = pd.DataFrame({"tolerance_pct": [5.0], "p98": [1.0312], "p2": [1.0418]})
    conditions = frame_html(statistics, "condition_numbers")
    assert ">5.0<" in conditions and ">1.031<" in conditions and ">1.042<" in conditions
    assert '<td class="text">c</td>' in markup and '<td class="num">' in markup  # text left, numbers right


def test_an_interval_prints_under_its_value_not_in_two_columns():
    frame = pd.DataFrame({"run": ["a"], "auc": [0.9], "auc_low": [0.85123], "auc_high": [0.95]})
    markup = frame_html(frame)
    assert "auc_<wbr>low" not in markup and "auc_low" not in markup
    assert '0.900<br><span class="interval">0.851&ndash;0.950</span>' in markup


def _roughly_right_like() -> pd.DataFrame:
    rows = {
        "run": ["e", "e"],
        "n": [4, 4],
        "tolerance_pct": [1.0, 5.0],
        "count": [300, 300],
        "failures": [65, 20],
    }
    for part in ("eigenvalues", "norms", "orthogonal", "orthogonal_all_pairs", "eigenvalues_norms"):
        for population in ("all", "failed"):
            rows |= {f"{population}_{part}_pct": [50.0, 60.0], f"{population}_{part}_pct_low": [40.0, 50.0]}
            rows[f"{population}_{part}_pct_high"] = [60.0, 70.0]
    rows |= {"accuracy_pct": [78.0, 93.0], "undecoded_failures": [0, 0], "added_later": [1.5, 2.5]}
    return pd.DataFrame(rows)


def test_wide_tables_are_cut_into_parts_that_keep_every_column():
    frame = _roughly_right_like()
    parts = table_parts(frame, "roughly_right")
    assert [title for title, _ in parts] == ["All test matrices", "The decoded failures", "Other columns"]
    shown = {column for _, part in parts for column in part.columns}
    assert shown == set(frame.columns)  # nothing vanishes, the unplanned column included
    assert all(
        column.startswith(("run", "n", "tol", "count", "acc", "all_")) for column in parts[0][1].columns
    )
    # A part of per-run settings keeps one row per run.
    predictors = pd.DataFrame({"run": "e", "tolerance_pct": 5.0, "task": "eig", "auc": [0.5, 0.6, 0.7]})
    split, scored = table_parts(predictors, "failure_predictors")
    assert len(split[1]) == 1 and len(scored[1]) == 3
    # A wide table without a layout is cut into chunks, its leading text columns repeated.
    wide = pd.DataFrame({"run": ["e"], **{f"c{index}": [float(index)] for index in range(20)}})
    chunks = table_parts(wide, None)
    assert len(chunks) == 2 and all(part.columns[0] == "run" for _, part in chunks)
    assert max(len(part.columns) for _, part in chunks) <= 12


def _verdicts(**changes) -> pd.DataFrame:
    rows = {
        "A": {"description": "accuracy of the thing", "unit": "%", "paper": 92.0, "this_run": 89.7,
              "verdict": "partly"},
        "B": {"description": "condition split", "unit": "", "paper": "a clean split", "this_run": float("nan"),
              "verdict": "not testable", "rule": "not testable below n = 3: 2x2 eigenvectors are a rotation"},
        "C": {"description": "input condition", "unit": "", "paper": "ill-conditioned fail", "this_run": 0.87982,
              "verdict": "reproduced"},
    }  # fmt: skip
    for claim, values in changes.items():
        rows[claim] |= values
    return pd.DataFrame(
        [{"id": claim, "experiment": "E", "rule": "r", **values} for claim, values in rows.items()]
    )


def test_each_result_opens_with_its_verdict_number_and_why():
    line = headline(_verdicts(), "quick", "1", "roughly right", ("A",))
    assert "partly reproduced" in line and "89.7\u00a0%" in line and "92\u00a0%" in line and "[A]" in line
    assert "at quick scale" in line and "docs/departures.md" in line
    # At paper scale a difference is not put down to scale; a reproduced claim needs no excuse.
    assert "Why" not in headline(_verdicts(), "paper", "1", "roughly right", ("A",))
    # A claim this run cannot test hands over to the next, and the line says why.
    line = headline(_verdicts(), "quick", "2", "predictable", ("B", "C"))
    assert "reproduced" in line and "0.880" in line and "Shown instead of B: not testable below n = 3" in line
    assert "Why it may differ" not in line
    with pytest.raises(ValueError, match="result 3: none of the claims Z"):
        headline(_verdicts(), "quick", "3", "ood", ("Z",))


def test_claims_print_in_their_units():
    view = claims_view(_verdicts())
    assert list(view["this_run"]) == ["89.7\u00a0%", "n/a", "0.880"]
    assert list(view["paper"]) == ["92\u00a0%", "a clean split", "ill-conditioned fail"]
    assert "unit" not in view


# ---------------------------------------------------------------- figure captions


def test_figure_captions_live_in_the_folder_readme_not_in_the_image(tmp_path):
    figure = Figure()
    figure.subplots().plot([0, 1], [0, 1])
    plots.save_figure(figure, tmp_path, "b_fig", "Second | with a pipe,\nand a line break.")
    plots.save_figure(figure, tmp_path, "a_fig", "First.")
    assert not figure.texts  # nothing drawn on the figure beside its axes
    captions = plots.read_figure_captions(tmp_path)
    assert captions == {"a_fig": "First.", "b_fig": "Second | with a pipe, and a line break."}
    readme = (tmp_path / "README.md").read_text()
    assert readme.index("| a_fig |") < readme.index("| b_fig |")  # sorted: the same figures, the same bytes
    plots.write_figure_caption(tmp_path, "a_fig", "First, redrawn.")
    assert plots.read_figure_captions(tmp_path)["a_fig"] == "First, redrawn."
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["README.md", "a_fig.pdf", "a_fig.png", "b_fig.pdf", "b_fig.png"]
    assert plots.read_figure_captions(tmp_path / "none") == {}


def _write_captions(folder: Path, prefix: str) -> None:
    for number in range(15):
        plots.write_figure_caption(folder, f"{prefix}{number}", f"Caption {prefix}{number}.")


def test_analyses_drawing_at_once_lose_no_caption(tmp_path):
    # Snakemake runs the analyses side by side; each writes its captions into the same README.md.
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_captions, args=(tmp_path, prefix)) for prefix in "abc"]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    assert len(plots.read_figure_captions(tmp_path)) == 45


def test_a_damaged_table_of_figures_is_one_clear_error(tmp_path):
    plots.write_figure_caption(tmp_path, "fig", "Caption.")
    with (tmp_path / "README.md").open("a") as readme:
        readme.write("| broken row\n")
    with pytest.raises(ValueError, match="not a '| figure | caption |' row: '| broken row'"):
        plots.read_figure_captions(tmp_path)
    with pytest.raises(ValueError, match="figure name 'a b'"):
        plots.write_figure_caption(tmp_path, "a b", "x")


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


@pytest.fixture(scope="module")
def built_report(tmp_path_factory) -> Path:
    """report.html built once from synthetic results, for the tests that read it."""
    results = synthetic.full_results(tmp_path_factory.mktemp("report"))
    return build_report(NOTEBOOK_DIR, results, CLAIMS, results / "report")


@pytest.mark.slow
def test_report_embeds_every_table_and_figure(built_report):
    results = built_report.parents[1]
    assert built_report == results / "report" / "report.html"
    executed = sorted(path.name for path in (results / "report").glob("*.ipynb"))
    assert executed == sorted(f"{n}.ipynb" for n in NOTEBOOK_ORDER)
    page = built_report.read_text(encoding="utf-8")
    for name in TABLES:
        assert page.count(f"Table: {name}</h4>") == 1, name
    for name in FIGURES:
        assert page.count(f'alt="figure {name}"') == 1, name
    assert page.count("<img ") == len(FIGURES)  # (the template's stylesheet holds a data: PNG of its own)
    assert "Missing" not in page
    # The summary opens with one line per result, then sets each claim beside the paper.
    assert [int(number) for number in re.findall(r'<p class="headline"><strong>Result (\d)', page)] == [
        1,
        2,
        3,
    ]
    assert "E1-accuracy-5" in page and "reproduced if" in page
    assert "smoke scale" in page  # the scale comes from the results folder's name
    claims = pd.read_csv(results / "report" / "claims.csv")
    assert set(claims["verdict"]) <= {"reproduced", "partly", "not", "not testable", "missing"}
    # Code stays in the executed notebooks, out of the page.
    assert "show_table(" not in page
    assert not any(name.startswith(".") for name in os.listdir(results / "report"))
    # No folder of this machine, no file outside the repository; the paper is cited.
    assert str(results.parent) not in page and str(results.resolve().parent) not in page
    assert "PAPER.md" not in page and "arXiv:2211.00170" in page


# ---------------------------------------------------------------- the report in a browser

CHROMIUM = shutil.which("chromium")
PAGE_WIDTH = 1200
MEASURE = Path(__file__).parent / "browser" / "measure.js"
# A float printed raw: a long integer part without separators ("800000.0"), or a binary tail
# ("0.30000000000000004", "1.0000000000000002").
RAW_FLOAT = re.compile(r"\d{4,}\.\d|\d\.\d{6,}")


def chromium(*arguments: str, profile: Path) -> str:
    """Run headless Chromium (no sandbox: CI runs as root), returning its standard output."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command.append(f"--user-data-dir={profile}")  # not the user's own profile
    done = subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def measure(page: Path, folder: Path) -> dict:
    """Load `page` with tests/browser/measure.js injected; its measurements of the laid-out page."""
    measured = folder / "measured.html"
    script = f"<script>{MEASURE.read_text()}</script></body>"
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", script, 1), encoding="utf-8")
    dom = chromium(
        f"--window-size={PAGE_WIDTH},900", "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw",
        "--dump-dom", measured.as_uri(), profile=folder / "profile",
    )  # fmt: skip
    found = re.search(r'<pre id="mf-measure">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the measuring script did not run"
    return json.loads(html.unescape(found[1]))


class Cells(HTMLParser):
    """The text of every table cell, and the header cells that mark a pandas index: any in a
    table's body (the index values) and empty ones (the index's blank column heading)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.body_headers = 0
        self.empty_headers = 0
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self._in_body = self._in_body or tag == "tbody"
        self.body_headers += tag == "th" and self._in_body
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        self._in_body = self._in_body and tag != "tbody"
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join(self._cell).strip()  # a value and its interval (after <br>) apart
            self.cells.append(text)
            self.empty_headers += tag == "th" and not text
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not on PATH; `make test` installs it as root (tests/browser/install-chromium.sh)",
)
def test_report_reads_well_in_a_browser(built_report, tmp_path):
    layout = measure(built_report, tmp_path)
    # The whole page, as a reader sees it; kept beside the test's other files for a look.
    screenshot = tmp_path / "report.png"
    chromium(
        f"--window-size={PAGE_WIDTH},{layout['height']}", f"--screenshot={screenshot}", built_report.as_uri(),
        profile=tmp_path / "profile",
    )  # fmt: skip
    assert screenshot.read_bytes()[:4] == b"\x89PNG", screenshot
    sections = [table["section"] for table in layout["tables"]]
    assert None not in sections, "a table outside the report's sections (a raw frame printed by a cell?)"
    for name in TABLES:
        assert f"table-{name}" in sections, name
    # Each table once: a section's parts follow each other, and no section comes back later.
    runs = [
        section for number, section in enumerate(sections) if number == 0 or sections[number - 1] != section
    ]
    assert len(runs) == len(set(runs)), runs
    figures = [figure["id"] for figure in layout["figures"]]
    assert sorted(figures) == sorted(f"figure-{name}" for name in FIGURES)
    captions = plots.read_figure_captions(built_report.parents[1] / "figures")
    for figure in layout["figures"]:
        assert figure["loaded"] and figure["caption"] == captions[figure["id"].removeprefix("figure-")], (
            figure
        )
    # Nothing wider than the page: no table reaches past it or scrolls sideways inside it.
    assert layout["scrollWidth"] <= layout["width"], (layout["scrollWidth"], layout["width"], screenshot)
    wide = [table for table in layout["tables"] if table["right"] > layout["width"] or table["scrolls"]]
    assert not wide, (wide, screenshot)
    # No pandas dump: no index column, no float printed raw.
    parser = Cells()
    parser.feed(built_report.read_text(encoding="utf-8"))
    assert parser.cells and parser.body_headers == 0 and parser.empty_headers == 0
    raw = [cell for cell in parser.cells if RAW_FLOAT.search(cell)]
    assert not raw, raw[:5]
