"""The CUDA path: mixed precision with its scaler, the KV cache on the device, evaluation in the
run's precision, a training step that never waits for the device, the compiled and graphed
training step against the eager one, the greedy step as a CUDA graph against the eager decoder.
Marked `cuda`; they skip without a GPU and run in benchmarks/gpu_check.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mathformer.core.config import RunConfig
from mathformer.core.problems import Problem
from mathformer.engine import search
from mathformer.engine.decoding import decode_test_set
from mathformer.engine.devices import claimed_device
from mathformer.engine.model import ModelConfig, Seq2Seq
from mathformer.engine.model_files import load_model
from mathformer.engine.search import generate
from mathformer.engine.step import TrainStep
from mathformer.engine.stream import TrainingStream
from mathformer.engine.train import train
from mathformer.formats.datasets import generate_dataset, save_dataset
from mathformer.formats.train_log import read_log

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
            generate(model, src, max_len=length).tokens,
            generate(model, src, max_len=length, use_cache=False).tokens,
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


# Every step's loss of a compiled step is within this share of the eager step's, from the same
# weights on the same batches (measured on a CPU: 1.5e-6 after 100 steps in fp32).
COMPILED_LOSS_TOLERANCE = 1e-3


def peaked_model(seed: int, cfg: RunConfig = TINY) -> Seq2Seq:
    """Random weights 20x the training init: peaked next-token distributions, so rows end at
    varied lengths and near-ties (where float noise could flip a token) are rare."""
    torch.manual_seed(seed)
    model = Seq2Seq(ModelConfig.of_run(cfg))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.mul_(20.0)
    return model.cuda().eval()


def eigenvalue_sources(count: int, seed: int) -> torch.Tensor:
    inputs, _ = Problem("eigenvalues", n=3).sample(count, np.random.default_rng(seed))
    return torch.from_numpy(TINY.vocabulary().encode_source(inputs)).cuda()


def fixed_shape_decode(model: Seq2Seq, src: torch.Tensor, max_len: int) -> search.Decoded:
    """The step the graph replays, run eagerly (the same kernels, launched one by one)."""
    source = search._Source(model, src, 1, max_len, use_cache=True, src_may_pad=False)
    fixed = search._Greedy(len(src), max_len, src.device)
    position = torch.zeros(1, dtype=torch.long, device=src.device)
    for _ in range(max_len - 1):
        fixed.step(source, position)
        position.add_(1)
    return fixed.result()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_graphed_greedy_step_decodes_the_eager_tokens(seed):
    model = peaked_model(seed)
    src = eigenvalue_sources(96, seed)
    length = TINY.vocabulary().target_length((3,))
    with torch.inference_mode():
        eager = generate(model, src, length, src_may_pad=False)
        graphed = generate(model, src, length, src_may_pad=False, cuda_graph=True)
        fixed = fixed_shape_decode(model, src, length)
    # The replay runs the kernels of the fixed-shape step (a captured matmul may get another
    # workspace, hence a tolerance), and matches the growing cache (other attention kernels).
    for other, tolerance in ((fixed, 1e-5), (eager, 1e-4)):
        assert torch.equal(graphed.tokens, other.tokens)
        torch.testing.assert_close(graphed.log_probs, other.log_probs, atol=tolerance, rtol=tolerance)


def test_graphed_decoding_of_a_set_in_bf16_equals_eager_decoding():
    """Through decode_test_set, under autocast, with a last batch of another size (a second graph)."""
    model = peaked_model(2)
    inputs, _ = Problem("eigenvalues", n=3).sample(300, np.random.default_rng(2))
    vocab = TINY.vocabulary()
    results = {}
    for graph in (False, True):
        confidence: dict = {}
        values, decoded = decode_test_set(
            model, vocab, inputs, (3,), 1, 128, progress=False, precision="bf16",
            confidence=confidence, cuda_graph=graph,
        )  # fmt: skip
        results[graph] = (values, decoded, confidence)
    (values, decoded, eager_conf), (g_values, g_decoded, graph_conf) = results[False], results[True]
    same = np.isclose(values, g_values, equal_nan=True).all(axis=1) & (decoded == g_decoded)
    assert same.mean() >= 0.99, f"{(~same).sum()} of 300 rows differ"
    close = np.isclose(eager_conf["surprisal"], graph_conf["surprisal"], rtol=0.05, atol=0.05)
    assert close[same].mean() >= 0.99


def test_a_training_step_never_waits_for_the_device():
    """No host-device sync inside a step (torch raises on one in sync debug mode "error"): the host
    queues the next steps while the device computes."""
    # Over 3,072 target tokens a batch, as at the paper's batch: the embedding's backward then takes
    # its sorting path (the one that could read a count back).
    cfg = dataclasses.replace(TINY, batch_size=320)
    model = Seq2Seq(ModelConfig.of_run(cfg)).cuda()
    step = TrainStep(model, cfg, torch.device("cuda"), "bf16")
    batches = iter(TrainingStream.of_run(cfg))
    step(*next(batches), 1e-3)  # the first step allocates the optimizer state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [step(*next(batches), 1e-3) for _ in range(5)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(loss.is_cuda for loss in losses) and torch.isfinite(torch.stack(losses)).all()


def eager_and_compiled_losses(cfg: RunConfig, steps: int) -> tuple[np.ndarray, np.ndarray]:
    runs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = Seq2Seq(ModelConfig.of_run(cfg)).cuda()
        step = TrainStep(model, dataclasses.replace(cfg, compile=compiled), torch.device("cuda"), "fp32")
        batches = iter(TrainingStream.of_run(cfg))
        runs.append(torch.stack([step(*next(batches), cfg.lr) for _ in range(steps)]).cpu().numpy())
    return runs[0], runs[1]


@pytest.mark.parametrize("cuda_graphs", [False, True], ids=["compiled", "compiled-and-graphed"])
def test_the_compiled_training_step_gives_the_eager_losses(cuda_graphs):
    """100 steps from the same weights on the same batches: torch.compile (mode default), and with
    cuda_graphs its reduce-overhead mode (CUDA graphs), each loss within COMPILED_LOSS_TOLERANCE."""
    eager, compiled = eager_and_compiled_losses(dataclasses.replace(TINY, cuda_graphs=cuda_graphs), 100)
    relative = np.abs(compiled - eager) / np.abs(eager)
    assert relative.max() <= COMPILED_LOSS_TOLERANCE, relative.max()
    assert eager[-1] < eager[0]  # it learned something: the comparison is not of two constants


def test_a_run_with_compile_and_cuda_graphs_trains_and_validates_like_an_eager_one(tmp_path, valid):
    """Through train(): the graphed step and the graphed validation decoding end where the eager
    run ends (losses within tolerance, the same validation accuracy within a few matrices)."""
    logs = {}
    for fast in (False, True):
        cfg = dataclasses.replace(TINY, precision="fp32", compile=fast, cuda_graphs=fast)
        train(cfg, tmp_path / str(fast), valid, device="cuda")
        logs[fast] = read_log(tmp_path / str(fast) / "train_log.csv")
    eager, fast = logs[False], logs[True]
    np.testing.assert_allclose(fast["loss"], eager["loss"], rtol=COMPILED_LOSS_TOLERANCE)
    np.testing.assert_allclose(fast["valid_acc_5"], eager["valid_acc_5"], atol=3 / 64)
