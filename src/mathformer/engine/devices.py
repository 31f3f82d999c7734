"""Where and in what arithmetic a model runs: the device and precision rules of train and evaluate."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

PRECISIONS_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return resolved


# Where the jobs of one machine leave their GPU locks (one file per GPU, named by its UUID).
GPU_LOCK_DIR_VARIABLE = "MATHFORMER_GPU_LOCK_DIR"


def gpu_lock_dir() -> Path:
    return Path(os.environ.get(GPU_LOCK_DIR_VARIABLE) or Path(tempfile.gettempdir()) / "mathformer-gpu-locks")


def claim_free_gpu(stack: contextlib.ExitStack, gpu_ids: Sequence[str], lock_dir: Path) -> int | None:
    """Lock the first GPU that no other process holds, until `stack` closes: its index, or None.

    The lock is an flock on a file named by the GPU's id, so it is released when its process
    ends, however it ends, and two jobs that see the same GPU under different indices (each
    SLURM job numbers its own GPUs from 0) still find it taken.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index, gpu_id in enumerate(gpu_ids):
        handle = stack.enter_context((lock_dir / f"{gpu_id}.lock").open("a"))
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        return index
    return None


@contextlib.contextmanager
def claimed_device(device: str) -> Iterator[tuple[torch.device, str | None]]:
    """`resolve_device`, but each job of a machine with several GPUs gets a GPU of its own.

    Snakemake's `gpu` resource limits how many GPU jobs run at once but does not say which GPU
    each one takes, so without this every job would use the first one. With "auto" or "cuda"
    and more than one visible GPU, the job holds a free GPU while it runs; "cuda:N" is taken as
    asked. Yields (device, a line for the log or None).
    """
    resolved = resolve_device(device)
    count = torch.cuda.device_count() if resolved.type == "cuda" else 0
    if resolved.index is not None or count < 2:
        yield resolved, None
        return
    with contextlib.ExitStack() as stack:
        ids = [str(torch.cuda.get_device_properties(index).uuid) for index in range(count)]
        index = claim_free_gpu(stack, ids, gpu_lock_dir())
        if index is None:
            yield torch.device("cuda", 0), f"all {count} GPUs are held by other jobs; sharing cuda:0"
        else:
            yield torch.device("cuda", index), f"using cuda:{index}, a GPU no other job holds"


# Matrices decoded together by default: on a CPU a batch beyond a few hundred is no faster; a GPU
# is fastest with the largest batch that fits (the paper's whole validation set: 10,000), and
# decoding splits a batch that does not fit (decoding.decode_test_set).
DECODE_BATCH_SIZES = {"cpu": 256, "cuda": 10_000}
# DataLoader processes making training batches by default: on a small CPU a worker only competes
# with the compute threads; a GPU step is short enough for the data to become the bottleneck.
CUDA_WORKERS = 4


def default_decode_batch_size(device: torch.device) -> int:
    return DECODE_BATCH_SIZES.get(device.type, DECODE_BATCH_SIZES["cpu"])


def default_workers(device: torch.device) -> int:
    return min(CUDA_WORKERS, max((os.cpu_count() or 1) - 1, 0)) if device.type == "cuda" else 0


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 on CUDA and fp32 on CPU (bf16 matmuls are ~10x slower on these CPUs)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device; use fp32 (or bf16) on cpu")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision for bf16 and fp16 (fp32: nothing)."""
    if precision not in PRECISIONS_DTYPES:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS_DTYPES[precision])
