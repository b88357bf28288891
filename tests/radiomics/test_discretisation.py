"""Discretisation (IBSI fixed bin number / fixed bin size)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dcemets import make_image
from dcemets.radiomics import discretise


def test_fixed_bin_number_formula():
    img = np.array([[[0.0, 1.0, 2.0, 3.0, 4.0]]])
    lev = discretise(img, img >= 0, bin_count=4)
    # floor(4 * x / 4) + 1, maximum mapped to 4
    np.testing.assert_array_equal(lev, [[[1, 2, 3, 4, 4]]])


def test_fixed_bin_size_formula_and_min_value():
    img = np.array([[[1.0, 1.9, 2.0, 3.5, 7.0]]])
    np.testing.assert_array_equal(discretise(img, img > 0, bin_width=1.0), [[[1, 1, 2, 3, 7]]])
    np.testing.assert_array_equal(discretise(img, img > 0, bin_width=2.0, min_value=0.0), [[[1, 1, 2, 2, 4]]])


def test_outside_roi_is_zero_and_default_is_32_bins():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(5, 6, 7))
    mask = img > 0
    lev = discretise(img, mask)
    assert (lev[~mask] == 0).all()
    assert lev[mask].min() == 1
    assert lev[mask].max() == 32


def test_constant_roi_gets_level_one():
    lev = discretise(np.full((2, 2, 2), 3.0), np.ones((2, 2, 2), bool), bin_count=16)
    assert (lev == 1).all()


def test_dataarray_round_trip():
    img = make_image(np.arange(24.0).reshape(2, 3, 4), spacing=(0.5, 0.5, 2.0))
    lev = discretise(img, img > 5, bin_count=3)
    assert lev.dims == ("z", "y", "x")
    assert lev.attrs["spacing_mm"] == [0.5, 0.5, 2.0]
    assert "fixed bin number 3" in lev.attrs["method"]
    np.testing.assert_array_equal(lev.values, discretise(img.values, img.values > 5, bin_count=3))


@settings(max_examples=60, deadline=None)
@given(
    v=hnp.arrays(np.float64, st.integers(2, 200), elements=st.floats(-1e4, 1e4, allow_nan=False)),
    n=st.integers(2, 64),
)
def test_fixed_bin_number_matches_pyradiomics_histogram_edges_except_at_edges(v, n):
    """PyRadiomics binCount digitises against numpy.histogram edges; they agree except rounding."""
    if np.ptp(v) == 0:
        return
    img = v[None, None, :]
    ours = discretise(img, np.ones(img.shape, bool), bin_count=n)[0, 0]
    edges = np.histogram(v, n)[1]
    edges[-1] += 1
    theirs = np.digitize(v, edges)
    differ = ours != theirs
    assert (np.abs(ours - theirs) <= 1).all()
    if differ.any():  # only values within rounding of an interior edge
        dist = np.min(np.abs(v[differ, None] - edges[None, 1:-1]), axis=1)
        assert (dist <= 1e-9 * max(1.0, np.abs(v).max())).all()
    assert ours.min() == 1
    assert ours.max() == n


def test_nan_policy():
    img = np.array([[[1.0, np.nan, 3.0]]])
    with pytest.raises(ValueError, match="NaN"):
        discretise(img, np.ones(img.shape, bool))
    lev = discretise(img, np.ones(img.shape, bool), bin_count=2, nan_policy="omit")
    np.testing.assert_array_equal(lev, [[[1, 0, 2]]])
    with pytest.raises(ValueError, match="every voxel"):
        discretise(np.full((1, 1, 2), np.nan), np.ones((1, 1, 2), bool), nan_policy="omit")
