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
import sys
from pathlib import Path

import pytest
import yaml

from pipeline_runs import GIT, ROOT, copy_working_tree, run, snakemake

pytestmark = pytest.mark.slow

# The last smoke stage; `-d` adds the stages it depends on (data@smoke, models@smoke).
SMOKE_STAGES = ("--with-deps", "evaluation@smoke")
SMOKE_RESULTS = Path("tests/smoke/results/smoke")


def dvc(*args: str | Path) -> list[str | Path]:
    return [sys.executable, "-m", "dvc", *args]


def smoke_snakemake(repo: Path, *args: str) -> list[str | Path]:
    """What the smoke stages run: the repo's Snakefile in tests/smoke with the CPU profile."""
    return snakemake(
        "--directory",
        "tests/smoke",
        "--workflow-profile",
        "profiles/cpu",
        *args,
        snakefile=repo / "Snakefile",
    )


SMOKE_ITEM = {
    "options": "--directory tests/smoke --workflow-profile profiles/cpu",
    "params": "tests/smoke/config/config.yaml",
    "results": str(SMOKE_RESULTS),
}


def with_smoke_scale(repo: Path) -> None:
    """The user's dvc.yaml with the smoke scale as its only item: the same stages, on toy sizes."""
    path = repo / "dvc.yaml"
    document = yaml.safe_load(path.read_text())
    for stage in document["stages"].values():
        stage["foreach"] = {"smoke": SMOKE_ITEM}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    run([*GIT, "commit", "-q", "-am", "smoke scale"], cwd=repo, timeout_s=30)


def stage_commands(scale: str) -> dict[str, str]:
    """stage@scale -> its command, from the user's dvc.yaml."""
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    commands = {}
    for name, stage in document["stages"].items():
        item = stage["foreach"][scale]
        commands[f"{name}@{scale}"] = stage["do"]["cmd"].replace("${item.options}", item["options"])
    return commands


@pytest.mark.parametrize("stage, command", stage_commands("quick").items())
def test_every_quick_stage_command_plans_its_target(stage, command):
    # The target before --configfile: after it, Snakemake would read the target as a config file.
    words = command.split()
    assert words[0] == "snakemake"
    dry_run = run(snakemake("-n", *words[1:]), cwd=ROOT, timeout_s=120).stdout
    assert "Job stats" in dry_run or "Nothing to be done" in dry_run, (stage, dry_run)


def test_dvc_plans_the_quick_data_stage():
    result = run(dvc("repro", "--dry", "data@quick"), cwd=ROOT, timeout_s=120)
    assert "snakemake data --configfile config/quick.yaml" in result.stdout


def file_digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def versioned_digests(results: Path) -> dict[str, str]:
    """Digests of what DVC caches (data, models, eval), less what .dvcignore leaves out."""
    return {
        name: digest
        for name, digest in file_digests(results).items()
        if name.split("/")[0] in ("data", "models", "eval")
        and ".train.lock" not in name
        and "/ckpt/" not in name
    }


def test_smoke_outputs_survive_push_delete_pull_and_snakemake_has_nothing_to_rerun(tmp_path):
    repo = copy_working_tree(tmp_path / "repo")
    with_smoke_scale(repo)
    results = repo / SMOKE_RESULTS
    run(dvc("remote", "add", "--local", "--default", "store", tmp_path / "remote"), cwd=repo, timeout_s=30)

    run(dvc("repro", "report@smoke"), cwd=repo, timeout_s=420)  # data, models and evaluation first
    run([*GIT, "add", "dvc.lock"], cwd=repo, timeout_s=30)
    run([*GIT, "commit", "-q", "-m", "smoke results"], cwd=repo, timeout_s=30)
    run(dvc("push", *SMOKE_STAGES), cwd=repo, timeout_s=60)
    # What DVC users read: the claims' values, the settings that made them, the learning curves.
    metrics = run(dvc("metrics", "show", "--json"), cwd=repo, timeout_s=60).stdout
    assert "E1-accuracy-5" in metrics and "verdicts" in metrics
    params = run(dvc("params", "diff", "--all"), cwd=repo, timeout_s=60).stdout
    assert "run_defaults.batch_size" in params, params
    plots = run(dvc("plots", "show", "--json"), cwd=repo, timeout_s=120).stdout
    assert "valid_acc_5" in plots and "learning_curves.png" in plots
    versioned = versioned_digests(results)

    # A fresh clone, in effect: no outputs, no DVC cache, no Snakemake metadata.
    for folder in ("data", "models", "eval"):
        shutil.rmtree(results / folder)
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "tests" / "smoke" / ".snakemake")
    run(dvc("pull", *SMOKE_STAGES), cwd=repo, timeout_s=60)

    assert versioned_digests(results) == versioned  # the same bytes
    status = run(dvc("status", *SMOKE_STAGES), cwd=repo, timeout_s=60).stdout
    assert "up to date" in status, status

    run(smoke_snakemake(repo, "--touch", "evaluation"), cwd=repo, timeout_s=60)
    dry_run = run(smoke_snakemake(repo, "--dry-run", "evaluation"), cwd=repo, timeout_s=60).stdout
    assert "Nothing to be done" in dry_run, dry_run
