"""Fixtures for dcemets.io tests: synthetic geometry and a DICOM series writer (SimpleITK)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from dcemets._conventions import make_dce


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """Rotation matrix (columns = image axes in LPS) from three angles in radians."""
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


OBLIQUE = rotation(0.21, -0.35, 0.12)
SAGITTAL = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # x->P, y->-S, z->-L


def _ds(value: float) -> str:
    """DICOM decimal string (at most 16 characters)."""
    for digits in range(12, 3, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise AssertionError(value)


def _da_tm(seconds: float) -> tuple[str, str]:
    """DICOM date and time of `seconds` after 2019-01-02 00:00 (rolls over midnight)."""
    day = int(seconds // 86400)
    date = (datetime.date(2019, 1, 2) + datetime.timedelta(days=day)).strftime("%Y%m%d")
    return date, _tm(seconds - 86400 * day)


def _tm(seconds: float) -> str:
    h = int(seconds // 3600)
    m = int((seconds - 3600 * h) // 60)
    s = seconds - 3600 * h - 60 * m
    return f"{h:02d}{m:02d}{s:09.6f}"


def write_dicom_series(
    folder: Path,
    values: np.ndarray,
    *,
    times: Sequence[float],
    spacing: Sequence[float] = (0.9, 0.8, 3.0),
    origin: Sequence[float] = (-40.0, -30.0, 12.5),
    direction: np.ndarray = OBLIQUE,
    timing: Sequence[str] = ("tpi", "trigger", "acquisition"),
    series_per_phase: bool = False,
    start_seconds: float = 10 * 3600 + 15 * 60 + 30.25,
    rng: int = 0,
    extra: dict[str, str] | None = None,
    omit: dict[str, Sequence[int]] | None = None,
) -> list[Path]:
    """Write a (t, z, y, x) int16 series as one-slice-per-file DICOM MR images, names shuffled.

    ``timing`` selects the temporal tags written: "tpi" (TemporalPositionIdentifier),
    "trigger" (TriggerTime, ms), "acquisition" (AcquisitionTime), "content" (ContentTime),
    "resolution" (TemporalResolution, ms: the first interval), "acq_start" (AcquisitionTime
    of the series start on every file, as GE writes), "trigger_zero" (TriggerTime 0 on every
    file, as Siemens writes for untriggered scans).  ``omit`` maps a timing name to the frames
    (``t``) or single files (``(t, k)``) that lack that tag (a vendor or anonymiser dropping it).
    """
    folder.mkdir(parents=True, exist_ok=True)
    values = np.asarray(values)
    if values.ndim == 3:
        values = values[None]
    nt, nz = values.shape[:2]
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    n_files = nt * nz
    names = np.random.default_rng(rng).permutation(n_files)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    study = "1.2.826.0.1.3680043.2.1125.1"
    paths = []
    for t in range(nt):
        vol = sitk.GetImageFromArray(values[t].astype(np.int16))
        vol.SetSpacing(tuple(float(v) for v in spacing))
        vol.SetOrigin(tuple(float(v) for v in origin))
        vol.SetDirection(tuple(d.ravel()))
        series = f"{study}.{t + 1 if series_per_phase else 0}"
        for k in range(nz):
            sl = vol[:, :, k]
            tags = {
                "0008|0060": "MR",
                "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
                "0008|0018": f"{study}.9.{t}.{k}",
                "0020|000d": study,
                "0020|000e": series,
                "0020|0011": str(t + 1 if series_per_phase else 1),
                "0020|0052": "1.2.826.0.1.3680043.2.1125.77",
                "0020|0013": str(t * nz + k + 1),
                "0020|0032": "\\".join(_ds(v) for v in vol.TransformIndexToPhysicalPoint((0, 0, k))),
                "0020|0037": "\\".join(_ds(v) for v in list(d[:, 0]) + list(d[:, 1])),
                "0018|0050": _ds(spacing[2]),
                "0018|0080": "4.1",
                "0018|0081": "1.5",
                "0018|1314": "10",
                "0018|0087": "3",
                "0008|0020": "20190102",
                "0008|0021": "20190102",
                "0008|103e": "VIBE DCE",
            }
            skip = {name for name, frames in (omit or {}).items() if t in frames or (t, k) in frames}
            if "tpi" in timing and "tpi" not in skip:
                tags["0020|0100"] = str(t + 1)
                tags["0020|0105"] = str(nt)
            if "resolution" in timing and "resolution" not in skip:
                tags["0020|0110"] = _ds(1000.0 * (times[1] - times[0]))
            if "trigger" in timing and "trigger" not in skip:
                tags["0018|1060"] = _ds(1000.0 * times[t])
            if "trigger_zero" in timing:
                tags["0018|1060"] = "0"
            if "acquisition" in timing and "acquisition" not in skip:
                tags["0008|0022"], tags["0008|0032"] = _da_tm(start_seconds + times[t])
            if "acq_start" in timing:
                tags["0008|0022"], tags["0008|0032"] = _da_tm(start_seconds)
            if "content" in timing and "content" not in skip:
                tags["0008|0023"], tags["0008|0033"] = _da_tm(start_seconds + times[t] + 0.01 * k)
            tags.update(extra or {})
            for key, value in tags.items():
                sl.SetMetaData(key, value)
            path = folder / f"IM{names[t * nz + k]:05d}"
            writer.SetFileName(str(path))
            writer.SetImageIO("GDCMImageIO")
            writer.Execute(sl)
            paths.append(path)
    return paths


@pytest.fixture
def dicom_writer() -> Callable[..., list[Path]]:
    """The :func:`write_dicom_series` helper."""
    return write_dicom_series


@pytest.fixture
def small_dce():
    """A small oblique float64 DCE series with acquisition attrs."""
    rng = np.random.default_rng(1)
    return make_dce(
        rng.random((4, 3, 5, 6)),
        [0.0, 11.25, 22.5, 34.0],
        spacing=(0.7, 0.8, 3.1),
        origin=(-12.3, 4.5, 60.1),
        direction=OBLIQUE,
        attrs={"tr_s": 0.0041, "te_s": 0.0015, "flip_angle_deg": 10.0, "injection_time_s": 11.25},
    )


@pytest.fixture
def int_series():
    """A (6, 4, 5, 7) int16 series with distinct values per voxel and frame."""
    return (np.arange(6 * 4 * 5 * 7).reshape(6, 4, 5, 7) % 3000).astype(np.int16)


@pytest.fixture
def oblique() -> np.ndarray:
    """An oblique direction matrix (columns are the image axes in LPS)."""
    return OBLIQUE.copy()


@pytest.fixture
def sagittal() -> np.ndarray:
    """A sagittal direction matrix."""
    return SAGITTAL.copy()


def write_enhanced_mr(
    path: Path,
    values: np.ndarray,
    *,
    times: Sequence[float],
    spacing: Sequence[float] = (0.9, 0.8, 3.0),
    origin: Sequence[float] = (-40.0, -30.0, 12.5),
    direction: np.ndarray = OBLIQUE,
    timing: Sequence[str] = ("tpi", "frame_datetime"),
    omit: dict[str, Sequence[int]] | None = None,
    rescale: tuple[float, float] | None = None,
    start_seconds: float = 10 * 3600 + 15 * 60 + 30.25,
    rng: int = 0,
) -> Path:
    """Write a (t, z, y, x) uint16 series as one enhanced MR image (PS3.3 A.36.2), frames shuffled.

    Geometry goes in the shared functional groups (Plane Orientation, Pixel Measures) and the
    per-frame Plane Position; ``timing`` selects the per-frame temporal attributes: "tpi"
    (Frame Content > Temporal Position Index), "frame_datetime" (Frame Content > Frame
    Acquisition DateTime, as Siemens XA and Philips write), "offset" (Temporal Position >
    Temporal Position Time Offset, s), "trigger" (Cardiac Synchronization > Nominal Cardiac
    Trigger Delay Time, ms).  ``omit`` maps a timing name to the time frames lacking it.
    """
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    values = np.asarray(values)
    nt, nz, ny, nx = values.shape
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "DRO^Enhanced", "dro01", "", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20190102", "101530", "1", ""
    ds.ReferringPhysicianName = ""
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.2.1125.77"
    ds.SeriesNumber = 7
    ds.InstanceNumber = 1
    ds.SeriesDescription = "VIBE DCE enhanced"
    ds.MagneticFieldStrength = 3.0
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.Rows, ds.Columns = ny, nx
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = [float(v) for v in (*d[:, 0], *d[:, 1])]
    measures = Dataset()
    measures.PixelSpacing = [float(spacing[1]), float(spacing[0])]
    measures.SliceThickness = float(spacing[2])
    measures.SpacingBetweenSlices = float(spacing[2])
    mr_timing = Dataset()
    mr_timing.RepetitionTime = 4.1
    mr_timing.FlipAngle = 10.0
    echo = Dataset()
    echo.EffectiveEchoTime = 1.5
    shared.PlaneOrientationSequence = Seq([orient])
    shared.PixelMeasuresSequence = Seq([measures])
    shared.MRTimingAndRelatedParametersSequence = Seq([mr_timing])
    shared.MREchoSequence = Seq([echo])
    if rescale is not None:
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = rescale[0], rescale[1], "US"
        shared.PixelValueTransformationSequence = Seq([pvt])
    ds.SharedFunctionalGroupsSequence = Seq([shared])
    order = np.random.default_rng(rng).permutation(nt * nz)  # frames stored in shuffled order
    per = []
    frames = []
    for f in order:
        t, k = divmod(int(f), nz)
        skip = {name for name, ts in (omit or {}).items() if t in ts}
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [float(v) for v in np.asarray(origin) + d[:, 2] * spacing[2] * k]
        item.PlanePositionSequence = Seq([pos])
        content = Dataset()
        content.DimensionIndexValues = [t + 1, k + 1]
        if "tpi" in timing and "tpi" not in skip:
            content.TemporalPositionIndex = t + 1
        if "frame_datetime" in timing and "frame_datetime" not in skip:
            date, tm = _da_tm(start_seconds + times[t])
            content.FrameAcquisitionDateTime = date + tm
        item.FrameContentSequence = Seq([content])
        if "offset" in timing and "offset" not in skip:
            tp = Dataset()
            tp.TemporalPositionTimeOffset = float(times[t])
            item.TemporalPositionSequence = Seq([tp])
        if "trigger" in timing and "trigger" not in skip:
            cs = Dataset()
            cs.NominalCardiacTriggerDelayTime = 1000.0 * float(times[t])
            item.CardiacSynchronizationSequence = Seq([cs])
        per.append(item)
        frames.append(values[t, k])
    ds.PerFrameFunctionalGroupsSequence = Seq(per)
    ds.NumberOfFrames = nt * nz
    ds.PixelData = np.ascontiguousarray(np.stack(frames).astype(np.uint16)).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return path


@pytest.fixture
def enhanced_writer() -> Callable[..., Path]:
    """The :func:`write_enhanced_mr` helper."""
    return write_enhanced_mr


def write_rtstruct(
    path: Path,
    contours: dict[str, list[np.ndarray]],
    *,
    frame_of_reference: str = "1.2.826.0.1.3680043.2.1125.77",
    geometric_type: str = "CLOSED_PLANAR",
) -> Path:
    """Write an RT Structure Set (PS3.3 A.19) holding ROIs of closed planar contours.

    ``contours`` maps an ROI name to its contours, each an ``(n, 3)`` array of LPS points (mm).
    """
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.StructureSetLabel = "radiologist"
    ref = Dataset()
    ref.FrameOfReferenceUID = frame_of_reference
    ds.ReferencedFrameOfReferenceSequence = Seq([ref])
    rois, roi_contours = [], []
    for number, (name, polys) in enumerate(contours.items(), start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = name
        roi.ReferencedFrameOfReferenceUID = frame_of_reference
        rois.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        items = []
        for poly in polys:
            c = Dataset()
            c.ContourGeometricType = geometric_type
            c.NumberOfContourPoints = len(poly)
            c.ContourData = [f"{v:.6f}" for v in np.asarray(poly, float).ravel()]
            items.append(c)
        rc.ContourSequence = Seq(items)
        roi_contours.append(rc)
    ds.StructureSetROISequence = Seq(rois)
    ds.ROIContourSequence = Seq(roi_contours)
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return path


@pytest.fixture
def rtstruct_writer() -> Callable[..., Path]:
    """The :func:`write_rtstruct` helper."""
    return write_rtstruct
