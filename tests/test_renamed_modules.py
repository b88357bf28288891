"""Modules renamed by issue 17 (item 7): the old paths still work for one release, with a warning.

``dcemets.kinetics.models`` -> ``dcemets.kinetics.forward_models`` and ``dcemets.models.tofts``
-> ``dcemets.models.tofts_backend``.  The old module warns once, at the user's import line,
and gives the new module's objects; the entry points of ``pyproject.toml`` name the new
places, and an install whose metadata still names the old one loads the new module without
the warning.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import warnings
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

RENAMED = [
    (
        "dcemets.kinetics.models",
        "dcemets.kinetics.forward_models",
        ["tofts", "patlak", "tcxm", "tcum", "_prepare_aif"],
    ),
    ("dcemets.models.tofts", "dcemets.models.tofts_backend", ["fit_backend", "ExpConv", "BATCH"]),
]


def _needs(module: str) -> None:
    if module.startswith("dcemets.models"):
        pytest.importorskip("torch")


@pytest.mark.parametrize(("old", "new", "names"), RENAMED, ids=[r[0] for r in RENAMED])
def test_old_module_warns_once_and_gives_the_new_objects(old, new, names, monkeypatch):
    _needs(old)
    new_module = importlib.import_module(new)
    monkeypatch.delitem(sys.modules, old, raising=False)  # as in a fresh process
    msg = rf"{re.escape(old)} is deprecated: it was renamed {re.escape(new)}"
    with pytest.warns(DeprecationWarning, match=msg) as record:
        old_module = importlib.import_module(old)
    assert len(record) == 1
    assert record[0].filename == __file__  # the user's import line, not importlib's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module(old) is old_module  # once per process
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name)
    assert old_module.__all__ == new_module.__all__


def test_pyproject_entry_points_name_modules_that_exist_and_do_not_warn():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    values = [*project["scripts"].values()] + [
        v for group in project["entry-points"].values() for v in group.values()
    ]
    assert "dcemets.models.tofts_backend:fit_backend" in values
    for value in values:
        module, attr = value.split(":")
        _needs(module)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert callable(getattr(importlib.import_module(module), attr)), value


def test_stale_entry_point_metadata_loads_the_renamed_backend(monkeypatch):
    """An install older than the rename names ``dcemets.models.tofts``: the new module is loaded."""
    pytest.importorskip("torch")
    from dcemets.kinetics import fitting
    from dcemets.models import tofts_backend

    stale = importlib.metadata.EntryPoint(
        name="torch", value="dcemets.models.tofts:fit_backend", group=fitting.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [stale])
    monkeypatch.delitem(sys.modules, "dcemets.models.tofts", raising=False)
    fitting._load_backend.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            backend = fitting._load_backend("torch")
    finally:
        fitting._load_backend.cache_clear()
    assert backend is tofts_backend.fit_backend
    assert "dcemets.models.tofts" not in sys.modules  # the deprecated alias was not imported
