"""Read and write DCE series: 4D NIfTI (+ JSON sidecar), lists of 3D files, DICOM, netCDF."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import xarray as xr

from dcemets._conventions import _GEOMETRY_KEYS, check_times, geometry, make_dce, validate_dce, warn_user
from dcemets.io import _dicom, _sidecar
from dcemets.io._files import (
    IMAGE_SUFFIXES,
    PathLike,
    as_path,
    is_netcdf,
    make_parent,
    read_sitk,
    require_exists,
    sidecar_of,
    suffix_of,
    write_sitk,
)
from dcemets.io.convert import _as_times, _spatial_geometry, from_sitk, to_sitk
from dcemets.io.images import _check_netcdf_attrs, _load_netcdf, read_image

__all__ = ["read_dce", "write_dce"]

#: BIDS-style sidecar keys holding frame times (s), in order of precedence
FRAME_TIME_KEYS = ("FrameTimesStart", "VolumeTiming")


def _times_from_sidecar(meta: dict[str, Any], sidecar: Path, n: int) -> np.ndarray | None:
    for key in FRAME_TIME_KEYS:
        if key in meta:
            try:
                t = np.asarray(meta[key], dtype=float)
            except (TypeError, ValueError) as err:
                raise ValueError(f"'{sidecar}': {key!r} must be a list of numbers (s)") from err
            if t.ndim != 1 or t.size != n:
                raise ValueError(f"'{sidecar}': {key!r} has {t.size} values, the image has {n} frames")
            check_times(t, f"'{sidecar}': {key!r}")
            return t
    if "TemporalResolution" in meta:
        dt = float(meta["TemporalResolution"])
        if not np.isfinite(dt) or dt <= 0:
            raise ValueError(f"'{sidecar}': 'TemporalResolution' must be a positive number of seconds")
        return np.arange(n) * dt
    return None


def _read_4d_file(p: Path, times: Sequence[float] | np.ndarray | None) -> xr.DataArray:
    image = read_sitk(p)
    if image.GetDimension() != 4:
        raise ValueError(
            f"'{p}' is a {image.GetDimension()}D image, not a 4D DCE series; give a list of 3D files "
            "(one per frame) with `times`"
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"'{p}' has vector pixels; a DCE series needs scalar pixels")
    n = image.GetSize()[3]
    sidecar = sidecar_of(p)
    meta = _sidecar.read_sidecar(p)
    if times is not None:
        t = _as_times(times, n, f"'{p}'")
    else:
        found = _times_from_sidecar(meta, sidecar, n)
        if found is None:
            where = f"its sidecar '{sidecar}' has" if meta else f"no JSON sidecar '{sidecar}' with"
            raise ValueError(
                f"no frame times for '{p}' ({n} frames): {where} no 'FrameTimesStart' list (s); "
                "pass `times=` (seconds from the first frame, one per frame)"
            )
        t = found
    origin, spacing, direction = _sidecar.exact_geometry(meta, *_spatial_geometry(image, f"'{p}'"))
    name = _sidecar.own_field(meta, "name", "signal")
    return make_dce(
        sitk.GetArrayFromImage(image),
        t,
        spacing=spacing,
        origin=origin,
        direction=direction,
        name=name if isinstance(name, str) else "signal",
        attrs=_sidecar.attrs_from(meta, sidecar),
    )


def _read_dicom_dce(
    folders: list[Path], times: Sequence[float] | np.ndarray | None, series: str | None = None
) -> xr.DataArray:
    where = folders[0] if len(folders) == 1 else Path(os.path.commonpath([str(f) for f in folders]))
    scan = _dicom.scan_folder(folders if len(folders) > 1 else folders[0])
    slices = _dicom.select_series(scan.slices, series, where)
    frames = _dicom.group_frames(slices, where)
    n = len(frames.files)
    if n < 2:
        raise ValueError(
            f"'{where}' holds a single 3D volume, not a DCE series (every slice position has one image); "
            "read it with dcemets.io.read_image"
        )
    _dicom.check_spacing(np.unique(np.round([s.normal_pos for s in slices], 3)), where)
    if times is not None:
        t = _as_times(times, n, f"DICOM series in '{where}'")
    elif frames.times is None:
        raise ValueError(
            f"'{where}': no DICOM tag gives the times of the {n} frames "
            f"({'; '.join(frames.timing_diagnosis)}); pass `times=` (seconds from the first frame)"
        )
    else:
        t = frames.times
    stack = _dicom.read_stack(scan, frames)
    images = _dicom.read_frames(scan, frames, where) if stack is None else None
    attrs = _dicom.acquisition_attrs(frames.tags)
    attrs["frame_grouping"] = frames.grouping
    if times is None and frames.timing:
        attrs["frame_timing"] = frames.timing
        if frames.timing_note:
            attrs["frame_timing_inferred"] = frames.timing_note
            warn_user(f"'{where}': {frames.timing_note}", UserWarning)
    try:
        if stack is not None:
            values, first = stack
            o, sp, d = _spatial_geometry(first, f"DICOM series in '{where}'")
            return make_dce(values, t, spacing=sp, origin=o, direction=d, name="signal", attrs=attrs)
        assert images is not None
        return from_sitk(images, times=t, attrs=attrs)
    except ValueError as err:
        raise ValueError(f"'{where}': the frames are not on one grid ({err})") from err


def _no_series(series: str | None, what: str) -> None:
    if series is not None:
        raise ValueError(f"`series` selects a series of a DICOM folder; it does not apply to {what}")


def read_dce(
    path: PathLike | Sequence[PathLike],
    *,
    times: Sequence[float] | np.ndarray | None = None,
    series: str | None = None,
) -> xr.DataArray:
    """Read a DCE series from a 4D file, a list of 3D files, a DICOM folder or a netCDF file.

    Parameters
    ----------
    path : str, os.PathLike or sequence of them
        One of

        * a 4D image file (NIfTI ``.nii``/``.nii.gz``, NRRD, MHA; 4th axis = time).  Frame
          times come from `times`, else from a BIDS-style JSON sidecar with the same stem
          (``dce.nii.gz`` -> ``dce.json``): ``FrameTimesStart`` (s), else ``VolumeTiming``
          (s), else ``TemporalResolution`` (s, regular sampling from 0).  The sidecar's
          ``RepetitionTimeExcitation`` (or ``RepetitionTime``, s), ``EchoTime`` (s),
          ``FlipAngle`` (deg) and ``MagneticFieldStrength`` (T) become the attrs ``tr_s``,
          ``te_s``, ``flip_angle_deg``, ``field_strength_T``.  A sidecar written by
          :func:`write_dce` also restores all attrs and the double-precision geometry.
        * a sequence of 3D files (any format :func:`read_image` reads), one per frame, in
          time order, on one grid; `times` is required.  A sequence of DICOM folders (one
          series per phase, one folder each) is read like a single folder.
        * a folder of DICOM files holding one DCE acquisition: all phases in one series, or
          one series per phase, classic (one slice per file) or enhanced multi-frame MR
          objects (read with pydicom, the optional extra ``dcemets[dicom]``); or a single
          enhanced multi-frame file.  See Notes for how frames are grouped, ordered and timed.
        * a netCDF file written by :meth:`xarray.DataArray.to_netcdf`.
    times : sequence of float, optional
        Frame times (s), one per frame; overrides the times found in the files.
    series : str, optional
        DICOM only: read the one series whose SeriesInstanceUID (0020,000E), SeriesNumber
        (0020,0011) or SeriesDescription (0008,103E) equals this, when the folder holds
        other series too.

    Returns
    -------
    xarray.DataArray
        Dims ``("time", "z", "y", "x")``, the file's pixel type, ``time`` in s (from DICOM:
        seconds from the first frame), spatial coordinates in mm from 0, geometry attrs.
        From DICOM also ``tr_s``, ``te_s``, ``flip_angle_deg``, ``field_strength_T``,
        ``frame_of_reference`` (0020,0052), ``modality``, ``series_description`` when the tags
        exist, ``frame_grouping``/``frame_timing`` naming the tags used, and
        ``frame_timing_inferred`` when the timing tag was missing on some frames and their
        times were inferred (a ``UserWarning`` says so too).

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If no frame times can be found (the message says what each timing tag held and asks
        for `times`), `times` has the wrong
        length or is not strictly increasing, a file is corrupt or truncated (the message
        names it), the frames are on different grids, or a DICOM folder does not hold exactly
        one DCE acquisition (several series that are not one-volume phases of it -- the
        message lists them and says how to pick one with `series` --, orientations differ,
        files missing at some slice positions, uneven slice spacing, multi-frame objects
        mixed with single-frame files), or
        `series` matches no series or is given for a non-DICOM path.

    Notes
    -----
    DICOM precedence (all tags are read from the file headers, the file order on disk does
    not matter):

    1. Slices are located along the slice normal (the cross product of the
       ImageOrientationPatient (0020,0037) vectors) from ImagePositionPatient (0020,0032).
    2. With one slice position every file is a frame; otherwise files are split into frames
       by the first of TemporalPositionIdentifier (0020,0100), SeriesInstanceUID
       (0020,000E), TriggerTime (0018,1060), AcquisitionDateTime (0008,002A),
       AcquisitionTime (0008,0032), ContentTime (0008,0033) that gives groups holding every
       slice position once; failing that, the images at each slice position are ranked by
       the first such tag (or InstanceNumber) present on every file.
    3. Frame time: the first of TemporalPositionTimeOffset (0020,930D, s; enhanced MR),
       TriggerTime (ms; GE), AcquisitionDateTime / AcquisitionDate + AcquisitionTime
       (Siemens, Philips), ContentDate + ContentTime, (TemporalPositionIdentifier - 1) x
       TemporalResolution (0020,0110, ms; Philips) present on every frame with a different
       value per frame; the earliest over the frame's slices, minus that of the first frame.
       If none covers every frame, the first present on two or more frames is used when the
       frames are ordered without it and its known values lie on one regular grid; the
       missing times are filled in on that grid (reported in ``frame_timing_inferred``).
    4. Frames are ordered by TemporalPositionIdentifier when every frame has its own, else
       by their time, else by SeriesNumber (0020,0011), else InstanceNumber (0020,0013).
       Times that do not increase with the order raise an error.

    Enhanced MR objects (PS3.3 A.36.2) give one image per frame, with position, orientation,
    pixel spacing, temporal index, times and rescale from the per-frame (else shared)
    functional groups (PS3.3 C.7.6.16).  The table of timing sources, with the vendors
    that write each, is in the user guide (Reading and writing images).

    References
    ----------
    .. [1] NEMA PS3.3, DICOM Information Object Definitions: Image Plane Module (C.7.6.2),
           MR Image Module (C.8.3.1), Enhanced MR Image IOD (A.36.2), Multi-frame
           Functional Groups (C.7.6.16). https://www.dicomstandard.org/current
    .. [2] Gorgolewski KJ et al. The brain imaging data structure, a format for organizing
           and describing outputs of neuroimaging experiments. Sci Data 2016;3:160044.
           :doi:`10.1038/sdata.2016.44`
    .. [3] Lang N et al. Differentiation of spinal metastases originated from lung and other
           cancers using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging
           2019;64:4-12, section 2.2 (the acquisition read here). :doi:`10.1016/j.mri.2019.02.013`
    .. [4] Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front
           Neuroinform 2013;7:45. :doi:`10.3389/fninf.2013.00045`

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> dce = make_dce(np.ones((3, 2, 2, 2)), [0.0, 12.0, 24.0], attrs={"tr_s": 0.0041})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = read_dce(write_dce(dce, pathlib.Path(tmp) / "dce.nii.gz"))
    >>> back.time.values.tolist(), back.attrs["tr_s"]
    ([0.0, 12.0, 24.0], 0.0041)
    """
    if isinstance(path, Sequence) and not isinstance(path, (str, bytes)):
        paths = [as_path(p, "path[i]") for p in path]
        if not paths:
            raise ValueError("`path` is an empty list; give one 3D file per frame")
        for p in paths:
            require_exists(p)
        if all(p.is_dir() for p in paths) and len(paths) > 1:
            out = _read_dicom_dce(paths, times, series)
        else:
            _no_series(series, "a list of 3D files")
            t = _as_times(times, len(paths), "`path` (a list of 3D files)")
            vols = [read_image(p) for p in paths]
            ref = vols[0]
            shape0 = ref.shape
            g0 = geometry(ref)
            for p, v in zip(paths[1:], vols[1:]):
                g = geometry(v)
                if v.shape != shape0 or not (
                    np.allclose(g.origin, g0.origin, atol=_sidecar.GEOMETRY_MATCH_MM, rtol=0)
                    and np.allclose(g.spacing, g0.spacing, atol=_sidecar.GEOMETRY_MATCH_MM, rtol=0)
                    and np.allclose(g.direction, g0.direction, atol=1e-5, rtol=0)
                ):
                    raise ValueError(
                        f"'{p}' is not on the grid of '{paths[0]}' (size, origin, spacing or direction)"
                    )
            values = np.stack([np.asarray(v.values) for v in vols])
            attrs = {
                k: v for k, v in ref.attrs.items() if k not in _GEOMETRY_KEYS or k == "frame_of_reference"
            }
            out = make_dce(
                values, t, spacing=g0.spacing, origin=g0.origin, direction=g0.direction, attrs=attrs
            )
    else:
        p = as_path(path)
        require_exists(p)
        if p.is_dir() or _dicom._is_dicom(p):
            out = _read_dicom_dce([p], times, series)
        elif is_netcdf(p):
            _no_series(series, f"the netCDF file '{p}'")
            out = _load_netcdf(p)
            if times is not None:
                out = out.assign_coords(
                    time=xr.Variable(
                        "time", _as_times(times, out.sizes.get("time", 0), f"'{p}'"), out["time"].attrs
                    )
                )
        else:
            _no_series(series, f"the image file '{p}'")
            out = _read_4d_file(p, times)
    return validate_dce(out, name="dce", allow_nan=True, min_frames=1)


def write_dce(da: xr.DataArray, path: PathLike) -> Path:
    """Write a DCE series as a 4D image file plus a BIDS-style JSON sidecar, or as netCDF.

    Parameters
    ----------
    da : xarray.DataArray
        DCE series, dims ``("time", "z", "y", "x")`` in any order, possibly sliced.  Written
        as it is, like :func:`read_dce` reads: NaN/inf values and any number of frames
        (even one) are kept; the analyses check them (:func:`dcemets.validate_dce`).
    path : str or os.PathLike
        Output file: ``.nii.gz`` (recommended), ``.nii``, ``.nrrd``, ``.mha``, or ``.nc``
        (netCDF: one file with every attr, no sidecar).  Parent folders are created.

    Returns
    -------
    pathlib.Path
        The image file.  Its sidecar is the same path with suffix ``.json``
        (``dce.nii.gz`` -> ``dce.json``).

    Raises
    ------
    TypeError
        If `da` is not a numeric DataArray (or a netCDF attr is not netCDF-safe).
    ValueError
        If `da` is not a DCE series (dims, time coordinate, empty or invalid geometry) or the
        suffix is unknown.
    OSError
        If the file or its folder cannot be written (``NotADirectoryError`` when a file
        stands where a parent folder should be).

    Notes
    -----
    The sidecar holds ``FrameTimesStart`` (the ``time`` coordinate, s), the acquisition
    parameters in BIDS units (``RepetitionTimeExcitation`` and ``EchoTime`` in s,
    ``FlipAngle`` in deg, ``MagneticFieldStrength`` in T) and, under ``"dcemets"``, every
    netCDF-safe attr and the double-precision geometry, so that :func:`read_dce` gives back
    an identical DataArray even though NIfTI stores geometry in single precision.

    References
    ----------
    .. [1] Gorgolewski KJ et al. The brain imaging data structure, a format for organizing
           and describing outputs of neuroimaging experiments. Sci Data 2016;3:160044.
           :doi:`10.1038/sdata.2016.44`
    .. [2] Cox RW et al. A (sort of) new image data format standard: NIfTI-1. NeuroImage
           2004;22(Suppl 1):e1440. https://nifti.nimh.nih.gov/nifti-1
    .. [3] Lang N et al. Differentiation of spinal metastases originated from lung and other
           cancers using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging
           2019;64:4-12, section 2.2 (the acquisition read here). :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> dce = make_dce(np.zeros((3, 1, 2, 2)), [0.0, 10.0, 20.0], attrs={"flip_angle_deg": 10.0})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_dce(dce, pathlib.Path(tmp) / "dce.nii.gz")
    ...     meta = json.loads(path.with_name("dce.json").read_text(encoding="utf-8"))
    >>> meta["FrameTimesStart"], meta["FlipAngle"]
    ([0.0, 10.0, 20.0], 10.0)
    """
    p = as_path(path)
    dce = validate_dce(da, name="da", allow_nan=True, min_frames=1)
    if is_netcdf(p):
        _check_netcdf_attrs(dce)
        make_parent(p)
        dce.to_netcdf(p)
        return p
    if suffix_of(p) not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot tell the image format of '{p}': use .nii.gz, .nii, .nrrd or .mha (or .nc)")
    content: dict[str, Any] = {"FrameTimesStart": [float(v) for v in dce["time"].values]}
    content.update(_sidecar.sidecar_content(dce, "signal"))
    content["dcemets"]["time_units"] = "s"
    write_sitk(to_sitk(dce, join=True), p)
    _sidecar.write_sidecar(p, content)
    return p
