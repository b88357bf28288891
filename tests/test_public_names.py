"""Users see only public names (issue 22 item 9).

Doctests, the example gallery, the docs and the README never import a private module
(``dcemets._x`` or ``dcemets.pkg._x``) or a private name: what they show is what a user may
type.  And the functions that need a DataArray say how to make one from a NumPy array.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(
    r"(from\s+dcemets(\.\w+)*\.(_\w+)\s+import)"  # from dcemets._conventions import ...
    r"|(import\s+dcemets(\.\w+)*\.(_\w+))"  # import dcemets.io._dicom
    r"|(from\s+dcemets(\.\w+)*\s+import\s+[^#\n]*\b_[a-z]\w*)"  # from dcemets.x import _private
    r"|(\bdcemets(\.[A-Za-z]\w*)*\._[a-z]\w*)"  # dcemets.kinetics._fit.f(...)
)


def _doctest_lines(path: Path) -> list[str]:
    return [
        ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.lstrip().startswith((">>>", "..."))
    ]


def _sources() -> dict[str, list[str]]:
    out = {}
    for p in sorted((ROOT / "dcemets").rglob("*.py")):
        out[str(p.relative_to(ROOT))] = _doctest_lines(p)
    for p in sorted((ROOT / "examples").glob("*.py")):
        out[str(p.relative_to(ROOT))] = p.read_text(encoding="utf-8").splitlines()
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if p.name == "architecture.md":  # the contributors' map names the private modules on purpose
            continue
        out[str(p.relative_to(ROOT))] = p.read_text(encoding="utf-8").splitlines()
    return out


def test_no_private_imports_in_what_users_read():
    hits = [
        f"{where}:{i + 1}: {line.strip()}"
        for where, lines in _sources().items()
        for i, line in enumerate(lines)
        if PRIVATE.search(line)
    ]
    assert not hits, "private dcemets names shown to users:\n" + "\n".join(hits)


def test_the_scan_catches_a_private_import():
    """The pattern is not vacuous: each form it must reject is rejected."""
    for bad in (
        ">>> from dcemets._conventions import make_dce",
        "import dcemets.io._dicom",
        "from dcemets.kinetics import _fit",
        "x = dcemets.kinetics._fit.varpro(a)",
    ):
        assert PRIVATE.search(bad), bad
    for good in (">>> from dcemets.geometry import make_dce", "from dcemets import kinetics"):
        assert not PRIVATE.search(good), good


@pytest.mark.parametrize(
    "call",
    [
        lambda k, s, v: k.parametric_maps(v),
        lambda k, s, v: k.hotspot_roi(v, within=np.ones(v.shape[1:], bool)),
        lambda k, s, v: s.enhancement_image(v),
        lambda k, s, v: k.fit_tofts(v.reshape(-1, v.shape[0]), np.ones(10)),
    ],
    ids=["parametric_maps", "hotspot_roi", "enhancement_image", "fit_tofts"],
)
def test_a_numpy_volume_is_refused_with_the_way_to_wrap_it(call):
    from dcemets import kinetics, segmentation

    vol = np.full((12, 2, 3, 3), 100.0)
    with pytest.raises(TypeError, match=r"xarray\.DataArray.*\(wrap a NumPy array"):
        call(kinetics, segmentation, vol)


def test_geometry_module_is_the_data_model():
    import dcemets
    from dcemets import geometry

    dce = geometry.make_dce(np.zeros((3, 2, 4, 4)), [0.0, 10.0, 20.0])
    assert geometry.validate_dce(dce).dims == geometry.DCE_DIMS
    assert dcemets.make_dce is geometry.make_dce  # one function under both names
