"""Private pydicom helpers: enhanced (multi-frame) MR images, functional groups, optional import.

pydicom and highdicom are the optional extra ``dcemets[dicom]``; everything here imports them
lazily and says how to install them when they are missing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

#: SOP Class UIDs (PS3.4 B.5) handled with pydicom
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"


def require(module: str, what: str) -> Any:
    """Import `module` (``"pydicom"`` or ``"highdicom"``) or raise an ImportError saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{what} needs {module}, an optional dependency: pip install 'dcemets[dicom]'"
        ) from err


def dcmread(path: Path, **kwargs: Any) -> Any:
    """``pydicom.dcmread`` whose failures become a ``ValueError`` naming `path`."""
    pydicom = require("pydicom", f"reading '{path}'")
    try:
        return pydicom.dcmread(str(path), **kwargs)
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError, AttributeError) as err:
        raise ValueError(f"cannot read DICOM file '{path}': {err}") from err


def group_item(ds: Any, frame: Any, seq: str) -> Any | None:
    """The item of functional group `seq` for one frame: per-frame first, else shared (PS3.3 C.7.6.16)."""
    for holder in (frame, _shared(ds)):
        if holder is not None and seq in holder and len(holder[seq].value):
            return holder[seq].value[0]
    return None


def _shared(ds: Any) -> Any | None:
    if "SharedFunctionalGroupsSequence" in ds and len(ds.SharedFunctionalGroupsSequence):
        return ds.SharedFunctionalGroupsSequence[0]
    return None


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(repr(float(v)) if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return repr(float(value))
    return str(value).strip()


def _put(tags: dict[str, str], key: str, item: Any, keyword: str) -> None:
    if item is not None:
        value = item.get(keyword)
        if value is not None and value != "":
            tags[key] = _text(value)


def _items(holder: Any) -> dict[str, Any]:
    """The first item of every non-empty sequence of a functional-groups item, by keyword."""
    if holder is None:
        return {}
    return {e.keyword: e.value[0] for e in holder if e.VR == "SQ" and len(e.value)}


#: top-level attributes of an enhanced MR image copied into each frame's tags
_TOP = {
    "series_uid": "SeriesInstanceUID",
    "series_number": "SeriesNumber",
    "series_description": "SeriesDescription",
    "modality": "Modality",
    "frame_of_reference": "FrameOfReferenceUID",
    "field_strength": "MagneticFieldStrength",
    "series_date": "SeriesDate",
    "sop_class": "SOPClassUID",
}


def frame_tags(ds: Any) -> list[dict[str, str]]:
    """Classic-style tags (the keys of ``_dicom.TAGS``) for every frame of a multi-frame image.

    Geometry from the Plane Position (0020,9113), Plane Orientation (0020,9116) and Pixel
    Measures (0028,9110) functional groups; time from Frame Content (0020,9111: Temporal
    Position Index, Frame Acquisition DateTime, Frame Reference DateTime), Temporal Position
    (0020,9310: Temporal Position Time Offset, s) and Cardiac Synchronization (0018,9118:
    Nominal Cardiac Trigger Delay Time, ms); TR, flip angle from MR Timing and Related
    Parameters (0018,9112), TE from MR Echo (0018,9114) (PS3.3 C.7.6.16.2, C.8.13.5).
    """
    top: dict[str, str] = {}
    for key, keyword in _TOP.items():
        _put(top, key, ds, keyword)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    per = ds.get("PerFrameFunctionalGroupsSequence")
    shared = _items(_shared(ds))
    fields = (  # (functional group, attribute, tag key)
        ("PlanePositionSequence", "ImagePositionPatient", "position"),
        ("PlaneOrientationSequence", "ImageOrientationPatient", "orientation"),
        ("PixelMeasuresSequence", "PixelSpacing", "pixel_spacing"),
        ("PixelMeasuresSequence", "SliceThickness", "slice_thickness"),
        ("PixelMeasuresSequence", "SpacingBetweenSlices", "spacing_between_slices"),
        ("FrameContentSequence", "TemporalPositionIndex", "temporal_position"),
        ("FrameContentSequence", "FrameAcquisitionDateTime", "acquisition_datetime"),
        ("FrameContentSequence", "FrameReferenceDateTime", "content_datetime"),
        ("TemporalPositionSequence", "TemporalPositionTimeOffset", "time_offset"),
        ("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime", "trigger_time"),
        ("MRTimingAndRelatedParametersSequence", "RepetitionTime", "repetition_time"),
        ("MRTimingAndRelatedParametersSequence", "FlipAngle", "flip_angle"),
        ("MREchoSequence", "EffectiveEchoTime", "echo_time"),
    )
    out = []
    for i in range(n):
        groups = {**shared, **_items(per[i] if per is not None and i < len(per) else None)}
        tags = dict(top)
        for seq, keyword, key in fields:
            _put(tags, key, groups.get(seq), keyword)
        tags["instance_number"] = str(i + 1)
        out.append(tags)
    return out


def rescale(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame rescale slope and intercept (Pixel Value Transformation, 0028,9145)."""
    n = int(ds.get("NumberOfFrames", 1) or 1)
    per = ds.get("PerFrameFunctionalGroupsSequence")
    slope, intercept = np.ones(n), np.zeros(n)
    for i in range(n):
        item = group_item(
            ds, per[i] if per is not None and i < len(per) else None, "PixelValueTransformationSequence"
        )
        if item is None:
            item = ds if "RescaleSlope" in ds else None
        if item is not None:
            slope[i] = float(item.get("RescaleSlope", 1.0) or 1.0)
            intercept[i] = float(item.get("RescaleIntercept", 0.0) or 0.0)
    return slope, intercept


def pixels(ds: Any, path: Path) -> np.ndarray:
    """Stored pixel values ``(n_frames, rows, columns)``; a decoding failure names `path`."""
    try:
        arr = ds.pixel_array
    except Exception as err:  # pydicom raises many types for missing codecs / bad data
        raise ValueError(
            f"cannot decode the pixel data of DICOM file '{path}' ({type(err).__name__}: {err}); "
            "compressed transfer syntaxes need pylibjpeg or GDCM plug-ins for pydicom"
        ) from err
    n = int(ds.get("NumberOfFrames", 1) or 1)
    return np.asarray(arr).reshape(n, int(ds.Rows), int(ds.Columns))
