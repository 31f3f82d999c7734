"""benchmarks/gpu_check.py in its CPU mode: the GPU check itself is tested everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_in_its_small_cpu_mode(tmp_path):
    out = tmp_path / "check.json"
    result = subprocess.run(
        [sys.executable, ROOT / "benchmarks" / "gpu_check.py", "--device", "cpu", "--small", "--out", out],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["models"]) == {"eigenvalues", "eigenvectors", "inversion"}
    for model in report["models"].values():
        assert model["paper_batch_examples_per_s"] > 0 and model["flops_per_example"] > 0
        assert all(model["loss_within_tolerance"].values()), model["loss_vs_fp32"]
    assert report["decoding"]["matrices"] == 200 and report["decoding"]["examples_per_s"] > 0
    assert report["real_training"]["examples"] > 0
    # Every run of the paper config gets a projected (estimated) training time.
    assert {"eigvec5", "inv5", "eigval_laplace"} <= set(report["projected_training"])
    assert "E4 Laplace" in result.stdout and "estimate" in result.stdout
