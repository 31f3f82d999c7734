"""Measure on one GPU every figure of issue 21's table, and project the paper config's wall time.

Stages, in order of what matters most; each is written to the JSON as soon as it is measured, so
a call stopped at its time limit keeps what it measured, and a stage that would overrun the
budget (--budget-minutes) is skipped with the reason:
1. the bf16 matmul peak, the denominator of MFU (model FLOPs utilisation);
2. the training step (mathformer.engine.step.TrainStep, real batches of each task) of E1
   eigenvectors, E3 inversion and E4 eigenvalues at the paper's batch 64: eager, and compiled
   with CUDA graphs (run options compile + cuda_graphs); examples/s, MFU, and the graphed
   step's losses against the eager one's from the same weights on the same batches;
3. E1 at larger batches (256 up to 8,192, while memory lasts) in both modes, and compiled without
   graphs: the best batch and mode, with its MFU;
4. greedy decoding of 10,000 matrices as evaluate does it (with the model's confidence): E1 at
   eval batch 1,024, 4,096 and 10,000, E3 and E4 at 10,000, eager and as a CUDA graph;
5. where the time goes: the top operators of an eager E1 step at batch 64 and of a decoding batch;
6. from those figures, validation's share of an epoch at the paper's settings and the wall time
   of every training of config/config.yaml, under today's defaults and with CUDA graphs (the
   examples each run needs to reach its best epoch are an ESTIMATE, labelled so);
7. the CUDA tests (`pytest -m cuda`);
8. with the time left, a real E4 training through mathformer.engine.train with the defaults.

`--device cpu --small` runs every stage on tiny models in seconds (the compiled modes and the CUDA
tests only on a GPU), so the script itself is tested everywhere (tests/test_gpu_check.py).

    python benchmarks/gpu_check.py [--device cuda|cpu] [--small] [--out FILE] [--budget-minutes 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import yaml

from mathformer.core.config import RunConfig
from mathformer.core.encoding import EOS
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.devices import resolve_device
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.provenance import versions
from mathformer.engine.step import TrainStep
from mathformer.engine.stream import TrainingStream
from mathformer.engine.train import train
from mathformer.formats.atomic import atomic_path
from mathformer.formats.datasets import generate_dataset, save_dataset
from mathformer.formats.train_log import VALID, accuracy_column, read_log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PAPER_RUNS = {"eigenvectors": "eigvec5", "inversion": "inv5", "eigenvalues": "eigval_laplace"}
# Examples each paper run is expected to need to reach its best epoch, for the projection (an
# ESTIMATE): the authors' 5x5 eigenvalue models peak after ~40M examples (shared record of LAWT);
# eigenvectors and inversion are assumed to peak after 50M. The plateau stop then waits
# `patience` more epochs.
ASSUMED_EXAMPLES_TO_BEST = {"eigenvalues": 40_000_000, "eigenvectors": 50_000_000, "inversion": 50_000_000}
SMALL = dict(enc_layers=1, dec_layers=1, enc_dim=32, dec_dim=32, enc_heads=2, dec_heads=2, n=3)
PAPER_BATCH = 64
# The targets, each against the figure that answers it.
TARGETS = {
    "e1_batch64_examples_per_s": 17_000,
    "e3_batch64_speedup": 4.0,
    "e4_batch64_speedup": 4.0,
    "best_mfu": 0.45,
    "e1_decoding_matrices_per_s": 20_000,
    "validation_share_of_epoch": 0.05,
    "paper_config_hours": 12.0,
}
# Examples/s of the same rows before this work (shared/notes/gpu-h200.md), for the speed-ups.
BEFORE = {"eigenvectors": 4_311, "inversion": 3_228, "eigenvalues": 3_585}


@dataclasses.dataclass
class Sizes:
    """How much each stage measures: the GPU's, or a few seconds' worth with --small."""

    timed_steps: int = 200
    big_batch_steps: int = 20
    batches: tuple[int, ...] = (256, 1024, 4096, 8192)
    decode_count: int = 10_000
    decode_batches: tuple[int, ...] = (1024, 4096, 10_000)
    modes: tuple[str, ...] = ("eager", "graphs")


SMALL_SIZES = Sizes(8, 4, (32,), 200, (64, 200), ("eager",))


class Report:
    """The JSON being filled in, rewritten after every stage (atomically)."""

    def __init__(self, path: Path, budget_seconds: float, **header: object) -> None:
        self.path = path
        self.started = time.perf_counter()
        self.budget = budget_seconds
        self.data: dict = {**header, "budget_seconds": budget_seconds, "skipped": {}}

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def stage(self, key: str, needs_seconds: float, measure: Callable[..., object], *args: object) -> None:
        """Record `measure(*args)` under `key` ("a/b": data["a"]["b"]) when the budget allows."""
        *parents, name = key.split("/")
        place = self.data
        for parent in parents:
            place = place.setdefault(parent, {})
        if self.left() < needs_seconds:
            self.data["skipped"][key] = (
                f"needs ~{needs_seconds:.0f} s, {self.left():.0f} s of the budget left"
            )
        else:
            began = time.perf_counter()
            try:
                place[name] = measure(*args)
            except Exception as error:  # noqa: BLE001 - record it and go on to the next stage
                self.data["skipped"][key] = f"failed: {type(error).__name__}: {str(error)[:500]}"
            print(
                f"[{time.perf_counter() - self.started:6.0f} s] {key}: {time.perf_counter() - began:.0f} s",
                flush=True,
            )
        self.save()

    def save(self) -> None:
        self.data["seconds"] = time.perf_counter() - self.started
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")


def paper_settings(small: bool) -> dict[str, RunConfig]:
    """The paper config's E1, E3 and one E4 run, resolved; tiny versions of them with --small."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    rows = {row["name"]: row for row in config["runs"]}
    return {task: run_config(config, rows[name], SMALL if small else {}) for task, name in PAPER_RUNS.items()}


def run_config(config: dict, row: dict, changes: dict) -> RunConfig:
    values = {
        **config["run_defaults"],
        **{k: v for k, v in row.items() if k not in ("name", "experiment", "analyses")},
    }
    return RunConfig.from_dict(values | changes)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """FLOP/s of a large square matmul in `dtype`: the peak MFU is measured against."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    repeats = 20 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def flops_per_example(cfg: RunConfig) -> float:
    vocab, problem = cfg.vocabulary(), cfg.problem()
    model = Seq2Seq(ModelConfig.of_run(cfg))
    return model.flops_per_example(
        vocab.source_length(problem.input_shape), vocab.target_length(problem.target_shape)
    )


def real_batches(cfg: RunConfig, batch: int, count: int, device: torch.device) -> list:
    """`count` real training batches of the run's stream, pinned on a GPU host (as workers give them)."""
    stream = TrainingStream.of_run(dataclasses.replace(cfg, batch_size=batch))
    pairs = stream.batches(range(count))
    if device.type == "cuda":
        pairs = [(src.pin_memory(), tgt.pin_memory()) for src, tgt in pairs]
    return pairs


def make_step(cfg: RunConfig, mode: str, device: torch.device) -> TrainStep:
    """The training step of `cfg` from the seed's weights; mode eager, compiled or graphs."""
    run = dataclasses.replace(cfg, compile=mode != "eager", cuda_graphs=mode == "graphs")
    if mode != "eager":  # a fresh compile: dynamo's per-function cache would count every model
        torch._dynamo.reset()
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig.of_run(run)).to(device)
    return TrainStep(model, run, device, "bf16" if device.type == "cuda" else "fp32")


def time_steps(step: TrainStep, batches: list, steps: int, warmup: int, device: torch.device) -> dict:
    """examples/s over `steps` steps after `warmup` (which compiles and records graphs); the losses."""
    lr = 1e-4
    began = time.perf_counter()
    losses = [step(*batches[i % len(batches)], lr) for i in range(warmup)]
    sync(device)
    start = time.perf_counter()
    losses += [step(*batches[i % len(batches)], lr) for i in range(warmup, warmup + steps)]
    sync(device)
    elapsed = time.perf_counter() - start
    return {
        "examples_per_s": len(batches[0][0]) * steps / elapsed,
        "step_ms": 1000 * elapsed / steps,
        "warmup_seconds": start - began,
        "losses": [float(loss) for loss in torch.stack(losses).cpu()],
    }


def training_throughput(
    cfg: RunConfig, device: torch.device, sizes: Sizes, batches: tuple[int, ...], peak: float
) -> dict:
    """Each mode of sizes.modes at the paper's batch, then at `batches` (same step: no new model)."""
    flops = flops_per_example(cfg)
    out: dict = {"run": cfg.task, "flops_per_example": flops}
    for mode in sizes.modes:
        step = make_step(cfg, mode, device)
        rows = {}
        for batch in (PAPER_BATCH, *batches):
            steps = sizes.timed_steps if batch == PAPER_BATCH else sizes.big_batch_steps
            try:
                data = real_batches(cfg, batch, 8 if batch > 1024 else 32, device)
                timing = time_steps(step, data, steps, 5 if batch == PAPER_BATCH else 3, device)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                rows[str(batch)] = {"out_of_memory": True}
                break
            timing["mfu"] = flops * timing["examples_per_s"] / peak
            rows[str(batch)] = timing
        out[mode] = rows
        del step
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if {"eager", "graphs"} <= set(out):  # the same weights and batches: the first 100 losses
        eager, graphs = (np.array(out[m][str(PAPER_BATCH)]["losses"][:100]) for m in ("eager", "graphs"))
        out["graphs_loss_vs_eager_max_relative"] = float(np.max(np.abs(graphs - eager) / np.abs(eager)))
    for rows in (out[mode] for mode in sizes.modes):
        for row in rows.values():
            row.pop("losses", None)
    return out


def never_ending_model(cfg: RunConfig, device: torch.device) -> Seq2Seq:
    """Random weights with a zero <eos> embedding, so that no row stops early: a trained model
    writes its whole answer too, and the work per token does not depend on the weights."""
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig.of_run(cfg)).to(device).eval()
    with torch.no_grad():
        model.decoder.tokens.weight[EOS].zero_()
    return model


def decoding_speed(cfg: RunConfig, device: torch.device, count: int, batches: tuple[int, ...], modes) -> dict:
    """Matrices/s of decode_test_set (greedy, with the confidence, as evaluate runs it)."""
    model = never_ending_model(cfg, device)
    vocab, problem = cfg.vocabulary(), cfg.problem()
    inputs, _ = problem.sample(count, np.random.default_rng(0))
    precision = "bf16" if device.type == "cuda" else "fp32"
    steps = vocab.target_length(problem.target_shape) - 1
    out: dict = {"matrices": count, "decoding_steps": steps}
    decode_test_set(model, vocab, inputs[:8], problem.target_shape, 1, 8, False, precision)  # CUDA start-up
    for mode in modes:
        rows = {}
        for batch in batches:
            sync(device)
            start = time.perf_counter()
            decode_test_set(
                model, vocab, inputs, problem.target_shape, 1, batch, False, precision,
                confidence={}, cuda_graph=mode == "graphs",
            )  # fmt: skip
            sync(device)
            elapsed = time.perf_counter() - start
            batch_count = -(-count // batch)
            rows[str(batch)] = {
                "matrices_per_s": count / elapsed,
                "seconds": elapsed,
                "ms_per_decoding_step": 1000 * elapsed / (batch_count * steps),
            }
        out[mode] = rows
    return out


def profiles(cfg: RunConfig, device: torch.device, small: bool) -> dict[str, str]:
    """The top operators (by their own device time on a GPU, CPU time on a CPU) of 5 eager training steps
    at batch 64 and of one decoding batch: where the time goes."""
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    step = make_step(cfg, "eager", device)
    data = real_batches(cfg, PAPER_BATCH, 5, device)
    time_steps(step, data, 2, 2, device)
    with torch.profiler.profile() as profiler:
        time_steps(step, data, 5, 0, device)
    tables = {"train_step_batch64": profiler.key_averages().table(sort_by=sort, row_limit=20)}
    model = never_ending_model(cfg, device)
    inputs, _ = cfg.problem().sample(64 if small else 1024, np.random.default_rng(0))
    precision = "bf16" if device.type == "cuda" else "fp32"
    shape = cfg.problem().target_shape
    decode_test_set(model, cfg.vocabulary(), inputs[:8], shape, 1, 8, False, precision)
    with torch.profiler.profile() as profiler:
        decode_test_set(
            model, cfg.vocabulary(), inputs, shape, 1, len(inputs), False, precision, confidence={}
        )
    tables[f"decode_batch{len(inputs)}"] = profiler.key_averages().table(sort_by=sort, row_limit=20)
    return tables


def best_rate(rows: dict | None, key: str) -> float | None:
    """The highest `key` over the measured rows of one mode ({batch: row})."""
    rates = [row[key] for row in (rows or {}).values() if key in row]
    return max(rates) if rates else None


def paper_projection(data: dict, small: bool) -> dict:
    """Validation's share of an epoch and every paper run's wall time, per mode, from the figures
    measured: today's defaults (eager step, eager decoding at the CUDA default batch) and graphs."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    training, decoding = data.get("training", {}), data.get("decoding", {})
    out: dict = {"examples_to_best_epoch": "ESTIMATE (ASSUMED_EXAMPLES_TO_BEST)", "modes": {}}
    for mode in ("eager", "graphs"):
        runs, shares = {}, {}
        for row in config["runs"]:
            cfg = run_config(config, row, SMALL if small else {})
            train_rate = (
                (training.get(cfg.task, {}).get(mode) or {}).get(str(PAPER_BATCH), {}).get("examples_per_s")
            )
            decode_rate = best_rate(decoding.get(cfg.task, {}).get(mode), "matrices_per_s")
            if train_rate is None or decode_rate is None:
                continue
            monitored = config["ood"]["monitor"] and "ood" in row.get("analyses", [])
            decoded_per_epoch = config["data"]["valid_size"] * (
                1 + (len(config["ood"]["test_spectra"]) if monitored else 0)
            )
            epoch_train, epoch_valid = cfg.epoch_size / train_rate, decoded_per_epoch / decode_rate
            examples = ASSUMED_EXAMPLES_TO_BEST[cfg.task] + (cfg.patience or 0) * cfg.epoch_size
            epochs = examples / cfg.epoch_size
            runs[row["name"]] = {
                "examples_estimate": examples,
                "hours_estimate": epochs * (epoch_train + epoch_valid) / 3600,
                "n": cfg.n,  # a run of another n is projected at the measured n's speed
            }
            shares[row["name"]] = epoch_valid / (epoch_train + epoch_valid)
        if runs:
            total = sum(run["hours_estimate"] for run in runs.values())
            out["modes"][mode] = {
                "runs": runs,
                "validation_share_of_epoch": shares,
                "total_hours_estimate": total,
            }
    return out


def targets(data: dict) -> dict:
    """The issue's table: each target beside the best figure measured for it."""
    training, decoding = data.get("training", {}), data.get("decoding", {})
    # E1's compiled-without-graphs rows come last, from a stage of their own.
    modes_of = {task: training.get(task, {}) for task in PAPER_RUNS}
    modes_of["eigenvectors"] = {**modes_of["eigenvectors"], **training.get("eigenvectors_compiled", {})}

    def at_paper_batch(task: str) -> float | None:
        rows = [
            (modes_of[task].get(mode) or {}).get(str(PAPER_BATCH), {})
            for mode in ("eager", "compiled", "graphs")
        ]
        return max((row["examples_per_s"] for row in rows if "examples_per_s" in row), default=None)

    e1, e3, e4 = (at_paper_batch(task) for task in ("eigenvectors", "inversion", "eigenvalues"))
    mfus = [best_rate(modes_of["eigenvectors"].get(mode), "mfu") for mode in ("eager", "compiled", "graphs")]
    decodes = [
        best_rate(decoding.get("eigenvectors", {}).get(mode), "matrices_per_s")
        for mode in ("eager", "graphs")
    ]
    modes = data.get("projection", {}).get("modes", {})
    measured = {
        "e1_batch64_examples_per_s": e1,
        "e3_batch64_speedup": e3 / BEFORE["inversion"] if e3 else None,
        "e4_batch64_speedup": e4 / BEFORE["eigenvalues"] if e4 else None,
        "best_mfu": max((m for m in mfus if m is not None), default=None),
        "e1_decoding_matrices_per_s": max((d for d in decodes if d is not None), default=None),
        "validation_share_of_epoch": min(
            (max(mode["validation_share_of_epoch"].values()) for mode in modes.values()), default=None
        ),
        "paper_config_hours": min((mode["total_hours_estimate"] for mode in modes.values()), default=None),
    }
    lower_is_better = {"validation_share_of_epoch", "paper_config_hours"}
    table = {}
    for name, target in TARGETS.items():
        value = measured[name]
        met = None if value is None else (value <= target if name in lower_is_better else value >= target)
        table[name] = {"target": target, "measured": value, "met": met}
    return table


def cuda_tests(timeout: float) -> dict:
    """`pytest -m cuda` over the suite: collects with the core dependencies only."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "cuda",
        str(ROOT / "tests"),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as stopped:
        return {
            "returncode": None,
            "summary": f"stopped after {timeout:.0f} s",
            "output_tail": str(stopped.stdout)[-4000:],
        }
    lines = result.stdout.strip().splitlines() or [""]
    return {"returncode": result.returncode, "summary": lines[-1], "output_tail": result.stdout[-4000:]}


def real_training(
    cfg: RunConfig, device: torch.device, examples_per_s: float, seconds: float, small: bool
) -> dict:
    """Train the E4 Laplace model for about `seconds` through mathformer.engine.train, with the
    defaults (data workers, eval batch): its speed end to end and the accuracy it reached."""
    budget = max(cfg.batch_size * 4, int(examples_per_s * seconds) // cfg.batch_size * cfg.batch_size)
    run = dataclasses.replace(
        cfg, max_examples=budget, epoch_size=max(cfg.batch_size, budget // 3), patience=None
    )
    with tempfile.TemporaryDirectory() as folder:
        valid = Path(folder) / "valid.npz"
        save_dataset(generate_dataset(run.problem(), 200 if small else 2000, seed=1), valid)
        start = time.perf_counter()
        train(run, Path(folder) / "run", valid, device=device.type)
        elapsed = time.perf_counter() - start
        last = read_log(Path(folder) / "run" / "train_log.csv").iloc[-1]
    return {
        "run": PAPER_RUNS["eigenvalues"],
        "examples": int(last["examples"]),
        "seconds": elapsed,
        "examples_per_s_end_to_end": int(last["examples"]) / elapsed,
        "valid_accuracy_5": float(last[accuracy_column(VALID, 0.05)]),
    }


# Seconds each stage takes on an H200 (a guess before its first run): a stage starts only when
# the budget has that much left. --small needs none.
STAGE_SECONDS = {
    "matmul_peak_flops": 10,
    "training/eigenvectors": 150,
    "training/inversion": 60,
    "training/eigenvalues": 60,
    "decoding/eigenvectors": 60,
    "decoding/inversion": 30,
    "decoding/eigenvalues": 15,
    "profiles": 30,
    "cuda_tests": 200,
    "training/eigenvectors_compiled": 100,
    "real_training": 60,
}


def run_stages(report: Report, device: torch.device, small: bool) -> None:
    """Every stage, in the order of the module docstring."""
    settings, sizes = paper_settings(small), SMALL_SIZES if small else Sizes()
    gpu = device.type == "cuda"

    def stage(key: str, measure: Callable[..., object], *args: object) -> None:
        report.stage(key, 0.0 if small else STAGE_SECONDS.get(key, 0.0), measure, *args)

    dtype = torch.bfloat16 if gpu else torch.float32
    stage("matmul_peak_flops", matmul_peak, device, dtype, 1024 if small else 8192)
    peak = report.data.get("matmul_peak_flops") or float("nan")
    for task, batches in (("eigenvectors", sizes.batches), ("inversion", ()), ("eigenvalues", ())):
        stage(f"training/{task}", training_throughput, settings[task], device, sizes, batches, peak)
    for task, batches in (
        ("eigenvectors", sizes.decode_batches),
        ("inversion", sizes.decode_batches[-1:]),
        ("eigenvalues", sizes.decode_batches[-1:]),
    ):
        stage(
            f"decoding/{task}",
            decoding_speed,
            settings[task],
            device,
            sizes.decode_count,
            batches,
            sizes.modes,
        )
    stage("projection", paper_projection, report.data, small)
    stage("targets", targets, report.data)
    stage("profiles", profiles, settings["eigenvectors"], device, small)
    if gpu:
        stage("cuda_tests", cuda_tests, max(report.left() - 30, 60))
        compiled = dataclasses.replace(sizes, modes=("compiled",))
        stage(
            "training/eigenvectors_compiled",
            training_throughput,
            settings["eigenvectors"],
            device,
            compiled,
            (4096,),
            peak,
        )
        stage("targets", targets, report.data)
    e4_rows = report.data.get("training", {}).get("eigenvalues", {}).get("eager") or {}
    e4_rate = e4_rows.get(str(PAPER_BATCH), {}).get("examples_per_s", 1000.0)
    seconds = 5 if small else min(120.0, report.left() - 30)
    stage("real_training", real_training, settings["eigenvalues"], device, e4_rate, seconds, small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--small", action="store_true", help="tiny models and budgets: seconds, for tests")
    parser.add_argument(
        "--out",
        type=Path,
        help="default benchmarks/results/gpu_check.json (gpu_check_small.json with --small)",
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=8.0,
        help="stages that would overrun it are skipped (default 8)",
    )
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    out = args.out or RESULTS / ("gpu_check_small.json" if args.small else "gpu_check.json")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    report = Report(out, args.budget_minutes * 60, device=name, small=args.small, versions=versions())
    run_stages(report, device, args.small)
    print_table(report.data)
    print(f"wrote {out}")
    return 0


def print_table(data: dict) -> None:
    peak = (data.get("matmul_peak_flops") or 0) / 1e12
    print(f"device: {data['device']}  bf16 matmul peak: {peak:.1f} TFLOP/s")
    for task, result in data.get("training", {}).items():
        for mode in ("eager", "compiled", "graphs"):
            for batch, row in (result.get(mode) or {}).items():
                if "examples_per_s" in row:
                    rate, mfu = row["examples_per_s"], row["mfu"]
                    print(f"  train {task:13} {mode:8} batch {batch:>5}: {rate:9.0f} ex/s  MFU {mfu:6.1%}")
    for task, result in data.get("decoding", {}).items():
        for mode in ("eager", "graphs"):
            for batch, row in (result.get(mode) or {}).items():
                print(
                    f"  decode {task:12} {mode:8} batch {batch:>5}: {row['matrices_per_s']:9.0f} matrices/s"
                )
    for name, target in data.get("targets", {}).items():
        value = "not measured" if target["measured"] is None else f"{target['measured']:,.3g}"
        print(f"  target {name:28} {value:>14} (target {target['target']:,}): met {target['met']}")
    for mode, projection in data.get("projection", {}).get("modes", {}).items():
        hours = projection["total_hours_estimate"]
        print(f"  paper config, {mode}: ~{hours:.1f} h (estimate: the examples each run needs are assumed)")
    for stage, why in data.get("skipped", {}).items():
        print(f"  skipped {stage}: {why}")


if __name__ == "__main__":
    sys.exit(main())
