"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import contextlib
import os
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
