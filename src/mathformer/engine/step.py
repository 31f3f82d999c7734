"""One training step (forward, loss, backward, clipping, Adam) that never waits for the device,
and the losses it leaves on the device until the loop reads many at once."""

from __future__ import annotations

import torch
from torch import Tensor

from mathformer.core.config import RunConfig
from mathformer.engine.devices import autocast
from mathformer.engine.model import Seq2Seq


def adam(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """Fused Adam (one kernel for all tensors: ~4x faster on CPU than per-tensor) where it exists."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


class TrainStep:
    """The model, its optimizer and loss scaler, and how one batch becomes one update.

    Nothing in a step reads a value back from the device, so on a GPU the host queues steps ahead
    of the kernels: the batch needs no look for padding (a TrainingStream batch holds matrices of
    one size, so no PAD), clipping scales the gradients by a factor that stays on the device, the
    learning rate is written on the host, and the loss is returned on the device for the caller
    to read many at once. Only fp16's loss scaler waits (it skips steps whose gradients overflow).

    With the run's `compile`, forward and backward run as torch.compile graphs; with
    `cuda_graphs` as well, on CUDA, they replay as CUDA graphs (torch.compile's "reduce-overhead"
    mode: one launch for all the kernels of a pass). The eager step is the reference.
    """

    def __init__(self, model: Seq2Seq, cfg: RunConfig, device: torch.device, precision: str) -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self.clip = cfg.clip
        self.optimizer = adam(model, cfg.lr)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.graphed = cfg.compile and cfg.cuda_graphs and device.type == "cuda"
        self.loss = self._loss
        if cfg.compile:
            self.loss = torch.compile(self._loss, mode="reduce-overhead" if cfg.cuda_graphs else "default")

    def _loss(self, src: Tensor, tgt: Tensor) -> Tensor:
        return self.model.loss(src, tgt, src_may_pad=False)

    def _to_device(self, tensor: Tensor) -> Tensor:
        if self.device.type == "cuda" and not tensor.is_pinned():
            # A copy from pageable memory waits for the device; from pinned memory it is queued.
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=True)

    def __call__(self, src: Tensor, tgt: Tensor, lr: float) -> Tensor:
        """Update the model from one batch at learning rate `lr`; returns the loss, on the device."""
        src, tgt = self._to_device(src), self._to_device(tgt)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.graphed:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.precision, self.device):
            loss = self.loss(src, tgt)
        # A graph's output lives in its memory, which the next replay overwrites: keep a copy.
        kept = loss.detach().clone() if self.graphed else loss.detach()
        self.scaler.scale(loss).backward()
        if self.clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return kept


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss); the message says what to do."""


class PendingLosses:
    """The losses of the steps not yet read, kept on the device: a read waits for the device, so
    the loop reads them in batches (when it logs, saves a checkpoint or ends an epoch)."""

    def __init__(self) -> None:
        self.losses: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.losses)

    def append(self, loss: Tensor) -> None:
        self.losses.append(loss)

    def read(self, last_step: int, last_good_checkpoint: str) -> list[float]:
        """Their values, oldest first (the newest is the loss of step `last_step`, 1-based); a
        TrainingError names the first non-finite one and the checkpoint a rerun would start from."""
        if not self.losses:
            return []
        values = torch.stack(self.losses).float().cpu()
        self.losses.clear()
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            index = int(bad[0, 0])
            raise TrainingError(
                f"loss became {float(values[index])} at step {last_step - len(values) + 1 + index}; "
                f"last good checkpoint: {last_good_checkpoint}; lower lr or change the config"
            )
        return values.tolist()
