"""Decode a fixed test set with a trained model and score it.

`evaluate` writes two files: a predictions table (parquet, one row per test matrix, everything the
failure analyses need) and a small summary JSON (accuracy at each tolerance and the counts).
`mathformer.formats.predictions` owns the table's format on disk, `mathformer.formats.summaries` the summary's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from mathformer.core.config import RunConfig
from mathformer.core.encoding import Vocabulary
from mathformer.core.metrics import TOLERANCES
from mathformer.core.problems import Problem
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.devices import (
    PRECISIONS_DTYPES,
    claimed_device,
    default_decode_batch_size,
    resolve_precision,
)
from mathformer.engine.model import Seq2Seq
from mathformer.engine.model_files import load_model
from mathformer.engine.provenance import versions
from mathformer.formats.atomic import atomic_path
from mathformer.formats.datasets import Dataset, load_dataset
from mathformer.formats.predictions import predictions_table, write_predictions
from mathformer.formats.summaries import summarise, write_summary


def check_compatible(run_config: RunConfig, dataset: Dataset, data_path: str | os.PathLike) -> None:
    """Refuse a test set of another task or size than the model was trained on."""
    model_side = (run_config.task, run_config.n)
    data_side = (dataset.problem.task, dataset.problem.n)
    if model_side != data_side:
        raise ValueError(
            f"test set {str(data_path)!r} is task={data_side[0]} n={data_side[1]} but the model was "
            f"trained for task={model_side[0]} n={model_side[1]}"
        )


def evaluate(
    model_path: str | os.PathLike,
    data_path: str | os.PathLike,
    out_parquet: str | os.PathLike,
    summary_json: str | os.PathLike,
    beam_size: int = 1,
    batch_size: int | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Decode the test set at `data_path` with the model at `model_path` (`batch_size` None: the
    device's default); write the table and summary. Returns the summary; the run is named after
    the model's folder, the test set after its file."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    # The GPU is held while decoding only: writing the tables needs none.
    with claimed_device(device) as (resolved, device_line):
        if device_line is not None:
            print(f"mathformer evaluate: {device_line}", file=sys.stderr)
        model, run_config, vocab, warning = load_model(model_path, resolved)
        dataset = load_dataset(data_path)
        check_compatible(run_config, dataset, data_path)
        if len(dataset.inputs) == 0:
            raise ValueError(f"test set {str(data_path)!r} is empty")
        problem = dataset.problem
        precision = resolve_precision(run_config.precision, next(model.parameters()).device)
        batch_size = default_decode_batch_size(resolved) if batch_size is None else batch_size
        # On CUDA a batch that does not fit is decoded in halves (decode_test_set): one matrix's
        # beam must fit; on a CPU an allocation that fails is not caught, so the whole batch must.
        per_batch = 1 if resolved.type == "cuda" else min(batch_size, len(dataset))
        check_decoding_fits(model, vocab, problem, per_batch * beam_size, precision)
        confidence: dict[str, np.ndarray] = {}
        predictions, decoded = decode_test_set(
            model,
            vocab,
            dataset.inputs,
            problem.target_shape,
            beam_size,
            batch_size,
            progress=sys.stderr.isatty(),
            precision=precision,
            confidence=confidence,
            cuda_graph=run_config.cuda_graphs,
        )
    table = predictions_table(
        problem.task,
        dataset.inputs,
        dataset.targets,
        predictions,
        decoded,
        read_inputs=vocab.read_source(dataset.inputs),
        confidence=confidence,
    )
    run = Path(model_path).resolve().parent.name
    test_set = Path(data_path).stem
    metadata = {
        "task": problem.task,
        "n": problem.n,
        "spectrum": problem.spectrum,
        "train_spectrum": run_config.spectrum,
        "run": run,
        "model_file": Path(model_path).name,  # model.pt, or weak.pt for the weaker snapshot
        "test_set": test_set,
        "target_shape": list(problem.target_shape),
        "tolerances": list(TOLERANCES),
        "beam_size": beam_size,
        "versions": versions(),
    }
    summary = {"run": run, "test_set": test_set, "task": problem.task, **summarise(table)}
    if warning:
        summary["training_warning"] = warning
    write_together(table, metadata, out_parquet, summary, summary_json)
    return summary


def write_together(
    table: pa.Table,
    metadata: dict[str, Any],
    out_parquet: str | os.PathLike,
    summary: dict[str, Any],
    summary_json: str | os.PathLike,
) -> None:
    """The table and its summary together or not at all: both are written beside their places
    first, so a failure (a full disk) leaves the old pair whole. Then the old summary goes, the
    table moves in, and the summary last: at every instant the files present describe one
    evaluation (a table without its summary is an unfinished one)."""
    with atomic_path(summary_json) as summary_tmp:
        write_summary(summary, summary_tmp)
        with atomic_path(out_parquet) as table_tmp:
            write_predictions(table, metadata, table_tmp)
            Path(summary_json).unlink(missing_ok=True)


def _free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give (None where unknown): CUDA's free memory and what torch's
    cache holds unused; on Linux, MemAvailable (what a process can take without swapping)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    available = [line.split()[1] for line in lines if line.startswith("MemAvailable:")]
    return int(available[0]) * 1024 if available else None


def check_decoding_fits(
    model: Seq2Seq, vocab: Vocabulary, problem: Problem, rows: int, precision: str
) -> None:
    """Refuse up front a beam (times batch) whose decoding cannot fit in the device's memory.

    The need counted is a lower bound of what decoding `rows` hypotheses at once holds: the
    encoded source, per decoder layer the keys and values of the source and of the tokens
    written (2 bytes a number in 16-bit arithmetic, else 4), and two float32 tables of
    next-token scores. Past the free memory an allocation fails mid-way, or the kernel kills
    the process without a word.
    """
    cfg = model.cfg
    source_length = vocab.source_length(problem.input_shape)
    max_len = vocab.target_length(problem.target_shape)
    width = 2 if precision in PRECISIONS_DTYPES else 4
    keys_values = 2 * cfg.dec_layers * (source_length + max_len) * cfg.dec_dim
    need = rows * (width * (source_length * cfg.enc_dim + keys_values) + 2 * 4 * cfg.tgt_vocab)
    device = next(model.parameters()).device
    free = _free_memory(device)
    if free is not None and need > free:
        raise ValueError(
            f"too large a beam: decoding {rows:,} hypotheses at once (beam size x batch size) needs at "
            f"least {need / 1e9:,.1f} GB on {device}, which has {free / 1e9:,.1f} GB free; lower the beam or the batch size"
        )
