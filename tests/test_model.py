"""Behaviour of the encoder-decoder model on tiny configurations (fast, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mathformer.core.config import NORMS
from mathformer.core.encoding import BOS, EOS, PAD, Vocabulary
from mathformer.core.problems import Problem
from mathformer.engine import decoding, search
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.search import beam_search, generate

SRC_VOCAB, TGT_VOCAB = 17, 13


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine every thread barrier of
    thousands of tiny ops can wait out another process's time slice (seen: 5 s -> 220 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# (enc_dim, enc_heads, dec_dim, dec_heads): equal widths, a wider encoder (as the paper's inversion
# model), a narrower one, and different head sizes on the two sides.
WIDTHS = [(32, 4, 32, 4), (48, 3, 32, 4), (24, 6, 40, 2)]


def tiny_config(**overrides: int | float | str) -> ModelConfig:
    settings: dict = dict(
        src_vocab=SRC_VOCAB,
        tgt_vocab=TGT_VOCAB,
        enc_layers=2,
        dec_layers=2,
        enc_dim=32,
        dec_dim=32,
        enc_heads=4,
        dec_heads=4,
        max_src_len=16,
        max_tgt_len=24,
        norm="pre",
    )
    settings.update(overrides)
    return ModelConfig(**settings)


def random_model(seed: int, widths: tuple[int, int, int, int] = WIDTHS[0], **overrides: int | str) -> Seq2Seq:
    """An untrained model whose outputs depend on its input and end at varied lengths.

    The training init (std 0.02) gives near-uniform next-token distributions; 20x larger matrices
    give peaked ones, so decoded sequences differ between rows and near-ties are rare.
    """
    enc_dim, enc_heads, dec_dim, dec_heads = widths
    torch.manual_seed(seed)
    cfg = tiny_config(enc_dim=enc_dim, enc_heads=enc_heads, dec_dim=dec_dim, dec_heads=dec_heads, **overrides)
    model = Seq2Seq(cfg)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.mul_(20.0)
    return model.eval()


def random_sources(seed: int, batch: int = 8, length: int = 9) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(EOS + 1, SRC_VOCAB, (batch, length), generator=generator)
    src[:, -1] = EOS
    return src


def pad_source(src: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Shorten row i to lengths[i] tokens (ending in EOS) and right-pad it with PAD."""
    padded = src.clone()
    for row, length in enumerate(lengths):
        padded[row, length - 1] = EOS
        padded[row, length:] = PAD
    return padded


def token_log_probs(model: Seq2Seq, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """(B, T - 1) log-probability of each token of `<bos> ... <eos> PAD...` after <bos>, 0 at PAD,
    from one teacher-forced pass: what decoding's own log-probabilities must equal."""
    log_probs = model(src, tgt[:, :-1]).float().log_softmax(dim=-1)
    per_token = log_probs.gather(-1, tgt[:, 1:].unsqueeze(-1)).squeeze(-1)
    return per_token.masked_fill(tgt[:, 1:].eq(PAD), 0.0)


def log_prob(model: Seq2Seq, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """(B,) log-probability the model gives each full target."""
    return token_log_probs(model, src, tgt).sum(dim=1)


def test_shapes_and_output_format() -> None:
    model = random_model(0)
    src = random_sources(0)
    tgt_in = torch.randint(EOS + 1, TGT_VOCAB, (8, 6))
    assert model(src, tgt_in).shape == (8, 6, TGT_VOCAB)
    loss = model.loss(src, torch.cat([torch.full((8, 1), BOS), tgt_in], dim=1))
    assert loss.dim() == 0 and torch.isfinite(loss)

    out = generate(model, src, max_len=20).tokens
    assert out.dtype == torch.long and out.shape[0] == 8 and 2 <= out.shape[1] <= 20
    assert (out[:, 0] == BOS).all()
    for row in out.tolist():
        end = row.index(EOS) if EOS in row else len(row)
        assert all(token == PAD for token in row[end + 1 :]), "only PAD after EOS"
        assert all(token not in (PAD, BOS) for token in row[1:end]), "PAD and BOS are never generated"
    ended = (out == EOS).any(dim=1)
    assert ended.any() and not ended.all(), (
        "this random model ends some rows early and runs others to max_len"
    )


@pytest.mark.parametrize("norm", NORMS)
def test_overfits_fixed_examples_then_greedy_reproduces_them(norm: str) -> None:
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(enc_layers=1, dec_layers=1, norm=norm))
    src = random_sources(1, batch=4, length=6)
    tgt = torch.tensor(
        [
            [BOS, 5, 7, 9, 11, EOS, PAD],
            [BOS, 4, 4, 4, EOS, PAD, PAD],
            [BOS, 12, 3, 8, 6, 10, EOS],
            [BOS, 9, EOS, PAD, PAD, PAD, PAD],
        ]
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        loss = model.loss(src, tgt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02
    model.eval()
    assert torch.equal(generate(model, src, max_len=12).tokens, tgt)
    assert torch.equal(generate(model, src, max_len=12, use_cache=False).tokens, tgt)
    assert torch.equal(generate(model, src, max_len=12, beam_size=3).tokens, tgt)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("widths", WIDTHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_decoding_equals_uncached(seed: int, widths: tuple[int, int, int, int], norm: str) -> None:
    model = random_model(seed, widths, norm=norm)
    src = pad_source(random_sources(seed), [9, 9, 5, 9, 3, 9, 7, 9])
    for beam_size in (1, 3):
        cached = generate(model, src, max_len=20, beam_size=beam_size, use_cache=True).tokens
        uncached = generate(model, src, max_len=20, beam_size=beam_size, use_cache=False).tokens
        assert torch.equal(cached, uncached)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_of_one_equals_greedy(seed: int) -> None:
    model = random_model(seed, WIDTHS[1])
    src = random_sources(seed)
    assert torch.equal(
        beam_search(model, src, max_len=20, beam_size=1).tokens, generate(model, src, max_len=20).tokens
    )


def reference_beam_search(model: Seq2Seq, src_row: torch.Tensor, beams: int, max_len: int) -> list[int]:
    """The same search written plainly, one row and one hypothesis at a time."""
    hypotheses = [([BOS], 0.0, False)]  # (tokens, summed log-probability, ended with EOS)
    for _ in range(max_len - 1):
        candidates = []
        for tokens, score, done in hypotheses:
            if done:
                candidates.append((tokens + [PAD], score, True))
                continue
            log_probs = model(src_row, torch.tensor([tokens]))[0, -1].float().log_softmax(-1)
            for token in range(EOS, model.cfg.tgt_vocab):  # everything but PAD and BOS
                candidates.append((tokens + [token], score + log_probs[token].item(), token == EOS))
        hypotheses = sorted(candidates, key=lambda hypothesis: -hypothesis[1])[:beams]
        if hypotheses[0][2]:
            break
    return hypotheses[0][0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_equals_plain_reference(seed: int) -> None:
    model = random_model(seed, WIDTHS[2])
    src = pad_source(random_sources(seed, batch=6), [9, 5, 9, 9, 7, 9])
    found = generate(model, src, max_len=12, beam_size=3).tokens
    with torch.no_grad():
        for row in range(len(src)):
            length = int((src[row] != PAD).sum())
            expected = reference_beam_search(model, src[row : row + 1, :length], 3, 12)
            assert found[row].tolist() == expected + [PAD] * (found.shape[1] - len(expected))


def every_output(max_len: int, vocab: int) -> torch.Tensor:
    """All sequences generate() could return with max_len tokens, right-padded to max_len."""
    sequences, open_prefixes = [], [[BOS]]
    for _ in range(max_len - 1):
        sequences += [prefix + [EOS] for prefix in open_prefixes]
        open_prefixes = [prefix + [token] for prefix in open_prefixes for token in range(EOS + 1, vocab)]
    sequences += open_prefixes
    return torch.tensor([tokens + [PAD] * (max_len - len(tokens)) for tokens in sequences])


@pytest.mark.parametrize("seed", [0, 1])
def test_beam_as_wide_as_the_search_space_finds_the_most_likely_output(seed: int) -> None:
    """With a beam that never prunes, the result is the exact argmax, so at least as likely as greedy.

    (With pruning that holds only usually: beam search can drop the greedy path for prefixes that
    later fall behind it, as any beam search can.)
    """
    model = random_model(seed, WIDTHS[1], tgt_vocab=6)
    candidates = every_output(max_len=5, vocab=6)  # 121 sequences over the 4 tokens EOS, 3, 4, 5
    src = random_sources(seed, batch=4)
    found = generate(model, src, max_len=5, beam_size=len(candidates)).tokens
    greedy = generate(model, src, max_len=5).tokens
    with torch.no_grad():
        for row in range(len(src)):
            scores = log_prob(model, src[row : row + 1].expand(len(candidates), -1), candidates)
            best = candidates[scores.argmax()]
            assert found[row].tolist() == best[: found.shape[1]].tolist()
            assert (best[found.shape[1] :] == PAD).all()
            one = src[row : row + 1]
            assert (
                log_prob(model, one, found[row : row + 1])
                >= log_prob(model, one, greedy[row : row + 1]) - 1e-5
            )


@pytest.mark.parametrize("norm", NORMS)
def test_source_padding_changes_no_row(norm: str) -> None:
    """A row decodes the same alone as in a batch padded to a longer row, and so do the long rows."""
    model = random_model(3, WIDTHS[1], norm=norm)
    lengths = [9, 4, 9, 6]
    src = pad_source(random_sources(3, batch=4), lengths)
    tgt_in = torch.randint(EOS + 1, TGT_VOCAB, (4, 5))
    with torch.no_grad():
        batched_logits = model(src, tgt_in)
        batched_tokens = generate(model, src, max_len=20).tokens
        for row, length in enumerate(lengths):
            alone = src[row : row + 1, :length]
            alone_logits = model(alone, tgt_in[row : row + 1])
            torch.testing.assert_close(batched_logits[row : row + 1], alone_logits, atol=1e-4, rtol=1e-4)
            tokens = generate(model, alone, max_len=20).tokens
            assert torch.equal(batched_tokens[row, : tokens.shape[1]], tokens[0])
            assert (batched_tokens[row, tokens.shape[1] :] == PAD).all()


@pytest.mark.parametrize("norm", NORMS)
def test_decoder_is_causal(norm: str) -> None:
    model = random_model(4, norm=norm)
    src = random_sources(4, batch=3)
    tgt_in = torch.randint(EOS + 1, TGT_VOCAB, (3, 8))
    changed = tgt_in.clone()
    changed[:, 5] = (changed[:, 5] - EOS) % (TGT_VOCAB - EOS - 1) + EOS + 1  # another non-special token
    with torch.no_grad():
        before, after = model(src, tgt_in), model(src, changed)
    torch.testing.assert_close(before[:, :5], after[:, :5], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before[:, 5:], after[:, 5:])


def test_post_norm_normalises_the_embeddings_and_pre_norm_does_not() -> None:
    """Post-norm (the paper's) applies LayerNorm to token + position embeddings and after every
    residual sum, so scaling the encoder's embeddings changes nothing; pre-norm adds the raw
    embeddings to each sub-layer's output, so it does."""
    src = random_sources(5, batch=3)
    tgt_in = torch.randint(EOS + 1, TGT_VOCAB, (3, 6))
    for norm, invariant in (("post", True), ("pre", False)):
        model = random_model(5, norm=norm)
        with torch.no_grad():
            before = model(src, tgt_in)
            model.encoder.tokens.weight.mul_(10.0)
            model.encoder.positions.mul_(10.0)
            after = model(src, tgt_in)
        assert torch.allclose(before, after, atol=1e-3, rtol=1e-3) == invariant, norm  # LayerNorm eps aside


def test_flops_per_example_counts_every_matmul() -> None:
    """6 x (weights used per token) plus the attention products, counted from the modules themselves."""
    cfg = tiny_config(enc_dim=48, enc_heads=3, dec_dim=32, dec_heads=4)
    model = Seq2Seq(cfg)
    src_len, tgt_len = 9, 7
    positions = tgt_len - 1
    per_source_token = sum(m.weight.numel() for m in model.encoder.modules() if isinstance(m, nn.Linear))
    per_source_token += sum(layer.cross_attention.key_value.weight.numel() for layer in model.decoder.layers)
    per_position = sum(
        m.weight.numel()
        for name, m in model.decoder.named_modules()
        if isinstance(m, nn.Linear) and not name.endswith("key_value")
    )
    attention = (
        cfg.enc_layers * src_len * 2 * src_len * cfg.enc_dim
        + cfg.dec_layers * positions * (2 * (positions + 1) / 2 + 2 * src_len) * cfg.dec_dim
    )
    expected = 6 * (src_len * per_source_token + positions * per_position + attention)
    assert model.flops_per_example(src_len, tgt_len) == pytest.approx(expected)


def test_flops_per_example_grows_with_size() -> None:
    base = Seq2Seq(tiny_config()).flops_per_example(9, 7)
    assert base > 0
    assert Seq2Seq(tiny_config()).flops_per_example(12, 7) > base
    assert Seq2Seq(tiny_config()).flops_per_example(9, 10) > base
    for bigger in (
        dict(enc_layers=3),
        dict(dec_layers=3),
        dict(enc_dim=64),
        dict(dec_dim=64),
        dict(tgt_vocab=100),
    ):
        assert Seq2Seq(tiny_config(**bigger)).flops_per_example(9, 7) > base, bigger


def test_decoder_embeddings_are_tied() -> None:
    model = Seq2Seq(tiny_config())
    decoder = model.decoder
    assert decoder.head.weight is decoder.tokens.weight
    assert decoder.head.weight.data_ptr() == decoder.tokens.weight.data_ptr()
    assert (
        model.num_parameters()
        == sum(p.numel() for p in model.state_dict().values()) - decoder.head.weight.numel()
    )


@pytest.mark.parametrize(
    "overrides",
    [
        dict(enc_dim=30, enc_heads=4),
        dict(dec_heads=0),
        dict(dropout=1.0),
        dict(tgt_vocab=EOS),
        dict(max_tgt_len=1),
    ],
)
def test_config_rejects_bad_values(overrides: dict) -> None:
    with pytest.raises(ValueError):
        tiny_config(**overrides)


def test_generate_rejects_bad_arguments() -> None:
    model = random_model(0)
    src = random_sources(0)
    with pytest.raises(ValueError, match="max_tgt_len"):
        generate(model, src, max_len=25)
    with pytest.raises(ValueError, match="beam_size"):
        generate(model, src, max_len=10, beam_size=0)
    with pytest.raises(ValueError, match="max_src_len"):
        generate(model, random_sources(0, length=17), max_len=10)


def reference_greedy(model: Seq2Seq, src_row: torch.Tensor, max_len: int) -> list[int]:
    """Greedy decoding written plainly: one row, the whole prefix through the model at every step."""
    tokens = [BOS]
    while len(tokens) < max_len and tokens[-1] != EOS:
        logits = model(src_row, torch.tensor([tokens]))[0, -1].clone()
        logits[[PAD, BOS]] = float("-inf")
        tokens.append(int(logits.argmax()))
    return tokens


# Models of several shapes and norms, some with padded sources, decoded to several lengths.
DECODING_CASES = [
    (seed, WIDTHS[seed % 3], NORMS[seed % 2], padded, max_len)
    for seed, (padded, max_len) in enumerate([(False, 20), (True, 12), (False, 24), (True, 7), (False, 16)])
]


def decoding_case(seed, widths, norm, padded) -> tuple[Seq2Seq, torch.Tensor, list[int]]:
    model = random_model(seed, widths, norm=norm, dec_layers=1 + seed % 2)
    lengths = [9, 4, 9, 6, 9, 2, 9, 7] if padded else [9] * 8
    return model, pad_source(random_sources(seed), lengths), lengths


@pytest.mark.parametrize(("seed", "widths", "norm", "padded", "max_len"), DECODING_CASES)
def test_greedy_decoding_equals_the_plain_reference(seed, widths, norm, padded, max_len) -> None:
    """The same tokens as decoding each row alone, step by step, however the batch ends (the
    batch stops at its last row's <eos>, or at max_len)."""
    model, src, lengths = decoding_case(seed, widths, norm, padded)
    found = generate(model, src, max_len).tokens
    with torch.no_grad():
        expected = [
            reference_greedy(model, src[row : row + 1, :length], max_len)
            for row, length in enumerate(lengths)
        ]
    assert found.shape[1] == max(len(tokens) for tokens in expected)
    for row, tokens in enumerate(expected):
        assert found[row].tolist() == tokens + [PAD] * (found.shape[1] - len(tokens))


@pytest.mark.parametrize(("seed", "widths", "norm", "padded", "max_len"), DECODING_CASES)
def test_decoding_log_probs_equal_a_teacher_forced_pass(seed, widths, norm, padded, max_len) -> None:
    """Each written token's log-probability, kept while decoding, is the one a second pass over the
    decoded tokens gives (float tolerance): the confidence needs no second pass. Greedy and beam."""
    model, src, _ = decoding_case(seed, widths, norm, padded)
    for beam_size in (1, 3):
        found = generate(model, src, max_len, beam_size)
        assert found.log_probs.dtype == torch.float32 and found.log_probs.shape == found.tokens.shape
        assert (found.log_probs[:, 0] == 0).all() and (found.log_probs[found.tokens.eq(PAD)] == 0).all()
        with torch.no_grad():
            expected = token_log_probs(model, src, found.tokens)
        torch.testing.assert_close(found.log_probs[:, 1:], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("seed", "widths", "norm", "padded", "max_len"), DECODING_CASES)
def test_the_fixed_shape_step_decodes_the_same_tokens(seed, widths, norm, padded, max_len) -> None:
    """The greedy step a CUDA graph replays (position on the device, the whole cache read under a
    mask) run eagerly here: the same tokens as the growing cache, log-probabilities within float
    tolerance."""
    model, src, _ = decoding_case(seed, widths, norm, padded)
    expected = generate(model, src, max_len)
    with torch.no_grad():
        source = search._Source(model, src, 1, max_len, use_cache=True, src_may_pad=True)
        fixed = search._Greedy(len(src), max_len, src.device)
        position = torch.zeros(1, dtype=torch.long)
        for _ in range(max_len - 1):
            fixed.step(source, position)
            position.add_(1)
        found = fixed.result()
    assert torch.equal(found.tokens, expected.tokens)
    torch.testing.assert_close(found.log_probs, expected.log_probs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("check_every", [2, 16, 1000])
def test_looking_for_the_end_less_often_changes_nothing(monkeypatch, check_every: int) -> None:
    """Greedy search asks whether every row has ended only every few steps on a GPU (a sync per
    ask); the columns decoded past the end are dropped, so the result is that of stopping at once."""
    model = random_model(7, WIDTHS[2])
    src = random_sources(7)
    every_step = generate(model, src, max_len=20)
    assert every_step.tokens.shape[1] < 20, "this model ends every row early: the case at stake"
    monkeypatch.setitem(search.FINISHED_CHECK_STEPS, "cpu", check_every)
    found = generate(model, src, max_len=20)
    assert torch.equal(found.tokens, every_step.tokens) and torch.equal(found.log_probs, every_step.log_probs)


def test_a_batch_known_to_hold_no_padding_is_decoded_and_scored_the_same() -> None:
    """`src_may_pad=False` skips the look for PAD (a host-device sync): same logits, same tokens."""
    model = random_model(7, WIDTHS[1])
    src = random_sources(7)
    tgt = torch.cat([torch.full((8, 1), BOS), torch.randint(EOS + 1, TGT_VOCAB, (8, 6))], dim=1)
    with torch.no_grad():
        assert torch.equal(model.loss(src, tgt), model.loss(src, tgt, src_may_pad=False))
    assert torch.equal(generate(model, src, 20).tokens, generate(model, src, 20, src_may_pad=False).tokens)


def test_a_batch_too_large_for_the_memory_is_decoded_in_halves(monkeypatch) -> None:
    """Decoding a set starts at the batch asked for (on a GPU: 10,000) and halves it while the device
    runs out of memory: the same predictions and confidence as a batch that fits."""
    vocab = Vocabulary("FP15", "FP15")
    problem = Problem("eigenvalues", n=2)
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(src_vocab=vocab.source_size, tgt_vocab=vocab.target_size)).eval()
    inputs, _ = problem.sample(40, np.random.default_rng(0))
    asked = []

    def small_memory(model, src, *args, **kwargs):
        asked.append(len(src))
        if len(src) > 10:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return generate(model, src, *args, **kwargs)

    def predict(batch_size: int) -> tuple:
        confidence: dict = {}
        values, decoded = decoding.decode_test_set(
            model, vocab, inputs, (2,), 1, batch_size, progress=False, confidence=confidence
        )
        return values, decoded, confidence

    fits = predict(10)
    monkeypatch.setattr(decoding, "generate", small_memory)
    split = predict(40)
    assert asked[:3] == [40, 20, 10] and set(asked[3:]) == {10}
    np.testing.assert_array_equal(split[0], fits[0])
    np.testing.assert_array_equal(split[1], fits[1])
    for name in ("surprisal", "min_token_prob"):
        np.testing.assert_allclose(split[2][name], fits[2][name], rtol=1e-6)
