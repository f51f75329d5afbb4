"""The cleaning package stays pure: stdlib, pandas, numpy, pyarrow, pydantic and loguru only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "worker" / "cleaning"
ALLOWED = {"pandas", "numpy", "pyarrow", "pydantic", "pydantic_core", "loguru"}
MODULES = sorted(PACKAGE.glob("*.py"))


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_module_imports_only_allowed_packages(path: Path) -> None:
    foreign = imported_roots(path) - ALLOWED - set(sys.stdlib_module_names) - {"__future__"}
    assert foreign == set()


def test_package_init_is_only_a_docstring() -> None:
    body = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def test_every_module_opens_with_a_docstring() -> None:
    missing = [p.name for p in MODULES if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert missing == []
