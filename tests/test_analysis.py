"""The analyses' entry points and their files, the training table, and the claims file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import synthetic_results as synthetic
from mathformer import cli
from mathformer.analysis import claims as claims_module
from mathformer.analysis.catalogue import OUTPUTS
from mathformer.analysis.catalogue import files as outputs_files
from mathformer.analysis.catalogue import names as outputs_names
from mathformer.analysis.claims import (
    claims_table,
    describe_rule,
    judge,
    load_claims,
    paper_values,
    parse_claim,
)
from mathformer.analysis.ood import ood_study
from mathformer.analysis.predictability import predictability
from mathformer.analysis.roughly_right import roughly_right
from mathformer.analysis.training import seed_spread, training_summary
from mathformer.formats.figure_index import FIGURE_INDEX
from mathformer.formats.tables import read_table, write_table

CLAIMS_FILE = Path(__file__).resolve().parents[1] / "config" / "claims.yaml"
# Every file the analyses write, from their one owner (mathformer.analysis.catalogue).
TABLES = {name for analysis in OUTPUTS for name in outputs_names(analysis, "table")}
FIGURES = {name for analysis in OUTPUTS for name in outputs_names(analysis, "figure")}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return synthetic.full_results(tmp_path_factory.mktemp("analysis"))


def test_training_table_reads_the_last_epoch_and_keeps_the_log(tmp_path):
    folder = synthetic.model_dir(tmp_path / "eigvec", "eigenvectors", [0.2, 0.8, 0.7])
    table = training_summary({"eigvec": folder}, tmp_path / "out")
    (row,) = table.to_dict("records")
    assert (row["run"], row["task"], row["n"], row["layers"], row["width"]) == (
        "eigvec",
        "eigenvectors",
        3,
        "2/1",
        64,
    )
    assert (row["examples"], row["minutes"]) == (3000, pytest.approx(4 / 60, abs=0.05))
    assert (row["valid_acc_5_pct"], row["valid_acc_2_pct"], row["best_valid_acc_5_pct"]) == (70.0, 35.0, 80.0)
    assert (tmp_path / "out" / "train_logs" / "eigvec.csv").read_bytes() == (
        folder / "train_log.csv"
    ).read_bytes()
    assert read_table(tmp_path / "out" / "tables" / "training.csv").equals(table)


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda log: log.drop(columns="valid_acc_2"), "lacks column(s) valid_acc_2"),
        (lambda log: log.iloc[:0], "has a header but no rows"),
        (lambda log: log.astype({"wall_seconds": object}).assign(wall_seconds="soon"), "not numbers in column(s) wall_seconds"),
    ],
)  # fmt: skip
def test_analyse_training_refuses_a_log_it_cannot_read_a_row_from(tmp_path, capsys, spoil, expected):
    folder = synthetic.model_dir(tmp_path / "eigvec", "eigenvectors", [0.2])
    log = folder / "train_log.csv"
    spoil(pd.read_csv(log)).to_csv(log, index=False)
    assert (
        cli.main(["analyse", "training", "--model", f"eigvec={folder}", "--out", str(tmp_path / "out")]) == 1
    )
    message = capsys.readouterr().err.splitlines()[-1]
    assert message.startswith(f"mathformer: error: training log {str(log)!r} ") and expected in message
    assert not (tmp_path / "out" / "tables").exists()


def test_seed_spread_summarises_each_group_of_seeds():

    table = pd.DataFrame(
        {"run": ["eig_s0", "eig_s1", "eig_s2", "inv", "one_s0"], "acc": [90.0, 92.0, 94.0, 50.0, 70.0]}
    )
    spread = seed_spread(table, "acc")
    assert list(spread["group"]) == ["eig"]  # inv has no seeds; one_s0 alone is no spread
    line = spread.iloc[0]
    assert (line["seeds"], line["mean"], line["sd"], line["min"], line["max"]) == (3, 92.0, 2.0, 90.0, 94.0)
    assert line["values"] == "90 92 94"


def test_analyses_write_every_contracted_file(results):
    written = {f"tables/{path.name}" for path in (results / "tables").iterdir()}
    figures = {path.name for path in (results / "figures").iterdir()} - {FIGURE_INDEX}
    written |= {f"figures/{name}" for name in figures}
    # Exactly what the workflow declares (analysis.smk builds its outputs from the same list); the
    # table of figures is shared by every analysis that draws one, so no single rule declares it.
    assert written == {path for analysis in OUTPUTS for _, path, _ in outputs_files(analysis)}
    assert TABLES >= {"roughly_right", "ood_accuracy_interval", "training"} and "roc_curves" in FIGURES
    for name in FIGURES:
        assert (results / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / "figures" / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
    ood = read_table(results / "tables" / "ood_accuracy.csv").set_index("train_spectrum")
    assert list(ood.index) == ["semicircle", "laplace"]  # eigval_ prefix dropped, paper order
    assert ood.loc["semicircle", "uniform"] == pytest.approx(20.0)


def test_entry_points_refuse_bad_input(tmp_path):
    table, _ = synthetic.inversion_predictions(count=50)
    path = synthetic.write_table(table, tmp_path / "inv.parquet", "inversion", 3)
    with pytest.raises(ValueError, match="eigenvectors"):
        roughly_right({"inv": path}, tmp_path / "out")
    with pytest.raises(ValueError, match="at least one run"):
        predictability({}, tmp_path / "out")
    with pytest.raises(ValueError, match="not a mathformer predictions table|cannot read"):
        predictability({"x": tmp_path / "missing.parquet"}, tmp_path / "out")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"run": "x"}))
    with pytest.raises(ValueError, match="accuracy"):
        ood_study({("a", "b"): bad}, {}, tmp_path / "out")


def claim(**changes) -> dict:
    entry = {
        "id": "c",
        "experiment": "E1",
        "description": "d",
        "paper": 92.0,
        "unit": "%",
        "measured": {
            "table": "roughly_right",
            "column": "accuracy_pct",
            "where": {"run": "E1", "tolerance_pct": 5},
        },
        "rule": {"kind": "within", "reproduced": 2, "partly": 5},
    }
    return entry | changes


def test_verdict_rules():
    within = {"kind": "within", "reproduced": 2, "partly": 5}
    assert [judge(within, value, 92.0) for value in (93.5, 88.0, 80.0, float("nan"))] == [
        "reproduced",
        "partly",
        "not",
        "missing",
    ]
    relative = {"kind": "within_relative", "reproduced": 0.1, "partly": 0.5}
    assert [judge(relative, value, 10.0) for value in (10.9, 14.0, 16.0)] == ["reproduced", "partly", "not"]
    at_least = {"kind": "at_least", "reproduced": 0.95, "partly": 0.85}
    assert [judge(at_least, value, "text") for value in (0.99, 0.9, 0.5)] == ["reproduced", "partly", "not"]
    at_most = {"kind": "at_most", "reproduced": 25, "partly": 50}
    assert [judge(at_most, value, "text") for value in (10, 30, 60)] == ["reproduced", "partly", "not"]
    assert describe_rule(within, "%") == "reproduced if |run - paper| <= 2 points; partly if <= 5 points"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rule": {"kind": "close", "reproduced": 1, "partly": 2}}, "unknown rule kind 'close'"),
        ({"rule": {"kind": "within", "reproduced": 5, "partly": 2}}, "looser"),
        ({"paper": "about 92"}, "numeric paper value"),
        ({"measured": {"table": "t", "column": "c", "reduce": "sum"}}, "unknown reduction 'sum'"),
        ({"verdict": "yes"}, "unknown key 'verdict'"),
    ],
)
def test_bad_claims_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        parse_claim(claim(**changes))


def test_claims_measure_through_roles_and_reductions(tmp_path):
    tables = tmp_path / "tables"
    write_table(
        pd.DataFrame(
            {"run": ["eigvec5", "other"], "tolerance_pct": [5.0, 5.0], "accuracy_pct": [91.0, 10.0]}
        ),
        tables,
        "roughly_right",
    )
    write_table(
        pd.DataFrame({"train_spectrum": ["laplace"], "a": [80.0], "b": [95.0]}), tables, "ood_accuracy"
    )
    document = {
        "runs": {"paper": {"E1": "eigvec5"}},
        "claims": [
            claim(),
            claim(
                id="min",
                paper="all",
                measured={
                    "table": "ood_accuracy",
                    "column": ["a", "b"],
                    "where": {"train_spectrum": "laplace"},
                    "reduce": "min",
                },
                rule={"kind": "at_least", "reproduced": 90, "partly": 70},
            ),
            claim(
                id="ratio",
                paper="faster",
                measured={"table": "ood_accuracy", "column": ["a", "b"], "reduce": "ratio_max_min"},
                rule={"kind": "at_least", "reproduced": 1.5, "partly": 1.1},
            ),
            claim(id="absent", measured={"table": "nowhere", "column": "x"}),
        ],
    }
    path = tmp_path / "claims.yaml"
    path.write_text(json.dumps(document))  # JSON is YAML
    table = claims_table(path, tmp_path, "paper").set_index("id")
    assert table.loc["c", "this_run"] == 91.0 and table.loc["c", "verdict"] == "reproduced"
    assert table.loc["min", "this_run"] == 80.0 and table.loc["min", "verdict"] == "partly"
    assert (
        table.loc["ratio", "this_run"] == pytest.approx(95 / 80) and table.loc["ratio", "verdict"] == "partly"
    )
    assert table.loc["absent", "verdict"] == "missing"
    # Without the role map the row is not found: missing, not an error.
    assert claims_table(path, tmp_path, "quick").set_index("id").loc["c", "verdict"] == "missing"


def test_a_claim_is_not_testable_below_its_matrix_size(tmp_path):
    tables = tmp_path / "tables"
    conditions = {"run": ["small", "large"], "n": [2, 3], "outcome": ["correct"] * 2, "mean": [1.0, 1.5]}
    write_table(pd.DataFrame(conditions), tables, "condition_numbers")
    testable = {"min_n": 3, "why": "a 2x2 rotation has condition number 1"}
    document = {
        "runs": {"quick": {"E1": "small"}, "paper": {"E1": "large"}},
        "claims": [
            claim(
                id="cond",
                paper=1.01,
                measured={
                    "table": "condition_numbers",
                    "column": "mean",
                    "where": {"run": "E1", "outcome": "correct"},
                },
                rule={"kind": "at_most", "reproduced": 1.015, "partly": 1.03},
                testable=testable,
            )
        ],
    }
    path = tmp_path / "claims.yaml"
    path.write_text(json.dumps(document))
    small = claims_table(path, tmp_path, "quick").set_index("id").loc["cond"]
    assert small["verdict"] == "not testable" and "2x2 rotation" in small["rule"] and small["this_run"] == 1.0
    # At n = 3 the same claim is judged, one-sided: 1.5 is above both bounds.
    assert claims_table(path, tmp_path, "paper").set_index("id").loc["cond", "verdict"] == "not"
    with pytest.raises(ValueError, match="'testable' needs min_n"):
        parse_claim(claim(testable={"min_n": 3}))


def test_ambiguous_claims_are_an_error(tmp_path):
    write_table(
        pd.DataFrame({"run": ["a", "b"], "accuracy_pct": [1.0, 2.0]}), tmp_path / "tables", "roughly_right"
    )
    ambiguous = parse_claim(claim(measured={"table": "roughly_right", "column": "accuracy_pct"}))
    with pytest.raises(ValueError, match="selects 2 cells"):
        claims_module.measure(ambiguous, tmp_path / "tables", {})


def test_every_claim_of_the_paper_points_at_a_column_the_analyses_write(results):
    roles, claims = load_claims(CLAIMS_FILE)
    assert {"paper", "quick", "smoke"} <= set(roles)
    assert {claim.experiment for claim in claims} == {"E1", "E2", "E3", "E4", "extension"}
    for claim_ in claims:
        assert claim_.table in TABLES, claim_.id
        header = read_table(results / "tables" / f"{claim_.table}.csv")
        # ood tables have a column per test spectrum; the synthetic study covers all seven.
        assert set(claim_.columns) <= set(header.columns), claim_.id
        assert set(claim_.where) <= set(header.columns), claim_.id
    # The synthetic results use the smoke names: E1 and E3 resolve, and the E1 accuracy is measured.
    table = claims_table(CLAIMS_FILE, results, "smoke").set_index("id")
    assert table.loc["E1-accuracy-5", "verdict"] != "missing"
    assert table.loc["E3-predictable-5", "verdict"] == "reproduced"
    assert table.loc["E4-laplace-generalizes", "verdict"] == "reproduced"
    assert table.loc["E2-6x6-predictable-5", "verdict"] == "missing"


def test_paper_values_come_from_the_claims_file_by_role():

    values = {
        (value.run, value.table, value.statistic, tuple(sorted(value.where.items()))): value.value
        for value in paper_values(CLAIMS_FILE, "smoke")
    }
    assert values[("eigvec", "roughly_right", "accuracy_pct", (("tolerance_pct", 5),))] == 92.0
    # Claims judged on an interval's end are about the statistic itself: p98_high -> p98.
    assert (
        values[("eigvec", "condition_numbers", "p98", (("outcome", "correct"), ("tolerance_pct", 5)))]
        == 1.031
    )
    assert (
        values[("eigvec", "condition_numbers", "p2", (("outcome", "failed"), ("tolerance_pct", 5)))] == 1.042
    )
    assert values[("eigvec_weak", "roughly_right", "accuracy_pct", (("tolerance_pct", 5),))] == 70
    # Text-only paper values have nothing to mark, and a role without a run at a scale neither.
    assert not any(run == "eigvec6" for run, *_ in values)
    assert all(isinstance(value, float) for value in values.values())
