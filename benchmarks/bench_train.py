"""Training throughput and model FLOPs utilisation (MFU) of the paper's models on this machine.

A training step is what training does per batch: forward, loss, backward, gradient clipping at 5
and an Adam step (fused where torch has it), on random token ids with the lengths and vocabulary
sizes of the real task (5x5 matrices, FP15 in, the task's output encoding out). MFU is the model's
FLOPs per second (Seq2Seq.flops_per_example x examples per second) over the matmul peak of this
machine in the same precision, measured in the same run (best of a large `torch.matmul` and the
`linear` shape of a 512-wide FFN), before and after the models; the higher peak is the divisor.
On a CPU both are also given by core time (process CPU time per torch thread), which other
processes on a shared machine do not inflate: `mfu_core_time` is the figure to trust there,
exactly so with --threads 1. If another process holds one of two cores, use --threads 1: two
threads then spend much of each step waiting at thread barriers (measured: 2-4x slower).

Run by hand, not as a test (the machine may be shared: the load average is recorded with the
figures, and a busy machine lowers both ex/s and the measured peak):
    python benchmarks/bench_train.py [--quick] [--models small,eigenvalues] [--profile]
        [--threads N] [--device cpu|cuda] [--precision fp32|bf16] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from mathformer.core.config import RunConfig
from mathformer.core.encoding import BOS, EOS, Vocabulary
from mathformer.core.problems import Problem
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.provenance import versions
from mathformer.formats.atomic import atomic_path

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Workload:
    """One of the paper's models on its task (n = 5), with the reference code's speed beside it."""

    task: str
    output_encoding: str
    architecture: dict = field(default_factory=dict)
    # facebookresearch/LAWT on a 2-core Zen 3 of this project (shared/notes/cpu-performance.md):
    # another CPU (no AVX-512) and one shared source/target vocabulary, so a rough yardstick only.
    reference_train_examples_per_s: float | None = None
    reference_eval_examples_per_s: float | None = None
    input_encoding: str = "FP15"

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.input_encoding, self.output_encoding)

    def lengths(self) -> tuple[int, int]:
        """(source, target) lengths of one example, <bos> and <eos> included."""
        problem = Problem(self.task, n=5)
        vocab = self.vocabulary()
        return vocab.source_length(problem.input_shape), vocab.target_length(problem.target_shape)

    def model_config(self) -> ModelConfig:
        return ModelConfig.of_run(
            RunConfig.from_dict({"task": self.task, "n": 5, **self.encodings(), **self.architecture})
        )

    def encodings(self) -> dict[str, str]:
        return {"input_encoding": self.input_encoding, "output_encoding": self.output_encoding}


WORKLOADS = {
    "eigenvalues": Workload("eigenvalues", "FP15", {}, 30.0, 72.0),
    "eigenvectors": Workload("eigenvectors", "P1000", {}, 8.0, 13.0),
    "inversion": Workload("inversion", "P1000", dict(enc_dim=516, enc_heads=12), 9.5, 15.0),
    "small": Workload(
        "eigenvalues", "FP15", dict(enc_layers=2, dec_layers=1, enc_dim=256, dec_dim=256), 128.0, 150.0
    ),
}
PAPER_MODELS = ("eigenvalues", "eigenvectors", "inversion")
MFU_TARGETS = {"paper": 0.60, "small": 0.35}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def core_seconds() -> float:
    """CPU time of this process per torch thread: what the work costs on cores it has to itself.

    Wall time on a shared machine counts the time other processes hold the cores; this does not
    (exactly so with one thread; with more, spin-waiting threads still count)."""
    return time.process_time() / torch.get_num_threads()


def best_seconds(call: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, float]:
    """Fastest (wall, core) seconds of `repeats` calls after one untimed call."""
    call()
    synchronize(device)
    walls, cores = [], []
    for _ in range(repeats):
        wall, core = time.perf_counter(), core_seconds()
        call()
        synchronize(device)
        walls.append(time.perf_counter() - wall)
        cores.append(core_seconds() - core)
    return min(walls), min(cores)


def matmul_peak(device: torch.device, precision: str, repeats: int) -> dict[str, dict[str, float]]:
    """FLOP/s of large matmuls in the training precision, by wall and by core time: MFU denominators."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    square = 4096 if device.type == "cuda" else 2048
    a = torch.randn(square, square, device=device, dtype=dtype)
    b = torch.randn(square, square, device=device, dtype=dtype)
    x = torch.randn(1856, 512, device=device, dtype=dtype)  # 64 x 29 tokens into a 512 -> 2048 FFN
    w = torch.randn(2048, 512, device=device, dtype=dtype)
    shapes = {
        f"matmul_{square}": (2 * square**3, lambda: a @ b, repeats),
        "linear_1856x512x2048": (2 * 1856 * 512 * 2048, lambda: F.linear(x, w), 4 * repeats),
    }
    peaks = {}
    for name, (flops, call, count) in shapes.items():
        wall, core = best_seconds(call, device, count)
        peaks[name] = {"wall": flops / wall, "core": flops / core}
    return peaks


def random_batch(workload: Workload, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the task's lengths and vocabularies (values are irrelevant to speed)."""
    cfg = workload.model_config()
    src_len, tgt_len = workload.lengths()
    src = torch.randint(EOS + 1, cfg.src_vocab, (batch, src_len), device=device)
    tgt = torch.randint(EOS + 1, cfg.tgt_vocab, (batch, tgt_len), device=device)
    src[:, -1] = EOS
    tgt[:, 0], tgt[:, -1] = BOS, EOS
    return src, tgt


def make_optimizer(model: Seq2Seq) -> tuple[torch.optim.Optimizer, str]:
    try:
        return torch.optim.Adam(model.parameters(), lr=1e-4, fused=True), "fused"
    except RuntimeError:  # a device without a fused kernel
        return torch.optim.Adam(model.parameters(), lr=1e-4), "default"


def time_steps(
    model: Seq2Seq,
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor],
    precision: str,
    warmup: int,
    steps: int,
    seconds: float,
) -> dict[str, float]:
    """Median wall seconds per step and per phase, and core seconds per step, over `steps` steps
    (fewer if `seconds` run out)."""
    device = batch[0].device
    phases: dict[str, list[float]] = {"forward": [], "backward": [], "clip": [], "optimizer": []}
    core_times: list[float] = []

    def step(record: bool) -> None:
        core = core_seconds()
        marks = [time.perf_counter()]
        with autocast(device, precision):
            loss = model.loss(*batch, src_may_pad=False)
        synchronize(device)
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        synchronize(device)
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        synchronize(device)
        marks.append(time.perf_counter())
        optimizer.step()
        synchronize(device)
        marks.append(time.perf_counter())
        if record:
            core_times.append(core_seconds() - core)
            for name, start, end in zip(phases, marks, marks[1:]):
                phases[name].append(end - start)

    for _ in range(warmup):
        step(record=False)
    began = time.perf_counter()
    for _ in range(steps):
        step(record=True)
        if time.perf_counter() - began > seconds:
            break
    medians = {name: statistics.median(times) for name, times in phases.items()}
    totals = [sum(parts) for parts in zip(*phases.values())]
    return {
        "step_s": statistics.median(totals),
        "step_core_s": statistics.median(core_times),
        "steps_timed": len(totals),
        "phases_s": medians,
    }


def profile_step(
    model: Seq2Seq, optimizer: torch.optim.Optimizer, batch: tuple[torch.Tensor, torch.Tensor]
) -> str:
    with torch.profiler.profile() as profiler:
        loss = model.loss(*batch, src_may_pad=False)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    return profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def bench_workload(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    workload = WORKLOADS[name]
    torch.manual_seed(0)
    model = Seq2Seq(workload.model_config()).to(device).train()
    optimizer, optimizer_kind = make_optimizer(model)
    batch = random_batch(workload, args.batch_size, device)
    timing = time_steps(model, optimizer, batch, args.precision, args.warmup, args.steps, args.seconds)
    src_len, tgt_len = workload.lengths()
    flops = model.flops_per_example(src_len, tgt_len)
    result = {
        "task": workload.task,
        "encodings": f"{workload.input_encoding}/{workload.output_encoding}",
        "model_config": asdict(model.cfg),
        "parameters": model.num_parameters(),
        "src_len": src_len,
        "tgt_len": tgt_len,
        "batch_size": args.batch_size,
        "optimizer": optimizer_kind,
        "flops_per_example": flops,
        **timing,
        "examples_per_s": args.batch_size / timing["step_s"],
        "model_flops_per_s": flops * args.batch_size / timing["step_s"],
        "model_flops_per_core_s": flops * args.batch_size / timing["step_core_s"],
        "reference_examples_per_s": workload.reference_train_examples_per_s,
    }
    if args.profile:
        print(f"--- {name}\n{profile_step(model, optimizer, batch)}")
    return result


@contextlib.contextmanager
def load_watch() -> Iterator[dict]:
    """Record the 1-minute load average before and after: other processes steal cores and skew figures."""
    record = {"load_average_before": os.getloadavg()[0]}
    yield record
    record["load_average_after"] = os.getloadavg()[0]


def machine_info(device: torch.device) -> dict:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "device": str(device),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions(),
    }


def write_json(report: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed steps per model")
    parser.add_argument(
        "--models", default=",".join(WORKLOADS), help=f"comma-separated, of {', '.join(WORKLOADS)}"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument(
        "--profile", action="store_true", help="print the top operators of one step per model"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_train.json")
    args = parser.parse_args()
    args.warmup, args.steps, args.seconds = (1, 2, 10.0) if args.quick else (2, 12, 40.0)
    unknown = set(args.models.split(",")) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {list(WORKLOADS)}")
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = 2 if args.quick else 5
    with load_watch() as load:
        peak_before = matmul_peak(device, args.precision, repeats)
        models = {}
        for name in args.models.split(","):
            models[name] = bench_workload(name, args, device)
            print(f"{name}: {models[name]['examples_per_s']:.1f} ex/s, {models[name]['step_s']:.3f} s/step")
        peak_after = matmul_peak(device, args.precision, repeats)
    peaks = [*peak_before.values(), *peak_after.values()]
    peak = max(p["wall"] for p in peaks)
    peak_core = max(p["core"] for p in peaks)
    for name, result in models.items():
        result["mfu"] = result["model_flops_per_s"] / peak
        result["mfu_core_time"] = result["model_flops_per_core_s"] / peak_core
        result["mfu_target"] = MFU_TARGETS["small" if name == "small" else "paper"]
        reference = result["reference_examples_per_s"]
        result["speedup_vs_reference"] = result["examples_per_s"] / reference if reference else None
        print(
            f"{name}: MFU {result['mfu']:.1%} by wall time, {result['mfu_core_time']:.1%} by core time "
            f"(target {result['mfu_target']:.0%})"
        )
    report = {
        "benchmark": "train",
        "quick": args.quick,
        "precision": args.precision,
        "machine": machine_info(device),
        **load,
        "peak_flops_per_s": peak,
        "peak_flops_per_core_s": peak_core,
        "peak_measurements": {"before": peak_before, "after": peak_after},
        "models": models,
    }
    write_json(report, args.out)


if __name__ == "__main__":
    main()
