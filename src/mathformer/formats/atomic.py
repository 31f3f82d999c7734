"""Atomic file writes: a reader sees the old file or the whole new one, never half of it; and a
set of files staged aside and moved into place together."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _naming(error: OSError, target: Path) -> OSError:
    """The same error about `target`: users never see the temporary name (nor a bare full disk)."""
    return OSError(error.errno, os.strerror(error.errno), str(target))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A reader (or Snakemake after a crash) then sees either the old file or the complete new one,
    never half of it. An OSError of the temporary file (a full disk, a read-only folder) names
    `path` instead: writes through open handles report no file name at all.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise _naming(error, target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); outputs should get the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as error:
        if error.errno is None or error.filename not in (None, tmp_name, str(target)):
            raise  # another file's error, or one of our own with a message of its own
        raise _naming(error, target) from None
    finally:
        tmp.unlink(missing_ok=True)


# The hidden folders where a set of files is written before it is moved into place.
STAGING_PREFIX = ".mathformer-staging-"


@contextlib.contextmanager
def staging_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """A hidden folder inside `folder` (the same file system, so moving a file out is a rename),
    removed with whatever is left in it when the block ends."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as err:
        raise OSError(f"cannot write under {out}: {err.strerror or err}") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM arrive once the block is done, not in the middle of it."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def move_into_place(moves: list[tuple[Path, Path]]) -> None:
    """Rename each staged file onto its target, every old target removed first, signals held:
    a process that dies half-way leaves some targets missing, never old files beside new ones."""
    for _, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
    with signals_held():
        try:
            for _, target in moves:
                target.unlink(missing_ok=True)
            for source, target in moves:
                os.replace(source, target)
        except OSError as err:
            folder = os.path.commonpath([str(target.parent) for _, target in moves])
            raise OSError(
                f"cannot put the new files in place under {folder}: {err.strerror or err}; "
                "some of them are missing there: run the command again"
            ) from None
