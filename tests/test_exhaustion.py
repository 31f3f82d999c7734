"""Exhaustion: a full disk or too little memory ends a verb in one line, exit 1, nothing half-written.

The full-disk tests run the real verbs into a small tmpfs; they need root (or CAP_SYS_ADMIN) to
mount one and are skipped where it cannot be mounted.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import assert_one_error_line, small_set_command
from mathformer import cli
from mathformer.core.problems import Problem
from mathformer.engine import decoding
from mathformer.engine.model import Seq2Seq

TINY = [
    "--task", "eigenvalues", "--n", "2", "--enc-layers", "1", "--dec-layers", "1", "--enc-dim", "32",
    "--dec-dim", "32", "--enc-heads", "2", "--dec-heads", "2", "--batch-size", "8", "--warmup", "2",
    "--epoch-size", "16", "--max-examples", "16", "--device", "cpu", "--threads", "1",
]  # fmt: skip
# More than any machine's memory or address space: the allocation fails at once, whatever the
# kernel's overcommit policy, instead of waking the OOM killer.
TOO_MANY = 10**15


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A 16-matrix set and a tiny model trained on it."""
    root = tmp_path_factory.mktemp("made")
    valid, run = root / "valid.npz", root / "run"
    assert cli.main(small_set_command(valid)) == 0
    assert cli.main(["train", str(run), "--valid", str(valid), *TINY]) == 0
    return {"valid": valid, "model": run / "model.pt"}


def mathformer(*argv: str | Path, cwd: Path) -> tuple[int, list[str]]:
    """Exit status and stderr lines of the real command."""
    done = subprocess.run(
        [sys.executable, "-m", "mathformer.cli", *map(str, argv)], cwd=cwd, capture_output=True, text=True
    )
    return done.returncode, done.stderr.strip().splitlines()


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a few small files fit, no model or large set does."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path) -> None:
    """Take every byte left on `disk`."""
    with contextlib.suppress(OSError), (disk / "filler").open("wb", buffering=0) as handle:
        while True:
            handle.write(bytes(4096))


def test_generate_on_a_full_disk(small_disk, tmp_path):
    argv = [
        "generate",
        "--task",
        "eigenvalues",
        "--n",
        "5",
        "--size",
        "2000",
        "--seed",
        "0",
        "-o",
        small_disk / "set.npz",
    ]
    status, lines = mathformer(*argv, cwd=tmp_path)
    assert_one_error_line(
        status, lines, f"generate: No space left on device writing {small_disk / 'set.npz'};"
    )
    assert list(small_disk.iterdir()) == []


def test_train_on_a_full_disk(small_disk, tmp_path, made):
    run = small_disk / "run"
    status, lines = mathformer("train", run, "--valid", made["valid"], *TINY, cwd=tmp_path)
    # The small files fit; torch's zip writer fails on model.pt, which must be named (not a zip position).
    assert_one_error_line(status, lines, f"train: No space left on device writing {run / 'model.pt'};")
    assert sorted(path.name for path in run.iterdir()) == [
        ".train.lock",
        "config.yaml",
        "env.json",
        "train_log.csv",
    ]


def test_evaluate_on_a_full_disk_keeps_the_old_pair(small_disk, tmp_path, made):
    table, summary = small_disk / "pred.parquet", small_disk / "summary.json"
    shutil.copy(made["valid"], tmp_path / "valid.npz")
    command = [
        "evaluate",
        "--model",
        made["model"],
        "--data",
        tmp_path / "valid.npz",
        "-o",
        table,
        "--summary",
        summary,
    ]
    assert mathformer(*command, cwd=tmp_path)[0] == 0
    before = {path.name: path.read_bytes() for path in small_disk.iterdir()}
    fill(small_disk)
    status, lines = mathformer(*command, "--beam", "2", cwd=tmp_path)
    assert_one_error_line(status, lines, "evaluate: No space left on device writing ")
    (small_disk / "filler").unlink()
    assert {path.name: path.read_bytes() for path in small_disk.iterdir()} == before


def _allocate_too_much(*args, **kwargs):
    torch.empty(TOO_MANY)  # torch's own failure: a RuntimeError "can't allocate memory"


@pytest.mark.parametrize(
    ("verb", "target", "failure"),
    [
        ("generate", (Problem, "sample"), lambda *args: np.empty(TOO_MANY)),  # numpy's MemoryError
        ("train", (Seq2Seq, "loss"), _allocate_too_much),
        ("evaluate", (decoding, "generate"), _allocate_too_much),
    ],
)
def test_running_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch, made, verb, target, failure):
    monkeypatch.setattr(*target, failure)
    out = tmp_path / "out"
    argv = {
        "generate": ["generate", "--task", "eigenvalues", "--size", "10", "--seed", "0", "-o", out / "set.npz"],
        "train": ["train", out, "--valid", made["valid"], *TINY],
        "evaluate": ["evaluate", "--model", made["model"], "--data", made["valid"], "-o", out / "p.parquet",
                     "--summary", out / "s.json", "--device", "cpu"],
    }[verb]  # fmt: skip
    status = cli.main([str(word) for word in argv])
    assert_one_error_line(status, capsys.readouterr().err.splitlines(), f"out of memory in {verb}: ")
    assert not out.exists() or {path.name for path in out.iterdir()} <= {
        ".train.lock",
        "config.yaml",
        "env.json",
    }


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="the free memory is read from /proc/meminfo")
def test_a_beam_too_large_for_the_machine_is_refused_up_front(tmp_path, made):
    out = tmp_path / "out"
    status, lines = mathformer(
        "evaluate", "--model", made["model"], "--data", made["valid"], "-o", out / "p.parquet",
        "--summary", out / "s.json", "--beam", "100000000", "--device", "cpu", cwd=tmp_path,
    )  # fmt: skip
    assert_one_error_line(status, lines, "too large a beam: decoding 1,600,000,000 hypotheses")
    assert not out.exists()
