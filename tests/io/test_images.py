"""read_image / write_image: NIfTI, NRRD, MHA, netCDF round trips; corrupt files; errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import xarray as xr

from dcemets._conventions import geometry, make_image, world_coordinates
from dcemets.io import read_image, write_image

SUFFIXES = [".nii.gz", ".nii", ".nrrd", ".mha", ".nc"]


@pytest.fixture
def t2w(sagittal):
    rng = np.random.default_rng(4)
    return make_image(
        rng.normal(100.0, 20.0, (5, 6, 7)),
        spacing=(0.4883, 0.4883, 4.4),
        origin=(-23.1, -120.7, 88.3),
        direction=sagittal,
        name="t2w",
        attrs={"units": "a.u.", "frame_of_reference": "1.2.3"},
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip(tmp_path, t2w, suffix):
    path = write_image(t2w, tmp_path / f"img{suffix}")
    assert path.exists()
    back = read_image(path)
    assert back.dims == ("z", "y", "x")
    np.testing.assert_array_equal(back.values, t2w.values)
    g, g0 = geometry(back), geometry(t2w)
    # NIfTI stores geometry in float32: ~1e-6 mm; the others keep doubles
    atol = 1e-5 if suffix.startswith(".nii") else 1e-12
    np.testing.assert_allclose(g.origin, g0.origin, atol=atol, rtol=0)
    np.testing.assert_allclose(g.spacing, g0.spacing, atol=atol, rtol=0)
    np.testing.assert_allclose(g.direction, g0.direction, atol=atol, rtol=0)
    if suffix == ".nc":
        xr.testing.assert_identical(back, t2w)
        assert geometry(back) == geometry(t2w)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_mask_round_trip(tmp_path, suffix):
    mask = make_image(np.random.default_rng(0).random((3, 4, 5)) > 0.5, spacing=(1.0, 1.0, 3.0))
    back = read_image(write_image(mask, tmp_path / f"m{suffix}"), mask=True)
    assert back.dtype == bool
    np.testing.assert_array_equal(back.values, mask.values)


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".nc"])
def test_sliced_image_keeps_world_positions(tmp_path, t2w, suffix):
    sub = t2w.isel(z=slice(1, 4), y=slice(None, None, -1), x=slice(2, None, 2))
    back = read_image(write_image(sub, tmp_path / f"sub{suffix}"))
    np.testing.assert_allclose(world_coordinates(back), world_coordinates(sub), atol=1e-4)
    np.testing.assert_allclose(world_coordinates(sub), world_coordinates(t2w)[1:4, ::-1, 2::2], atol=1e-9)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_dtype_kept(tmp_path, dtype):
    img = make_image(np.arange(8, dtype=dtype).reshape(2, 2, 2))
    back = read_image(write_image(img, tmp_path / "a.nrrd"))
    assert back.dtype == dtype


def test_nii_gz_not_shadowed_by_nii(tmp_path):
    a = make_image(np.zeros((2, 2, 2)))
    b = make_image(np.ones((2, 2, 2)))
    write_image(a, tmp_path / "x.nii")
    write_image(b, tmp_path / "x.nii.gz")
    assert float(read_image(tmp_path / "x.nii.gz").max()) == 1.0
    assert float(read_image(tmp_path / "x.nii").max()) == 0.0


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_truncated_file_named(tmp_path, t2w, suffix):
    path = write_image(t2w, tmp_path / f"img{suffix}")
    data = path.read_bytes()
    bad = tmp_path / f"cut{suffix}"
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match=f"cut{suffix}"):
        read_image(bad)


def test_truncated_gzip_inner_nifti(tmp_path, t2w):
    # a complete gzip stream holding a truncated NIfTI
    raw = gzip.decompress(write_image(t2w, tmp_path / "a.nii.gz").read_bytes())
    bad = tmp_path / "short.nii.gz"
    bad.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(ValueError, match=r"short.nii.gz' is truncated"):
        read_image(bad)


def test_garbage_file_named(tmp_path):
    bad = tmp_path / "junk.nii"
    bad.write_bytes(b"hello world" * 50)
    with pytest.raises(ValueError, match=r"junk.nii"):
        read_image(bad)
    bad2 = tmp_path / "junk.xyz"
    bad2.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"junk.xyz"):
        read_image(bad2)
    bad3 = tmp_path / "junk.nc"
    bad3.write_bytes(b"CDF" + b"\x00" * 10)
    with pytest.raises(ValueError, match=r"junk.nc"):
        read_image(bad3)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=r"nope.nii.gz"):
        read_image("/nonexistent/nope.nii.gz")


def test_4d_file_refused(tmp_path, small_dce):
    from dcemets.io import write_dce

    path = write_dce(small_dce, tmp_path / "dce.nii.gz")
    with pytest.raises(ValueError, match=r"read_dce"):
        read_image(path)


def test_write_errors(tmp_path, t2w, small_dce):
    with pytest.raises(ValueError, match=r"image format"):
        write_image(t2w, tmp_path / "img.png.txt")
    with pytest.raises(ValueError, match=r"dims"):
        write_image(small_dce, tmp_path / "img.nii.gz")
    with pytest.raises(TypeError, match=r"DataArray"):
        write_image(t2w.values, tmp_path / "img.nii.gz")
    with pytest.raises(TypeError, match=r"`path`"):
        write_image(t2w, 3)
    bad = t2w.assign_attrs(flag=True)
    with pytest.raises(TypeError, match=r"'flag'"):
        write_image(bad, tmp_path / "img.nc")
    bad = t2w.assign_attrs(meta={"a": 1})
    with pytest.raises(TypeError, match=r"'meta'"):
        write_image(bad, tmp_path / "img.nc")


def test_write_creates_parents_and_keeps_input(tmp_path, t2w):
    before = t2w.copy(deep=True)
    path = write_image(t2w, tmp_path / "a" / "b" / "img.nii.gz")
    assert path.exists()
    xr.testing.assert_identical(t2w, before)


def test_nifti_header_follows_the_standard(tmp_path, t2w):
    # NIfTI-1 (Cox et al. 2004): sform rows map (i, j, k) to RAS mm, i.e. diag(-1, -1, 1) @ LPS
    import struct

    path = write_image(t2w, tmp_path / "img.nii")
    head = path.read_bytes()[:348]
    assert struct.unpack("<i", head[:4])[0] == 348
    (sform_code,) = struct.unpack("<h", head[254:256])
    assert sform_code > 0
    srow = np.array(struct.unpack("<12f", head[280:328])).reshape(3, 4)
    g = geometry(t2w)
    lps = np.asarray(g.direction).reshape(3, 3) * np.asarray(g.spacing)[None, :]
    flip = np.diag([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(srow[:, :3], flip @ lps, atol=1e-5)
    np.testing.assert_allclose(srow[:, 3], flip @ np.asarray(g.origin), atol=1e-4)
    dims = struct.unpack("<8h", head[40:56])
    assert dims[:4] == (3, 7, 6, 5)  # (ndim, nx, ny, nz)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_sidecar_round_trip_identical(tmp_path, t2w, suffix):
    t2w = t2w.assign_attrs(tr_s=3.2, te_s=0.09, long_name="sagittal T2W")
    path = write_image(t2w, tmp_path / f"t2w{suffix}", sidecar=True)
    meta = json.loads((tmp_path / "t2w.json").read_text(encoding="utf-8"))
    assert meta["RepetitionTimeExcitation"] == 3.2
    assert meta["EchoTime"] == 0.09
    back = read_image(path)
    xr.testing.assert_identical(back, t2w)
    assert geometry(back) == geometry(t2w)
    mask = (t2w > 100).rename("roi").assign_attrs(long_name="outline")
    back = read_image(write_image(mask, tmp_path / f"roi{suffix}", sidecar=True))
    xr.testing.assert_identical(back, mask)  # bool restored without mask=True


def test_foreign_sidecar_fields(tmp_path, t2w):
    path = write_image(t2w, tmp_path / "scan.nii.gz")
    (tmp_path / "scan.json").write_text(
        json.dumps({"RepetitionTime": 3.5, "FlipAngle": 90, "Manufacturer": "X"}), encoding="utf-8"
    )
    back = read_image(path)
    assert back.attrs["tr_s"] == 3.5
    assert back.attrs["flip_angle_deg"] == 90.0
    np.testing.assert_allclose(geometry(back).origin, geometry(t2w).origin, atol=1e-5)
    (tmp_path / "scan.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"scan\.json' must hold an object"):
        read_image(path)


def test_multi_member_gzip_nifti(tmp_path, t2w):
    # pigz/cat-style gzip with two members: the trailer holds only the last member's size
    raw = (write_image(t2w, tmp_path / "a.nii")).read_bytes()
    two = tmp_path / "two.nii.gz"
    two.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    np.testing.assert_array_equal(read_image(two).values, t2w.values)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:-8]))
    with pytest.raises(ValueError, match=r"cut\.nii\.gz' is truncated"):
        read_image(cut)


def test_unreadable_sidecar_field_names_field_and_file(tmp_path, t2w):
    """Issue 16.13: a non-numeric acquisition field is reported, not dropped."""
    path = write_image(t2w, tmp_path / "scan.nii.gz")
    (tmp_path / "scan.json").write_text(json.dumps({"RepetitionTime": "3.5 s"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"scan\.json'.*'RepetitionTime' must be a finite number"):
        read_image(path)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nc"])
def test_write_into_a_file_as_folder_names_the_path(tmp_path, suffix):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    target = tmp_path / "a.txt" / f"out{suffix}"
    with pytest.raises(NotADirectoryError, match=rf"cannot write '{target}'"):
        write_image(make_image(np.zeros((1, 2, 2))), target)
