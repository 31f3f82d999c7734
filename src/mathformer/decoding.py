"""Greedy (or beam) decoding of a whole set of matrices by a trained model, in batches."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from mathformer.devices import autocast
from mathformer.encoding import Vocabulary
from mathformer.model import Seq2Seq


def decode_test_set(
    model: Seq2Seq,
    vocab: Vocabulary,
    inputs: np.ndarray,
    target_shape: tuple[int, ...],
    beam_size: int,
    batch_size: int,
    progress: bool,
    precision: str = "fp32",
) -> tuple[np.ndarray, np.ndarray]:
    """Predict every input in batches: (values float64 (N, *target_shape), ok bool (N,)).

    `precision` is the arithmetic (devices.resolve_precision: the run's own, bf16 on CUDA by
    default). Rows whose tokens do not form a well-formed answer come back with ok False and NaN
    values.
    """
    device = next(model.parameters()).device
    source_ids = vocab.encode_source(inputs)
    max_len = vocab.target_length(target_shape)
    count = len(inputs)
    values = np.full((count, *target_shape), np.nan)
    ok = np.zeros(count, dtype=bool)
    with torch.inference_mode(), autocast(precision, device), tqdm(total=count, unit="matrix", disable=not progress) as bar:
        for start in range(0, count, batch_size):
            stop = min(start + batch_size, count)
            src = torch.from_numpy(source_ids[start:stop]).to(device)
            tokens = model.generate(src, max_len=max_len, beam_size=beam_size).cpu().numpy()
            values[start:stop], ok[start:stop] = vocab.decode_target(tokens, target_shape)
            bar.update(stop - start)
    return values, ok
