"""The CUDA path: mixed precision with its scaler, the KV cache on the device, evaluation in the
run's precision. Marked `cuda`; they skip without a GPU and run in benchmarks/gpu_check.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mathformer.core.config import RunConfig
from mathformer.core.problems import Problem
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.devices import claimed_device
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.model_files import load_model
from mathformer.engine.train import train
from mathformer.formats.datasets import generate_dataset, save_dataset

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TINY = RunConfig(
    task="eigenvalues", n=3, enc_layers=1, dec_layers=1, enc_dim=64, dec_dim=64, enc_heads=4, dec_heads=4,
    batch_size=32, lr=1e-3, warmup=5, epoch_size=320, max_examples=960,
)  # fmt: skip


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    path = tmp_path_factory.mktemp("sets") / "valid.npz"
    save_dataset(generate_dataset(Problem("eigenvalues", n=3), 64, seed=3), path)
    return path


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_training_on_cuda_in_each_precision(tmp_path, valid, precision):
    model_path = train(dataclasses.replace(TINY, precision=precision), tmp_path, valid, device="cuda")
    trained = load_model(model_path, "cuda")
    assert next(trained.model.parameters()).is_cuda
    assert trained.warning is None


def test_cached_decoding_on_cuda_equals_uncached():
    torch.manual_seed(0)
    vocab = TINY.vocabulary()
    model = Seq2Seq(ModelConfig.of_run(TINY)).cuda().eval()
    inputs, _ = Problem("eigenvalues", n=3).sample(64, np.random.default_rng(0))
    src = torch.from_numpy(vocab.encode_source(inputs)).cuda()
    length = vocab.target_length((3,))
    with torch.inference_mode():
        assert torch.equal(
            model.generate(src, max_len=length), model.generate(src, max_len=length, use_cache=False)
        )


def test_decoding_in_bf16_agrees_with_fp32_on_most_rows():
    torch.manual_seed(0)
    vocab = TINY.vocabulary()
    model = Seq2Seq(ModelConfig.of_run(TINY)).cuda().eval()
    inputs, _ = Problem("eigenvalues", n=3).sample(256, np.random.default_rng(1))
    full, _ = decode_test_set(model, vocab, inputs, (3,), 1, 128, progress=False, precision="fp32")
    half, _ = decode_test_set(model, vocab, inputs, (3,), 1, 128, progress=False, precision="bf16")
    same = np.isclose(full, half, equal_nan=True).all(axis=1)
    assert same.mean() > 0.5


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_jobs_on_a_multi_gpu_machine_get_two_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("MATHFORMER_GPU_LOCK_DIR", str(tmp_path))
    with claimed_device("auto") as (first, _), claimed_device("auto") as (second, _):
        assert first.type == second.type == "cuda" and first.index != second.index
