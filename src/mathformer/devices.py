"""Where and in what arithmetic a model runs: the device and precision rules of train and evaluate."""

from __future__ import annotations

import contextlib

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
