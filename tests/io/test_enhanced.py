"""Enhanced (multi-frame) MR DICOM (issue 22, item 2): order, times, geometry, rescale."""

from __future__ import annotations

import numpy as np
import pytest

from dcemets._conventions import geometry
from dcemets.io import read_dce, read_image

pytest.importorskip("pydicom")

TIMES = [0.0, 12.5, 25.0, 37.5, 50.0, 62.5]


def _check(dce, src, times):
    np.testing.assert_array_equal(dce.values, src.values)
    np.testing.assert_allclose(dce.time.values, times, atol=1e-5)
    g, g0 = geometry(dce), geometry(src)
    np.testing.assert_allclose(g.origin, g0.origin, atol=1e-6)
    np.testing.assert_allclose(g.spacing, g0.spacing, atol=1e-6)
    np.testing.assert_allclose(g.direction, g0.direction, atol=1e-6)


@pytest.fixture
def src(int_series, oblique):
    """The DCE the enhanced files are written from (the round trip's reference)."""
    from dcemets._conventions import make_dce

    return make_dce(
        int_series, TIMES, spacing=(0.9, 0.8, 3.0), origin=(-40.0, -30.0, 12.5), direction=oblique
    )


def _write(writer, path, src, **kw):
    g = geometry(src)
    return writer(
        path,
        src.values,
        times=src.time.values,
        spacing=g.spacing,
        origin=g.origin,
        direction=np.reshape(g.direction, (3, 3)),
        **kw,
    )


@pytest.mark.parametrize(
    ("timing", "source"),
    [
        (("tpi", "frame_datetime"), "AcquisitionTime"),  # Siemens XA, Philips
        (("tpi", "offset"), "TemporalPositionTimeOffset"),
        (("trigger",), "TriggerTime"),
        (("offset", "frame_datetime"), "TemporalPositionTimeOffset"),
    ],
)
def test_enhanced_round_trip(tmp_path, enhanced_writer, src, timing, source):
    path = _write(enhanced_writer, tmp_path / "dce.dcm", src, timing=timing)
    for arg in (path, tmp_path):  # the file itself or its folder
        dce = read_dce(arg)
        _check(dce, src, TIMES)
        assert dce.attrs["frame_timing"] == source
        assert dce.attrs["tr_s"] == pytest.approx(0.0041)
        assert dce.attrs["te_s"] == pytest.approx(0.0015)
        assert dce.attrs["flip_angle_deg"] == pytest.approx(10.0)
        assert dce.attrs["frame_of_reference"] == "1.2.826.0.1.3680043.2.1125.77"


def test_enhanced_missing_time_on_one_frame(tmp_path, enhanced_writer, src):
    path = _write(
        enhanced_writer,
        tmp_path / "dce.dcm",
        src,
        timing=("tpi", "frame_datetime"),
        omit={"frame_datetime": [0]},
    )
    with pytest.warns(UserWarning, match=r"AcquisitionTime missing on 1 of 6"):
        dce = read_dce(path)
    _check(dce, src, TIMES)


def test_enhanced_rescale_and_sagittal(tmp_path, enhanced_writer, src, sagittal):
    from dcemets._conventions import make_dce

    sag = make_dce(src.values, TIMES, spacing=(0.7, 0.7, 3.5), origin=(10.0, -20.0, 30.0), direction=sagittal)
    path = _write(enhanced_writer, tmp_path / "dce.dcm", sag, rescale=(0.5, -3.0))
    dce = read_dce(path)
    np.testing.assert_allclose(dce.values, src.values * 0.5 - 3.0)
    g = geometry(dce)
    np.testing.assert_allclose(g.direction, geometry(sag).direction, atol=1e-6)
    np.testing.assert_allclose(g.origin, geometry(sag).origin, atol=1e-6)


def test_enhanced_one_frame_is_an_image(tmp_path, enhanced_writer, src):
    path = _write(enhanced_writer, tmp_path / "t2w.dcm", src.isel(time=[0]))
    img = read_image(path)
    np.testing.assert_array_equal(img.values, src.values[0])
    with pytest.raises(ValueError, match=r"single 3D volume"):
        read_dce(path)


def test_without_pydicom_the_error_says_how_to_install(tmp_path, enhanced_writer, src, monkeypatch):
    import sys

    path = _write(enhanced_writer, tmp_path / "dce.dcm", src)
    monkeypatch.setitem(sys.modules, "pydicom", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"needs pydicom.*pip install 'dcemets\[dicom\]'"):
        read_dce(path)
