"""Every ``dcemets`` name the benchmarks and examples import exists (a restructuring that moves a
private helper must update them: ``benchmarks/hotspot_guards.py`` once imported a helper from a
module that no longer had it, and failed only when someone ran it)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("examples/**/*.py")])


def _dcemets_imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) of every ``dcemets`` import in `path`, at any depth."""
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "dcemets"
        ):
            out += [(str(node.module), a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "dcemets"]
    return out


def test_scripts_are_found() -> None:
    assert len(SCRIPTS) >= 10  # the glob would pass vacuously if the folders moved


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_imports_resolve(path: Path) -> None:
    missing = []
    for module, name, line in _dcemets_imports(path):
        try:
            mod = importlib.import_module(module)
        except ImportError as err:
            missing.append(f"line {line}: {module} ({err})")
            continue
        if name is not None and name != "*" and not hasattr(mod, name):
            try:  # a submodule imported by name
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"line {line}: {module}.{name}")
    assert not missing, f"{path.name} imports names that do not exist: {missing}"
