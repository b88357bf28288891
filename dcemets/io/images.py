"""Read and write 3D images (T2W, masks, parametric maps): NIfTI, NRRD, MHA, DICOM, netCDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import xarray as xr

from dcemets._conventions import geometry, make_image, validate_image
from dcemets.io import _dicom, _sidecar
from dcemets.io._files import (
    PathLike,
    as_path,
    is_netcdf,
    make_parent,
    netcdf_safe,
    read_sitk,
    require_exists,
    sidecar_of,
    write_sitk,
)
from dcemets.io.convert import from_sitk, to_sitk

__all__ = ["read_image", "write_image"]


def _read_dicom_image(folder: Path) -> xr.DataArray:
    scan = _dicom.scan_folder(folder)
    slices = scan.slices
    frames = _dicom.group_frames(slices, folder)
    if len(frames.files) > 1:
        raise ValueError(
            f"'{folder}' holds {len(frames.files)} images at every slice position (a dynamic series); "
            "read it with dcemets.io.read_dce"
        )
    _dicom.check_spacing(np.array([s.normal_pos for s in slices]), folder)
    (image,) = _dicom.read_frames(scan, frames, folder)
    return from_sitk(image, attrs=_dicom.acquisition_attrs(frames.tags))


def _load_netcdf(path: Path) -> xr.DataArray:
    try:
        return xr.load_dataarray(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read netCDF file '{path}': {err}") from err


def read_image(path: PathLike, *, mask: bool = False) -> xr.DataArray:
    """Read a 3D image from a NIfTI/NRRD/MHA file, a DICOM series folder or a netCDF file.

    Parameters
    ----------
    path : str or os.PathLike
        An image file (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``, or any
        other format SimpleITK reads), a netCDF file written by :meth:`xarray.DataArray.to_netcdf`
        (``.nc``), a folder holding one DICOM series (one slice per file, or enhanced
        multi-frame MR objects read with pydicom; non-DICOM files are ignored), or a single
        DICOM file (an enhanced multi-frame object, or one slice).
    mask : bool, default False
        Return a bool mask (voxels ``!= 0``), as for ROIs and lesion masks stored as integers.

    Returns
    -------
    xarray.DataArray
        Dims ``("z", "y", "x")``, coordinates in mm along the image axes (from 0), geometry
        attrs (:mod:`dcemets._conventions`).  The file's pixel type is kept (NaN allowed).
        A JSON sidecar next to the file (same stem, ``.json``; as written by
        ``write_image(..., sidecar=True)`` or dcm2niix) supplies ``tr_s``, ``te_s``,
        ``flip_angle_deg``, ``field_strength_T`` and, when written by dcemets, every attr, the
        name, the bool dtype of masks and the double-precision geometry.
        A DICOM series also sets ``frame_of_reference`` (0020,0052), ``modality``,
        ``series_description`` and, when present, ``tr_s``, ``te_s``, ``flip_angle_deg``,
        ``field_strength_T``.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file is corrupt or truncated (the message names the file), is not 3D (a 4D
        file: use :func:`read_dce`), or the folder holds no single 3D DICOM series.

    Notes
    -----
    NIfTI stores geometry in single precision, so origins and spacings read back from a
    NIfTI file can differ from the written doubles by ~1e-6 mm; NRRD and MHA keep doubles.

    References
    ----------
    .. [1] Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front
           Neuroinform 2013;7:45. :doi:`10.3389/fninf.2013.00045`
    .. [2] Cox RW et al. A (sort of) new image data format standard: NIfTI-1. NeuroImage
           2004;22(Suppl 1):e1440. https://nifti.nimh.nih.gov/nifti-1
    .. [3] NEMA PS3.3, DICOM Information Object Definitions: Image Plane Module (C.7.6.2)
           and MR Image Module (C.8.3.1). https://www.dicomstandard.org/current
    .. [4] Hoyer S, Hamman J. xarray: N-D labeled arrays and datasets in Python. J Open
           Res Softw 2017;5:10. :doi:`10.5334/jors.148`

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> img = make_image(np.arange(24.0).reshape(2, 3, 4), spacing=(0.5, 0.5, 3.0))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_image(img, pathlib.Path(tmp) / "t2w.nrrd")
    ...     back = read_image(path)
    >>> bool((back == img).all()), back.dims
    (True, ('z', 'y', 'x'))
    """
    p = as_path(path)
    require_exists(p)
    if p.is_dir() or _dicom._is_dicom(p):
        out = _read_dicom_image(p)
    elif is_netcdf(p):
        out = validate_image(_load_netcdf(p), name=f"image in '{p}'", allow_nan=True)
    else:
        image = read_sitk(p)
        if image.GetDimension() == 4:
            raise ValueError(
                f"'{p}' is a 4D image ({image.GetSize()[3]} frames); read it with dcemets.io.read_dce"
            )
        meta = _sidecar.read_sidecar(p)
        name = _sidecar.own_field(meta, "name", None)
        try:
            out = from_sitk(image)
            if meta:
                g = geometry(out)
                origin, spacing, direction = _sidecar.exact_geometry(meta, g.origin, g.spacing, g.direction)
                out = make_image(
                    out.data,
                    spacing=spacing,
                    origin=origin,
                    direction=direction,
                    name=name if isinstance(name, str) else None,
                    attrs=_sidecar.attrs_from(meta, sidecar_of(p)),
                )
        except ValueError as err:
            raise ValueError(f"cannot use image file '{p}': {err}") from err
        if _sidecar.own_field(meta, "dtype", None) == "bool":
            mask = True
    if mask and out.dtype != bool:
        values = out
        out = values != 0
        out.attrs = dict(values.attrs)
    return out


def _check_netcdf_attrs(da: xr.DataArray) -> None:
    for owner, attrs in [("attrs", da.attrs)] + [
        (f"coordinate {k!r} attrs", v.attrs) for k, v in da.coords.items()
    ]:
        for key, value in attrs.items():
            if not netcdf_safe(value):
                raise TypeError(
                    f"{owner}[{key!r}] = {value!r} ({type(value).__name__}) cannot be stored in netCDF; "
                    "use a str, a number or a list of numbers (no bool, None or dict)"
                )


def write_image(da: xr.DataArray, path: PathLike, *, sidecar: bool = False) -> Path:
    """Write a 3D image to a NIfTI/NRRD/MHA file (SimpleITK) or a netCDF file (xarray).

    Parameters
    ----------
    da : xarray.DataArray
        3D image, dims ``("z", "y", "x")`` in any order, possibly sliced; bool masks are
        written as ``uint8`` (0/1).  NaN values are allowed.
    path : str or os.PathLike
        Output file; the format follows the suffix (``.nii``, ``.nii.gz``, ``.nrrd``,
        ``.nhdr``, ``.mha``, ``.mhd``, or ``.nc`` for netCDF with all attrs).  Parent folders
        are created.
    sidecar : bool, default False
        Also write a BIDS-style JSON sidecar (same stem, ``.json``) holding the acquisition
        fields (``RepetitionTimeExcitation``, ``EchoTime``, ``FlipAngle`` ...), every
        netCDF-safe attr, the name, the dtype and the double-precision geometry, so that
        :func:`read_image` gives back an identical DataArray (bool masks included).  Ignored
        for netCDF, which keeps everything anyway.

    Returns
    -------
    pathlib.Path
        The written file (the sidecar, if any, is ``<stem>.json`` next to it).

    Raises
    ------
    TypeError
        If `da` is not a DataArray, its dtype cannot be written, or (netCDF) an attr is not
        netCDF-safe.
    ValueError
        If `da` is not a valid 3D image (dims, empty or invalid geometry) or the suffix is
        unknown.
    OSError
        If the file or its folder cannot be written (``NotADirectoryError`` when a file
        stands where a parent folder should be).

    Notes
    -----
    SimpleITK formats keep the voxel values and geometry but not the attrs; netCDF keeps
    everything.  The geometry written is that of the array as it is now
    (:func:`dcemets._conventions.geometry`), so a cropped or flipped image lands at the right
    place in the world.

    References
    ----------
    .. [1] Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front
           Neuroinform 2013;7:45. :doi:`10.3389/fninf.2013.00045`
    .. [2] Cox RW et al. A (sort of) new image data format standard: NIfTI-1. NeuroImage
           2004;22(Suppl 1):e1440. https://nifti.nimh.nih.gov/nifti-1
    .. [3] Gorgolewski KJ et al. The brain imaging data structure, a format for organizing
           and describing outputs of neuroimaging experiments. Sci Data 2016;3:160044.
           :doi:`10.1038/sdata.2016.44`

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> mask = make_image(np.ones((2, 2, 2), dtype=bool))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     read_image(write_image(mask, pathlib.Path(tmp) / "m.nii.gz"), mask=True).dtype
    dtype('bool')
    """
    p = as_path(path)
    img = validate_image(da, name="da", allow_nan=True)
    if is_netcdf(p):
        _check_netcdf_attrs(img)
        make_parent(p)
        img.to_netcdf(p)
        return p
    image = to_sitk(img)
    assert isinstance(image, sitk.Image)  # a 3D image converts to one image
    write_sitk(image, p)
    if sidecar:
        _sidecar.write_sidecar(p, _sidecar.sidecar_content(img, None))
    return p
