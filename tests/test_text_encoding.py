"""Every text file the project reads or writes names its encoding.

CI runs under an ASCII locale: a bare ``Path.read_text()`` of a UTF-8 document (the
kinetics guide has ``µ``) fails there while passing on a UTF-8 workstation, which is how
a green local run once became a red CI run. This scan makes that class of defect fail
everywhere.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_python_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / line for line in out.splitlines() if line]


def _text_io_without_encoding(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            lines.append(node.lineno)
        elif isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else None
            for k in node.keywords:
                if k.arg == "mode":
                    mode = k.value
            if not (isinstance(mode, ast.Constant) and "b" in str(mode.value)):
                lines.append(node.lineno)
    return lines


def test_the_scan_finds_a_bare_read_text() -> None:
    tree = ast.parse("from pathlib import Path\nPath('a').read_text()\nopen('b')\nopen('c', 'rb')\n")
    assert _text_io_without_encoding(tree) == [2, 3]


def test_all_text_io_names_an_encoding() -> None:
    offenders = []
    for path in _tracked_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n in _text_io_without_encoding(tree)]
    assert not offenders, "text I/O without encoding=: " + ", ".join(sorted(offenders))
