"""Argument checks of the simulator's public building blocks (clear errors naming the argument)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcemets import _checks


def check_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """Return `rng` if it is a :class:`numpy.random.Generator`, else raise a TypeError."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"`{name}` must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` with `low_open`), as a float.

    The simulator's keyword form of the shared :func:`dcemets._checks.check_real`.
    """
    return _checks.check_real(value, name, low, high, low_open=low_open)


def check_int(value: Any, name: str, *, low: int, high: int) -> int:
    """An int in ``[low, high]``: the simulator's keyword form of :func:`dcemets._checks.check_int`."""
    return _checks.check_int(value, name, low, high)


def check_points(points: Any, name: str = "points") -> np.ndarray:
    """Finite real LPS points, shape (n, 3), as float64 (a new array)."""
    arr = np.asarray(points) if not isinstance(points, (str, bytes, dict)) and points is not None else None
    if arr is None or arr.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must be a real array of shape (n, 3), got {type(points).__name__}")
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"`{name}` must have shape (n, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"`{name}` must be finite")
    return np.array(arr, dtype=float)


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    """Integer tissue labels, shape (n,)."""
    arr = np.asarray(labels) if not isinstance(labels, (str, bytes, dict)) and labels is not None else None
    if arr is None or arr.dtype.kind not in "iu":
        raise TypeError(
            f"`{name}` must be an integer array of tissue labels (tissue_labels(points, anatomy)), "
            f"got {type(labels).__name__} of dtype {getattr(arr, 'dtype', None)}"
        )
    if arr.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},) like `points`, got {arr.shape}")
    return arr


def check_instance(value: Any, cls: type, name: str, hint: str) -> Any:
    """`value` if it is a `cls`, else a TypeError naming `name` and how to get one."""
    if not isinstance(value, cls):
        raise TypeError(f"`{name}` must be a {cls.__name__} ({hint}), got {type(value).__name__}")
    return value


def check_array(value: Any, name: str, *, ndim: int | None = None, complex_ok: bool = False) -> np.ndarray:
    """A finite numeric array (real unless `complex_ok`) with `ndim` dimensions, not copied."""
    arr = None if isinstance(value, (str, bytes, dict)) or value is None else np.asarray(value)
    kinds = "biufc" if complex_ok else "biuf"
    if arr is None or arr.dtype.kind not in kinds:
        what = "a numeric" if complex_ok else "a real"
        raise TypeError(f"`{name}` must be {what} array, got {type(value).__name__}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"`{name}` must be finite (no NaN or inf)")
    return arr
