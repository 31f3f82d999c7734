"""benchmarks/gpu_check.py in its CPU mode: the GPU check itself is tested everywhere."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: on a busy machine a second thread only waits at barriers (10x slower seen)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_runs_in_its_small_cpu_mode(tmp_path, monkeypatch, capsys):
    gpu_check = load_gpu_check()
    monkeypatch.setattr(gpu_check, "RESULTS", tmp_path)
    assert gpu_check.main(["--device", "cpu", "--small"]) == 0
    # --small has a file of its own: the GPU's measurement (gpu_check.json) is never overwritten.
    assert not (tmp_path / "gpu_check.json").exists()
    report = json.loads((tmp_path / "gpu_check_small.json").read_text())
    assert report["skipped"] == {}
    for task in ("eigenvalues", "eigenvectors", "inversion"):
        row = report["training"][task]["eager"]["64"]
        assert row["examples_per_s"] > 0 and 0 < row["mfu"] < 1
        assert report["decoding"][task]["eager"]["200"]["matrices_per_s"] > 0
    assert set(report["training"]["eigenvectors"]["eager"]) == {"64", "32"}  # the batch sweep
    # Every run of the paper config gets a projected (estimated) time and a validation share.
    runs = {row["name"] for row in yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["runs"]}
    projected = report["projection"]["modes"]["eager"]
    assert set(projected["runs"]) == runs and set(projected["validation_share_of_epoch"]) == runs
    assert all(0 < share < 1 for share in projected["validation_share_of_epoch"].values())
    assert set(report["targets"]) == set(gpu_check.TARGETS)
    assert all(target["measured"] is not None for target in report["targets"].values())
    assert {"train_step_batch64", "decode_batch64"} == set(report["profiles"])
    assert report["real_training"]["examples"] > 0
    printed = capsys.readouterr().out
    assert "paper config, eager" in printed and "estimate" in printed


def test_a_check_stopped_early_keeps_what_it_measured(tmp_path):
    """Each stage is written as soon as it is measured; one beyond the budget is skipped, with why."""
    gpu_check = load_gpu_check()
    report = gpu_check.Report(tmp_path / "check.json", budget_seconds=60.0, device="cpu")
    report.stage("training/eigenvalues", 0, lambda: {"eager": {"64": {"examples_per_s": 1.0}}})
    report.stage("decoding/eigenvalues", 3600, lambda: {"never": "measured"})
    report.stage("profiles", 0, lambda: 1 / 0)
    saved = json.loads((tmp_path / "check.json").read_text())
    assert saved["training"]["eigenvalues"]["eager"]["64"]["examples_per_s"] == 1.0
    assert "decoding" not in saved or "eigenvalues" not in saved["decoding"]
    assert saved["skipped"]["decoding/eigenvalues"].startswith("needs ~3600 s")
    assert saved["skipped"]["profiles"].startswith("failed: ZeroDivisionError")
