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
import torch

from mathformer.core.config import RunConfig
from mathformer.core.metrics import TOLERANCES
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.devices import claimed_device, default_decode_batch_size, resolve_precision
from mathformer.engine.model_files import load_model
from mathformer.engine.provenance import versions
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
    if Path(out_parquet).resolve() == Path(summary_json).resolve():
        raise ValueError(
            f"the predictions table and the summary would both be written to {out_parquet}; give two paths"
        )
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
        confidence: dict[str, np.ndarray] = {}
        predictions, decoded = decode_test_set(
            model,
            vocab,
            dataset.inputs,
            problem.target_shape,
            beam_size,
            default_decode_batch_size(resolved) if batch_size is None else batch_size,
            progress=sys.stderr.isatty(),
            precision=resolve_precision(run_config.precision, resolved),
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
    # Both files only once both are ready: a failure leaves neither a table nor a stale summary.
    write_predictions(table, metadata, out_parquet)
    write_summary(summary, summary_json)
    return summary
