"""Tests of find_seed and region_grow."""

from __future__ import annotations

import numpy as np
import pytest

from dcemets._conventions import make_image
from dcemets.segmentation import find_seed, region_grow


def _img(a, spacing=(1.0, 1.0, 2.0)):
    return make_image(np.asarray(a, float), spacing=spacing)


def _all(shape):
    return make_image(np.ones(shape, bool), spacing=(1.0, 1.0, 2.0))


def test_stops_at_known_edge():
    # lesion (100) touching weaker enhancing marrow (30): the boundary is the lesion edge
    a = np.zeros((5, 20, 20))
    a[:, 4:16, 2:10] = 30.0
    a[1:4, 6:12, 6:12] = 100.0
    m = region_grow(_img(a), within=_all(a.shape), smoothing_mm=0)
    exp = np.zeros(a.shape, bool)
    exp[1:4, 6:12, 6:12] = True
    np.testing.assert_array_equal(m.values, exp)
    assert m.attrs["lower_threshold"] == pytest.approx(50.0)


def test_half_maximum_boundary_with_smoothing():
    # a blurred edge: the half-maximum boundary stays at the true edge
    a = np.zeros((3, 30, 30))
    a[:, 10:20, 10:20] = 80.0
    m = region_grow(_img(a), within=_all(a.shape), smoothing_mm=1.0).values[1]
    truth = a[1] > 0
    np.testing.assert_array_equal(m[15], truth[15])  # edges are exact ...
    np.testing.assert_array_equal(m[:, 15], truth[:, 15])
    assert not np.any(m & ~truth)
    assert (truth & ~m).sum() <= 4


def test_never_leaves_within():
    a = np.zeros((3, 10, 10))
    a[:, 2:8, 2:8] = 10.0
    within = np.zeros(a.shape, bool)
    within[:, :, :5] = True
    m = region_grow(_img(a), within=make_image(within, spacing=(1.0, 1.0, 2.0)), smoothing_mm=0)
    assert m.values.sum() == 3 * 6 * 3
    assert not np.any(m.values & ~within)


def test_seed_on_smoothed_map_not_on_noisy_maximum():
    a = np.zeros((6, 30, 30))
    a[1:5, 5:15, 5:15] = 50.0  # a broad lesion
    a[3, 25, 25] = 90.0  # a single noisy hot voxel
    img = _img(a)
    assert find_seed(img, within=_all(a.shape), smoothing_mm=0) == (3, 25, 25)
    z, y, x = find_seed(img, within=_all(a.shape), smoothing_mm=2.0)
    assert 1 <= z <= 4
    assert 5 <= y < 15
    assert 5 <= x < 15
    m = region_grow(img, within=_all(a.shape), smoothing_mm=0)
    assert m.values[1:5, 5:15, 5:15].all()
    assert m.values.sum() == 400


def test_fills_necrotic_core():
    a = np.zeros((5, 21, 21))
    zz, yy, xx = np.mgrid[0:5, 0:21, 0:21]
    r = np.hypot(yy - 10, xx - 10)
    a[(r <= 7) & (zz >= 1) & (zz <= 3)] = 60.0
    a[(r <= 3)] = 0.0  # non-enhancing core
    m = region_grow(_img(a), within=_all(a.shape), smoothing_mm=0)
    assert m.values[2][r[2] <= 3].all()
    nofill = region_grow(_img(a), within=_all(a.shape), smoothing_mm=0, fill_holes=False)
    assert not nofill.values[2][r[2] <= 3].any()


def test_confidence_connected_on_noisy_lesion():
    gen = np.random.default_rng(0)
    a = np.zeros((6, 32, 32))
    a[1:5, 8:20, 8:22] = 100.0
    a += gen.normal(0, 5.0, a.shape)
    truth = np.zeros(a.shape, bool)
    truth[1:5, 8:20, 8:22] = True
    m = region_grow(_img(a), within=_all(a.shape), method="confidence", smoothing_mm=0.5).values
    dice = 2 * (m & truth).sum() / (m.sum() + truth.sum())
    assert dice > 0.9


def test_given_seed_and_geometry_kept():
    a = np.zeros((3, 10, 10))
    a[:, 1:3, 1:3] = 5.0
    a[:, 6:9, 6:9] = 10.0
    img = _img(a)
    m = region_grow(img, seed=(1, 2, 2), within=_all(a.shape), smoothing_mm=0)
    assert m.values.sum() == 12
    assert m.attrs["seed_index"] == [1, 2, 2]
    assert m.attrs["affine"] == img.attrs["affine"]
    assert m.dtype == bool


def test_input_not_modified():
    a = np.zeros((3, 10, 10))
    a[:, 2:5, 2:5] = 5.0
    img = _img(a)
    keep = img.copy(deep=True)
    region_grow(img, within=_all(a.shape))
    assert img.identical(keep)


def test_grow_errors():
    a = np.zeros((3, 10, 10))
    img = _img(a)
    w = _all(a.shape)
    with pytest.raises(ValueError, match="`within` is empty"):
        region_grow(img, within=w & False)
    with pytest.raises(ValueError, match="different grids"):
        region_grow(img, within=make_image(np.ones((3, 10, 10), bool), spacing=3.0))
    with pytest.raises(ValueError, match="outside the volume"):
        region_grow(img, within=w, seed=(5, 0, 0))
    wm = w.copy()
    wm[0, 0, 0] = False
    with pytest.raises(ValueError, match="outside `within`"):
        region_grow(img, within=wm, seed=(0, 0, 0))
    with pytest.raises(ValueError, match="fraction"):
        region_grow(img, within=w, fraction=1.5)
    with pytest.raises(ValueError, match="method"):
        region_grow(img, within=w, method="watershed")
    with pytest.raises(TypeError, match="within"):
        region_grow(img, within=np.ones((3, 10, 10), bool))


def test_upper_threshold_excludes_adjacent_vessel():
    # a weakly enhancing lesion (40) touching a vessel (200): the vessel is not lesion
    a = np.zeros((3, 20, 20))
    a[:, 5:15, 3:11] = 40.0
    a[:, 8:12, 11:15] = 200.0
    img, w = _img(a), _all(a.shape)
    m = region_grow(img, seed=(1, 10, 6), within=w, smoothing_mm=0)
    np.testing.assert_array_equal(m.values, a == 40.0)
    assert m.attrs["upper_threshold"] == pytest.approx(80.0)
    leak = region_grow(img, seed=(1, 10, 6), within=w, smoothing_mm=0, upper_factor=np.inf)
    assert leak.values[a == 200.0].all()
    with pytest.raises(ValueError, match="upper_factor"):
        region_grow(img, within=w, upper_factor=0.5)


def test_exclude_blocks_growth_but_enclosed_core_is_filled():
    a = np.zeros((3, 20, 20))
    a[:, 4:16, 4:16] = 50.0
    ex = np.zeros(a.shape, bool)
    ex[:, :, 12:] = True  # a wall: nothing right of column 11 may join
    ex[:, 8:10, 7:9] = True  # an enclosed core
    m = region_grow(
        _img(a),
        seed=(1, 6, 6),
        within=_all(a.shape),
        smoothing_mm=0,
        exclude=make_image(ex, spacing=(1.0, 1.0, 2.0)),
    ).values
    exp = np.zeros(a.shape, bool)
    exp[:, 4:16, 4:12] = True
    np.testing.assert_array_equal(m, exp)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"iterations": 1.5}, TypeError, "iterations"),
        ({"iterations": float("nan")}, TypeError, "iterations"),
        ({"iterations": "4"}, TypeError, "iterations"),
        ({"iterations": -1}, ValueError, "iterations"),
        ({"radius": 0}, ValueError, "radius"),
        ({"radius": -3}, ValueError, "radius"),
        ({"radius": 1.0}, TypeError, "radius"),
        ({"radius": [1, 2]}, TypeError, "radius"),
        ({"background": "fuzz"}, TypeError, "background"),
        ({"background": 1 + 1j}, TypeError, "background"),
        ({"background": [1.0]}, TypeError, "background"),
        ({"background": np.inf}, ValueError, "background"),
        ({"multiplier": "2"}, TypeError, "multiplier"),
    ],
)
def test_grow_parameters_checked_whatever_the_method(kwargs, error, name):
    # the confidence-only parameters are checked by the threshold method too
    a = np.zeros((3, 10, 10))
    a[:, 2:5, 2:5] = 5.0
    img, w = _img(a), _all(a.shape)
    for method in ("threshold", "confidence"):
        with pytest.raises(error, match=f"`{name}`"):
            region_grow(img, within=w, method=method, **kwargs)


def test_grow_confidence_zero_iterations():
    # ConfidenceConnected with 0 re-estimations grows once with the seed neighbourhood's interval
    a = np.zeros((3, 12, 12))
    a[:, 3:9, 3:9] = 10.0
    img, w = _img(a), _all(a.shape)
    m = region_grow(img, within=w, method="confidence", iterations=0, smoothing_mm=0, seed=(1, 5, 5))
    np.testing.assert_array_equal(m.values, a == 10.0)
