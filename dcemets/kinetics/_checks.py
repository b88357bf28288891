"""Argument checks shared by the public kinetics functions (private)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import SPATIAL_DIMS, check_same_grid, check_times


def as_time(time: Any, name: str = "time", *, min_frames: int = 2) -> np.ndarray:
    """Return `time` as a float64 1D array of strictly increasing finite seconds.

    ``timedelta64`` times are converted to seconds, ``datetime64`` times to seconds from the
    first one (:func:`dcemets._conventions.check_times`, the check shared by every layer).
    """
    if isinstance(time, xr.DataArray):
        time = time.values
    return check_times(time, name, min_frames=min_frames)


def as_float_array(x: Any, name: str, *, finite: bool = False, min_size: int = 0) -> np.ndarray:
    """Return `x` as a float64 array (no copy when possible), with a clear TypeError.

    Real numbers and bools only: complex values, strings (even numeric ones), objects and
    dates are refused.  With `finite`, NaN/inf raise a ValueError; `min_size` is the least
    number of values.
    """
    if isinstance(x, xr.DataArray):
        x = x.values
    raw = np.asarray(x)
    if raw.dtype.kind == "c":
        raise TypeError(f"`{name}` is complex; pass real values (e.g. the magnitude `np.abs({name})`)")
    if raw.dtype.kind not in "biuf":
        raise TypeError(
            f"`{name}` must be numeric (array_like of float), got {type(x).__name__} of dtype {raw.dtype}"
        )
    arr = np.asarray(raw, dtype=float)
    if arr.size < min_size:
        raise ValueError(f"`{name}` needs at least {min_size} value(s), got shape {arr.shape}")
    if finite and not np.isfinite(arr).all():
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"`{name}` must be finite, got {n_bad} NaN or infinite value(s)")
    return arr


def check_real_dataarray(da: xr.DataArray, name: str) -> None:
    """Raise a TypeError unless `da` holds real numbers (not complex, not strings)."""
    if da.dtype.kind == "c":
        raise TypeError(f"`{name}` is complex; pass real values (e.g. the magnitude `np.abs({name})`)")
    if not (np.issubdtype(da.dtype, np.number) or da.dtype == bool):
        raise TypeError(f"`{name}` must hold numbers, got dtype {da.dtype}")


def check_mask(mask: Any, data: Any, dname: str, *, what: str = "voxel to compute") -> Any:
    """Validate the ``mask=`` of a kinetics function against its data `data` (argument `dname`).

    One meaning everywhere: `mask` selects the voxels (curves) to compute; the others are NaN
    in the output and are neither checked nor computed.  It is a bool array over the non-time
    dims of `data`:

    * a DataArray `data`: a bool DataArray with exactly its non-time dims (any order; for
      images, on the same world grid, :func:`dcemets._conventions.check_same_grid`; other
      dims with equal coordinates), or a bool ndarray of the shape of those dims in the
      order of `data` (``(z, y, x)`` for a canonical DCE series);
    * a numpy `data` of shape ``(..., T)``: a bool ndarray of shape ``data.shape[:-1]``.

    Returns the mask as a DataArray with the non-time dims of `data` in its order and its
    index coordinates (DataArray `data`), or the ndarray (numpy `data`).  A numpy-backed
    mask must select at least one voxel (a dask one is not computed to check).

    Raises
    ------
    TypeError
        `mask` not a bool ndarray/DataArray, or a DataArray mask for numpy `data`.
    ValueError
        Wrong dims or shape, another grid, or an empty (all-False) mask; the message names
        ``mask``.
    """
    space: tuple[Any, ...] | None = None
    if isinstance(data, xr.DataArray):
        space = tuple(d for d in data.dims if d != "time")
        shape = tuple(data.sizes[d] for d in space)
    else:
        shape = tuple(np.shape(data)[:-1])
    where = (
        f"the non-time dims {space} of `{dname}`" if space is not None else f"`{dname}` without its time axis"
    )
    if not isinstance(mask, (xr.DataArray, np.ndarray)):
        raise TypeError(f"`mask` must be a bool numpy array or xarray.DataArray, got {type(mask).__name__}")
    if mask.dtype != bool:
        raise TypeError(f"`mask` must be a bool mask, got dtype {mask.dtype}")
    out: Any
    if isinstance(mask, xr.DataArray):
        if space is None:
            raise TypeError(
                f"with a numpy `{dname}`, give `mask` as a numpy bool array of shape {shape}, got a DataArray"
            )
        if mask.ndim != len(space) or set(mask.dims) != set(space):
            raise ValueError(f"`mask` must have {where}, got dims {tuple(mask.dims)}")
        m = mask.transpose(*space)
        image = set(SPATIAL_DIMS) <= set(space)
        if image:
            check_same_grid(data, m, names=(dname, "mask"))  # world geometry, within 1e-3 mm
        for d in space:
            if image and d in SPATIAL_DIMS:
                continue
            if m.sizes[d] != data.sizes[d] or (
                d in m.indexes and d in data.indexes and not m.indexes[d].equals(data.indexes[d])
            ):
                raise ValueError(f"`mask` is not on the grid of `{dname}`: dim {d!r} differs")
        raw = m.data
    else:
        if mask.shape != shape:
            raise ValueError(f"`mask` has shape {mask.shape}; it must have the shape {shape} of {where}")
        raw = mask
    if isinstance(raw, np.ndarray) and not raw.any():
        raise ValueError(f"`mask` is empty (all False): no {what}")
    if space is None:
        out = raw
    else:
        coords = {d: data.coords[d] for d in space if d in data.indexes}
        out = xr.DataArray(raw, dims=space, coords=coords, name="mask")
    return out


def voxel_map(
    value: Any,
    data: Any,
    *,
    name: str,
    dname: str,
    space: list[Any],
    axis: str,
    convert: Callable[[Any, str], np.ndarray],
) -> tuple[Any, np.ndarray | None]:
    """A per-voxel map `value` given like the images `data`: a DataArray on its grid, or numpy.

    A DataArray `data` takes a scalar or a DataArray whose dims are among `space` (the dims of
    `data` other than its `axis`, e.g. ``"time"``) with the same coordinates and, for images,
    the same world geometry; a numpy `data` takes a scalar or an array broadcasting against its
    leading (non-`axis`) axes without enlarging them.  Returns the map to compute with (the
    DataArray itself, or the array `convert` made of `value`) and its values to check (None for
    a dask-backed DataArray, which is not computed here).  Shared by the per-voxel parameters of
    :mod:`dcemets.kinetics.concentration` (`t10`, `m0`) and :mod:`dcemets.kinetics.t1` (`b1`).
    """
    if isinstance(data, xr.DataArray) and isinstance(value, xr.DataArray):
        check_real_dataarray(value, name)
        extra = [d for d in value.dims if d not in space]
        if extra:
            raise ValueError(
                f"`{name}` has dims {tuple(value.dims)}; its dims must be among the non-{axis} dims "
                f"{tuple(space)} of `{dname}` (it may not have {tuple(extra)})"
            )
        if set(SPATIAL_DIMS) <= set(value.dims):
            check_same_grid(data, value, names=(dname, name))
        try:
            xr.align(value, data, join="exact", copy=False)
        except ValueError as exc:
            raise ValueError(f"`{name}` is not on the grid of `{dname}`: {exc}") from None
        return value, (value.values if isinstance(value.data, np.ndarray) else None)
    vals = convert(value, name)
    if isinstance(data, xr.DataArray):
        if vals.ndim > 0:
            raise TypeError(
                f"with a DataArray `{dname}`, give `{name}` as a scalar or a DataArray (dims by name), "
                f"got an array of shape {vals.shape}"
            )
    else:
        lead = np.shape(data)[:-1]
        try:
            ok = np.broadcast_shapes(vals.shape, lead) == lead
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"`{name}` has shape {vals.shape}, which does not broadcast to the leading "
                f"(non-{axis}) axes {lead} of `{dname}` (shape {np.shape(data)})"
            )
    return vals, vals
