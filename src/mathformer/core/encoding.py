"""Numbers as tokens: the paper's four number encodings and the source/target vocabularies.

Every number is rounded to three significant digits and written as sign * m * 10**e with an
integer mantissa m in 100..999 (m = 0 for zero). The encodings differ only in how many tokens
carry that triple:

    P10    5 tokens  sign, three digits, exponent          -3.14159 -> - 3 1 4 E-2
    P1000  3 tokens  sign, mantissa 0..999, exponent        -3.14159 -> - 314 E-2
    B1999  2 tokens  signed mantissa -999..999, exponent    -3.14159 -> -314 E-2
    FP15   1 token   one per (sign, mantissa, exponent)     -3.14159 -> -314E-2

Ranges. P10, P1000 and B1999 have exponent tokens E-100..E100: magnitudes that round below
100e-100 = 1e-98 are written as zero, and magnitudes that round above 999e100 raise ValueError.
FP15 has exponents -9..6 (100e-9 = 1e-7 up to 999e6 ~ 1e9): magnitudes that round below 1e-7
are written as zero, larger ones (and infinities) as the overflow tokens +inf / -inf, which
decode to +/-inf. NaN is never a problem's input or answer, so encoding it raises ValueError.
Zero is always written with a '+' sign (or the single FP15 zero token): -0.0 decodes as 0.0.
Rounding is half away from zero (999.5 -> 1.00e3).

Decoding is lenient where the tokens still name one number: a P10/P1000/B1999 mantissa below
100 (e.g. P1000 '+', '5', 'E2' = 500) decodes to its value. A token of the wrong kind for its
slot (a digit where the sign goes, an id outside the encoding) makes that number invalid.

Everything works on whole arrays: rounding is array arithmetic, token <-> value maps are lookup
tables, so batches of matrices encode and decode without a Python loop per number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ENCODINGS = ("P10", "P1000", "B1999", "FP15")
PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")

MANTISSA_DIGITS = 3
POSITIONAL_EXPONENTS = (-100, 100)  # P10, P1000, B1999: exponent tokens E-100..E100
FP15_EXPONENTS = (-9, 6)  # 16 exponents: 100e-9 = 1e-7 .. 999e6 ~ 1e9

# Powers of ten parsed from decimal text are correctly rounded (10.0**k can be an ulp off), so
# m * 10**e and m / 10**-e give the float nearest to the decimal number whenever |e| <= 22.
_LARGEST_POWER = 308
_POW10 = np.array([float(f"1e{k}") for k in range(_LARGEST_POWER + 1)])


def _times_power_of_ten(values: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """values * 10**exponents, dividing for negative exponents (10**-k itself is inexact)."""
    power = _POW10[np.abs(exponents)]
    # Scaling by 1 is exact, so one multiply and one divide serve both signs of the exponent.
    return values * np.where(exponents >= 0, power, 1.0) / np.where(exponents < 0, power, 1.0)


def _round_magnitudes(magnitudes: np.ndarray, min_exponent: int) -> tuple[np.ndarray, np.ndarray]:
    """Round finite magnitudes >= 0 to m * 10**e, m in 100..999, both int64 arrays.

    Magnitudes that round below 100 * 10**min_exponent (zero included) give m = e = 0.
    """
    with np.errstate(divide="ignore"):
        leading = np.floor(np.log10(magnitudes))  # -inf at zero
    # Clipping keeps 10**-e finite; the values it touches are far below any encoding's range.
    leading = np.clip(
        np.nan_to_num(leading, neginf=-_LARGEST_POWER + 2), 2 - _LARGEST_POWER, _LARGEST_POWER - 2
    )
    exponent = leading.astype(np.int64) - (MANTISSA_DIGITS - 1)
    mantissa = np.floor(_times_power_of_ten(magnitudes, -exponent) + 0.5)
    # Rounding 999.5.. up carries into a fourth digit, and so does log10 landing an ulp short
    # of an exact power of ten: either way the mantissa is exactly 1000.
    carried = mantissa >= 10**MANTISSA_DIGITS
    mantissa = np.where(carried, mantissa / 10, mantissa).astype(np.int64)
    exponent = exponent + carried
    underflow = (mantissa == 0) | (exponent < min_exponent)
    return np.where(underflow, 0, mantissa), np.where(underflow, 0, exponent)


def _reject_nan(values: np.ndarray, encoding: str) -> None:
    if np.isnan(values).any():
        raise ValueError(
            f"cannot encode nan with {encoding}: only numbers (and for FP15 +/-inf) can be written as tokens"
        )


def _first(values: np.ndarray, where: np.ndarray) -> float:
    return float(values[where].flat[0])


def _exponent_tokens(low: int, high: int) -> list[str]:
    return [f"E{e}" for e in range(low, high + 1)]


class NumberEncoding:
    """One way of writing a number as `tokens_per_number` tokens; ids are local (0..len(tokens)-1).

    Subclasses say how a rounded number becomes ids (`encode`) and how the meanings of the
    tokens in each slot combine into a value (`_compose`). Decoding is shared: a table
    `_slot_meaning[slot, id]` holds what token `id` means in `slot`, NaN where it may not stand.
    """

    def __init__(self, name: str, tokens: list[str], slot_meaning: np.ndarray) -> None:
        self.name = name
        self.tokens = tokens
        self.tokens_per_number = slot_meaning.shape[0]
        self._slot_meaning = slot_meaning
        self._slot_meaning.setflags(write=False)

    def __repr__(self) -> str:
        return f"NumberEncoding({self.name!r}, {len(self.tokens)} tokens)"

    def encode(self, values: np.ndarray | float) -> np.ndarray:
        """int64 ids of shape (*values.shape, tokens_per_number)."""
        raise NotImplementedError

    def _compose(self, meanings: np.ndarray) -> np.ndarray:
        """Values from per-slot meanings (..., tokens_per_number) of decoded numbers."""
        raise NotImplementedError

    def decode(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values float64 (...), decoded bool (...)) from ids (..., tokens_per_number).

        An invalid number (an id outside this encoding, or of the wrong kind for its slot)
        decodes to NaN with decoded False; this never raises for bad ids.
        """
        ids = np.asarray(ids)
        if ids.shape[-1:] != (self.tokens_per_number,):
            raise ValueError(
                f"{self.name} decodes ids of shape (..., {self.tokens_per_number}), got {ids.shape}"
            )
        in_vocabulary = (ids >= 0) & (ids < len(self.tokens))
        slots = np.arange(self.tokens_per_number)
        meanings = self._slot_meaning[slots, np.where(in_vocabulary, ids, 0)]
        meanings = np.where(in_vocabulary, meanings, np.nan)
        wrong_kind = np.isnan(meanings)
        decoded = ~wrong_kind.any(axis=-1)
        values = self._compose(np.where(wrong_kind, 0.0, meanings))
        return np.where(decoded, values, np.nan), decoded

    def readable(self, x: float) -> list[str]:
        """The token strings of one number, e.g. P10 readable(-3.14159) == ['-', '3', '1', '4', 'E-2']."""
        return [self.tokens[i] for i in self.encode(np.float64(x))]


class _PositionalEncoding(NumberEncoding):
    """Sign token, the mantissa in base 10 (three digit tokens) or base 1000 (one token), exponent.

    Local ids: '+', '-', then the digits 0..base-1, then the exponent tokens.
    """

    def __init__(self, name: str, base: int) -> None:
        self._base = base
        self._digit_slots = {10: 3, 1000: 1}[base]
        self._digit_offset = 2
        self._exponent_offset = self._digit_offset + base
        low, high = POSITIONAL_EXPONENTS
        tokens = ["+", "-"] + [str(d) for d in range(base)] + _exponent_tokens(low, high)
        meaning = np.full((self._digit_slots + 2, len(tokens)), np.nan)
        meaning[0, :2] = [1.0, -1.0]
        meaning[1:-1, self._digit_offset : self._exponent_offset] = np.arange(base)
        meaning[-1, self._exponent_offset :] = np.arange(low, high + 1)
        super().__init__(name, tokens, meaning)

    def encode(self, values: np.ndarray | float) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        _reject_nan(values, self.name)
        mantissa, exponent = _positional_rounding(values, self.name)
        places = self._base ** np.arange(self._digit_slots - 1, -1, -1)
        digits = (mantissa[..., None] // places) % self._base
        sign = ((values < 0) & (mantissa > 0)).astype(np.int64)
        return np.concatenate(
            [
                sign[..., None],
                self._digit_offset + digits,
                (self._exponent_offset + exponent - POSITIONAL_EXPONENTS[0])[..., None],
            ],
            axis=-1,
        )

    def _compose(self, meanings: np.ndarray) -> np.ndarray:
        places = self._base ** np.arange(self._digit_slots - 1, -1, -1)
        mantissa = meanings[..., 1:-1] @ places.astype(np.float64)
        exponent = meanings[..., -1].astype(np.int64)
        return meanings[..., 0] * _times_power_of_ten(mantissa, exponent)


class _SignedMantissaEncoding(NumberEncoding):
    """B1999: one token for the signed mantissa -999..999, one exponent token.

    Local ids: mantissas -999..999 (id = mantissa + 999), then the exponent tokens.
    """

    _LARGEST = 10**MANTISSA_DIGITS - 1

    def __init__(self) -> None:
        low, high = POSITIONAL_EXPONENTS
        mantissas = np.arange(-self._LARGEST, self._LARGEST + 1)
        self._exponent_offset = len(mantissas)
        tokens = [str(m) for m in mantissas] + _exponent_tokens(low, high)
        meaning = np.full((2, len(tokens)), np.nan)
        meaning[0, : self._exponent_offset] = mantissas
        meaning[1, self._exponent_offset :] = np.arange(low, high + 1)
        super().__init__("B1999", tokens, meaning)

    def encode(self, values: np.ndarray | float) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        _reject_nan(values, self.name)
        mantissa, exponent = _positional_rounding(values, self.name)
        signed = np.where(values < 0, -mantissa, mantissa)
        return np.stack(
            [signed + self._LARGEST, self._exponent_offset + exponent - POSITIONAL_EXPONENTS[0]],
            axis=-1,
        )

    def _compose(self, meanings: np.ndarray) -> np.ndarray:
        return _times_power_of_ten(meanings[..., 0], meanings[..., 1].astype(np.int64))


def _positional_rounding(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Mantissa and exponent for P10/P1000/B1999; ValueError beyond E100 or for infinities."""
    low, high = POSITIONAL_EXPONENTS
    infinite = np.isinf(values)
    mantissa, exponent = _round_magnitudes(np.where(infinite, 0.0, np.abs(values)), low)
    too_large = infinite | (exponent > high)
    if too_large.any():
        raise ValueError(
            f"cannot encode {_first(values, too_large)!r} with {name}: magnitudes "
            f"must round to at most 999e{high}"
        )
    return mantissa, exponent


class _FloatTokenEncoding(NumberEncoding):
    """FP15: one token per rounded number.

    Local ids: '0', '+inf', '-inf', then the positive numbers ordered by (exponent, mantissa),
    then the negative ones in the same order. Tokens read like '+314E-2' (= 3.14).
    """

    _ZERO, _PLUS_INF, _MINUS_INF, _FIRST_NUMBER = 0, 1, 2, 3
    _MANTISSAS = np.arange(10 ** (MANTISSA_DIGITS - 1), 10**MANTISSA_DIGITS)

    def __init__(self) -> None:
        low, high = FP15_EXPONENTS
        exponents = np.arange(low, high + 1)
        grid_exponents = np.repeat(exponents, len(self._MANTISSAS))
        grid_mantissas = np.tile(self._MANTISSAS, len(exponents))
        self._numbers_per_sign = len(grid_mantissas)
        positive = _times_power_of_ten(grid_mantissas.astype(np.float64), grid_exponents)
        values = np.concatenate([[0.0, np.inf, -np.inf], positive, -positive])
        tokens = ["0", "+inf", "-inf"] + [
            f"{sign}{m}E{e}"
            for sign in "+-"
            for e, m in zip(grid_exponents.tolist(), grid_mantissas.tolist())
        ]
        super().__init__("FP15", tokens, values[None, :])

    def encode(self, values: np.ndarray | float) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        _reject_nan(values, self.name)
        low, high = FP15_EXPONENTS
        infinite = np.isinf(values)
        mantissa, exponent = _round_magnitudes(np.where(infinite, 0.0, np.abs(values)), low)
        negative = values < 0
        overflow = infinite | (exponent > high)
        number_id = (
            self._FIRST_NUMBER
            + negative * self._numbers_per_sign
            + (exponent - low) * len(self._MANTISSAS)
            + (mantissa - self._MANTISSAS[0])
        )
        ids = np.where(mantissa == 0, self._ZERO, number_id)
        ids = np.where(overflow, np.where(negative, self._MINUS_INF, self._PLUS_INF), ids)
        return ids.astype(np.int64)[..., None]

    def _compose(self, meanings: np.ndarray) -> np.ndarray:
        return meanings[..., 0]


_ENCODING_CACHE: dict[str, NumberEncoding] = {}


def get_encoding(name: str) -> NumberEncoding:
    """The encoding called `name` (one of ENCODINGS); built once, then shared."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    if name not in _ENCODING_CACHE:
        builders = {
            "P10": lambda: _PositionalEncoding("P10", 10),
            "P1000": lambda: _PositionalEncoding("P1000", 1000),
            "B1999": _SignedMantissaEncoding,
            "FP15": _FloatTokenEncoding,
        }
        _ENCODING_CACHE[name] = builders[name]()
    return _ENCODING_CACHE[name]


class Vocabulary:
    """Separate source (input encoding) and target (output encoding) vocabularies.

    Each side is [<pad>, <bos>, <eos>, D1..D{max_dim}, that side's number tokens], so the decoder
    only ever scores the output encoding's tokens. A vector (N, r) is written D{r} then its
    entries; a matrix (N, r, c) D{r} D{c} then its entries row by row. Sources end with <eos>;
    targets are wrapped in <bos> ... <eos>.
    """

    def __init__(self, input_encoding: str, output_encoding: str, max_dim: int = 11) -> None:
        if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or max_dim < 1:
            raise ValueError(f"max_dim must be a positive integer, got {max_dim!r}")
        self.input_encoding = input_encoding
        self.output_encoding = output_encoding
        self.max_dim = int(max_dim)
        self.source_encoding = get_encoding(input_encoding)
        self.target_encoding = get_encoding(output_encoding)
        self.number_offset = len(SPECIAL_TOKENS) + self.max_dim  # id of each side's first number
        dimension_tokens = [f"D{d}" for d in range(1, self.max_dim + 1)]
        shared = list(SPECIAL_TOKENS) + dimension_tokens
        self.source_tokens = shared + self.source_encoding.tokens
        self.target_tokens = shared + self.target_encoding.tokens
        self.source_size = len(self.source_tokens)
        self.target_size = len(self.target_tokens)

    def __repr__(self) -> str:
        return (
            f"Vocabulary({self.input_encoding!r} -> {self.output_encoding!r}: "
            f"{self.source_size} source, {self.target_size} target tokens)"
        )

    def dimension_id(self, size: int) -> int:
        """Id of the dimension token for `size` (the same on both sides)."""
        return len(SPECIAL_TOKENS) + size - 1

    def _check_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        shape = tuple(int(d) for d in shape)
        if len(shape) not in (1, 2) or not all(1 <= d <= self.max_dim for d in shape):
            raise ValueError(
                f"cannot write shape {shape}: vectors or matrices with dimensions 1..{self.max_dim} only"
            )
        return shape

    def _layout_length(self, shape: Sequence[int], encoding: NumberEncoding) -> int:
        """Dimension tokens + number tokens + <eos>."""
        shape = self._check_shape(shape)
        return len(shape) + int(np.prod(shape)) * encoding.tokens_per_number + 1

    def source_length(self, shape: Sequence[int]) -> int:
        return self._layout_length(shape, self.source_encoding)

    def target_length(self, shape: Sequence[int]) -> int:
        return self._layout_length(shape, self.target_encoding) + 1  # <bos>

    def _encode(self, arrays: np.ndarray, encoding: NumberEncoding, prefix: list[int]) -> np.ndarray:
        arrays = np.asarray(arrays, dtype=np.float64)
        if arrays.ndim not in (2, 3):
            raise ValueError(
                f"expected a batch of vectors (N, r) or matrices (N, r, c), got shape {arrays.shape}"
            )
        shape = self._check_shape(arrays.shape[1:])
        head = prefix + [self.dimension_id(d) for d in shape]
        numbers = encoding.encode(arrays.reshape(len(arrays), -1)).reshape(len(arrays), -1)
        ids = np.empty((len(arrays), len(head) + numbers.shape[1] + 1), dtype=np.int64)
        ids[:, : len(head)] = head
        ids[:, len(head) : -1] = numbers + self.number_offset
        ids[:, -1] = EOS
        return ids

    def encode_source(self, arrays: np.ndarray) -> np.ndarray:
        """int64 (N, source_length(shape)): dims, numbers row by row, <eos>."""
        return self._encode(arrays, self.source_encoding, [])

    def encode_target(self, arrays: np.ndarray) -> np.ndarray:
        """int64 (N, target_length(shape)): <bos>, dims, numbers row by row, <eos>."""
        return self._encode(arrays, self.target_encoding, [BOS])

    def _decode(
        self, ids: np.ndarray, shape: Sequence[int], encoding: NumberEncoding, may_start_with_bos: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        shape = self._check_shape(shape)
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"expected integer ids of shape (N, L), got {ids.dtype} {ids.shape}")
        layout = self._layout_length(shape, encoding)
        # Pad with -1 (no token's id) so every row is long enough to slice: a short row then
        # fails the checks below instead of raising.
        padded = np.full((len(ids), layout + 1), -1, dtype=np.int64)
        width = min(ids.shape[1], layout + 1)
        padded[:, :width] = ids[:, :width]
        skip_bos = (padded[:, :1] == BOS) if may_start_with_bos else np.zeros((len(ids), 1), bool)
        body = np.take_along_axis(padded, skip_bos + np.arange(layout), axis=1)

        dims_ok = (body[:, : len(shape)] == [self.dimension_id(d) for d in shape]).all(axis=1)
        eos_ok = body[:, -1] == EOS
        count = int(np.prod(shape))
        local = body[:, len(shape) : -1].reshape(len(ids), count, encoding.tokens_per_number)
        # Specials and dimension tokens become negative local ids: invalid numbers.
        values, numbers_decoded = encoding.decode(local - self.number_offset)
        decoded = dims_ok & eos_ok & numbers_decoded.all(axis=1)
        values[~decoded] = np.nan
        return values.reshape(len(ids), *shape), decoded

    def decode_target(self, ids: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(values float64 (N, *shape), decoded bool (N,)) from target ids (N, L).

        A leading <bos> is optional; tokens after the expected <eos> are ignored (padding). A row
        with wrong dims, a token of the wrong kind anywhere, no <eos> where the shape puts it, or
        too few tokens gets decoded False and NaN values; bad rows never raise.
        """
        return self._decode(ids, shape, self.target_encoding, may_start_with_bos=True)

    def decode_source(self, ids: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of encode_source, with the same checks as decode_target (no <bos> expected)."""
        return self._decode(ids, shape, self.source_encoding, may_start_with_bos=False)

    def read_source(self, matrices: np.ndarray) -> np.ndarray:
        """The matrices as the model reads them: written in the input encoding and read back.

        Every coefficient is rounded to 3 significant digits (FP15 also clips its range). The
        paper scores a prediction against this matrix, not the exact one it was drawn as.
        """
        matrices = np.asarray(matrices, dtype=np.float64)
        values, decoded = self.decode_source(self.encode_source(matrices), matrices.shape[1:])
        if not decoded.all():  # encode_source only writes well-formed rows; this is a bug, not bad input
            raise RuntimeError("a source row did not read back after encoding")
        return values

    @staticmethod
    def _readable(ids: Sequence[int] | np.ndarray, tokens: list[str]) -> list[str]:
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"expected one id sequence (1-D), got shape {ids.shape}")
        return [tokens[i] if 0 <= i < len(tokens) else f"<unknown {i}>" for i in ids.tolist()]

    def readable_source(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return self._readable(ids, self.source_tokens)

    def readable_target(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return self._readable(ids, self.target_tokens)
