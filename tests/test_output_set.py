"""An analysis's files appear together or not at all: a failure, a full disk or a rival analysis
never leaves new tables beside old figures, a half-written file, or a lost caption."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import synthetic_results as synthetic
from mathformer import cli
from mathformer.analysis import catalogue, output_set
from mathformer.analysis.roughly_right import roughly_right
from mathformer.formats.atomic import STAGING_PREFIX
from mathformer.formats.figure_index import FIGURE_INDEX, read_figure_captions


def _set_files(results: Path, analysis: str) -> list[Path]:
    return [results / path for _, path, _ in catalogue.files(analysis)]


def _snapshot(results: Path, analysis: str) -> dict[Path, tuple[int, bytes]]:
    """Each file of the set and the table of figures: its inode (a replaced file has a new one) and bytes."""
    paths = [*_set_files(results, analysis), results / "figures" / FIGURE_INDEX]
    return {path: (path.stat().st_ino, path.read_bytes()) for path in paths}


def _staging_folders(results: Path) -> list[Path]:
    return [path for path in results.iterdir() if path.name.startswith(STAGING_PREFIX)]


def _predictions(folder: Path) -> tuple[Path, Path]:
    """Two eigenvector runs whose tables and figures differ."""
    first, _ = synthetic.eigenvector_predictions(count=200, n=3)
    second, _ = synthetic.eigenvector_predictions(count=150, n=3, broken_share=0.5, seed=1)
    return (
        synthetic.write_table(first, folder / "first.parquet", "eigenvectors", 3),
        synthetic.write_table(second, folder / "second.parquet", "eigenvectors", 3),
    )


def _fail_drawing(monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ValueError("the figure cannot be drawn")

    monkeypatch.setattr("mathformer.analysis.roughly_right.roughly_right_figure", broken)


def _fail_saving(monkeypatch) -> None:
    # The table and the PDF are staged by then: the last file of the set fails.
    save = output_set.save_figure

    def full(figure, path):
        if path.suffix == ".png":
            raise OSError(28, "No space left on device")
        return save(figure, path)

    monkeypatch.setattr(output_set, "save_figure", full)


@pytest.mark.parametrize(
    ("fail", "message"),
    [
        (_fail_drawing, "the figure cannot be drawn"),
        (_fail_saving, "figures/roughly_right.png: No space left on device; nothing under"),
    ],
)
def test_an_analysis_that_fails_changes_no_file_of_its_set(tmp_path, capsys, monkeypatch, fail, message):
    first, second = _predictions(tmp_path)
    results = tmp_path / "results"
    assert cli.main(["analyse", "roughly-right", "--run", f"eig={first}", "--out", str(results)]) == 0
    before = _snapshot(results, "roughly_right")
    fail(monkeypatch)
    capsys.readouterr()
    assert cli.main(["analyse", "roughly-right", "--run", f"eig={second}", "--out", str(results)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mathformer: error")]
    assert len(errors) == 1 and message in errors[0], errors
    assert STAGING_PREFIX not in errors[0]  # the file of the results folder, not the staged one
    assert _snapshot(results, "roughly_right") == before
    assert not _staging_folders(results)


def test_a_finished_analysis_replaces_its_whole_set(tmp_path):
    first, second = _predictions(tmp_path)
    results = tmp_path / "results"
    assert cli.main(["analyse", "roughly-right", "--run", f"a={first}", "--out", str(results)]) == 0
    before = _snapshot(results, "roughly_right")
    assert cli.main(["analyse", "roughly-right", "--run", f"b={second}", "--out", str(results)]) == 0
    after = _snapshot(results, "roughly_right")
    for path in _set_files(results, "roughly_right"):
        assert after[path][0] != before[path][0], path  # every file of the set is new
        assert after[path][1] != before[path][1], path
    assert "b = eigenvectors 3x3" in read_figure_captions(results / "figures")["roughly_right"]
    assert pd.read_csv(results / "tables" / "roughly_right.csv")["run"].unique().tolist() == ["b"]
    assert not _staging_folders(results)


def test_a_commit_that_stops_halfway_leaves_files_missing_never_old_beside_new(tmp_path, capsys, monkeypatch):
    first, second = _predictions(tmp_path)
    results = tmp_path / "results"
    assert cli.main(["analyse", "roughly-right", "--run", f"eig={first}", "--out", str(results)]) == 0
    before = _snapshot(results, "roughly_right")
    replace, moved = os.replace, []

    def stop_after_two(source, target):
        if STAGING_PREFIX in str(target):  # staging a table: not yet the commit
            return replace(source, target)
        if len(moved) == 2:
            raise OSError(5, "Input/output error")
        moved.append(Path(target))
        replace(source, target)

    monkeypatch.setattr(output_set.os, "replace", stop_after_two)
    capsys.readouterr()
    assert cli.main(["analyse", "roughly-right", "--run", f"eig={second}", "--out", str(results)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"mathformer: error: cannot put the new files in place under {results}: Input/output error; "
        "some of them are missing there: run the command again"
    )
    assert moved[0] == results / "figures" / FIGURE_INDEX  # the captions first, then the files
    for path in _set_files(results, "roughly_right"):
        # New, or missing: never the old file.
        assert path in moved or not path.exists(), path
        assert not path.exists() or path.stat().st_ino != before[path][0], path


def test_a_set_missing_one_of_its_files_is_not_put_in_place(tmp_path):
    results = tmp_path / "results"
    with pytest.raises(ValueError, match="wrote no seed_spread"):
        with output_set.output_set(results, "training") as outputs:
            outputs.table(catalogue.TRAINING, pd.DataFrame({"run": ["a"]}), "caption")
    assert list(results.iterdir()) == []
    with pytest.raises(ValueError, match="'roc_curves' is not an output of this analysis"):
        with output_set.output_set(results, "training") as outputs:
            outputs.figure(catalogue.ROC_CURVES, Figure(), "caption")


def _commit_figures(folder: Path, analysis: str, rounds: int) -> None:
    """Commit every output of `analysis` (tiny figures, one-row tables), `rounds` times."""
    for number in range(rounds):
        with output_set.output_set(folder, analysis) as outputs:
            for output in catalogue.OUTPUTS[analysis]:
                if output.kind == "table":
                    outputs.table(output, pd.DataFrame({"round": [number]}), "caption")
                else:
                    outputs.figure(output, Figure(figsize=(1, 1)), f"{output.name} round {number}")


def test_analyses_committing_at_once_lose_no_caption(tmp_path):
    # Snakemake runs the analyses side by side; each writes its captions into the same README.md.
    context = multiprocessing.get_context("fork")
    analyses = ("roughly_right", "predictability", "ood")
    writers = [context.Process(target=_commit_figures, args=(tmp_path, name, 4)) for name in analyses]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    names = [name for analysis in analyses for name in catalogue.names(analysis, "figure")]
    assert read_figure_captions(tmp_path / "figures") == {name: f"{name} round 3" for name in names}


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (mounting one needs root: skipped otherwise), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _pages(size: int) -> int:
    return -(-size // 4096) * 4096


def test_a_full_disk_while_saving_a_pdf_is_one_line_and_changes_nothing(tmp_path, small_disk):
    table, _ = synthetic.eigenvector_predictions(count=200)
    predictions = synthetic.write_table(table, tmp_path / "eigvec.parquet", "eigenvectors", 3)
    results = small_disk / "results"
    roughly_right({"eigvec": predictions}, results)
    before = _snapshot(results, "roughly_right")
    # Room for the staged tables and half the PDF: the disk runs out while matplotlib writes it.
    tables = sum(_pages(path.stat().st_size) for path in (results / "tables").iterdir())
    room = tables + _pages((results / "figures" / "roughly_right.pdf").stat().st_size // 2)
    stats = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - room))
    command = ["analyse", "roughly-right", "--run", f"eigvec={predictions}", "--out", str(results)]
    done = subprocess.run([sys.executable, "-m", "mathformer.cli", *command], capture_output=True, text=True)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if not line.startswith("mathformer analyse:")]
    assert errors == [
        f"mathformer: error: cannot write {results}/figures/roughly_right.pdf: No space left on device; "
        f"nothing under {results} was changed"
    ], done.stderr
    assert _snapshot(results, "roughly_right") == before
    assert not _staging_folders(results)
