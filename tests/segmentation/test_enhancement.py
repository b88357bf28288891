"""Tests of enhancement_image."""

from __future__ import annotations

import numpy as np
import pytest

from dcemets._conventions import make_dce
from dcemets.segmentation import enhancement_image


def _dce():
    sig = np.full((5, 2, 2, 2), 200.0)
    sig[:2] = 100.0  # two baseline frames at 100 in every voxel ...
    sig[2:, 0, 0, 0] = [250.0, 300.0, 260.0]  # ... one voxel peaks at 300
    sig[2:, 1, 1, 1] = [90.0, 95.0, 99.0]  # one never enhances
    return make_dce(sig, [0.0, 10.0, 20.0, 30.0, 40.0], spacing=(1.0, 1.0, 3.0))


def test_subtraction_values():
    e = enhancement_image(_dce(), n_baseline=2)
    assert e.dims == ("z", "y", "x")
    assert e.attrs["units"] == "a.u."
    assert e.values[0, 0, 0] == 200.0
    assert e.values[1, 1, 1] == -1.0
    assert e.values[0, 1, 0] == 100.0


def test_max_se_values_and_units():
    e = enhancement_image(_dce(), kind="max_se", n_baseline=2)
    assert e.attrs["units"] == "%"
    assert e.values[0, 0, 0] == pytest.approx(200.0)
    assert e.values[1, 1, 1] == pytest.approx(-1.0)


def test_baseline_count_matters():
    # with one baseline frame the second (still unenhanced) frame is "post-contrast"
    assert enhancement_image(_dce(), n_baseline=1).values[0, 0, 0] == 200.0


def test_zero_baseline_relative_is_zero():
    sig = np.zeros((3, 1, 1, 1))
    sig[1:] = 5.0
    e = enhancement_image(make_dce(sig, [0, 1, 2]), kind="max_se")
    assert e.values.item() == 0.0
    assert np.isfinite(e.values).all()


def test_geometry_and_transposed_input():
    dce = _dce()
    a = enhancement_image(dce)
    b = enhancement_image(dce.transpose("x", "y", "time", "z"))
    np.testing.assert_array_equal(a.values, b.values)
    assert a.attrs["affine"] == dce.attrs["affine"]
    assert a.attrs["spacing_mm"] == dce.attrs["spacing_mm"]


def test_errors():
    with pytest.raises(ValueError, match="kind"):
        enhancement_image(_dce(), kind="auc")
    with pytest.raises(ValueError, match="n_baseline"):
        enhancement_image(_dce(), n_baseline=5)
    with pytest.raises(TypeError, match="n_baseline"):
        enhancement_image(_dce(), n_baseline=1.5)
    with pytest.raises(TypeError, match="dce"):
        enhancement_image(np.zeros((3, 2, 2, 2)))
