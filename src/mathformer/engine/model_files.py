"""model.pt and weak.pt: what a trained model's file holds, how it is written, how it is read back.

The one owner of that format: training writes through `model_file_contents` and `save`, and
evaluation (and anything else) reads through `load_model`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import torch

from mathformer.core.config import RunConfig
from mathformer.core.encoding import Vocabulary
from mathformer.engine.devices import resolve_device
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.formats.atomic import atomic_path

MODEL_FORMAT = 1


def cpu_copy(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().to("cpu", copy=True) for key, value in state_dict.items()}


def model_file_contents(model: Seq2Seq, cfg: RunConfig, vocab: Vocabulary, **extra: Any) -> dict[str, Any]:
    """What model.pt and weak.pt hold (read back by `load_model`)."""
    return {
        "format_version": MODEL_FORMAT,
        "state_dict": cpu_copy(model.state_dict()),
        "model_config": dataclasses.asdict(model.cfg),
        "run_config": cfg.to_dict(),
        "vocab": {
            "input_encoding": vocab.input_encoding,
            "output_encoding": vocab.output_encoding,
            "max_dim": vocab.max_dim,
        },
        **extra,
    }


class _KeepingWriteErrors:
    """A file for torch.save that keeps the OSError of a failed write (a full disk): torch's zip
    writer swallows it and raises a RuntimeError about stream positions instead."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def save(contents: Any, path: Path) -> None:
    """torch.save, atomically and byte-stable (model files and the training checkpoint alike).

    A write that fails (a full disk) is an OSError naming `path`, and leaves the old file whole.
    """
    # Through a file object: given a path, torch.save names the zip's root folder after the file,
    # and the temporary name would make the bytes of two identical runs differ.
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        writer = _KeepingWriteErrors(handle)
        try:
            torch.save(contents, writer)
        except RuntimeError:
            if writer.error is None:
                raise
            raise writer.error from None


class TrainedModel(NamedTuple):
    """What a model file holds, rebuilt: the network, the config that trained it, its vocabulary,
    and the warning training left (a diverged run), if any."""

    model: Seq2Seq
    run_config: RunConfig
    vocab: Vocabulary
    warning: str | None


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"model file not found: {path}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises many kinds (pickle, zip, runtime) for a damaged file
        raise ValueError(f"{path} is not a readable model file: torch cannot load it") from None
    if not isinstance(saved, dict) or saved.get("format_version") != MODEL_FORMAT:
        found = saved.get("format_version") if isinstance(saved, dict) else None
        raise ValueError(f"{path} has model format version {found}; this mathformer reads {MODEL_FORMAT}")
    return saved


# The learned position tables: one row per position, so a model of smaller matrices (shorter
# sequences) has fewer rows of the same width.
POSITION_TABLES = ("encoder.positions", "decoder.positions")


def initialise_from(model: Seq2Seq, path: str | os.PathLike) -> None:
    """Copy the weights of the model file at `path` into `model` (run option `init_from`).

    Every tensor must have the same shape, except the position tables, which may be shorter:
    their rows are copied and the positions beyond them keep their fresh initialisation. So a
    model of n x n matrices can start a model of larger ones (a curriculum).
    """
    path = Path(path)
    source = _read(path)["state_dict"]
    target = model.state_dict()
    if source.keys() != target.keys():
        raise ValueError(f"init_from {path}: another architecture (its layers differ from this run's)")
    with torch.no_grad():
        for name, tensor in target.items():
            weights = source[name]
            if weights.shape == tensor.shape:
                tensor.copy_(weights)
            elif (
                name in POSITION_TABLES
                and weights.shape[1:] == tensor.shape[1:]
                and len(weights) <= len(tensor)
            ):
                tensor[: len(weights)].copy_(weights)
            else:
                raise ValueError(
                    f"init_from {path}: {name} has shape {tuple(weights.shape)}, this run's {tuple(tensor.shape)} "
                    "(another width, depth or encoding)"
                )


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model that training saved in `path` (model.pt or weak.pt), in eval mode on `device`."""
    path = Path(path)
    saved = _read(path)
    try:
        model = Seq2Seq(ModelConfig(**saved["model_config"]))
        model.load_state_dict(saved["state_dict"])
        spec = saved["vocab"]
        vocab = Vocabulary(spec["input_encoding"], spec["output_encoding"], spec["max_dim"])
        run_config = RunConfig.from_dict(saved["run_config"])
    except KeyError as err:
        raise ValueError(f"{path} is not a consistent mathformer model: it lacks {err.args[0]!r}") from None
    except (TypeError, ValueError, RuntimeError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a consistent mathformer model: {detail}") from None
    target = device if isinstance(device, torch.device) else resolve_device(device)
    return TrainedModel(model.to(target).eval(), run_config, vocab, saved.get("warning"))
