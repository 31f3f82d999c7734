"""No verb writes over what it reads: each verb, run for real, refuses every way of doing so."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mathformer import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--task", "eigenvalues", "--n", "2", "--enc-layers", "1", "--dec-layers", "1", "--enc-dim", "32",
    "--dec-dim", "32", "--enc-heads", "2", "--dec-heads", "2", "--batch-size", "8", "--warmup", "2",
    "--epoch-size", "16", "--max-examples", "16", "--device", "cpu", "--threads", "1",
]  # fmt: skip
TRAIN = ["--task", "eigenvalues", "--n", "2"]  # enough for a config: the check comes first


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Real inputs of every verb: a set, a trained run, its predictions and summary, notebooks, claims."""
    root = tmp_path_factory.mktemp("inputs")
    valid, run = root / "valid.npz", root / "run"
    steps = [
        ["generate", "--task", "eigenvalues", "--n", "2", "--size", "16", "--seed", "3", "-o", valid],
        ["train", run, "--valid", valid, *TINY],
        ["evaluate", "--model", run / "model.pt", "--data", valid, "-o", root / "pred.parquet",
         "--summary", root / "summary.json", "--device", "cpu", "--threads", "1"],
    ]  # fmt: skip
    for step in steps:
        assert cli.main([str(word) for word in step]) == 0, step
    shutil.copytree(ROOT / "workflow" / "notebooks", root / "notebooks")
    shutil.copy(ROOT / "config" / "claims.yaml", root / "claims.yaml")
    return {
        "valid": valid,
        "model": run / "model.pt",
        "log": run / "train_log.csv",
        "config": run / "config.yaml",
        "run": run,
        "predictions": root / "pred.parquet",
        "summary": root / "summary.json",
        "notebooks": root / "notebooks",
        "claims": root / "claims.yaml",
    }


def _lay_out(case_dir: Path, files: dict[str, str | tuple[str, str]], made: dict[str, Path]) -> None:
    """Place each input: a copy of a made file or folder, or ("symlink" | "hardlink", another path here)."""
    for relative, source in files.items():
        place = case_dir / relative
        place.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, tuple):
            kind, target = source
            (os.symlink if kind == "symlink" else os.link)(case_dir / target, place)
        elif made[source].is_dir():
            shutil.copytree(made[source], place)
        else:
            shutil.copy(made[source], place)


def _contents(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def case(verb, files, argv, written, relation, read):
    return pytest.param(files, argv, (written, relation, read), id=f"{verb}: {written} {relation} {read}")


CASES = [
    case("train", {"R/model.pt": "valid"}, ["train", "R", "--valid", "R/model.pt", *TRAIN],
         "RUN_DIR R/model.pt", "is the same file as", "--valid R/model.pt"),
    case("train", {"v.npz": "valid", "R/train_log.csv": "valid"},
         ["train", "R", "--valid", "v.npz", "--test", "ood=R/train_log.csv", *TRAIN],
         "RUN_DIR R/train_log.csv", "is the same file as", "--test ood R/train_log.csv"),
    case("train", {"v.npz": "valid", "R/config.yaml": "config"},
         ["train", "R", "--valid", "v.npz", "--config", "R/config.yaml"],
         "RUN_DIR R/config.yaml", "is the same file as", "--config R/config.yaml"),
    case("train", {"v.npz": "valid", "R/ckpt/state.pt": "valid"},
         ["train", "R", "--valid", "v.npz", "--train-data", "R/ckpt/state.pt", *TRAIN],
         "RUN_DIR R/ckpt/state.pt", "is the same file as", "--train-data R/ckpt/state.pt"),
    case("train", {"v.npz": "valid", "R/weak.pt": "model"},
         ["train", "R", "--valid", "v.npz", "--init-from", "R/weak.pt", *TRAIN],
         "RUN_DIR R/weak.pt", "is the same file as", "init_from R/weak.pt"),
    case("train", {"R/model.pt": "valid", "link.npz": ("symlink", "R/model.pt")},
         ["train", "R", "--valid", "link.npz", *TRAIN],
         "RUN_DIR R/model.pt", "is the same file as", "--valid link.npz"),
    case("train", {"v.npz": "valid"}, ["train", "v.npz", "--valid", "v.npz", *TRAIN],
         "RUN_DIR v.npz/model.pt", "lies inside", "--valid v.npz"),
    case("evaluate", {"m.pt": "model", "t.npz": "valid"},
         ["evaluate", "--model", "m.pt", "--data", "t.npz", "-o", "t.npz", "--summary", "s.json"],
         "-o t.npz", "is the same file as", "--data t.npz"),
    case("evaluate", {"m.pt": "model", "t.npz": "valid"},
         ["evaluate", "--model", "m.pt", "--data", "t.npz", "-o", "m.pt", "--summary", "s.json"],
         "-o m.pt", "is the same file as", "--model m.pt"),
    case("evaluate", {"m.pt": "model", "t.npz": "valid"},
         ["evaluate", "--model", "m.pt", "--data", "t.npz", "-o", "p.parquet", "--summary", "./t.npz"],
         "--summary t.npz", "is the same file as", "--data t.npz"),
    case("evaluate", {"m.pt": "model", "t.npz": "valid", "h.npz": ("hardlink", "t.npz")},
         ["evaluate", "--model", "m.pt", "--data", "t.npz", "-o", "h.npz", "--summary", "s.json"],
         "-o h.npz", "is the same file as", "--data t.npz"),
    case("evaluate", {"m.pt": "model", "t.npz": "valid", "s.json": ("symlink", "m.pt")},
         ["evaluate", "--model", "m.pt", "--data", "t.npz", "-o", "p.parquet", "--summary", "s.json"],
         "--summary s.json", "is the same file as", "--model m.pt"),
    case("analyse roughly-right", {"O/tables/roughly_right.csv": "predictions"},
         ["analyse", "roughly-right", "--run", "a=O/tables/roughly_right.csv", "--out", "O"],
         "--out O/tables/roughly_right.csv", "is the same file as", "--run a O/tables/roughly_right.csv"),
    case("analyse roughly-right", {"p.parquet": "predictions", "O/figures/roughly_right.png": "claims"},
         ["analyse", "roughly-right", "--run", "a=p.parquet", "--claims", "O/figures/roughly_right.png",
          "--out", "O"],
         "--out O/figures/roughly_right.png", "is the same file as", "--claims O/figures/roughly_right.png"),
    case("analyse predictability", {"O/tables/failure_predictors.tex": "predictions"},
         ["analyse", "predictability", "--run", "a=O/tables/failure_predictors.tex", "--out", "O"],
         "--out O/tables/failure_predictors.tex", "is the same file as",
         "--run a O/tables/failure_predictors.tex"),
    case("analyse ood", {"O/tables/ood_accuracy.md": "summary", "log.csv": "log"},
         ["analyse", "ood", "--summary", "s/s=O/tables/ood_accuracy.md", "--log", "s=log.csv", "--out", "O"],
         "--out O/tables/ood_accuracy.md", "is the same file as", "--summary s/s O/tables/ood_accuracy.md"),
    case("analyse ood", {"s.json": "summary", "O/figures/learning_curves.pdf": "log"},
         ["analyse", "ood", "--summary", "s/s=s.json", "--log", "s=O/figures/learning_curves.pdf", "--out", "O"],
         "--out O/figures/learning_curves.pdf", "is the same file as", "--log s O/figures/learning_curves.pdf"),
    case("analyse training", {"R": "run"}, ["analyse", "training", "--model", "a=R", "--out", "R"],
         "--out R/tables/training.csv", "lies inside", "--model a R"),
    case("analyse training", {"O/train_logs": "run"},
         ["analyse", "training", "--model", "a=O/train_logs", "--out", "O"],
         "--out O/train_logs/a.csv", "lies inside", "--model a O/train_logs"),
    case("report", {"nb": "notebooks", "c.yaml": "claims"},
         ["report", "--notebook-dir", "nb", "--results", "r", "--claims", "c.yaml", "--out", "nb"],
         "--out nb", "is the same file as", "--notebook-dir nb"),
    case("report", {"nb": "notebooks", "c.yaml": "claims", "r/tables/training.csv": "log"},
         ["report", "--notebook-dir", "nb", "--results", "r", "--claims", "c.yaml", "--out", "r"],
         "--out r", "holds", "--results r/tables"),
    case("report", {"nb": "notebooks", "c.yaml": "claims", "r/tables/training.csv": "log"},
         ["report", "--notebook-dir", "nb", "--results", "r", "--claims", "c.yaml", "--out", "r/tables"],
         "--out r/tables", "is the same file as", "--results r/tables"),
    case("report", {"nb": "notebooks", "rep/c.yaml": "claims"},
         ["report", "--notebook-dir", "nb", "--results", "r", "--claims", "rep/c.yaml", "--out", "rep"],
         "--out rep", "holds", "--claims rep/c.yaml"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "argv", "clash"), CASES)
def test_no_verb_writes_over_its_inputs(tmp_path, made, files, argv, clash):
    _lay_out(tmp_path, files, made)
    before = _contents(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mathformer.cli", *argv], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    written, relation, read = clash
    assert line.startswith("mathformer: error: ") and f"{written} {relation} {read}," in line, line
    assert _contents(tmp_path) == before  # the inputs as they were, and nothing written


def _verbs(parser: argparse.ArgumentParser, prefix: str = ""):
    """The name of every leaf verb: `analyse ood`, not `analyse`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _verbs(sub, f"{prefix}{name} ")
            return
    yield prefix.strip()


def test_every_verb_that_reads_is_tried():
    tried = {param.id.split(":")[0] for param in CASES}
    assert tried == set(_verbs(cli.build_parser())) - {"generate"}
    # generate reads nothing: it only writes its -o.
    args = cli.build_parser().parse_args(
        ["generate", "--task", "eigenvalues", "--size", "1", "--seed", "0", "-o", "x"]
    )
    assert args.paths(args) == ([], [("-o", Path("x"))])


def test_a_set_may_live_in_the_run_folder_under_a_name_of_its_own():
    args = cli.build_parser().parse_args(["train", "R", "--valid", "R/valid.npz", *TRAIN])
    cli.refuse_overwrites("train", *args.paths(args))  # the workflow's layouts: tests/test_workflow.py
