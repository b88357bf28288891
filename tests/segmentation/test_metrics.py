"""Tests of dice and hausdorff95 (analytic values, invariances)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemets._conventions import make_image
from dcemets.segmentation import dice, hausdorff95


def _m(a, **kw):
    return make_image(np.asarray(a, bool), **kw)


def test_dice_analytic():
    a = np.zeros((2, 4, 4), bool)
    b = a.copy()
    a[:, :2] = True  # 16 voxels
    b[:, 1:3] = True  # 16 voxels, 8 shared
    assert dice(_m(a), _m(b)) == pytest.approx(0.5)
    assert dice(_m(a), _m(a)) == 1.0
    assert dice(_m(a), _m(~a)) == 0.0
    assert dice(_m(a & False), _m(a & False)) == 1.0


def test_hd95_shifted_box_anisotropic_mm():
    # a box shifted by 2 slices of 3 mm: every surface distance is 0, 3 or 6 mm
    a = np.zeros((12, 10, 10), bool)
    b = a.copy()
    a[2:6, 2:8, 2:8] = True
    b[4:8, 2:8, 2:8] = True
    d = hausdorff95(_m(a, spacing=(0.5, 0.5, 3.0)), _m(b, spacing=(0.5, 0.5, 3.0)))
    assert d == pytest.approx(6.0)
    assert hausdorff95(_m(a, spacing=(0.5, 0.5, 3.0)), _m(a, spacing=(0.5, 0.5, 3.0))) == 0.0


def test_hd95_in_world_space_is_rotation_invariant():
    a = np.zeros((6, 12, 12), bool)
    b = a.copy()
    a[1:5, 2:7, 2:7] = True
    b[1:5, 4:9, 3:8] = True
    th = np.deg2rad(33.0)
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1.0]])
    kw = {"spacing": (1.2, 0.8, 2.0)}
    d0 = hausdorff95(_m(a, **kw), _m(b, **kw))
    d1 = hausdorff95(
        _m(a, direction=rot.ravel(), origin=(5, -3, 7), **kw),
        _m(b, direction=rot.ravel(), origin=(5, -3, 7), **kw),
    )
    assert d0 == pytest.approx(d1)
    assert d0 > 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_metric_invariants(seed):
    gen = np.random.default_rng(seed)
    a = gen.random((4, 6, 6)) < 0.4
    b = gen.random((4, 6, 6)) < 0.4
    a[0, 0, 0] = b[0, 0, 0] = True
    ma, mb = _m(a, spacing=(1.0, 1.5, 2.0)), _m(b, spacing=(1.0, 1.5, 2.0))
    dab = dice(ma, mb)
    assert 0.0 <= dab <= 1.0
    assert dab == pytest.approx(dice(mb, ma))
    hab = hausdorff95(ma, mb)
    assert hab >= 0.0
    assert hab == pytest.approx(hausdorff95(mb, ma))


def test_metric_errors():
    a = np.ones((2, 2, 2), bool)
    with pytest.raises(ValueError, match="different grids"):
        dice(_m(a), _m(a, spacing=2.0))
    with pytest.raises(ValueError, match="non-empty"):
        hausdorff95(_m(a), _m(~a))
    with pytest.raises(TypeError, match="`a`"):
        dice(a, _m(a))
