"""A short, measured check that the paper-scale path works on a GPU, and what it will cost.

In at most ~8 minutes on one modern GPU it:
1. runs the test suite's CUDA tests (`pytest -m cuda`; on a CPU they skip);
2. trains each paper model (E1 eigenvectors, E3 inversion, E4 eigenvalues; config/config.yaml)
   for a few hundred steps on real batches in fp32, bf16 and fp16 (with the loss scaler) from the
   same initial weights, and compares the final losses with fp32's; measures training examples
   per second at batch 64 and at the largest batch that fits (doubling until out of memory),
   the mixed-precision losses within LOSS_TOLERANCE (2 %) of fp32's,
   with and without torch.compile, and the model FLOPs utilisation (MFU) against the measured
   bf16 matmul peak of this GPU;
3. decodes 10,000 test matrices with the cached greedy decoder: examples per second;
4. trains the paper's E4 Laplace model for 3 minutes for real (mathformer.engine.train.train) and
   reports the accuracy it reached; from the measured speeds, projects the wall time of every
   training in config/config.yaml (labelled: how many examples each run needs is an estimate).

It writes one JSON (benchmarks/results/gpu_check.json by default) and prints a table.
`--device cpu --small` runs the same steps on tiny models in seconds, so the script itself is
tested everywhere (tests/test_gpu_check.py).

    python benchmarks/gpu_check.py [--device cuda|cpu] [--small] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from mathformer.core.config import RunConfig
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.devices import autocast, resolve_device
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.provenance import versions
from mathformer.engine.stream import TrainingStream
from mathformer.engine.train import train
from mathformer.formats.atomic import atomic_path
from mathformer.formats.datasets import generate_dataset, save_dataset
from mathformer.formats.train_log import VALID, accuracy_column, read_log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PAPER_RUNS = {"eigenvectors": "eigvec5", "inversion": "inv5", "eigenvalues": "eigval_laplace"}
# Examples each paper run is expected to need, for the projection (an ESTIMATE): the authors'
# 5x5 eigenvalue models peak after ~40M examples (shared record of LAWT), then the plateau stop
# waits `patience` more epochs; eigenvectors and inversion are assumed to peak after 50M.
ASSUMED_EXAMPLES_TO_BEST = {"eigenvalues": 40_000_000, "eigenvectors": 50_000_000, "inversion": 50_000_000}
SMALL = dict(enc_layers=1, dec_layers=1, enc_dim=32, dec_dim=32, enc_heads=2, dec_heads=2, n=3)
# Mixed precision passes when its final loss after the same steps from the same weights on the
# same batches is within 2 % of fp32's (rounding noise grows with steps; a broken scaler or
# autocast path is off by far more).
LOSS_TOLERANCE = 0.02


def paper_settings(small: bool) -> dict[str, RunConfig]:
    """The paper config's E1, E3 and one E4 run, resolved; tiny versions of them with --small."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    rows = {row["name"]: row for row in config["runs"]}
    settings = {}
    for task, name in PAPER_RUNS.items():
        values = {
            **config["run_defaults"],
            **{k: v for k, v in rows[name].items() if k not in ("name", "experiment", "analyses")},
        }
        if small:
            values |= SMALL
        settings[task] = RunConfig.from_dict(values)
    return settings


def _steps(
    cfg: RunConfig,
    device: torch.device,
    precision: str,
    batch: int,
    steps: int,
    compiled: bool,
    seed: int = 0,
):
    """Train `steps` steps from the seed's weights on the run's real stream; (last loss, ex/s after warm-up)."""
    torch.manual_seed(seed)
    vocab = cfg.vocabulary()
    model = Seq2Seq(ModelConfig.of_run(cfg)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    loss_fn = torch.compile(model.loss) if compiled else model.loss
    stream = iter(TrainingStream(cfg.problem(), vocab, batch, cfg.seed))
    warmup = min(5, steps // 2)
    start = None
    for step in range(steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        src, tgt = (tensor.to(device, non_blocking=True) for tensor in next(stream))
        with autocast(precision, device):
            loss = loss_fn(src, tgt)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return float(loss), batch * (steps - warmup) / elapsed


def largest_batch(cfg: RunConfig, device: torch.device, precision: str, cap: int) -> int:
    """The largest power-of-two batch (from 64, at most `cap`) whose training step fits in memory."""
    batch, fits = 64, 64
    while batch <= cap:
        try:
            _steps(cfg, device, precision, batch, 2, compiled=False)
            fits = batch
            batch *= 2
        except torch.OutOfMemoryError:
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return fits


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """FLOP/s of a large square matmul in `dtype`: the peak MFU is measured against."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    repeats = 20 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def flops_per_example(cfg: RunConfig) -> float:
    vocab = cfg.vocabulary()
    problem = cfg.problem()
    model = Seq2Seq(ModelConfig.of_run(cfg))
    return model.flops_per_example(
        vocab.source_length(problem.input_shape), vocab.target_length(problem.target_shape)
    )


def check_model(task: str, cfg: RunConfig, device: torch.device, small: bool, peak: float) -> dict:
    steps, batch = (20, 16) if small else (300, cfg.batch_size)
    precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    losses, speeds = {}, {}
    for precision in precisions:
        losses[precision], speeds[f"{precision}_batch{batch}"] = _steps(
            cfg, device, precision, batch, steps, False
        )
    fast = "bf16" if device.type == "cuda" else "fp32"
    base = speeds[f"{fast}_batch{batch}"]
    compiled = None if small else _steps(cfg, device, fast, batch, steps, True)[1]
    largest = largest_batch(cfg, device, fast, 64 if small else 8192)
    _, at_largest = _steps(cfg, device, fast, largest, 30 if not small else 4, False)
    flops = flops_per_example(cfg)
    best = max(value for value in (base, compiled, at_largest) if value)
    relative = {p: abs(losses[p] - losses["fp32"]) / abs(losses["fp32"]) for p in precisions}
    return {
        "run": PAPER_RUNS[task],
        "steps": steps,
        "final_loss": losses,
        "loss_vs_fp32": relative,
        "loss_within_tolerance": {p: value <= LOSS_TOLERANCE for p, value in relative.items()},
        "examples_per_s": speeds
        | {f"{fast}_batch{batch}_compiled": compiled, f"{fast}_batch{largest}": at_largest},
        "paper_batch_examples_per_s": base,
        "largest_batch": largest,
        "flops_per_example": flops,
        "mfu_paper_batch": flops * base / peak,
        "mfu_best": flops * best / peak,
        "best_examples_per_s": best,
    }


def check_decoding(cfg: RunConfig, device: torch.device, count: int) -> dict:
    vocab = cfg.vocabulary()
    problem = cfg.problem()
    model = Seq2Seq(ModelConfig.of_run(cfg)).to(device).eval()
    inputs, _ = problem.sample(count, np.random.default_rng(0))
    precision = "bf16" if device.type == "cuda" else "fp32"
    start = time.perf_counter()
    decode_test_set(model, vocab, inputs, problem.target_shape, 1, 1024, progress=False, precision=precision)
    elapsed = time.perf_counter() - start
    return {"task": problem.task, "matrices": count, "examples_per_s": count / elapsed, "seconds": elapsed}


def real_training(
    cfg: RunConfig, device: torch.device, examples_per_s: float, seconds: float, small: bool
) -> dict:
    """Train the E4 Laplace model for about `seconds` through mathformer.engine.train: what it reached."""
    budget = max(cfg.batch_size * 4, int(examples_per_s * seconds) // cfg.batch_size * cfg.batch_size)
    run = dataclasses.replace(
        cfg, max_examples=budget, epoch_size=max(cfg.batch_size, budget // 3), patience=None
    )
    with tempfile.TemporaryDirectory() as folder:
        valid = Path(folder) / "valid.npz"
        save_dataset(generate_dataset(run.problem(), 200 if small else 2000, seed=1), valid)
        start = time.perf_counter()
        train(run, Path(folder) / "run", valid, device=device.type, eval_batch_size=512)
        elapsed = time.perf_counter() - start
        last = read_log(Path(folder) / "run" / "train_log.csv").iloc[-1]
    return {
        "run": PAPER_RUNS["eigenvalues"],
        "examples": int(last["examples"]),
        "seconds": elapsed,
        "valid_accuracy_5": float(last[accuracy_column(VALID, 0.05)]),
        "valid_accuracy_1": float(last[accuracy_column(VALID, 0.01)]),
    }


def projections(settings: dict[str, RunConfig], models: dict, decode_speed: float) -> dict:
    """Estimated wall time of every training in config/config.yaml on one such device."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    out = {}
    for row in config["runs"]:
        task = row["task"]
        cfg = RunConfig.from_dict(
            {
                **config["run_defaults"],
                **{k: v for k, v in row.items() if k not in ("name", "experiment", "analyses")},
            }
        )
        examples = ASSUMED_EXAMPLES_TO_BEST[task] + (cfg.patience or 0) * cfg.epoch_size
        epochs = examples / cfg.epoch_size
        monitored = (
            len(config["ood"]["test_spectra"])
            if "ood" in row.get("analyses", []) and config["ood"]["monitor"]
            else 0
        )
        eval_examples = epochs * config["data"]["valid_size"] * (1 + monitored)
        speed = models[task]["paper_batch_examples_per_s"]
        hours = (examples / speed + eval_examples / decode_speed) / 3600
        out[row["name"]] = {"examples_estimate": examples, "epochs_estimate": epochs, "hours_estimate": hours}
    return out


def cuda_tests() -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "cuda", str(ROOT / "tests")],
        capture_output=True,
        text=True,
    )
    return {"returncode": result.returncode, "summary": (result.stdout.strip().splitlines() or [""])[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--small", action="store_true", help="tiny models and budgets: seconds, for tests")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_check.json")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    small = args.small
    started = time.perf_counter()
    report: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "small": small,
        "versions": versions(),
    }
    report["cuda_tests"] = cuda_tests() if device.type == "cuda" else {"skipped": "no CUDA device"}
    peak_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    report["matmul_peak_flops"] = matmul_peak(device, peak_dtype, 1024 if small else 8192)
    settings = paper_settings(small)
    report["models"] = {
        task: check_model(task, cfg, device, small, report["matmul_peak_flops"])
        for task, cfg in settings.items()
    }
    report["decoding"] = check_decoding(settings["eigenvectors"], device, 200 if small else 10_000)
    e4 = settings["eigenvalues"]
    report["real_training"] = real_training(
        e4, device, report["models"]["eigenvalues"]["best_examples_per_s"], 5 if small else 180, small
    )
    report["projected_training"] = projections(
        settings, report["models"], report["decoding"]["examples_per_s"]
    )
    report["seconds"] = time.perf_counter() - started
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.out}")
    return 0


def print_table(report: dict) -> None:
    print(f"device: {report['device']}  matmul peak: {report['matmul_peak_flops'] / 1e12:.1f} TFLOP/s")
    print(f"{'model':14} {'ex/s':>10} {'best ex/s':>10} {'batch':>6} {'MFU':>6} {'loss bf16/fp32':>15}")
    for task, model in report["models"].items():
        ratio = model["loss_vs_fp32"].get("bf16", math.nan)
        print(
            f"{task:14} {model['paper_batch_examples_per_s']:10.1f} {model['best_examples_per_s']:10.1f} "
            f"{model['largest_batch']:6d} {model['mfu_best']:6.1%} {ratio:15.2%}"
        )
    decoding, real = report["decoding"], report["real_training"]
    print(f"decoding {decoding['matrices']} {decoding['task']}: {decoding['examples_per_s']:.0f} ex/s")
    print(
        f"E4 Laplace, {real['seconds']:.0f} s of real training: {real['examples']} examples, {real['valid_accuracy_5']:.1%} at 5 %"
    )
    for name, projection in report["projected_training"].items():
        print(
            f"  {name:18} ~{projection['hours_estimate']:.1f} h (estimate: {projection['examples_estimate'] / 1e6:.0f}M examples)"
        )


if __name__ == "__main__":
    sys.exit(main())
