"""Shared argument checks of the simulator's public functions (private).

Each check raises a :class:`TypeError` or :class:`ValueError` naming the argument, and
returns the value exactly as the simulator used it before (no change of the numbers for
valid inputs).
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np


def check_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """`rng` must be a :class:`numpy.random.Generator` (no seed: the caller owns the stream)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`{name}` must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def check_instance(value: Any, cls: type, name: str) -> None:
    """`value` must be an instance of `cls`."""
    if not isinstance(value, cls):
        raise TypeError(f"`{name}` must be a {cls.__name__}, got {type(value).__name__}")


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """`value` must be a finite real number in ``[low, high]`` (``(low, high]`` if `low_open`)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"`{name}` must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"`{name}` must be <= {high}, got {value!r}")


def _real_array(values: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a real numeric array: {exc}") from exc
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"`{name}` must be a real numeric array, got dtype {a.dtype}")
    return a


def check_points(points: Any, name: str = "points") -> np.ndarray:
    """LPS points: a finite real array of shape (n, 3), returned as float64."""
    a = _real_array(points, name)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"`{name}` must have shape (n, 3), got {a.shape}")
    p = np.asarray(a, dtype=float)
    if not np.isfinite(p).all():
        raise ValueError(f"`{name}` must be finite (no NaN or inf)")
    return p


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    """Tissue labels: a finite, integer-valued real array of shape (n,)."""
    a = _real_array(labels, name)
    if a.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},) (one label per point), got {a.shape}")
    if np.issubdtype(a.dtype, np.floating) and not (np.isfinite(a).all() and np.all(a == np.round(a))):
        raise ValueError(f"`{name}` must hold finite integer tissue labels")
    return a
