"""The gpu scale: config/gpu.yaml at the paper's sizes, its DAG, the claims' rule for it, and
benchmarks/gpu_scale.py (plan, run, assemble) end to end on a CPU with tiny models (slow)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from test_workflow import PAPER_JOBS, job_counts, shell_commands, snakemake

from mathformer.analysis.claims import claims_table, load_claims, load_paper_models, size_departures
from mathformer.core.config import RunConfig
from mathformer.formats.predictions import LIST_COLUMNS
from pipeline_runs import copy_working_tree

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_scale.py"
CLAIMS = ROOT / "config" / "claims.yaml"
# What must be the paper's at this scale: the problem, the matrix size and the model.
PAPER_KEYS = (
    "task", "n", "spectrum", "law", "coeff_range", "input_encoding", "enc_layers", "dec_layers",
    "enc_dim", "dec_dim", "enc_heads", "dec_heads", "weak_accuracy",
)  # fmt: skip


def run_settings(path: Path) -> dict[str, RunConfig]:
    config = yaml.safe_load(path.read_text())
    workflow_keys = ("name", "experiment", "analyses", "seeds")
    return {
        row["name"]: RunConfig.from_dict(
            {**config["run_defaults"], **{k: v for k, v in row.items() if k not in workflow_keys}}
        )
        for row in config["runs"]
    }


def gpu_script(*args: str | Path, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    """Run the copy of the script in `cwd` (it works in the checkout it lies in)."""
    script = cwd / SCRIPT.relative_to(ROOT)
    result = subprocess.run(
        [sys.executable, script, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"gpu_scale.py {' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


# ---- the config ------------------------------------------------------------------------------


def test_gpu_config_has_the_papers_runs_sizes_models_and_test_sets():
    paper, gpu = run_settings(ROOT / "config" / "config.yaml"), run_settings(ROOT / "config" / "gpu.yaml")
    assert list(gpu) == list(paper)
    for name, settings in gpu.items():
        assert {key: getattr(settings, key) for key in PAPER_KEYS} == {
            key: getattr(paper[name], key) for key in PAPER_KEYS
        }, name
    data = yaml.safe_load((ROOT / "config" / "gpu.yaml").read_text())["data"]
    assert (data["test_size"], data["ood_size"]) == (50_000, 10_000)
    # The claims name the same runs at gpu scale as at paper scale, and the paper's models in
    # the claims file are those of config/config.yaml.
    roles, _ = load_claims(CLAIMS)
    assert roles["gpu"] == roles["paper"]
    for role, model in load_paper_models(CLAIMS).items():
        runs = (
            [roles["paper"][role]]
            if role in roles["paper"]
            else [n for n, s in paper.items() if s.task == model["task"]]
        )
        for run in runs:
            settings = paper[run]
            assert (settings.task, settings.n, f"{settings.enc_layers}/{settings.dec_layers}", settings.enc_dim) == (
                model["task"], model["n"], model["layers"], model["width"]
            ), role  # fmt: skip


def test_gpu_config_plans_the_papers_dag():
    dry_run = snakemake(
        "-n", "-p", "--configfile", "config/gpu.yaml", "--workflow-profile", ROOT / "profiles" / "default"
    ).stdout
    assert job_counts(dry_run) == Counter(PAPER_JOBS)
    trainings = {re.search(r"models/(\w+)", c).group(1): c for c in shell_commands(dry_run, "train")}
    assert "--init-from results/gpu/models/eigvec5/model.pt" in trainings["eigvec6"]
    assert "--n-min 3" in trainings["eigvec5"] and "--output-encoding B1999" in trainings["eigvec5"]


# ---- the claims: number for number where the models are the paper's ---------------------------


def write_training_table(results: Path, rows: list[tuple[str, str, int, str, int]]) -> Path:
    tables = results / "tables"
    tables.mkdir(parents=True)
    frame = pd.DataFrame(rows, columns=["run", "task", "n", "layers", "width"])
    frame.to_csv(tables / "training.csv", index=False)
    return results


PAPER_SIZED = [
    ("eigvec5", "eigenvectors", 5, "6/1", 512),
    ("eigvec6", "eigenvectors", 6, "6/1", 512),
    ("inv5", "inversion", 5, "6/1", 516),
    ("eigval_laplace", "eigenvalues", 5, "6/1", 512),
]


def test_verdicts_check_the_pipeline_only_where_the_models_are_smaller_than_the_papers(tmp_path):
    # Whatever the scale's name: the paper's sizes are judged number for number...
    paper_sized = write_training_table(tmp_path / "gpu", PAPER_SIZED)
    assert size_departures(CLAIMS, paper_sized, "gpu") == []
    # ... and smaller models are named, even at a scale called gpu or paper.
    tiny = [(run, task, n, "1/1", 32) for run, task, n, _, _ in PAPER_SIZED]
    lines = size_departures(CLAIMS, write_training_table(tmp_path / "tiny", tiny), "gpu")
    assert len(lines) == 4 and lines[0].startswith("E1 (eigvec5): 5x5, 1/1 layers x 32; the paper's 5x5")
    small_e4 = [*PAPER_SIZED[:3], ("eigval_laplace", "eigenvalues", 2, "6/1", 512)]
    (line,) = size_departures(CLAIMS, write_training_table(tmp_path / "e4", small_e4), "paper")
    assert line.startswith("E4 (eigval_laplace): 2x2")


def test_an_experiment_not_run_at_gpu_scale_reads_missing(tmp_path):
    # No results at all: every claim is missing (never another scale's number).
    verdicts = claims_table(CLAIMS, tmp_path / "gpu", "gpu")
    assert set(verdicts["verdict"]) == {"missing"}


# ---- benchmarks/gpu_scale.py -------------------------------------------------------------------


def test_a_plan_is_the_workflows_commands_in_order_and_ships_only_the_selected_runs(tmp_path):
    plan_path = tmp_path / "plan.json"
    gpu_script("plan", "E2", "-o", plan_path)
    plan = json.loads(plan_path.read_text())
    assert plan["scale"] == "gpu" and plan["sources"] == ["eigvec5"]
    jobs = [(job["rule"], job["wildcards"].get("run"), job["ship"]) for job in plan["jobs"]]
    # E2's model starts from E1's: that one trains first, and is neither evaluated nor shipped.
    assert jobs.index(("train_keeping_weak", "eigvec5", False)) < jobs.index(("train", "eigvec6", True))
    assert [run for rule, run, _ in jobs if rule == "evaluate"] == ["eigvec6"]
    assert {rule for rule, _, _ in jobs} == {
        "generate", "train_keeping_weak", "train", "evaluate",
        "analyse_roughly_right", "analyse_predictability", "analyse_training",
    }  # fmt: skip
    assert not any(str(ROOT) in job["command"] for job in plan["jobs"])
    result = gpu_script("plan", "E9", "-o", plan_path, check=False)
    assert result.returncode == 2 and "'E9' is neither an experiment nor a run" in result.stderr


def test_a_run_stops_at_its_deadline_and_still_writes_what_it_has(tmp_path):
    plan = {
        "scale": "gpu", "selection": ["E1"], "sources": [], "commit": None, "config": {},
        "jobs": [{"rule": "train", "wildcards": {"run": "eigvec5"}, "inputs": [], "outputs": [],
                  "logs": [], "command": "sleep 120", "ship": True}],
    }  # fmt: skip
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    out = tmp_path / "out"
    result = gpu_script("run", plan_path, "--out", out, "--device", "cpu", "--deadline-s", "1", check=False)
    assert result.returncode == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "stopped at the deadline" and summary["jobs"][0]["seconds"] < 30
    assert (
        summary["parts"] == ["results.tar.gz.00"] and "deadline (1 s)" in (out / "gpu_scale.log").read_text()
    )


@pytest.mark.slow
def test_an_experiment_runs_end_to_end_with_tiny_models_and_assembles_into_a_report(tmp_path):
    """E1 and E2 of the gpu scale, tiny (weak snapshot, mixed sizes, a curriculum with init_from):
    planned here, run as on the GPU machine, then assembled by the workflow's analysis and report rules."""
    checkout = copy_working_tree(tmp_path / "checkout")
    out = tmp_path / "out"
    gpu_script("plan", "E1", "E2", "--small", "-o", "gpu-plan.json", cwd=checkout)
    gpu_script("run", "gpu-plan.json", "--out", out, "--device", "cpu", cwd=checkout)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done" and all(job["rc"] == 0 for job in summary["jobs"])
    evaluated = [(job["run"], job["weights"]) for job in summary["jobs"] if job["rule"] == "evaluate"]
    assert evaluated == [("eigvec5", "model"), ("eigvec5", "weak"), ("eigvec6", "model")]
    # What comes back fits the lent machine's limits, without weights and with reduced predictions.
    files = list(out.iterdir())
    assert len(files) <= 8 and all(path.stat().st_size <= 16 * 2**20 for path in files)
    with tarfile.open(out / "results.tar.gz.00") as tar:
        names = tar.getnames()
        assert not any(name.endswith((".pt", ".npz")) for name in names)
        parquet = tar.extractfile("results/gpu_small/eval/eigvec5/model/semicircle_test.parquet")
        assert not set(LIST_COLUMNS) & set(pq.read_schema(parquet).names)
    # As in a checkout that has only what came back (no data, no weights): the workflow's own
    # analysis and report rules redo the tables and the report from it.
    for folder in ("results/gpu_small", "logs/gpu_small"):
        shutil.rmtree(checkout / folder)
    gpu_script("assemble", out, "--small", cwd=checkout)
    results = checkout / "results" / "gpu_small"
    assert not list(results.glob("models/*/*.pt")) and not (results / "data").exists()
    training = pd.read_csv(results / "tables" / "training.csv")
    assert list(zip(training["run"], training["n"])) == [("eigvec5", 5), ("eigvec6", 6)]
    claims = pd.read_csv(results / "report" / "claims.csv").set_index("id")["verdict"]
    assert claims["E1-accuracy-5"] != "missing" and claims["E2-weak-accuracy-5"] != "missing"
    assert claims["E3-predictable-5"] == "missing" and claims["E4-laplace-generalizes"] == "missing"
    report = (results / "report" / "report.html").read_text()
    assert "some models are smaller than the paper" in report and "1/1 layers x 32" in report
