"""RunConfig: defaults, validation, plain-value conversion and the CLI flags made from it."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mathformer.core.config import RunConfig, add_run_options, run_arguments, run_options_given
from mathformer.core.problems import Problem
from mathformer.engine.model import ModelConfig


def test_defaults_are_the_papers():
    cfg = RunConfig(task="eigenvectors")
    assert (cfg.n, cfg.spectrum, cfg.law, cfg.coeff_range) == (5, "semicircle", "uniform", 10.0)
    assert (cfg.input_encoding, cfg.output_encoding) == ("FP15", "P1000")
    assert (cfg.enc_layers, cfg.dec_layers, cfg.enc_dim, cfg.dec_dim, cfg.enc_heads, cfg.dec_heads) == (
        6,
        1,
        512,
        512,
        8,
        8,
    )
    assert (cfg.batch_size, cfg.lr, cfg.warmup, cfg.schedule, cfg.clip) == (64, 1e-4, 10000, "cosine", 5.0)
    assert cfg.epoch_size == 300000
    assert (cfg.target_accuracy, cfg.patience, cfg.weak_accuracy) == (None, None, None)
    assert (cfg.precision, cfg.compile, cfg.seed, cfg.checkpoint_minutes) == ("auto", False, 0, 5.0)


def test_unknown_key_is_named_with_the_allowed_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown config key 'layers'; allowed keys: task, n, n_min, repeat_pool, repeat_share, spectrum",
    ):
        RunConfig.from_dict({"task": "eigenvalues", "layers": 3})


def test_missing_task_is_named():
    with pytest.raises(ValueError, match="missing config key 'task'"):
        RunConfig.from_dict({"n": 3})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("task", "determinant", "unknown task 'determinant'; allowed: eigenvalues, eigenvectors"),
        ("schedule", "linear", "unknown schedule 'linear'; allowed: cosine, invsqrt, constant"),
        ("precision", "fp8", "unknown precision 'fp8'; allowed: auto, fp32, bf16, fp16"),
        ("output_encoding", "P100", "unknown output_encoding 'P100'; allowed: P10, P1000, B1999, FP15"),
        ("spectrum", "cauchy", "unknown spectrum 'cauchy'"),
        ("n", 11, "n must be at most 10"),
        ("n", 1, "n must be at least 2"),
        ("lr", 0, "lr must be above 0"),
        ("batch_size", 0, "batch_size must be at least 1"),
        ("target_accuracy", 92, "target_accuracy must be at most 1"),
        ("weak_accuracy", 0, "weak_accuracy must be above 0"),
        ("clip", float("nan"), "clip must be finite"),
        ("enc_heads", 7, "enc_dim 512 is not divisible by enc_heads 7"),
        ("epoch_size", 1.5, "'epoch_size' needs an integer, got 1.5"),
        ("compile", "maybe", "'compile' needs true or false"),
        ("seed", True, "'seed' needs an integer"),
        ("task", 3, "'task' needs a string"),
        ("patience", "soon", "'patience' needs an integer or none, got 'soon'"),
        ("lr", None, "'lr' needs a number, got None"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(key, value, message):
    values = {"task": "eigenvalues", key: value}
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict(values)


def test_plain_values_from_yaml_are_converted():
    cfg = RunConfig.from_dict(
        {
            "task": "inversion",
            "lr": "5e-4",
            "epoch_size": "3e5",
            "max_examples": 6e6,
            "patience": "none",
            "compile": "true",
        }
    )
    assert cfg.lr == 5e-4 and isinstance(cfg.epoch_size, int) and cfg.epoch_size == 300000
    assert cfg.max_examples == 6_000_000 and cfg.patience is None and cfg.compile is True


@given(
    n=st.integers(2, 10),
    lr=st.floats(1e-6, 1.0),
    heads=st.sampled_from([1, 2, 4]),
    target=st.none() | st.floats(0.01, 1.0),
)
def test_to_dict_from_dict_round_trip(n, lr, heads, target):
    cfg = RunConfig(
        task="eigenvalues",
        n=n,
        lr=lr,
        lr_min=0.0,
        enc_heads=heads,
        dec_dim=64,
        dec_heads=heads,
        target_accuracy=target,
    )
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_problem_and_model_config():
    cfg = RunConfig(task="eigenvectors", n=3, spectrum="laplace", enc_dim=64, enc_heads=4)
    assert cfg.problem() == Problem("eigenvectors", n=3, spectrum="laplace")
    vocab = cfg.vocabulary()
    model = ModelConfig.of_run(cfg)
    assert (model.src_vocab, model.tgt_vocab) == (vocab.source_size, vocab.target_size)
    assert (model.enc_dim, model.enc_heads, model.dec_dim) == (64, 4, 512)
    assert model.max_src_len == vocab.source_length((3, 3))
    assert model.max_tgt_len == vocab.target_length((4, 3))


def test_differences_ignore_checkpoint_interval():
    base = RunConfig(task="eigenvalues")
    other = dataclasses.replace(base, lr=1e-3, n=4, checkpoint_minutes=1.0)
    assert base.differences(other) == ["n", "lr"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    return parser


def test_every_field_has_a_flag_and_only_given_flags_are_returned():
    parser = _parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for spec in dataclasses.fields(RunConfig):
        assert "--" + spec.name.replace("_", "-") in flags
    assert run_options_given(parser.parse_args([])) == {}
    given = run_options_given(
        parser.parse_args(
            ["--enc-layers", "2", "--compile", "--target-accuracy", "0.9", "--patience", "none"]
        )
    )
    assert given == {"enc_layers": 2, "compile": True, "target_accuracy": 0.9, "patience": None}


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(task="eigenvectors"),
        RunConfig(
            task="eigenvalues",
            n=4,
            n_min=2,
            spectrum="laplace",
            coeff_range=0.1,
            lr=3e-4,
            cosine_steps=None,
            target_accuracy=0.9,
            compile=True,
            seed=2**40,
            init_from="results/my runs/inv5/model.pt",
            weak_accuracy=0.7,
            checkpoint_minutes=2.5,
        ),
    ],
    ids=["defaults", "everything-set"],
)
def test_run_arguments_are_read_back_as_the_same_config(cfg):
    words = run_arguments(cfg)
    assert RunConfig.from_dict(run_options_given(_parser().parse_args(words))) == cfg
    assert ("--compile" in words) == cfg.compile and ("--no-compile" in words) != cfg.compile


def test_run_arguments_leave_out_the_fields_asked():
    words = run_arguments(RunConfig(task="inversion"), leave_out={"checkpoint_minutes", "seed"})
    assert "--checkpoint-minutes" not in words and "--seed" not in words
    assert words[:4] == ["--task", "inversion", "--n", "5"]
    assert words[words.index("--init-from") + 1] == "none"


def test_a_run_config_left_at_its_defaults_poses_the_default_problem():
    for task in ("eigenvalues", "eigenvectors", "inversion", "syminverse"):
        assert RunConfig(task=task).problem() == Problem(task=task)


def test_flag_with_a_bad_choice_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["--schedule", "linear"])
    assert "invalid choice: 'linear'" in capsys.readouterr().err


def test_cosine_floor_above_the_peak_rate_is_refused():
    with pytest.raises(ValueError, match="lr_min 0.001 must not exceed lr 0.0001"):
        RunConfig(task="eigenvalues", lr=1e-4, lr_min=1e-3)
    assert RunConfig(task="eigenvalues", lr=1e-4, lr_min=1e-3, schedule="constant").lr_min == 1e-3


def test_new_settings_reach_the_problem_and_the_model():
    cfg = RunConfig(task="eigenvectors", n=3, eigenvector_signs="canonical", norm="pre")
    assert cfg.problem().signs == "canonical"
    assert ModelConfig.of_run(cfg).norm == "pre"
    with pytest.raises(ValueError, match="unknown norm 'middle'; allowed: pre, post"):
        RunConfig(task="eigenvalues", norm="middle")


def test_two_set_training_is_one_size_with_a_share_below_one():
    cfg = RunConfig(task="inversion", n=3, repeat_pool=1000, repeat_share=0.5)
    assert cfg.repeated() == (1000, 0.5) and RunConfig(task="inversion").repeated() is None
    with pytest.raises(ValueError, match="repeat_pool 1000 and n_min 2 do not combine"):
        RunConfig(task="inversion", n=3, n_min=2, repeat_pool=1000)
    with pytest.raises(ValueError, match="repeat_share"):
        RunConfig(task="inversion", repeat_pool=10, repeat_share=1.0)
