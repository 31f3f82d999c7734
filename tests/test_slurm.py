"""profiles/slurm on a real single-node SLURM cluster (tests/cluster/start-slurm.sh).

The smoke pipeline goes through `--profile profiles/slurm --workflow-profile tests/cluster/profile`
(the test profile adds what this cluster needs: squeue status checks, its partition, no GPU) and
must give what a local run gives. A toy rule then shows the pre-emption path of the training rule:
SIGUSR1 before the time limit reaches the rule's process, it exits non-zero after saving its
state outside the declared outputs, and Snakemake's retry resubmits it and it resumes.

The cluster needs root (packages, daemons). Without root the tests run only against a cluster
that is already up. The fixture stops the cluster at the end only if it started it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline_runs import (
    ROOT,
    copy_smoke_config,
    failure_analysis_targets,
    run,
    smoke_config,
    snakemake,
    tool_env,
)

CLUSTER = ROOT / "tests" / "cluster"
SLURM_PROFILE = ROOT / "profiles" / "slurm"
CLUSTER_PROFILE = CLUSTER / "profile"
CPU_PROFILE = ROOT / "profiles" / "cpu"
STATE_DIR = Path(os.environ.get("SLURM_LOCAL_STATE", "/tmp/mathformer-slurm"))
DAEMONS = {
    "munged": STATE_DIR / "munge/run/munged.pid",
    "slurmctld": STATE_DIR / "run/slurmctld.pid",
    "slurmd": STATE_DIR / "run/slurmd.pid",
}


def daemon_running(name: str) -> bool:
    """The same test as the scripts: the pid file names a live process of that program."""
    try:
        pid = DAEMONS[name].read_text().strip()
        return Path(f"/proc/{pid}/comm").read_text().strip() == name
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    """Start the cluster unless it runs already; stop it at the end only if it was started here."""
    already_running = {name for name in DAEMONS if daemon_running(name)}
    if os.geteuid() != 0 and already_running != set(DAEMONS):
        pytest.skip(
            "a local SLURM cluster needs root to install and start; "
            "run `sudo tests/cluster/start-slurm.sh` first to test without root"
        )
    run(["bash", CLUSTER / "start-slurm.sh", STATE_DIR], cwd=ROOT, timeout_s=300)
    yield tool_env(SLURM_CONF=str(STATE_DIR / "etc" / "slurm.conf"))
    if not already_running:
        # The script stops the daemons its pid files name: the ones started above.
        run(["bash", CLUSTER / "stop-slurm.sh", STATE_DIR], cwd=ROOT, timeout_s=60)


def cluster_jobs(env: dict[str, str], workdir: Path) -> list[dict[str, str]]:
    """Every job this cluster knows (finished ones stay listed for MinJobAge) run in `workdir`."""
    listing = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%Z"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = [
        dict(zip(("id", "state", "comment", "workdir"), line.split("|"))) for line in listing.splitlines()
    ]
    return [job for job in jobs if Path(job["workdir"]) == workdir]


def cancel_leftover_jobs(env: dict[str, str], workdir: Path) -> None:
    """A killed Snakemake leaves its queued jobs behind; cancel those of `workdir` only."""
    left = [job["id"] for job in cluster_jobs(env, workdir) if job["state"] in ("PENDING", "RUNNING")]
    if left:
        subprocess.run(["scancel", *left], env=env, check=False)


def submitted_rules(log: str) -> Counter:
    """Jobs per rule from the 'Job stats' table Snakemake prints before it starts."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    counts = Counter({line.split()[0]: int(line.split()[1]) for line in table if line.split()})
    counts.pop("total", None)
    return counts


@pytest.mark.slow
def test_the_smoke_pipeline_runs_through_slurm_as_it_runs_locally(cluster_env, tmp_path):
    targets = failure_analysis_targets()
    local = copy_smoke_config(tmp_path / "local")
    on_slurm = copy_smoke_config(tmp_path / "slurm")

    run(snakemake("--directory", local, "--workflow-profile", CPU_PROFILE, *targets), cwd=ROOT, timeout_s=150)
    try:
        result = run(
            snakemake(
                "--directory",
                on_slurm,
                "--profile",
                SLURM_PROFILE,
                "--workflow-profile",
                CLUSTER_PROFILE,
                *targets,
            ),
            cwd=ROOT,
            timeout_s=240,
            env=cluster_env,
        )
    finally:
        cancel_leftover_jobs(cluster_env, on_slurm)

    # Each job Snakemake scheduled is a COMPLETED SLURM job, started in that directory and tagged
    # with its rule, and its SLURM log is kept under logs/slurm/.
    scheduled = submitted_rules(result.stdout + result.stderr)
    jobs = cluster_jobs(cluster_env, on_slurm)
    submitted = Counter(job["comment"].split("_wildcards_")[0].removeprefix("rule_") for job in jobs)
    assert {"generate", "train", "train_keeping_weak", "evaluate"} <= set(scheduled)
    # The evaluations are one bundle (group "evaluation", profiles/slurm): one SLURM job for all 3.
    assert scheduled.pop("evaluate") == 3 and submitted.pop("evaluation_evaluate") == 1
    assert submitted == scheduled
    assert {job["state"] for job in jobs} == {"COMPLETED"}
    logs = {path.stem for path in (on_slurm / "logs" / "slurm").rglob("*.log")}
    assert logs == {job["id"] for job in jobs}
    assert not cluster_jobs(cluster_env, local), "the local run must not have submitted anything"

    # Same bytes for the datasets; same training and predictions (CPU, same seeds, one thread each).
    results = Path("results") / smoke_config()["scale"]
    datasets = sorted(path.relative_to(local) for path in (local / results / "data").rglob("*.npz"))
    assert datasets and datasets == sorted(
        p.relative_to(on_slurm) for p in (on_slurm / results / "data").rglob("*.npz")
    )
    for path in datasets:
        assert (local / path).read_bytes() == (on_slurm / path).read_bytes(), path
    for train_log in (local / results / "models").glob("*/train_log.csv"):
        expected = pd.read_csv(train_log).drop(columns="wall_seconds")
        actual = pd.read_csv(on_slurm / train_log.relative_to(local)).drop(columns="wall_seconds")
        pd.testing.assert_frame_equal(actual, expected)
    for weights in (local / results / "models").glob("*/*.pt"):
        expected = torch.load(weights, map_location="cpu", weights_only=False)["state_dict"]
        actual = torch.load(on_slurm / weights.relative_to(local), map_location="cpu", weights_only=False)[
            "state_dict"
        ]
        assert expected.keys() == actual.keys()
        assert all(torch.equal(actual[name], expected[name]) for name in expected), weights
    for target in targets:
        assert json.loads((on_slurm / target).read_text()) == json.loads((local / target).read_text()), target
        expected = pd.read_parquet(local / target.replace(".json", ".parquet"))
        actual = pd.read_parquet(on_slurm / target.replace(".json", ".parquet"))
        assert (actual["decoded"] == expected["decoded"]).all()
        np.testing.assert_array_equal(np.stack(actual["prediction"]), np.stack(expected["prediction"]))


TOY_SNAKEFILE = r"""
# Stands in for the trainer: saves its state outside the declared output when SLURM warns it
# (SIGUSR1) or kills it (SIGTERM), exits 75, and finishes when rerun with that state present.
rule train:
    output: "model.txt"
    resources: gpu=1
    shell:
        "if [ -e ckpt/state ]; then echo resumed after $(cat ckpt/state) > {output}; exit 0; fi; "
        "mkdir -p ckpt; trap 'echo USR1 > ckpt/state; exit 75' USR1; "
        "trap 'echo TERM > ckpt/state; exit 75' TERM; sleep 300 & wait"
"""


@pytest.mark.slow
def test_training_is_warned_before_its_time_limit_and_resumed_by_a_retry(cluster_env, tmp_path):
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    # The test profile's training settings with a 2-minute limit and the warning 50 s before it.
    # SLURM may send the signal up to 60 s early, so it comes 10 to 70 s into the job: after the
    # rule has started (a signal before its trap would just kill it), and before the limit.
    shorter = ["train:gpu=0", "train:runtime=2", "train:mem_mb=500", "train:slurm_extra='--signal=USR1@50'"]
    command = snakemake(
        "--profile",
        SLURM_PROFILE,
        "--workflow-profile",
        CLUSTER_PROFILE,
        "--set-resources",
        *shorter,
        snakefile=tmp_path / "Snakefile",
    )
    try:
        run(command, cwd=tmp_path, timeout_s=240, env=cluster_env)
    finally:
        cancel_leftover_jobs(cluster_env, tmp_path)

    assert (tmp_path / "model.txt").read_text().strip() == "resumed after USR1"
    jobs = cluster_jobs(cluster_env, tmp_path)
    assert [job["state"] for job in sorted(jobs, key=lambda job: int(job["id"]))] == ["FAILED", "COMPLETED"]


def test_slurm_profile_gives_training_a_gpu_and_the_warning_signal(tmp_path):
    # A dry run lists each job's resources, and needs no cluster.
    workdir = copy_smoke_config(tmp_path / "dry")
    dry_run = run(
        snakemake("-n", "--directory", workdir, "--workflow-profile", SLURM_PROFILE, "models"),
        cwd=ROOT,
        timeout_s=120,
    ).stdout
    blocks = dry_run.split("\nrule ")[1:]
    trainings = [block for block in blocks if block.startswith(("train:", "train_keeping_weak:"))]
    assert {block.split(":")[0] for block in trainings} == {"train", "train_keeping_weak"}
    for block in trainings:
        resources = block.split("resources: ", 1)[1].split("\n", 1)[0].split(", ")
        assert {"gpu=1", "cpus_per_gpu=8", "runtime=1440", "slurm_extra=--signal=USR1@300"} <= set(resources)
