"""The data model of dcemets._conventions: validation, geometry under slicing, world coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemets._conventions import (
    DCE_DIMS,
    SPATIAL_DIMS,
    check_rng,
    check_same_grid,
    check_times,
    coord_values,
    geometry,
    geometry_attrs,
    index_from_world,
    like,
    make_dce,
    make_image,
    output_attrs,
    time_seconds,
    validate_dce,
    validate_image,
    world_coordinates,
)


def _rot(a, b, c):
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx


OBLIQUE = _rot(0.3, -0.2, 0.7)
SPACING = (0.7, 0.9, 3.0)
ORIGIN = (-10.0, 25.0, 100.0)


@pytest.fixture
def dce():
    rng = np.random.default_rng(0)
    return make_dce(
        rng.random((4, 3, 5, 6)), [0.0, 10.0, 21.0, 33.0], spacing=SPACING, origin=ORIGIN, direction=OBLIQUE
    )


@pytest.fixture
def img():
    return make_image(np.zeros((3, 5, 6)), spacing=SPACING, origin=ORIGIN, direction=OBLIQUE)


def _brute_world(k, j, i):
    """World position of voxel (z=k, y=j, x=i) straight from origin + D @ (index * spacing)."""
    return np.asarray(ORIGIN) + OBLIQUE @ (np.array([i, j, k]) * np.asarray(SPACING))


# ------------------------------------------------------------------------------ construction


def test_make_dce_layout(dce):
    assert dce.dims == DCE_DIMS
    assert dce.time.attrs["units"] == "s"
    assert dce.attrs["units"] == "a.u."
    assert dce.attrs["space"] == "LPS"
    np.testing.assert_array_equal(dce.x.values, np.arange(6) * 0.7)
    np.testing.assert_array_equal(dce.z.values, np.arange(3) * 3.0)
    for d in SPATIAL_DIMS:
        assert dce[d].attrs["units"] == "mm"
    aff = np.reshape(dce.attrs["affine"], (4, 4))
    np.testing.assert_array_equal(aff[:3, :3], OBLIQUE)
    np.testing.assert_array_equal(aff[:3, 3], ORIGIN)
    assert dce.attrs["spacing_mm"] == list(SPACING)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values": np.zeros((2, 2))}, "must be 4D"),
        ({"times": [0.0, 1.0]}, "`times` must have 3 values"),
        ({"spacing": (1.0, 0.0, 1.0)}, "`spacing` must be positive"),
        ({"spacing": (1.0, np.nan, 1.0)}, "`spacing` must be finite"),
        ({"origin": (np.inf, 0, 0)}, "`origin` must be finite"),
        ({"direction": np.ones(9)}, "orthonormal"),
        ({"direction": np.eye(2)}, "9 values"),
        ({"direction": np.full(9, np.nan)}, "`direction` must be finite"),
    ],
)
def test_make_dce_errors(kwargs, match):
    args = {"values": np.zeros((3, 1, 2, 2)), "times": [0.0, 1.0, 2.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_dce(args.pop("values"), args.pop("times"), **args)


def test_make_image_errors():
    with pytest.raises(ValueError, match=r"must be 3D"):
        make_image(np.zeros((2, 2)))


# ------------------------------------------------------------------------------ validate_dce


def test_validate_dce_returns_canonical_view(dce):
    shuffled = dce.transpose("x", "time", "y", "z")
    out = validate_dce(shuffled)
    assert out.dims == DCE_DIMS
    assert np.shares_memory(out.values, dce.values)
    xr.testing.assert_identical(out, dce)


@pytest.mark.parametrize(
    ("make_bad", "match"),
    [
        (lambda d: d.isel(time=0), "must have dims"),
        (lambda d: d.rename(x="col"), "must have dims"),
        (lambda d: d.expand_dims(echo=2), "must have dims"),
        (lambda d: d.drop_vars("time"), "needs a `time` coordinate"),
        (lambda d: d.isel(time=[0, 1]), "needs at least 3 frames, got 2"),
        (lambda d: d.assign_coords(time=[0.0, 10.0, 5.0, 20.0]), "strictly increasing"),
        (lambda d: d.assign_coords(time=[0.0, 10.0, 10.0, 20.0]), "strictly increasing"),
        (lambda d: d.assign_coords(time=[0.0, 10.0, np.nan, 20.0]), "`dce.time` must be finite"),
        (lambda d: d.assign_coords(time=["a", "b", "c", "d"]), "must be float seconds"),
        (lambda d: d.where(d.time < 30), r"contains 90 NaN"),
        (lambda d: d.copy(data=np.where(d.values > 0.5, np.inf, d.values)), "NaN or infinite"),
        (lambda d: d.assign_attrs(affine=[np.nan] * 16), "16 finite floats"),
        (lambda d: d.assign_attrs(affine=[1.0] * 9), "16 finite floats"),
        (
            lambda d: d.assign_coords(x=d.x.values * np.array([1, 1, 1, np.nan, 1, 1])),
            "coordinate 'x' must be finite",
        ),
        (lambda d: d.assign_coords(x=[0.0, 1.0, 2.0, 4.0, 5.0, 6.0]), "uniformly spaced"),
        (lambda d: d.assign_coords(y=np.zeros(5)), "uniformly spaced"),
    ],
)
def test_validate_dce_errors(dce, make_bad, match):
    with pytest.raises(ValueError, match=match):
        validate_dce(make_bad(dce))


def test_validate_dce_type_errors(dce):
    with pytest.raises(TypeError, match=r"`dce` must be an xarray.DataArray"):
        validate_dce(dce.values)
    with pytest.raises(TypeError, match=r"must hold numbers"):
        validate_dce(dce.astype(str))
    with pytest.raises(TypeError, match=r"`signal` must be an xarray.DataArray"):
        validate_dce(dce.to_dataset(), name="signal")


def test_validate_dce_options(dce):
    nan = dce.where(dce.time < 30)
    assert validate_dce(nan, allow_nan=True).dims == DCE_DIMS
    assert validate_dce(dce.isel(time=[0, 1]), min_frames=2).sizes["time"] == 2
    with pytest.raises(ValueError, match=r"`myname` needs at least 5 frames"):
        validate_dce(dce, name="myname", min_frames=5)


def test_validate_dce_does_not_compute_dask(dce):
    dask = pytest.importorskip("dask")
    lazy = dce.chunk({"x": 2})

    def forbid(*args, **kwargs):
        raise AssertionError("validate_dce computed a dask array")

    with dask.config.set(scheduler=forbid):
        out = validate_dce(lazy)
        with pytest.raises(AssertionError, match=r"computed"):
            lazy.sum().compute()  # the guard works
    assert out.chunks is not None


def test_validate_image(img):
    assert validate_image(img.transpose("x", "z", "y")).dims == SPATIAL_DIMS
    with pytest.raises(TypeError, match=r"`roi` must be a bool mask"):
        validate_image(img, name="roi", mask=True)
    assert validate_image(img > 0, mask=True).dtype == bool
    with pytest.raises(ValueError, match=r"`image` must have dims"):
        validate_image(img.expand_dims(time=[0.0]))
    with pytest.raises(ValueError, match=r"NaN"):
        validate_image(img.where(img.x > 1))
    assert validate_image(img.where(img.x > 1), allow_nan=True).dims == SPATIAL_DIMS
    with pytest.raises(TypeError, match=r"DataArray"):
        validate_image(np.zeros((2, 2, 2)))


def test_coord_values_match_xarray(img):
    """The fast coordinate read gives what ``da[dim].values`` gives, in every case xarray has."""
    cases = {
        "indexed": img,
        "sliced and reversed": img.isel(x=slice(None, None, -2), z=[2, 0]),
        "no index": img.drop_indexes("y"),
        "no coordinate": img.drop_vars("z"),
    }
    for label, da in cases.items():
        for d in SPATIAL_DIMS:
            np.testing.assert_array_equal(coord_values(da, d), da[d].values, err_msg=f"{label}, {d}")
    dropped = img.drop_indexes("y")
    assert geometry(dropped) == geometry(img)  # geometry reads non-indexed coordinates too


def test_validate_image_canonical_input_is_not_transposed(img):
    assert validate_image(img) is img  # no transpose (and no new object) when already z, y, x
    out = validate_image(img.transpose("x", "y", "z"))
    assert out.dims == SPATIAL_DIMS
    np.testing.assert_array_equal(out.values, img.values)


# ------------------------------------------------------------------------------ geometry


def test_geometry_of_fresh_image(img):
    g = geometry(img)
    assert g.origin == ORIGIN
    assert g.spacing == SPACING
    assert g.direction == tuple(OBLIQUE.ravel())
    assert g.size == (6, 5, 3)
    np.testing.assert_allclose(g.index_to_world() @ [1, 2, 1, 1], [*_brute_world(1, 2, 1), 1.0], atol=1e-12)


def test_geometry_after_crop(img):
    g = geometry(img.isel(x=slice(2, None), y=slice(1, 4), z=slice(1, 2)))
    np.testing.assert_allclose(g.origin, _brute_world(1, 1, 2), atol=1e-12)
    assert g.spacing == SPACING
    assert g.size == (4, 3, 1)  # length-1 z keeps its spacing from attrs["spacing_mm"]


def test_geometry_after_reversal(img):
    g = geometry(img.isel(x=slice(None, None, -1), z=slice(None, None, -1)))
    np.testing.assert_allclose(g.origin, _brute_world(2, 0, 5), atol=1e-12)
    d = np.reshape(g.direction, (3, 3))
    np.testing.assert_allclose(d[:, 0], -OBLIQUE[:, 0], atol=1e-15)
    np.testing.assert_allclose(d[:, 1], OBLIQUE[:, 1], atol=1e-15)
    np.testing.assert_allclose(d[:, 2], -OBLIQUE[:, 2], atol=1e-15)
    assert g.spacing == SPACING


def test_geometry_after_stride(img):
    g = geometry(img.isel(x=slice(1, None, 2)))
    np.testing.assert_allclose(g.spacing, (1.4, 0.9, 3.0), rtol=1e-12)
    np.testing.assert_allclose(g.origin, _brute_world(0, 0, 1), atol=1e-12)


def test_geometry_length_one_axis_without_spacing_attr(img):
    bare = img.isel(x=[3])
    del bare.attrs["spacing_mm"]
    with pytest.raises(ValueError, match=r"length-1 axis 'x'"):
        geometry(bare)
    bare2 = img.copy()
    del bare2.attrs["spacing_mm"]
    assert geometry(bare2).spacing == pytest.approx(SPACING)


def test_geometry_missing_dim(img):
    with pytest.raises(ValueError, match=r"missing 'x'"):
        geometry(img.isel(x=0))
    with pytest.raises(ValueError, match=r"missing 'x'"):
        world_coordinates(img.isel(x=0))


def test_geometry_without_affine_is_identity():
    da = xr.DataArray(np.zeros((2, 2, 2)), dims=SPATIAL_DIMS, coords={d: [0.0, 2.0] for d in SPATIAL_DIMS})
    g = geometry(da)
    assert g.direction == tuple(np.eye(3).ravel())
    assert g.spacing == (2.0, 2.0, 2.0)


# ------------------------------------------------------------------------------ world coordinates


def test_world_coordinates_all_voxels(dce):
    w = world_coordinates(dce)
    assert w.shape == (3, 5, 6, 3)
    for k, j, i in [(0, 0, 0), (2, 4, 5), (1, 3, 2)]:
        np.testing.assert_allclose(w[k, j, i], _brute_world(k, j, i), atol=1e-12)


def test_world_coordinates_indices_match_all(dce):
    w = world_coordinates(dce)
    idx = np.array([[0, 0, 0], [2, 4, 5], [1, 3, 2]])
    np.testing.assert_allclose(world_coordinates(dce, idx), w[idx[:, 0], idx[:, 1], idx[:, 2]], atol=1e-12)
    # fractional index: midway between two voxels
    mid = world_coordinates(dce, [[0.5, 0, 0]])[0]
    np.testing.assert_allclose(mid, 0.5 * (w[0, 0, 0] + w[1, 0, 0]), atol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        world_coordinates(dce, [1, 2, 3])


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 2),
    st.integers(0, 4),
    st.integers(0, 5),
    st.integers(1, 3),
    st.booleans(),
    st.booleans(),
)
def test_slicing_keeps_world_coordinates(z0, y0, x0, step, rev_y, rev_x):
    rng = np.random.default_rng(0)
    d = make_dce(rng.random((3, 3, 5, 6)), [0.0, 1.0, 2.0], spacing=SPACING, origin=ORIGIN, direction=OBLIQUE)
    ysl = slice(None, None, -1) if rev_y else slice(y0, None)
    xsl = slice(None, None, -step) if rev_x else slice(x0, None, step)
    sub = d.isel(z=slice(z0, None), y=ysl, x=xsl)
    full = world_coordinates(d)
    np.testing.assert_allclose(world_coordinates(sub), full[z0:, ysl, xsl], atol=1e-9)
    # the index path (through geometry()) agrees with the coordinate path
    k, j, i = sub.sizes["z"] - 1, sub.sizes["y"] - 1, sub.sizes["x"] - 1
    np.testing.assert_allclose(
        world_coordinates(sub, [[k, j, i]])[0], world_coordinates(sub)[k, j, i], atol=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(*[st.floats(-np.pi, np.pi)] * 3),
    st.tuples(*[st.floats(0.1, 5.0)] * 3),
    st.tuples(*[st.floats(-300, 300)] * 3),
    st.lists(st.tuples(*[st.floats(-5, 15)] * 3), min_size=1, max_size=5),
)
def test_index_from_world_round_trip(ang, spacing, origin, indices):
    im = make_image(np.zeros((4, 5, 6)), spacing=spacing, origin=origin, direction=_rot(*ang))
    idx = np.asarray(indices, dtype=float)
    pts = world_coordinates(im, idx)
    np.testing.assert_allclose(index_from_world(im, pts), idx, atol=1e-8)
    sub = im.isel(x=slice(None, None, -1), y=slice(1, None))
    np.testing.assert_allclose(world_coordinates(sub, index_from_world(sub, pts)), pts, atol=1e-8)


def test_index_from_world_errors(img):
    with pytest.raises(ValueError, match=r"`points` must have shape \(n, 3\)"):
        index_from_world(img, np.zeros((2, 2)))


# ------------------------------------------------------------------------------ grids


def test_check_same_grid(dce, img):
    check_same_grid(dce, img)
    check_same_grid(dce.isel(time=0), img)
    with pytest.raises(ValueError, match=r"`dce` and `mask` are on different grids: sizes"):
        check_same_grid(dce, img.isel(x=slice(1, None)), names=("dce", "mask"))
    shifted = make_image(
        np.zeros((3, 5, 6)), spacing=SPACING, origin=(-10.0, 25.0, 100.01), direction=OBLIQUE
    )
    with pytest.raises(ValueError, match=r"origin"):
        check_same_grid(img, shifted)
    check_same_grid(img, shifted, atol=0.02)
    finer = make_image(np.zeros((3, 5, 6)), spacing=(0.7, 0.9, 2.9), origin=ORIGIN, direction=OBLIQUE)
    with pytest.raises(ValueError, match=r"spacing"):
        check_same_grid(img, finer)
    turned = make_image(np.zeros((3, 5, 6)), spacing=SPACING, origin=ORIGIN)
    with pytest.raises(ValueError, match=r"direction"):
        check_same_grid(img, turned)
    with pytest.raises(ValueError, match=r"different frames of reference"):
        check_same_grid(
            img.assign_attrs(frame_of_reference="1.2"), img.assign_attrs(frame_of_reference="1.3")
        )
    # a flipped view is a different grid (same voxels, other order)
    with pytest.raises(ValueError, match=r"origin|direction"):
        check_same_grid(img, img.isel(x=slice(None, None, -1)))


# ------------------------------------------------------------------------------ helpers


def test_like_and_attrs(dce):
    mask = like(dce, np.ones((3, 5, 6), bool), name="m", units="1", long_name="mask")
    assert mask.dims == SPATIAL_DIMS
    check_same_grid(mask, dce)
    assert mask.attrs["units"] == "1"
    with pytest.raises(ValueError, match=r"expected the template grid"):
        like(dce, np.ones((2, 5, 6)))
    attrs = output_attrs(dce, units="%", long_name="max SE", method="heuristics")
    assert attrs["units"] == "%"
    assert attrs["method"] == "heuristics"
    assert attrs["affine"] == dce.attrs["affine"]
    assert "dcemets_version" in attrs
    assert set(geometry_attrs(dce)) == {"space", "affine", "spacing_mm"}
    g = geometry_attrs(dce)
    g["affine"][0] = 99.0
    assert dce.attrs["affine"][0] != 99.0  # a copy


def test_check_rng():
    assert check_rng(3).random() == np.random.default_rng(3).random()
    gen = np.random.default_rng(1)
    assert check_rng(gen) is gen
    assert isinstance(check_rng(None), np.random.Generator)
    assert isinstance(check_rng(np.random.SeedSequence(2)), np.random.Generator)
    with pytest.raises(ValueError, match=r"non-negative"):
        check_rng(-1)
    with pytest.raises(TypeError, match=r"`rng` must be"):
        check_rng("seed")


# ------------------------------------------------------------------------------ time dtypes (issue 16.6)


def test_make_dce_converts_timedelta_and_datetime_times_to_seconds():
    seconds = np.array([0.0, 1.5, 12.0])
    td = (seconds * 1000).astype("timedelta64[ms]")
    dt = np.datetime64("2024-05-01T10:00:00", "ms") + td
    for times in (td, td.astype("timedelta64[ns]"), dt):
        dce = make_dce(np.ones((3, 1, 1, 1)), times)
        assert dce.time.dtype == np.float64
        np.testing.assert_array_equal(dce.time.values, seconds)
    dt_late = np.datetime64("2024-05-01T10:00:05", "ms") + td  # seconds from the FIRST frame
    np.testing.assert_array_equal(make_dce(np.ones((3, 1, 1, 1)), dt_late).time.values, seconds)
    with pytest.raises(TypeError, match=r"`times` must be real seconds"):
        make_dce(np.ones((3, 1, 1, 1)), seconds + 0j)


def test_validate_dce_converts_time_dtypes_to_seconds(dce):
    seconds = dce.time.values
    td = dce.assign_coords(time=(seconds * 1e9).astype("timedelta64[ns]"))
    out = validate_dce(td)
    assert out.time.dtype == np.float64
    np.testing.assert_allclose(out.time.values, seconds)
    assert out.time.attrs["units"] == "s"
    assert td.time.dtype.kind == "m"  # the input is not modified
    assert np.shares_memory(out.values, dce.values)
    start = np.datetime64("2024-05-01T10:00:00", "ns")
    dt = dce.assign_coords(time=start + (seconds * 1e9).astype("timedelta64[ns]"))
    out = validate_dce(dt.transpose("x", "y", "z", "time"))
    assert out.dims == DCE_DIMS
    np.testing.assert_allclose(out.time.values, seconds)
    assert out.time.attrs["first_frame_datetime"].startswith("2024-05-01T10:00:00")
    nat = td.time.values.copy()
    nat[2] = np.timedelta64("NaT")
    with pytest.raises(ValueError, match=r"`dce.time` must be finite"):
        validate_dce(dce.assign_coords(time=nat))
    with pytest.raises(ValueError, match=r"strictly increasing"):
        validate_dce(dce.assign_coords(time=td.time.values[[0, 2, 1, 3]]))


def test_time_seconds():
    assert time_seconds([0, 2]).dtype == np.float64
    np.testing.assert_array_equal(time_seconds(np.array([0, 250], "timedelta64[ms]")), [0.0, 0.25])
    with pytest.raises(TypeError, match=r"`t` must be real seconds"):
        time_seconds(np.array([1j]), "t")
    with pytest.raises(TypeError, match=r"`t` must be times in seconds"):
        time_seconds(np.array([{}, 1], dtype=object), "t")


def test_complex_images_refused(dce, img):
    """Issue 16.10: complex data were accepted and their imaginary part dropped later."""
    with pytest.raises(TypeError, match=r"`dce` is complex.*np\.abs\(dce\)"):
        validate_dce(dce * (1 + 1j))
    with pytest.raises(TypeError, match=r"`t2w` is complex.*np\.abs\(t2w\)"):
        validate_image(img.astype(np.complex64), name="t2w")
    assert validate_dce(np.abs(dce * (1 + 1j))).dtype == np.float64


def test_world_coordinates_and_index_from_world_errors(img):
    """Issues 16.12/16.13: NaN indices gave NaN positions silently; an ndarray gave an AttributeError."""
    with pytest.raises(ValueError, match=r"`indices` must be finite, got 1 row"):
        world_coordinates(img, [[np.nan, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match=r"`points` must be finite"):
        index_from_world(img, [[np.inf, 0, 0]])
    with pytest.raises(TypeError, match=r"`da` must be an xarray.DataArray or Dataset.*got ndarray"):
        world_coordinates(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match=r"`da` must be an xarray.DataArray or Dataset"):
        world_coordinates(np.zeros((2, 2, 2)), [[0, 0, 0]])
    with pytest.raises(TypeError, match=r"`da` must be an xarray"):
        index_from_world(np.zeros((2, 2, 2)), [[0, 0, 0]])
    with pytest.raises(TypeError, match=r"`da` must be an xarray"):
        geometry(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match=r"`indices` must be numbers"):
        world_coordinates(img, [["a", "b", "c"]])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"spacing": (1.0, 1.0)}, ValueError, r"`spacing` must be a number or 3 numbers .*got shape \(2,\)"),
        ({"spacing": (1.0, 1.0, 1.0, 1.0)}, ValueError, r"`spacing` must be a number or 3 numbers"),
        ({"origin": np.zeros((3, 3))}, ValueError, r"`origin` must be a number or 3 numbers"),
        ({"spacing": "1mm"}, TypeError, r"`spacing` must be a number or 3 numbers"),
        ({"direction": ["a"] * 9}, TypeError, r"`direction` must be 9 numbers"),
    ],
)
def test_make_image_geometry_errors_name_the_argument(kwargs, exc, match):
    """Issue 16.13: spacing=(1, 1) gave a numpy broadcast error."""
    with pytest.raises(exc, match=match):
        make_image(np.zeros((1, 2, 2)), **kwargs)
    assert make_image(np.zeros((1, 2, 2)), spacing=[2.0]).attrs["spacing_mm"] == [2.0, 2.0, 2.0]


# ------------------------------------------------------------- fuzz defects (bad input named)


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([0.0, np.nan, 20.0, 30.0], r"`times` must be finite"),
        ([0.0, np.inf, 20.0, 30.0], r"`times` must be finite"),
        ([0.0, 10.0, 10.0, 30.0], r"`times` must be strictly increasing"),
        ([30.0, 20.0, 10.0, 0.0], r"`times` must be strictly increasing"),
    ],
)
def test_make_dce_refuses_bad_times(times, match):
    with pytest.raises(ValueError, match=match):
        make_dce(np.ones((4, 1, 2, 2)), times)


@pytest.mark.parametrize("maker", ["image", "dce"])
@pytest.mark.parametrize(
    ("values", "error", "match"),
    [
        (np.ones((3, 1, 2, 2), complex), TypeError, r"`values` is complex"),
        (np.ones((3, 1, 2, 2)).astype(str), TypeError, r"`values` must hold numbers"),
        (np.ones((3, 1, 2, 2)).astype(object), TypeError, r"`values` must hold numbers"),
        (np.ones((3, 1, 2, 0)), ValueError, r"`values` must not be empty"),
    ],
)
def test_make_image_and_make_dce_refuse_bad_values(maker, values, error, match):
    def call():
        return make_image(values[0]) if maker == "image" else make_dce(values, [0.0, 1.0, 2.0])

    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("attrs", ["fuzz", [1, 2]])
def test_make_image_and_make_dce_refuse_non_mapping_attrs(attrs):
    with pytest.raises(TypeError, match=r"`attrs` must be a mapping"):
        make_image(np.zeros((1, 2, 2)), attrs=attrs)
    with pytest.raises(TypeError, match=r"`attrs` must be a mapping"):
        make_dce(np.zeros((3, 1, 2, 2)), [0.0, 1.0, 2.0], attrs=attrs)


def test_bool_values_are_fine():
    assert make_image(np.ones((1, 2, 2), bool)).dtype == bool


@pytest.mark.parametrize(
    ("min_frames", "error"), [(0, ValueError), (-3, ValueError), (1.5, TypeError), ("3", TypeError)]
)
def test_validate_dce_checks_min_frames(dce, min_frames, error):
    with pytest.raises(error, match=r"`min_frames`"):
        validate_dce(dce, min_frames=min_frames)


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda d: d.isel(x=slice(0, 0)), r"`t2w` is empty: dimension 'x'"),
        (
            lambda d: d.assign_coords(x=d.x.values * [1, 1, 1, 1, 1, 1.5]),
            r"`t2w`: coordinate 'x' must be uniform",
        ),
        (lambda d: d.assign_attrs(affine=[np.nan] * 16), r"`t2w`.attrs\['affine'\]"),
        (lambda d: d.assign_attrs(spacing_mm="fuzz"), r"`t2w`.attrs\['spacing_mm'\]"),
    ],
)
def test_geometry_errors_name_the_argument(img, corrupt, match):
    with pytest.raises(ValueError, match=match):
        validate_image(corrupt(img), name="t2w")
    with pytest.raises(ValueError, match=match.replace("t2w", "b")):
        check_same_grid(img, corrupt(img))


def test_world_coordinates_checks_da_but_not_its_values(img, dce):
    idx = [[0, 1, 2]]
    nan_map = img.copy(data=np.full(img.shape, np.nan))  # a map outside its mask: fine
    np.testing.assert_array_equal(world_coordinates(nan_map, idx), world_coordinates(img, idx))
    np.testing.assert_allclose(world_coordinates(dce, idx), world_coordinates(dce.isel(time=0), idx))
    for f in (world_coordinates, index_from_world):
        with pytest.raises(TypeError, match=r"`da` is complex"):
            f(img.astype(complex), idx)
        with pytest.raises(TypeError, match=r"`da` must hold numbers"):
            f(img.astype(str), idx)
        with pytest.raises(ValueError, match=r"`da` must be an image .* extra dims \('echo',\)"):
            f(img.expand_dims(echo=[1]), idx)
    with pytest.raises(TypeError, match=r"`indices` must be real numbers"):
        world_coordinates(img, [[1j, 0, 0]])
    with pytest.raises(TypeError, match=r"`points` must be real numbers"):
        index_from_world(img, [[1j, 0, 0]])


def test_check_times():
    np.testing.assert_array_equal(check_times(np.array([0, 5], "timedelta64[s]")), [0.0, 5.0])
    with pytest.raises(ValueError, match=r"`t` needs at least 3 time points, got 2"):
        check_times([0.0, 1.0], "t", min_frames=3)
    with pytest.raises(ValueError, match=r"`t` must be 1D"):
        check_times([[0.0, 1.0]], "t")
    with pytest.raises(TypeError, match=r"`t` must be times in seconds"):
        check_times(np.array(["0", "1"]), "t")  # numeric strings are not times


def test_functions_take_rng_and_warn_on_the_old_random_state():
    """Issue 17 item 7: functions take `rng` (SPEC 7); `random_state` warns for one release."""
    import numpy as np
    import pytest

    from dcemets.evaluation import cross_validate
    from dcemets.segmentation import normalized_cut

    img = np.random.default_rng(1).normal(size=(20, 20))
    region = np.ones((20, 20), bool)
    new = normalized_cut(img, region, rng=3)
    with pytest.warns(FutureWarning, match=r"normalized_cut\(random_state=\.\.\.\) is deprecated"):
        old = normalized_cut(img, region, random_state=3)
    np.testing.assert_array_equal(new, old)
    with pytest.raises(TypeError, match="both `rng` and"):
        normalized_cut(img, region, rng=1, random_state=3)
    from sklearn.linear_model import LogisticRegression

    X = np.arange(20.0).reshape(-1, 1)
    y = np.array([0, 1] * 10)
    a = cross_validate(LogisticRegression(), X, y, cv=2, rng=4)
    with pytest.warns(FutureWarning, match="pass rng="):
        b = cross_validate(LogisticRegression(), X, y, cv=2, random_state=4)
    assert a.per_fold.equals(b.per_fold)
