"""ckpt/state.pt: the state a pre-empted or killed training resumes from.

The one owner of that file: what it holds (`TrainState` beside the model, optimizer and scaler
states), when a saved state may be resumed (same config, operational settings aside, and not
finished), and how it is written. The training loop calls `save_checkpoint` and `open_checkpoint`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mathformer.core.config import RunConfig
from mathformer.engine.model_files import save as save_torch

CHECKPOINT_FORMAT = 1


@dataclass
class WeakSnapshot:
    """The epoch whose validation accuracy at 5 % came closest to the run's weak_accuracy, and its
    weights (on the CPU): what weak.pt will hold."""

    distance: float  # |accuracy - weak_accuracy|
    epoch: int
    examples: int
    valid_accuracy: float
    state_dict: dict[str, torch.Tensor]


@dataclass
class TrainState:
    """The run's progress that a checkpoint restores (the weak snapshot's weights included)."""

    step: int = 0  # optimizer steps taken = training batches consumed
    wall_seconds: float = 0.0  # before the current session
    log_rows: list[dict[str, float]] = field(default_factory=list)
    epoch_loss_sum: float = 0.0  # over the steps since the last evaluation
    epoch_loss_steps: int = 0
    best_accuracy: float = -1.0
    evals_since_best: int = 0
    weak: WeakSnapshot | None = None
    stop_reason: str | None = None


@dataclass
class Opened:
    """What `open_checkpoint` found: a state to resume (or None) and the line for the log (or None)."""

    saved: dict[str, Any] | None
    line: str | None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _corrupt(path: Path, why: str) -> ValueError:
    return ValueError(f"corrupt checkpoint {path} ({why}); delete it to start over")


def open_checkpoint(path: Path, cfg: RunConfig) -> Opened:
    """The saved state at `path` when it is an unfinished state of `cfg`.

    A state of another config or of a finished run is deleted, and the log line says why. A
    damaged file is an error: it may be the only copy of hours of training, so the user decides.
    """
    if not path.exists():
        return Opened(None, None)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any failure to unpickle means the file cannot be trusted
        raise _corrupt(path, "torch.load cannot read it") from None
    if not isinstance(saved, dict) or saved.get("format_version") != CHECKPOINT_FORMAT:
        raise _corrupt(path, f"not a mathformer checkpoint of format {CHECKPOINT_FORMAT}")
    try:
        saved_cfg = RunConfig.from_dict(saved["run_config"])
    except (KeyError, ValueError, TypeError) as error:
        raise _corrupt(path, f"its run config: {_first_line(error)}") from None
    differing = cfg.differences(saved_cfg)
    if differing:
        details = ", ".join(
            f"{key} {getattr(saved_cfg, key)!r} -> {getattr(cfg, key)!r}" for key in differing
        )
        path.unlink()
        return Opened(None, f"discarded the checkpoint of another config ({details}); training from scratch")
    if (saved.get("state") or {}).get("stop_reason") is not None:
        path.unlink()
        return Opened(None, "discarded the checkpoint of a finished run; training from scratch")
    return Opened(saved, f"resumed from {path} at step {saved.get('state', {}).get('step')}")


def restore(
    saved: dict[str, Any],
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> TrainState:
    """Load an opened state into the training objects; a state that does not fit them is corrupt."""
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        state = dict(saved["state"])
        if state.get("weak") is not None:  # saved as a plain dict (dataclasses.asdict)
            state["weak"] = WeakSnapshot(**state["weak"])
        return TrainState(**state)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise _corrupt(path, _first_line(error)) from None


def save_checkpoint(
    path: Path,
    cfg: RunConfig,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    state: TrainState,
) -> None:
    """Write the state atomically. No RNG state: data come from per-batch generators and the
    model has no dropout, so nothing after the seeded initialisation draws from torch's RNG."""
    save_torch(
        {
            "format_version": CHECKPOINT_FORMAT,
            "run_config": cfg.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "state": dataclasses.asdict(state),
        },
        path,
    )
