"""Training: on-the-fly problems, an evaluation every "epoch", resumable from checkpoints.

A run directory ends up holding
    model.pt        final weights, model config, run config, vocabulary (written last, atomically)
    weak.pt         same format: the epoch whose validation accuracy was closest to weak_accuracy
    train_log.csv   one row per epoch: examples, wall_seconds, lr, loss, <set>_acc_<tol %> ...
    config.yaml     the resolved run config;  env.json: versions of what ran it
    ckpt/state.pt   everything needed to continue (undeclared to Snakemake, which deletes the
                    declared outputs of a failed job but should keep this)
Rerunning the same command continues from ckpt/state.pt when that state belongs to the same
config (operational settings aside) and is not finished: a pre-empted or killed run resumes.
Anything else starts afresh: a state of another config is discarded (the run directory is the
run's, and its config is what the caller asks for now), and a finished run leaves no state, so
a rerun (Snakemake's `-f`, or a rerun after a change of code) trains again. Training examples
are drawn by batch index (see data.TrainingStream) and the learning rate is a function of the
step, so on CPU a run interrupted anywhere and resumed ends with the same weights as one that
never stopped. A lock file keeps a second training out of a run directory.

The pieces: `mathformer.engine.checkpoints` owns ckpt/state.pt (what it holds, when it may be resumed),
`mathformer.engine.validation` the sets scored each epoch, `mathformer.engine.model_files` model.pt and weak.pt,
`mathformer.formats.train_log` train_log.csv, `mathformer.engine.progress` what is printed,
`mathformer.engine.step` the step itself; `_Trainer` here is the loop that ties them together
(the steps, an epoch's end, the stop rule, the weak snapshot).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
import yaml

from mathformer.core.config import RunConfig
from mathformer.engine.checkpoints import (
    TrainState,
    WeakSnapshot,
    open_checkpoint,
    restore,
    save_checkpoint,
)
from mathformer.engine.devices import (
    claimed_device,
    default_decode_batch_size,
    default_workers,
    resolve_device,
    resolve_precision,
)
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.model_files import cpu_copy, initialise_from, model_file_contents
from mathformer.engine.model_files import save as save_torch
from mathformer.engine.progress import TrainingProgress
from mathformer.engine.provenance import versions
from mathformer.engine.step import PendingLosses, TrainStep
from mathformer.engine.step import TrainingError as TrainingError  # raised by train(), imported from here
from mathformer.engine.stream import TrainingStream, batch_iterator
from mathformer.engine.validation import EvalSet, load_eval_sets, score_eval_sets
from mathformer.formats import run_folder
from mathformer.formats.atomic import atomic_path
from mathformer.formats.datasets import Dataset, load_dataset
from mathformer.formats.train_log import VALID, accuracy_column, write_log

# Exit status of a run stopped by SIGTERM/SIGUSR1 after saving its state (EX_TEMPFAIL: "try again").
INTERRUPTED_EXIT_CODE = 75
# Losses stay on the device and are read back this often: each read is a host-device sync.
LOSS_READ_STEPS = 50
# A final epoch loss this many times the lowest epoch loss means training diverged (a finite
# explosion, e.g. too large a learning rate without clipping): the run warns instead of passing
# silently as a model at 0 %.
DIVERGED_LOSS_RATIO = 2.0
INTERRUPT_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class TrainingInterrupted(Exception):
    """A signal asked the run to stop; its state is saved and rerunning the command resumes it."""

    exit_code = INTERRUPTED_EXIT_CODE


def learning_rate(cfg: RunConfig, step: int, total_steps: int) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warm-up, then the schedule.

    The cosine goes from lr to lr_min over cosine_steps steps after the warm-up (or over what is
    left of the budget when cosine_steps is None), then stays at lr_min. The authors' schedule is
    lr 1e-4 to 1e-5 over 4M steps; their later periods (restarts at a tenth) start after 256M
    examples, beyond any of their stopping points, so they are left out.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "invsqrt":
        start = max(cfg.warmup, 1)
        return cfg.lr * math.sqrt(start / max(step, start))
    period = cfg.cosine_steps if cfg.cosine_steps is not None else max(1, total_steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / period)
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[list[str]]:
    """Collect SIGTERM/SIGUSR1 (SLURM's warnings before a kill or requeue) into a list.

    The loop checks the list between steps, so the state it saves is always a whole step.
    """
    received: list[str] = []
    previous = {}
    try:
        for signum in INTERRUPT_SIGNALS:
            previous[signum] = signal.signal(
                signum, lambda num, frame: received.append(signal.Signals(num).name)
            )
    except ValueError:  # not the main thread: signals cannot be caught here
        pass
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_reason(cfg: RunConfig, state: TrainState, total_steps: int, accuracy5: float) -> str | None:
    """Why training stops after the epoch just scored (validation accuracy `accuracy5` at 5 %), or None."""
    if state.step >= total_steps:
        return "max_examples"
    if cfg.target_accuracy is not None and accuracy5 >= cfg.target_accuracy:
        return "target_accuracy"
    if cfg.patience is not None and state.evals_since_best >= cfg.patience:
        return "patience"
    return None


class _Trainer:
    """One training session: builds everything, resumes if a checkpoint exists, runs the loop."""

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        eval_sets: list[EvalSet],
        device: torch.device,
        workers: int | None,
        eval_batch_size: int | None,
        fixed_train: Dataset | None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.ckpt_path = run_dir / run_folder.CHECKPOINT
        self.eval_sets = eval_sets
        self.device = device
        self.precision = resolve_precision(cfg.precision, device)
        self.workers = default_workers(device) if workers is None else workers
        self.eval_batch_size = (
            default_decode_batch_size(device) if eval_batch_size is None else eval_batch_size
        )
        self.fixed_train = fixed_train
        self.vocab = cfg.vocabulary()
        self.total_steps = math.ceil(cfg.max_examples / cfg.batch_size)
        self.steps_per_epoch = math.ceil(cfg.epoch_size / cfg.batch_size)

        torch.manual_seed(cfg.seed)
        model = Seq2Seq(ModelConfig.of_run(cfg))
        if cfg.init_from is not None:
            initialise_from(model, cfg.init_from)
        self.model = model.to(device)
        self.step = TrainStep(self.model, cfg, device, self.precision)
        self.state = TrainState()
        self.pending_losses = PendingLosses()
        self.session_start = time.monotonic()
        self.last_checkpoint = self.session_start
        self.checkpoint_step: int | None = None  # step of the state in ckpt_path
        self.last_lr = learning_rate(cfg, 0, self.total_steps)

    def resume(self) -> str | None:
        """Continue from ckpt/state.pt when it holds an unfinished state of this config.

        Returns the line for the log: where it resumed, or why a state was discarded; None when
        there was no state (see mathformer.engine.checkpoints).
        """
        opened = open_checkpoint(self.ckpt_path, self.cfg)
        if opened.saved is not None:
            step = self.step
            self.state = restore(opened.saved, self.ckpt_path, self.model, step.optimizer, step.scaler)
            self.last_lr = learning_rate(self.cfg, max(self.state.step - 1, 0), self.total_steps)
            self.checkpoint_step = self.state.step
        return opened.line

    def save_checkpoint(self) -> None:
        self._read_losses()  # never save the state of a run whose loss has gone non-finite
        self.state.wall_seconds = self.wall_seconds()
        self.session_start = time.monotonic()
        step = self.step
        save_checkpoint(self.ckpt_path, self.cfg, self.model, step.optimizer, step.scaler, self.state)
        self.last_checkpoint = time.monotonic()
        self.checkpoint_step = self.state.step

    def wall_seconds(self) -> float:
        return self.state.wall_seconds + time.monotonic() - self.session_start

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        stream = TrainingStream.of_run(self.cfg, start_batch=self.state.step, fixed=self.fixed_train)
        return batch_iterator(stream, self.workers, pin_memory=self.device.type == "cuda")

    def train_step(self, src: torch.Tensor, tgt: torch.Tensor) -> None:
        self.last_lr = learning_rate(self.cfg, self.state.step, self.total_steps)
        self.pending_losses.append(self.step(src, tgt, self.last_lr))
        self.state.step += 1

    def _read_losses(self) -> float | None:
        """Fold the losses kept on the device into the epoch sum (their mean; None if none)."""
        saved = "none saved (a rerun starts from step 0)"
        if self.checkpoint_step is not None:
            saved = f"{self.ckpt_path} (step {self.checkpoint_step})"
        values = self.pending_losses.read(self.state.step, saved)
        if not values:
            return None
        for value in values:  # one by one, so the sum is the same however checkpoints split the epoch
            self.state.epoch_loss_sum += value
        self.state.epoch_loss_steps += len(values)
        return sum(values) / len(values)

    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        scores = score_eval_sets(
            self.model, self.vocab, self.eval_sets, self.eval_batch_size, self.precision, self.cfg.cuda_graphs
        )
        self.model.train()
        return scores

    def end_epoch(self, progress: TrainingProgress) -> None:
        self._read_losses()
        state = self.state
        row = {
            "epoch": len(state.log_rows) + 1,
            "examples": state.step * self.cfg.batch_size,
            "wall_seconds": round(self.wall_seconds(), 3),
            "lr": self.last_lr,
            "loss": state.epoch_loss_sum / max(state.epoch_loss_steps, 1),
            **self.evaluate(),
        }
        state.log_rows.append(row)
        state.epoch_loss_sum, state.epoch_loss_steps = 0.0, 0
        self.write_log()
        accuracy5 = row[accuracy_column(VALID, 0.05)]
        self._track_weak(row, accuracy5)
        if accuracy5 > state.best_accuracy:
            state.best_accuracy, state.evals_since_best = accuracy5, 0
        else:
            state.evals_since_best += 1
        state.stop_reason = stop_reason(self.cfg, state, self.total_steps, accuracy5)
        progress.line(
            f"epoch {row['epoch']}  examples {row['examples']}  loss {row['loss']:.4f}  "
            + "  ".join(f"{key} {value:.4f}" for key, value in row.items() if "_acc_" in key)
        )
        progress.status(row["examples"], row["loss"], self.last_lr, accuracy5)

    def _track_weak(self, row: dict[str, float], accuracy5: float) -> None:
        if self.cfg.weak_accuracy is None:
            return
        distance = abs(accuracy5 - self.cfg.weak_accuracy)
        if self.state.weak is None or distance < self.state.weak.distance:
            weights = cpu_copy(self.model.state_dict())
            self.state.weak = WeakSnapshot(distance, row["epoch"], row["examples"], accuracy5, weights)

    def write_log(self) -> None:
        # The sets scored may change when a run resumes: the log keeps the current sets' columns,
        # blank where an earlier epoch did not score that set.
        write_log(
            self.state.log_rows,
            [eval_set.name for eval_set in self.eval_sets[1:]],
            self.run_dir / run_folder.TRAIN_LOG,
        )

    def run(self, progress: TrainingProgress) -> None:
        try:
            with _interrupt_flag() as received:
                batches = self.batches()
                while self.state.stop_reason is None:
                    self.train_step(*next(batches))
                    progress.advance(self.cfg.batch_size)
                    if len(self.pending_losses) >= LOSS_READ_STEPS:
                        loss = self._read_losses()
                        progress.status(self.state.step * self.cfg.batch_size, loss, self.last_lr, None)
                    if self.state.step % self.steps_per_epoch == 0 or self.state.step >= self.total_steps:
                        self.end_epoch(progress)
                    if received:
                        self.save_checkpoint()
                        raise TrainingInterrupted(
                            f"received {received[0]} at step {self.state.step}; state saved to {self.ckpt_path}; "
                            "rerun the same command to resume"
                        )
                    if time.monotonic() - self.last_checkpoint >= self.cfg.checkpoint_minutes * 60:
                        self.save_checkpoint()
        finally:
            progress.close()
        progress.line(
            f"stopped ({self.state.stop_reason}) after {self.state.step * self.cfg.batch_size} examples"
        )

    def write_outputs(self, warning: str | None = None) -> Path:
        """weak.pt (if asked), then model.pt last: its presence means the run is complete."""
        last_row = self.state.log_rows[-1] if self.state.log_rows else {}
        weak = self.state.weak
        if weak is not None:
            contents = model_file_contents(
                self.model, self.cfg, self.vocab, epoch=weak.epoch, examples=weak.examples
            )
            contents["state_dict"] = weak.state_dict
            contents["valid_accuracy"] = weak.valid_accuracy
            save_torch(contents, self.run_dir / run_folder.WEAK)
        model_path = self.run_dir / run_folder.MODEL
        save_torch(
            model_file_contents(
                self.model,
                self.cfg,
                self.vocab,
                epoch=last_row.get("epoch", 0),
                examples=self.state.step * self.cfg.batch_size,
                valid_accuracy=last_row.get(accuracy_column(VALID, 0.05)),
                stop_reason=self.state.stop_reason,
                warning=warning,
            ),
            model_path,
        )
        return model_path


def _write_run_files(run_dir: Path, cfg: RunConfig) -> None:
    """config.yaml and env.json of the training starting now, once what described another model
    is gone: model.pt and weak.pt exist only once a training ends, and the log is rewritten from
    the resumed state, if any. So at every instant the files present describe one model."""
    for name in (run_folder.MODEL, run_folder.WEAK, run_folder.TRAIN_LOG):
        (run_dir / name).unlink(missing_ok=True)
    with atomic_path(run_dir / run_folder.CONFIG) as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    with atomic_path(run_dir / run_folder.ENV) as tmp:
        tmp.write_text(json.dumps(versions(), indent=2) + "\n")


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    valid: str | Path,
    tests: Mapping[str, str | Path] | None = None,
    device: str = "auto",
    threads: int | None = None,
    *,
    workers: int | None = None,
    eval_batch_size: int | None = None,
    train_data: str | Path | None = None,
) -> Path:
    """Train (or resume) the run in `run_dir`; returns the path of model.pt.

    `tests` maps names (the OOD spectra) to test set files evaluated beside `valid` each epoch.
    `workers` DataLoader processes generate batches (0: in this process, best on a small CPU;
    None: devices.default_workers). `eval_batch_size`: matrices decoded together at each
    evaluation (None: devices.default_decode_batch_size).
    `train_data`: draw training batches from this fixed set instead of fresh problems.
    Raises ValueError for bad input (including a corrupt checkpoint, or another training holding
    the run directory), TrainingError for a non-finite loss and TrainingInterrupted after
    SIGTERM/SIGUSR1.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    if (workers is not None and workers < 0) or (eval_batch_size is not None and eval_batch_size < 1):
        raise ValueError(
            f"workers must be >= 0 and eval_batch_size >= 1, got {workers} and {eval_batch_size}"
        )
    run_dir = Path(run_dir)
    resolve_precision(cfg.precision, resolve_device(device))
    eval_sets = load_eval_sets(cfg, valid, tests or {})
    fixed_train = None
    if train_data is not None:
        fixed_train = load_dataset(train_data)
        if fixed_train.problem != cfg.problem():
            raise ValueError(f"{train_data} holds {fixed_train.problem}, but this run trains {cfg.problem()}")
    with _run_lock(run_dir), claimed_device(device) as (resolved_device, device_line):
        trainer = _Trainer(cfg, run_dir, eval_sets, resolved_device, workers, eval_batch_size, fixed_train)
        resumed = trainer.resume()
        _write_run_files(run_dir, cfg)
        if trainer.state.log_rows:  # only a resumed state has rows: write them with today's sets
            trainer.write_log()
        progress = TrainingProgress(trainer.total_steps * cfg.batch_size, trainer.state.step * cfg.batch_size)
        for line in (device_line, resumed):
            if line is not None:
                progress.line(line)
        trainer.run(progress)
        warning = divergence_warning(trainer.state.log_rows)
        if warning:
            progress.line(f"WARNING: {warning}")
        model_path = trainer.write_outputs(warning)
        # The run is complete and model.pt holds its result: a rerun trains again.
        trainer.ckpt_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # left when it holds anything else
            trainer.ckpt_path.parent.rmdir()
    return model_path


def divergence_warning(log_rows: list[dict[str, float]]) -> str | None:
    """A warning when the last epoch's loss is far above the lowest one (training diverged)."""
    losses = [row["loss"] for row in log_rows]
    if len(losses) < 2 or losses[-1] <= DIVERGED_LOSS_RATIO * min(losses):
        return None
    return (
        f"training diverged: the last epoch's loss {losses[-1]:.4g} is {losses[-1] / min(losses):.1f}x its minimum "
        f"{min(losses):.4g}; lower lr or turn on clipping"
    )


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run directory; a second training there is refused at once."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / run_folder.LOCK).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ValueError(
                f"{run_dir} is being trained by {holder}; wait for it to end or use another run directory"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        yield
