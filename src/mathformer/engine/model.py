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

The decoder also runs one position at a time from a `KVCache`; the searches that do so (greedy,
beam) are in `mathformer.engine.search`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mathformer.core.config import NORMS, RunConfig
from mathformer.core.encoding import EOS, PAD
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


def source_mask(src: Tensor, may_pad: bool = True) -> Tensor | None:
    """Boolean attention mask (B, 1, 1, S), True where a key is a real token; None without PAD.

    None lets SDPA take its fastest path, which is why a batch of equal-length sources (the common
    case: every matrix of a problem has the same size) carries no mask at all. Looking for PAD
    waits for the device (a host-device sync, and a break in a compiled graph), so a caller that
    knows its batch holds none (`may_pad=False`: every encoded matrix of one size has the same
    length) skips the look.
    """
    if not may_pad:
        return None
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


# The position of the decoder's first input token: a Python int (eager decoding, growing shapes)
# or a one-element device tensor (fixed shapes, no host value: a step that can be a CUDA graph).
Position = int | Tensor


class KVCache:
    """Keys and values of the positions decoded so far, for one decoder self-attention layer.

    Preallocated to the longest output, so each step writes its slot instead of re-concatenating
    the whole history. At an int position the attention reads the slots written so far (shapes
    grow by one per step); at a tensor position it reads every slot under a mask of the written
    ones (shapes fixed). The slots start at zero: a masked slot still enters the arithmetic, and
    uninitialised memory may hold NaN, which a zero attention weight does not cancel.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.filled = 0  # slots written at int positions (beam search reorders them)
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    def append(
        self, keys: Tensor, values: Tensor, position: Position
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Store (B, h, n, d) new keys/values from `position`; return what to attend to: keys,
        values and a mask of the written slots (None at an int position)."""
        if self.keys is None or self.values is None:
            batch, heads, _, head_dim = keys.shape
            self.keys = keys.new_zeros(batch, heads, self.capacity, head_dim)
            self.values = values.new_zeros(batch, heads, self.capacity, head_dim)
        if isinstance(position, int):
            end = position + keys.shape[2]
            self.keys[:, :, position:end] = keys
            self.values[:, :, position:end] = values
            self.filled = end
            return self.keys[:, :, :end], self.values[:, :, :end], None
        self.keys.index_copy_(2, position, keys)
        self.values.index_copy_(2, position, values)
        written = torch.arange(self.capacity, device=position.device) <= position
        return self.keys, self.values, written.view(1, 1, 1, self.capacity)

    def reorder(self, rows: Tensor) -> None:
        """Row i now continues the history of row rows[i] (beam search)."""
        if self.keys is None or self.values is None:
            return
        self.keys[:, :, : self.filled] = self.keys[rows, :, : self.filled]
        self.values[:, :, : self.filled] = self.values[rows, :, : self.filled]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)  # one matmul for queries, keys and values
        self.out = nn.Linear(dim, dim)
        self.out_dropout = residual_dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: KVCache | None = None,
        position: Position = 0,
    ) -> Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:
            k, v, mask = cache.append(k, v, position)
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
        self,
        x: Tensor,
        memory_kv: tuple[Tensor, Tensor],
        memory_mask: Tensor | None,
        cache: KVCache | None,
        position: Position,
    ) -> Tensor:
        # With a cache, x is the newest position only and attends to everything before it.
        x = residual(
            x,
            self.self_attention_norm,
            lambda h: self.self_attention(h, causal=cache is None, cache=cache, position=position),
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
        position: Position = 0,
    ) -> Tensor:
        """Hidden states (B, T, dec_dim) of `tgt`, whose first token stands at `position` (with
        caches: the positions before it are cached; a tensor position: one token, fixed shapes)."""
        if isinstance(position, int):
            rows = self.positions[position : position + tgt.shape[1]]
        else:
            rows = self.positions.index_select(0, position)
        x = self.tokens(tgt) + rows
        if self.post:
            x = self.norm(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, memory_kv[i], memory_mask, caches[i] if caches else None, position)
        return x if self.post else self.norm(x)


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

    def check_lengths(self, src: Tensor, tgt_len: int) -> None:
        """Refuse a source or target this model has no positions for."""
        if src.dim() != 2 or src.shape[1] < 1:
            raise ValueError(
                f"src must be a (batch, length) tensor of token ids, got shape {tuple(src.shape)}"
            )
        if src.shape[1] > self.cfg.max_src_len:
            raise ValueError(f"source length {src.shape[1]} exceeds max_src_len={self.cfg.max_src_len}")
        if not 1 <= tgt_len <= self.cfg.max_tgt_len:
            raise ValueError(f"target length {tgt_len} must be in 1..max_tgt_len={self.cfg.max_tgt_len}")

    def forward(self, src: Tensor, tgt_in: Tensor, src_may_pad: bool = True) -> Tensor:
        """Logits (B, T, tgt_vocab) for the token after each position of `tgt_in` (B, T).

        `src_may_pad=False` promises that `src` holds no PAD (see `source_mask`)."""
        self.check_lengths(src, tgt_in.shape[1])
        mask = source_mask(src, src_may_pad)
        memory = self.encoder(src, mask)
        hidden = self.decoder(tgt_in, self.decoder.memory_keys_values(memory), mask)
        return self.decoder.head(hidden)

    def loss(self, src: Tensor, tgt: Tensor, src_may_pad: bool = True) -> Tensor:
        """Mean cross-entropy of predicting tgt[:, 1:] from tgt[:, :-1]; PAD targets are ignored."""
        logits = self.forward(src, tgt[:, :-1], src_may_pad)
        return F.cross_entropy(logits.flatten(0, 1).float(), tgt[:, 1:].flatten(), ignore_index=PAD)

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
