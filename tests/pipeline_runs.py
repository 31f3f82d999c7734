"""Helpers for the slow tests that run the smoke pipeline for real (tests/test_slurm.py, test_dvc.py).

Tools are called the way users call them, as subprocesses, from this venv: its bin/ goes first
on PATH so that rule commands find `mathformer`, and `snakemake`/`dvc` run as `python -m`.
Every call runs under `timeout -s KILL`: a Snakemake waiting on jobs that never finish ignores
SIGTERM ("Will exit after finishing currently running jobs").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mathformer.analysis.catalogue import FAILURE_ANALYSES
from mathformer.planning.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "smoke"
VENV_BIN = Path(sys.executable).parent


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for the tools: this venv first on PATH, DVC's analytics off."""
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "DVC_NO_ANALYTICS": "1", **extra}


def run(
    command: list[str | Path],
    cwd: Path,
    timeout_s: int,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `command` in `cwd`, killed after `timeout_s`; on failure the test fails with its output."""
    words = [str(word) for word in command]
    result = subprocess.run(
        ["timeout", "-s", "KILL", str(timeout_s), *words],
        cwd=cwd,
        env=env or tool_env(),
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        why = (
            "was killed after {timeout_s} s"
            if result.returncode in (124, 137)
            else f"exited {result.returncode}"
        )
        pytest.fail(
            f"{' '.join(words)} {why.format(timeout_s=timeout_s)} (in {cwd}):\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


def snakemake(*args: str | Path, snakefile: Path = ROOT / "Snakefile") -> list[str | Path]:
    return [sys.executable, "-m", "snakemake", "--snakefile", snakefile, *args]


def copy_smoke_config(workdir: Path) -> Path:
    """A fresh working directory holding only the smoke config, for `--directory workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SMOKE / "config", workdir / "config")
    return workdir


def smoke_config() -> dict:
    return yaml.safe_load((SMOKE / "config" / "config.yaml").read_text())


def failure_analysis_targets() -> list[str]:
    """Evaluation summaries that need every kind of job the cluster runs, and few of them.

    The first smoke run that keeps a weak snapshot (train_keeping_weak, evaluated twice) and the
    first one that does not (train), each on the failure-analysis test set of its own spectrum;
    `generate` makes their validation and test sets.
    """
    plan = Plan.from_config(smoke_config())
    runs = [run for run in plan.runs.values() if set(FAILURE_ANALYSES) & set(run.analyses)]
    weak = next((run for run in runs if run.keeps_weak), None)
    plain = next((run for run in runs if not run.keeps_weak), None)
    if weak is None or plain is None:
        pytest.fail(
            "tests/smoke/config/config.yaml needs a failure-analysis run with weak_accuracy and one without"
        )
    return [
        plan.paths.summary(run.name, weights, plan.dataset(run.name, run.settings.spectrum, "test"))
        for run in (weak, plain)
        for weights in run.weights
    ]


GIT = ["git", "-c", "user.name=mathformer tests", "-c", "user.email=tests@localhost"]


def copy_working_tree(destination: Path) -> Path:
    """The files git would see (tracked, or untracked and not ignored), committed in a new repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # files deleted but still in the index are skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    run(["git", "init", "-q"], cwd=destination, timeout_s=30)
    run(["git", "add", "-A"], cwd=destination, timeout_s=30)
    run([*GIT, "commit", "-q", "-m", "working tree"], cwd=destination, timeout_s=30)
    return destination
