"""read_dce / write_dce: 4D files + sidecars, lists of 3D files, netCDF, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import xarray as xr

from dcemets._conventions import geometry, make_image, world_coordinates
from dcemets.io import read_dce, read_image, to_sitk, write_dce, write_image


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".nc"])
def test_write_read_identical(tmp_path, small_dce, suffix):
    path = write_dce(small_dce, tmp_path / f"dce{suffix}")
    back = read_dce(path)
    xr.testing.assert_identical(back, small_dce)
    assert geometry(back) == geometry(small_dce)  # the sidecar restores double precision


def test_sidecar_content(tmp_path, small_dce):
    path = write_dce(small_dce, tmp_path / "sub" / "dce.nii.gz")
    meta = json.loads((tmp_path / "sub" / "dce.json").read_text(encoding="utf-8"))
    assert meta["FrameTimesStart"] == [0.0, 11.25, 22.5, 34.0]
    assert meta["RepetitionTimeExcitation"] == 0.0041
    assert meta["EchoTime"] == 0.0015
    assert meta["FlipAngle"] == 10.0
    assert meta["dcemets"]["attrs"]["injection_time_s"] == 11.25
    assert sitk.ReadImage(str(path)).GetDimension() == 4


def test_hand_written_bids_sidecar(tmp_path, small_dce):
    # a 4D NIfTI from elsewhere (no dcemets block) with a BIDS-style sidecar
    img = to_sitk(small_dce, join=True)
    sitk.WriteImage(img, str(tmp_path / "scan.nii.gz"))
    (tmp_path / "scan.json").write_text(
        json.dumps(
            {
                "FrameTimesStart": [0, 10, 20, 30],
                "RepetitionTime": 0.0041,
                "FlipAngle": 10,
                "EchoTime": 0.0015,
            }
        ),
        encoding="utf-8",
    )
    dce = read_dce(tmp_path / "scan.nii.gz")
    np.testing.assert_array_equal(dce.time.values, [0, 10, 20, 30])
    assert dce.attrs["tr_s"] == 0.0041
    assert dce.attrs["flip_angle_deg"] == 10.0
    np.testing.assert_array_equal(dce.values, small_dce.values)
    np.testing.assert_allclose(geometry(dce).origin, geometry(small_dce).origin, atol=1e-5)
    (tmp_path / "scan.json").write_text(json.dumps({"VolumeTiming": [0, 5, 10, 15]}), encoding="utf-8")
    np.testing.assert_array_equal(read_dce(tmp_path / "scan.nii.gz").time.values, [0, 5, 10, 15])
    (tmp_path / "scan.json").write_text(json.dumps({"TemporalResolution": 12.0}), encoding="utf-8")
    np.testing.assert_array_equal(read_dce(tmp_path / "scan.nii.gz").time.values, [0, 12, 24, 36])
    (tmp_path / "scan.json").write_text(json.dumps({"FrameTimesStart": [0, 10]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'FrameTimesStart' has 2 values, the image has 4 frames"):
        read_dce(tmp_path / "scan.nii.gz")
    (tmp_path / "scan.json").write_text(json.dumps({"EchoTime": 0.001}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"pass `times=`"):
        read_dce(tmp_path / "scan.nii.gz")
    (tmp_path / "scan.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"scan.json"):
        read_dce(tmp_path / "scan.nii.gz")


def test_no_sidecar_needs_times(tmp_path, small_dce):
    sitk.WriteImage(to_sitk(small_dce, join=True), str(tmp_path / "bare.nii.gz"))
    with pytest.raises(ValueError, match=r"no frame times for .*bare.nii.gz.*pass `times=`"):
        read_dce(tmp_path / "bare.nii.gz")
    dce = read_dce(tmp_path / "bare.nii.gz", times=[0, 1, 2, 3])
    np.testing.assert_array_equal(dce.time.values, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"`times` must have 4 values"):
        read_dce(tmp_path / "bare.nii.gz", times=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`times` must be strictly increasing"):
        read_dce(tmp_path / "bare.nii.gz", times=[0, 1, 1, 3])
    with pytest.raises(ValueError, match=r"`times` must be finite"):
        read_dce(tmp_path / "bare.nii.gz", times=[0, 1, np.nan, 3])
    with pytest.raises(TypeError, match=r"`times` must be a sequence of numbers"):
        read_dce(tmp_path / "bare.nii.gz", times=["a", "b", "c", "d"])
    (tmp_path / "bare.json").write_text(json.dumps({"FrameTimesStart": [0, 5, 5, 10]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bare\.json': 'FrameTimesStart' must be strictly increasing"):
        read_dce(tmp_path / "bare.nii.gz")


def test_times_override_sidecar(tmp_path, small_dce):
    path = write_dce(small_dce, tmp_path / "dce.nii.gz")
    np.testing.assert_array_equal(read_dce(path, times=[0, 2, 4, 6]).time.values, [0, 2, 4, 6])


def test_list_of_3d_files(tmp_path, small_dce):
    paths = [write_image(small_dce.isel(time=i).drop_vars("time"), tmp_path / f"f{i}.nrrd") for i in range(4)]
    dce = read_dce(paths, times=small_dce.time.values)
    np.testing.assert_array_equal(dce.values, small_dce.values)
    g, g0 = geometry(dce), geometry(small_dce)
    for field in ("origin", "spacing", "direction"):  # NRRD stores spacing * direction
        np.testing.assert_allclose(getattr(g, field), getattr(g0, field), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"no frame times"):
        read_dce(paths)
    moved = make_image(np.zeros((3, 5, 6)), spacing=(0.7, 0.8, 3.1))
    write_image(moved, tmp_path / "other.nrrd")
    with pytest.raises(ValueError, match=r"other.nrrd' is not on the grid"):
        read_dce([*paths[:3], tmp_path / "other.nrrd"], times=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"empty"):
        read_dce([])


def test_3d_file_refused(tmp_path, small_dce):
    path = write_image(small_dce.isel(time=0).drop_vars("time"), tmp_path / "vol.nii.gz")
    with pytest.raises(ValueError, match=r"3D image, not a 4D DCE series"):
        read_dce(path, times=[0.0])


def test_truncated_4d_named(tmp_path, small_dce):
    path = write_dce(small_dce, tmp_path / "dce.nii")
    data = path.read_bytes()
    path.write_bytes(data[:-50])
    with pytest.raises(ValueError, match=r"dce.nii' is truncated"):
        read_dce(path)


def test_netcdf_with_plain_xarray(tmp_path, small_dce):
    # da.to_netcdf must work on a dcemets array and give back identical geometry
    path = tmp_path / "dce.nc"
    small_dce.to_netcdf(path)
    with xr.open_dataarray(path) as back:
        back.load()
        xr.testing.assert_identical(back, small_dce)
        assert geometry(back) == geometry(small_dce)
        np.testing.assert_array_equal(world_coordinates(back), world_coordinates(small_dce))
    # sliced arrays too
    sub = small_dce.isel(x=slice(None, None, -1), z=slice(1, None))
    sub.to_netcdf(tmp_path / "sub.nc")
    back = xr.load_dataarray(tmp_path / "sub.nc")
    assert geometry(back) == geometry(sub)


def test_dicom_read_attrs_are_netcdf_safe(tmp_path, dicom_writer, int_series):
    dicom_writer(tmp_path / "dcm", int_series, times=[0, 10, 20, 30, 40, 50])
    dce = read_dce(tmp_path / "dcm")
    dce.to_netcdf(tmp_path / "d.nc")
    back = xr.load_dataarray(tmp_path / "d.nc")
    xr.testing.assert_identical(back, dce)
    assert geometry(back) == geometry(dce)
    # and the DICOM read round-trips through write_dce / read_dce
    xr.testing.assert_identical(read_dce(write_dce(dce, tmp_path / "d.nii.gz")), dce)


def test_read_image_of_frame(tmp_path, small_dce):
    frame = small_dce.isel(time=2).drop_vars("time")
    back = read_image(write_image(frame, tmp_path / "frame.mha"))
    assert geometry(back) == geometry(frame)


def test_write_errors(tmp_path, small_dce):
    with pytest.raises(ValueError, match=r"image format"):
        write_dce(small_dce, tmp_path / "dce.png")
    with pytest.raises(ValueError, match=r"dims"):
        write_dce(small_dce.isel(time=0), tmp_path / "dce.nii.gz")
    with pytest.raises(TypeError, match=r"'flag'"):
        write_dce(small_dce.assign_attrs(flag=None), tmp_path / "dce.nc")


def test_missing_path():
    with pytest.raises(FileNotFoundError, match=r"missing.nii.gz"):
        read_dce("missing.nii.gz")


def test_netcdf_times_override(tmp_path, small_dce):
    path = write_dce(small_dce, tmp_path / "dce.nc")
    back = read_dce(path, times=[0, 1, 2, 3])
    np.testing.assert_array_equal(back.time.values, [0, 1, 2, 3])
    assert back.time.attrs["units"] == "s"


@pytest.mark.parametrize("value", ["ten", "10", [10], True, float("nan")])
def test_unreadable_sidecar_acquisition_field_is_an_error(tmp_path, small_dce, value):
    """Issue 16.13: ``"FlipAngle": "ten"`` was dropped silently (no flip_angle_deg attr)."""
    sitk.WriteImage(to_sitk(small_dce, join=True), str(tmp_path / "scan.nii.gz"))
    (tmp_path / "scan.json").write_text(
        json.dumps({"FrameTimesStart": [0, 10, 20, 30], "FlipAngle": value}), encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"scan\.json'.*'FlipAngle' must be a finite number.*got"):
        read_dce(tmp_path / "scan.nii.gz")
    (tmp_path / "scan.json").write_text(
        json.dumps({"FrameTimesStart": [0, 10, 20, 30], "FlipAngle": None}), encoding="utf-8"
    )
    assert "flip_angle_deg" not in read_dce(tmp_path / "scan.nii.gz").attrs  # null: absent
