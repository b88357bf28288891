"""to_sitk / from_sitk: bit-exact geometry round trips, slicing, frames, errors."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemets._conventions import geometry, make_dce, make_image, world_coordinates
from dcemets.io import from_sitk, to_sitk


def _rotation(a, b, c):
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx


angles = st.floats(-np.pi, np.pi, allow_nan=False)
coords = st.floats(-500, 500, allow_nan=False)
spacings = st.floats(0.05, 10, allow_nan=False)


def _sitk_image(direction, origin, spacing, shape=(3, 4, 5), dtype=np.float32):
    img = sitk.GetImageFromArray(np.arange(np.prod(shape), dtype=dtype).reshape(shape))
    img.SetDirection(tuple(float(v) for v in np.ravel(direction)))
    img.SetOrigin(tuple(origin))
    img.SetSpacing(tuple(spacing))
    return img


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(angles, angles, angles),
    st.tuples(coords, coords, coords),
    st.tuples(spacings, spacings, spacings),
    st.sampled_from([(1, 1, 1), (1, 1, -1), (-1, 1, 1)]),
)
def test_sitk_round_trip_bit_exact(ang, origin, spacing, flip):
    direction = _rotation(*ang) * np.asarray(flip)[None, :]  # includes improper (det -1) frames
    img = _sitk_image(direction, origin, spacing)
    da = from_sitk(img)
    back = to_sitk(da)
    assert back.GetOrigin() == img.GetOrigin()
    assert back.GetSpacing() == img.GetSpacing()
    assert back.GetDirection() == img.GetDirection()
    assert back.GetSize() == img.GetSize()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    # and the voxel world positions agree with SimpleITK's
    pts = world_coordinates(da)
    for ijk in [(0, 0, 0), (4, 3, 2), (1, 2, 1)]:
        np.testing.assert_allclose(
            pts[ijk[2], ijk[1], ijk[0]], img.TransformIndexToPhysicalPoint(ijk), rtol=0, atol=1e-9
        )


@pytest.mark.parametrize("which", ["sagittal", "oblique", "identity"])
def test_named_orientations_round_trip(which, sagittal, oblique):
    direction = {"sagittal": sagittal, "oblique": oblique, "identity": np.eye(3)}[which]
    img = _sitk_image(direction, (-123.456789, 7.1, 1e-3), (0.4883, 0.4883, 4.4))
    back = to_sitk(from_sitk(img))
    assert (back.GetOrigin(), back.GetSpacing(), back.GetDirection()) == (
        img.GetOrigin(),
        img.GetSpacing(),
        img.GetDirection(),
    )


@settings(max_examples=40, deadline=None)
@given(
    st.tuples(angles, angles, angles),
    st.integers(0, 4),
    st.integers(1, 5),
    st.integers(0, 3),
    st.booleans(),
)
def test_sliced_array_lands_where_sitk_says(ang, x0, step, y0, reverse_z):
    img = _sitk_image(_rotation(*ang), (10.0, -20.0, 30.0), (0.7, 0.9, 3.0), shape=(4, 5, 6))
    da = from_sitk(img)
    zsl = slice(None, None, -1) if reverse_z else slice(None)
    sub = da.isel(x=slice(x0, None, step), y=slice(y0, None), z=zsl)
    sub_img = to_sitk(sub)
    # every voxel of the sub-image is at the world position of the same voxel in the original
    arr = sitk.GetArrayFromImage(sub_img)
    np.testing.assert_array_equal(arr, sub.values)
    zs = np.arange(4)[zsl]
    for k, j, i in [(0, 0, 0), (arr.shape[0] - 1, arr.shape[1] - 1, arr.shape[2] - 1)]:
        orig_index = (x0 + i * step, y0 + j, int(zs[k]))
        np.testing.assert_allclose(
            sub_img.TransformIndexToPhysicalPoint((i, j, k)),
            img.TransformIndexToPhysicalPoint(orig_index),
            atol=1e-9,
        )
    np.testing.assert_allclose(
        world_coordinates(sub)[-1, -1, -1],
        sub_img.TransformIndexToPhysicalPoint(tuple(int(s) - 1 for s in sub_img.GetSize())),
        atol=1e-9,
    )


def test_dce_to_frames_and_4d(small_dce):
    frames = to_sitk(small_dce)
    assert isinstance(frames, list)
    assert len(frames) == 4
    g = geometry(small_dce)
    assert frames[2].GetOrigin() == g.origin
    assert frames[2].GetDirection() == g.direction
    np.testing.assert_array_equal(sitk.GetArrayFromImage(frames[2]), small_dce.values[2])
    back = from_sitk(frames, times=small_dce.time.values, attrs=small_dce.attrs)
    xr.testing.assert_identical(back, small_dce)
    four = to_sitk(small_dce, join=True)
    assert four.GetDimension() == 4
    assert four.GetSize() == (6, 5, 3, 4)
    assert four.GetOrigin()[3] == 0.0
    assert four.GetSpacing()[3] == pytest.approx(34.0 / 3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(four), small_dce.values)
    xr.testing.assert_identical(
        from_sitk(four, times=small_dce.time.values, attrs=small_dce.attrs), small_dce
    )


def test_dce_any_dim_order(small_dce):
    shuffled = small_dce.transpose("x", "time", "z", "y")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(to_sitk(shuffled, join=True)), small_dce.values)


def test_mask_becomes_uint8():
    mask = make_image(np.eye(3, dtype=bool)[None])
    img = to_sitk(mask)
    assert img.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), np.eye(3, dtype=np.uint8)[None])


def test_nan_allowed():
    img = make_image(np.array([[[np.nan, 1.0]]]))
    assert np.isnan(sitk.GetArrayFromImage(to_sitk(img))[0, 0, 0])


def test_input_not_modified(small_dce):
    before = small_dce.copy(deep=True)
    to_sitk(small_dce, join=True)
    xr.testing.assert_identical(small_dce, before)


def test_errors():
    with pytest.raises(TypeError, match=r"`da` must be an xarray.DataArray"):
        to_sitk(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match=r"float16"):
        to_sitk(make_image(np.zeros((2, 2, 2), dtype=np.float16)))
    with pytest.raises(ValueError, match=r"dims"):
        to_sitk(xr.DataArray(np.zeros((2, 2)), dims=("y", "x")))
    with pytest.raises(TypeError, match=r"SimpleITK.Image"):
        from_sitk(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"3D or 4D"):
        from_sitk(sitk.Image(3, 3, sitk.sitkFloat32))
    with pytest.raises(ValueError, match=r"components per pixel"):
        from_sitk(sitk.Image([3, 3, 3], sitk.sitkVectorFloat32, 3))
    im = sitk.Image(2, 2, 2, sitk.sitkFloat32)
    with pytest.raises(ValueError, match=r"no frame times"):
        from_sitk([im, im, im])
    with pytest.raises(ValueError, match=r"`times` must have 3 values"):
        from_sitk([im, im, im], times=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"empty"):
        from_sitk([])
    other = sitk.Image(2, 2, 2, sitk.sitkFloat32)
    other.SetOrigin((5.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"`image\[1\]` is not on the grid"):
        from_sitk([im, other], times=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"no frame times"):
        from_sitk(sitk.JoinSeries([im, im]))


def test_dask_input():
    da = pytest.importorskip("dask.array")
    img = make_dce(da.ones((3, 2, 2, 2), chunks=(3, 1, 2, 2)), [0.0, 1.0, 2.0])
    assert len(to_sitk(img)) == 3


def test_from_sitk_checks_times_and_attrs():
    im = sitk.Image(3, 2, 1, sitk.sitkFloat32)
    with pytest.raises(TypeError, match=r"`times` must be a sequence of numbers.*complex"):
        from_sitk([im, im, im], times=np.array([0.0, 10.0, 20.0]) + 0j)
    for attrs in ("fuzz", [1, 2]):
        with pytest.raises(TypeError, match=r"`attrs` must be a mapping"):
            from_sitk(im, attrs=attrs)
