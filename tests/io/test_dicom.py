"""DICOM series written by the tests with SimpleITK, read back by read_dce / read_image."""

from __future__ import annotations

import numpy as np
import pytest

from dcemets._conventions import geometry, world_coordinates
from dcemets.io import read_dce, read_image

TIMES = [0.0, 12.5, 25.0, 37.25, 49.5, 62.0]
SPACING = (0.9, 0.8, 3.0)
ORIGIN = (-40.0, -30.0, 12.5)


def _check_geometry(da, direction):
    g = geometry(da)
    np.testing.assert_allclose(g.origin, ORIGIN, atol=1e-6)
    np.testing.assert_allclose(g.spacing, SPACING, atol=1e-6)
    np.testing.assert_allclose(np.reshape(g.direction, (3, 3)), direction, atol=1e-6)


@pytest.mark.parametrize(
    "timing",
    [
        ("tpi", "trigger", "acquisition"),
        ("tpi", "acquisition"),
        ("trigger",),
        ("acquisition",),
        ("content",),
    ],
)
def test_one_series_shuffled_files(tmp_path, dicom_writer, int_series, oblique, timing):
    dicom_writer(tmp_path, int_series, times=TIMES, timing=timing, direction=oblique)
    dce = read_dce(tmp_path)
    assert dce.dims == ("time", "z", "y", "x")
    assert dce.dtype == np.int16
    np.testing.assert_array_equal(dce.values, int_series)
    # content time is per slice (+0.01 s per slice); frame time is the earliest slice
    np.testing.assert_allclose(dce.time.values, TIMES, atol=1e-5)
    _check_geometry(dce, oblique)
    assert dce.attrs["tr_s"] == pytest.approx(0.0041)
    assert dce.attrs["te_s"] == pytest.approx(0.0015)
    assert dce.attrs["flip_angle_deg"] == pytest.approx(10.0)
    assert dce.attrs["field_strength_T"] == pytest.approx(3.0)
    assert dce.attrs["frame_of_reference"] == "1.2.826.0.1.3680043.2.1125.77"


def test_timing_precedence_recorded(tmp_path, dicom_writer, int_series, oblique):
    dicom_writer(tmp_path / "a", int_series, times=TIMES, timing=("tpi", "trigger", "acquisition"))
    a = read_dce(tmp_path / "a")
    assert a.attrs["frame_grouping"] == "TemporalPositionIdentifier"
    assert a.attrs["frame_timing"] == "TriggerTime"
    dicom_writer(tmp_path / "b", int_series, times=TIMES, timing=("acquisition",))
    b = read_dce(tmp_path / "b")
    assert b.attrs["frame_grouping"] == "AcquisitionTime"
    assert b.attrs["frame_timing"] == "AcquisitionTime"


def test_one_series_per_phase(tmp_path, dicom_writer, int_series, oblique):
    dicom_writer(tmp_path, int_series, times=TIMES, timing=("acquisition",), series_per_phase=True)
    dce = read_dce(tmp_path)
    assert dce.attrs["frame_grouping"] == "SeriesInstanceUID"
    np.testing.assert_array_equal(dce.values, int_series)
    np.testing.assert_allclose(dce.time.values, TIMES, atol=1e-5)
    _check_geometry(dce, oblique)


def test_one_folder_per_phase(tmp_path, dicom_writer, int_series):
    folders = []
    for t in range(int_series.shape[0]):
        f = tmp_path / f"phase{t}"
        dicom_writer(
            f,
            int_series[t],
            times=[TIMES[t]],
            timing=("acquisition",),
            series_per_phase=False,
            rng=t,
            extra={"0020|000e": f"1.2.3.{t}", "0008|0018": f"1.2.3.{t}.1"},
        )
        folders.append(f)
    dce = read_dce(folders[::-1])  # order of the list does not matter, the tags decide
    np.testing.assert_array_equal(dce.values, int_series)
    np.testing.assert_allclose(dce.time.values, TIMES, atol=1e-5)


def test_acquisition_time_across_midnight(tmp_path, dicom_writer, int_series):
    start = 23 * 3600 + 59 * 60 + 30.0  # 23:59:30, the scan runs past midnight
    dicom_writer(tmp_path, int_series, times=TIMES, timing=("tpi", "acquisition"), start_seconds=start)
    dce = read_dce(tmp_path)
    np.testing.assert_allclose(dce.time.values, TIMES, atol=1e-5)
    np.testing.assert_array_equal(dce.values, int_series)


def test_no_time_tags_needs_times(tmp_path, dicom_writer, int_series):
    dicom_writer(tmp_path, int_series, times=TIMES, timing=("tpi",))
    with pytest.raises(ValueError, match=r"pass `times="):
        read_dce(tmp_path)
    times = np.arange(6) * 11.0
    dce = read_dce(tmp_path, times=times)
    np.testing.assert_array_equal(dce.time.values, times)
    np.testing.assert_array_equal(dce.values, int_series)


def test_times_override_and_length(tmp_path, dicom_writer, int_series):
    dicom_writer(tmp_path, int_series, times=TIMES)
    dce = read_dce(tmp_path, times=np.arange(6) * 10.0)
    np.testing.assert_array_equal(dce.time.values, np.arange(6) * 10.0)
    with pytest.raises(ValueError, match=r"`times` must have 6 values"):
        read_dce(tmp_path, times=[0.0, 1.0])


def test_inconsistent_tags(tmp_path, dicom_writer, int_series):
    # TemporalPositionIdentifier order disagrees with trigger times
    dicom_writer(tmp_path, int_series, times=TIMES[::-1], timing=("tpi", "trigger"))
    with pytest.raises(ValueError, match=r"non-increasing"):
        read_dce(tmp_path)


def test_sagittal_3d_read_image(tmp_path, dicom_writer, int_series, sagittal):
    dicom_writer(tmp_path, int_series[0], times=[0.0], direction=sagittal, timing=())
    img = read_image(tmp_path)
    assert img.dims == ("z", "y", "x")
    np.testing.assert_array_equal(img.values, int_series[0])
    _check_geometry(img, sagittal)
    # world position of the last voxel from the written geometry
    last = np.asarray(ORIGIN) + sagittal @ (np.array([6, 4, 3]) * SPACING)
    np.testing.assert_allclose(world_coordinates(img)[-1, -1, -1], last, atol=1e-6)
    with pytest.raises(ValueError, match=r"single 3D volume"):
        read_dce(tmp_path, times=[0.0])


def test_read_image_refuses_dynamic(tmp_path, dicom_writer, int_series):
    dicom_writer(tmp_path, int_series, times=TIMES)
    with pytest.raises(ValueError, match=r"read_dce"):
        read_image(tmp_path)


def test_truncated_file_named(tmp_path, dicom_writer, int_series):
    paths = dicom_writer(tmp_path, int_series, times=TIMES)
    victim = paths[7]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 40])
    with pytest.raises(ValueError, match=victim.name):
        read_dce(tmp_path)


def test_header_only_garbage_named(tmp_path, dicom_writer, int_series):
    paths = dicom_writer(tmp_path, int_series, times=TIMES)
    victim = paths[3]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(ValueError, match=victim.name):
        read_dce(tmp_path)


def test_missing_slice(tmp_path, dicom_writer, int_series):
    paths = dicom_writer(tmp_path, int_series, times=TIMES)
    paths[5].unlink()
    with pytest.raises(ValueError, match=r"missing"):
        read_dce(tmp_path)


def test_mixed_orientation(tmp_path, dicom_writer, int_series, sagittal, oblique):
    dicom_writer(tmp_path / "a", int_series, times=TIMES, direction=oblique)
    dicom_writer(tmp_path / "b", int_series[0], times=[0.0], direction=sagittal, rng=3)
    with pytest.raises(ValueError, match=r"different orientations"):
        read_dce(tmp_path)


def test_non_dicom_files_ignored(tmp_path, dicom_writer, int_series):
    dicom_writer(tmp_path, int_series, times=TIMES)
    (tmp_path / "notes.txt").write_text("not dicom", encoding="utf-8")
    (tmp_path / "DICOMDIR.json").write_text("{}", encoding="utf-8")
    assert read_dce(tmp_path).sizes["time"] == 6


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=r"no DICOM files"):
        read_dce(tmp_path)


def test_slicing_keeps_world_coordinates(tmp_path, dicom_writer, int_series, oblique):
    dicom_writer(tmp_path, int_series, times=TIMES, direction=oblique)
    dce = read_dce(tmp_path)
    full = world_coordinates(dce)
    sub = dce.isel(z=slice(1, 3), y=slice(None, None, -2), x=[2, 3, 4])
    np.testing.assert_allclose(world_coordinates(sub), full[1:3, ::-2, 2:5], atol=1e-9)


def test_no_temporal_tags_ranked_by_instance_number(tmp_path, dicom_writer, int_series):
    # one series, no temporal tags at all: frames are ranked by InstanceNumber at each position
    dicom_writer(tmp_path, int_series, times=TIMES, timing=())
    with pytest.raises(ValueError, match=r"pass `times="):
        read_dce(tmp_path)
    dce = read_dce(tmp_path, times=TIMES)
    assert dce.attrs["frame_grouping"].startswith("rank")
    np.testing.assert_array_equal(dce.values, int_series)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_order_independent_of_file_names(tmp_path, dicom_writer, int_series, seed):
    dicom_writer(tmp_path, int_series, times=TIMES, timing=("tpi", "acquisition"), rng=seed)
    np.testing.assert_array_equal(read_dce(tmp_path).values, int_series)


def test_every_file_lands_where_its_tags_say(tmp_path, dicom_writer, int_series, oblique):
    # independent of our grouping code: read each file alone and check it against the series
    import SimpleITK as sitk

    paths = dicom_writer(tmp_path, int_series, times=TIMES, timing=("tpi", "trigger"), direction=oblique)
    dce = read_dce(tmp_path)
    world = world_coordinates(dce)
    for path in paths[::7]:
        r = sitk.ImageFileReader()
        r.SetFileName(str(path))
        pixels = sitk.GetArrayFromImage(r.Execute())[0]
        tpi = int(r.GetMetaData("0020|0100"))
        ipp = np.array([float(v) for v in r.GetMetaData("0020|0032").split("\\")])
        trigger_s = float(r.GetMetaData("0018|1060")) / 1000.0
        k = int(np.argmin(np.linalg.norm(world[:, 0, 0] - ipp, axis=1)))
        np.testing.assert_allclose(world[k, 0, 0], ipp, atol=1e-6)  # DICOM IPP = first voxel's centre
        np.testing.assert_array_equal(dce.values[tpi - 1, k], pixels)
        assert dce.time.values[tpi - 1] == pytest.approx(trigger_s - TIMES[0], abs=1e-6)


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        (None, "101530.25", 10 * 3600 + 15 * 60 + 30.25),
        (None, "10:15:30.25", 10 * 3600 + 15 * 60 + 30.25),  # ACR-NEMA style
        (None, "1015", 10 * 3600 + 15 * 60),
        (None, "10", 10 * 3600),
        ("19700102", "000001", 86401.0),
        ("20190102", "235959.5", 17898 * 86400 + 86399.5),
    ],
)
def test_parse_dicom_time(date, time, expected):
    from dcemets.io._dicom import _parse_time

    assert _parse_time(date, time) == pytest.approx(expected, abs=1e-9)


def test_parse_dicom_datetime():
    from dcemets.io._dicom import _parse_datetime, _parse_time

    assert _parse_datetime("20190102101530.25+0100") == _parse_time("20190102", "101530.25")
    assert _parse_datetime("20190102") == _parse_time("20190102", "000000")
    assert _parse_datetime("2019") is None


def test_slices_written_against_the_normal(tmp_path, dicom_writer, int_series, oblique):
    # slices stacked along -(row x col): DICOM has no slice order, so the reader stacks them
    # along +normal; every voxel must still carry its value at its world position
    from dcemets._conventions import make_dce

    improper = oblique * np.array([1.0, 1.0, -1.0])
    dicom_writer(tmp_path, int_series, times=TIMES, direction=improper)
    dce = read_dce(tmp_path)
    written = make_dce(int_series, TIMES, spacing=SPACING, origin=ORIGIN, direction=improper)
    np.testing.assert_array_equal(dce.values, int_series[:, ::-1])
    np.testing.assert_allclose(world_coordinates(dce), world_coordinates(written)[::-1], atol=1e-6)
    assert np.linalg.det(np.reshape(geometry(dce).direction, (3, 3))) == pytest.approx(1.0)


def test_file_by_file_path_agrees_with_bulk(tmp_path, dicom_writer, int_series, oblique, monkeypatch):
    # the one-pass reader and the file-by-file fallback give the same array and geometry
    from dcemets.io import _dicom

    dicom_writer(tmp_path, int_series, times=TIMES, timing=("acquisition",), direction=oblique)
    bulk = read_dce(tmp_path)
    monkeypatch.setattr(_dicom, "_bulk_read", lambda files: None)
    slow = read_dce(tmp_path)
    np.testing.assert_array_equal(slow.values, bulk.values)
    np.testing.assert_array_equal(slow.time.values, bulk.time.values)
    for field in ("origin", "spacing", "direction"):
        np.testing.assert_allclose(getattr(geometry(slow), field), getattr(geometry(bulk), field), atol=1e-9)
    _check_geometry(slow, oblique)


def test_itk_warnings_silenced_and_restored(tmp_path, dicom_writer, int_series, capfd):
    import SimpleITK as sitk

    dicom_writer(tmp_path, int_series, times=TIMES)
    before = sitk.ProcessObject.GetGlobalWarningDisplay()
    read_dce(tmp_path)
    assert sitk.ProcessObject.GetGlobalWarningDisplay() == before
    assert "WARNING" not in capfd.readouterr().err


def test_per_frame_rescale_reads_each_file_as_float(tmp_path, dicom_writer, int_series, monkeypatch):
    # files whose rescale tags differ must not be read in one pass (ITK would cast every
    # frame to the first file's pixel type); pretend so by editing the scanned tags
    from dcemets.io import _dicom

    dicom_writer(tmp_path, int_series, times=TIMES)
    original = _dicom._bulk_read

    def bulk_with_mixed_rescale(files):
        pixels, tags = original(files)
        for t in tags[::2]:
            t["rescale_slope"] = "1.0000"  # same value, spelled differently: still uniform
        tags[5]["rescale_intercept"] = "0.0"
        tags[7]["rescale_slope"] = "1"
        return pixels, tags

    monkeypatch.setattr(_dicom, "_bulk_read", bulk_with_mixed_rescale)
    assert read_dce(tmp_path).dtype == np.int16  # still uniform in value: one pass

    def bulk_with_other_slope(files):
        pixels, tags = original(files)
        tags[3]["rescale_slope"] = "2.5"
        return pixels, tags

    monkeypatch.setattr(_dicom, "_bulk_read", bulk_with_other_slope)
    dce = read_dce(tmp_path)
    assert dce.dtype == np.float64
    np.testing.assert_array_equal(dce.values, int_series)  # the files really have slope 1


def test_acquisition_attrs_unreadable_tag_warns_and_empty_is_absent():
    import pytest

    from dcemets.io._dicom import acquisition_attrs

    with pytest.warns(UserWarning, match="repetition_time"):
        out = acquisition_attrs({"repetition_time": "n/a", "echo_time": "1.5", "flip_angle": ""})
    assert "tr_s" not in out
    assert "flip_angle_deg" not in out
    assert out["te_s"] == pytest.approx(0.0015)


def _dce_plus_other_series(folder, dicom_writer, int_series, *, other_frames=1):
    dicom_writer(folder / "dce", int_series, times=TIMES, timing=("acquisition",))
    dicom_writer(
        folder / "pre",
        int_series[:other_frames] + 1,
        times=TIMES[:other_frames],
        timing=("acquisition",),
        start_seconds=20000.0,
        rng=3,
        extra={"0020|000e": "9.9.9", "0008|103e": "T1 PRE", "0020|0011": "3"},
    )


def test_mixed_series_folder_lists_the_series_and_how_to_choose(tmp_path, dicom_writer, int_series):
    """Issue 16.13: a DCE series next to another series asked for `times=`, which cannot help;
    two dynamic series were silently read as one series of twice the frames."""
    _dce_plus_other_series(tmp_path, dicom_writer, int_series)
    with pytest.raises(ValueError, match=r"holds 2 DICOM series") as err:
        read_dce(tmp_path)
    msg = str(err.value)
    assert "SeriesInstanceUID 9.9.9, SeriesNumber 3, SeriesDescription 'T1 PRE'" in msg
    assert "'VIBE DCE': 24 file(s) at 4 slice position(s), 6 image(s) per slice position" in msg
    assert "`series=`" in msg
    assert "times=" not in msg
    for choice in ("VIBE DCE", "1", "1.2.826.0.1.3680043.2.1125.1.0"):
        dce = read_dce(tmp_path, series=choice)
        np.testing.assert_array_equal(dce.values, int_series)
        np.testing.assert_allclose(dce.time.values, TIMES, atol=1e-5)
    with pytest.raises(ValueError, match=r"(?s)`series`='T2' matches no series .*T1 PRE"):
        read_dce(tmp_path, series="T2")
    two = tmp_path / "two"
    _dce_plus_other_series(two, dicom_writer, int_series, other_frames=6)
    with pytest.raises(ValueError, match=r"holds 2 DICOM series"):
        read_dce(two)


def test_series_option_only_for_dicom(tmp_path, small_dce):
    from dcemets.io import write_dce

    path = write_dce(small_dce, tmp_path / "dce.nii.gz")
    with pytest.raises(ValueError, match=r"`series` selects a series of a DICOM folder"):
        read_dce(path, series="1")
