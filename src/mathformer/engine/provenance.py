"""The provenance stamp every output of the engine carries: versions of what made it."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def git_commit() -> str | None:
    """The commit of the source tree this package runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str | None]:
    """Versions of what made an output: enough to explain a difference between two machines."""
    import numpy
    import torch

    from mathformer import __version__

    cuda = torch.cuda.is_available()
    return {
        "mathformer": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "platform": platform.platform(),
        # The SIMD kernels torch dispatches to (AVX2, AVX512...): two CPUs with different sets
        # round differently, and trainings that start 1e-7 apart end as different models.
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "git_commit": git_commit(),
    }
