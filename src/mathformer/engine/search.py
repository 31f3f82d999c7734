"""Greedy and beam search over a Seq2Seq: the tokens it writes and each token's log-probability.

The log-probabilities come from the pass that picks the tokens, so the model's confidence in its
answer costs no second (teacher-forced) pass. Greedy search decodes every row up to `max_len`
tokens and asks only now and then whether all rows have ended, since on a GPU each ask waits for
the device; the columns after the last row's <eos> are dropped, which gives exactly what stopping
at once gives. On CUDA the greedy step can run as a CUDA graph (`cuda_graph`): the key/value
cache and every buffer keep fixed shapes, the position lives on the device, and each token costs
one graph launch instead of dozens of kernel launches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mathformer.core.encoding import BOS, EOS, PAD
from mathformer.engine.model import KVCache, Position, Seq2Seq, source_mask

# How many greedy steps pass between two looks at whether every row has ended: a look is a
# host-device sync on a GPU (so rarely), free on a CPU (so at every step, which stops soonest).
FINISHED_CHECK_STEPS = {"cpu": 1, "cuda": 16}


@dataclass(frozen=True)
class Decoded:
    """A decoded batch: tokens (B, L) long, <bos> first and PAD after <eos>, and log_probs (B, L)
    float32, each token's log-probability when it was written (0 at <bos> and at PAD)."""

    tokens: Tensor
    log_probs: Tensor


def _column(tokens: Tensor, position: Position) -> Tensor:
    """(B, 1): column `position` of `tokens`."""
    if isinstance(position, int):
        return tokens[:, position : position + 1]
    return tokens.index_select(1, position)


def _put(buffer: Tensor, position: Position, values: Tensor) -> None:
    """Write (B, 1) `values` into column `position` of `buffer`."""
    if isinstance(position, int):
        buffer[:, position : position + 1] = values
    else:
        buffer.index_copy_(1, position, values)


class _Source:
    """One batch being decoded: its encoded source, repeated per beam, and the caches if used."""

    def __init__(
        self, model: Seq2Seq, src: Tensor, copies: int, max_len: int, use_cache: bool, src_may_pad: bool
    ) -> None:
        self.decoder = model.decoder
        self.device = src.device
        mask = source_mask(src, src_may_pad)
        memory = model.encoder(src, mask)
        if copies > 1:
            memory = memory.repeat_interleave(copies, dim=0)
            mask = None if mask is None else mask.repeat_interleave(copies, dim=0)
        self.mask = mask
        self.memory_kv = self.decoder.memory_keys_values(memory)
        self.caches = [KVCache(max_len) for _ in self.decoder.layers] if use_cache else None

    def next_log_probs(self, tokens: Tensor, position: Position) -> Tensor:
        """float32 (N, tgt_vocab) log-probabilities of the token after column `position` of `tokens`.

        PAD and BOS are never predicted (-inf): PAD marks finished rows and BOS only starts.
        """
        if self.caches is not None:
            hidden = self.decoder(_column(tokens, position), self.memory_kv, self.mask, self.caches, position)
        else:  # the whole prefix again (int positions only): the slow reference the cache must equal
            hidden = self.decoder(tokens[:, : position + 1], self.memory_kv, self.mask)
        log_probs = self.decoder.head(hidden[:, -1]).float().log_softmax(dim=-1)
        log_probs[:, PAD] = float("-inf")
        log_probs[:, BOS] = float("-inf")
        return log_probs

    def reorder(self, rows: Tensor) -> None:
        for cache in self.caches or ():
            cache.reorder(rows)


class _Greedy:
    """The buffers of a greedy search: the tokens written, their log-probabilities, the ended rows."""

    def __init__(self, batch: int, max_len: int, device: torch.device) -> None:
        self.tokens = torch.full((batch, max_len), PAD, dtype=torch.long, device=device)
        self.log_probs = torch.zeros(batch, max_len, device=device)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=device)
        self.restart()

    def restart(self) -> None:
        self.tokens.fill_(PAD)
        self.tokens[:, 0] = BOS
        self.log_probs.zero_()
        self.finished.zero_()

    def step(self, source: _Source, position: Position) -> None:
        """Write column position + 1: the most probable next token, PAD in rows already ended."""
        log_probs = source.next_log_probs(self.tokens, position)
        next_token = log_probs.argmax(dim=-1, keepdim=True)
        ended = self.finished.unsqueeze(1)
        _put(self.tokens, position + 1, next_token.masked_fill(ended, PAD))
        _put(self.log_probs, position + 1, log_probs.gather(1, next_token).masked_fill(ended, 0.0))
        self.finished |= next_token.squeeze(1).eq(EOS)

    def result(self) -> Decoded:
        """Up to the last column any row wrote (at least one token after <bos>)."""
        written = self.tokens.ne(PAD).any(dim=0).nonzero()
        length = max(2, int(written[-1]) + 1)
        return Decoded(self.tokens[:, :length], self.log_probs[:, :length])


def _captured_step(search: _Greedy, source: _Source) -> Callable[[], None]:
    """The greedy step as a CUDA graph: each replay writes the next column (the position is a
    device counter the graph itself advances)."""
    position = torch.zeros(1, dtype=torch.long, device=source.device)

    def step() -> None:
        search.step(source, position)
        position.add_(1)

    # One eager step first, on a side stream as capture requires: it allocates the caches and
    # the kernels' workspaces outside the graph's memory. Then back to the start and capture.
    side = torch.cuda.Stream(source.device)
    side.wait_stream(torch.cuda.current_stream(source.device))
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream(source.device).wait_stream(side)
    search.restart()
    position.zero_()
    graph = torch.cuda.CUDAGraph()
    # thread_local: a DataLoader's pin-memory thread may run beside an evaluation during training.
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        step()
    return graph.replay


def _greedy(source: _Source, batch: int, max_len: int, cuda_graph: bool) -> Decoded:
    search = _Greedy(batch, max_len, source.device)
    replay = _captured_step(search, source) if cuda_graph else None
    check_every = FINISHED_CHECK_STEPS.get(source.device.type, FINISHED_CHECK_STEPS["cuda"])
    for position in range(max_len - 1):
        if replay is not None:
            replay()
        else:
            search.step(source, position)
        if (position + 1) % check_every == 0 and bool(search.finished.all()):
            break
    return search.result()


def _beam_search(source: _Source, batch: int, beams: int, max_len: int) -> Decoded:
    """Keep the `beams` most probable prefixes per row; finished ones stay in the beam.

    A hypothesis is scored by the plain sum of its token log-probabilities. That sum can only
    fall as a sequence grows, so once a row's best hypothesis has ended with EOS nothing can
    overtake it and the search stops, exactly. Length normalisation would lose that guarantee
    and buys little here: every answer of a problem has the same length.
    """
    device = source.device
    rows = batch * beams
    tokens = torch.full((rows, max_len), PAD, dtype=torch.long, device=device)
    tokens[:, 0] = BOS
    token_log_probs = torch.zeros(rows, max_len, device=device)
    # All beams of a row start as the same <bos>: only the first may expand at the first step.
    scores = torch.full((batch, beams), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    first_row_of = torch.arange(batch, device=device).unsqueeze(1) * beams
    length = 1
    while length < max_len:
        log_probs = source.next_log_probs(tokens, length - 1)
        # A finished hypothesis continues with PAD only, at no cost, so it keeps one slot.
        log_probs[finished] = float("-inf")
        log_probs[finished, PAD] = 0.0
        vocab = log_probs.shape[1]
        candidates = (scores.view(rows, 1) + log_probs).view(batch, beams * vocab)
        scores, choice = candidates.topk(beams, dim=1)  # sorted: beam 0 is the best
        parents = (first_row_of + choice // vocab).view(rows)
        next_token = (choice % vocab).view(rows)
        tokens = tokens[parents]
        tokens[:, length] = next_token
        token_log_probs = token_log_probs[parents]
        token_log_probs[:, length] = log_probs[parents, next_token]
        finished = finished[parents] | next_token.eq(EOS)
        source.reorder(parents)
        length += 1
        if bool(finished.view(batch, beams)[:, 0].all()):
            break
    best = slice(0, rows, beams)
    return Decoded(tokens[best, :length], token_log_probs[best, :length])


def _check(model: Seq2Seq, src: Tensor, max_len: int, beam_size: int) -> None:
    model.check_lengths(src, max_len)
    if max_len < 2:
        raise ValueError(f"max_len={max_len} must be at least 2 (<bos> and one token)")
    if beam_size < 1:
        raise ValueError(f"beam_size={beam_size} must be a positive integer")


@torch.no_grad()
def generate(
    model: Seq2Seq,
    src: Tensor,
    max_len: int,
    beam_size: int = 1,
    *,
    use_cache: bool = True,
    src_may_pad: bool = True,
    cuda_graph: bool = False,
) -> Decoded:
    """Decode `src` (B, S) into at most `max_len` tokens per row, <bos> included.

    Greedy when beam_size is 1, else beam search. A row that reaches max_len tokens without <eos>
    ends without it. The cache changes the speed only. `src_may_pad=False` promises that `src`
    holds no PAD (`model.source_mask`). `cuda_graph` replays the cached greedy step as a CUDA
    graph on a CUDA device (elsewhere, or with beams, it changes nothing). Dropout stays as the
    module mode says: call .eval() first if the model has any.
    """
    _check(model, src, max_len, beam_size)
    source = _Source(model, src, beam_size, max_len, use_cache, src_may_pad)
    if beam_size == 1:
        graph = cuda_graph and use_cache and src.device.type == "cuda"
        return _greedy(source, src.shape[0], max_len, graph)
    return _beam_search(source, src.shape[0], beam_size, max_len)


@torch.no_grad()
def beam_search(model: Seq2Seq, src: Tensor, max_len: int, beam_size: int, use_cache: bool = True) -> Decoded:
    """Beam search, even for beam_size 1 (where it agrees with greedy decoding)."""
    _check(model, src, max_len, beam_size)
    source = _Source(model, src, beam_size, max_len, use_cache, src_may_pad=True)
    return _beam_search(source, src.shape[0], beam_size, max_len)
