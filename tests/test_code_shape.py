"""The package stays readable: no module over 600 lines, no function over 80.

ruff's complexity and size rules (C901, PLR0912, PLR0915; see ``pyproject.toml``) bound the
branches and statements; this test bounds what they do not: the length of a module and of a
function (docstring and nested helpers included), counted from the source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

def _sources() -> list[Path]:
    files = [*(ROOT / "hotspot_env").rglob("*.py"), *(ROOT / "app_pages").rglob("*.py"),
             ROOT / "app.py", ROOT / "app_navigation.py"]
    return sorted(p for p in files if "__pycache__" not in p.parts)


def shape_problems(path: Path) -> list[str]:
    """Lines too many in ``path``: the module's, and each function's (nested ones included)."""
    source = path.read_text(encoding="utf-8")
    problems = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_MODULE_LINES:
        problems.append(f"module has {n_lines} lines (> {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{node.name}() has {length} lines (> {MAX_FUNCTION_LINES})")
    return problems


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_and_functions_fit(path):
    problems = shape_problems(path)
    assert not problems, f"{path.relative_to(ROOT).as_posix()}: " + "; ".join(problems)


def test_the_rule_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "long.py"
    path.write_text(f"def f():\n{body}\n")
    assert shape_problems(path) == [f"f() has {MAX_FUNCTION_LINES + 1} lines (> 80)"]
    path.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert shape_problems(path) == [f"module has {MAX_MODULE_LINES + 1} lines (> 600)"]
