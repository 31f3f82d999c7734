"""The paper's three analyses on synthetic inputs whose answers are known, and the claims file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synthetic_results as synthetic
from mathformer.analysis import claims as claims_module
from mathformer.analysis.catalogue import OUTPUTS
from mathformer.analysis.catalogue import files as outputs_files
from mathformer.analysis.catalogue import names as outputs_names
from mathformer.analysis.claims import claims_table, describe_rule, judge, load_claims, parse_claim
from mathformer.analysis.failures import (
    ROUGHLY_RIGHT_TOLERANCES,
    best_accuracy_threshold,
    condition_number_table,
    failure_predictors,
    inverse_distance_table,
    outcome_statistics,
    predictability,
    roughly_right,
    roughly_right_table,
    score_predictor,
    with_prediction_features,
)
from mathformer.analysis.ood import (
    accuracy_matrix,
    examples_to_accuracy,
    learning_curves,
    ood_study,
    short_names,
)
from mathformer.analysis.training import training_summary
from mathformer.core.problems import SPECTRA
from mathformer.figures import plots
from mathformer.formats.tables import format_cell, read_table, to_latex, to_markdown, write_table

CLAIMS_FILE = Path(__file__).resolve().parents[1] / "config" / "claims.yaml"
# Every file the analyses write, from their one owner (mathformer.analysis.catalogue).
TABLES = {name for analysis in OUTPUTS for name in outputs_names(analysis, "table")}
FIGURES = {name for analysis in OUTPUTS for name in outputs_names(analysis, "figure")}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return synthetic.full_results(tmp_path_factory.mktemp("analysis"))


def row(table: pd.DataFrame, **where) -> pd.Series:
    selected = table
    for key, value in where.items():
        selected = selected[selected[key] == value]
    assert len(selected) == 1, where
    return selected.iloc[0]


# ---------------------------------------------------------------- result 1


def test_roughly_right_counts_each_part_over_all_and_over_failures():
    errors = np.linspace(0.0, 0.3, 1000, endpoint=False)
    frame = pd.DataFrame(
        {
            "error": np.append(errors, [np.inf, np.inf]),  # two predictions that did not decode
            "decoded": np.append(np.ones(1000, bool), [False, False]),
            "eigenvalue_error_paper": np.append(np.zeros(1000), [np.nan, np.nan]),
            "norm_error_paper": np.append(np.zeros(1000), [np.nan, np.nan]),
            # Orthogonality breaks exactly as much as the task error: failures are the non-orthogonal ones.
            "orthogonality_paper": np.append(errors, [np.nan, np.nan]),
            # Over all pairs of columns, every prediction is twice as far from orthogonal.
            "orthogonality": np.append(2 * errors, [np.nan, np.nan]),
        }
    )
    table = roughly_right_table(frame, "toy")
    assert list(table["tolerance_pct"]) == pytest.approx([100 * t for t in ROUGHLY_RIGHT_TOLERANCES])
    for tolerance in ROUGHLY_RIGHT_TOLERANCES:
        line = row(table, tolerance_pct=100 * tolerance)
        correct = (errors < tolerance).sum()
        assert line["failures"] == 1002 - correct
        assert line["undecoded_failures"] == 2
        assert line["accuracy_pct"] == pytest.approx(100 * correct / 1002)
        # Over all predictions, undecoded ones count as wrong on every part.
        assert line["all_eigenvalues_pct"] == pytest.approx(100 * 1000 / 1002)
        assert line["all_orthogonal_pct"] == pytest.approx(line["accuracy_pct"])
        assert line["all_orthogonal_all_pairs_pct"] == pytest.approx(
            100 * (2 * errors < tolerance).sum() / 1002
        )
        # Over the decoded failures: all of them keep eigenvalues and norms, none orthogonality.
        assert line["failed_eigenvalues_norms_pct"] == 100.0
        assert line["failed_orthogonal_pct"] == 0.0


def test_roughly_right_on_eigenvectors_that_lose_orthogonality_only():
    table, broken = synthetic.eigenvector_predictions(count=400)
    frame = table.to_pandas()
    line = row(roughly_right_table(frame, "eig"), tolerance_pct=1.0)
    assert line["failures"] == broken.sum()  # at 1 % every broken prediction fails, and only those
    assert line["failed_eigenvalues_pct"] == line["failed_norms_pct"] == 100.0
    assert line["failed_orthogonal_pct"] == 0.0
    assert line["all_orthogonal_pct"] == pytest.approx(100 * (1 - broken.mean()))


# ---------------------------------------------------------------- result 2


def test_condition_of_eigenvector_failures_is_that_of_the_predicted_vectors():
    table, broken = synthetic.eigenvector_predictions(count=400)
    stats = condition_number_table(table.to_pandas(), "eigenvectors", "eig")
    correct = row(stats, tolerance_pct=1.0, outcome="correct")
    failed = row(stats, tolerance_pct=1.0, outcome="failed")
    assert correct["condition_of"] == "the predicted eigenvectors"
    assert correct["count"] == (~broken).sum() and failed["count"] == broken.sum()
    assert correct["max"] == pytest.approx(1.0)  # exact eigenvectors are orthogonal
    assert failed["min"] > correct["max"]


def test_outcome_statistics_keep_infinity_and_drop_nan():
    values = np.array([1.0, 2.0, 3.0, np.inf, np.nan, 5.0])
    failed = np.array([False, False, False, True, True, True])
    stats = outcome_statistics(values, failed).set_index("outcome")
    assert stats.loc["correct", "count"] == 3 and stats.loc["correct", "median"] == 2.0
    assert stats.loc["failed", "count"] == 2  # the NaN (an undecoded row) is left out
    assert stats.loc["failed", "max"] == np.inf and stats.loc["failed", "p98"] == np.inf
    empty = outcome_statistics(np.array([1.0]), np.array([False])).set_index("outcome")
    assert empty.loc["failed", "count"] == 0 and np.isnan(empty.loc["failed", "mean"])


def test_ill_conditioned_failures_are_predicted_perfectly():
    table, ill = synthetic.inversion_predictions(count=600)
    frame = with_prediction_features(table.to_pandas(), "inversion", 3)
    predictors, curves = failure_predictors(frame, "inversion", "inv", tolerance=0.05)
    for features in ("input_cond", "pred_inverse_cond"):
        line = row(predictors, predictor="threshold", features=features)
        assert line["auc"] == 1.0
        assert line["caught_pct"] == 100.0
    assert row(predictors, predictor="logistic", feature_set="problem")["auc"] == 1.0
    assert row(predictors, predictor="threshold", features="input_cond")["undecoded"] == 5
    # min_eigengap means nothing for a general matrix (all NaN) and is not used.
    assert "min_eigengap" not in set(predictors["features"])
    # The ROC figure's curves: the paper's predictor (cond of the input) and the best other feature.
    assert set(zip(curves["feature"], curves["role"])) == {
        ("input_cond", "paper"),
        ("pred_inverse_cond", "best other feature"),
    }
    distances = inverse_distance_table(frame, "inv")
    assert row(distances, tolerance_pct=5.0, outcome="failed")["median"] == pytest.approx(0.5)
    assert row(distances, tolerance_pct=5.0, outcome="correct")["max"] < 1e-9


def test_eigenvector_failures_are_predicted_from_the_prediction_not_the_problem():
    table, _ = synthetic.eigenvector_predictions(count=600)
    predictors, _ = failure_predictors(table.to_pandas(), "eigenvectors", "eig", tolerance=0.01)
    assert row(predictors, predictor="threshold", features="pred_vectors_cond")["auc"] == 1.0
    assert row(predictors, predictor="threshold", features="orthogonality")["accuracy_pct"] == 100.0
    # The broken rows were picked at random: problem features carry no signal.
    assert row(predictors, predictor="logistic", feature_set="problem")["auc"] < 0.7


def test_random_failures_give_chance_auc():
    rng = np.random.default_rng(3)
    count = 4000
    frame = pd.DataFrame(
        {
            "decoded": True,
            "error": rng.choice([0.0, 1.0], size=count),
            "input_cond": rng.lognormal(2, 1, count),
            "min_eigengap": rng.random(count),
            "spectral_spread": rng.random(count) * 30,
            "max_coefficient": rng.random(count) * 10,
        }
    )
    predictors, _ = failure_predictors(frame, "eigenvalues", "random")
    assert set(predictors["feature_set"]) == {"problem"}  # eigenvalue predictions have no features here
    assert np.all(np.abs(predictors["auc"] - 0.5) < 0.06)


def test_a_split_needs_both_outcomes():
    frame = pd.DataFrame({"decoded": True, "error": np.zeros(50), "input_cond": np.arange(1.0, 51.0)})
    predictors, curves = failure_predictors(frame, "inversion", "all-right")
    assert predictors.empty and curves.empty


def brute_force_best_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    candidates = np.concatenate(([-np.inf], scores))
    return max(np.mean((scores > t) == labels) for t in candidates)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=30))
def test_best_accuracy_threshold_is_the_best(pairs):
    scores = np.array([float(score) for score, _ in pairs])
    labels = np.array([label for _, label in pairs])
    threshold = best_accuracy_threshold(scores, labels)
    assert np.mean((scores > threshold) == labels) == pytest.approx(brute_force_best_accuracy(scores, labels))


def test_false_alarm_rate_is_set_on_training_rows_and_holds_on_held_out_rows():
    rng = np.random.default_rng(0)
    labels = rng.random(20000) < 0.3
    scores = rng.normal(size=20000) + 2.0 * labels
    score = score_predictor(
        scores[:10000], labels[:10000], scores[10000:], labels[10000:], false_alarm_rate=0.05
    )
    assert score.false_alarm == pytest.approx(0.05, abs=0.01)
    assert 0.6 < score.caught < 0.8  # P(N(2,1) > 1.645) ~ 0.64
    assert score.auc == pytest.approx(0.92, abs=0.02)


# ---------------------------------------------------------------- result 3


def test_ood_table_from_summaries(tmp_path):
    values = {
        (train, test): (i * 7 + j) / 100
        for i, train in enumerate(reversed(SPECTRA))
        for j, test in enumerate(SPECTRA)
    }
    del values[("laplace", "marcenko")]
    summaries = {
        pair: json.loads(path.read_text()) for pair, path in synthetic.ood_summaries(tmp_path, values).items()
    }
    table = accuracy_matrix(summaries, 0.05)
    assert list(table.columns) == ["train_spectrum", *SPECTRA]
    assert list(table["train_spectrum"]) == list(SPECTRA)  # the paper's order, whatever the input order
    indexed = table.set_index("train_spectrum")
    assert indexed.loc["uniform", "gaussian"] == pytest.approx(100 * values[("uniform", "gaussian")])
    assert np.isnan(indexed.loc["laplace", "marcenko"])
    strict = accuracy_matrix(summaries, 0.02).set_index("train_spectrum")
    assert strict.loc["uniform", "gaussian"] == pytest.approx(50 * values[("uniform", "gaussian")])


def test_run_names_shorten_to_their_spectrum():
    assert short_names(["eigval_laplace", "eigval_positive2"]) == {
        "eigval_laplace": "laplace",
        "eigval_positive2": "positive2",
    }
    assert short_names(["eigval_laplace"]) == {"eigval_laplace": "laplace"}
    assert short_names(["a_x", "a_x"]) == {"a_x": "x"}
    assert short_names(["run_", "run_b"]) == {
        "run_": "run_",
        "run_b": "run_b",
    }  # cutting would leave one empty


def test_seeded_run_names_shorten_to_their_spectrum_and_keep_the_seed():
    from mathformer.analysis.ood import spectrum_names, split_seed

    # The seeds of one spectrum alone share 'eigval_laplace_s': shortening must not eat the spectrum.
    assert spectrum_names(["eigval_laplace_s0", "eigval_laplace_s1"]) == {
        "eigval_laplace_s0": "laplace_s0",
        "eigval_laplace_s1": "laplace_s1",
    }
    assert spectrum_names(["eigval_laplace_s0", "eigval_uniform"]) == {
        "eigval_laplace_s0": "laplace_s0",
        "eigval_uniform": "uniform",
    }
    assert split_seed("laplace_s12") == ("laplace", 12) and split_seed("laplace") == ("laplace", None)


def test_examples_to_accuracy_from_a_training_log(tmp_path):
    fast = pd.read_csv(synthetic.train_log(tmp_path / "fast.csv", [0.1, 0.6, 0.92, 0.97]))
    slow = pd.read_csv(synthetic.train_log(tmp_path / "slow.csv", [0.05, 0.2, 0.55, 0.8]))
    curves = learning_curves({"uniform": slow, "laplace": fast})
    assert set(curves["evaluated_on"]) == {"valid", "semicircle"}
    assert set(curves["tolerance_pct"]) == {5.0, 2.0, 1.0, 0.5}
    table = examples_to_accuracy(curves)
    assert list(table["train_spectrum"]) == ["uniform", "uniform", "laplace", "laplace"]  # paper order
    laplace = row(table, train_spectrum="laplace", evaluated_on="valid")
    assert (laplace["examples_to_50_pct"], laplace["examples_to_90_pct"], laplace["examples_to_95_pct"]) == (
        2000,
        3000,
        4000,
    )
    assert laplace["final_accuracy_pct"] == pytest.approx(97.0)
    uniform = row(table, train_spectrum="uniform", evaluated_on="valid")
    assert uniform["examples_to_50_pct"] == 3000 and np.isnan(uniform["examples_to_90_pct"])
    # The semicircle test set scores half the validation accuracy in these logs: never 50 %.
    assert np.isnan(row(table, train_spectrum="laplace", evaluated_on="semicircle")["examples_to_50_pct"])


def test_learning_curves_need_examples():
    with pytest.raises(ValueError, match="examples"):
        learning_curves({"laplace": pd.DataFrame({"valid_acc_5": [0.5]})})


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


def test_training_table_refuses_a_log_without_accuracy(tmp_path):
    folder = synthetic.model_dir(tmp_path / "eigvec", "eigenvectors", [0.2])
    pd.read_csv(folder / "train_log.csv").drop(columns="valid_acc_2").to_csv(
        folder / "train_log.csv", index=False
    )
    with pytest.raises(ValueError, match="eigvec.*valid_acc_2"):
        training_summary({"eigvec": folder}, tmp_path / "out")
    assert not (tmp_path / "out" / "tables" / "training.csv").exists()


# ---------------------------------------------------------------- entry points and their files


def test_analyses_write_every_contracted_file(results):
    written = {f"tables/{path.name}" for path in (results / "tables").iterdir()}
    figures = {path.name for path in (results / "figures").iterdir()} - {plots.FIGURE_INDEX}
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


def test_predictability_of_an_all_correct_run_still_writes_its_files(tmp_path):
    table = synthetic.scored_table("inversion", *_exact_inverses(40))
    path = synthetic.write_table(table, tmp_path / "inv.parquet", "inversion", 3)
    tables = predictability({"perfect": path}, tmp_path / "out")
    assert tables["failure_predictors"].empty
    assert (tmp_path / "out" / "figures" / "roc_curves.png").is_file()
    assert row(tables["condition_numbers"], tolerance_pct=5.0, outcome="failed")["count"] == 0


def _exact_inverses(count: int):
    from mathformer.core.problems import Problem

    inputs, targets = Problem("inversion", n=3).sample(count, np.random.default_rng(0))
    return inputs, targets, targets.copy(), np.ones(count, dtype=bool)


# ---------------------------------------------------------------- tables


def test_cells_print_alike_in_every_format():
    assert format_cell(1.0104) == "1.0104"
    assert format_cell(99.94) == "99.94"
    assert format_cell(np.int64(1200000)) == "1,200,000"
    assert format_cell(1200000.0) == "1,200,000"
    assert format_cell(float("nan")) == "n/a"
    assert format_cell(float("inf")) == "inf"
    assert format_cell(pd.array([None], dtype="Int64")[0]) == "n/a"  # a run trained with one seed has none
    frame = pd.DataFrame({"name": ["a_b|c"], "share_pct": [12.345678]})
    assert "| a_b\\|c | 12.346 |" in to_markdown(frame)
    assert "---:" in to_markdown(frame)
    latex = to_latex(frame, caption="5 % & more", label="t")
    assert r"a\_b|c & 12.346 \\" in latex and r"\caption{5 \% \& more}" in latex and r"\label{tab:t}" in latex


def test_write_table_round_trips_through_csv(tmp_path):
    frame = pd.DataFrame({"run": ["a", "b"], "auc": [0.5, 1.0], "count": [3, 4]})
    paths = write_table(frame, tmp_path / "tables", "t", caption="A caption")
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["t.csv", "t.md", "t.tex"]
    pd.testing.assert_frame_equal(read_table(paths["csv"]), frame)
    assert paths["md"].read_text().startswith("A caption\n")


# ---------------------------------------------------------------- claims


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


def test_the_workflow_offers_each_analysis_for_the_tasks_it_accepts(tmp_path):
    from mathformer.analysis.catalogue import ANALYSIS_TASKS

    table, _ = synthetic.inversion_predictions(count=50)
    path = synthetic.write_table(table, tmp_path / "inv.parquet", "inversion", 3)
    assert "inversion" in ANALYSIS_TASKS["predictability"]
    predictability({"inv": path}, tmp_path / "out")  # accepted
    assert "inversion" not in ANALYSIS_TASKS["roughly_right"]
    with pytest.raises(ValueError, match="needs a predictions table of task eigenvectors"):
        roughly_right({"inv": path}, tmp_path / "out")


def test_figures_are_the_same_bytes_when_drawn_again(tmp_path):
    table, _ = synthetic.eigenvector_predictions(count=200)
    path = synthetic.write_table(table, tmp_path / "e.parquet", "eigenvectors", 4)
    roughly_right({"e": path}, tmp_path / "first")
    roughly_right({"e": path}, tmp_path / "second")
    for suffix in ("pdf", "png", "csv"):
        folder = "tables" if suffix == "csv" else "figures"
        first = (tmp_path / "first" / folder / f"roughly_right.{suffix}").read_bytes()
        assert first == (tmp_path / "second" / folder / f"roughly_right.{suffix}").read_bytes(), suffix


def test_the_models_confidence_is_a_third_family_of_failure_predictors():
    table, broken = synthetic.eigenvector_predictions(count=600)
    frame = table.to_pandas()
    rng = np.random.default_rng(5)
    # A decoder that is unsure exactly where it fails, plus noise: confidence alone predicts well.
    frame["surprisal"] = np.where(broken, 3.0, 0.3) * rng.lognormal(0.0, 0.3, len(frame))
    frame["min_token_prob"] = np.where(broken, 0.4, 0.95) * rng.uniform(0.8, 1.0, len(frame))
    predictors, curves = failure_predictors(frame, "eigenvectors", "eig", tolerance=0.05)
    confidence = row(predictors, feature_set="confidence", predictor="logistic")
    assert confidence["auc"] > 0.95 and confidence["auc_low"] <= confidence["auc"] <= confidence["auc_high"]
    combined = row(predictors, feature_set="confidence+condition", predictor="logistic")
    assert combined["features"] == "surprisal+min_token_prob+pred_vectors_cond"
    assert set(predictors.loc[predictors["feature_set"] == "confidence+condition", "predictor"]) == {
        "logistic"
    }
    assert row(curves.drop_duplicates("role"), role="paper")["feature"] == "pred_vectors_cond"


def test_seed_spread_summarises_each_group_of_seeds():
    from mathformer.analysis.training import seed_spread

    table = pd.DataFrame(
        {"run": ["eig_s0", "eig_s1", "eig_s2", "inv", "one_s0"], "acc": [90.0, 92.0, 94.0, 50.0, 70.0]}
    )
    spread = seed_spread(table, "acc")
    assert list(spread["group"]) == ["eig"]  # inv has no seeds; one_s0 alone is no spread
    line = spread.iloc[0]
    assert (line["seeds"], line["mean"], line["sd"], line["min"], line["max"]) == (3, 92.0, 2.0, 90.0, 94.0)
    assert line["values"] == "90 92 94"


def test_roughly_right_figure_draws_a_run_whose_failures_never_decode(tmp_path):
    # No decoded failure at any tolerance: every failed_* share and its interval is NaN.
    table = pd.DataFrame({"run": "a", "tolerance_pct": [0.5, 1.0, 5.0], "accuracy_pct": [0.0, 50.0, 100.0]})
    for column in ("accuracy_pct", "failed_eigenvalues_pct", "all_eigenvalues_pct"):
        values = table["accuracy_pct"] if column == "accuracy_pct" else pd.Series([np.nan] * 3)
        table[column] = values
        table[f"{column}_low"], table[f"{column}_high"] = values - 1, values + 1
    with plots.style():
        paths = plots.save_figure(plots.roughly_right_figure(table), tmp_path, "rr", "caption")
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- figures


def drawn(figure):
    """The figure laid out and drawn (constrained layout runs at draw time), for window extents."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).draw()
    return figure


def overlaps(first, second) -> bool:
    return first.x0 < second.x1 and second.x0 < first.x1 and first.y0 < second.y1 and second.y0 < first.y1


def legends(figure):
    return [
        *figure.legends,
        *(legend for sub in figure.subfigs for legend in sub.legends),
        *(ax.get_legend() for ax in figure.axes if ax.get_legend()),
    ]


def legend_texts(figure) -> list[str]:
    return [text.get_text() for legend in legends(figure) for text in legend.get_texts()]


def assert_legends_cover_no_axes(figure) -> None:
    renderer = figure.canvas.get_renderer()
    panels = data_axes(figure)
    assert panels
    for legend in legends(figure):
        box = legend.get_window_extent(renderer)
        for ax in panels:
            assert not overlaps(box, ax.get_window_extent(renderer)), legend_texts(figure)


def data_axes(figure):
    """The panels that show data (a legend row under a panel is an axes with no frame)."""
    return [ax for ax in figure.axes if ax.axison]


def test_paper_values_come_from_the_claims_file_by_role():
    from mathformer.analysis.claims import paper_values

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


def test_roughly_right_figure_marks_the_papers_values_and_names_runs_readably(tmp_path):
    from mathformer.analysis.claims import paper_values
    from mathformer.analysis.failures import roughly_right_marks

    table, _ = synthetic.eigenvector_predictions(count=200)
    frame = roughly_right_table(table.to_pandas(), "eigvec")
    marks = roughly_right_marks(
        [value for value in paper_values(CLAIMS_FILE, "smoke") if value.table == "roughly_right"]
    )
    with plots.style():
        figure = drawn(plots.roughly_right_figure(frame, {"eigvec": "eigenvectors 4x4 (80 %)"}, marks, 5.0))
    top = figure.axes[0]
    stars = [
        line
        for line in top.get_lines()
        if line.get_label() == plots.PAPER_LABEL and line.get_markeredgecolor() == "black"
    ]
    assert any(5.0 in line.get_xdata() and 92.0 in line.get_ydata() for line in stars)
    assert any(text.get_text() == "paper: 92 % at 5 %" for text in top.texts)
    assert top.get_title().startswith("eigenvectors 4x4 (80 %)") and "eigvec\n" not in top.get_title()
    assert "the paper's value" in legend_texts(figure)
    assert_legends_cover_no_axes(figure)
    # Failures have no paper values: their panel has no star.
    assert not any(line.get_label() == plots.PAPER_LABEL for line in figure.axes[1].get_lines())


def test_run_titles_say_weak_snapshot_seed_and_accuracy():
    from mathformer.analysis.failures import WEAK_NOTE, run_title, unique_titles

    weak = {"task": "eigenvectors", "n": 3, "model_file": "weak.pt"}
    assert run_title("eigvec3_weak", weak, 69.4) == "eigenvectors 3x3 (weak snapshot, 69 %)"
    assert (
        run_title("inv5_s1", {"task": "inversion", "n": 5, "model_file": "model.pt"}, 85.0)
        == "inversion 5x5 (seed 1, 85 %)"
    )
    assert unique_titles({"a": "x (1 %)", "b": "x (1 %)", "c": "y"}) == {
        "a": "x (1 %) [a]",
        "b": "x (1 %) [b]",
        "c": "y",
    }
    assert "weak_accuracy" in WEAK_NOTE


def test_failure_figures_name_weak_snapshots_and_explain_them_once(tmp_path, monkeypatch):
    table, _ = synthetic.eigenvector_predictions(count=200)
    paths = {
        "eigvec": synthetic.write_table(table, tmp_path / "eigvec.parquet", "eigenvectors", 4),
        "eigvec_weak": synthetic.write_table(
            table, tmp_path / "eigvec_weak.parquet", "eigenvectors", 4, model_file="weak.pt"
        ),
    }
    saved = {}
    monkeypatch.setattr(
        plots, "save_figure", lambda figure, folder, name, caption: saved.setdefault(name, (figure, caption))
    )
    roughly_right(paths, tmp_path / "smoke", claims=CLAIMS_FILE)
    figure, caption = saved["roughly_right"]
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[1].startswith("eigenvectors 4x4 (weak snapshot, ") and titles[0].startswith(
        "eigenvectors 4x4 ("
    )
    assert caption.count("weak_accuracy") == 1 and "test accuracy at 5 %" in caption
    # The results folder is named after the smoke scale, whose E1 is 'eigvec': its panel gets the paper's values.
    assert any(line.get_label() == plots.PAPER_LABEL for line in figure.axes[0].get_lines())
    saved.clear()
    roughly_right(paths, tmp_path / "smoke")  # without the claims file: no paper values to mark
    assert not any(
        line.get_label() == plots.PAPER_LABEL for line in saved["roughly_right"][0].axes[0].get_lines()
    )


def _histogram_frame(seed: int = 0) -> pd.DataFrame:
    """Eigenvector predictions whose cond - 1 is log-uniform over 1e-4..1 (correct below 1e-2),
    with a few far outliers for the end bins to take."""
    rng = np.random.default_rng(seed)
    cond_minus_one = 10 ** rng.uniform(-4, 0, 2000)
    cond_minus_one[:5] = 1e3  # beyond the 99.5th percentile: clipped into the last bin
    return pd.DataFrame(
        {
            "decoded": True,
            "error": np.where(cond_minus_one < 1e-2, 0.0, 1.0),
            "pred_vectors_cond": 1 + cond_minus_one,
        }
    )


def test_condition_histogram_counts_the_values_its_end_bins_take():
    from mathformer.analysis.failures import condition_histogram

    histogram = condition_histogram(_histogram_frame(), "eigenvectors", "eig")
    failed, correct = (
        histogram[histogram["outcome"] == outcome].iloc[0] for outcome in ("failed", "correct")
    )
    # The bins stop at the pooled 99.5th percentile: the 5 outliers (log 3) and ~5 of the largest others lie beyond.
    assert histogram["bin_right"].max() < 3 and 5 <= failed["clipped_high"] <= 11
    assert correct["clipped_high"] == 0 and failed["clipped_low"] == 0 and 5 <= correct["clipped_low"] <= 11
    assert (histogram["offset"] == 1.0).all() and histogram["condition_of"].iloc[
        0
    ] == "the predicted eigenvectors"


def test_condition_histograms_mark_the_papers_split_and_keep_ticks_apart():
    from mathformer.analysis.claims import paper_values
    from mathformer.analysis.failures import condition_histogram, condition_marks

    histogram = pd.concat(
        [
            condition_histogram(_histogram_frame(), "eigenvectors", "eigvec"),
            condition_histogram(_histogram_frame(1), "eigenvectors", "other"),
        ]
    )
    marks = condition_marks(
        [value for value in paper_values(CLAIMS_FILE, "smoke") if value.table == "condition_numbers"]
    )
    assert sorted(marks["value"]) == [1.031, 1.042]  # the split at 5 %, not the means or extremes
    with plots.style():
        figure = drawn(
            plots.condition_histograms_figure(histogram, {"eigvec": "eigenvectors 5x5 (92 %)"}, marks)
        )
    ax = figure.axes[0]
    paper_lines = {
        line.get_label(): line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label().startswith("paper")
    }
    assert paper_lines == {
        "paper: correct 98th pct 1.031": pytest.approx(np.log10(0.031)),
        "paper: failed 2nd pct 1.042": pytest.approx(np.log10(0.042)),
    }
    assert not any(
        line.get_label().startswith("paper") for line in data_axes(figure)[1].get_lines()
    )  # no claim about that run
    first = histogram[histogram["run"] == "eigvec"]
    clipped = first.groupby("outcome")["clipped_high"].first().sum()
    note = f"last bin also holds {clipped} values with cond − 1 ≥ {10 ** first['bin_right'].max():.3g}"
    assert clipped >= 5 and note in legend_texts(figure)
    renderer = figure.canvas.get_renderer()
    for axes in data_axes(figure):
        boxes = [
            label.get_window_extent(renderer)
            for label in axes.get_xticklabels()
            if label.get_text() and label.get_visible()
        ]
        assert len(boxes) >= 2
        assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # Neighbouring panels' axis labels do not run into each other either.
    first, second = (axes.xaxis.label.get_window_extent(renderer) for axes in data_axes(figure))
    assert not overlaps(first, second)
    assert_legends_cover_no_axes(figure)


def test_roc_figure_shows_the_papers_predictor_with_its_auc():
    table, _ = synthetic.eigenvector_predictions(count=400)
    _, curves = failure_predictors(table.to_pandas(), "eigenvectors", "eig", tolerance=0.05)
    assert set(curves["role"]) == {"paper", "best other feature"}
    from mathformer.analysis.failures import FEATURE_NAMES

    with plots.style():
        figure = drawn(plots.roc_figure(curves, {"eig": "eigenvectors 4x4 (80 %)"}, FEATURE_NAMES))
    texts = legend_texts(figure)
    assert any(
        text.startswith("cond of the predicted eigenvectors (the paper's predictor)\nAUC 1.000 [")
        for text in texts
    )
    assert sum("AUC" in text for text in texts) == 2
    assert_legends_cover_no_axes(figure)


def _seeded_summaries(tmp_path) -> dict:
    values = {
        ("laplace_s0", "laplace"): 0.9,
        ("laplace_s1", "laplace"): 0.8,
        ("laplace_s0", "uniform"): 0.7,
        ("laplace_s1", "uniform"): 0.5,
    }
    values |= {("uniform", "laplace"): 0.3, ("uniform", "uniform"): 0.95}
    return {
        pair: json.loads(path.read_text()) for pair, path in synthetic.ood_summaries(tmp_path, values).items()
    }


def test_ood_tables_fold_seeds_into_their_mean_and_spread(tmp_path):
    from mathformer.analysis.ood import accuracy_intervals

    summaries = _seeded_summaries(tmp_path)
    matrix = accuracy_matrix(summaries, 0.05).set_index("train_spectrum")
    assert list(matrix.index) == ["uniform", "laplace"]  # one row per spectrum, the paper's order
    assert matrix.loc["laplace", "laplace"] == pytest.approx(85.0) and matrix.loc[
        "laplace", "uniform"
    ] == pytest.approx(60.0)
    table = accuracy_intervals(summaries, 0.05)
    seeded = table[(table["train_spectrum"] == "laplace") & (table["test_spectrum"] == "uniform")]
    assert list(seeded["seed"]) == [0, 1] and list(seeded["accuracy_pct"]) == pytest.approx([70.0, 50.0])
    assert (seeded["seeds"] == 2).all() and seeded["seed_mean_pct"].iloc[0] == pytest.approx(60.0)
    assert seeded["seed_sd_pct"].iloc[0] == pytest.approx(np.std([70.0, 50.0], ddof=1))
    assert (seeded["seed_min_pct"].iloc[0], seeded["seed_max_pct"].iloc[0]) == (
        pytest.approx(50.0),
        pytest.approx(70.0),
    )
    # The pooled interval is that of 120 successes in 200 matrices.
    low, high = synthetic.wilson(120, 200)
    assert (seeded["pooled_pct_low"].iloc[0], seeded["pooled_pct_high"].iloc[0]) == (
        pytest.approx(100 * low),
        pytest.approx(100 * high),
    )
    single = row(table, train_spectrum="uniform", test_spectrum="uniform")
    assert pd.isna(single["seed"]) and single["seeds"] == 1 and np.isnan(single["seed_sd_pct"])
    assert (single["pooled_pct_low"], single["pooled_pct_high"]) == (
        single["accuracy_pct_low"],
        single["accuracy_pct_high"],
    )


def test_ood_heatmap_writes_intervals_and_outlines_the_diagonal(tmp_path):
    from matplotlib.patches import Rectangle

    from mathformer.analysis.ood import accuracy_intervals

    summaries = _seeded_summaries(tmp_path)
    table = accuracy_intervals(summaries, 0.05).drop_duplicates(["train_spectrum", "test_spectrum"])
    cells = table[["train_spectrum", "test_spectrum", "pooled_pct_low", "pooled_pct_high", "seeds"]]
    cells = cells.set_axis(["train_spectrum", "test_spectrum", "low", "high", "seeds"], axis=1)
    with plots.style():
        figure = plots.ood_heatmap_figure(accuracy_matrix(summaries, 0.05), 5.0, cells)
    ax = figure.axes[0]
    texts = [text.get_text() for text in ax.texts]
    expected = row(table, train_spectrum="laplace", test_spectrum="uniform")
    assert f"60.0\n[{expected['pooled_pct_low']:.1f}, {expected['pooled_pct_high']:.1f}]" in texts
    outlined = [
        (patch.get_x() + 0.5, patch.get_y() + 0.5) for patch in ax.patches if isinstance(patch, Rectangle)
    ]
    assert sorted(outlined) == [(0.0, 0.0), (1.0, 1.0)]  # rows and columns both uniform, laplace
    columns = [label.get_text() for label in ax.get_xticklabels()]
    rows_ = [label.get_text() for label in ax.get_yticklabels()]
    assert rows_ == ["uniform", "laplace\n(mean of 2 seeds)"]
    assert all(rows_[int(y)].split("\n")[0] == columns[int(x)] for x, y in outlined)
    with plots.style():
        plain = plots.ood_heatmap_figure(accuracy_matrix(summaries, 0.05), 5.0)
    assert not any("[" in text.get_text() for text in plain.axes[0].texts)
    # An interval is written only where it fits its cell.
    assert plots._interval_fits(75.0, "[79.4, 89.3]") and not plots._interval_fits(30.0, "[79.4, 89.3]")


def test_learning_curves_of_several_seeds_are_a_mean_with_a_band(tmp_path):
    from matplotlib.collections import PolyCollection

    from mathformer.analysis.ood import seed_bands

    logs = {
        "laplace_s0": pd.read_csv(synthetic.train_log(tmp_path / "a.csv", [0.2, 0.6, 0.9])),
        "laplace_s1": pd.read_csv(
            synthetic.train_log(tmp_path / "b.csv", [0.4, 0.8])
        ),  # stopped an epoch early
        "uniform": pd.read_csv(synthetic.train_log(tmp_path / "c.csv", [0.1, 0.3, 0.5])),
    }
    curves = learning_curves(logs)
    assert set(curves["train_spectrum"]) == {"laplace", "uniform"} and set(curves["seed"].dropna()) == {0, 1}
    bands = seed_bands(curves[(curves["tolerance_pct"] == 5.0) & (curves["evaluated_on"] == "valid")])
    laplace = bands[bands["train_spectrum"] == "laplace"]
    assert list(laplace["examples"]) == [1000, 2000]  # only where both seeds got to
    assert list(laplace["accuracy_pct"]) == pytest.approx([30.0, 70.0]) and list(
        laplace["accuracy_pct_max"]
    ) == pytest.approx([40.0, 80.0])
    assert (laplace["seeds"] == 2).all() and (
        bands.loc[bands["train_spectrum"] == "uniform", "seeds"] == 1
    ).all()
    with plots.style():
        figure = plots.learning_curves_figure(bands, [("valid", "validation")], 5.0)
    ax = figure.axes[0]
    assert len([child for child in ax.collections if isinstance(child, PolyCollection)]) == 1  # laplace only
    assert "laplace (mean of 2 seeds)" in legend_texts(
        figure
    ) and "band: min to max over seeds" in legend_texts(figure)
    # Examples to an accuracy stay per seed: spectra in the paper's order, then seeds.
    valid = examples_to_accuracy(curves).query("evaluated_on == 'valid'")
    assert [
        (spectrum, None if pd.isna(seed) else int(seed))
        for spectrum, seed in zip(valid["train_spectrum"], valid["seed"])
    ] == [("uniform", None), ("laplace", 0), ("laplace", 1)]
