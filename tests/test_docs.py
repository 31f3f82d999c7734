"""The README's command blocks marked runnable work as written, in an empty folder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pipeline_runs import ROOT, tool_env

MARKER = "<!-- runnable"


def runnable_blocks(path: Path) -> list[str]:
    """The fenced blocks that follow a `<!-- runnable ... -->` line."""
    text = path.read_text()
    return re.findall(re.escape(MARKER) + r"[^\n]*\n```[^\n]*\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
@pytest.mark.parametrize("document", ["README.md"])
def test_runnable_blocks_run_as_written(document, tmp_path):
    blocks = runnable_blocks(ROOT / document)
    assert blocks, f"{document} marks no runnable block"
    for block in blocks:
        script = "set -e\n" + block.replace("\\\n", " ")
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=tool_env(), capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{document} block failed:\n{block}\n{result.stderr[-3000:]}"
