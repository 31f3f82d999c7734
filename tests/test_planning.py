"""The run planning (mathformer.planning): what a workflow config asks for, without Snakemake."""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import pytest
import yaml

from mathformer.core.config import RunConfig, add_run_options, run_options_given
from mathformer.formats import results_layout as layout
from mathformer.formats import run_folder
from mathformer.formats.datasets import dataset_seed
from mathformer.planning.analyses import (
    analysis_outputs,
    failure_predictions,
    ood_logs,
    ood_summaries,
    scheduled_analyses,
    training_models,
)
from mathformer.planning.datasets import DataSet
from mathformer.planning.plan import Plan
from mathformer.planning.runs import load_runs, resolve_init_from, seed_run_names

ROOT = Path(__file__).resolve().parents[1]
E4_SPECTRA = ("semicircle", "uniform", "gaussian", "laplace", "positive", "positive2", "marcenko")


def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def paper() -> Plan:
    return Plan.from_config(paper_config())


def small_config(*rows: dict, **top) -> dict:
    """A complete config (as the schema leaves it) around the given run rows."""
    return {
        "scale": "tiny",
        "data": {"seed": 3, "valid_size": 10, "test_size": 20, "ood_size": 30},
        "ood": {"test_spectra": ["semicircle", "laplace"], "monitor": True},
        "evaluation": {"beam_size": 1},
        "run_defaults": {"n": 3, "enc_dim": 64, "enc_heads": 4},
        "runs": list(rows),
    } | top


# ---- the run table ------------------------------------------------------------------------------


def test_a_row_is_its_own_settings_over_the_defaults_over_the_run_configs():
    row = {
        "name": "a",
        "experiment": "E1",
        "task": "eigenvectors",
        "enc_dim": 32,
        "analyses": ["roughly_right"],
    }
    (run,) = load_runs([row], {"n": 3, "enc_dim": 64, "enc_heads": 4}).values()
    assert run.name == "a" and run.analyses == ("roughly_right",)
    assert (run.settings.n, run.settings.enc_dim, run.settings.enc_heads) == (3, 32, 4)
    assert run.settings.dec_dim == RunConfig(task="eigenvectors").dec_dim
    assert not run.keeps_weak and run.weights == ("model",)


def test_several_seeds_make_one_run_each_and_one_seed_keeps_the_name():
    assert seed_run_names("eig", None) == {"eig": None}
    assert seed_run_names("eig", [7]) == {"eig": 7}
    assert seed_run_names("eig", [0, 2]) == {"eig_s0": 0, "eig_s2": 2}
    runs = load_runs([{"name": "eig", "task": "eigenvalues", "seeds": [0, 2]}], {"seed": 5})
    assert {name: run.settings.seed for name, run in runs.items()} == {"eig_s0": 0, "eig_s2": 2}
    # `seeds` in run_defaults applies to every row; a row's own seed stays when it lists none.
    runs = load_runs([{"name": "x", "task": "inversion"}], {"seeds": [1, 2]})
    assert list(runs) == ["x_s1", "x_s2"]
    assert load_runs([{"name": "y", "task": "inversion", "seed": 4}], {})["y"].settings.seed == 4


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [{"name": "bad", "task": "eigenvalues", "enc_heads": 7}],
            "config run 'bad': enc_dim 64 is not divisible by enc_heads 7",
        ),
        (
            [{"name": "bad", "task": "eigenvalues", "spectrum": "wigner"}],
            "config run 'bad': unknown spectrum 'wigner'; allowed: semicircle, uniform",
        ),
        (
            [{"name": "bad", "task": "inversion", "analyses": ["ood"]}],
            "config run 'bad': analysis 'ood' does not apply to task 'inversion'; it applies to "
            "eigenvalues, eigenvectors, syminverse",
        ),
        (
            [{"name": "twice", "task": "inversion"}, {"name": "twice", "task": "eigenvalues"}],
            "run name 'twice' appears twice in config 'runs'; names must be unique",
        ),
        (
            [{"name": "a", "task": "inversion", "seeds": [0, 1]}, {"name": "a_s1", "task": "inversion"}],
            "run name 'a_s1' appears twice",
        ),
    ],
    ids=["bad-combination", "bad-choice", "wrong-analysis", "duplicate", "duplicate-by-seed"],
)
def test_a_bad_row_stops_the_plan_with_one_line_naming_the_run(rows, message):
    with pytest.raises(ValueError) as error:
        Plan.from_config(small_config(*rows))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_init_from_names_another_run_and_becomes_its_model_path():
    rows = [{"name": "inv5", "task": "inversion"}, {"name": "inv6", "task": "inversion", "init_from": "inv5"}]
    plan = Plan.from_config(small_config(*rows))
    assert plan.runs["inv6"].settings.init_from == "results/tiny/models/inv5/model.pt"
    assert plan.runs["inv5"].settings.init_from is None
    model_path = plan.paths.weights("inv5", Path(run_folder.MODEL).stem)
    assert plan.runs["inv6"].settings.init_from == model_path


@pytest.mark.parametrize("source", ["nowhere", "self"])
def test_init_from_must_name_another_run(source):
    runs = load_runs(
        [{"name": "a", "task": "inversion"}, {"name": "self", "task": "inversion", "init_from": source}], {}
    )
    message = rf"^config run 'self': init_from '{source}' is not another run; runs: a$"
    with pytest.raises(ValueError, match=message):
        resolve_init_from(runs, lambda name: f"models/{name}")


# ---- data sets ----------------------------------------------------------------------------------


def test_each_run_validates_on_its_own_problem_and_spectrum(paper):
    data = "results/paper/data"
    assert paper.valid_set("eigvec6") == f"{data}/eigenvectors/n6_uniform_A10/semicircle_valid.npz"
    assert paper.valid_set("eigval_laplace") == f"{data}/eigenvalues/n5_gaussian_A10/laplace_valid.npz"
    odd = Plan.from_config(small_config({"name": "r", "task": "inversion", "coeff_range": 0.1}))
    assert odd.valid_set("r") == "results/tiny/data/inversion/n3_uniform_A0.1/semicircle_valid.npz"


def pattern_regex(pattern: str) -> re.Pattern:
    """A results_layout pattern as Snakemake reads it: each placeholder a wildcard."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", re.escape(pattern)))


def dataset_wildcards(path: str) -> dict[str, str]:
    """The generate rule's wildcards for a data set's path."""
    match = pattern_regex(layout.DATASET).fullmatch(path)
    assert match, path
    return match.groupdict()


def test_a_sets_seed_comes_from_its_identity_as_its_path_spells_it(paper):
    seeds = {}
    for path in paper.all_datasets():
        wildcards = dataset_wildcards(path)
        assert wildcards.pop("scale") == "paper"
        seeds[path] = paper.data.seed_of(**wildcards)
    assert len(set(seeds.values())) == len(seeds) == 20
    test_set = DataSet("eigenvectors", 5, "uniform", 10.0, "semicircle", "test")
    path = paper.paths.dataset(test_set)
    assert dataset_wildcards(path) == {"scale": "paper", **test_set.path_fields()}
    assert seeds[path] == dataset_seed(0, "eigenvectors", "5", "uniform", "10", "semicircle", "test")
    other_base = Plan.from_config(paper_config() | {"data": {**paper_config()["data"], "seed": 1}})
    assert other_base.data.seed_of(**test_set.path_fields()) != seeds[path]


def test_a_set_has_the_size_of_its_role(paper):
    assert [paper.data.size(role) for role in ("valid", "test", "ood")] == [10000, 50000, 10000]


def test_runs_are_evaluated_on_the_sets_of_their_analyses(paper):
    sets = lambda name: [(dataset.spectrum, dataset.role) for dataset in paper.evaluation_sets(name)]  # noqa: E731
    assert sets("eigvec5") == [("semicircle", "test")]
    assert sets("inv5") == [("semicircle", "test")]
    assert sets("eigval_laplace") == [(spectrum, "ood") for spectrum in E4_SPECTRA]
    fed_nothing = Plan.from_config(small_config({"name": "r", "task": "inversion"}))
    assert fed_nothing.evaluation_sets("r") == []
    assert fed_nothing.all_datasets() == ["results/tiny/data/inversion/n3_uniform_A10/semicircle_valid.npz"]


def test_ood_runs_score_the_ood_sets_after_every_epoch(paper):
    laplace = paper.monitored_sets("eigval_laplace")
    assert list(laplace) == list(E4_SPECTRA)
    assert laplace["marcenko"] == "results/paper/data/eigenvalues/n5_gaussian_A10/marcenko_ood.npz"
    assert paper.monitored_sets("eigvec5") == {}
    # Without ood.monitor: only the semicircle set, on which the authors validate, and not for the
    # semicircle run, whose validation set it already is.
    config = paper_config()
    config["ood"]["monitor"] = False
    plan = Plan.from_config(config)
    assert list(plan.monitored_sets("eigval_laplace")) == ["semicircle"]
    assert plan.monitored_sets("eigval_semicircle") == {}


# ---- training -----------------------------------------------------------------------------------


def parsed(words: list[str]) -> RunConfig:
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    return RunConfig.from_dict(run_options_given(parser.parse_args(words)))


def test_train_flags_are_read_back_by_the_cli_as_the_runs_settings():
    config = paper_config()
    config["run_defaults"] |= {"compile": True, "target_accuracy": 0.95, "checkpoint_minutes": 2.5}
    inv5 = next(row for row in config["runs"] if row["name"] == "inv5")
    config["runs"].append({**inv5, "name": "inv6", "n": 6, "init_from": "inv5", "analyses": []})
    plan = Plan.from_config(config)
    for name, run in plan.runs.items():
        words = plan.train_arguments(name)
        # checkpoint_minutes is operational: the rule passes it apart (a resource, which Snakemake
        # does not watch), so that changing it retrains nothing.
        assert "--checkpoint-minutes" not in words
        assert parsed([*words, "--checkpoint-minutes", "2.5"]) == run.settings
    assert "--init-from results/paper/models/inv5/model.pt" in " ".join(plan.train_arguments("inv6"))


def test_only_runs_with_weak_accuracy_keep_and_evaluate_a_weak_snapshot(paper):
    assert paper.run_names(keeps_weak=True) == ["eigvec5"]
    assert len(paper.run_names(keeps_weak=False)) == 9
    assert paper.runs["eigvec5"].weights == ("model", "weak")
    assert "results/paper/models/eigvec5/weak.pt" in paper.all_models()


# ---- the paper's jobs and analyses --------------------------------------------------------------


def test_the_paper_config_is_10_models_20_sets_and_53_evaluations(paper):
    assert len(paper.runs) == 10 and len(paper.all_models()) == 11  # E1 keeps its weak snapshot
    assert len(paper.all_datasets()) == 20  # 10 validation, 3 failure-analysis test sets, 7 OOD
    evaluations = paper.all_evaluations()
    assert len(evaluations) == 2 * 53 and len(set(evaluations)) == len(evaluations)
    assert evaluations[:2] == [
        "results/paper/eval/eigvec5/model/semicircle_test.parquet",
        "results/paper/eval/eigvec5/model/semicircle_test.json",
    ]


def test_the_quick_config_is_the_paper_less_the_larger_matrices():
    quick = Plan.from_config(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text()))
    assert (len(quick.runs), len(quick.all_datasets()), len(quick.all_evaluations()) // 2) == (9, 18, 52)


def test_failure_analyses_read_every_model_of_their_runs_final_and_weak(paper):
    assert failure_predictions(paper, "roughly_right") == {
        "eigvec5": "results/paper/eval/eigvec5/model/semicircle_test.parquet",
        "eigvec5_weak": "results/paper/eval/eigvec5/weak/semicircle_test.parquet",
        "eigvec6": "results/paper/eval/eigvec6/model/semicircle_test.parquet",
    }
    predictability = failure_predictions(paper, "predictability")
    assert list(predictability) == ["eigvec5", "eigvec5_weak", "eigvec6", "inv5"]


def test_the_ood_analysis_reads_every_summary_and_log_of_its_runs(paper):
    summaries = ood_summaries(paper)
    assert len(summaries) == 49
    assert summaries["eigval_laplace/marcenko"] == "results/paper/eval/eigval_laplace/model/marcenko_ood.json"
    assert set(summaries.values()) <= set(paper.all_evaluations())
    assert ood_logs(paper)["eigval_uniform"] == "results/paper/models/eigval_uniform/train_log.csv"
    assert training_models(paper)["inv5"] == "results/paper/models/inv5"


def test_an_analysis_no_run_feeds_is_not_scheduled(paper):
    assert scheduled_analyses(paper) == ["roughly_right", "predictability", "ood", "training"]
    only_ood = Plan.from_config(small_config({"name": "e", "task": "eigenvalues", "analyses": ["ood"]}))
    assert scheduled_analyses(only_ood) == ["ood", "training"]
    assert all("roughly_right" not in path for path in analysis_outputs(only_ood))
    assert scheduled_analyses(Plan.from_config(small_config())) == []


def test_analysis_outputs_are_the_catalogues_files_and_the_log_copies(paper):
    outputs = analysis_outputs(paper)
    assert "results/paper/tables/roughly_right.csv" in outputs and len(outputs) == len(set(outputs))
    assert outputs[-10:] == [f"results/paper/train_logs/{name}.csv" for name in paper.runs]
    figures = analysis_outputs(paper, folder="figures")
    assert figures and all(path.startswith("results/paper/figures/") for path in figures)
    failures = analysis_outputs(paper, only=("roughly_right", "predictability"))
    assert "results/paper/figures/roc_curves.png" in failures
    assert "results/paper/tables/ood_accuracy.csv" not in failures


# ---- what the workflow relies on ----------------------------------------------------------------


def test_every_planned_path_matches_the_layout_pattern_a_rule_declares(paper):
    """Snakemake finds the rule of a file by its pattern: each path the plan asks for must match."""
    for paths, pattern in (
        (paper.all_datasets(), layout.DATASET),
        (paper.all_models(), layout.WEIGHTS),
        (paper.all_evaluations()[::2], layout.PREDICTIONS),
        (paper.all_evaluations()[1::2], layout.SUMMARY),
        ([paper.paths.report], layout.REPORT),
    ):
        for path in paths:
            assert pattern_regex(pattern).fullmatch(path), (path, pattern)


def test_the_plan_does_not_modify_its_config():
    config = paper_config()
    before = copy.deepcopy(config)
    Plan.from_config(config)
    assert config == before
