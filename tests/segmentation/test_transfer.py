"""Tests of transfer_roi and widen_search_region on hand-made grids."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial import cKDTree

from dcemets._conventions import geometry, index_from_world, make_dce, make_image, world_coordinates
from dcemets.segmentation import transfer_roi, widen_search_region


def _axial(shape=(6, 20, 20), spacing=(1.5, 1.5, 3.0), origin=(-15.0, -15.0, -9.0), direction=None):
    d = None if direction is None else np.asarray(direction).ravel()
    return make_image(np.zeros(shape), spacing=spacing, origin=origin, direction=d)


def _sitk(da):
    g = geometry(da)
    img = sitk.GetImageFromArray(np.asarray(da.values, dtype=np.uint8))
    img.SetOrigin(g.origin)
    img.SetSpacing(g.spacing)
    img.SetDirection(g.direction)
    return img


def test_aligned_grids_exact_voxels(sag_direction):
    # sagittal grid sharing voxel boundaries with the axial one: cells nest exactly
    axial = _axial()
    # sagittal: columns along P (1.5 mm), rows along -S (3 mm), slices along -L (1.5 mm)
    sag_origin = (
        -15.0 + 1.5 * 7,
        -15.0,
        -9.0 + 3.0 * 5,
    )  # L of slice 0 = axial column 7, S of row 0 = top slice
    roi = np.zeros((2, 6, 20), bool)
    roi[0, 1:4, 5:9] = True  # slice 0 -> L index 7; rows 1..3 -> axial z 4..2; cols 5..8 -> axial y 5..8
    roi[1, 2, 6] = True  # slice 1 -> L index 6 (slices run to -L), row 2 -> z 3
    da = make_image(roi, spacing=(1.5, 3.0, 1.5), origin=sag_origin, direction=sag_direction.ravel())
    out = transfer_roi(da, axial).values
    expected = np.zeros(out.shape, bool)
    expected[2:5, 5:9, 7] = True
    expected[3, 6, 6] = True
    np.testing.assert_array_equal(out, expected)


def test_one_slice_outline_between_voxel_centres_is_kept(sag_direction):
    # a 1 mm sagittal slab centred exactly between two axial voxel centres (3 mm pixels)
    axial = _axial(shape=(4, 8, 8), spacing=(3.0, 3.0, 3.0), origin=(0.0, 0.0, 0.0))
    roi = np.ones((1, 4, 6), bool)
    da = make_image(roi, spacing=(3.0, 3.0, 1.0), origin=(4.5, 3.0, 9.0), direction=sag_direction.ravel())
    # nearest-neighbour resampling loses it completely ...
    nn = sitk.Resample(_sitk(da), _sitk(axial), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    assert sitk.GetArrayFromImage(nn).sum() == 0
    # ... the physical-extent transfer does not: L in [4.0, 5.0] mm lies in column 1 (cell [1.5, 4.5])
    # and column 2 (cell [4.5, 7.5]); the rows/slices of the outline are all there
    out = transfer_roi(da, axial).values
    cols = np.flatnonzero(out.any(axis=(0, 1)))
    assert len(cols) >= 1
    assert set(cols.tolist()) <= {1, 2}
    assert out.any(axis=2).sum() == 4 * 6  # 4 rows (S) x 6 columns (P) of the outline


@pytest.mark.parametrize(
    ("sag_rot", "ax_rot"), [((17.0, "z"), (0.0, "z")), ((12.0, "x"), (7.0, "y")), ((-25.0, "y"), (9.0, "z"))]
)
def test_oblique_geometry_sandwich(sag_rot, ax_rot, sag_direction, rot):
    axial = _axial(shape=(10, 30, 30), direction=rot(ax_rot[1], ax_rot[0]))
    r = rot(sag_rot[1], sag_rot[0]) @ sag_direction
    yy, xx = np.mgrid[0:30, 0:30]
    roi = np.zeros((2, 30, 30), bool)
    roi[:, ((yy - 14) / 9.0) ** 2 + ((xx - 15) / 12.0) ** 2 <= 1] = True
    sp = np.array([0.9, 0.9, 3.3])
    origin = -(r @ (np.array([14.5, 14.5, 0.5]) * sp))
    da = make_image(roi, spacing=sp, origin=origin, direction=r.ravel())
    out = transfer_roi(da, axial).values
    # lower bound: every axial voxel whose centre falls inside an outline voxel is marked
    centres = world_coordinates(axial).reshape(-1, 3)
    sidx = np.floor(index_from_world(da, centres) + 0.5).astype(int)
    ok = np.all((sidx >= 0) & (sidx < roi.shape), axis=1)
    inside = np.zeros(len(centres), bool)
    inside[ok] = roi[tuple(sidx[ok].T)]
    inside = inside.reshape(out.shape)
    assert inside.sum() > 50
    assert np.all(out[inside])
    # upper bound: every marked voxel is within the two cells' half-diagonals of an outline voxel
    roi_pts = world_coordinates(da, np.argwhere(roi))
    dist, _ = cKDTree(roi_pts).query(world_coordinates(axial, np.argwhere(out)))
    reach = 0.5 * np.linalg.norm([1.5, 1.5, 3.0]) + 0.5 * np.linalg.norm(sp)
    assert dist.max() <= reach + 1e-9
    # and the transfer is markedly wider than the nearest-neighbour resampling
    assert out.sum() >= inside.sum()


def test_reference_may_be_dce_and_transposed_input():
    axial = _axial(shape=(4, 10, 10))
    dce = make_dce(np.zeros((3, 4, 10, 10)), [0, 1, 2], spacing=(1.5, 1.5, 3.0), origin=(-15.0, -15.0, -9.0))
    roi = make_image(np.ones((1, 2, 2), bool), spacing=1.0, origin=(-10.0, -10.0, -6.0))
    a = transfer_roi(roi, axial)
    b = transfer_roi(roi.transpose("x", "z", "y"), dce.transpose("x", "time", "y", "z"))
    assert a.dims == ("z", "y", "x")
    assert a.dtype == bool
    np.testing.assert_array_equal(a.values, b.values)
    assert a.attrs["affine"] == axial.attrs["affine"]


def test_integer_labels_accepted():
    axial = _axial(shape=(4, 10, 10))
    roi = make_image(np.ones((1, 2, 2), np.uint8), spacing=1.0, origin=(-10.0, -10.0, -6.0))
    assert transfer_roi(roi, axial).any()


def test_input_not_modified():
    axial = _axial(shape=(4, 10, 10))
    arr = np.ones((1, 2, 2), bool)
    roi = make_image(arr, spacing=1.0, origin=(-10.0, -10.0, -6.0))
    before = roi.copy(deep=True)
    transfer_roi(roi, axial)
    assert roi.identical(before)


def test_empty_roi_raises():
    with pytest.raises(ValueError, match="`roi_sagittal` is empty"):
        transfer_roi(make_image(np.zeros((1, 3, 3), bool)), _axial())


def test_roi_outside_volume_raises():
    roi = make_image(np.ones((1, 3, 3), bool), origin=(500.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="does not intersect"):
        transfer_roi(roi, _axial())


def test_frame_of_reference_mismatch_raises():
    roi = make_image(np.ones((1, 3, 3), bool), attrs={"frame_of_reference": "1.2.3"})
    axial = _axial()
    axial.attrs["frame_of_reference"] = "9.9.9"
    with pytest.raises(ValueError, match="frames of reference"):
        transfer_roi(roi, axial)
    axial.attrs["frame_of_reference"] = "1.2.3"
    assert transfer_roi(roi, axial).any()


def test_bad_types_raise():
    with pytest.raises(TypeError, match="roi_sagittal"):
        transfer_roi(np.ones((1, 3, 3), bool), _axial())
    with pytest.raises(TypeError, match="roi_sagittal"):
        transfer_roi(make_image(np.ones((1, 3, 3))), _axial())
    with pytest.raises(TypeError, match="reference"):
        transfer_roi(make_image(np.ones((1, 3, 3), bool)), np.zeros((3, 3, 3)))


# ----------------------------------------------------------------------------- widening
def _mask(shape, boxes):
    m = np.zeros(shape, bool)
    for z, ys, xs in boxes:
        m[z, ys, xs] = True
    return make_image(m)


def test_widen_factor_five_per_slice():
    m = _mask((2, 10, 30), [(0, slice(2, 6), slice(14, 16)), (1, slice(3, 4), slice(10, 13))])
    out = widen_search_region(m).values
    exp = np.zeros(out.shape, bool)
    exp[0, 2:6, 10:20] = True  # width 2 -> 10, centred on 14.5
    exp[1, 3:4, 4:19] = True  # width 3 -> 15, centred on 11
    np.testing.assert_array_equal(out, exp)


def test_widen_factor_one_is_bounding_box_and_y_axis():
    m = _mask((1, 10, 10), [(0, slice(2, 3), slice(2, 3)), (0, slice(5, 6), slice(6, 7))])
    np.testing.assert_array_equal(widen_search_region(m, factor=1.0).values[0, 2:6, 2:7], True)
    assert widen_search_region(m, factor=1.0).values.sum() == 20
    out = widen_search_region(m, factor=2.0, axis="y").values
    assert out[0].any(axis=1).nonzero()[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert out[0].any(axis=0).nonzero()[0].tolist() == [2, 3, 4, 5, 6]


def test_widen_clips_at_border():
    m = _mask((1, 4, 10), [(0, slice(1, 2), slice(0, 2))])
    out = widen_search_region(m).values
    assert out[0, 1].tolist() == [True] * 6 + [False] * 4  # box [-4, 5] clipped to [0, 5]


def test_widen_keeps_geometry_and_errors():
    m = _mask((1, 4, 10), [(0, slice(1, 2), slice(3, 5))])
    assert widen_search_region(m).attrs["affine"] == m.attrs["affine"]
    with pytest.raises(ValueError, match="factor"):
        widen_search_region(m, factor=0.5)
    with pytest.raises(ValueError, match="axis"):
        widen_search_region(m, axis="z")
    with pytest.raises(ValueError, match="empty"):
        widen_search_region(m & False)


def test_widen_min_aspect_uses_millimetres():
    # 2-voxel-wide outline (2 x 2 mm), 10 voxels deep (10 x 3 mm = 30 mm): factor 5 gives 10 voxels
    # (20 mm), min_aspect=1 widens to >= 30 mm: 15 voxels, 16 to stay centred on 19.5
    m = np.zeros((1, 12, 40), bool)
    m[0, 1:11, 19:21] = True
    da = make_image(m, spacing=(2.0, 3.0, 3.0))
    assert widen_search_region(da).values[0, 1].sum() == 10
    out = widen_search_region(da, min_aspect=1.0).values[0]
    assert np.flatnonzero(out[1]).tolist() == list(range(12, 28))
    assert out.any(axis=1).sum() == 10  # depth kept
    # factor wins when it is larger
    assert widen_search_region(da, factor=9.0, min_aspect=1.0).values[0, 1].sum() == 18
    with pytest.raises(ValueError, match="min_aspect"):
        widen_search_region(da, min_aspect=-1.0)


def test_reference_is_validated():
    roi = make_image(np.ones((1, 3, 3), bool), origin=(-3.0, -3.0, 0.0))
    axial = _axial()
    for bad, error in [
        (axial.rename({"x": "col"}), ValueError),  # dims renamed
        (axial.expand_dims(echo=[1]), ValueError),  # an extra dim
        (axial.isel(z=0, drop=True), ValueError),  # 2D
        (axial.astype(complex), TypeError),
        (axial.astype(object), TypeError),
        (axial.astype(str), TypeError),
    ]:
        with pytest.raises(error, match="`reference`"):
            transfer_roi(roi, bad)


def test_reference_dce_or_nan_map_gives_the_same_transfer():
    # only the grid of `reference` is read: the DCE series, a transposed image or a map of
    # NaN on the same grid transfer the outline identically
    roi = make_image(np.ones((1, 3, 3), bool), origin=(-3.0, -3.0, 0.0))
    axial = _axial()
    expected = transfer_roi(roi, axial).values
    dce = make_dce(
        np.zeros((3, *axial.shape)), [0.0, 1.0, 2.0], spacing=(1.5, 1.5, 3.0), origin=(-15.0, -15.0, -9.0)
    )
    nan_map = axial.copy(data=np.full(axial.shape, np.nan))
    for ref in (dce, dce.transpose("x", "time", "z", "y"), nan_map, axial.transpose("x", "y", "z")):
        np.testing.assert_array_equal(transfer_roi(roi, ref).values, expected)
