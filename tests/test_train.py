"""Training runs end to end on a tiny model: files, log, stopping, resuming, and its errors."""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import math
import os
import shutil
import signal

import pytest
import torch
import yaml

from mathformer.core.config import RunConfig
from mathformer.core.problems import Problem
from mathformer.engine import train as train_module
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.model_files import POSITION_TABLES, initialise_from, load_model, model_file_contents
from mathformer.engine.model_files import save as save_model_file
from mathformer.engine.search import generate
from mathformer.engine.step import TrainStep
from mathformer.engine.stream import TrainingStream
from mathformer.engine.train import (
    TrainingError,
    TrainingInterrupted,
    learning_rate,
    train,
)
from mathformer.formats import run_folder
from mathformer.formats.datasets import generate_dataset, save_dataset
from mathformer.formats.train_log import log_columns

# 8 examples a step, 4 steps an epoch, 3 epochs.
TINY = RunConfig(
    task="eigenvalues",
    n=2,
    enc_layers=1,
    dec_layers=1,
    enc_dim=32,
    dec_dim=32,
    enc_heads=2,
    dec_heads=2,
    batch_size=8,
    lr=1e-3,
    warmup=3,
    epoch_size=32,
    max_examples=96,
)


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add noise on a shared machine
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets")
    paths = {}
    for name, spectrum in [("valid", "semicircle"), ("laplace", "laplace")]:
        paths[name] = folder / f"{name}.npz"
        save_dataset(
            generate_dataset(Problem("eigenvalues", n=2, spectrum=spectrum), 24, seed=5), paths[name]
        )
    paths["vectors"] = folder / "vectors.npz"
    save_dataset(generate_dataset(Problem("eigenvectors", n=2), 4, seed=5), paths["vectors"])
    return paths


def _run(cfg, run_dir, sets, **kwargs):
    return train(cfg, run_dir, sets["valid"], {"laplace": sets["laplace"]}, device="cpu", **kwargs)


def _log(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "train_log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _assert_same_tensors(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, sets):
    """One uninterrupted run of TINY, shared by the tests that only read its outputs."""
    run_dir = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    _run(dataclasses.replace(TINY, weak_accuracy=0.5), run_dir, sets)
    return run_dir


def test_a_run_writes_every_file(finished_run):
    names = {path.name for path in finished_run.iterdir()}
    # No ckpt/: a finished run keeps no resumable state, so a rerun trains again.
    assert names == {"model.pt", "weak.pt", "train_log.csv", "config.yaml", "env.json", run_folder.LOCK}
    saved = yaml.safe_load((finished_run / "config.yaml").read_text())
    assert RunConfig.from_dict(saved) == dataclasses.replace(TINY, weak_accuracy=0.5)
    made_by = json.loads((finished_run / "env.json").read_text())
    assert made_by["torch"] == torch.__version__
    # What explains two machines' different models from one config: the kernels torch ran.
    assert made_by["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()


def test_log_has_one_row_per_epoch_with_every_column(finished_run):
    rows = _log(finished_run)
    assert list(rows[0].keys()) == log_columns(["laplace"])
    assert list(rows[0].keys())[5:9] == ["valid_acc_5", "valid_acc_2", "valid_acc_1", "valid_acc_0.5"]
    assert [int(row["examples"]) for row in rows] == [32, 64, 96]
    assert all(math.isfinite(float(row["loss"])) and 0 <= float(row["laplace_acc_5"]) <= 1 for row in rows)
    assert float(rows[-1]["wall_seconds"]) >= float(rows[0]["wall_seconds"]) > 0


def test_model_file_loads_for_evaluation(finished_run):
    model, run_config, vocab, _ = load_model(finished_run / "model.pt")
    assert run_config.task == "eigenvalues" and vocab.output_encoding == "P1000"
    src = torch.from_numpy(
        vocab.encode_source(
            Problem("eigenvalues", n=2).sample(3, __import__("numpy").random.default_rng(0))[0]
        )
    )
    assert generate(model, src, max_len=vocab.target_length((2,))).tokens.shape[0] == 3
    saved = torch.load(finished_run / "model.pt", weights_only=True)
    assert (saved["examples"], saved["stop_reason"]) == (96, "max_examples")


def test_weak_snapshot_is_an_earlier_epoch(finished_run):
    weak = torch.load(finished_run / "weak.pt", weights_only=True)
    # With accuracy flat at its start, the first epoch is (and stays) the closest to 50 %.
    first = float(_log(finished_run)[0]["valid_acc_5"])
    assert weak["valid_accuracy"] == first and weak["epoch"] == 1 and weak["examples"] == 32
    final = _weights(finished_run / "model.pt")
    assert any(not torch.equal(weak["state_dict"][key], final[key]) for key in final)


def test_rerunning_a_finished_run_trains_again_to_the_same_bytes(finished_run, tmp_path, sets):
    # What `snakemake -f model.pt` or a rerun after a code change does: a whole new training.
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "model.pt").unlink()
    tests = {"laplace": sets["laplace"], "again": sets["valid"]}  # a set added since the first run
    train(dataclasses.replace(TINY, weak_accuracy=0.5), run_dir, sets["valid"], tests, device="cpu")
    # Same config and seed, same machine: the same bytes (torch.save names no temporary file).
    assert (run_dir / "model.pt").read_bytes() == (finished_run / "model.pt").read_bytes()
    assert (run_dir / "weak.pt").read_bytes() == (finished_run / "weak.pt").read_bytes()
    rows = _log(run_dir)
    assert len(rows) == 3 and all(row["again_acc_5"] != "" for row in rows)


def _interrupt_at(monkeypatch, stop_step: int) -> None:
    """Send ourselves SIGUSR1 (what SLURM sends before a requeue) right after step `stop_step`."""
    original = train_module._Trainer.train_step

    def train_step(self, src, tgt):
        original(self, src, tgt)
        if self.state.step == stop_step:
            os.kill(os.getpid(), signal.SIGUSR1)

    monkeypatch.setattr(train_module._Trainer, "train_step", train_step)


@pytest.mark.parametrize("stop_step", [6, 4])  # inside an epoch; right after an evaluation
def test_resumed_run_ends_with_the_same_weights(finished_run, tmp_path, sets, monkeypatch, stop_step):
    cfg = dataclasses.replace(
        TINY, weak_accuracy=0.5, checkpoint_minutes=1e-9
    )  # also a timed save every step
    _interrupt_at(monkeypatch, stop_step)
    with pytest.raises(TrainingInterrupted, match=f"SIGUSR1 at step {stop_step}") as stop:
        _run(cfg, tmp_path, sets)
    assert stop.value.exit_code == train_module.INTERRUPTED_EXIT_CODE
    assert not (tmp_path / "model.pt").exists()
    assert (tmp_path / "ckpt" / "state.pt").is_file()
    assert len(_log(tmp_path)) == stop_step // 4
    monkeypatch.undo()

    _run(cfg, tmp_path, sets)
    _assert_same_tensors(_weights(finished_run / "model.pt"), _weights(tmp_path / "model.pt"))
    _assert_same_tensors(_weights(finished_run / "weak.pt"), _weights(tmp_path / "weak.pt"))
    resumed, whole = _log(tmp_path), _log(finished_run)
    for row in (*resumed, *whole):
        row.pop("wall_seconds")
    assert resumed == whole
    assert not (tmp_path / "ckpt").exists()


def test_a_set_added_on_resume_gets_blank_cells_for_earlier_epochs(tmp_path, sets, monkeypatch):
    _interrupt_at(monkeypatch, 6)
    with pytest.raises(TrainingInterrupted):
        _run(TINY, tmp_path, sets)
    monkeypatch.undo()
    tests = {"laplace": sets["laplace"], "again": sets["valid"]}
    train(TINY, tmp_path, sets["valid"], tests, device="cpu")
    rows = _log(tmp_path)
    assert list(rows[0].keys()) == log_columns(["laplace", "again"])
    assert [row["again_acc_5"] == "" for row in rows] == [True, False, False]


def test_data_workers_change_nothing(finished_run, tmp_path, sets):
    _run(dataclasses.replace(TINY, weak_accuracy=0.5), tmp_path, sets, workers=2)
    _assert_same_tensors(_weights(finished_run / "model.pt"), _weights(tmp_path / "model.pt"))


def test_checkpoint_of_another_config_is_discarded(tmp_path, sets, monkeypatch, capsys):
    # A run pre-empted under one config, then rerun with a changed setting (a user edited the
    # config): the new config trains from scratch, as in a directory of its own.
    _interrupt_at(monkeypatch, 6)
    with pytest.raises(TrainingInterrupted):
        _run(TINY, tmp_path / "run", sets)
    monkeypatch.undo()
    changed = dataclasses.replace(TINY, lr=2e-3, warmup=4)
    _run(changed, tmp_path / "run", sets)
    assert (
        "discarded the checkpoint of another config (lr 0.001 -> 0.002, warmup 3 -> 4)"
        in capsys.readouterr().err
    )
    _run(changed, tmp_path / "alone", sets)
    _assert_same_tensors(_weights(tmp_path / "alone" / "model.pt"), _weights(tmp_path / "run" / "model.pt"))


def test_operational_settings_do_not_stop_a_resume(tmp_path, sets, monkeypatch, capsys):
    _interrupt_at(monkeypatch, 6)
    with pytest.raises(TrainingInterrupted):
        _run(TINY, tmp_path, sets)
    monkeypatch.undo()
    _run(dataclasses.replace(TINY, checkpoint_minutes=60.0), tmp_path, sets)
    assert "resumed from" in capsys.readouterr().err


def test_a_second_training_in_the_same_directory_is_refused(tmp_path, sets):
    tmp_path.mkdir(exist_ok=True)
    with (tmp_path / run_folder.LOCK).open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("process 12345\n")
        held.flush()
        with pytest.raises(ValueError, match=r"is being trained by process 12345; wait for it to end"):
            _run(TINY, tmp_path, sets)
    assert not (tmp_path / "model.pt").exists()
    _run(TINY, tmp_path, sets)  # the lock is gone with its holder
    assert (tmp_path / "model.pt").is_file()


def test_a_diverged_run_is_flagged():
    rows = [{"loss": loss} for loss in (3.0, 1.0, 0.9, 4.5)]
    assert (
        "training diverged: the last epoch's loss 4.5 is 5.0x its minimum 0.9"
        in train_module.divergence_warning(rows)
    )
    assert train_module.divergence_warning(rows[:3]) is None


def test_corrupt_checkpoint_is_an_error_naming_it(tmp_path, sets):
    state = tmp_path / "ckpt" / "state.pt"
    state.parent.mkdir()
    state.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=r"corrupt checkpoint .*state\.pt") as error:
        _run(TINY, tmp_path, sets)
    assert "\n" not in str(error.value)
    assert state.read_bytes() == b"\x00garbage"  # left alone for the user to inspect


def test_diverging_loss_stops_with_the_step_and_the_checkpoint(tmp_path, sets):
    # The first step's loss comes from the initial weights; the 1e30 update ruins the second.
    diverging = dataclasses.replace(TINY, lr=1e30, warmup=0, checkpoint_minutes=1e-9)
    with pytest.raises(
        TrainingError, match=r"loss became (nan|inf) at step 2; last good checkpoint: .*state\.pt \(step 1\)"
    ):
        _run(diverging, tmp_path, sets)
    assert not (tmp_path / "model.pt").exists()
    assert torch.load(tmp_path / "ckpt" / "state.pt", weights_only=True)["state"]["step"] == 1


def test_patience_stops_a_run_that_does_not_improve(tmp_path, sets):
    # Accuracy cannot rise above its start in a handful of steps: the second epoch is no better.
    _run(dataclasses.replace(TINY, patience=1, max_examples=800), tmp_path, sets)
    assert len(_log(tmp_path)) == 2
    assert torch.load(tmp_path / "model.pt", weights_only=True)["stop_reason"] == "patience"


def test_evaluation_sets_must_match_the_task(tmp_path, sets):
    with pytest.raises(
        ValueError, match="vectors.npz holds eigenvectors with n=2, but this run trains eigenvalues"
    ):
        train(TINY, tmp_path, sets["valid"], {"vectors": sets["vectors"]}, device="cpu")
    with pytest.raises(ValueError, match="test set name 'valid'"):
        train(TINY, tmp_path, sets["valid"], {"valid": sets["valid"]}, device="cpu")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        train(TINY, tmp_path, tmp_path / "missing.npz", device="cpu")


def test_fp16_needs_cuda(tmp_path, sets):
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        _run(dataclasses.replace(TINY, precision="fp16"), tmp_path, sets)


def test_learning_rate_schedules():
    cfg = RunConfig(task="eigenvalues", lr=1.0, warmup=10, lr_min=0.0, cosine_steps=None)
    assert learning_rate(cfg, 0, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 9, 100) == pytest.approx(1.0)
    assert learning_rate(cfg, 10, 100) == pytest.approx(1.0)
    assert learning_rate(cfg, 55, 100) == pytest.approx(0.5)
    assert learning_rate(cfg, 100, 100) == pytest.approx(0.0)
    invsqrt = dataclasses.replace(cfg, schedule="invsqrt")
    assert learning_rate(invsqrt, 10, 100) == pytest.approx(1.0)
    assert learning_rate(invsqrt, 40, 100) == pytest.approx(0.5)
    assert learning_rate(dataclasses.replace(cfg, schedule="constant"), 99, 100) == 1.0
    assert learning_rate(dataclasses.replace(cfg, warmup=0), 0, 100) == 1.0


def test_the_papers_cosine_has_a_period_and_a_floor():
    # The authors' eigen-task schedule: 1e-4 to 1e-5 over 4M steps after 10k warm-up steps.
    cfg = RunConfig(task="eigenvalues")
    assert (cfg.lr, cfg.lr_min, cfg.cosine_steps, cfg.warmup) == (1e-4, 1e-5, 4_000_000, 10_000)
    budget = 10**9  # the period, not the budget, sets the pace
    assert learning_rate(cfg, 10_000, budget) == pytest.approx(1e-4)
    assert learning_rate(cfg, 10_000 + 2_000_000, budget) == pytest.approx(5.5e-5)
    assert learning_rate(cfg, 10_000 + 4_000_000, budget) == pytest.approx(1e-5)
    assert learning_rate(cfg, 10_000 + 9_000_000, budget) == pytest.approx(1e-5)


def _saved_model(cfg: RunConfig, path, seed: int = 1):
    torch.manual_seed(seed)
    model = Seq2Seq(ModelConfig.of_run(cfg))
    save_model_file(model_file_contents(model, cfg, cfg.vocabulary()), path)
    return model


def test_init_from_a_smaller_n_copies_every_weight_and_extends_the_position_tables(tmp_path):
    small = dataclasses.replace(TINY, task="inversion", n=2)
    large = dataclasses.replace(small, n=3)
    source = _saved_model(small, tmp_path / "small.pt").state_dict()
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig.of_run(large))
    fresh = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    initialise_from(model, tmp_path / "small.pt")
    for name, tensor in model.state_dict().items():
        if name in POSITION_TABLES:
            rows = len(source[name])
            assert rows < len(tensor), name  # 3x3 sequences are longer
            assert torch.equal(tensor[:rows], source[name]) and torch.equal(tensor[rows:], fresh[name][rows:])
        else:
            assert torch.equal(tensor, source[name]), name


def test_init_from_another_architecture_is_refused_naming_the_tensor(tmp_path):
    _saved_model(dataclasses.replace(TINY, enc_dim=64), tmp_path / "wide.pt")
    model = Seq2Seq(ModelConfig.of_run(TINY))
    with pytest.raises(
        ValueError, match=r"init_from .*wide\.pt: encoder\..* has shape \(.*64.*\), this run's \(.*32.*\)"
    ):
        initialise_from(model, tmp_path / "wide.pt")
    with pytest.raises(ValueError, match=r"model file not found: .*missing\.pt"):
        initialise_from(model, tmp_path / "missing.pt")


def test_a_run_initialised_from_a_model_starts_where_that_model_ended(finished_run, tmp_path, sets):
    # One step at a negligible learning rate: the weights stay the source's.
    cfg = dataclasses.replace(
        TINY,
        init_from=str(finished_run / "model.pt"),
        lr=1e-12,
        warmup=0,
        schedule="constant",
        max_examples=8,
    )
    _run(cfg, tmp_path, sets)
    started = _weights(tmp_path / "model.pt")
    for name, tensor in _weights(finished_run / "model.pt").items():
        torch.testing.assert_close(started[name], tensor, rtol=0, atol=1e-9)
    assert load_model(tmp_path / "model.pt").run_config.init_from == str(finished_run / "model.pt")


def test_the_compiled_training_loss_is_one_graph():
    """torch.compile traces the step's forward and loss without a break: a break is where the host
    would wait for the device (the look for PAD in a batch once was one), and CUDA graphs need none."""
    step = TrainStep(Seq2Seq(ModelConfig.of_run(TINY)), TINY, torch.device("cpu"), "fp32")
    src, tgt = TrainingStream.of_run(TINY).batch(0)
    explained = torch._dynamo.explain(step.loss)(src, tgt)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
