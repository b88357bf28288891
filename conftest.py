"""Repository-wide pytest hooks: doctests that need the optional extra ``dcemets[dicom]``.

The examples of :func:`dcemets.io.write_seg` and :func:`dcemets.io.write_parametric_map`
write DICOM objects with highdicom; without it (a plain ``pip install dcemets``) they are
skipped, as the tests that need pydicom are (``pytest.importorskip``).
"""

from __future__ import annotations

import importlib.util

import pytest

NEEDS_DICOM = {"dcemets.io.roi.write_seg", "dcemets.io.roi.write_parametric_map"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the doctests in ``NEEDS_DICOM`` when pydicom or highdicom is not installed."""
    if importlib.util.find_spec("highdicom") is not None and importlib.util.find_spec("pydicom") is not None:
        return
    skip = pytest.mark.skip(reason="needs highdicom and pydicom: pip install 'dcemets[dicom]'")
    for item in items:
        if item.name in NEEDS_DICOM:
            item.add_marker(skip)
