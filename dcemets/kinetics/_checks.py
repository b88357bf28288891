"""Argument checks shared by the public kinetics functions (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import check_times


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


def positive_scalar(x: Any, name: str, unit: str, *, upper: float | None = None) -> float:
    """Return `x` as a finite positive float (optionally < `upper`)."""
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a number ({unit}), got {type(x).__name__}") from exc
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"`{name}` must be a positive number ({unit}), got {v}")
    if upper is not None and v >= upper:
        raise ValueError(f"`{name}` must be below {upper} {unit}, got {v}")
    return v


def finite_scalar(x: Any, name: str, unit: str) -> float:
    """Return `x` as a finite float."""
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a number ({unit}), got {type(x).__name__}") from exc
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be finite ({unit}), got {v}")
    return v
