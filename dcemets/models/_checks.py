"""Argument checks shared by :mod:`dcemets.models` (private).

Every public function, ``__init__``, ``forward`` and estimator ``fit``/``predict`` of the
subpackage calls these first, so that a bad argument is a ``TypeError`` (wrong type) or a
``ValueError`` (wrong value) that names it and says what was expected, before any torch,
numpy or scikit-learn code sees it.  The tensor checks are O(1) except
:func:`require_finite`, one reduction over the tensor (no per-element Python, no per-time-step
work), called once at the entry of a forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dcemets._checks import check_int, check_real

__all__: list[str] = []


def check_optional_int(value: Any, name: str, *, minimum: int = 1) -> int | None:
    """None, or `value` checked by :func:`dcemets._checks.check_int` (an int >= `minimum`)."""
    return None if value is None else check_int(value, name, minimum=minimum)


def check_fraction(value: Any, name: str) -> float:
    """A dropout-like probability in ``[0, 1)`` (:func:`dcemets._checks.check_real`)."""
    return check_real(value, name, low=0.0, high=1.0, high_open=True)


def int_list(value: Any, n: int, name: str) -> list[int]:
    """One int >= 1 per layer from an int (shared by all `n`) or a sequence of `n` ints."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        out = [int(value)] * n
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes):
        items = list(value)
        if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in items):
            raise TypeError(f"`{name}` must be an int or a sequence of {n} ints, got {value!r}")
        if len(items) != n:
            raise ValueError(f"`{name}` must have one value per layer ({n}), got {len(items)}")
        out = [int(v) for v in items]
    else:
        raise TypeError(f"`{name}` must be an int or a sequence of {n} ints, got {value!r}")
    if any(v < 1 for v in out):
        raise ValueError(f"`{name}` values must be >= 1, got {out}")
    return out


def check_odd(value: int, name: str) -> int:
    """`value` (already an int) unless it is even: 'same' padding needs an odd kernel."""
    if value % 2 != 1:
        raise ValueError(f"`{name}` must be odd (for 'same' padding), got {value}")
    return value


def check_tensor(x: Any, name: str, layout: str, *, ndim: int | None = None, min_ndim: int = 0) -> None:
    """Raise unless `x` is a non-empty floating-point tensor with `ndim` (or >= `min_ndim`) axes.

    `layout` names the axes in the messages, e.g. ``"(batch, channel, height, width)"``.
    """
    if not isinstance(x, torch.Tensor):
        hint = (
            " (convert it with torch.from_numpy or dcemets.models.to_tensor)"
            if isinstance(x, np.ndarray)
            else ""
        )
        raise TypeError(f"`{name}` must be a torch.Tensor {layout}, got {type(x).__name__}{hint}")
    if not x.is_floating_point():
        raise TypeError(
            f"`{name}` must be a floating-point tensor, got dtype {x.dtype}; convert it with .float()"
        )
    if (ndim is not None and x.ndim != ndim) or x.ndim < min_ndim:
        want = f"{ndim}D" if ndim is not None else f"at least {min_ndim}D"
        raise ValueError(f"`{name}` must be {want} {layout}, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"`{name}` is empty (shape {tuple(x.shape)}); give at least one sample {layout}")


def require_finite(x: torch.Tensor, name: str) -> None:
    """Raise unless every element of `x` is finite (one sum; the exact test only if it is not)."""
    with torch.no_grad():
        if bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all()):  # a sum may overflow
            return
    raise ValueError(f"`{name}` contains NaN or infinite values; clean or mask them first")


def _shape(a: Any) -> tuple[int, ...] | None:
    """Shape of an array-like without keeping a conversion; None for ragged or exotic input."""
    shape = getattr(a, "shape", None)
    try:
        return tuple(int(n) for n in (np.shape(a) if shape is None else shape))
    except (TypeError, ValueError):
        return None


def check_images(X: Any, who: str, layout: str) -> None:
    """Raise a ValueError/TypeError naming `X` for the commonest mistakes in an image batch.

    Runs before scikit-learn's ``validate_data`` (which does the full validation): no array
    at all, strings, complex numbers, no samples.  Messages keep the phrases scikit-learn's
    estimator checks look for (``Complex data not supported``, ``while a minimum of 1 is
    required``, ``Reshape your data``).
    """
    shape = _shape(X)
    if shape is None:
        return  # ragged: scikit-learn's own message
    dtype = getattr(X, "dtype", None)
    if len(shape) == 0:
        raise TypeError(f"`X` must be an array of images {layout} (or a 2D table), got {type(X).__name__}")
    if len(shape) == 1:
        raise ValueError(
            f"`X` must be {layout} (or a 2D table), got 1D shape {tuple(shape)}; Reshape your data "
            "with X.reshape(-1, 1) if it holds a single feature, or X.reshape(1, -1) if it is a single sample"
        )
    if isinstance(dtype, np.dtype) and dtype.kind in "USc":
        what = "complex: Complex data not supported; pass real values" if dtype.kind == "c" else "text"
        err = ValueError if dtype.kind == "c" else TypeError
        raise err(f"`X` must hold real numbers, got dtype {dtype} ({what})")
    if int(shape[0]) == 0:
        raise ValueError(
            f"`X` has 0 sample(s) (shape={tuple(shape)}) while a minimum of 1 is required by {who}"
        )


def check_labels(y: Any, X: Any) -> None:
    """Raise a ValueError naming `y` unless it holds one non-missing label per sample of `X`.

    None and column vectors are left to scikit-learn (its own messages and warnings).
    """
    x_shape = _shape(X)
    if y is None or not x_shape:
        return
    n_samples = x_shape[0]
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError):
        return
    if arr.ndim == 0 or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 1):
        raise ValueError(
            f"`y` must be 1D class labels (n_samples,), one per sample of `X`, got shape {arr.shape}"
        )
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"`X` has {n_samples} sample(s) but `y` has {arr.shape[0]} label(s); give one label per sample"
        )
    if arr.dtype == object:
        missing = np.flatnonzero([v is None or (isinstance(v, float) and math.isnan(v)) for v in arr.ravel()])
        if missing.size:
            raise ValueError(f"`y` contains NaN/None (missing) labels at positions {missing[:5].tolist()}")
