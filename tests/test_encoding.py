"""Number encodings and vocabularies: rounding, ranges, token layouts, batch decoding of bad rows."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mathformer.core.encoding import (
    BOS,
    ENCODINGS,
    EOS,
    PAD,
    Vocabulary,
    get_encoding,
)

TOKENS_PER_NUMBER = {"P10": 5, "P1000": 3, "B1999": 2, "FP15": 1}
EXPONENT_RANGE = {"P10": (-100, 100), "P1000": (-100, 100), "B1999": (-100, 100), "FP15": (-9, 6)}

any_float = st.floats(allow_nan=False, allow_infinity=False)
# Spread evenly over exponents, which plain floats (mostly huge or tiny) do not do.
scaled_float = st.builds(
    lambda mantissa, exponent: mantissa * 10.0**exponent,
    st.floats(-10, 10, allow_nan=False),
    st.integers(-110, 110),
)
numbers = st.one_of(any_float, scaled_float, st.sampled_from([0.0, -0.0, 999.5, -999.5, 1e-7, 1e9]))


def rounded_exactly(x: float) -> tuple[int, int, int] | None:
    """(sign, mantissa, exponent) of x rounded half away from zero to 3 digits, done in decimal.

    None when x lies within 1e-9 of a rounding tie, where float arithmetic may go either way.
    """
    magnitude = abs(Decimal(x))
    if magnitude == 0:
        return 1, 0, 0
    exponent = magnitude.adjusted() - 2
    scaled = magnitude.scaleb(-exponent)
    if abs(scaled % 1 - Decimal("0.5")) < Decimal("1e-9"):
        return None
    mantissa = int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if mantissa == 1000:
        mantissa, exponent = 100, exponent + 1
    return (-1 if x < 0 else 1), mantissa, exponent


def expected_tokens(name: str, sign: int, mantissa: int, exponent: int) -> list[str]:
    """The tokens the encoding must write for an in-range rounded number (zero: mantissa 0)."""
    low, _ = EXPONENT_RANGE[name]
    if exponent < low or mantissa == 0:
        sign, mantissa, exponent = 1, 0, 0
    sign_token = "-" if sign < 0 else "+"
    if name == "P10":
        return [sign_token, *f"{mantissa:03d}", f"E{exponent}"]
    if name == "P1000":
        return [sign_token, str(mantissa), f"E{exponent}"]
    if name == "B1999":
        return [str(sign * mantissa), f"E{exponent}"]
    return ["0"] if mantissa == 0 else [f"{sign_token}{mantissa}E{exponent}"]


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=150, deadline=None)
@given(x=numbers)
def test_every_number_is_written_and_read_back_to_three_significant_digits(name, x):
    triple = rounded_exactly(x)
    assume(triple is not None)
    sign, mantissa, exponent = triple
    low, high = EXPONENT_RANGE[name]
    encoding = get_encoding(name)
    if exponent > high:
        if name == "FP15":
            assert encoding.readable(x) == ["-inf" if x < 0 else "+inf"]
        else:
            with pytest.raises(ValueError, match=name):
                encoding.encode(np.array([x]))
        return
    assert encoding.readable(x) == expected_tokens(name, sign, mantissa, exponent)
    values, valid = encoding.decode(encoding.encode(np.array([x])))
    expected = 0.0 if exponent < low else sign * mantissa * 10.0**exponent
    assert valid.all()
    assert values[0] == pytest.approx(expected, rel=1e-14, abs=0.0)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(xs=st.lists(st.floats(-1e8, 1e8, allow_nan=False), min_size=1, max_size=30))
def test_batch_encoding_matches_number_by_number(name, xs):
    encoding = get_encoding(name)
    values = np.array(xs)
    ids = encoding.encode(values)
    assert ids.shape == (len(xs), encoding.tokens_per_number)
    assert ids.dtype == np.int64
    assert [[encoding.tokens[i] for i in row] for row in ids] == [encoding.readable(x) for x in xs]
    decoded, valid = encoding.decode(ids)
    assert valid.all()
    tiny = np.abs(values) < 1e-7  # FP15 writes these as zero
    close = np.abs(decoded - values) <= 0.5 / 99.5 * np.abs(values) * (1 + 1e-12)
    assert (close | tiny).all()


def test_known_token_strings():
    assert get_encoding("P10").readable(-3.14159) == ["-", "3", "1", "4", "E-2"]
    assert get_encoding("P1000").readable(-3.14159) == ["-", "314", "E-2"]
    assert get_encoding("B1999").readable(-3.14159) == ["-314", "E-2"]
    assert get_encoding("FP15").readable(-3.14159) == ["-314E-2"]
    assert get_encoding("P10").readable(12.0) == ["+", "1", "2", "0", "E-1"]
    assert get_encoding("P1000").readable(0.000123456) == ["+", "123", "E-6"]
    assert get_encoding("FP15").readable(5e8) == ["+500E6"]


@pytest.mark.parametrize("name", ENCODINGS)
def test_token_counts_and_shapes(name):
    encoding = get_encoding(name)
    assert encoding.tokens_per_number == TOKENS_PER_NUMBER[name]
    assert encoding.encode(np.zeros((4, 5, 5))).shape == (4, 5, 5, TOKENS_PER_NUMBER[name])
    assert len(set(encoding.tokens)) == len(encoding.tokens)


def test_vocabulary_sizes_per_encoding():
    sizes = {name: len(get_encoding(name).tokens) for name in ENCODINGS}
    # P10: sign 2 + digits 10 + exponents 201; P1000: 2 + 1000 + 201; B1999: 1999 + 201;
    # FP15: 2 signs * 900 mantissas * 16 exponents + zero + two overflow tokens.
    assert sizes == {"P10": 213, "P1000": 1203, "B1999": 2200, "FP15": 28803}


@pytest.mark.parametrize("name", ENCODINGS)
def test_rounding_carries_into_the_exponent(name):
    encoding = get_encoding(name)
    values, _ = encoding.decode(encoding.encode(np.array([999.5, -999.5, 9.9996, 999.4])))
    assert values.tolist() == [1000.0, -1000.0, 10.0, 999.0]


@pytest.mark.parametrize("name", ENCODINGS)
def test_exact_ties_round_away_from_zero(name):
    encoding = get_encoding(name)
    values, _ = encoding.decode(encoding.encode(np.array([100.5, -12.25, 0.0625])))
    assert values.tolist() == [101.0, -12.3, 0.0625]


@pytest.mark.parametrize("name", ENCODINGS)
def test_zero_and_negative_zero_decode_to_positive_zero(name):
    encoding = get_encoding(name)
    values, valid = encoding.decode(encoding.encode(np.array([0.0, -0.0])))
    assert valid.all() and (values == 0).all() and not np.signbit(values).any()
    assert encoding.readable(-0.0) == encoding.readable(0.0)


@pytest.mark.parametrize("name", ENCODINGS)
def test_nan_is_refused_by_name(name):
    with pytest.raises(ValueError, match="nan"):
        get_encoding(name).encode(np.array([1.0, np.nan]))


def test_fp15_overflow_and_tiny_values():
    fp15 = get_encoding("FP15")
    assert fp15.readable(9.994e8) == ["+999E6"]
    assert fp15.readable(9.995e8) == ["+inf"]
    assert fp15.readable(-1e12) == ["-inf"]
    assert fp15.readable(np.inf) == ["+inf"] and fp15.readable(-np.inf) == ["-inf"]
    assert fp15.readable(9.9996e-8) == ["+100E-9"]  # rounds up to 1e-7: still representable
    assert fp15.readable(9.99e-8) == ["0"]
    assert fp15.readable(-1e-300) == ["0"]
    values, valid = fp15.decode(fp15.encode(np.array([1e10, -1e10, 5e-8, -5e-8, 1e-7])))
    assert valid.all()
    assert values.tolist() == [np.inf, -np.inf, 0.0, 0.0, 1e-7]


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999"])
def test_positional_range_limits(name):
    encoding = get_encoding(name)
    assert encoding.readable(1e-98)[-1] == "E-100"
    assert encoding.readable(9.99e102)[-1] == "E100"
    assert encoding.readable(9e-99) == encoding.readable(0.0)  # below 100e-100: zero
    for too_large in (1e103, -1e200, np.inf):
        with pytest.raises(ValueError, match=name):
            encoding.encode(np.array([1.0, too_large]))


def test_decoding_reads_loose_mantissas_and_rejects_wrong_kinds():
    p1000 = get_encoding("P1000")
    plus, five, e2 = (p1000.tokens.index(t) for t in ("+", "5", "E2"))
    values, valid = p1000.decode(
        np.array(
            [
                [plus, five, e2],
                [five, five, e2],
                [plus, five, plus],
                [plus, len(p1000.tokens), e2],
                [-1, five, e2],
            ]
        )
    )
    assert valid.tolist() == [True, False, False, False, False]
    assert values[0] == 500.0 and np.isnan(values[1:]).all()


def test_unknown_encoding_names_are_refused_by_name():
    with pytest.raises(ValueError, match="P100'"):
        get_encoding("P100")
    with pytest.raises(ValueError, match="fp15"):
        Vocabulary("fp15", "P1000")
    with pytest.raises(ValueError, match="X"):
        Vocabulary("FP15", "X")


def test_vocabularies_are_separate_per_side():
    vocab = Vocabulary("FP15", "P1000")
    specials_and_dims = ["<pad>", "<bos>", "<eos>"] + [f"D{d}" for d in range(1, 12)]
    assert vocab.target_tokens == specials_and_dims + get_encoding("P1000").tokens
    assert vocab.source_tokens == specials_and_dims + get_encoding("FP15").tokens
    assert vocab.target_size == 3 + 11 + 1203
    assert vocab.source_size == 3 + 11 + 28803
    assert vocab.target_tokens[PAD] == "<pad>" and vocab.source_tokens[BOS] == "<bos>"
    assert vocab.target_tokens[EOS] == "<eos>"


PAIRS = [(a, b) for a in ENCODINGS for b in ENCODINGS]


@pytest.mark.parametrize(("source", "target"), PAIRS)
@pytest.mark.parametrize("shape", [(5, 5), (6, 5), (5,), (11, 10)])
def test_batch_round_trip_through_the_vocabulary(source, target, shape):
    vocab = Vocabulary(source, target)
    arrays = np.random.default_rng(0).uniform(-10, 10, (7, *shape))
    arrays[0].flat[0] = 0.0

    src = vocab.encode_source(arrays)
    tgt = vocab.encode_target(arrays)
    assert src.dtype == tgt.dtype == np.int64
    assert src.shape == (7, vocab.source_length(shape))
    assert tgt.shape == (7, vocab.target_length(shape))
    assert (tgt[:, 0] == BOS).all() and (tgt[:, -1] == EOS).all() and (src[:, -1] == EOS).all()
    assert vocab.readable_source(src[0])[: len(shape)] == [f"D{d}" for d in shape]

    for decode, ids, encoding in ((vocab.decode_target, tgt, target), (vocab.decode_source, src, source)):
        values, decoded = decode(ids, shape)
        assert decoded.all()
        assert values.shape == (7, *shape)
        expected, _ = get_encoding(encoding).decode(get_encoding(encoding).encode(arrays))
        assert np.array_equal(values, expected)
        assert np.allclose(values, arrays, rtol=0.5 / 99.5, atol=0)


def test_target_decoding_ignores_padding_and_accepts_a_missing_bos():
    vocab = Vocabulary("FP15", "P1000")
    arrays = np.random.default_rng(1).uniform(-10, 10, (3, 5))
    tgt = vocab.encode_target(arrays)
    padded = np.concatenate(
        [
            tgt,
            np.full((3, 4), PAD),
        ],
        axis=1,
    )
    padded[1, -1] = 500  # junk after <eos> from batched generation
    without_bos = tgt[:, 1:]
    reference, _ = vocab.decode_target(tgt, (5,))
    for ids in (padded, without_bos):
        values, decoded = vocab.decode_target(ids, (5,))
        assert decoded.all() and np.array_equal(values, reference)


def _malformed_rows(vocab: Vocabulary, tgt: np.ndarray) -> dict[str, np.ndarray]:
    """Ways a generated 5x5 P1000 target row can be wrong, each applied to a copy of `tgt`."""
    number = vocab.number_offset
    sign_slot, exponent_slot = 3, 5  # <bos> D5 D5 then sign, mantissa, exponent of entry 0
    ways = {}

    def corrupt(name, edit):
        row = tgt.copy()
        edit(row)
        ways[name] = row

    corrupt("truncated", lambda r: r.__setitem__(slice(40, None), PAD))
    corrupt("eos replaced", lambda r: r.__setitem__(-1, PAD))
    corrupt("early eos", lambda r: r.__setitem__(30, EOS))
    corrupt("wrong row dim", lambda r: r.__setitem__(1, vocab.dimension_id(4)))
    corrupt("wrong column dim", lambda r: r.__setitem__(2, vocab.dimension_id(6)))
    corrupt("missing dims", lambda r: r.__setitem__(slice(None), np.r_[r[:1], r[3:], PAD, PAD]))
    corrupt("extra number", lambda r: r.__setitem__(slice(None), np.r_[r[:-1], r[-4:-1]][: len(r)]))
    corrupt("bos in number slot", lambda r: r.__setitem__(10, BOS))
    corrupt("pad in number slot", lambda r: r.__setitem__(11, PAD))
    corrupt("dim in number slot", lambda r: r.__setitem__(12, vocab.dimension_id(3)))
    corrupt("exponent as sign", lambda r: r.__setitem__(sign_slot, r[exponent_slot]))
    corrupt("sign as exponent", lambda r: r.__setitem__(exponent_slot, number))
    corrupt("id past the vocabulary", lambda r: r.__setitem__(20, vocab.target_size))
    corrupt("negative id", lambda r: r.__setitem__(20, -5))
    return ways


def test_every_malformed_row_fails_alone():
    vocab = Vocabulary("FP15", "P1000")
    arrays = np.random.default_rng(2).uniform(-10, 10, (4, 5, 5))
    tgt = vocab.encode_target(arrays)
    good, _ = vocab.decode_target(tgt, (5, 5))
    for name, bad_row in _malformed_rows(vocab, tgt[2]).items():
        ids = tgt.copy()
        ids[2] = bad_row
        values, decoded = vocab.decode_target(ids, (5, 5))
        assert decoded.tolist() == [True, True, False, True], name
        assert np.isnan(values[2]).all(), name
        assert np.array_equal(values[[0, 1, 3]], good[[0, 1, 3]]), name


def test_decoding_for_the_wrong_shape_fails_without_raising():
    vocab = Vocabulary("FP15", "P10")
    vectors = vocab.encode_target(np.ones((2, 5)))
    for shape in [(5, 5), (4,), (6,), (1, 5)]:
        values, decoded = vocab.decode_target(vectors, shape)
        assert not decoded.any() and np.isnan(values).all() and values.shape == (2, *shape)
    values, decoded = vocab.decode_target(np.zeros((3, 0), dtype=np.int64), (5,))
    assert not decoded.any() and values.shape == (3, 5)


def test_bad_shapes_and_arrays_are_refused():
    vocab = Vocabulary("FP15", "P1000", max_dim=6)
    with pytest.raises(ValueError, match="1..6"):
        vocab.encode_source(np.zeros((2, 7, 7)))
    with pytest.raises(ValueError, match="shape"):
        vocab.encode_target(np.zeros(5))
    with pytest.raises(ValueError, match="nan"):
        vocab.encode_target(np.full((1, 2, 2), np.nan))
    with pytest.raises(ValueError, match="max_dim"):
        Vocabulary("FP15", "P1000", max_dim=0)


def test_readable_sequences_name_every_token():
    vocab = Vocabulary("FP15", "B1999")
    tgt = vocab.encode_target(np.array([[-3.14159, 2.0]]))[0]
    assert vocab.readable_target(tgt) == ["<bos>", "D2", "-314", "E-2", "200", "E-2", "<eos>"]
    src = vocab.encode_source(np.array([[-3.14159, 2.0]]))[0]
    assert vocab.readable_source(src) == ["D2", "-314E-2", "+200E-2", "<eos>"]
    assert vocab.readable_target([PAD, 10**6])[1].startswith("<unknown")
