"""Argument checks shared by the public kinetics functions (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import time_seconds


def as_time(time: Any, name: str = "time", *, min_frames: int = 2) -> np.ndarray:
    """Return `time` as a float64 1D array of strictly increasing finite seconds.

    ``timedelta64`` times are converted to seconds, ``datetime64`` times to seconds from the
    first one (:func:`dcemets._conventions.time_seconds`).
    """
    if isinstance(time, xr.DataArray):
        time = time.values
    try:
        t = time_seconds(time, name)
    except TypeError as exc:
        raise TypeError(
            f"`{name}` must be a 1D array of times in seconds, got {type(time).__name__} ({exc})"
        ) from exc
    if t.ndim != 1:
        raise ValueError(f"`{name}` must be 1D (times in s), got shape {t.shape}")
    if t.size < min_frames:
        raise ValueError(f"`{name}` needs at least {min_frames} time points, got {t.size}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"`{name}` must be finite")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"`{name}` must be strictly increasing (seconds), got {np.round(t, 3).tolist()}")
    return t


def as_float_array(x: Any, name: str) -> np.ndarray:
    """Return `x` as a float64 array (no copy when possible), with a clear TypeError."""
    if isinstance(x, xr.DataArray):
        x = x.values
    if np.iscomplexobj(x):
        raise TypeError(f"`{name}` is complex; pass real values (e.g. the magnitude `np.abs({name})`)")
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be numeric (array_like of float), got {type(x).__name__}") from exc
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
