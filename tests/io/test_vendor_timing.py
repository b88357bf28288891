"""Frame timing in each vendor's convention, tags missing on some frames (issue 22, item 1)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dcemets._conventions import geometry
from dcemets.io import read_dce
from dcemets.io._dicom import TIMING_SOURCES

TIMES = [0.0, 12.5, 25.0, 37.5, 50.0, 62.5]  # regular: what a DCE protocol acquires
IRREGULAR = [0.0, 12.5, 25.0, 40.0, 52.0, 70.0]  # variable temporal resolution
ORIGIN = (-40.0, -30.0, 12.5)
SPACING = (0.9, 0.8, 3.0)


def _check(dce, values, times, direction):
    np.testing.assert_array_equal(dce.values, values)
    np.testing.assert_allclose(dce.time.values, times, atol=1e-5)
    g = geometry(dce)
    np.testing.assert_allclose(g.origin, ORIGIN, atol=1e-6)
    np.testing.assert_allclose(g.spacing, SPACING, atol=1e-6)
    np.testing.assert_allclose(np.reshape(g.direction, (3, 3)), direction, atol=1e-6)


# (vendor convention, tags written, the source read_dce must name)
VENDORS = [
    # GE multi-phase (DISCO/LAVA): TriggerTime in ms per phase, AcquisitionTime = series start
    ("ge", ("trigger", "acq_start"), "TriggerTime"),
    # Siemens classic: one AcquisitionTime per measurement, TriggerTime 0 (untriggered)
    ("siemens", ("acquisition", "trigger_zero"), "AcquisitionTime"),
    # Philips classic: TemporalPositionIdentifier + TemporalResolution, AcquisitionTime = start
    ("philips", ("tpi", "resolution", "acq_start"), "TemporalPositionIdentifier x TemporalResolution"),
    # any vendor: only ContentTime (per slice) tells the frames apart
    ("content", ("content",), "ContentTime"),
]


@pytest.mark.parametrize(("vendor", "timing", "source"), VENDORS, ids=[v[0] for v in VENDORS])
def test_vendor_conventions(tmp_path, dicom_writer, int_series, oblique, vendor, timing, source):
    dicom_writer(tmp_path, int_series, times=TIMES, timing=timing, direction=oblique)
    dce = read_dce(tmp_path)
    _check(dce, int_series, TIMES, oblique)
    assert dce.attrs["frame_timing"] == source
    assert "frame_timing_inferred" not in dce.attrs


@pytest.mark.parametrize(("vendor", "timing", "source"), VENDORS[:2], ids=[v[0] for v in VENDORS[:2]])
@pytest.mark.parametrize("missing", [0, 3, 5])
def test_tag_missing_on_one_frame_is_inferred(
    tmp_path, dicom_writer, int_series, oblique, vendor, timing, source, missing
):
    tag = timing[0]
    dicom_writer(tmp_path, int_series, times=TIMES, timing=timing, direction=oblique, omit={tag: [missing]})
    with pytest.warns(UserWarning, match=rf"{source} missing on 1 of 6 frame\(s\) \(frame index {missing}\)"):
        dce = read_dce(tmp_path)
    _check(dce, int_series, TIMES, oblique)
    assert dce.attrs["frame_timing"] == source
    assert "inferred from the regular 12.5 s interval" in dce.attrs["frame_timing_inferred"]


def test_ge_single_slice_trigger_time_missing_on_first_file(tmp_path, dicom_writer):
    """The issue's failing case: a single-slice GE-style DRO, TriggerTime on every file but the first."""
    n = 40
    times = np.arange(n) * 0.5
    values = (np.arange(n * 3 * 4).reshape(n, 1, 3, 4) % 1000).astype(np.int16)
    dicom_writer(tmp_path, values, times=times, timing=("trigger", "acq_start"), omit={"trigger": [0]})
    with pytest.warns(UserWarning, match=r"TriggerTime missing on 1 of 40"):
        dce = read_dce(tmp_path)
    np.testing.assert_allclose(dce.time.values, times, atol=1e-6)
    np.testing.assert_array_equal(dce.values, values)
    assert dce.attrs["frame_grouping"] == "one image per frame (single slice position)"


def test_missing_tag_on_irregular_series_is_refused(tmp_path, dicom_writer, int_series):
    dicom_writer(tmp_path, int_series, times=IRREGULAR, timing=("trigger",), omit={"trigger": [2]})
    with pytest.raises(ValueError, match=r"TriggerTime is missing on 1 frame.*not evenly spaced.*`times=`"):
        read_dce(tmp_path)
    # a complete source of lower precedence wins over an incomplete one
    dicom_writer(
        tmp_path / "b", int_series, times=IRREGULAR, timing=("trigger", "acquisition"), omit={"trigger": [2]}
    )
    dce = read_dce(tmp_path / "b")
    assert dce.attrs["frame_timing"] == "AcquisitionTime"
    np.testing.assert_allclose(dce.time.values, IRREGULAR, atol=1e-5)


def test_message_says_why_timing_is_unknown(tmp_path, dicom_writer, int_series):
    # GE style with TriggerTime on one frame only and the series start as AcquisitionTime
    dicom_writer(
        tmp_path,
        int_series,
        times=TIMES,
        timing=("tpi", "trigger", "acq_start"),
        omit={"trigger": [0, 1, 2, 3, 4]},
    )
    with pytest.raises(ValueError, match=r"no DICOM tag gives the times of the 6 frames") as err:
        read_dce(tmp_path)
    msg = str(err.value)
    assert "TriggerTime: on 1 of 6 frames" in msg
    assert "AcquisitionTime: the same value on all 6 frame(s)" in msg
    assert "ContentTime: absent" in msg
    assert "pass `times=`" in msg
    assert "carry no TriggerTime" not in msg


def test_timing_table_in_docs_matches_code():
    text = (Path(__file__).parents[2] / "docs" / "user_guide" / "io.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (\d) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", text, flags=re.MULTILINE
    )
    assert [(int(r[0]), *(c.strip() for c in r[1:])) for r in rows] == [
        (i + 1, *row) for i, row in enumerate(TIMING_SOURCES)
    ]


def test_tag_missing_on_one_slice_file_needs_no_inference(tmp_path, dicom_writer, int_series, oblique):
    # the other slices of that frame still carry it: exact times, nothing inferred, no warning
    dicom_writer(
        tmp_path, int_series, times=IRREGULAR, timing=("trigger",), omit={"trigger": [(2, 1), (0, 0)]}
    )
    dce = read_dce(tmp_path)
    _check(dce, int_series, IRREGULAR, oblique)
    assert dce.attrs["frame_timing"] == "TriggerTime"
    assert "frame_timing_inferred" not in dce.attrs


def test_missing_tag_without_an_order_is_refused(tmp_path, dicom_writer, int_series):
    # single slice position, TriggerTime on 4 of 6 files and no InstanceNumber: no order
    values = int_series[:, :1]
    dicom_writer(
        tmp_path, values, times=TIMES, timing=("trigger",), omit={"trigger": [1, 4]}, extra={"0020|0013": ""}
    )
    with pytest.raises(
        ValueError, match=r"TriggerTime is missing on some frames and no tag .* orders the frames"
    ):
        read_dce(tmp_path)
