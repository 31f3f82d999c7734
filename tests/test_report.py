"""The papermill notebooks and the one-page HTML report."""

from __future__ import annotations

import ast
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import synthetic_results as synthetic
from mathformer.analysis.claims import VERDICTS
from mathformer.formats.figure_index import read_figure_captions
from mathformer.report.build import NOTEBOOK_ORDER, ReportError, build_report, concatenate, notebook_paths
from mathformer.report.dvc_metrics import metrics
from mathformer.report.headlines import headline, scale_note
from mathformer.report.html_tables import Label, table_html, verdict_mark
from mathformer.report.notebook import claims_view, locate
from mathformer.report.notes import learning_curves_note, paper_marks_note
from mathformer.report.views import view_of

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
            "gap_pct": [-0.0001, 1.0],
        }
    )
    markup = table_html(frame)
    for shown in ("92.0", "0.3", "0.988", "0.500", "800,000", "1,200,000", "n/a", "a&lt;b", "0.0"):
        assert f">{shown}<" in markup, shown
    assert "800000.0" not in markup and "0.30000000000000004" not in markup and ">-0.0<" not in markup
    assert "<th></th>" not in markup and 'class="dataframe"' not in markup  # no pandas index
    # Condition numbers: three decimals tell the paper's 1.031 from its 1.042; the tolerance keeps one.
    statistics = pd.DataFrame({"tolerance_pct": [5.0], "p98": [1.0312], "p2": [1.0418]})
    conditions = table_html(statistics, table="condition_numbers")
    assert ">5.0<" in conditions and ">1.031<" in conditions and ">1.042<" in conditions
    assert '<td class="text">c</td>' in markup and '<td class="num">' in markup  # text left, numbers right


def test_an_interval_prints_under_its_value_not_in_two_columns():
    frame = pd.DataFrame({"run": ["a"], "auc": [0.9], "auc_low": [0.85123], "auc_high": [0.95]})
    markup = table_html(frame)
    assert "auc_<wbr>low" not in markup and "auc_low" not in markup
    assert '0.900<br><span class="interval">0.851&ndash;0.950</span>' in markup


def test_headers_are_labels_and_columns_that_share_one_sit_under_it():
    frame = pd.DataFrame({"run": ["a"], "p2": [1.0], "p98": [2.0], "count": [3]})
    labels = {"p2": Label("2nd pct", "condition number"), "p98": Label("98th pct", "condition number")}
    markup = table_html(frame, labels)
    # Two header rows: the ungrouped columns span both, the group spans its two columns.
    assert '<th class="text" rowspan="2">run</th>' in markup
    assert '<th class="group" colspan="2">condition number</th>' in markup
    assert markup.index("condition number") < markup.index("2nd pct") < markup.index("98th pct")
    assert '<th class="num" rowspan="2">count</th>' in markup  # an unlabelled column: its name in words
    assert "<tr>" in table_html(frame) and "rowspan" not in table_html(frame)  # no group: one row


def test_verdicts_are_marked_by_symbol_and_word_beside_their_colour():
    marks = [verdict_mark(verdict) for verdict in VERDICTS]
    assert len(set(marks)) == len(VERDICTS)
    for verdict, mark in zip(VERDICTS, marks):
        assert f'class="verdict v-{verdict.replace(" ", "-")}"' in mark and verdict in mark
    assert verdict_mark("reproduced") in table_html(pd.DataFrame({"verdict": ["reproduced"]}))


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


def test_roughly_right_shows_the_headline_tolerance_and_the_failures_parts():
    view = view_of("roughly_right", _roughly_right_like())
    assert "tolerance_pct" not in view.frame
    assert len(view.frame) == 1 and view.frame["failures"].iloc[0] == 20 and "At 5 % tolerance" in view.title
    assert not any(column.startswith("all_") for column in view.frame)  # in the figure and the full table
    assert view.labels["failed_orthogonal_all_pairs_pct"] == Label(
        "orthogonality, all pairs", "share of decoded failures that get right (%)"
    )
    assert "failed_norms_pct_low" in view.frame  # the interval travels with its value


def _predictors_like() -> pd.DataFrame:
    rows = []
    for tolerance in (5.0, 1.0):
        for family, predictor, features, auc in (
            ("problem", "threshold", "input_cond", 0.6),
            ("problem", "logistic", "input_cond+min_eigengap", 0.7),
            ("prediction", "threshold", "pred_vectors_cond", 0.9),
            ("prediction", "logistic", "pred_vectors_cond+orthogonality", 0.85),
            ("confidence", "threshold", "surprisal", 0.65),
        ):
            rows.append({
                "run": "e", "n": 4, "task": "eigenvectors", "tolerance_pct": tolerance, "held_out_count": 150,
                "held_out_failure_pct": 20.0, "target_false_alarm_pct": 5.0, "feature_set": family,
                "predictor": predictor, "features": features, "auc": auc, "accuracy_pct": 80.0,
                "majority_accuracy_pct": 80.0, "caught_pct": 50.0, "false_alarm_pct": 5.0, "weights": "w",
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_failure_predictors_show_the_papers_predictor_and_the_best_of_each_family():
    view = view_of("failure_predictors", _predictors_like())
    rows = dict(zip(view.frame["row"], view.frame["features"]))
    # The paper's (a threshold on the predicted eigenvectors' condition number) is also the best
    # prediction feature: one row says both.
    assert rows == {
        "the paper's, best prediction": "pred_vectors_cond",
        "best problem": "input_cond+min_eigengap",
        "best confidence": "surprisal",
    }
    assert "weights" not in view.frame and "tolerance_pct" not in view.frame
    assert any("150 test matrices, 20.0 % failures" in note for note in view.notes)
    assert any("flag 5 % of the training half" in note for note in view.notes)


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


SMALLER = ["E1 (eigvec3): 3x3, 4/1 layers x 128; the paper's 5x5, 6/1 layers x 512"]


def test_each_result_opens_with_its_verdict_number_and_why():
    line = headline(_verdicts(), "quick", "1", "roughly right", ("A",), smaller=SMALLER)
    assert line.startswith(f'<p class="headline">{verdict_mark("partly")} <strong>Result 1')
    assert "partly reproduced" in line and "89.7\u00a0%" in line and "92\u00a0%" in line and "[A]" in line
    assert "at quick scale" in line and "docs/departures.md" in line
    # Models at the paper's sizes: a difference is not put down to scale, whatever the scale's name;
    # a reproduced claim needs no excuse.
    for scale in ("paper", "gpu", "quick"):
        assert "Why" not in headline(_verdicts(), scale, "1", "roughly right", ("A",), smaller=[])
    # A claim this run cannot test hands over to the next, and the line says why.
    line = headline(_verdicts(), "quick", "2", "predictable", ("B", "C"), smaller=SMALLER)
    assert "reproduced" in line and "0.880" in line and "Shown instead of B: not testable below n = 3" in line
    assert "Why it may differ" not in line
    with pytest.raises(ValueError, match="result 3: none of the claims Z"):
        headline(_verdicts(), "quick", "3", "ood", ("Z",), smaller=SMALLER)


def test_the_scale_note_says_pipeline_check_only_where_models_are_smaller_than_the_papers():
    note = scale_note("gpu", [])
    assert "number for number" in note and "pipeline" not in note
    note = scale_note("quick", SMALLER)
    assert "check that the pipeline" in note and "eigvec3" in note and "number for number" in note


def test_claims_print_in_their_units():
    view = claims_view(_verdicts())
    assert list(view["this_run"]) == ["89.7\u00a0%", "n/a", "0.880"]
    assert list(view["paper"]) == ["92\u00a0%", "a clean split", "ill-conditioned fail"]
    assert "unit" not in view


def test_dvc_metrics_are_the_verdict_counts_and_each_results_number():
    rows = [
        ("E1-failed-eigenvalues-norms-5", "%", 92.8946, "partly"),
        ("E1-predictable-5", "", float("nan"), "not testable"),
        ("E3-predictable-5", "", 0.84123, "reproduced"),
        ("E4-laplace-generalizes", "%", float("nan"), "missing"),
        ("E4-semicircle-does-not-generalize", "%", float("nan"), "missing"),
    ]
    verdicts = pd.DataFrame(
        [
            {"id": i, "unit": u, "this_run": v, "verdict": w, "paper": 1, "description": "d", "rule": "r"}
            for i, u, v, w in rows
        ]
    )
    # The number of the first claim this run measured, as the summary prints it; null for none.
    assert metrics(verdicts) == {
        "reproduced": 1, "partly": 1, "not": 0, "not testable": 1, "missing": 2,
        "result1": 92.9, "result2": 0.841, "result3": None,
    }  # fmt: skip


def _results_with(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> Path:
    results = tmp_path / "results" / "smoke"
    (results / "tables").mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_csv(results / "tables" / f"{name}.csv", index=False)
    return results


def test_a_figure_note_names_the_runs_the_paper_gives_numbers_for(tmp_path):
    runs = pd.DataFrame({"run": ["eigvec", "eigvec_weak", "eigvec_other"]})
    results = _results_with(tmp_path, {"roughly_right": runs, "condition_numbers": runs})
    note = paper_marks_note(CLAIMS, "smoke", results, "roughly_right", "Stars")
    assert note.startswith("Stars: the paper's values, on the panels of eigvec (the paper's E1), eigvec_weak")
    assert "None on eigvec_other: the paper gives no number for them." in note
    assert "None on the decoded-failures panels" in note  # the paper states those shares in words
    # The condition numbers' split is given for the 5x5 model (E1) only.
    note = paper_marks_note(CLAIMS, "smoke", results, "condition_numbers", "Dashed lines")
    assert (
        "on the panels of eigvec (the paper's E1). None on eigvec_weak (the paper's E2_weak), eigvec_other"
        in note
    )
    assert paper_marks_note(CLAIMS, "smoke", tmp_path, "roughly_right", "Stars") == ""  # no table, no note


def test_a_learning_curve_missing_by_design_is_explained(tmp_path):
    curves = pd.DataFrame(
        {
            "train_spectrum": ["semicircle", "laplace", "laplace", "uniform"],
            "evaluated_on": ["valid", "valid", "semicircle", "valid"],
        }
    )
    note = learning_curves_note(_results_with(tmp_path, {"examples_to_accuracy": curves}))
    assert "trained on semicircle has no semicircle test-set curve" in note and "by design" in note
    assert "trained on uniform has no semicircle test-set curve: its training log holds none." in note
    assert "laplace" not in note
    only_valid = curves[curves["evaluated_on"] == "valid"]
    assert learning_curves_note(_results_with(tmp_path / "b", {"examples_to_accuracy": only_valid})) == ""


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


def _notebook(path: Path, source: str) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(notebook, path)


def test_a_report_that_fails_leaves_the_old_one_whole(tmp_path):
    notebooks, results, out = tmp_path / "nb", tmp_path / "results" / "smoke", tmp_path / "report"
    notebooks.mkdir()
    (results / "tables").mkdir(parents=True)
    _notebook(notebooks / "first.ipynb", "print('the first report')")
    build_report(notebooks, results, CLAIMS, out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert {"first.ipynb", "report.html", "claims.csv", "metrics.json"} <= set(before)
    _notebook(notebooks / "second.ipynb", "raise RuntimeError('a broken notebook')")
    with pytest.raises(ReportError, match=r"notebook second\.ipynb failed .*a broken notebook"):
        build_report(notebooks, results, CLAIMS, out)
    # The first notebook ran again, but nothing of the new report reached the folder: only the
    # failed notebook, kept for reading, beside the old report.
    after = {path.name: path.read_bytes() for path in out.iterdir()}
    assert after.pop("second.failed.ipynb")
    assert after == before


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
    assert [
        int(number) for number in re.findall(r'<p class="headline">.{0,200}?<strong>Result (\d)', page)
    ] == [
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
    # The tables a reader sees: each names its full files; every header is a label, not a column name.
    for name in TABLES:
        assert page.count(f"<code>tables/{name}.csv</code>") == 1, name
    parser = Cells()
    parser.feed(page)
    raw = [header for header in parser.headers if re.search(r"\w_\w", header)]
    assert parser.headers and not raw, raw
    assert page.count('class="verdict v-') >= len(claims) + 3  # each claim, and each result's line


class Resources(HTMLParser):
    """What a page would fetch: the address of every element that loads something (scripts,
    stylesheets, images, frames, media, objects) and every url() and @import of its styles.
    Links a reader may follow (<a href>) load nothing."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src", "audio": "src",
             "embed": "src", "track": "src", "object": "data", "link": "href"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if values.get(self.LOADS.get(tag, "")):
            self.addresses.append(values[self.LOADS[tag]])
        self.addresses += re.findall(r"url\(\s*['\"]?([^'\")]+)", values.get("style") or "")
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = self._in_style and tag != "style"

    def handle_data(self, data):
        if self._in_style:
            css = re.sub(r"/\*.*?\*/", "", data, flags=re.DOTALL)  # comments load nothing
            self.addresses += re.findall(r"url\(\s*['\"]?([^'\")]+)", css)
            self.addresses += re.findall(r"@import\s+['\"]([^'\"]+)", css)


def external(addresses: list[str]) -> list[str]:
    """The addresses that reach out of the file: anything but data: URIs and in-page anchors."""
    return [address for address in addresses if not address.strip().startswith(("data:", "#"))]


def test_the_resource_check_sees_what_nbconvert_used_to_load():
    page = (
        '<script src="https://cdnjs.cloudflare.com/x/require.min.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/a.css"><img src="data:image/png;base64,AA">'
        '<style>/* https://in.a/comment */ @import "https://x/y.css"; p { background: url(https://x/z.png) }</style>'
        '<a href="https://arxiv.org/abs/2211.00170">the paper</a>'
    )
    parser = Resources()
    parser.feed(page)
    assert external(parser.addresses) == [
        "https://cdnjs.cloudflare.com/x/require.min.js", "//fonts.example/a.css", "https://x/z.png", "https://x/y.css",
    ]  # fmt: skip


@pytest.mark.slow
def test_report_loads_nothing_from_outside_the_file(built_report):
    # require.js, MathJax and mermaid came from a CDN: offline, or once the CDN moves, the page changed.
    page = built_report.read_text(encoding="utf-8")
    parser = Resources()
    parser.feed(page)
    assert parser.addresses and not external(parser.addresses), external(parser.addresses)
    assert "<script" not in page  # nothing to run: the page is its HTML, its style and its images


# ---------------------------------------------------------------- the report in a browser

CHROMIUM = shutil.which("chromium")
PAGE_WIDTH = 1200
MEASURE = Path(__file__).parent / "browser" / "measure.js"
# A float printed raw: a long integer part without separators ("800000.0"), or a binary tail
# ("0.30000000000000004", "1.0000000000000002").
RAW_FLOAT = re.compile(r"\d{4,}\.\d|\d\.\d{6,}")


# Chromium with the network off: no name resolves, and any address goes to a proxy that is not
# there. A page that needs anything from outside its file shows the difference.
OFFLINE = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def chromium(*arguments: str, profile: Path) -> str:
    """Run headless Chromium offline (no sandbox: CI runs as root), returning its standard output."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *OFFLINE]
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
        self.headers: list[str] = []
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
            if tag == "th":
                self.headers.append(text)
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
    # Offline, the page asked the network for nothing (nbconvert's CDN scripts would be listed here).
    assert layout["resources"] == [], layout["resources"]
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
    captions = read_figure_captions(built_report.parents[1] / "figures")
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
