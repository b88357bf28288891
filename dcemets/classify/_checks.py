"""Checks of the classify package's inputs, with messages naming the argument (private).

Feature tables and labels: scikit-learn's ``validate_data`` still does the full validation
(NaN, feature names, ``n_features_in_``); these checks run first so that the commonest
mistakes -- a 1-D or 3-D table, no rows, complex or text values, labels of another length
or shape, missing or single-class labels -- are reported with the argument's name and the
fix.  Messages keep the phrases scikit-learn's estimator checks look for (``0 feature(s)
(shape=(n, 0)) while a minimum of 1 is required``, ``Reshape your data``, ``Complex data not
supported``, ``one class``).

Numbers: :func:`check_int` (the shared :func:`dcemets._checks.check_int` with classify's
error for a non-integral number), :func:`check_alpha`, :func:`check_seed` and
:func:`real_array` check the scalar and array arguments of the public functions.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from dcemets._checks import check_int as _check_int


def _shape(a: Any) -> tuple[int, ...] | None:
    """Shape of an array-like without converting it; None when it has none (ragged lists)."""
    shape = getattr(a, "shape", None)
    if shape is not None:
        try:
            return tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            return None
    try:
        return tuple(int(n) for n in np.shape(a))
    except (TypeError, ValueError):
        return None


def _dtype(a: Any) -> Any:
    """The dtype of an array-like without converting an array (None for a ragged list)."""
    dtype = getattr(a, "dtype", None)
    if dtype is not None or not isinstance(a, (list, tuple)):
        return dtype
    try:
        return np.asarray(a).dtype
    except (TypeError, ValueError):
        return None  # ragged: left to the caller's conversion


def check_real(a: Any, name: str, *, allow_object: bool = True) -> None:
    """Raise unless the array-like `a` holds real numbers (numeric, bool or object numbers).

    Complex values are a ValueError with scikit-learn's phrase ``Complex data not
    supported``; text (numpy/pandas string dtypes, or str objects in an object array) is a
    TypeError, also when the strings spell numbers: a table read as text is a mistake to
    fix where it was read, not to convert silently.  ``allow_object=False``: an object
    array is a TypeError too (the NumPy cores take numeric arrays; estimators take object
    arrays of numbers, as scikit-learn's estimator checks require).
    """
    if isinstance(a, pd.DataFrame):
        for j in range(a.shape[1]):
            check_real(a.iloc[:, j], name, allow_object=allow_object)
        return
    dt = _dtype(a)
    if dt is None:
        return
    if pd.api.types.is_complex_dtype(dt):
        raise ValueError(
            f"Complex data not supported: `{name}` must hold real numbers, got dtype {dt}; "
            "pass the real part or the magnitude (np.abs)"
        )
    if isinstance(dt, np.dtype) and dt.kind == "O" and not allow_object:
        raise TypeError(
            f"`{name}` must be a numeric array, got dtype object; convert it with "
            f"np.asarray({name}, dtype=float)"
        )
    if isinstance(dt, np.dtype) and dt.kind == "O":
        values = a.to_numpy() if isinstance(a, pd.Series) else np.asarray(a, dtype=object)
        if any(isinstance(v, (str, bytes)) for v in values.reshape(-1)):
            raise TypeError(
                f"`{name}` must hold numbers, got text (str values in an object array); "
                "convert it to numbers where it is read, e.g. with pandas.to_numeric"
            )
    elif (isinstance(dt, np.dtype) and dt.kind in "USV") or pd.api.types.is_string_dtype(dt):
        raise TypeError(
            f"`{name}` must hold numbers, got dtype {dt} (text); convert it to numbers where "
            "it is read, e.g. with pandas.to_numeric"
        )


def real_array(a: Any, name: str, *, allow_object: bool = True) -> np.ndarray:
    """`a` as a float64 ndarray, with an error naming `name` when it does not hold real numbers."""
    check_real(a, name, allow_object=allow_object)
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of real numbers, got {type(a).__name__}") from exc


def check_table(X: Any, who: str) -> None:
    """Raise naming `X` unless it is a 2-D table of real numbers with rows and columns."""
    xs = _shape(X)
    if xs is None:
        return  # ragged or exotic: scikit-learn's own message
    if len(xs) != 2:
        hint = (
            "; Reshape your data with X.reshape(-1, 1) if it holds a single feature, or "
            "X.reshape(1, -1) if it is a single sample"
            if len(xs) == 1
            else ""
        )
        raise ValueError(
            f"`X` must be a 2-D feature table (n_samples, n_features) for {who}, got "
            f"{len(xs)}-D shape {xs}{hint}"
        )
    if xs[0] == 0:
        raise ValueError(
            f"`X` has 0 sample(s) (shape={xs}) while a minimum of 1 is required by {who}: no rows to use"
        )
    if xs[1] == 0:
        raise ValueError(f"`X` has 0 feature(s) (shape={xs}) while a minimum of 1 is required by {who}.")
    check_real(X, "X")


def check_table_and_labels(X: Any, y: Any, who: str) -> None:
    """`check_table`, then `y` one label per row of `X` (a column vector is left to sklearn)."""
    check_table(X, who)
    if y is None:
        return  # scikit-learn: "requires y to be passed, but the target y is None"
    ys = _shape(y)
    xs = _shape(X)
    if ys is None or xs is None:
        return
    if len(ys) == 0 or len(ys) > 2 or (len(ys) == 2 and ys[1] != 1):
        raise ValueError(
            f"`y` must be 1-D class labels (n_samples,) for {who}, one per row of `X`, got shape {ys}"
        )
    if ys[0] != xs[0]:
        raise ValueError(
            f"`X` has {xs[0]} sample(s) (rows) but `y` has {ys[0]} label(s); give one label per row of `X`"
        )
    check_labels_present(y)


def check_labels_present(y: Any) -> None:
    """Raise a ValueError naming `y` when a label is missing (NaN, None, pandas NA)."""
    dt = _dtype(y)
    if dt is None or getattr(dt, "kind", None) not in ("f", "O"):
        return  # ints, bools, strings: no missing value; extension dtypes: sklearn's own check
    arr = np.asarray(y)
    n_missing = int(np.count_nonzero(pd.isna(arr)))
    if n_missing:
        raise ValueError(
            f"Input y contains NaN: `y` has {n_missing} missing label(s) (NaN or None) out of "
            f"{arr.size}; drop those samples or give them their class"
        )


def check_classes(classes: np.ndarray, who: str) -> None:
    """Raise a ValueError naming `y` unless `classes` (the sorted labels of `y`) has two or more."""
    if classes.size < 2:
        raise ValueError(
            f"`y` contains one class only ({classes.tolist()[:1]}); {who} needs at least 2 classes"
        )


check_int = functools.partial(_check_int, float_error=ValueError)
"""`value` as an int (:func:`dcemets._checks.check_int`, `minimum` optional).

The classify convention: a real number that is not a whole one (``2.5``, NaN) is a
``ValueError``, a bad value rather than a bad type, as scikit-learn's parameter checks report
it; anything else not an int is a ``TypeError``.
"""


def check_alpha(value: Any, name: str) -> float:
    """`value` as a float significance level in (0, 1], else a ValueError naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) <= 1.0  # NaN fails too
    ):
        raise ValueError(f"`{name}` must be a number in (0, 1], got {value!r}")
    return float(value)


def check_int_sequence(values: Any, name: str, *, minimum: int = 1) -> list[int]:
    """A non-empty sequence of ints >= `minimum` as a list, else an error naming `name`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"`{name}` must be a sequence of ints, got {values!r}")
    out = list(values)
    if not out:
        raise ValueError(f"`{name}` is empty; give at least one int")
    return [check_int(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(out)]


def check_seed(random_state: Any, name: str = "random_state") -> np.random.RandomState:
    """scikit-learn's ``check_random_state``, with an error naming `name`."""
    try:
        return check_random_state(random_state)
    except ValueError as exc:
        raise ValueError(
            f"`{name}` must be None, an int in [0, 2**32 - 1] or a numpy RandomState, got {random_state!r}"
        ) from exc
