"""dvc.yaml: the smoke pipeline through DVC, pushed, deleted, pulled back, and current again.

Runs in a temporary git repository holding this working tree's files (tracked and untracked, not
ignored), so it tests what is on disk and never touches this repository's results or cache.
After the pull the repository is like a fresh clone: no Snakemake metadata, and file times
that follow the order of the checkout, not the DAG. Snakemake then sees inputs newer than
outputs and would rerun training; `snakemake --touch` (docs/dvc.md) is what makes it current.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_runs import ROOT, run, snakemake

pytestmark = pytest.mark.slow

# The last smoke stage; `-d` adds the stages it depends on (data@smoke, models@smoke).
SMOKE_STAGES = ("--with-deps", "evaluation@smoke")
SMOKE_RESULTS = Path("tests/smoke/results/smoke")
GIT = ["git", "-c", "user.name=mathformer tests", "-c", "user.email=tests@localhost"]


def dvc(*args: str | Path) -> list[str | Path]:
    return [sys.executable, "-m", "dvc", *args]


def smoke_snakemake(repo: Path, *args: str) -> list[str | Path]:
    """What the smoke stages run: the repo's Snakefile in tests/smoke with the CPU profile."""
    return snakemake("--directory", "tests/smoke", "--workflow-profile", "profiles/cpu", *args,
                     snakefile=repo / "Snakefile")


def copy_working_tree(destination: Path) -> Path:
    """The files git would see (tracked, or untracked and not ignored), committed in a new repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # files deleted but still in the index are skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    run(["git", "init", "-q"], cwd=destination, timeout_s=30)
    run(["git", "add", "-A"], cwd=destination, timeout_s=30)
    run([*GIT, "commit", "-q", "-m", "working tree"], cwd=destination, timeout_s=30)
    return destination


def file_digests(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_smoke_outputs_survive_push_delete_pull_and_snakemake_has_nothing_to_rerun(tmp_path):
    repo = copy_working_tree(tmp_path / "repo")
    results = repo / SMOKE_RESULTS
    run(dvc("remote", "add", "--local", "--default", "store", tmp_path / "remote"), cwd=repo, timeout_s=30)

    run(dvc("repro", "evaluation@smoke"), cwd=repo, timeout_s=240)  # runs data@smoke and models@smoke first
    run([*GIT, "add", "dvc.lock"], cwd=repo, timeout_s=30)
    run([*GIT, "commit", "-q", "-m", "smoke results"], cwd=repo, timeout_s=30)
    run(dvc("push", *SMOKE_STAGES), cwd=repo, timeout_s=60)
    assert any((results / "models").glob("*/ckpt")), "training leaves its resumable state"
    versioned = {name: digest for name, digest in file_digests(results).items() if "/ckpt/" not in name}

    # A fresh clone, in effect: no outputs, no DVC cache, no Snakemake metadata.
    for folder in ("data", "models", "eval"):
        shutil.rmtree(results / folder)
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "tests" / "smoke" / ".snakemake")
    run(dvc("pull", *SMOKE_STAGES), cwd=repo, timeout_s=60)

    assert file_digests(results) == versioned  # same bytes, and ckpt/ stayed out (.dvcignore)
    status = run(dvc("status", *SMOKE_STAGES), cwd=repo, timeout_s=60).stdout
    assert "up to date" in status, status

    run(smoke_snakemake(repo, "--touch", "evaluation"), cwd=repo, timeout_s=60)
    dry_run = run(smoke_snakemake(repo, "--dry-run", "evaluation"), cwd=repo, timeout_s=60).stdout
    assert "Nothing to be done" in dry_run, dry_run
