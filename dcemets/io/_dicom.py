"""Private DICOM reading: scan a folder, group slices into frames, order and time the frames.

Frame grouping and timing rules (documented in :func:`dcemets.io.read_dce` and the io guide):

* Slices are located by projecting ImagePositionPatient (0020,0032) on the slice normal
  (the cross product of the two ImageOrientationPatient (0020,0037) vectors).  Enhanced
  multi-frame MR files give one "slice" per frame (:mod:`dcemets.io._pydicom`).
* Frames: one per file at a single slice position; else the first of
  TemporalPositionIdentifier (0020,0100), SeriesInstanceUID (0020,000E), the time tags that
  splits the files into groups each holding every slice position exactly once; else the
  images at each position ranked by the first complete key (:func:`_rank_key_values`).
* Frame time: the first source of :data:`TIMING_SOURCES` present on every frame with
  distinct values; else the first present on two or more frames, the rest inferred from its
  regular spacing along an independent frame order (:func:`_fill_times`).
* Frame order: TemporalPositionIdentifier if every frame has its own, else frame time,
  else SeriesNumber (0020,0011), else InstanceNumber (0020,0013).

One concept: turning a folder of DICOM files into one DCE series (scan, series
selection, frame grouping and timing, geometry checks, pixel reading).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from dcemets._conventions import warn_user
from dcemets.io import _pydicom

TAGS = {
    "position": "0020|0032",
    "orientation": "0020|0037",
    "temporal_position": "0020|0100",
    "n_temporal_positions": "0020|0105",
    "temporal_resolution": "0020|0110",
    "sop_class": "0008|0016",
    "series_uid": "0020|000e",
    "series_number": "0020|0011",
    "instance_number": "0020|0013",
    "trigger_time": "0018|1060",
    "acquisition_date": "0008|0022",
    "acquisition_time": "0008|0032",
    "acquisition_datetime": "0008|002a",
    "content_date": "0008|0023",
    "content_time": "0008|0033",
    "series_date": "0008|0021",
    "repetition_time": "0018|0080",
    "echo_time": "0018|0081",
    "flip_angle": "0018|1314",
    "field_strength": "0018|0087",
    "frame_of_reference": "0020|0052",
    "series_description": "0008|103e",
    "number_of_frames": "0028|0008",
    "modality": "0008|0060",
    "pixel_spacing": "0028|0030",
    "slice_thickness": "0018|0050",
    "spacing_between_slices": "0018|0088",
    "rescale_intercept": "0028|1052",
    "rescale_slope": "0028|1053",
}


@dataclass
class _Slice:
    path: Path
    tags: dict[str, str] = field(default_factory=dict)
    normal_pos: float = 0.0
    index: int = 0  # row of this file in the bulk pixel array


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _read_header(path: Path) -> dict[str, str]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    reader.LoadPrivateTagsOff()
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ValueError(f"cannot read DICOM file '{path}': it is corrupt or truncated") from err
    return _tags_from(reader.HasMetaDataKey, reader.GetMetaData)


def _tags_from(has: Any, get: Any) -> dict[str, str]:
    out = {}
    for name, tag in TAGS.items():
        if has(tag):
            value = get(tag).strip().strip("\x00").strip()
            if value:
                out[name] = value
    return out


@contextmanager
def _quiet_itk() -> Iterator[None]:
    """Silence ITK warnings (printed to stderr) for the duration of a block."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _bulk_read(files: list[Path]) -> tuple[np.ndarray, list[dict[str, str]]] | None:
    """Pixels ``(n_files, ny, nx)`` and tags of all files in one ImageSeriesReader pass.

    Returns ``None`` if the files cannot be read together (different sizes or pixel types, a
    corrupt file); the caller then reads headers and frames file by file.
    """
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in files])
    reader.SetImageIO("GDCMImageIO")
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    try:
        with _quiet_itk():
            image = reader.Execute()
    except RuntimeError:
        return None
    if (
        image.GetDimension() != 3
        or image.GetNumberOfComponentsPerPixel() != 1
        or image.GetSize()[2] != len(files)
    ):
        return None
    tags = [
        _tags_from(lambda t, i=i: reader.HasMetaDataKey(i, t), lambda t, i=i: reader.GetMetaData(i, t))
        for i in range(len(files))
    ]
    return sitk.GetArrayFromImage(image), tags


def _floats(text: str, n: int, what: str, path: Path) -> np.ndarray:
    try:
        v = np.array([float(x) for x in text.split("\\")], dtype=float)
    except ValueError as err:
        raise ValueError(f"DICOM file '{path}' has an unreadable {what}: {text!r}") from err
    if v.size != n or not np.all(np.isfinite(v)):
        raise ValueError(f"DICOM file '{path}' has an invalid {what}: {text!r}")
    return v


def _parse_time(date: str | None, time: str) -> float | None:
    """Seconds since an epoch from a DICOM DA + TM pair (TM alone: seconds since midnight)."""
    t = time.replace(":", "").strip()
    if not t:
        return None
    try:
        hh = int(t[0:2])
        mm = int(t[2:4]) if len(t) >= 4 else 0
        ss = float(t[4:]) if len(t) > 4 else 0.0
    except ValueError:
        return None
    seconds = hh * 3600.0 + mm * 60.0 + ss
    if date:
        try:
            d = _dt.date(int(date[0:4]), int(date[4:6]), int(date[6:8]))
        except ValueError:
            return seconds
        return (d - _dt.date(1970, 1, 1)).days * 86400.0 + seconds
    return seconds


def _parse_datetime(text: str) -> float | None:
    t = text.split("+")[0].split("-")[0].strip() if len(text) > 8 else text
    if len(t) < 8:
        return None
    return _parse_time(t[:8], t[8:] or "000000")


def _list_files(folder: Path | list[Path]) -> list[Path]:
    folders = folder if isinstance(folder, list) else [folder]
    files = sorted(
        p for f in folders for p in ([f] if f.is_file() else f.rglob("*")) if p.is_file() and _is_dicom(p)
    )
    if not files:
        raise ValueError(f"no DICOM files (with a 'DICM' preamble) found in '{folder}'")
    return files


def _drop_derived(files: list[Path], folder: Path | list[Path]) -> list[Path]:
    """`files` without the SEG, RTSTRUCT and Parametric Map objects a lab stores beside a series.

    Needs pydicom (GDCM cannot read an RTSTRUCT's header as an image); without it, `files`
    is returned unchanged and such a file fails later with a message naming it.
    """
    try:
        import pydicom
    except ImportError:
        return files
    derived = (_pydicom.SEG, _pydicom.RTSTRUCT, _pydicom.PARAMETRIC_MAP)
    keep = []
    for p in files:
        try:
            sop = pydicom.dcmread(str(p), stop_before_pixels=True, specific_tags=["SOPClassUID"]).get(
                "SOPClassUID"
            )
        except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError):
            sop = None  # unreadable: kept, so that reading it reports the file
        if str(sop) not in derived:
            keep.append(p)
    if not keep:
        raise ValueError(
            f"'{folder}' holds only derived DICOM objects (SEG, RTSTRUCT, Parametric Map), no image series"
        )
    return keep


def _is_multiframe(tags: dict[str, str]) -> bool:
    n_frames = tags.get("number_of_frames", "")
    return (n_frames.isdigit() and int(n_frames) > 1) or tags.get("sop_class") == _pydicom.ENHANCED_MR


def scan_folder(folder: Path | list[Path]) -> Scan:
    """Read the headers of every DICOM file (``DICM`` magic) under `folder` (recursively).

    `folder` may be a list of folders (one series per phase in separate folders) or a single
    file.  Enhanced (multi-frame) MR images are read with pydicom, one :class:`_Slice` per
    frame (:func:`_scan_multiframe`).
    """
    files = _list_files(folder)
    try:
        first: dict[str, str] | None = _read_header(files[0])
    except ValueError:  # an RTSTRUCT has no image for GDCM; a corrupt file raises again below
        first = None
    if first is None or _is_multiframe(first):  # a SEG is multi-frame too
        files = _drop_derived(files, folder)
        if _is_multiframe(_read_header(files[0])):
            return _scan_multiframe(files, folder)
    bulk = _bulk_read(files)
    if bulk is None:
        kept = _drop_derived(files, folder)
        if len(kept) < len(files):
            files, bulk = kept, _bulk_read(kept)
    slices = []
    for i, p in enumerate(files):
        tags = bulk[1][i] if bulk is not None else _read_header(p)
        if _is_multiframe(tags):
            raise ValueError(
                f"'{folder}' mixes single-frame DICOM files with the multi-frame (enhanced) object "
                f"'{p}' ({tags.get('number_of_frames')} frames): it must hold one acquisition only; "
                "move the other series out"
            )
        slices.append(_Slice(p, tags, index=i))
    return Scan(slices=_place(slices, folder), pixels=None if bulk is None else bulk[0])


def _scan_multiframe(files: list[Path], folder: Path | list[Path]) -> Scan:
    """One :class:`_Slice` per frame of enhanced MR files, pixels rescaled per frame (PS3.3 C.7.6.16)."""
    slices: list[_Slice] = []
    blocks: list[np.ndarray] = []
    for p in files:
        ds = _pydicom.dcmread(p)
        if ds.get("SOPClassUID") != _pydicom.ENHANCED_MR and int(ds.get("NumberOfFrames", 1) or 1) < 2:
            raise ValueError(
                f"'{folder}' mixes multi-frame (enhanced) DICOM objects with the single-frame file "
                f"'{p}': it must hold one acquisition only; move the other series out"
            )
        raw = _pydicom.pixels(ds, p)
        slope, intercept = _pydicom.rescale(ds)
        if np.all(slope == 1) and np.all(intercept == 0):
            blocks.append(raw)
        else:
            blocks.append(raw * slope[:, None, None] + intercept[:, None, None])
        for tags in _pydicom.frame_tags(ds):
            tags["instance_number"] = str(len(slices) + 1)
            slices.append(_Slice(p, tags, index=len(slices)))
    if len({b.shape[1:] for b in blocks}) > 1:
        raise ValueError(f"'{folder}': the multi-frame DICOM files have different image sizes")
    pixels = (
        np.concatenate(blocks)
        if len({b.dtype for b in blocks}) == 1
        else np.concatenate([b.astype(float) for b in blocks])
    )
    return Scan(slices=_place(slices, folder), pixels=pixels)


def _place(slices: list[_Slice], folder: Path | list[Path]) -> list[_Slice]:
    """Check one orientation and set each slice's position along the normal."""
    for s in slices:
        for key in ("position", "orientation"):
            if key not in s.tags:
                raise ValueError(
                    f"DICOM file '{s.path}' (image {s.index + 1}) lacks {TAGS[key]} ({key}); cannot place the slice in space"
                )
    orient = _floats(slices[0].tags["orientation"], 6, "ImageOrientationPatient", slices[0].path)
    distinct: dict[str, _Slice] = {}
    for s in slices[1:]:
        distinct.setdefault(s.tags["orientation"], s)  # files of a series repeat one string
    for s in distinct.values():
        o = _floats(s.tags["orientation"], 6, "ImageOrientationPatient", s.path)
        if not np.allclose(o, orient, atol=1e-4):
            raise ValueError(
                f"'{folder}' holds images with different orientations ('{slices[0].path.name}' vs "
                f"'{s.path.name}'): it must hold one acquisition only; move other series out"
            )
    normal = np.cross(orient[:3], orient[3:])
    for s in slices:
        s.normal_pos = float(_floats(s.tags["position"], 3, "ImagePositionPatient", s.path) @ normal)
    return slices


@dataclass
class Scan:
    """The DICOM files of a folder: per-file tags and, if they could be read in one pass, pixels."""

    slices: list[_Slice]
    pixels: np.ndarray | None


def _series_key(s: _Slice) -> str:
    return s.tags.get("series_uid", "")


def _series_label(uid: str, group: list[_Slice]) -> str:
    tags = group[0].tags
    parts = [f"SeriesInstanceUID {uid or '(none)'}"]
    if "series_number" in tags:
        parts.append(f"SeriesNumber {tags['series_number']}")
    if "series_description" in tags:
        parts.append(f"SeriesDescription {tags['series_description']!r}")
    n_pos = np.unique(np.round([x.normal_pos for x in group], 3)).size
    per = len(group) / n_pos
    vols = f"{int(per)} image(s) per slice position" if per == int(per) else "uneven slice counts"
    return f"{', '.join(parts)}: {len(group)} file(s) at {n_pos} slice position(s), {vols}"


def select_series(slices: list[_Slice], series: str | None, folder: Path) -> list[_Slice]:
    """The slices of one acquisition: all of them, or those of the series `series` names.

    A folder whose files belong to several SeriesInstanceUIDs is one DCE acquisition when
    each series is a single volume on the same slice positions (one series per phase).  If
    a series holds several volumes (a dynamic series next to another series) or the series
    cover different positions, the folder mixes acquisitions: without `series` this raises,
    listing the series and how to pick one.  `series` matches a SeriesInstanceUID, a
    SeriesNumber or a SeriesDescription.
    """
    groups: dict[str, list[_Slice]] = {}
    for s in slices:
        groups.setdefault(_series_key(s), []).append(s)
    if series is not None:
        want = str(series).strip()
        chosen = [
            g
            for uid, g in groups.items()
            if want in (uid, g[0].tags.get("series_number"), g[0].tags.get("series_description"))
        ]
        if len(chosen) != 1:
            listing = "\n  ".join(_series_label(uid, g) for uid, g in groups.items())
            what = "no series" if not chosen else f"{len(chosen)} series"
            raise ValueError(
                f"`series`={series!r} matches {what} in '{folder}'; give a SeriesInstanceUID, "
                f"SeriesNumber or SeriesDescription that names one of:\n  {listing}"
            )
        return chosen[0]
    if len(groups) < 2:
        return slices
    positions = {uid: tuple(np.unique(np.round([x.normal_pos for x in g], 3))) for uid, g in groups.items()}
    one_volume_each = all(len(g) == len(positions[uid]) for uid, g in groups.items())
    same_positions = len(set(positions.values())) == 1
    if one_volume_each and same_positions:
        return slices  # one series per phase
    listing = "\n  ".join(_series_label(uid, g) for uid, g in groups.items())
    raise ValueError(
        f"'{folder}' holds {len(groups)} DICOM series that are not the phases of one DCE "
        f"acquisition:\n  {listing}\nchoose one with `series=` (its SeriesInstanceUID, "
        "SeriesNumber or SeriesDescription), or move the other series to their own folders"
    )


def _position_keys(slices: list[_Slice]) -> np.ndarray:
    """Integer slice-position index of each file (positions rounded to 1 micrometre)."""
    pos = np.round(np.array([s.normal_pos for s in slices]), 3)
    _, inverse = np.unique(pos, return_inverse=True)
    return inverse


@dataclass
class Frames:
    """Files grouped per frame (each sorted along the slice normal), ordered, with times."""

    files: list[list[Path]]
    slices: list[list[_Slice]]
    times: np.ndarray | None
    tags: dict[str, str]
    grouping: str
    timing: str | None
    timing_note: str | None = None
    timing_diagnosis: list[str] = field(default_factory=list)
    order: str | None = None


#: Frame-time sources in order of precedence: (label, DICOM attribute(s), unit, vendor practice).
#: Documented (and tested against) in docs/user_guide/io.md.
TIMING_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    (
        "TemporalPositionTimeOffset",
        "Temporal Position Sequence (0020,9310) > Temporal Position Time Offset (0020,930D), per frame",
        "s",
        "enhanced MR, any vendor (PS3.3 C.7.6.16.2)",
    ),
    (
        "TriggerTime",
        "Trigger Time (0018,1060); enhanced: Nominal Cardiac Trigger Delay Time (0020,9153)",
        "ms",
        "GE multi-phase DCE (DISCO, LAVA)",
    ),
    (
        "AcquisitionTime",
        (
            "Acquisition DateTime (0008,002A), else Acquisition Date (0008,0022) + Time (0008,0032); "
            "enhanced: Frame Acquisition DateTime (0018,9074)"
        ),
        "DT/TM",
        "Siemens (one AcquisitionTime per measurement), Philips",
    ),
    (
        "ContentTime",
        "Content Date (0008,0023) + Content Time (0008,0033); enhanced: Frame Reference DateTime (0018,9151)",
        "DT/TM",
        "any vendor (time the image was created)",
    ),
    (
        "TemporalPositionIdentifier x TemporalResolution",
        "(Temporal Position Identifier (0020,0100) - 1) x Temporal Resolution (0020,0110)",
        "ms",
        "Philips dynamic series (regular sampling)",
    ),
)


def _time_of(s: _Slice, source: str) -> float | None:
    """Time (s) of one image from one source of :data:`TIMING_SOURCES`, or ``None``."""
    tags = s.tags
    try:
        if source == "TemporalPositionTimeOffset":
            return float(tags["time_offset"]) if "time_offset" in tags else None
        if source == "TriggerTime":
            return float(tags["trigger_time"]) / 1000.0 if "trigger_time" in tags else None
        if source == "AcquisitionTime":
            v = _parse_datetime(tags["acquisition_datetime"]) if "acquisition_datetime" in tags else None
            if v is None and "acquisition_time" in tags:
                date = tags.get("acquisition_date") or tags.get("series_date")
                v = _parse_time(date, tags["acquisition_time"])
            return v
        if source == "ContentTime":
            v = _parse_datetime(tags["content_datetime"]) if "content_datetime" in tags else None
            if v is None and "content_time" in tags:
                v = _parse_time(tags.get("content_date") or tags.get("series_date"), tags["content_time"])
            return v
        if "temporal_position" in tags and "temporal_resolution" in tags:
            return (float(tags["temporal_position"]) - 1.0) * float(tags["temporal_resolution"]) / 1000.0
    except ValueError:
        return None
    return None


@dataclass
class Timing:
    """Per-frame times (s, NaN where unknown) from one source, and why sources were rejected."""

    times: np.ndarray | None
    label: str | None
    complete: bool
    diagnosis: list[str]


def _frame_time_values(groups: list[list[_Slice]]) -> Timing:
    """The first source of :data:`TIMING_SOURCES` that tells the frames apart.

    A source present on every frame with distinct values wins outright.  Otherwise the first
    source present on some frames (at least two, all distinct) is returned incomplete, for
    :func:`_fill_times` to infer the rest from the frame order.
    """
    n = len(groups)
    diagnosis: list[str] = []
    partial: Timing | None = None
    for label, *_ in TIMING_SOURCES:
        vals = np.full(n, np.nan)
        for i, g in enumerate(groups):
            found = [v for v in (_time_of(s, label) for s in g) if v is not None and np.isfinite(v)]
            if found:
                vals[i] = min(found)
        have = np.isfinite(vals)
        k = int(have.sum())
        if k == 0:
            diagnosis.append(f"{label}: absent")
            continue
        distinct = np.unique(vals[have]).size
        if distinct < k:
            what = "the same value on all" if distinct == 1 else f"only {distinct} distinct values on"
            diagnosis.append(f"{label}: {what} {k} frame(s) that carry it")
            continue
        if k == n:
            return Timing(vals, label, True, diagnosis)
        diagnosis.append(f"{label}: on {k} of {n} frames")
        if partial is None and k >= 2:
            partial = Timing(vals, label, False, [])
    if partial is not None:
        partial.diagnosis = diagnosis
        return partial
    return Timing(None, None, False, diagnosis)


def _fill_times(
    times: np.ndarray, label: str, frames: list[list[_Slice]], folder: Path
) -> tuple[np.ndarray, str]:
    """Infer the NaN entries of ordered frame `times` from the regular spacing of the others.

    Raises unless the known times increase along the frame order and lie on one regular grid
    (within 0.5 % of the interval or 1 ms), so that the missing ones are determined.
    """
    idx = np.flatnonzero(np.isfinite(times))
    known = times[idx]
    missing = np.flatnonzero(~np.isfinite(times))
    names = ", ".join(f"'{frames[i][0].path.name}'" for i in missing[:5]) + (
        " ..." if missing.size > 5 else ""
    )
    if np.any(np.diff(known) <= 0):
        raise ValueError(
            f"'{folder}': {label} is missing on {missing.size} frame(s) ({names}) and the others do "
            "not increase with the frame order, so the missing times cannot be inferred; pass "
            "`times=` (seconds from the first frame)"
        )
    dt = (known[-1] - known[0]) / (idx[-1] - idx[0])
    grid = known[0] + (idx - idx[0]) * dt
    if np.max(np.abs(known - grid)) > max(1e-3, 0.005 * dt):
        raise ValueError(
            f"'{folder}': {label} is missing on {missing.size} frame(s) ({names}) and the other "
            "frames are not evenly spaced, so the missing times cannot be inferred; pass `times=` "
            "(seconds from the first frame)"
        )
    out = times.copy()
    out[missing] = known[0] + (missing - idx[0]) * dt
    note = (
        f"{label} missing on {missing.size} of {times.size} frame(s) (frame index "
        f"{', '.join(str(int(i)) for i in missing[:10])}{' ...' if missing.size > 10 else ''}); "
        f"inferred from the regular {dt:.6g} s interval of the others"
    )
    return out, note


def _unique_per_group(groups: list[list[_Slice]], key: str) -> list[float] | None:
    out = []
    for g in groups:
        vals = {s.tags.get(key) for s in g}
        if len(vals) != 1 or None in vals:
            return None
        try:
            out.append(float(vals.pop()))  # type: ignore[arg-type]
        except ValueError:
            return None
    return out if len(set(out)) == len(out) else None


def _min_per_group(groups: list[list[_Slice]], key: str) -> list[float] | None:
    """The smallest numeric value of `key` over each group, if every group has one and all differ."""
    out = []
    for g in groups:
        vals = []
        for s in g:
            try:
                vals.append(float(s.tags[key]))
            except (KeyError, ValueError):
                continue
        if not vals:
            return None
        out.append(min(vals))
    return out if len(set(out)) == len(out) else None


def _rank_key_values(slices: list[_Slice], pos: np.ndarray) -> tuple[np.ndarray, str] | None:
    """A numeric key that orders the images at every slice position: the first complete one."""
    candidates: list[tuple[str, Any]] = [
        ("TemporalPositionIdentifier", lambda s: float(s.tags["temporal_position"])),
        *[(label, lambda s, lb=label: _time_of(s, lb)) for label, *_ in TIMING_SOURCES[:4]],
        ("InstanceNumber", lambda s: float(s.tags["instance_number"])),
    ]
    for label, fn in candidates:
        vals = np.empty(len(slices))
        for i, s in enumerate(slices):
            try:
                v = fn(s)
            except (KeyError, ValueError):
                v = None
            if v is None or not np.isfinite(v):
                break
            vals[i] = v
        else:
            per_pos_distinct = all(
                np.unique(vals[pos == p]).size == int(np.sum(pos == p)) for p in range(int(pos.max()) + 1)
            )
            if per_pos_distinct:
                return vals, label
    return None


def _split_frames(
    slices: list[_Slice], pos: np.ndarray, n_frames: int, folder: Path
) -> tuple[list[list[_Slice]], str, bool]:
    """The slices grouped into frames, how they were grouped, and whether by rank.

    A tag that takes `n_frames` values, each at every slice position, groups them (the first
    of TemporalPositionIdentifier, SeriesInstanceUID, timing tags); else the images at each
    position are ranked by the first numeric key complete on every file.
    """
    n_pos = int(pos.max()) + 1
    groups: list[list[_Slice]] | None = None
    grouping = ""
    ranked = False
    if n_frames == 1:
        groups, grouping = [list(slices)], "single volume"
    elif n_pos == 1:
        groups, grouping = [[s] for s in slices], "one image per frame (single slice position)"
    else:
        for key, label in (
            ("temporal_position", "TemporalPositionIdentifier"),
            ("series_uid", "SeriesInstanceUID"),
            ("time_offset", "TemporalPositionTimeOffset"),
            ("trigger_time", "TriggerTime"),
            ("acquisition_datetime", "AcquisitionDateTime"),
            ("acquisition_time", "AcquisitionTime"),
            ("content_time", "ContentTime"),
        ):
            values = [s.tags.get(key) for s in slices]
            if any(v is None for v in values):
                continue
            uniq = sorted(set(values), key=str)
            if len(uniq) != n_frames:
                continue
            idx = [[i for i, v in enumerate(values) if v == u] for u in uniq]
            if all(np.unique(pos[g]).size == n_pos for g in idx):
                groups, grouping = [[slices[i] for i in g] for g in idx], label
                break
    if groups is None:
        found = _rank_key_values(slices, pos)
        if found is None:
            raise ValueError(
                f"'{folder}': {n_frames} images at each of {n_pos} slice positions, but no tag "
                "(TemporalPositionIdentifier, TriggerTime, AcquisitionTime, ContentTime, "
                "InstanceNumber) present on every file tells which image belongs to which frame; "
                "split the series into one folder per frame and pass `times=`"
            )
        rank_values, key_label = found
        by_pos: list[list[int]] = [
            sorted(np.flatnonzero(pos == p), key=lambda i: rank_values[i]) for p in range(n_pos)
        ]
        groups = [[slices[by_pos[p][f]] for p in range(n_pos)] for f in range(n_frames)]
        grouping = f"rank at each slice position by {key_label}"
        ranked = True
    return groups, grouping, ranked


def _frame_order(
    groups: list[list[_Slice]], timing: Any, grouping: str, ranked: bool
) -> tuple[np.ndarray, str | None]:
    """The order of the frames and the tag that gave it (None: the order found on disk).

    TemporalPositionIdentifier, else the frames' times when every frame has one, else
    SeriesNumber or InstanceNumber (smallest per frame), else the grouping's own order.
    """
    times = timing.times
    tpi = _unique_per_group(groups, "temporal_position")
    order_label = None
    if tpi is not None:
        order, order_label = np.argsort(tpi, kind="stable"), "TemporalPositionIdentifier"
    elif times is not None and timing.complete:
        order, order_label = np.argsort(times, kind="stable"), timing.label
    else:
        for key, label in (("series_number", "SeriesNumber"), ("instance_number", "InstanceNumber")):
            vals = _min_per_group(groups, key)
            if vals is not None:
                order, order_label = np.argsort(vals, kind="stable"), label
                break
        else:
            order = np.arange(len(groups))
            order_label = grouping if ranked else None
    return order, order_label


def group_frames(slices: list[_Slice], folder: Path) -> Frames:
    """Split the slices of one acquisition into frames, order and time them."""
    pos = _position_keys(slices)
    n_pos = int(pos.max()) + 1
    n = len(slices)
    if n % n_pos:
        raise ValueError(
            f"'{folder}' holds {n} DICOM files at {n_pos} slice positions: not the same number of "
            "images at every position (missing or extra files?)"
        )
    n_frames = n // n_pos
    counts = np.bincount(pos, minlength=n_pos)
    if np.any(counts != n_frames):
        raise ValueError(
            f"'{folder}': slice positions hold between {counts.min()} and {counts.max()} images; "
            "every position needs one image per frame (missing files?)"
        )
    groups, grouping, ranked = _split_frames(slices, pos, n_frames, folder)
    timing = _frame_time_values(groups)
    times = timing.times
    order, order_label = _frame_order(groups, timing, grouping, ranked)
    groups = [groups[i] for i in order]
    note = None
    if times is not None:
        times = times[order]
        if not timing.complete:
            if order_label is None:
                raise ValueError(
                    f"'{folder}': {timing.label} is missing on some frames and no tag "
                    "(TemporalPositionIdentifier, SeriesNumber, InstanceNumber) orders the frames, "
                    "so their times cannot be inferred; pass `times=` (seconds from the first frame)"
                )
            times, note = _fill_times(times, str(timing.label), groups, folder)
        times = times - times[0]
        if np.any(np.diff(times) <= 0):
            raise ValueError(
                f"'{folder}': frames ordered by {order_label} have non-increasing "
                f"{timing.label} times {np.round(times, 3).tolist()} s; the DICOM tags are "
                "inconsistent, pass `times` explicitly"
            )
    ordered = [sorted(g, key=lambda s: s.normal_pos) for g in groups]
    return Frames(
        files=[[s.path for s in g] for g in ordered],
        slices=ordered,
        times=times,
        tags=dict(groups[0][0].tags),
        grouping=grouping,
        timing=timing.label if times is not None else None,
        timing_note=note,
        timing_diagnosis=timing.diagnosis,
        order=order_label,
    )


def read_volume(files: list[Path], folder: Path) -> sitk.Image:
    """Read one 3D volume from slice files sorted along the normal, checking even spacing."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in files])
    reader.SetImageIO("GDCMImageIO")
    try:
        return reader.Execute()
    except RuntimeError as err:
        # find the culprit file
        for p in files:
            try:
                r = sitk.ImageFileReader()
                r.SetFileName(str(p))
                r.SetImageIO("GDCMImageIO")
                r.Execute()
            except RuntimeError as err2:
                raise ValueError(f"cannot read DICOM file '{p}': it is corrupt or truncated") from err2
        raise ValueError(
            f"cannot read the DICOM series in '{folder}': {str(err).strip().splitlines()[-1]}"
        ) from err


def check_spacing(slices_pos: np.ndarray, folder: Path) -> None:
    """Raise unless the slice positions along the normal are evenly spaced."""
    if slices_pos.size < 3:
        return
    d = np.diff(np.sort(slices_pos))
    if not np.allclose(d, d.mean(), rtol=1e-3, atol=1e-3):
        raise ValueError(
            f"'{folder}': slices are unevenly spaced along the normal (gaps {np.round(d, 3).tolist()} mm); "
            "missing slices or a mixed series"
        )


def acquisition_attrs(tags: dict[str, str]) -> dict[str, Any]:
    """Acquisition attrs (``tr_s``, ``te_s``, ``flip_angle_deg``, ...) from DICOM tags."""
    out: dict[str, Any] = {}
    for key, attr, scale in (
        ("repetition_time", "tr_s", 1e-3),
        ("echo_time", "te_s", 1e-3),
        ("flip_angle", "flip_angle_deg", 1.0),
        ("field_strength", "field_strength_T", 1.0),
    ):
        value = tags.get(key, "").strip()
        if not value:  # absent or empty (type 2/3 tags may be present but empty)
            continue
        try:
            out[attr] = float(value.split("\\")[0]) * scale
        except ValueError:
            warn_user(
                f"DICOM tag {key!r} has an unreadable value {value!r}; `{attr}` is left unset", UserWarning
            )
    for key, attr in (
        ("frame_of_reference", "frame_of_reference"),
        ("series_description", "series_description"),
        ("modality", "modality"),
    ):
        if key in tags:
            out[attr] = tags[key]
    return out


def _volume_from_pixels(pixels: np.ndarray, frame: list[_Slice]) -> sitk.Image | None:
    """A 3D image from bulk-read pixels and the tags of a frame's sorted slices, or ``None``."""
    first = frame[0]
    if "pixel_spacing" not in first.tags:
        return None
    try:
        dy, dx = (float(v) for v in first.tags["pixel_spacing"].split("\\")[:2])
    except ValueError:
        return None
    orient = _floats(first.tags["orientation"], 6, "ImageOrientationPatient", first.path)
    row, col = orient[:3], orient[3:]
    direction = np.column_stack([row, col, np.cross(row, col)])
    if len(frame) > 1:
        dz = (frame[-1].normal_pos - frame[0].normal_pos) / (len(frame) - 1)
    else:
        dz = 1.0
        for key in ("spacing_between_slices", "slice_thickness"):
            try:
                dz = abs(float(first.tags[key]))
                break
            except (KeyError, ValueError):
                continue
    if not (dx > 0 and dy > 0 and dz > 0):
        return None
    image = sitk.GetImageFromArray(pixels[[s.index for s in frame]])
    image.SetOrigin(
        tuple(float(v) for v in _floats(first.tags["position"], 3, "ImagePositionPatient", first.path))
    )
    image.SetSpacing((dx, dy, float(dz)))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image


def _rescale(s: _Slice) -> tuple[float, float]:
    try:
        return float(s.tags.get("rescale_slope", "1")), float(s.tags.get("rescale_intercept", "0"))
    except ValueError:
        return (np.nan, np.nan)


def _read_slices_float(frames: Frames, n_files: int) -> np.ndarray:
    """Read every file on its own as float64 (each with its own rescale slope/intercept)."""
    pixels: np.ndarray | None = None
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    for g in frames.slices:
        for s in g:
            reader.SetFileName(str(s.path))
            try:
                arr = sitk.GetArrayFromImage(sitk.Cast(reader.Execute(), sitk.sitkFloat64))
            except RuntimeError as err:
                raise ValueError(f"cannot read DICOM file '{s.path}': it is corrupt or truncated") from err
            if pixels is None:
                pixels = np.zeros((n_files, *arr.shape[-2:]))
            if arr.shape[-2:] != pixels.shape[1:]:
                raise ValueError(f"DICOM file '{s.path}' has another image size than the rest of its series")
            pixels[s.index] = arr.reshape(arr.shape[-2:])
    assert pixels is not None
    return pixels


def read_frames(scan: Scan, frames: Frames, folder: Path) -> list[sitk.Image]:
    """One 3D image per frame: from the bulk-read pixels when possible, else file by file.

    ITK reads a series into the pixel type of its first file, so when the rescale slope or
    intercept (0028,1053/1052) differs between files (per-frame scaling) every file is read
    on its own as float64 instead.
    """
    slices = [s for g in frames.slices for s in g]
    uniform = len({_rescale(s) for s in slices}) == 1
    pixels = scan.pixels if uniform else _read_slices_float(frames, len(scan.slices))
    if pixels is not None:
        images = [_volume_from_pixels(pixels, g) for g in frames.slices]
        if all(im is not None for im in images):
            return images  # type: ignore[return-value]
    return [read_volume(files, folder) for files in frames.files]


def read_stack(scan: Scan, frames: Frames) -> tuple[np.ndarray, sitk.Image] | None:
    """All frames as one ``(t, z, y, x)`` array plus the first frame's image (its geometry).

    The fast path of :func:`read_frames` for series whose files were read in one pass with
    one rescale and one pixel spacing: the frames share slice positions and orientation (as
    grouped and checked), so their grids are identical and no per-frame image is built.
    Returns ``None`` when this does not apply.
    """
    slices = [s for g in frames.slices for s in g]
    if scan.pixels is None or len({_rescale(s) for s in slices}) != 1:
        return None
    if len({s.tags.get("pixel_spacing") for s in slices}) != 1:
        return None
    first = _volume_from_pixels(scan.pixels, frames.slices[0])
    if first is None:
        return None
    index = np.array([[s.index for s in g] for g in frames.slices])
    return scan.pixels[index], first
