"""The `mathformer` command: verbs work end to end, and bad input ends in one line, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cli_helpers import assert_one_error_line, small_set_command
from mathformer import cli
from mathformer.engine import train as train_module
from mathformer.formats.datasets import load_dataset

TINY_FLAGS = [
    "--task", "eigenvalues", "--n", "2", "--enc-layers", "1", "--dec-layers", "1", "--enc-dim", "32",
    "--dec-dim", "32", "--enc-heads", "2", "--dec-heads", "2", "--batch-size", "8", "--warmup", "2",
    "--epoch-size", "16", "--max-examples", "32",
]  # fmt: skip


def _run(capsys, *argv: str) -> tuple[int, list[str]]:
    """Exit status and the stderr lines of `mathformer ARGV` run in this process."""
    try:
        status = cli.main(list(argv))
    except SystemExit as leave:  # argparse usage errors
        status = leave.code
    return status, capsys.readouterr().err.splitlines()


def _generate(capsys, path) -> tuple[int, list[str]]:
    return _run(capsys, *small_set_command(path))


@pytest.fixture
def valid(tmp_path, capsys):
    path = tmp_path / "valid.npz"
    status, _ = _generate(capsys, path)
    assert status == 0
    return path


def test_generate_writes_the_asked_set_with_the_same_bytes_each_time(tmp_path, capsys, valid):
    dataset = load_dataset(valid)
    assert (dataset.problem.task, dataset.problem.n, len(dataset), dataset.seed) == ("eigenvalues", 2, 16, 3)
    again = tmp_path / "again.npz"
    status, lines = _generate(capsys, again)
    assert status == 0 and any("wrote" in line for line in lines)
    assert again.read_bytes() == valid.read_bytes()


def test_train_then_evaluate(tmp_path, capsys, valid):
    torch.set_num_threads(1)
    run_dir = tmp_path / "run"
    status, lines = _run(
        capsys,
        "train",
        str(run_dir),
        "--valid",
        str(valid),
        "--test",
        f"same={valid}",
        "--device",
        "cpu",
        *TINY_FLAGS,
    )
    assert status == 0, lines
    assert (run_dir / "model.pt").exists() and "same_acc_5" in (run_dir / "train_log.csv").read_text()
    summary = tmp_path / "summary.json"
    status, lines = _run(
        capsys, "evaluate", "--model", str(run_dir / "model.pt"), "--data", str(valid), "-o", str(tmp_path / "pred.parquet"),
        "--summary", str(summary), "--device", "cpu", "--threads", "1",
    )  # fmt: skip
    assert status == 0, lines
    assert json.loads(summary.read_text())["count"] == 16
    assert "accuracy 5%" in lines[-1]
    # The analysis reads what training and evaluation wrote (train_log columns, summary keys).
    out = tmp_path / "results"
    status, lines = _run(
        capsys, "analyse", "ood", "--summary", f"semicircle/semicircle={summary}",
        "--log", f"semicircle={run_dir / 'train_log.csv'}", "--out", str(out),
    )  # fmt: skip
    assert status == 0, lines
    assert (out / "tables" / "examples_to_accuracy.csv").exists() and (
        out / "figures" / "learning_curves.png"
    ).exists()


@pytest.mark.parametrize(
    ("argv", "module", "function", "expected"),
    [
        (["analyse", "roughly-right", "--run", "big=a.parquet", "--run", "weak=b.parquet", "--out", "o", "--claims", "c.yaml"],
         "mathformer.analysis.roughly_right", "roughly_right", (({"big": "a.parquet", "weak": "b.parquet"}, "o"), {"claims": Path("c.yaml")})),
        (["analyse", "predictability", "--run", "inv=c.parquet", "--out", "o"],
         "mathformer.analysis.predictability", "predictability", (({"inv": "c.parquet"}, "o"), {"claims": None})),
        (["report", "--notebook-dir", "nb", "--results", "r", "--claims", "c.yaml", "--out", "r/report", "--scale", "quick"],
         "mathformer.report.build", "build_report", (("nb", "r", "c.yaml", "r/report"), {"scale": "quick"})),
    ],
)  # fmt: skip
def test_analysis_and_report_verbs_call_their_functions(
    capsys, monkeypatch, argv, module, function, expected
):
    calls = []
    monkeypatch.setattr(
        f"{module}.{function}", lambda *args, **kwargs: calls.append((args, kwargs)) or "done"
    )
    status, lines = _run(capsys, *argv)
    assert status == 0, lines
    ((args, kwargs),) = calls
    assert (
        tuple(str(arg) if not isinstance(arg, dict) else {k: str(v) for k, v in arg.items()} for arg in args)
        == expected[0]
    )
    assert kwargs == expected[1]


def test_config_file_is_read_and_flags_override_it(tmp_path, capsys, valid, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        train_module, "train", lambda cfg, *args, **kwargs: seen.setdefault("cfg", cfg) and tmp_path
    )
    config = tmp_path / "run.yaml"
    config.write_text("task: inversion\nn: 3\nlr: 5e-4\n")
    status, lines = _run(
        capsys, "train", str(tmp_path / "r"), "--valid", str(valid), "--config", str(config), "--n", "4"
    )
    assert status == 0, lines
    assert (seen["cfg"].task, seen["cfg"].n, seen["cfg"].lr) == ("inversion", 4, 5e-4)


def test_interrupted_training_exits_with_its_own_status(tmp_path, capsys, valid, monkeypatch):
    def interrupted(*args, **kwargs):
        raise train_module.TrainingInterrupted("received SIGTERM at step 7; state saved")

    monkeypatch.setattr(train_module, "train", interrupted)
    status, lines = _run(capsys, "train", str(tmp_path / "r"), "--valid", str(valid), "--task", "eigenvalues")
    assert status == train_module.INTERRUPTED_EXIT_CODE
    assert lines == ["mathformer: interrupted: received SIGTERM at step 7; state saved"]


@pytest.mark.parametrize(
    ("argv", "status", "fragment"),
    [
        (
            ["generate", "--task", "determinant", "--size", "3", "--seed", "0", "-o", "x.npz"],
            2,
            "invalid choice: 'determinant'",
        ),
        (
            ["generate", "--task", "eigenvalues", "--n", "12", "--size", "3", "--seed", "0", "-o", "x.npz"],
            1,
            "n must be an integer from 2 to 10",
        ),
        (
            ["generate", "--task", "eigenvalues", "--size", "0", "--seed", "0", "-o", "x.npz"],
            1,
            "size must be from 1 to 10,000,000, got 0",
        ),
        (
            ["generate", "--task", "eigenvalues", "--size", "many", "--seed", "0", "-o", "x.npz"],
            2,
            "invalid int value: 'many'",
        ),
        (
            ["train", "RUN", "--valid", "VALID", "--task", "eigenvalues", "--schedule", "linear"],
            2,
            "invalid choice: 'linear'",
        ),
        (
            ["train", "RUN", "--valid", "VALID", "--task", "eigenvalues", "--lr", "-1"],
            1,
            "lr must be above 0",
        ),
        (["train", "RUN", "--valid", "VALID", "--n", "3"], 1, "missing config key 'task'"),
        (
            ["train", "RUN", "--valid", "VALID", "--task", "eigenvalues", "--test", "nameless"],
            1,
            "--test expects NAME=FILE, got 'nameless'",
        ),
        (
            ["train", "RUN", "--valid", "nowhere.npz", "--task", "eigenvalues"],
            1,
            "dataset file not found: nowhere.npz",
        ),
        (
            ["train", "RUN", "--valid", "VALID", "--task", "eigenvalues", "--n", "2", "--device", "tpu"],
            1,
            "unknown device 'tpu'",
        ),
        (
            ["evaluate", "--model", "none.pt", "--data", "VALID", "-o", "p.parquet", "--summary", "s.json"],
            1,
            "none.pt",
        ),
        (["analyse", "roughly-right", "--run", "a.parquet", "--out", "out"], 1, "--run expects NAME=FILE"),
        (
            ["analyse", "ood", "--summary", "laplace=s.json", "--log", "laplace=l.csv", "--out", "o"],
            1,
            "--summary expects TRAIN/TEST=FILE",
        ),
        (["analyse", "fast"], 2, "invalid choice: 'fast'"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_ends_in_one_line(tmp_path, capsys, monkeypatch, valid, argv, status, fragment):
    monkeypatch.chdir(tmp_path)
    argv = [str(valid) if arg == "VALID" else arg for arg in argv]
    assert_one_error_line(*_run(capsys, *argv), expected_status=status, fragment=fragment)


def test_bad_config_file_ends_in_one_line(tmp_path, capsys, valid):
    config = tmp_path / "run.yaml"
    config.write_text("task: eigenvalues\nlayers: 3\n")
    status, lines = _run(capsys, "train", str(tmp_path / "r"), "--valid", str(valid), "--config", str(config))
    assert_one_error_line(
        status, lines, expected_status=1, fragment="unknown config key 'layers'; allowed keys: task, n,"
    )
    config.write_text("- just\n- a list\n")
    status, lines = _run(capsys, "train", str(tmp_path / "r"), "--valid", str(valid), "--config", str(config))
    assert_one_error_line(status, lines, expected_status=1, fragment="must hold a mapping")


def test_console_script_reports_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mathformer.cli", "generate", "--task", "eigenvalues", "--n", "1", "--size", "2",
         "--seed", "0", "-o", str(tmp_path / "x.npz")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["mathformer: error: n must be an integer from 2 to 10, got 1"]


def test_sigterm_saves_the_state_and_exits_with_the_requeue_status(tmp_path, valid):
    run_dir = tmp_path / "run"
    endless = [*TINY_FLAGS, "--max-examples", "100000000"]  # the last flag wins
    command = [
        sys.executable,
        "-m",
        "mathformer.cli",
        "train",
        str(run_dir),
        "--valid",
        str(valid),
        "--device",
        "cpu",
        "--threads",
        "1",
        *endless,
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (
            not (run_dir / "train_log.csv").exists()
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)  # training is under way once the first epoch is logged
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == train_module.INTERRUPTED_EXIT_CODE, err
    assert err.strip().splitlines()[-1].startswith("mathformer: interrupted: received SIGTERM at step ")
    assert (run_dir / "ckpt" / "state.pt").exists() and not (run_dir / "model.pt").exists()


def _train_command(run_dir: Path, valid: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "mathformer.cli", "train", str(run_dir), "--valid", str(valid),
            "--device", "cpu", "--threads", "1", *TINY_FLAGS, *flags]  # fmt: skip


def _seed_of_folder(run_dir: Path) -> int | None:
    """The seed config.yaml says, after checking that model.pt, where present, is that run's."""
    config = run_dir / "config.yaml"
    seed = yaml.safe_load(config.read_text())["seed"] if config.exists() else None
    for model in ("model.pt", "weak.pt"):
        with contextlib.suppress(FileNotFoundError):
            assert torch.load(run_dir / model, weights_only=True)["run_config"]["seed"] == seed, model
    return seed


def test_a_run_folder_never_describes_another_model(tmp_path, valid):
    run_dir = tmp_path / "run"
    subprocess.run(_train_command(run_dir, valid, "--seed", "0"), check=True, capture_output=True)
    first_log = (run_dir / "train_log.csv").read_text()
    # Another seed, killed without warning once it has logged an epoch of its own.
    endless = _train_command(run_dir, valid, "--seed", "1", "--max-examples", "100000000")
    process = subprocess.Popen(endless, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            # At every instant the files present describe one model.
            if _seed_of_folder(run_dir) == 1 and (run_dir / "train_log.csv").exists():
                break
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=60)
    finally:
        process.kill()
    assert _seed_of_folder(run_dir) == 1
    assert not (run_dir / "model.pt").exists() and (run_dir / "train_log.csv").read_text() != first_log


def _bad_npz(tmp_path):
    import numpy as np

    path = tmp_path / "bad.npz"
    np.savez(path, inputs=np.zeros((2, 2, 2)), format_version=np.array([1, 2]))
    return path


def _tiny_model(tmp_path, valid, capsys) -> Path:
    run_dir = tmp_path / "run"
    assert _run(capsys, "train", str(run_dir), "--valid", str(valid), *TINY_FLAGS)[0] == 0
    return run_dir / "model.pt"


def _model_without_run_config(tmp_path, valid, capsys):
    saved = torch.load(_tiny_model(tmp_path, valid, capsys), weights_only=True)
    del saved["run_config"]
    torch.save(saved, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


def _predictions_with_metadata(tmp_path, metadata: bytes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bad.parquet"
    table = pa.table({"error": [0.1], "decoded": [True]})
    pq.write_table(table.replace_schema_metadata({b"mathformer": metadata}), path)
    return path


def _failing_notebook(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    cell = {
        "cell_type": "code",
        "id": "fails",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": ["raise ValueError('boom')"],
    }
    document = {
        "cells": [cell],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (notebooks / "fails.ipynb").write_text(json.dumps(document))
    (tmp_path / "results").mkdir()
    return notebooks


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("npz-version-not-scalar", "no scalar integer format_version"),
        ("model-without-run-config", "is not a consistent mathformer model: it lacks 'run_config'"),
        ("metadata-not-a-dict", "metadata without a task and a matrix size n"),
        ("metadata-without-n", "metadata without a task and a matrix size n"),
        ("failing-notebook", "notebook fails.ipynb failed (ValueError: boom)"),
        ("huge-dataset", "dataset size must be from 1 to 10,000,000, got 100000000000"),
        ("huge-seed", "seed must be from 0 to 2**63 - 1"),
        ("huge-run-seed", "seed must be at most"),
        ("colliding-outputs", "would both be written to one file"),
        ("escaping-run-name", "run name '../../x' must be letters, digits"),
    ],
)
def test_crafted_input_ends_in_one_line(tmp_path, capsys, monkeypatch, valid, case, fragment):
    monkeypatch.chdir(tmp_path)
    if case == "npz-version-not-scalar":
        argv = ["train", "r", "--valid", str(_bad_npz(tmp_path)), "--task", "eigenvalues"]
    elif case == "model-without-run-config":
        argv = [
            "evaluate",
            "--model",
            str(_model_without_run_config(tmp_path, valid, capsys)),
            "--data",
            str(valid),
            "-o",
            "p.parquet",
            "--summary",
            "s.json",
        ]
    elif case.startswith("metadata"):
        metadata = b"[1, 2]" if case == "metadata-not-a-dict" else b'{"task": "inversion"}'
        argv = [
            "analyse",
            "predictability",
            "--run",
            f"a={_predictions_with_metadata(tmp_path, metadata)}",
            "--out",
            "o",
        ]
    elif case == "failing-notebook":
        claims = cli.Path(__file__).resolve().parents[1] / "config" / "claims.yaml"
        argv = [
            "report",
            "--notebook-dir",
            str(_failing_notebook(tmp_path)),
            "--results",
            "results",
            "--claims",
            str(claims),
            "--out",
            "report",
        ]
    elif case == "huge-dataset":
        argv = ["generate", "--task", "eigenvalues", "--size", "100000000000", "--seed", "0", "-o", "x.npz"]
    elif case == "huge-seed":
        argv = ["generate", "--task", "eigenvalues", "--size", "3", "--seed", str(2**64), "-o", "x.npz"]
    elif case == "huge-run-seed":
        argv = ["train", "r", "--valid", str(valid), *TINY_FLAGS, "--seed", str(2**64)]
    elif case == "colliding-outputs":
        argv = [
            "evaluate",
            "--model",
            "m.pt",
            "--data",
            str(valid),
            "-o",
            "same.json",
            "--summary",
            "same.json",
        ]
    else:
        argv = ["analyse", "training", "--model", f"../../x={tmp_path / 'models'}", "--out", "o"]
    assert_one_error_line(*_run(capsys, *argv), expected_status=1, fragment=fragment)
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("verb", ["train", "evaluate"])
def test_a_set_with_a_nan_target_is_refused_by_the_verbs_that_read_it(tmp_path, capsys, valid, verb):
    import numpy as np

    with np.load(valid) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["targets"][2, 1] = np.nan
    bad = tmp_path / "nan.npz"
    np.savez(bad, **arrays)
    if verb == "train":
        argv = ["train", str(tmp_path / "r"), "--valid", str(bad), *TINY_FLAGS]
    else:
        argv = ["evaluate", "--model", str(_tiny_model(tmp_path, valid, capsys)), "--data", str(bad),
                "-o", str(tmp_path / "p.parquet"), "--summary", str(tmp_path / "s.json")]  # fmt: skip
    assert_one_error_line(
        *_run(capsys, *argv),
        expected_status=1,
        fragment=f"{bad}: targets hold NaN or infinite values (first in problem 2)",
    )
    assert not (tmp_path / "p.parquet").exists() and not (tmp_path / "r" / "model.pt").exists()


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, deeper in _subparsers(sub):
                    yield f"{name} {inner}", deeper


def test_every_option_of_every_verb_says_what_it_is():
    verbs = dict(_subparsers(cli.build_parser()))
    assert {"generate", "train", "evaluate", "report", "analyse ood", "analyse roughly-right"} <= verbs.keys()
    undocumented = [
        f"{verb} {action.option_strings[-1] if action.option_strings else action.dest}"
        for verb, parser in verbs.items()
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert undocumented == []
