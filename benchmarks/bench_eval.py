"""Greedy decoding speed with and without the key/value cache, in the same run.

The model is the paper's eigenvector model (5x5, FP15 in, P1000 out: 94 target tokens with <bos>
and <eos>) with random weights, its <eos> embedding zeroed so that no row stops early: a trained
model writes the whole answer too, and the work per token does not depend on the weights.
Other workloads of bench_train.py can be added with --models. The speed-up is cached over
uncached examples per second at the same batch size; evaluation's own batch size (256) is timed
for the cached path as well, and so is `evaluate`'s whole decoding of a set (decode_test_set with
the model's confidence, which comes with the decoding pass; not with --quick).

Run by hand, not as a test:
    python benchmarks/bench_eval.py [--quick] [--models eigenvectors,eigenvalues] [--batch-size N]
        [--threads N] [--device cpu|cuda] [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from bench_train import (
    RESULTS,
    WORKLOADS,
    Workload,
    load_watch,
    machine_info,
    random_batch,
    synchronize,
    write_json,
)

from mathformer.core.encoding import EOS
from mathformer.core.problems import Problem
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.model import Seq2Seq
from mathformer.engine.search import generate

EVALUATE_BATCH_SIZE = 256  # mathformer.engine.evaluate's default
CACHE_SPEEDUP_TARGET = 3.0


def never_ending_model(workload: Workload, device: torch.device) -> Seq2Seq:
    """Random weights; a zero <eos> row gives <eos> a logit of 0, below the best of the other tokens."""
    torch.manual_seed(0)
    model = Seq2Seq(workload.model_config()).to(device).eval()
    with torch.no_grad():
        model.decoder.tokens.weight[EOS].zero_()
    return model


def examples_per_s(model: Seq2Seq, src: torch.Tensor, max_len: int, use_cache: bool, repeats: int) -> dict:
    """Best of `repeats` timed batches, after a few untimed tokens to warm up kernels and allocator."""
    device = src.device
    with torch.inference_mode():
        generate(model, src, 4, use_cache=use_cache)
        synchronize(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = generate(model, src, max_len, use_cache=use_cache, src_may_pad=False).tokens
            synchronize(device)
            times.append(time.perf_counter() - start)
    if out.shape[1] != max_len:
        raise RuntimeError(
            f"decoding stopped after {out.shape[1]} of {max_len} tokens; the timing would mislead"
        )
    return {"batch_size": len(src), "seconds_per_batch": min(times), "examples_per_s": len(src) / min(times)}


def evaluate_examples_per_s(workload: Workload, model: Seq2Seq, device: torch.device) -> dict:
    """decode_test_set of one evaluate batch of real matrices, with the model's confidence."""
    problem = Problem(workload.task, n=5)
    inputs, _ = problem.sample(EVALUATE_BATCH_SIZE, np.random.default_rng(0))
    start = time.perf_counter()
    decode_test_set(
        model, workload.vocabulary(), inputs, problem.target_shape, 1, EVALUATE_BATCH_SIZE,
        progress=False, confidence={},
    )  # fmt: skip
    synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "batch_size": EVALUATE_BATCH_SIZE,
        "seconds": seconds,
        "examples_per_s": EVALUATE_BATCH_SIZE / seconds,
    }


def bench_workload(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    workload = WORKLOADS[name]
    model = never_ending_model(workload, device)
    _, max_len = workload.lengths()
    src, _ = random_batch(workload, max(args.batch_size, EVALUATE_BATCH_SIZE), device)
    cached = examples_per_s(model, src[: args.batch_size], max_len, True, args.repeats)
    uncached = examples_per_s(model, src[: args.batch_size], max_len, False, args.repeats)
    speedup = cached["examples_per_s"] / uncached["examples_per_s"]
    print(
        f"{name}: cached {cached['examples_per_s']:.1f} ex/s, uncached {uncached['examples_per_s']:.1f} ex/s "
        f"(x{speedup:.1f}) at batch {args.batch_size}"
    )
    cached_eval_batch = evaluate_like = None
    if not args.quick:
        cached_eval_batch = examples_per_s(model, src[:EVALUATE_BATCH_SIZE], max_len, True, args.repeats)
        print(
            f"{name}: cached at batch {EVALUATE_BATCH_SIZE}: {cached_eval_batch['examples_per_s']:.1f} ex/s"
        )
        evaluate_like = evaluate_examples_per_s(workload, model, device)
        print(f"{name}: evaluate's decoding with confidence: {evaluate_like['examples_per_s']:.1f} ex/s")
    return {
        "task": workload.task,
        "encodings": f"{workload.input_encoding}/{workload.output_encoding}",
        "decoded_tokens": max_len,
        "cached": cached,
        "uncached": uncached,
        "cached_at_evaluate_batch_size": cached_eval_batch,
        "evaluate_with_confidence": evaluate_like,
        "cache_speedup": speedup,
        "cache_speedup_target": CACHE_SPEEDUP_TARGET,
        "reference_examples_per_s": workload.reference_eval_examples_per_s,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"one timed batch of 16 per setting, none of {EVALUATE_BATCH_SIZE}",
    )
    parser.add_argument(
        "--models", default="eigenvectors", help=f"comma-separated, of {', '.join(WORKLOADS)}"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="16 with --quick, else 64")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_eval.json")
    args = parser.parse_args()
    args.repeats = 1 if args.quick else 2
    args.batch_size = args.batch_size or (16 if args.quick else 64)
    unknown = set(args.models.split(",")) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {list(WORKLOADS)}")
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with load_watch() as load:
        models = {name: bench_workload(name, args, device) for name in args.models.split(",")}
    write_json(
        {"benchmark": "eval", "quick": args.quick, "machine": machine_info(device), **load, "models": models},
        args.out,
    )


if __name__ == "__main__":
    main()
