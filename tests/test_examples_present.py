"""Every public class and function has a doctested Examples section (issue 17 item 8).

The few exempt names need a whole study to show anything; each says where it is shown instead.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = (
    "dcemets.io",
    "dcemets.kinetics",
    "dcemets.simulate",
    "dcemets.segmentation",
    "dcemets.registration",
    "dcemets.radiomics",
    "dcemets.classify",
    "dcemets.models",
    "dcemets.evaluation",
    "dcemets.study",
)

EXEMPT = {
    # take a StudyResult: a doctest would rerun a study each (~15 s); run_study's Example
    # makes one, docs/user_guide/study.md shows them on it, tests/study run them
    "dcemets.study.StudyResult": "run_study's Example returns one",
    "dcemets.study.acquisition_table": "docs/user_guide/study.md",
    "dcemets.study.format_tables": "docs/user_guide/study.md",
    "dcemets.study.make_figures": "docs/user_guide/study.md",
    "dcemets.study.write_report": "docs/user_guide/study.md",
}


def _public() -> list[str]:
    names = []
    for pkg in PACKAGES:
        if pkg == "dcemets.models":
            pytest.importorskip("torch")
        mod = importlib.import_module(pkg)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                names.append(f"{pkg}.{name}")
    return names


def test_every_public_definition_has_examples():
    missing = []
    for full in _public():
        pkg, name = full.rsplit(".", 1)
        doc = inspect.getdoc(getattr(importlib.import_module(pkg), name)) or ""
        if "Examples\n--------" not in doc and full not in EXEMPT:
            missing.append(full)
    assert not missing, f"public definitions without an Examples section: {missing}"


def test_exemptions_are_still_needed():
    """An exempt name that gained Examples (or left the API) leaves the list."""
    public = set(_public())
    for full in EXEMPT:
        assert full in public, f"{full} is no longer public: drop its exemption"
        pkg, name = full.rsplit(".", 1)
        doc = inspect.getdoc(getattr(importlib.import_module(pkg), name)) or ""
        assert "Examples\n--------" not in doc, f"{full} has Examples now: drop its exemption"
