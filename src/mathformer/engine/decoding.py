"""Greedy (or beam) decoding of a whole set of matrices by a trained model, in batches, and the
model's own confidence in each answer it wrote."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from mathformer.core.encoding import PAD, Vocabulary
from mathformer.engine.devices import autocast
from mathformer.engine.model import Seq2Seq
from mathformer.formats.predictions import CONFIDENCE_COLUMNS


def decode_test_set(
    model: Seq2Seq,
    vocab: Vocabulary,
    inputs: np.ndarray,
    target_shape: tuple[int, ...],
    beam_size: int,
    batch_size: int,
    progress: bool,
    precision: str = "fp32",
    confidence: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict every input in batches: (values float64 (N, *target_shape), decoded bool (N,)).

    `precision` is the arithmetic (devices.resolve_precision: the run's own, bf16 on CUDA by
    default). Rows whose tokens do not form a well-formed answer come back with decoded False and NaN
    values. Given a dict, `confidence` is filled with the model's confidence in each answer it
    wrote: `surprisal`, minus the sum of its tokens' log-probabilities (0 when certain), and
    `min_token_prob`, the probability of its least likely token; both from one teacher-forced
    pass over the decoded tokens, so they cost one forward pass per batch. With beam search it
    also holds `beam_differs`: 1.0 where the best beam is not the greedy answer (a greedy pass
    more per batch), NaN under greedy decoding.
    """
    device = next(model.parameters()).device
    source_ids = vocab.encode_source(inputs)
    max_len = vocab.target_length(target_shape)
    count = len(inputs)
    values = np.full((count, *target_shape), np.nan)
    decoded = np.zeros(count, dtype=bool)
    scores = {name: np.full(count, np.nan) for name in CONFIDENCE_COLUMNS}
    with (
        torch.inference_mode(),
        autocast(precision, device),
        tqdm(total=count, unit="matrix", disable=not progress) as bar,
    ):
        for start in range(0, count, batch_size):
            stop = min(start + batch_size, count)
            src = torch.from_numpy(source_ids[start:stop]).to(device)
            tokens = model.generate(src, max_len=max_len, beam_size=beam_size)
            values[start:stop], decoded[start:stop] = vocab.decode_target(tokens.cpu().numpy(), target_shape)
            if confidence is not None:
                per_token = model.token_log_probs(src, tokens).float()
                # PAD positions hold 0 (probability 1): they change neither the sum nor the minimum.
                scores["surprisal"][start:stop] = (-per_token.sum(dim=1)).cpu().numpy()
                scores["min_token_prob"][start:stop] = per_token.min(dim=1).values.exp().cpu().numpy()
                if beam_size > 1:
                    greedy = model.generate(src, max_len=max_len, beam_size=1)
                    scores["beam_differs"][start:stop] = _differ(tokens, greedy).cpu().numpy()
            bar.update(stop - start)
    if confidence is not None:
        confidence.update(scores)
    return values, decoded


def _differ(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Per row, 1.0 where two batches of right-padded token rows differ (their lengths may)."""
    length = max(first.shape[1], second.shape[1])
    padded = [
        torch.nn.functional.pad(rows, (0, length - rows.shape[1]), value=PAD) for rows in (first, second)
    ]
    return (padded[0] != padded[1]).any(dim=1).double()
