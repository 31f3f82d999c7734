"""The run configuration: every option of a training run, validated, in one place.

The dataclass fields are the single source of truth: `RunConfig.from_dict` reads them from YAML or
Snakemake, `add_run_options` turns each one into a CLI flag (`enc_layers` -> `--enc-layers`), and
`run_arguments` writes a config as the flags that `add_run_options` reads back. The problem's own
settings (n, spectrum, law, coeff_range, signs) take their defaults from `Problem`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mathformer.core.encoding import ENCODINGS, Vocabulary
from mathformer.core.problems import EIGENVECTOR_SIGNS, LAWS, SPECTRA, TASKS, Problem

SCHEDULES = ("cosine", "invsqrt", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NORMS = ("pre", "post")

# Options that change how a run is operated, not what it computes: a checkpoint made with other
# values of these may be resumed.
OPERATIONAL_FIELDS = frozenset({"checkpoint_minutes"})
# How an empty optional value is written (the first) and read (any of them).
NONE_WORDS = ("none", "null")
_PROBLEM_DEFAULTS = {spec.name: spec.default for spec in dataclasses.fields(Problem)}


def _option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
) -> Any:
    """A dataclass field carrying its CLI help and the range its value must lie in."""
    metadata = {"help": help, "choices": choices, "at_least": at_least, "above": above, "at_most": at_most}
    if default is dataclasses.MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a training run computes (plus how often it checkpoints)."""

    task: str = _option(dataclasses.MISSING, "problem to learn", choices=TASKS)
    n: int = _option(_PROBLEM_DEFAULTS["n"], "matrix size n (n x n)", at_least=2, at_most=10)
    n_min: int | None = _option(
        None,
        "also train on smaller sizes: each batch's n drawn from n_min..n (none: n only)",
        at_least=2,
        at_most=10,
    )
    repeat_pool: int | None = _option(
        None,
        "two-set training: draw a pool of this many problems once and take repeat_share of every batch "
        "from it (none: every example fresh)",
        at_least=1,
    )
    repeat_share: float = _option(
        0.25, "share of each batch drawn from repeat_pool (used only with it)", above=0, at_most=0.99
    )
    spectrum: str = _option(
        _PROBLEM_DEFAULTS["spectrum"], "eigenvalue distribution of the training matrices", choices=SPECTRA
    )
    law: str = _option(_PROBLEM_DEFAULTS["law"], "law of the matrix coefficients", choices=LAWS)
    coeff_range: float = _option(
        _PROBLEM_DEFAULTS["coeff_range"], "coefficients lie in [-A, A] (or have the same variance)", above=0
    )
    input_encoding: str = _option("FP15", "number encoding of the input matrix", choices=ENCODINGS)
    output_encoding: str = _option("P1000", "number encoding of the answer", choices=ENCODINGS)
    enc_layers: int = _option(6, "encoder layers", at_least=1)
    dec_layers: int = _option(1, "decoder layers", at_least=1)
    enc_dim: int = _option(512, "encoder width", at_least=1)
    dec_dim: int = _option(512, "decoder width", at_least=1)
    enc_heads: int = _option(8, "encoder attention heads (must divide enc_dim)", at_least=1)
    dec_heads: int = _option(8, "decoder attention heads (must divide dec_dim)", at_least=1)
    norm: str = _option(
        "post",
        "LayerNorm placement: post (after each residual sum, the paper's) or pre (before each sub-layer)",
        choices=NORMS,
    )
    eigenvector_signs: str = _option(
        _PROBLEM_DEFAULTS["signs"],
        "signs of the eigenvector targets: lapack (numpy's, the paper's) or canonical (largest component positive)",
        choices=EIGENVECTOR_SIGNS,
    )
    batch_size: int = _option(64, "training examples per optimizer step", at_least=1)
    lr: float = _option(1e-4, "peak learning rate of Adam", above=0)
    warmup: int = _option(10000, "optimizer steps of linear learning-rate warm-up", at_least=0)
    schedule: str = _option(
        "cosine", "decay after warm-up (cosine: from lr to lr_min over cosine_steps)", choices=SCHEDULES
    )
    lr_min: float = _option(1e-5, "learning rate at the end of the cosine (the paper: 1e-5)", at_least=0)
    cosine_steps: int | None = _option(
        4_000_000,
        "optimizer steps of the cosine after warm-up, then lr_min (none: until max_examples)",
        at_least=1,
    )
    clip: float = _option(5.0, "gradient norm clipping (0: off)", at_least=0)
    epoch_size: int = _option(300000, "training examples between two evaluations", at_least=1)
    max_examples: int = _option(30_000_000, "stop after this many training examples", at_least=1)
    target_accuracy: float | None = _option(
        None, "stop once validation accuracy at 5 %% reaches this share (0-1)", above=0, at_most=1
    )
    patience: int | None = _option(None, "stop after this many evaluations without improvement", at_least=1)
    precision: str = _option("auto", "arithmetic: auto is bf16 on CUDA, fp32 on CPU", choices=PRECISIONS)
    compile: bool = _option(False, "compile the training step with torch.compile")
    cuda_graphs: bool = _option(
        False,
        "on CUDA, replay the greedy decoding step, and with compile the training step, as CUDA graphs "
        "(one launch for all the kernels of a step; no effect on CPU)",
    )
    seed: int = _option(0, "seed of the weights and of the training stream", at_least=0, at_most=2**63 - 1)
    init_from: str | None = _option(
        None,
        "start from the weights of this model.pt (same architecture and encodings; a smaller n's model "
        "fits: its position tables are extended) instead of random ones (none: random)",
    )
    weak_accuracy: float | None = _option(
        None,
        "also keep weak.pt, the epoch whose validation accuracy at 5 %% is closest to this",
        above=0,
        at_most=1,
    )
    checkpoint_minutes: float = _option(5.0, "minutes between checkpoints", above=0)

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            _check_value(spec, getattr(self, spec.name))
        for side in ("enc", "dec"):
            dim, heads = getattr(self, f"{side}_dim"), getattr(self, f"{side}_heads")
            if dim % heads:
                raise ValueError(f"{side}_dim {dim} is not divisible by {side}_heads {heads}")
        if self.n_min is not None and self.n_min > self.n:
            raise ValueError(f"n_min {self.n_min} must not exceed n {self.n}")
        if self.repeat_pool is not None and self.n_min is not None:
            raise ValueError(
                f"repeat_pool {self.repeat_pool} and n_min {self.n_min} do not combine; the pool holds n x n problems"
            )
        if self.schedule == "cosine" and self.lr_min > self.lr:
            raise ValueError(
                f"lr_min {self.lr_min} must not exceed lr {self.lr} (the cosine decays from lr to lr_min)"
            )
        self.problem()  # the problem checks its own combination of values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Build from plain values (YAML, Snakemake params), converting and checking each one."""
        names = [spec.name for spec in dataclasses.fields(cls)]
        unknown = [key for key in values if key not in names]
        if unknown:
            raise ValueError(f"unknown config key {unknown[0]!r}; allowed keys: {', '.join(names)}")
        hints = typing.get_type_hints(cls)
        converted = {key: _convert(key, value, hints[key]) for key, value in values.items()}
        missing = [
            spec.name
            for spec in dataclasses.fields(cls)
            if spec.default is dataclasses.MISSING and spec.name not in converted
        ]
        if missing:
            raise ValueError(f"missing config key {missing[0]!r}")
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def problem(self) -> Problem:
        return Problem(
            task=self.task,
            n=self.n,
            spectrum=self.spectrum,
            law=self.law,
            coeff_range=self.coeff_range,
            signs=self.eigenvector_signs,
        )

    def repeated(self) -> tuple[int, float] | None:
        """(pool size, share) of two-set training; None when every example is fresh."""
        return None if self.repeat_pool is None else (self.repeat_pool, self.repeat_share)

    def training_sizes(self) -> tuple[int, ...] | None:
        """The matrix sizes training batches are drawn from; None when only n."""
        return None if self.n_min is None else tuple(range(self.n_min, self.n + 1))

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.input_encoding, self.output_encoding)

    def differences(self, other: RunConfig) -> list[str]:
        """Names of the fields (operational ones aside) whose values differ."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [key for key in mine if key not in OPERATIONAL_FIELDS and mine[key] != theirs[key]]


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _base_type(hint: Any) -> tuple[type, bool]:
    """(int, True) for `int | None`, (float, False) for `float`."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return args[0], True
    return hint, False


def _convert(key: str, value: Any, hint: Any) -> Any:
    """Coerce a plain value to the field's type; YAML reads `1e-4` as a string, so accept that."""
    base, optional = _base_type(hint)
    wanted = _TYPE_WORDS[base] + (" or none" if optional else "")
    bad = ValueError(f"config key {key!r} needs {wanted}, got {value!r}")
    if value is None or (optional and isinstance(value, str) and value.lower() in NONE_WORDS):
        if optional:
            return None
        raise bad
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise bad
    if base is str:
        if isinstance(value, str):
            return value
        raise bad
    if isinstance(value, bool):
        raise bad
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise bad from None
    if not isinstance(number, (int, float)):
        raise bad
    if base is int:
        if isinstance(number, float) and not number.is_integer():
            raise bad
        return int(number)
    return float(number)


def _check_value(spec: dataclasses.Field, value: Any) -> None:
    meta = spec.metadata
    if value is None:
        return
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ValueError(f"unknown {spec.name} {value!r}; allowed: {', '.join(meta['choices'])}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{spec.name} must be finite, got {value}")
    if meta["at_least"] is not None and value < meta["at_least"]:
        raise ValueError(f"{spec.name} must be at least {meta['at_least']:g}, got {value}")
    if meta["above"] is not None and value <= meta["above"]:
        raise ValueError(f"{spec.name} must be above {meta['above']:g}, got {value}")
    if meta["at_most"] is not None and value > meta["at_most"]:
        raise ValueError(f"{spec.name} must be at most {meta['at_most']:g}, got {value}")


def _cli_parser(base: type, optional: bool):
    """argparse `type=` callable: the base type, plus 'none' where the field may be empty."""

    def parse(text: str):
        if optional and text.lower() in NONE_WORDS:
            return None
        return base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error message
    return parse


def option_flag(name: str, switched_on: bool = True) -> str:
    """The CLI flag of a RunConfig field: `enc_layers` -> `--enc-layers`; a switch (a bool field)
    turned off is `--no-compile`, as argparse.BooleanOptionalAction spells it."""
    return ("--" if switched_on else "--no-") + name.replace("_", "-")


def run_arguments(config: RunConfig, leave_out: Collection[str] = ()) -> list[str]:
    """The command-line words that `add_run_options` reads back as `config`, field by field (less
    those left out): `--n 5`, `--init-from none` for an empty value, `--compile` or `--no-compile`."""
    words = []
    for spec in dataclasses.fields(config):
        if spec.name in leave_out:
            continue
        value = getattr(config, spec.name)
        if isinstance(value, bool):
            words.append(option_flag(spec.name, value))
        else:
            words += [option_flag(spec.name), NONE_WORDS[0] if value is None else str(value)]
    return words


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field; flags not given stay absent from the parsed namespace."""
    hints = typing.get_type_hints(RunConfig)
    group = parser.add_argument_group("run config (see mathformer.core.config.RunConfig)")
    for spec in dataclasses.fields(RunConfig):
        flag = option_flag(spec.name)
        base, optional = _base_type(hints[spec.name])
        default = "required" if spec.default is dataclasses.MISSING else f"default {spec.default}"
        help_text = f"{spec.metadata['help']} ({default})"
        if base is bool:
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        else:
            group.add_argument(
                flag,
                type=_cli_parser(base, optional),
                choices=spec.metadata["choices"],
                default=argparse.SUPPRESS,
                metavar=base.__name__.upper() if spec.metadata["choices"] is None else None,
                help=help_text,
            )


def run_options_given(namespace: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig fields set on the command line (by `add_run_options`)."""
    given = vars(namespace)
    return {spec.name: given[spec.name] for spec in dataclasses.fields(RunConfig) if spec.name in given}


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping of run options in a YAML file (`--config`, a model folder's config.yaml)."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path} ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of run options")
    return values
