"""Tests of normalized_cut and select_partitions."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dcemets.segmentation import normalized_cut, select_partitions


def _two_tissues(rng=0, noise=0.03):
    gen = np.random.default_rng(rng)
    img = np.zeros((24, 30))
    img[6:18, 8:20] = 1.0  # enhancing block
    return img + gen.normal(0, noise, img.shape)


def test_separates_two_tissues():
    img = _two_tissues()
    lab = normalized_cut(img, np.ones(img.shape, bool), rng=0)
    inner = lab[8:16, 10:18]
    # the block's interior is one partition that appears nowhere in the background
    assert len(np.unique(inner)) == 1
    block = inner[0, 0]
    outside = np.ones(img.shape, bool)
    outside[5:19, 7:21] = False
    assert not np.any(lab[outside] == block)


def test_mri_scale_invariance():
    # the same slice in raw MRI units (offset, x 1000) gives the same partitions
    img = _two_tissues()
    reg = np.ones(img.shape, bool)
    a = normalized_cut(img, reg, rng=3)
    b = normalized_cut(img * 1000.0 + 500.0, reg, rng=3)
    np.testing.assert_array_equal(a, b)


def test_deterministic_with_rng():
    img = _two_tissues(noise=0.2)
    reg = np.ones(img.shape, bool)
    a = normalized_cut(img, reg, rng=7)
    b = normalized_cut(img, reg, rng=7)
    np.testing.assert_array_equal(a, b)


def test_zero_outside_region_and_numbering():
    img = _two_tissues()
    reg = np.zeros(img.shape, bool)
    reg[4:20, 2:28] = True
    lab = normalized_cut(img, reg, rng=0)
    assert np.all(lab[~reg] == 0)
    assert np.all(lab[reg] > 0)
    # labels are 1..K in raster order of first appearance
    vals = lab[reg]
    _, first = np.unique(vals, return_index=True)
    assert np.unique(vals).tolist() == list(range(1, len(first) + 1))
    assert np.all(np.diff(np.sort(first)) > 0)
    assert vals[np.sort(first)].tolist() == list(range(1, len(first) + 1))


def test_non_box_region():
    img = _two_tissues()
    yy, xx = np.mgrid[0:24, 0:30]
    reg = (yy - 12) ** 2 + (xx - 14) ** 2 <= 100
    lab = normalized_cut(img, reg, rng=0)
    assert np.all(lab[~reg] == 0)
    assert np.all(lab[reg] > 0)


def test_constant_slice_single_partition():
    lab = normalized_cut(np.full((10, 10), 5.0), np.ones((10, 10), bool), rng=0)
    assert np.unique(lab).tolist() == [1]


def test_dataarray_in_dataarray_out():
    img = xr.DataArray(_two_tissues(), dims=("y", "x"), attrs={"units": "a.u."})
    lab = normalized_cut(img, np.ones(img.shape, bool), rng=0)
    assert isinstance(lab, xr.DataArray)
    assert lab.dims == ("y", "x")
    assert lab.name == "partitions"


def test_input_not_modified():
    img = _two_tissues()
    keep = img.copy()
    normalized_cut(img, np.ones(img.shape, bool), rng=0)
    np.testing.assert_array_equal(img, keep)


def test_ncut_errors():
    img = np.zeros((5, 5))
    with pytest.raises(ValueError, match="region2d"):
        normalized_cut(img, np.ones((4, 5), bool))
    with pytest.raises(TypeError, match="region2d"):
        normalized_cut(img, np.ones((5, 5)))
    with pytest.raises(ValueError, match="image2d"):
        normalized_cut(np.zeros((2, 5, 5)), np.ones((2, 5, 5), bool))
    bad = img.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        normalized_cut(bad, np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="sigma"):
        normalized_cut(img, np.ones((5, 5), bool), sigma=0)
    with pytest.raises(TypeError, match="image2d"):
        normalized_cut([[0.0]], np.ones((1, 1), bool))


# ----------------------------------------------------------------------------- selection
def test_select_2d():
    labels = np.array([[1, 1, 2, 2], [3, 3, 2, 2], [0, 0, 4, 4]])
    region = np.zeros((3, 4), bool)
    region[1, 1] = True
    region[2, 0] = True  # overlaps only unpartitioned voxels
    region[2, 3] = True
    out = select_partitions(labels, region)
    exp = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]], bool)
    np.testing.assert_array_equal(out, exp)


def test_select_3d_labels_are_per_slice():
    labels = np.array([[[1, 2]], [[1, 2]]])  # label 1 on slice 0 is not label 1 on slice 1
    region = np.array([[[True, False]], [[False, False]]])
    out = select_partitions(labels, region)
    np.testing.assert_array_equal(out, [[[True, False]], [[False, False]]])


def test_select_dataarray_transposed_region():
    labels = xr.DataArray(np.array([[[1, 2], [1, 2]]]), dims=("z", "y", "x"))
    region = xr.DataArray(np.array([[[False, True], [False, False]]]), dims=("z", "y", "x"))
    out = select_partitions(labels, region.transpose("x", "y", "z"))
    assert isinstance(out, xr.DataArray)
    np.testing.assert_array_equal(out.values, [[[False, True], [False, True]]])


def test_select_errors():
    with pytest.raises(TypeError, match="labels"):
        select_partitions(np.zeros((2, 2)), np.zeros((2, 2), bool))
    with pytest.raises(TypeError, match="region"):
        select_partitions(np.zeros((2, 2), int), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        select_partitions(np.zeros((2, 2), int), np.zeros((2, 3), bool))


def test_ncut_region_and_dtype_errors():
    img = np.zeros((5, 5))
    with pytest.raises(ValueError, match="`region2d` is empty"):
        normalized_cut(img, np.zeros((5, 5), bool))
    with pytest.raises(TypeError, match="`image2d` is complex"):
        normalized_cut(img.astype(complex), np.ones((5, 5), bool))
    for dtype in (object, str):
        with pytest.raises(TypeError, match="`image2d` must hold numbers"):
            normalized_cut(img.astype(dtype), np.ones((5, 5), bool))


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n_segments": 2.5}, TypeError, "n_segments"),
        ({"n_segments": True}, TypeError, "n_segments"),
        ({"n_segments": "4"}, TypeError, "n_segments"),
        ({"n_segments": 0}, ValueError, "n_segments"),
        ({"num_cuts": 1.5}, TypeError, "num_cuts"),
        ({"num_cuts": float("nan")}, TypeError, "num_cuts"),
        ({"num_cuts": [1, 2]}, TypeError, "num_cuts"),
        ({"num_cuts": -3}, ValueError, "num_cuts"),
        ({"value_range": (1.0, 0.0)}, ValueError, "value_range"),
        ({"value_range": (0.0,)}, ValueError, "value_range"),
        ({"value_range": "fuzz"}, ValueError, "value_range"),
        ({"value_range": (np.nan, 1.0)}, ValueError, "value_range"),
        ({"value_range": ("a", 1.0)}, TypeError, "value_range"),
        ({"rng": "fuzz"}, TypeError, "rng"),
        ({"rng": 0.5}, TypeError, "rng"),
        ({"rng": -1}, ValueError, "rng"),
        ({"compactness": "fuzz"}, TypeError, "compactness"),
        ({"thresh": True}, TypeError, "thresh"),
    ],
)
def test_ncut_parameter_errors_name_the_parameter(kwargs, error, name):
    img = np.zeros((6, 6))
    img[:, 3:] = 1.0
    with pytest.raises(error, match=f"`{name}`"):
        normalized_cut(img, np.ones((6, 6), bool), **kwargs)


def test_ncut_integer_like_parameters_and_equal_value_range():
    img = _two_tissues()
    reg = np.ones(img.shape, bool)
    a = normalized_cut(img, reg, n_segments=40, num_cuts=10, rng=2)
    b = normalized_cut(img, reg, n_segments=np.int64(40), num_cuts=np.int32(10), rng=np.int64(2))
    np.testing.assert_array_equal(a, b)
    # low == high (a constant image): every pixel scales to 0, one partition
    flat = normalized_cut(np.full((6, 6), 3.0), np.ones((6, 6), bool), value_range=(3.0, 3.0), rng=0)
    assert np.unique(flat).tolist() == [1]
