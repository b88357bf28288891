"""Conversion between dcemets DataArrays and :class:`SimpleITK.Image` objects.

The geometry of a SimpleITK image (origin, spacing, direction) is stored in the attrs of the
DataArray exactly as SimpleITK gives it (see :mod:`dcemets._conventions`), so that
``to_sitk(from_sitk(image))`` has bit-identical geometry, for any direction matrix (axial,
sagittal, coronal or oblique).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import SimpleITK as sitk
import xarray as xr

from dcemets._conventions import (
    check_times,
    geometry,
    make_dce,
    make_image,
    time_seconds,
    validate_dce,
    validate_image,
)

__all__ = ["from_sitk", "to_sitk"]

_GEOMETRY_ATOL_MM = 1e-4

# numpy dtypes SimpleITK stores natively
_SITK_DTYPES = {
    np.dtype(t)
    for t in (
        np.uint8,
        np.int8,
        np.uint16,
        np.int16,
        np.uint32,
        np.int32,
        np.uint64,
        np.int64,
        np.float32,
        np.float64,
    )
}


def _numpy_for_sitk(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)  # computes dask arrays
    if arr.dtype == bool:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.dtype not in _SITK_DTYPES:
        raise TypeError(
            f"`{name}` has dtype {arr.dtype}, which SimpleITK cannot store; "
            "convert it to an integer, float32 or float64 type first"
        )
    return np.ascontiguousarray(arr)


def _volume_to_sitk(values: np.ndarray, geo: Any) -> sitk.Image:
    img = sitk.GetImageFromArray(values, isVector=False)
    img.SetOrigin(geo.origin)
    img.SetSpacing(geo.spacing)
    img.SetDirection(geo.direction)
    return img


@overload
def to_sitk(da: xr.DataArray, *, join: Literal[False] = ...) -> sitk.Image | list[sitk.Image]: ...
@overload
def to_sitk(da: xr.DataArray, *, join: Literal[True]) -> sitk.Image: ...


def to_sitk(da: xr.DataArray, *, join: bool = False) -> sitk.Image | list[sitk.Image]:
    """Convert a 3D image or a DCE series to SimpleITK image(s) with the same geometry.

    Parameters
    ----------
    da : xarray.DataArray
        A 3D image, dims ``("z", "y", "x")`` in any order, or a DCE series, dims
        ``("time", "z", "y", "x")``.  It may have been sliced (``isel``, reversed axes):
        the geometry written is that of the array as it is now
        (:func:`dcemets._conventions.geometry`).  NaN values are allowed.  Bool masks become
        ``uint8`` images (SimpleITK has no bool pixel type).
    join : bool, default False
        For a DCE series, return one 4D image (:func:`SimpleITK.JoinSeries`; its 4th axis has
        origin ``time[0]`` and spacing the mean frame interval, in s) instead of a list of 3D
        images, one per frame.  Ignored for 3D images.

    Returns
    -------
    SimpleITK.Image or list of SimpleITK.Image
        A 3D image for a 3D input; a list of ``nt`` 3D images (or one 4D image with
        ``join=True``) for a DCE series.  Origin, spacing and direction are in SimpleITK
        order ``(x, y, z)``, LPS, mm.

    Raises
    ------
    TypeError
        If `da` is not a DataArray or its dtype cannot be stored by SimpleITK.
    ValueError
        If `da` has other dims or invalid geometry.

    See Also
    --------
    from_sitk : The inverse conversion.

    References
    ----------
    .. [1] Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front
           Neuroinform 2013;7:45. :doi:`10.3389/fninf.2013.00045`
    .. [2] Yaniv Z, Lowekamp BC, Johnson HJ, Beare R. SimpleITK image-analysis notebooks: a
           collaborative environment for education and reproducible research. J Digit
           Imaging 2018;31:290-303. :doi:`10.1007/s10278-017-0037-8`

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> img = make_image(np.zeros((2, 3, 4)), spacing=(0.5, 0.5, 3.0), origin=(10, 20, 30))
    >>> im = to_sitk(img)
    >>> im.GetSize(), im.GetSpacing(), im.GetOrigin()
    ((4, 3, 2), (0.5, 0.5, 3.0), (10.0, 20.0, 30.0))
    >>> to_sitk(img.isel(x=slice(None, None, -1))).GetDirection()[0]
    -1.0
    """
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"`da` must be an xarray.DataArray, got {type(da).__name__}")
    if "time" in da.dims:
        dce = validate_dce(da, name="da", allow_nan=True, min_frames=1)
        geo = geometry(dce)
        values = _numpy_for_sitk(dce.data, "da")
        frames = [_volume_to_sitk(values[i], geo) for i in range(values.shape[0])]
        if not join:
            return frames
        t = np.asarray(dce["time"].values, dtype=float)
        dt = float(np.mean(np.diff(t))) if t.size > 1 else 1.0
        return sitk.JoinSeries(frames, float(t[0]), dt)
    img = validate_image(da, name="da", allow_nan=True)
    return _volume_to_sitk(_numpy_for_sitk(img.data, "da"), geometry(img))


def _check_3d(image: Any, what: str) -> None:
    if not isinstance(image, sitk.Image):
        raise TypeError(f"{what} must be a SimpleITK.Image, got {type(image).__name__}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{what} has {image.GetNumberOfComponentsPerPixel()} components per pixel; "
            "only scalar images are supported (split the channels first)"
        )


def _spatial_geometry(
    image: sitk.Image, what: str
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Origin, spacing, direction of the first three axes of a 3D or 4D image."""
    dim = image.GetDimension()
    origin = tuple(float(v) for v in image.GetOrigin()[:3])
    spacing = tuple(float(v) for v in image.GetSpacing()[:3])
    d = np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim)
    if dim == 4 and (np.any(d[:3, 3] != 0) or np.any(d[3, :3] != 0)):
        raise ValueError(f"{what} mixes time and space in its 4D direction matrix; cannot split it")
    return origin, spacing, tuple(float(v) for v in d[:3, :3].ravel())


def _as_times(times: Sequence[float] | np.ndarray | None, n: int, what: str) -> np.ndarray:
    if times is None:
        raise ValueError(
            f"{what} has {n} frames but no frame times: pass `times` (seconds from the first frame, one per frame)"
        )
    try:
        t = time_seconds(times, "times")
    except TypeError as err:
        raise TypeError(f"`times` must be a sequence of numbers (s), got {times!r}: {err}") from err
    if t.ndim != 1 or t.size != n:
        raise ValueError(f"`times` must have {n} values (one per frame), got shape {t.shape}")
    return check_times(t, "times")


def from_sitk(
    image: sitk.Image | Sequence[sitk.Image],
    *,
    times: Sequence[float] | np.ndarray | None = None,
    name: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Convert SimpleITK image(s) to a dcemets DataArray, keeping the geometry exactly.

    Parameters
    ----------
    image : SimpleITK.Image or sequence of SimpleITK.Image
        A 3D image (gives a 3D image DataArray), a 4D image (4th axis = time) or a sequence
        of 3D images on the same grid, one per frame (both give a DCE series).
    times : sequence of float, optional
        Frame times (s), finite and strictly increasing, required for a 4D image or a
        sequence of frames (``timedelta64``/``datetime64`` times are read as seconds from the
        first frame).
    name : str, optional
        Name of the result (``"signal"`` for a DCE series by default).
    attrs : mapping, optional
        Extra attrs (e.g. ``units``, acquisition metadata ``tr_s``, ``flip_angle_deg``).

    Returns
    -------
    xarray.DataArray
        Dims ``("z", "y", "x")`` or ``("time", "z", "y", "x")``; coordinates in mm along the
        image axes starting at 0, geometry attrs ``affine``, ``spacing_mm``, ``space`` holding
        SimpleITK's origin, spacing and direction exactly.  The pixel type is kept.

    Raises
    ------
    TypeError
        If `image` is not a SimpleITK image (or a sequence of them), `times` is not real
        numbers (complex, strings), or `attrs` is not a mapping.
    ValueError
        If the image is 2D or multi-component, `times` is missing, of the wrong length, not
        finite or not strictly increasing, or the frames of a sequence are on different grids.

    See Also
    --------
    to_sitk : The inverse conversion.

    References
    ----------
    .. [1] Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front
           Neuroinform 2013;7:45. :doi:`10.3389/fninf.2013.00045`
    .. [2] Yaniv Z, Lowekamp BC, Johnson HJ, Beare R. SimpleITK image-analysis notebooks: a
           collaborative environment for education and reproducible research. J Digit
           Imaging 2018;31:290-303. :doi:`10.1007/s10278-017-0037-8`

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> im = sitk.Image(4, 3, 2, sitk.sitkFloat32)
    >>> im.SetDirection((0, 0, -1, 1, 0, 0, 0, -1, 0))  # sagittal
    >>> da = from_sitk(im)
    >>> da.dims, da.shape
    (('z', 'y', 'x'), (2, 3, 4))
    >>> to_sitk(da).GetDirection() == im.GetDirection()
    True
    >>> from_sitk([im, im, im], times=[0.0, 10.0, 20.0]).dims
    ('time', 'z', 'y', 'x')
    """
    extra = attrs  # checked by make_dce/make_image
    if isinstance(image, Sequence) and not isinstance(image, (str, bytes)):
        frames = list(image)
        if not frames:
            raise ValueError("`image` is an empty sequence; give at least one frame")
        for i, f in enumerate(frames):
            _check_3d(f, f"`image[{i}]`")
            if f.GetDimension() != 3:
                raise ValueError(f"`image[{i}]` must be a 3D image, got {f.GetDimension()}D")
        t = _as_times(times, len(frames), "`image`")
        o0, s0, d0 = _spatial_geometry(frames[0], "`image[0]`")
        size0 = frames[0].GetSize()
        for i, f in enumerate(frames[1:], start=1):
            o, s, d = _spatial_geometry(f, f"`image[{i}]`")
            if f.GetSize() != size0 or not (
                np.allclose(o, o0, atol=_GEOMETRY_ATOL_MM, rtol=0)
                and np.allclose(s, s0, atol=_GEOMETRY_ATOL_MM, rtol=0)
                and np.allclose(d, d0, atol=1e-6, rtol=0)
            ):
                raise ValueError(
                    f"`image[{i}]` is not on the grid of `image[0]` (size, origin, spacing or direction)"
                )
        values = np.stack([sitk.GetArrayFromImage(f) for f in frames])
        return make_dce(values, t, spacing=s0, origin=o0, direction=d0, name=name or "signal", attrs=extra)
    _check_3d(image, "`image`")
    dim = image.GetDimension()
    if dim == 3:
        o, s, d = _spatial_geometry(image, "`image`")
        return make_image(
            sitk.GetArrayFromImage(image), spacing=s, origin=o, direction=d, name=name, attrs=extra
        )
    if dim == 4:
        o, s, d = _spatial_geometry(image, "`image`")
        t = _as_times(times, image.GetSize()[3], "`image`")
        return make_dce(
            sitk.GetArrayFromImage(image),
            t,
            spacing=s,
            origin=o,
            direction=d,
            name=name or "signal",
            attrs=extra,
        )
    raise ValueError(f"`image` must be a 3D or 4D image, got {dim}D; a 2D slice needs a third axis of size 1")
