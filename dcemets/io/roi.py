"""ROIs and results in the formats of a radiology lab: DICOM SEG, RTSTRUCT, label maps, Parametric Maps.

One concept: the lab's file formats above, each read and written here (its round trip is
tested as a pair).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import (
    _version,
    geometry,
    like,
    make_image,
    validate_dce,
    validate_image,
)
from dcemets.io import _dicom, _pydicom
from dcemets.io._files import PathLike, as_path, make_parent, require_exists
from dcemets.io.images import read_image

__all__ = ["read_roi", "write_parametric_map", "write_seg"]

#: how far (in voxels) a SEG plane or an RTSTRUCT contour may lie off a voxel centre plane
_PLANE_TOL = 0.25


# ----------------------------------------------------------------------------------- checks


def _check_reference(reference: Any) -> xr.DataArray | None:
    if reference is None:
        return None
    if not isinstance(reference, xr.DataArray):
        raise TypeError(
            f"`reference` must be an xarray.DataArray (a 3D image or DCE series), got {type(reference).__name__}"
        )
    if "time" in reference.dims:
        return validate_dce(reference, name="reference", allow_nan=True, min_frames=1)
    return validate_image(reference, name="reference", allow_nan=True)


def _check_label(label: Any) -> int | str | None:
    if label is None or isinstance(label, str):
        return label
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
        return int(label)
    raise TypeError(f"`label` must be an int (number/value) or a str (name), got {type(label).__name__}")


def _pick(available: dict[int, str], label: int | str | None, what: str, path: Path) -> int:
    """The number of the one segment / ROI that `label` names (its number or its name)."""
    listing = ", ".join(f"{k} {v!r}" for k, v in sorted(available.items()))
    if not available:
        raise ValueError(f"'{path}' holds no {what}")
    if label is None:
        if len(available) == 1:
            return next(iter(available))
        raise ValueError(f"'{path}' holds {len(available)} {what}s ({listing}); choose one with `label=`")
    hits = [k for k, v in available.items() if label in (k, v)]
    if len(hits) != 1:
        raise ValueError(f"`label`={label!r} names {len(hits)} of the {what}s in '{path}': {listing}")
    return hits[0]


# ------------------------------------------------------------------------------------ grids


def _embed(mask: xr.DataArray, reference: xr.DataArray, path: Path) -> xr.DataArray:
    """Put a mask on the grid of `reference`, whose voxels its voxels must coincide with."""
    g = geometry(mask)
    d = g.direction_matrix
    pos = (
        np.asarray(g.origin)[None, :]
        + d[:, 2][None, :] * g.spacing[2] * np.arange(int(mask.sizes["z"]))[:, None]
    )
    attrs = {k: mask.attrs[k] for k in ("roi_label", "roi_source", "frame_of_reference") if k in mask.attrs}
    values = np.asarray(mask.transpose("z", "y", "x").values)
    return _place_frames(values, pos, d[:, 0], d[:, 1], g.spacing[:2], reference, path, attrs)


# -------------------------------------------------------------------------------------- SEG


def _read_seg(ds: Any, path: Path, label: int | str | None, reference: xr.DataArray | None) -> xr.DataArray:
    segments = {int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in ds.get("SegmentSequence", [])}
    number = _pick(segments, label, "segment", path)
    tags = _pydicom.frame_tags(ds)
    per = ds.get("PerFrameFunctionalGroupsSequence")
    seg_of = np.empty(len(tags), int)
    for i, t in enumerate(tags):
        ident = _pydicom.group_item(ds, per[i] if per is not None else None, "SegmentIdentificationSequence")
        for key in ("position", "orientation", "pixel_spacing"):
            if key not in t:
                raise ValueError(f"DICOM SEG '{path}' frame {i + 1} lacks {key}; cannot place it in space")
        seg_of[i] = int(ident.ReferencedSegmentNumber) if ident is not None else 1
    orient = _dicom._floats(tags[0]["orientation"], 6, "ImageOrientationPatient", path)
    row, col = orient[:3], orient[3:]
    normal = np.cross(row, col)
    dy, dx = _dicom._floats(tags[0]["pixel_spacing"], 2, "PixelSpacing", path)
    pos = np.array([_dicom._floats(t["position"], 3, "ImagePositionPatient", path) for t in tags])
    frames = _pydicom.pixels(ds, path)
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        frames = frames >= 0.5 * float(ds.get("MaximumFractionalValue", 255))
    else:
        frames = frames > 0
    chosen = seg_of == number
    attrs: dict[str, Any] = {"roi_label": segments[number], "roi_source": "DICOM SEG"}
    if "FrameOfReferenceUID" in ds:
        attrs["frame_of_reference"] = str(ds.FrameOfReferenceUID)
    if reference is not None:
        return _place_frames(frames[chosen], pos[chosen], row, col, (dx, dy), reference, path, attrs)
    along = pos @ normal
    inplane = pos @ np.column_stack([row, col])
    if np.ptp(inplane, axis=0).max() > 1e-3 * max(dx, dy) + 1e-4:
        raise ValueError(
            f"DICOM SEG '{path}': the frames are not one stack of planes (in-plane offsets differ)"
        )
    planes = np.unique(np.round(along, 4))
    if planes.size > 1:
        dz = float(np.min(np.diff(planes)))
    else:
        dz = float(tags[0].get("spacing_between_slices", tags[0].get("slice_thickness", 1.0)))
    k = (along - planes[0]) / dz
    if np.abs(k - np.round(k)).max() > _PLANE_TOL:
        raise ValueError(
            f"DICOM SEG '{path}': the frames are not evenly spaced along the slice normal; pass "
            "`reference=` (the image it segments) to place them on its grid"
        )
    k = np.round(k).astype(int)
    out = np.zeros((int(k.max()) + 1, int(ds.Rows), int(ds.Columns)), bool)
    np.logical_or.at(out, k[chosen], frames[chosen])
    first = int(np.argmin(along))
    origin = pos[first] - normal * (along[first] - planes[0])
    return make_image(
        out,
        spacing=(dx, dy, dz),
        origin=origin,
        direction=np.column_stack([row, col, normal]),
        name="roi",
        attrs=attrs,
    )


def _place_frames(
    frames: np.ndarray,
    pos: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    pixel: tuple[float, float],
    reference: xr.DataArray,
    path: Path,
    attrs: dict[str, Any],
) -> xr.DataArray:
    """Put 2D frames (their IPP, row/column axes and pixel spacing) on the voxels of `reference`."""
    g = geometry(reference)
    d = g.direction_matrix
    same_axes = np.allclose(d[:, 0], row, atol=1e-4) and np.allclose(d[:, 1], col, atol=1e-4)
    same_pixels = np.allclose(pixel, g.spacing[:2], rtol=1e-4, atol=1e-5)
    idx = np.linalg.solve(g.index_to_world(), np.column_stack([pos, np.ones(len(pos))]).T)[:3].T
    on_voxels = np.abs(idx - np.round(idx)).max() <= _PLANE_TOL if len(idx) else True
    if not (same_axes and same_pixels and on_voxels):
        raise ValueError(
            f"the ROI of '{path}' is not on the grid of `reference` (other orientation, pixel "
            "spacing or slice positions): read it without `reference` and carry it over with "
            "dcemets.segmentation.transfer_roi(roi, reference)"
        )
    shape = tuple(int(reference.sizes[d_]) for d_ in ("z", "y", "x"))
    out = np.zeros(shape, bool)
    for (x0, y0, k), frame in zip(np.round(idx).astype(int), frames):
        _, y_, x_ = np.nonzero(frame[None])
        yi, xi = y_ + y0, x_ + x0
        inside = (0 <= k < shape[0]) & (yi >= 0) & (yi < shape[1]) & (xi >= 0) & (xi < shape[2])
        if not np.all(inside):
            raise ValueError(
                f"{int(np.sum(~inside))} voxel(s) of the ROI of '{path}' lie outside the `reference` volume"
            )
        out[k, yi, xi] = True
    res = like(reference, out, name="roi", units="1", long_name=f"ROI {attrs['roi_label']}")
    res.attrs.update(attrs)
    return res


# --------------------------------------------------------------------------------- RTSTRUCT


def _read_rtstruct(
    ds: Any, path: Path, label: int | str | None, reference: xr.DataArray | None
) -> xr.DataArray:
    rois = {int(r.ROINumber): str(r.get("ROIName", "")) for r in ds.get("StructureSetROISequence", [])}
    number = _pick(rois, label, "ROI", path)
    if reference is None:
        raise ValueError(
            f"'{path}' is an RTSTRUCT: it holds contours, not a grid; pass `reference=` the image they "
            "were drawn on (e.g. read_image of the T2W series it references) or the DCE series"
        )
    ref_for = reference.attrs.get("frame_of_reference")
    ds_for = [
        str(r.FrameOfReferenceUID)
        for r in ds.get("ReferencedFrameOfReferenceSequence", [])
        if "FrameOfReferenceUID" in r
    ]
    if ref_for and ds_for and ref_for not in ds_for:
        raise ValueError(
            f"'{path}' is drawn in frame of reference {ds_for[0]!r}, `reference` is in {ref_for!r}; "
            "their patient coordinates cannot be compared"
        )
    from skimage.draw import polygon

    g = geometry(reference)
    to_index = np.linalg.inv(g.index_to_world())
    shape = tuple(int(reference.sizes[d]) for d in ("z", "y", "x"))
    mask = np.zeros(shape, bool)
    n_closed = 0
    for rc in ds.get("ROIContourSequence", []):
        if int(rc.ReferencedROINumber) != number:
            continue
        for c in rc.get("ContourSequence", []):
            if str(c.get("ContourGeometricType", "CLOSED_PLANAR")).upper() != "CLOSED_PLANAR":
                continue
            pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
            idx = (to_index[:3, :3] @ pts.T).T + to_index[:3, 3]  # (x, y, z) index
            kz = np.round(idx[:, 2])
            if np.ptp(kz) > 0 or np.abs(idx[:, 2] - kz).max() > _PLANE_TOL:
                raise ValueError(
                    f"a contour of ROI {number} in '{path}' does not lie on a slice of `reference` "
                    f"(slice index {idx[:, 2].min():.2f}..{idx[:, 2].max():.2f}): pass the image it was "
                    "drawn on, then carry the mask over with dcemets.segmentation.transfer_roi"
                )
            k = int(kz[0])
            if not 0 <= k < shape[0]:
                raise ValueError(f"a contour of ROI {number} in '{path}' lies outside the `reference` volume")
            rr, cc = polygon(idx[:, 1], idx[:, 0], shape=shape[1:])
            plane = np.zeros(shape[1:], bool)
            plane[rr, cc] = True
            mask[k] ^= plane  # even-odd rule: a contour inside another is a hole
            n_closed += 1
    if n_closed == 0:
        raise ValueError(f"ROI {number} ({rois[number]!r}) of '{path}' has no closed planar contour")
    out = like(reference, mask, name="roi", units="1", long_name=f"RTSTRUCT ROI {rois[number]}")
    out.attrs.update({"roi_label": rois[number], "roi_source": "DICOM RTSTRUCT"})
    return out


# ------------------------------------------------------------------------------ public API


def read_roi(
    path: PathLike,
    *,
    reference: xr.DataArray | None = None,
    label: int | str | None = None,
) -> xr.DataArray:
    """Read an ROI as a bool mask: DICOM SEG, DICOM RTSTRUCT, or a label map (NIfTI, NRRD, ...).

    Parameters
    ----------
    path : str or os.PathLike
        A DICOM Segmentation (SEG) or RT Structure Set (RTSTRUCT) file, or a label-map image
        that :func:`read_image` reads (``.nii.gz``, ``.nrrd``, ``.mha``, a DICOM folder).
    reference : xarray.DataArray, optional
        The image the ROI was drawn on (a 3D image or a DCE series; only its grid is read).
        Required for an RTSTRUCT, whose contours are rasterised on it.  For a SEG or a label
        map, the mask is returned on this grid, which must share its voxels (e.g. a SEG that
        stores only the slices holding the lesion, on the DCE it references).
    label : int or str, optional
        Which ROI: a SEG's SegmentNumber or SegmentLabel, an RTSTRUCT's ROINumber or ROIName,
        a label map's value.  Required when the file holds several; a label map without it
        gives its non-zero voxels.

    Returns
    -------
    xarray.DataArray
        Bool mask ``(z, y, x)``: on its own grid (the SEG's planes, from the first to the last
        plane it stores; the label map's grid) or on the grid of `reference`, with attrs
        ``roi_label`` and ``roi_source`` and, for DICOM, ``frame_of_reference``.  To carry a
        mask to another grid (a sagittal T2W outline onto the axial DCE), use
        :func:`dcemets.segmentation.transfer_roi`.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ImportError
        For a DICOM SEG or RTSTRUCT without pydicom (``pip install 'dcemets[dicom]'``).
    ValueError
        If the file is neither a SEG, an RTSTRUCT nor an image, `label` names no ROI (or is
        missing and several exist: the message lists them), an RTSTRUCT comes without
        `reference` or has contours off its slices, or the mask does not share the voxels of
        `reference` (the message points to ``transfer_roi``).
    TypeError
        If `reference` is not a DataArray or `label` not an int or str.

    Notes
    -----
    A SEG is placed from its per-frame Plane Position and shared Plane Orientation and Pixel
    Measures functional groups; frames of the chosen segment (Segment Identification) are
    combined, FRACTIONAL ones thresholded at half the Maximum Fractional Value.  RTSTRUCT
    CLOSED_PLANAR contours are mapped from patient coordinates (mm, LPS) to voxel indices of
    `reference`; each must lie within a quarter voxel of a slice centre plane.  A voxel is
    inside when its centre is inside the polygon (``skimage.draw.polygon``), and contours of
    one ROI on one slice combine by the even-odd rule, so an inner contour is a hole.

    References
    ----------
    .. [1] NEMA PS3.3, Segmentation IOD (A.51) and Segmentation Image Module (C.8.20.2);
           Multi-frame Functional Groups (C.7.6.16); Structure Set and ROI Contour Modules
           (C.8.8.5, C.8.8.6). https://www.dicomstandard.org/current
    .. [2] Herz C et al. highdicom: a Python library for standardized encoding of image
           annotations and machine learning model outputs in pathology and radiology. J Digit
           Imaging 2022;35:1719-1737. :doi:`10.1007/s10278-022-00683-y`

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> from dcemets.io import write_image
    >>> labels = make_image(np.array([[[0, 1, 2, 2]]], dtype=np.uint8), spacing=0.5)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_image(labels, pathlib.Path(tmp) / "labels.nii.gz")
    ...     roi = read_roi(path, label=2)
    >>> roi.values.astype(int).tolist(), roi.attrs["roi_label"]
    ([[[0, 0, 1, 1]]], '2')
    """
    p = as_path(path)
    require_exists(p)
    ref = _check_reference(reference)
    lab = _check_label(label)
    if p.is_file() and _dicom._is_dicom(p):
        try:
            import pydicom  # noqa: F401  (SEG and RTSTRUCT hold no image GDCM can read)

            sop = str(
                _pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"]).get(
                    "SOPClassUID", ""
                )
            )
        except ImportError:
            sop = _dicom._read_header(p).get("sop_class", "")
        if sop in (_pydicom.SEG, _pydicom.RTSTRUCT):
            ds = _pydicom.dcmread(p)
            if sop == _pydicom.RTSTRUCT:
                return _read_rtstruct(ds, p, lab, ref)
            return _read_seg(ds, p, lab, ref)
    image = read_image(p)
    if image.dtype.kind not in "biu":
        raise ValueError(f"'{p}' holds {image.dtype} values, not labels (an integer or bool image)")
    values = np.asarray(image.values)
    present = sorted(int(v) for v in np.unique(values) if v != 0)
    if lab is None:
        mask, name = values != 0, ",".join(str(v) for v in present)
    else:
        if isinstance(lab, str) or lab not in present:
            raise ValueError(f"`label`={lab!r} is not a value of the label map '{p}' (it holds {present})")
        mask, name = values == lab, str(lab)
    out = like(image, mask, name="roi", units="1", long_name="label map ROI")
    out.attrs.update({"roi_label": name, "roi_source": "label map"})
    if "frame_of_reference" in image.attrs:
        out.attrs["frame_of_reference"] = image.attrs["frame_of_reference"]
    return out if ref is None else _embed(out, ref, p)


# ------------------------------------------------------------------------------------ write


def _source_datasets(source: PathLike, image: xr.DataArray) -> list[Any]:
    """Headers of the source series: one image per slice position (the first frame of a DCE)."""
    src = as_path(source, "source")
    require_exists(src)
    files = _dicom._list_files(src)
    first = _pydicom.dcmread(files[0], stop_before_pixels=True)
    if int(first.get("NumberOfFrames", 1) or 1) > 1:
        return [first]
    derived = (_pydicom.SEG, _pydicom.RTSTRUCT, _pydicom.PARAMETRIC_MAP)
    headers = [
        h
        for h in (_pydicom.dcmread(f, stop_before_pixels=True) for f in files)
        if h.get("SOPClassUID") not in derived
    ]
    if not headers:
        raise ValueError(
            f"`source` '{src}' holds no DICOM image (only SEG, RTSTRUCT or Parametric Map objects)"
        )
    series = min(str(h.get("SeriesInstanceUID", "")) for h in headers)
    by_pos: dict[tuple[float, ...], Any] = {}
    for h in sorted(headers, key=lambda h: int(h.get("InstanceNumber", 0) or 0)):
        if str(h.get("SeriesInstanceUID", "")) == series and "ImagePositionPatient" in h:
            by_pos.setdefault(tuple(np.round(np.asarray(h.ImagePositionPatient, float), 3)), h)
    out = list(by_pos.values())
    for_src = str(out[0].get("FrameOfReferenceUID", "")) if out else ""
    for_img = image.attrs.get("frame_of_reference")
    if for_img and for_src and for_img != for_src:
        raise ValueError(
            f"the image is in frame of reference {for_img!r}, `source` '{src}' in {for_src!r}: "
            "give the series the image was computed on"
        )
    return out


def _plane_geometry(image: xr.DataArray) -> dict[str, Any]:
    hd = _pydicom.require("highdicom", "writing DICOM SEG and Parametric Maps")
    g = geometry(image)
    d = g.direction_matrix
    sx, sy, sz = g.spacing
    origin = np.asarray(g.origin)
    positions = [
        hd.PlanePositionSequence(
            coordinate_system="PATIENT", image_position=[float(v) for v in origin + d[:, 2] * sz * k]
        )
        for k in range(int(image.sizes["z"]))
    ]
    return {
        "plane_positions": positions,
        "plane_orientation": hd.PlaneOrientationSequence(
            coordinate_system="PATIENT", image_orientation=[float(v) for v in (*d[:, 0], *d[:, 1])]
        ),
        "pixel_measures": hd.PixelMeasuresSequence(
            pixel_spacing=[float(sy), float(sx)], slice_thickness=float(sz), spacing_between_slices=float(sz)
        ),
    }


def _zyx(image: xr.DataArray) -> np.ndarray:
    return np.asarray(image.transpose("z", "y", "x").values)


def _save(dataset: Any, path: PathLike) -> Path:
    p = as_path(path)
    make_parent(p)
    dataset.save_as(str(p), enforce_file_format=True)
    return p


def write_seg(
    mask: xr.DataArray,
    path: PathLike,
    *,
    source: PathLike,
    label: str = "lesion",
    algorithm_type: str = "AUTOMATIC",
    series_number: int = 300,
) -> Path:
    """Write a bool mask as a DICOM Segmentation (binary SEG) referencing its source series.

    Parameters
    ----------
    mask : xarray.DataArray
        Bool (or 0/1 integer) mask ``(z, y, x)`` with dcemets geometry, e.g. the lesion
        segmentation on the DCE grid.
    path : str or os.PathLike
        Output file (``.dcm``); parent folders are created.
    source : str or os.PathLike
        The DICOM series the mask was drawn on or computed from (a folder, or an enhanced
        multi-frame file): the SEG references it and takes the patient and study from it.
    label : str, default "lesion"
        Segment Label (0062,0005); the segment is coded as SNOMED-CT "Neoplasm" in a
        "Morphologically Abnormal Structure".
    algorithm_type : {"AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"}, default "AUTOMATIC"
        Segment Algorithm Type (0062,0008).
    series_number : int, default 300
        Series Number of the new SEG series.

    Returns
    -------
    pathlib.Path
        The written file.  Its geometry is the mask's (per-frame Plane Position, shared Plane
        Orientation and Pixel Measures), every slice kept, so :func:`read_roi` gives back the
        mask on its grid.

    Raises
    ------
    ImportError
        Without highdicom (``pip install 'dcemets[dicom]'``).
    TypeError
        If `mask` is not a bool or integer DataArray.
    ValueError
        If `mask` is not a 3D image, holds values other than 0/1, the source's frame of
        reference differs from the mask's, or an option is out of range.

    References
    ----------
    .. [1] NEMA PS3.3, Segmentation IOD (A.51), Segmentation Image Module (C.8.20.2).
           https://www.dicomstandard.org/current
    .. [2] Herz C et al. highdicom. J Digit Imaging 2022;35:1719-1737.
           :doi:`10.1007/s10278-022-00683-y`

    Examples
    --------
    A two-slice MR series (written here with SimpleITK; yours comes from the scanner):

    >>> import tempfile, pathlib
    >>> import numpy as np, SimpleITK as sitk
    >>> from dcemets.io import read_image
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> (tmp / "t2w").mkdir()
    >>> writer = sitk.ImageFileWriter()
    >>> writer.KeepOriginalImageUIDOn()  # keep the UIDs set below
    >>> for k in range(2):
    ...     sl = sitk.GetImageFromArray(np.full((1, 3, 4), k, np.int16))
    ...     sl.SetOrigin((0.0, 0.0, 2.0 * k))
    ...     for tag, value in {"0008|0060": "MR", "0020|000d": "1.2", "0020|000e": "1.2.3", "0020|0052": "1.2.3.4",
    ...                        "0018|0050": "2"}.items():
    ...         sl.SetMetaData(tag, value)
    ...     writer.SetFileName(str(tmp / "t2w" / f"{k}.dcm"))
    ...     writer.Execute(sl)
    >>> mask = read_image(tmp / "t2w") > 0
    >>> seg = write_seg(mask, tmp / "seg.dcm", source=tmp / "t2w")
    >>> read_roi(seg).values.sum(axis=(1, 2)).tolist()
    [0, 12]
    """
    hd = _pydicom.require("highdicom", "writing a DICOM SEG")
    from pydicom.sr.codedict import codes

    m = validate_image(mask, name="mask")
    if m.dtype.kind not in "biu":
        raise TypeError(f"`mask` must be a bool or 0/1 integer mask, got dtype {m.dtype}")
    values = _zyx(m)
    if m.dtype.kind != "b":
        if not np.isin(values, (0, 1)).all():
            raise ValueError("`mask` must hold only 0 and 1 (or be bool)")
        values = values.astype(bool)
    if algorithm_type not in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        raise ValueError(
            f"`algorithm_type` must be AUTOMATIC, SEMIAUTOMATIC or MANUAL, got {algorithm_type!r}"
        )
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"`label` must be a non-empty str, got {label!r}")
    if (
        not isinstance(series_number, (int, np.integer))
        or isinstance(series_number, bool)
        or series_number < 1
    ):
        raise ValueError(f"`series_number` must be a positive int, got {series_number!r}")
    sources = _source_datasets(source, m)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=algorithm_type,
        algorithm_identification=None
        if algorithm_type == "MANUAL"
        else hd.AlgorithmIdentificationSequence(
            name="dcemets", family=codes.DCM.ImageProcessing, version=_version()
        ),
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=values.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=int(series_number),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="dcemets",
        manufacturer_model_name="dcemets",
        software_versions=_version(),
        device_serial_number="0",
        omit_empty_frames=False,
        **_plane_geometry(m),
    )
    return _save(seg, path)


#: UCUM codes (and meanings) for the units of dcemets maps
_UCUM = {
    "1/min": "per minute",
    "/min": "per minute",
    "1/s": "per second",
    "%": "percent",
    "1": "no units",
    "s": "second",
    "mM": "millimolar",
    "mmol/L": "millimole per liter",
}


def write_parametric_map(
    image: xr.DataArray,
    path: PathLike,
    *,
    source: PathLike,
    label: str | None = None,
    units: str | None = None,
    series_number: int = 301,
) -> Path:
    """Write a parametric map (e.g. Ktrans) as a DICOM Parametric Map referencing its source series.

    Parameters
    ----------
    image : xarray.DataArray
        Real-valued map ``(z, y, x)`` with dcemets geometry (a variable of
        :func:`dcemets.kinetics.fit_tofts` or :func:`dcemets.kinetics.parametric_maps`).
        NaN (outside the fitted mask) is written as NaN: float pixel data keeps it.
    path : str or os.PathLike
        Output file (``.dcm``); parent folders are created.
    source : str or os.PathLike
        The DICOM series the map was computed from (the DCE folder or enhanced file).
    label : str, optional
        LUT Label of the Real World Value Mapping (at most 16 characters); default the map's
        name.
    units : str, optional
        UCUM code of the values (``"1/min"``, ``"%"``, ``"1"``, ``"mM"``); default the map's
        ``units`` attr, else ``"1"``.
    series_number : int, default 301
        Series Number of the new series.

    Returns
    -------
    pathlib.Path
        The written file: 32-bit float pixel data, one frame per slice, with the map's
        geometry, a Real World Value Mapping (identity, `units`) and a window spanning the
        finite values.

    Raises
    ------
    ImportError
        Without highdicom (``pip install 'dcemets[dicom]'``).
    TypeError
        If `image` is not a real-valued DataArray.
    ValueError
        If `image` is not a 3D image, has no finite value, the source's frame of reference
        differs, or `label` is longer than 16 characters.

    References
    ----------
    .. [1] NEMA PS3.3, Parametric Map IOD (A.75) and Real World Value Mapping (C.7.6.16.2.11).
           https://www.dicomstandard.org/current
    .. [2] Herz C et al. highdicom. J Digit Imaging 2022;35:1719-1737.
           :doi:`10.1007/s10278-022-00683-y`
    .. [3] Tofts PS et al. Estimating kinetic parameters from dynamic contrast-enhanced
           T1-weighted MRI of a diffusable tracer: standardized quantities and symbols. J Magn
           Reson Imaging 1999;10:223-232. :doi:`10.1002/(SICI)1522-2586(199909)10:3<223::AID-JMRI2>3.0.CO;2-S`

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pydicom, SimpleITK as sitk
    >>> from dcemets.geometry import make_image
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> sl = sitk.GetImageFromArray(np.zeros((1, 2, 3), np.int16))
    >>> for tag, value in {"0008|0060": "MR", "0020|000e": "1.2.3", "0018|0050": "3"}.items():
    ...     sl.SetMetaData(tag, value)
    >>> sitk.WriteImage(sl, str(tmp / "dce.dcm"))  # the source series (one slice)
    >>> ktrans = make_image(np.array([[[0.1, 0.2, np.nan], [0.3, 0.0, 0.05]]]), name="ktrans",
    ...                     attrs={"units": "1/min"})
    >>> path = write_parametric_map(ktrans, tmp / "ktrans.dcm", source=tmp / "dce.dcm")
    >>> ds = pydicom.dcmread(path)
    >>> ds.pixel_array.round(2).tolist(), ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
    ([[0.1, 0.2, nan], [0.3, 0.0, 0.05]], '1/min')
    """
    hd = _pydicom.require("highdicom", "writing a DICOM Parametric Map")
    img = validate_image(image, name="image", allow_nan=True)
    if img.dtype.kind not in "iuf":
        raise TypeError(f"`image` must hold real numbers, got dtype {img.dtype}")
    values = _zyx(img).astype(np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("`image` has no finite value to write")
    name = label if label is not None else str(img.name or "map")
    if not isinstance(name, str) or not 0 < len(name) <= 16:
        raise ValueError(f"`label` must be a str of 1-16 characters (a DICOM LUT Label), got {name!r}")
    unit = units if units is not None else str(img.attrs.get("units", "1"))
    if not isinstance(unit, str) or not unit:
        raise ValueError(f"`units` must be a UCUM code such as '1/min', got {units!r}")
    if (
        not isinstance(series_number, (int, np.integer))
        or isinstance(series_number, bool)
        or series_number < 1
    ):
        raise ValueError(f"`series_number` must be a positive int, got {series_number!r}")
    sources = _source_datasets(source, img)
    lo, hi = float(finite.min()), float(finite.max())
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=name,
        lut_explanation=str(img.attrs.get("long_name", name))[:64],
        unit=hd.sr.CodedConcept(value=unit, scheme_designator="UCUM", meaning=_UCUM.get(unit, unit)),
        value_range=(lo, hi if hi > lo else lo + 1.0),
        intercept=0.0,
        slope=1.0,
    )
    pm = hd.pm.ParametricMap(
        source_images=sources,
        pixel_array=values,
        series_instance_uid=hd.UID(),
        series_number=int(series_number),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="dcemets",
        manufacturer_model_name="dcemets",
        software_versions=_version(),
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[
            hd.content.VOILUTTransformation(window_center=(lo + hi) / 2, window_width=max(hi - lo, 1e-6))
        ],
        content_label=name.upper().replace(" ", "_")[:16],
        **_plane_geometry(img),
    )
    return _save(pm, path)
