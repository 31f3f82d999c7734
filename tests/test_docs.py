"""The documents' examples work as written: README command blocks marked runnable, in an empty
folder, and config/README.md's example run rows, which the workflow must accept and plan."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline_runs import ROOT, snakemake, tool_env

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


def example_rows(path: Path) -> list[dict]:
    """The run rows of the ```yaml blocks: a `runs:` mapping or a bare list of rows."""
    rows = []
    for block in re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.S):
        parsed = yaml.safe_load(block)
        rows += parsed["runs"] if isinstance(parsed, dict) else parsed
    return rows


@pytest.mark.slow
def test_config_readme_example_rows_are_runs_the_workflow_plans(tmp_path):
    rows = example_rows(ROOT / "config" / "README.md")
    assert len(rows) >= 3, "config/README.md shows no example rows"
    quick = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    # The rows go beside the quick scale's own (inv3_from_inv2 starts from its inv2).
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"runs": quick["runs"] + rows}))
    result = subprocess.run(
        snakemake("-n", "--nolock", "--configfile", "config/quick.yaml", extra),
        cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for row in rows:
        assert f"results/quick/models/{row['name']}/model.pt" in result.stdout, row["name"]
