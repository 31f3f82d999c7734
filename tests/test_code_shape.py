"""The package reads as its architecture: every module says what it owns, no function or class
outgrows a screen or two (README "The library")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mathformer"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 200


def _lines(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_each_module_says_what_it_owns_and_stays_small_inside(path):
    tree = ast.parse(path.read_text())
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{path.name} has no docstring saying what it owns"
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert _lines(node) <= MAX_FUNCTION_LINES, f"{node.name} is {_lines(node)} lines"
        elif isinstance(node, ast.ClassDef):
            assert _lines(node) <= MAX_CLASS_LINES, f"class {node.name} is {_lines(node)} lines"
