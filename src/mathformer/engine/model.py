"""The encoder-decoder transformer that reads a matrix as tokens and writes the answer as tokens.

One file in the manner of nanoGPT's model.py: a config dataclass, a few small modules, one model.

- Pre-norm blocks (LayerNorm before each sub-layer, one more after the last block) by default,
  or the paper's post-norm blocks (`norm="post"`: LayerNorm after each residual sum and one on
  the embeddings, as in the authors' code), learned absolute positions, feed-forward of `ffn_mult` x width with ReLU, no dropout by default.
- Encoder and decoder have their own depth, width and heads; cross-attention projects the
  encoder's `enc_dim` keys/values to the decoder's `dec_dim` (the paper's inversion model pairs a
  516-wide, 12-head encoder with a 512-wide, 8-head decoder).
- The decoder's input embedding and output projection are one matrix (tied).
- Attention is `scaled_dot_product_attention`, with `is_causal` for decoder self-attention and no
  mask at all unless the source batch holds PAD: an explicit mask makes SDPA slower.
- Sequences are right-padded with PAD; the target of `loss` is `<bos> ... <eos> PAD...`.

Decoding (`generate`) is batched greedy search or beam search, with or without a key/value
cache; both give the same tokens. Beam scores are plain sums of log-probabilities (see
`_beam_search` for why).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mathformer.core.config import NORMS, RunConfig
from mathformer.core.encoding import BOS, EOS, PAD
from mathformer.core.problems import check_choice


@dataclass(kw_only=True)
class ModelConfig:
    """The architecture. A run's comes from its RunConfig (`of_run`), the one owner of the defaults;
    the fields keep their order, which model.pt records (the same run, the same bytes)."""

    src_vocab: int
    tgt_vocab: int
    enc_layers: int
    dec_layers: int
    enc_dim: int
    dec_dim: int
    enc_heads: int
    dec_heads: int
    ffn_mult: int = 4
    max_src_len: int
    max_tgt_len: int
    dropout: float = 0.0
    norm: str  # "pre" or "post" (see the module docstring)

    @classmethod
    def of_run(cls, cfg: RunConfig) -> ModelConfig:
        """A run's architecture; position tables are exactly as long as its problem's sequences."""
        vocab, problem = cfg.vocabulary(), cfg.problem()
        return cls(
            src_vocab=vocab.source_size,
            tgt_vocab=vocab.target_size,
            enc_layers=cfg.enc_layers,
            dec_layers=cfg.dec_layers,
            enc_dim=cfg.enc_dim,
            dec_dim=cfg.dec_dim,
            enc_heads=cfg.enc_heads,
            dec_heads=cfg.dec_heads,
            max_src_len=vocab.source_length(problem.input_shape),
            max_tgt_len=vocab.target_length(problem.target_shape),
            norm=cfg.norm,
        )

    def __post_init__(self) -> None:
        check_choice("norm", self.norm, NORMS)
        for name in ("src_vocab", "tgt_vocab"):
            if getattr(self, name) <= EOS:
                raise ValueError(
                    f"{name}={getattr(self, name)} must exceed the special ids PAD, BOS, EOS (> {EOS})"
                )
        for name in ("enc_layers", "dec_layers", "enc_heads", "dec_heads", "ffn_mult", "max_src_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be a positive integer")
        if self.max_tgt_len < 2:
            raise ValueError(f"max_tgt_len={self.max_tgt_len} must be at least 2 (<bos> and one token)")
        for side in ("enc", "dec"):
            dim, heads = getattr(self, f"{side}_dim"), getattr(self, f"{side}_heads")
            if dim < 1 or dim % heads:
                raise ValueError(f"{side}_dim={dim} must be a positive multiple of {side}_heads={heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")


def split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, T, heads * d) -> (B, heads, T, d), a view."""
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, heads, T, d) -> (B, T, heads * d)."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


def source_mask(src: Tensor) -> Tensor | None:
    """Boolean attention mask (B, 1, 1, S), True where a key is a real token; None without PAD.

    None lets SDPA take its fastest path, which is why a batch of equal-length sources (the common
    case: every matrix of a problem has the same size) carries no mask at all.
    """
    is_pad = src.eq(PAD)
    if not bool(is_pad.any()):
        return None
    return ~is_pad[:, None, None, :]


def residual(x: Tensor, norm: nn.Module, sublayer, post: bool) -> Tensor:
    """One residual sub-layer: x + f(norm(x)) before (pre-norm), norm(x + f(x)) after (post-norm)."""
    if post:
        return norm(x + sublayer(x))
    return x + sublayer(norm(x))


def residual_dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


class KVCache:
    """Keys and values of the positions decoded so far, for one decoder self-attention layer.

    Preallocated to the longest output, so each step writes one slot instead of re-concatenating
    the whole history.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.length = 0
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Store (B, h, n, d) new keys/values; return all keys/values so far."""
        if self.keys is None or self.values is None:
            batch, heads, _, head_dim = keys.shape
            self.keys = keys.new_empty(batch, heads, self.capacity, head_dim)
            self.values = values.new_empty(batch, heads, self.capacity, head_dim)
        end = self.length + keys.shape[2]
        self.keys[:, :, self.length : end] = keys
        self.values[:, :, self.length : end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def reorder(self, rows: Tensor) -> None:
        """Row i now continues the history of row rows[i] (beam search)."""
        if self.keys is None or self.values is None:
            return
        self.keys[:, :, : self.length] = self.keys[rows, :, : self.length]
        self.values[:, :, : self.length] = self.values[rows, :, : self.length]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)  # one matmul for queries, keys and values
        self.out = nn.Linear(dim, dim)
        self.out_dropout = residual_dropout(dropout)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, causal: bool = False, cache: KVCache | None = None
    ) -> Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:
            k, v = cache.append(k, v)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_dropout(self.out(merge_heads(y)))


class CrossAttention(nn.Module):
    """Decoder queries over encoder keys/values, projected from `memory_dim` to the decoder's width."""

    def __init__(self, dim: int, memory_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(memory_dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.out_dropout = residual_dropout(dropout)

    def keys_values(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S, memory_dim) encoder output -> keys, values (B, h, S, d); computed once per source."""
        batch, length, _ = memory.shape
        kv = self.key_value(memory).view(batch, length, 2, self.heads, -1)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        return k, v

    def forward(self, x: Tensor, keys_values: tuple[Tensor, Tensor], mask: Tensor | None) -> Tensor:
        q = split_heads(self.query(x), self.heads)
        k, v = keys_values
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_dropout(self.out(merge_heads(y)))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.Linear(dim, mult * dim)
        self.down = nn.Linear(mult * dim, dim)
        self.out_dropout = residual_dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_dropout(self.down(F.relu(self.up(x))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(cfg.enc_dim)
        self.attention = SelfAttention(cfg.enc_dim, cfg.enc_heads, cfg.dropout)
        self.ffn_norm = nn.LayerNorm(cfg.enc_dim)
        self.ffn = FeedForward(cfg.enc_dim, cfg.ffn_mult, cfg.dropout)
        self.post = cfg.norm == "post"

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = residual(x, self.attention_norm, lambda h: self.attention(h, mask=mask), self.post)
        return residual(x, self.ffn_norm, self.ffn, self.post)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_attention_norm = nn.LayerNorm(cfg.dec_dim)
        self.self_attention = SelfAttention(cfg.dec_dim, cfg.dec_heads, cfg.dropout)
        self.cross_attention_norm = nn.LayerNorm(cfg.dec_dim)
        self.cross_attention = CrossAttention(cfg.dec_dim, cfg.enc_dim, cfg.dec_heads, cfg.dropout)
        self.ffn_norm = nn.LayerNorm(cfg.dec_dim)
        self.ffn = FeedForward(cfg.dec_dim, cfg.ffn_mult, cfg.dropout)
        self.post = cfg.norm == "post"

    def forward(
        self, x: Tensor, memory_kv: tuple[Tensor, Tensor], memory_mask: Tensor | None, cache: KVCache | None
    ) -> Tensor:
        # With a cache, x is the newest position only and attends to everything before it: no mask.
        x = residual(
            x,
            self.self_attention_norm,
            lambda h: self.self_attention(h, causal=cache is None, cache=cache),
            self.post,
        )
        x = residual(
            x, self.cross_attention_norm, lambda h: self.cross_attention(h, memory_kv, memory_mask), self.post
        )
        return residual(x, self.ffn_norm, self.ffn, self.post)


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(cfg.src_vocab, cfg.enc_dim)
        self.positions = nn.Parameter(torch.empty(cfg.max_src_len, cfg.enc_dim))
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.enc_layers))
        # Pre-norm: the last block's output is normalised; post-norm: the embeddings are.
        self.norm = nn.LayerNorm(cfg.enc_dim)
        self.post = cfg.norm == "post"

    def forward(self, src: Tensor, mask: Tensor | None) -> Tensor:
        x = self.tokens(src) + self.positions[: src.shape[1]]
        if self.post:
            x = self.norm(x)
        for layer in self.layers:
            x = layer(x, mask)
        return x if self.post else self.norm(x)


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(cfg.tgt_vocab, cfg.dec_dim)
        self.positions = nn.Parameter(torch.empty(cfg.max_tgt_len, cfg.dec_dim))
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.dec_layers))
        self.norm = nn.LayerNorm(cfg.dec_dim)  # as in Encoder: after the last block, or on the embeddings
        self.post = cfg.norm == "post"
        self.head = nn.Linear(cfg.dec_dim, cfg.tgt_vocab, bias=False)
        self.head.weight = self.tokens.weight  # tied: one (tgt_vocab, dec_dim) matrix

    def memory_keys_values(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        return [layer.cross_attention.keys_values(memory) for layer in self.layers]

    def forward(
        self,
        tgt: Tensor,
        memory_kv: list[tuple[Tensor, Tensor]],
        memory_mask: Tensor | None,
        caches: list[KVCache] | None = None,
    ) -> Tensor:
        """Hidden states (B, T, dec_dim) of `tgt`, which continues the cached positions if any."""
        start = caches[0].length if caches else 0
        x = self.tokens(tgt) + self.positions[start : start + tgt.shape[1]]
        if self.post:
            x = self.norm(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, memory_kv[i], memory_mask, caches[i] if caches else None)
        return x if self.post else self.norm(x)


class _Decoding:
    """One batch being decoded: its encoded source, repeated per beam, and the caches if used."""

    def __init__(self, model: Seq2Seq, src: Tensor, copies: int, max_len: int, use_cache: bool) -> None:
        self.decoder = model.decoder
        mask = source_mask(src)
        memory = model.encoder(src, mask)
        if copies > 1:
            memory = memory.repeat_interleave(copies, dim=0)
            mask = None if mask is None else mask.repeat_interleave(copies, dim=0)
        self.memory, self.mask = memory, mask
        if use_cache:
            self.memory_kv = self.decoder.memory_keys_values(memory)
            self.caches: list[KVCache] | None = [KVCache(max_len) for _ in self.decoder.layers]
        else:
            self.caches = None

    def next_log_probs(self, tokens: Tensor) -> Tensor:
        """(N, t) tokens so far -> float32 (N, tgt_vocab) log-probabilities of the next token.

        PAD and BOS are never predicted (-inf): PAD marks finished rows and BOS only starts.
        """
        if self.caches is not None:
            hidden = self.decoder(tokens[:, -1:], self.memory_kv, self.mask, self.caches)
        else:
            hidden = self.decoder(tokens, self.decoder.memory_keys_values(self.memory), self.mask)
        log_probs = self.decoder.head(hidden[:, -1]).float().log_softmax(dim=-1)
        log_probs[:, PAD] = float("-inf")
        log_probs[:, BOS] = float("-inf")
        return log_probs

    def reorder(self, rows: Tensor) -> None:
        for cache in self.caches or ():
            cache.reorder(rows)


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.apply(self._init_weights)
        nn.init.normal_(self.encoder.positions, std=0.02)
        nn.init.normal_(self.decoder.positions, std=0.02)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # the tied matrix counts once

    def _check_lengths(self, src: Tensor, tgt_len: int) -> None:
        if src.dim() != 2 or src.shape[1] < 1:
            raise ValueError(
                f"src must be a (batch, length) tensor of token ids, got shape {tuple(src.shape)}"
            )
        if src.shape[1] > self.cfg.max_src_len:
            raise ValueError(f"source length {src.shape[1]} exceeds max_src_len={self.cfg.max_src_len}")
        if not 1 <= tgt_len <= self.cfg.max_tgt_len:
            raise ValueError(f"target length {tgt_len} must be in 1..max_tgt_len={self.cfg.max_tgt_len}")

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Logits (B, T, tgt_vocab) for the token after each position of `tgt_in` (B, T)."""
        self._check_lengths(src, tgt_in.shape[1])
        mask = source_mask(src)
        memory = self.encoder(src, mask)
        hidden = self.decoder(tgt_in, self.decoder.memory_keys_values(memory), mask)
        return self.decoder.head(hidden)

    def loss(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Mean cross-entropy of predicting tgt[:, 1:] from tgt[:, :-1]; PAD targets are ignored."""
        logits = self.forward(src, tgt[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1).float(), tgt[:, 1:].flatten(), ignore_index=PAD)

    def token_log_probs(self, src: Tensor, tgt: Tensor) -> Tensor:
        """(B, T - 1) log-probability of each token of `<bos> ... <eos> PAD...` after the <bos>; 0 at PAD."""
        log_probs = self.forward(src, tgt[:, :-1]).float().log_softmax(dim=-1)
        next_tokens = tgt[:, 1:]
        per_token = log_probs.gather(-1, next_tokens.unsqueeze(-1)).squeeze(-1)
        return per_token.masked_fill(next_tokens.eq(PAD), 0.0)

    def log_prob(self, src: Tensor, tgt: Tensor) -> Tensor:
        """(B,) log-probability the model gives each full target `<bos> ... <eos> PAD...`."""
        return self.token_log_probs(src, tgt).sum(dim=1)

    @torch.no_grad()
    def generate(self, src: Tensor, max_len: int, beam_size: int = 1, use_cache: bool = True) -> Tensor:
        """Decode `src` (B, S): LongTensor (B, L <= max_len) starting with BOS, PAD after EOS.

        Greedy when beam_size is 1, else beam search. Stops as soon as every row has its EOS; a row
        that reaches max_len tokens without one ends without it. The cache changes the speed only.
        Dropout stays as the module mode says: call .eval() first if the model has any.
        """
        self._check_decoding(src, max_len, beam_size)
        decoding = _Decoding(self, src, beam_size, max_len, use_cache)
        if beam_size == 1:
            return self._greedy(decoding, src.shape[0], max_len)
        return self._beam_search(decoding, src.shape[0], beam_size, max_len)

    @torch.no_grad()
    def beam_search(self, src: Tensor, max_len: int, beam_size: int, use_cache: bool = True) -> Tensor:
        """Beam search, even for beam_size 1 (where it agrees with greedy decoding)."""
        self._check_decoding(src, max_len, beam_size)
        decoding = _Decoding(self, src, beam_size, max_len, use_cache)
        return self._beam_search(decoding, src.shape[0], beam_size, max_len)

    def _check_decoding(self, src: Tensor, max_len: int, beam_size: int) -> None:
        self._check_lengths(src, max_len)
        if max_len < 2:
            raise ValueError(f"max_len={max_len} must be at least 2 (<bos> and one token)")
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size} must be a positive integer")

    @staticmethod
    def _greedy(decoding: _Decoding, batch: int, max_len: int) -> Tensor:
        device = decoding.memory.device
        tokens = torch.full((batch, max_len), PAD, dtype=torch.long, device=device)
        tokens[:, 0] = BOS
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        length = 1
        while length < max_len:
            next_token = decoding.next_log_probs(tokens[:, :length]).argmax(dim=-1)
            tokens[:, length] = next_token.masked_fill(finished, PAD)
            finished |= next_token.eq(EOS)
            length += 1
            if bool(finished.all()):
                break
        return tokens[:, :length]

    @staticmethod
    def _beam_search(decoding: _Decoding, batch: int, beams: int, max_len: int) -> Tensor:
        """Keep the `beams` most probable prefixes per row; finished ones stay in the beam.

        A hypothesis is scored by the plain sum of its token log-probabilities. That sum can only
        fall as a sequence grows, so once a row's best hypothesis has ended with EOS nothing can
        overtake it and the search stops, exactly. Length normalisation would lose that guarantee
        and buys little here: every answer of a problem has the same length.
        """
        device = decoding.memory.device
        rows = batch * beams
        tokens = torch.full((rows, max_len), PAD, dtype=torch.long, device=device)
        tokens[:, 0] = BOS
        # All beams of a row start as the same <bos>: only the first may expand at the first step.
        scores = torch.full((batch, beams), float("-inf"), device=device)
        scores[:, 0] = 0.0
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        first_row_of = torch.arange(batch, device=device).unsqueeze(1) * beams
        length = 1
        while length < max_len:
            log_probs = decoding.next_log_probs(tokens[:, :length])
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
            finished = finished[parents] | next_token.eq(EOS)
            decoding.reorder(parents)
            length += 1
            if bool(finished.view(batch, beams)[:, 0].all()):
                break
        return tokens.view(batch, beams, max_len)[:, 0, :length]

    def flops_per_example(self, src_len: int, tgt_len: int) -> float:
        """Training FLOPs for one example whose `loss` tensors have these lengths.

        The standard count: 2 FLOPs per multiply-add of every matmul, forward plus a backward of
        twice the forward (so 6 x matmul parameters per token), plus the attention products.
        The decoder runs on T = tgt_len - 1 positions. Per layer, forward multiply-adds:
          encoder, per source token: (4 + 2 m) d_e^2 (QKV, output, FFN of m x width)
                                     + 2 S d_e (scores and weighted sum over S keys)
          decoder, per position:     (6 + 2 m) d_d^2 (self QKV + output, cross query + output, FFN)
                                     + 2 (T + 1)/2 d_d (causal: position i sees i + 1 keys)
                                     + 2 S d_d (cross-attention over the S source positions)
          cross keys/values, per source token: 2 d_e d_d
        plus the tied output projection, d_d x tgt_vocab per position. Embedding lookups, norms,
        softmax and the optimizer are not counted.
        """
        c = self.cfg
        S, T, m = src_len, tgt_len - 1, c.ffn_mult
        encoder = c.enc_layers * S * ((4 + 2 * m) * c.enc_dim**2 + 2 * S * c.enc_dim)
        decoder_positions = T * ((6 + 2 * m) * c.dec_dim**2 + (T + 1) * c.dec_dim + 2 * S * c.dec_dim)
        cross_keys_values = S * 2 * c.enc_dim * c.dec_dim
        decoder = c.dec_layers * (decoder_positions + cross_keys_values)
        head = T * c.dec_dim * c.tgt_vocab
        return 6.0 * (encoder + decoder + head)
