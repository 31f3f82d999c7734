"""Greedy (or beam) decoding of a whole set of matrices by a trained model, in batches, and the
model's own confidence in each answer it wrote."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from mathformer.core.encoding import PAD, Vocabulary
from mathformer.engine.devices import autocast
from mathformer.engine.model import Seq2Seq
from mathformer.engine.search import generate
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
    cuda_graph: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict every input in batches: (values float64 (N, *target_shape), decoded bool (N,)).

    `precision` is the arithmetic (devices.resolve_precision: the run's own, bf16 on CUDA by
    default). Rows whose tokens do not form a well-formed answer come back with decoded False and NaN
    values. Given a dict, `confidence` is filled with the model's confidence in each answer it
    wrote: `surprisal`, minus the sum of its tokens' log-probabilities (0 when certain), and
    `min_token_prob`, the probability of its least likely token; both come with the decoding's
    own log-probabilities. With beam search it also holds `beam_differs`: 1.0 where the best beam
    is not the greedy answer (a greedy pass more per batch), NaN under greedy decoding.
    A batch that does not fit in the device's memory is split in halves until it does, so
    `batch_size` can be as large as the set. `cuda_graph`: see `search.generate`.
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
        start = 0
        while start < count:
            stop = min(start + batch_size, count)
            # Every encoded matrix of one size has the same length: no PAD, no mask to look for.
            src = torch.from_numpy(source_ids[start:stop]).to(device)
            try:
                found = generate(model, src, max_len, beam_size, src_may_pad=False, cuda_graph=cuda_graph)
                greedy = None
                if confidence is not None and beam_size > 1:
                    greedy = generate(model, src, max_len, src_may_pad=False, cuda_graph=cuda_graph)
            except torch.OutOfMemoryError:
                if batch_size == 1:
                    raise
                batch_size //= 2
                torch.cuda.empty_cache()
                continue
            values[start:stop], decoded[start:stop] = vocab.decode_target(
                found.tokens.cpu().numpy(), target_shape
            )
            if confidence is not None:
                # Column 0 is <bos>; PAD columns hold 0 (probability 1): they change neither the sum
                # nor the minimum.
                per_token = found.log_probs[:, 1:]
                scores["surprisal"][start:stop] = (-per_token.sum(dim=1)).cpu().numpy()
                scores["min_token_prob"][start:stop] = per_token.min(dim=1).values.exp().cpu().numpy()
                if greedy is not None:
                    scores["beam_differs"][start:stop] = _differ(found.tokens, greedy.tokens).cpu().numpy()
            bar.update(stop - start)
            start = stop
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
