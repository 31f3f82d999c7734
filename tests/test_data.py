"""Datasets on disk and the seeded training stream."""

from __future__ import annotations

import itertools
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mathformer.core.encoding import Vocabulary
from mathformer.core.problems import Problem
from mathformer.engine.stream import BATCHES_PER_CALL, TrainingStream
from mathformer.formats import datasets
from mathformer.formats.datasets import FORMAT_VERSION, generate_dataset, load_dataset, save_dataset

EIGENVALUES = Problem("eigenvalues", n=3)
VOCAB = Vocabulary("FP15", "P1000")


@pytest.mark.parametrize(
    "problem",
    [
        EIGENVALUES,
        Problem("eigenvectors", n=2, spectrum="laplace"),
        Problem("inversion", n=3, law="gaussian"),
    ],
)
def test_round_trip_keeps_problem_arrays_and_seed(tmp_path, problem):
    dataset = generate_dataset(problem, 20, seed=7)
    path = tmp_path / "set.npz"
    save_dataset(dataset, path)
    loaded = load_dataset(path)
    assert loaded.problem == problem
    assert loaded.seed == 7
    np.testing.assert_array_equal(loaded.inputs, dataset.inputs)
    np.testing.assert_array_equal(loaded.targets, dataset.targets)
    assert loaded.targets.shape == (20, *problem.target_shape)
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]  # no temporary file left behind


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    save_dataset(generate_dataset(EIGENVALUES, 50, seed=3), tmp_path / "a.npz")
    save_dataset(generate_dataset(EIGENVALUES, 50, seed=3), tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    other = generate_dataset(EIGENVALUES, 50, seed=4)
    assert not np.array_equal(other.inputs, load_dataset(tmp_path / "a.npz").inputs)


def test_failed_save_leaves_neither_file_nor_temporary(tmp_path, monkeypatch):
    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(datasets.np.lib.format, "write_array", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_dataset(generate_dataset(EIGENVALUES, 5, seed=0), tmp_path / "set.npz")
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_a_file_not_found_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset(tmp_path / "nope.npz")


def test_garbage_file_is_a_one_line_error_naming_it(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match="garbage.npz") as error:
        load_dataset(path)
    assert "\n" not in str(error.value)


def test_truncated_file_is_an_error(tmp_path):
    path = tmp_path / "cut.npz"
    save_dataset(generate_dataset(EIGENVALUES, 50, seed=0), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="cut.npz"):
        load_dataset(path)


def test_npz_without_dataset_fields_is_rejected(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, inputs=np.zeros((2, 3, 3)), format_version=np.array(FORMAT_VERSION))
    with pytest.raises(ValueError, match="missing targets"):
        load_dataset(path)


@pytest.mark.parametrize("version", [None, np.array([2, 2]), np.array("2"), np.array(2.0)])
def test_npz_without_a_scalar_integer_version_is_rejected(tmp_path, version):
    path = tmp_path / "other.npz"
    arrays = {"inputs": np.zeros((2, 3, 3))} | ({} if version is None else {"format_version": version})
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="no scalar integer format_version"):
        load_dataset(path)


def test_other_format_version_is_rejected(tmp_path, monkeypatch):
    path = tmp_path / "future.npz"
    monkeypatch.setattr(datasets, "FORMAT_VERSION", FORMAT_VERSION + 1)
    save_dataset(generate_dataset(EIGENVALUES, 5, seed=0), path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=f"version {FORMAT_VERSION + 1}"):
        load_dataset(path)


def _foreign(tmp_path, **changes) -> Path:
    """A valid set's arrays with `changes`, written by plain numpy (as another tool would)."""
    good = tmp_path / "good.npz"
    save_dataset(generate_dataset(EIGENVALUES, 6, seed=0), good)
    with np.load(good) as archive:
        arrays = {key: archive[key] for key in archive.files}
    path = tmp_path / "foreign.npz"
    np.savez(path, **(arrays | changes))
    return path


def _with_bad_value(row: int, value: float, name: str = "targets") -> np.ndarray:
    values = getattr(generate_dataset(EIGENVALUES, 6, seed=0), name).copy()
    values[row].flat[0] = value
    return values


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"targets": _with_bad_value(3, np.nan)}, "targets hold NaN or infinite values (first in problem 3)"),
        ({"targets": _with_bad_value(0, -np.inf)}, "targets hold NaN or infinite values (first in problem 0)"),
        ({"inputs": _with_bad_value(5, np.inf, "inputs")}, "inputs hold NaN or infinite values (first in problem 5)"),
        ({"targets": np.zeros((6, 3), dtype=np.int64)}, "targets are int64, not floating-point numbers"),
        ({"task": np.array({"task": "eigenvalues"}, dtype=object)}, "task cannot be read (it holds Python objects)"),
        ({"n": np.array([3, 3])}, "n is not a single value of the right type"),
        ({"n": np.array("3")}, "n is not a single value of the right type"),
        ({"task": np.array("determinant")}, "unknown task 'determinant'; allowed: eigenvalues"),
        ({"coeff_range": np.array(np.nan)}, "coeff_range must be a positive finite number, got nan"),
    ],
    ids=["nan-target", "inf-target", "inf-input", "integer-targets", "object-task", "array-n", "text-n",
         "unknown-task", "nan-range"],
)  # fmt: skip
def test_bad_data_is_refused_in_one_line_naming_the_file(tmp_path, changes, message):
    path = _foreign(tmp_path, **changes)
    with pytest.raises(ValueError) as error:
        load_dataset(path)
    text = str(error.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
    assert not any(hint in text for hint in ("allow_pickle", "KeyError", ".tmp"))


def test_an_npy_file_is_not_a_dataset(tmp_path):
    path = tmp_path / "array.npz"
    with path.open("wb") as handle:
        np.save(handle, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"array.npz is not a dataset file: not a readable .npz archive$"):
        load_dataset(path)


def test_written_file_is_a_plain_npz(tmp_path):
    path = tmp_path / "set.npz"
    save_dataset(generate_dataset(EIGENVALUES, 5, seed=0), path)
    with zipfile.ZipFile(path) as archive:
        assert "inputs.npy" in archive.namelist()
    with np.load(path) as archive:
        assert str(archive["task"]) == "eigenvalues"


def test_bad_size_and_seed_are_rejected():
    with pytest.raises(ValueError, match="size"):
        generate_dataset(EIGENVALUES, 0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        generate_dataset(EIGENVALUES, 3, seed=-1)


def _stream(start_batch: int = 0, **kwargs) -> TrainingStream:
    return TrainingStream(EIGENVALUES, VOCAB, batch_size=8, seed=11, start_batch=start_batch, **kwargs)


def _take(batches, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(itertools.islice(batches, count))


def _assert_same(first, second) -> None:
    assert len(first) == len(second)
    for (src_a, tgt_a), (src_b, tgt_b) in zip(first, second):
        assert torch.equal(src_a, src_b) and torch.equal(tgt_a, tgt_b)


def test_stream_batches_are_encoded_problems():
    src, tgt = next(iter(_stream()))
    assert src.dtype == tgt.dtype == torch.int64
    assert src.shape == (8, VOCAB.source_length(EIGENVALUES.input_shape))
    assert tgt.shape == (8, VOCAB.target_length(EIGENVALUES.target_shape))
    values, decoded = VOCAB.decode_target(tgt.numpy(), EIGENVALUES.target_shape)
    assert decoded.all()
    assert (np.diff(values, axis=1) >= 0).all()  # eigenvalues come sorted


def test_iterating_gives_batch_by_batch_across_encoding_calls():
    stream = _stream()
    count = BATCHES_PER_CALL + 3
    _assert_same(_take(iter(stream), count), [stream.batch(index) for index in range(count)])


def test_stream_batches_differ_from_each_other():
    (src_a, _), (src_b, _) = _take(iter(_stream()), 2)
    assert not torch.equal(src_a, src_b)


@pytest.mark.parametrize("workers", [1, 2])
def test_stream_is_the_same_for_any_worker_count(workers):
    in_process = _take(iter(_stream()), 6)
    loader = DataLoader(_stream(), batch_size=None, num_workers=workers)
    _assert_same(in_process, _take(iter(loader), 6))


def test_stream_resumes_from_a_batch_position():
    whole = _take(iter(_stream()), 5)
    _assert_same(whole[3:], _take(iter(_stream(start_batch=3)), 2))
    loader = DataLoader(_stream(start_batch=3), batch_size=None, num_workers=2)
    _assert_same(whole[3:], _take(iter(loader), 2))


def test_stream_from_a_fixed_set_draws_its_rows():
    fixed = generate_dataset(EIGENVALUES, 4, seed=0)
    src, _ = next(iter(_stream(fixed=fixed)))
    allowed = {tuple(row) for row in VOCAB.encode_source(fixed.inputs).tolist()}
    assert {tuple(row) for row in src.tolist()} <= allowed


def test_stream_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        TrainingStream(EIGENVALUES, VOCAB, batch_size=0, seed=0)
    with pytest.raises(ValueError, match="non-negative"):
        TrainingStream(EIGENVALUES, VOCAB, batch_size=4, seed=0, start_batch=-1)


def test_mixed_sizes_draw_one_size_per_batch_deterministically():
    problem = Problem("inversion", n=3)
    vocab = Vocabulary("FP15", "P1000")
    stream = TrainingStream(problem, vocab, batch_size=4, seed=7, sizes=(2, 3))
    batches = list(itertools.islice(iter(stream), 40))
    lengths = {src.shape[1] for src, _ in batches}
    assert lengths == {vocab.source_length((2, 2)), vocab.source_length((3, 3))}
    for (src, tgt), index in zip(batches, range(40)):
        again_src, again_tgt = stream.batch(index)
        assert torch.equal(src, again_src) and torch.equal(tgt, again_tgt)
    with pytest.raises(ValueError, match="mixed sizes need fresh problems"):
        TrainingStream(problem, vocab, 4, 7, fixed=generate_dataset(problem, 8, seed=0), sizes=(2, 3))


def test_dataset_seeds_are_stable_and_distinct():
    identity = ("eigenvalues", "5", "uniform", "10", "laplace", "test")
    # crc32, not Python's per-process salted hash: the same on every machine and run.
    assert datasets.dataset_seed(0, *identity) == zlib.crc32(b"eigenvalues/5/uniform/10/laplace/test")
    assert datasets.dataset_seed(1, *identity) == 2**32 + datasets.dataset_seed(0, *identity)
    others = {datasets.dataset_seed(0, *identity[:-1], role) for role in ("valid", "test", "ood")}
    assert len(others) == 3
    assert datasets.dataset_seed(2**31 - 1, *identity) < 2**63


def test_two_set_training_repeats_a_seeded_pool_in_every_batch():
    # A quarter of each 8-row batch (2 rows) from a pool of 5 problems, the rest fresh.
    stream = _stream(repeated=(5, 0.25))
    pool = {tuple(row) for row in VOCAB.encode_source(stream.pool[0]).tolist()}
    assert len(pool) == 5
    batches = _take(iter(stream), 20)
    for src, _ in batches:
        rows = [tuple(row) for row in src.tolist()]
        assert all(row in pool for row in rows[:2]) and not any(row in pool for row in rows[2:])
    seen = {tuple(row) for src, _ in batches for row in src[:2].tolist()}
    assert seen == pool  # 40 draws from 5: every pool problem comes back, again and again
    # The pool is a function of the seed: another worker, or a resumed run, sees the same one.
    loader = DataLoader(_stream(repeated=(5, 0.25)), batch_size=None, num_workers=2)
    _assert_same(batches[:6], _take(iter(loader), 6))
    assert not np.array_equal(_stream(repeated=(5, 0.25)).pool[0], TrainingStream(
        EIGENVALUES, VOCAB, batch_size=8, seed=12, repeated=(5, 0.25)).pool[0])  # fmt: skip


def test_a_repeated_pool_needs_fresh_problems_of_one_size():
    with pytest.raises(ValueError, match="not with a fixed set or mixed sizes"):
        _stream(repeated=(5, 0.25), fixed=generate_dataset(EIGENVALUES, 4, seed=0))
    with pytest.raises(ValueError, match=r"a share in \(0, 1\), got 5 and 1.0"):
        _stream(repeated=(5, 1.0))
