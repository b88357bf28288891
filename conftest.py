"""Repository-wide pytest hooks: doctests that need ``dcemets[dicom]``; deprecated modules.

The examples of :func:`dcemets.io.write_seg` and :func:`dcemets.io.write_parametric_map`
write DICOM objects with highdicom; without it (a plain ``pip install dcemets``) they are
skipped, as the tests that need pydicom are (``pytest.importorskip``).
"""

from __future__ import annotations

import importlib.util

import pytest

NEEDS_DICOM = {"dcemets.io.roi.write_seg", "dcemets.io.roi.write_parametric_map"}

#: Deprecated alias modules (issue 17 renamed them): importing one warns, an error under the
#: suite's ``filterwarnings = error``, so they are not collected for doctests;
#: tests/test_renamed_modules.py imports them under ``pytest.warns``.
collect_ignore = ["dcemets/kinetics/models.py", "dcemets/models/tofts.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the doctests in ``NEEDS_DICOM`` when pydicom or highdicom is not installed."""
    if importlib.util.find_spec("highdicom") is not None and importlib.util.find_spec("pydicom") is not None:
        return
    skip = pytest.mark.skip(reason="needs highdicom and pydicom: pip install 'dcemets[dicom]'")
    for item in items:
        if item.name in NEEDS_DICOM:
            item.add_marker(skip)
