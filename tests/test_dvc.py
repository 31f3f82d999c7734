"""dvc.yaml: the smoke pipeline through DVC, pushed, deleted, pulled back, and current again.

Runs in a temporary git repository holding this working tree's files (tracked and untracked, not
ignored), so it tests what is on disk and never touches this repository's results or cache.
After the pull the repository is like a fresh clone: no Snakemake metadata, and file times
that follow the order of the checkout, not the DAG. Snakemake then sees inputs newer than
outputs and would rerun training; `snakemake --touch` (docs/dvc.md) is what makes it current.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from test_docs import runnable_blocks

from mathformer.analysis.catalogue import OUTPUTS
from mathformer.analysis.claims import VERDICTS
from pipeline_runs import GIT, ROOT, copy_working_tree, run, snakemake

pytestmark = pytest.mark.slow

# The last smoke stage; `-d` adds the stages it depends on (data@smoke, models@smoke).
SMOKE_STAGES = ("--with-deps", "evaluation@smoke")
SMOKE_RESULTS = Path("tests/smoke/results/smoke")
QUICK_RESULTS = Path("results/quick")
# What `dvc metrics show` and `dvc params diff --all` print must fit a wide terminal (their rows
# were ~2,800 characters when metrics.json held every claim and params the whole run list).
WIDEST_LINE = 140


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
    """The user's dvc.yaml with the smoke scale as its only item: the same stages, on toy sizes,
    and the metrics and plots it declares for the quick scale read from the smoke scale."""
    path = repo / "dvc.yaml"
    document = yaml.safe_load(path.read_text())
    for stage in document["stages"].values():
        stage["foreach"] = {"smoke": SMOKE_ITEM}
    text = yaml.safe_dump(document, sort_keys=False).replace(f"{QUICK_RESULTS}/", f"{SMOKE_RESULTS}/")
    path.write_text(text)
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


def test_a_dry_run_lists_every_stage_command_without_the_data():
    # A plain `dvc repro --dry models@quick` stops where the data should be (DVC hashes a stage's
    # dependencies to decide whether it runs); --force lists the commands whatever is on disk.
    result = run(dvc("repro", "--dry", "--force", "report@quick"), cwd=ROOT, timeout_s=120)
    commands = [line.removeprefix("> ") for line in result.stdout.splitlines() if line.startswith("> ")]
    assert commands == list(stage_commands("quick").values()), result.stdout


def declared_reads() -> tuple[list[str], list[str]]:
    """The files dvc.yaml hands `dvc metrics show` and `dvc plots show`."""
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    plots = [entry if isinstance(entry, str) else next(iter(entry)) for entry in document["plots"]]
    return document["metrics"], plots


def test_dvc_reads_what_the_committed_scales_hold_and_nothing_else():
    metrics, plots = declared_reads()
    committed = run(
        [*GIT, "ls-files", "results/*/report/metrics.json"], cwd=ROOT, timeout_s=30
    ).stdout.split()
    # Every committed scale's metrics, and only those: a scale that has not run would make every
    # `show` warn "failed to load".
    assert sorted(metrics) == sorted(committed)
    for path in metrics + plots:
        assert (ROOT / path).exists(), path
    # What DVC can draw: each scale's training logs (curves) and figures as PNGs (no PDF, no README.md).
    figure_names = [
        output.name for outputs in OUTPUTS.values() for output in outputs if output.kind == "figure"
    ]
    for metric in metrics:
        results = Path(metric).parents[1]
        drawn = [f"{results}/figures/{name}.png" for name in figure_names]
        assert f"{results}/train_logs" in plots
        assert [path for path in plots if path.startswith(f"{results}/figures/")] == [
            path for path in drawn if (ROOT / path).exists()
        ]


def test_the_runnable_blocks_of_the_dvc_guide_run_as_written_on_a_fresh_clone(tmp_path):
    # A clone has no data, no DVC cache, no Snakemake metadata; the blocks read, plan and plot.
    repo = copy_working_tree(tmp_path / "repo")
    blocks = runnable_blocks(ROOT / "docs" / "dvc.md")
    assert len(blocks) == 2, "docs/dvc.md marks the reading and the planning blocks runnable"
    for block in blocks:
        done = run(["bash", "-c", "set -e\n" + block], cwd=repo, timeout_s=300)
        assert "failed to load" not in done.stdout + done.stderr, (block, done.stderr)
    assert (repo / "dvc_plots" / "index.html").is_file()
    assert run([*GIT, "status", "--porcelain"], cwd=repo, timeout_s=30).stdout == ""  # dvc_plots/ is ignored


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
    # What DVC users read: the verdict counts and each result's number, the settings that made
    # them, the learning curves and figures; as docs/dvc.md shows them, narrow and without warnings.
    metrics = run(dvc("metrics", "show"), cwd=repo, timeout_s=60)
    params = run(dvc("params", "diff", "--all"), cwd=repo, timeout_s=60)
    for shown in (metrics, params):
        assert "failed to load" not in shown.stdout + shown.stderr, shown.stderr
        assert max(len(line) for line in shown.stdout.splitlines()) <= WIDEST_LINE, shown.stdout
    assert all(verdict in metrics.stdout.splitlines()[0] for verdict in VERDICTS), metrics.stdout
    # (DVC leaves out a result whose number is null: the smoke scale's 2x2 models cannot test some.)
    written = json.loads((results / "report" / "metrics.json").read_text())
    assert list(written) == [*VERDICTS, "result1", "result2", "result3"], written
    assert "run_defaults.batch_size" in params.stdout and "runs " not in params.stdout, params.stdout
    plots = run(dvc("plots", "show", "--json"), cwd=repo, timeout_s=120).stdout
    assert "valid_acc_5" in plots and "learning_curves.png" in plots and ".pdf" not in plots
    run(dvc("plots", "show"), cwd=repo, timeout_s=120)
    assert run([*GIT, "status", "--porcelain"], cwd=repo, timeout_s=30).stdout == ""  # dvc_plots/ ignored
    versioned = versioned_digests(results)

    # A fresh clone, in effect: no outputs, no DVC cache, no Snakemake metadata.
    for folder in ("data", "models", "eval"):
        shutil.rmtree(results / folder)
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "tests" / "smoke" / ".snakemake")
    # Nothing pulled yet: with the code and config that dvc.lock records, every stage is current.
    dry_run = run(dvc("repro", "--dry", "--allow-missing", "report@smoke"), cwd=repo, timeout_s=120).stdout
    assert dry_run.count("didn't change, skipping") == 4 and "Running stage" not in dry_run, dry_run
    run(dvc("pull", *SMOKE_STAGES), cwd=repo, timeout_s=60)

    assert versioned_digests(results) == versioned  # the same bytes
    status = run(dvc("status", *SMOKE_STAGES), cwd=repo, timeout_s=60).stdout
    assert "up to date" in status, status

    run(smoke_snakemake(repo, "--touch", "evaluation"), cwd=repo, timeout_s=60)
    dry_run = run(smoke_snakemake(repo, "--dry-run", "evaluation"), cwd=repo, timeout_s=60).stdout
    assert "Nothing to be done" in dry_run, dry_run
