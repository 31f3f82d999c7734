"""Device rules: which device a job gets, and each job of a multi-GPU machine a GPU of its own."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap

import pytest
import torch

from mathformer.engine.devices import (
    claim_free_gpu,
    claimed_device,
    default_decode_batch_size,
    default_workers,
    resolve_device,
    resolve_precision,
)

GPUS = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]


def test_jobs_on_one_machine_take_different_gpus(tmp_path):
    with contextlib.ExitStack() as first, contextlib.ExitStack() as second:
        assert claim_free_gpu(first, GPUS, tmp_path) == 0
        assert claim_free_gpu(second, GPUS, tmp_path) == 1
    with contextlib.ExitStack() as again:  # both released with their stacks
        assert claim_free_gpu(again, GPUS, tmp_path) == 0


def test_a_gpu_held_by_another_process_is_skipped_and_freed_when_it_dies(tmp_path):
    # Another job (a separate process) holds the first GPU, as two Snakemake jobs would.
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import contextlib, sys
            from pathlib import Path
            from mathformer.engine.devices import claim_free_gpu
            with contextlib.ExitStack() as stack:
                print(claim_free_gpu(stack, {GPUS!r}, Path({str(tmp_path)!r})), flush=True)
                sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "0"
        with contextlib.ExitStack() as stack:
            assert claim_free_gpu(stack, GPUS, tmp_path) == 1
    finally:
        holder.kill()
        holder.wait()
    with contextlib.ExitStack() as stack:  # the kernel dropped the dead process's lock
        assert claim_free_gpu(stack, GPUS, tmp_path) == 0


def test_every_gpu_taken_gives_none(tmp_path):
    with contextlib.ExitStack() as stack:
        assert [claim_free_gpu(stack, GPUS[:1], tmp_path), claim_free_gpu(stack, GPUS[:1], tmp_path)] == [
            0,
            None,
        ]


def test_a_cpu_job_claims_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MATHFORMER_GPU_LOCK_DIR", str(tmp_path / "locks"))
    with claimed_device("cpu") as (device, line):
        assert device == torch.device("cpu") and line is None
    assert not (tmp_path / "locks").exists()


def test_bad_devices_and_precisions_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"unknown device 'gpu0'; allowed: auto, cpu, cuda, cuda:N"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="precision fp16 needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_defaults_that_depend_on_the_device(monkeypatch):
    """A CPU decodes 256 matrices at a time and makes batches in-process; a GPU decodes as many as
    fit (10,000, split when memory runs out) and has 4 data workers, fewer on a small host."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (default_decode_batch_size(cpu), default_workers(cpu)) == (256, 0)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert (default_decode_batch_size(cuda), default_workers(cuda)) == (10_000, 4)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_workers(cuda) == 1
