"""What the CLI tests share: a small data set's command, and how a one-line error must look."""

from __future__ import annotations

from pathlib import Path


def small_set_command(path: Path) -> list[str]:
    """`mathformer generate` of 16 2x2 eigenvalue problems of seed 3 into `path`."""
    return ["generate", "--task", "eigenvalues", "--n", "2", "--size", "16", "--seed", "3", "-o", str(path)]


def assert_one_error_line(status: int, lines: list[str], fragment: str, expected_status: int = 1) -> None:
    """The status, and the reason as the only error line, last (progress lines may come before it):
    no traceback, and the file the user asked for, never its temporary."""
    assert status == expected_status
    assert [line for line in lines if "error: " in line] == lines[-1:], lines
    assert lines[-1].startswith("mathformer") and fragment in lines[-1], lines[-1]
    assert not any("Traceback" in line for line in lines)
    assert ".tmp" not in lines[-1]
