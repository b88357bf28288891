"""Shape checks of feature tables and labels with messages naming `X` and `y` (private).

scikit-learn's ``validate_data`` still does the full validation (dtype, NaN, feature names,
``n_features_in_``); these checks run first so that the commonest mistakes -- a 1-D or 3-D
table, no rows, labels of another length or shape -- are reported with the argument's name
and the fix.  Messages keep the phrases scikit-learn's estimator checks look for (``0
feature(s) (shape=(n, 0)) while a minimum of 1 is required``, ``Reshape your data``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


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


def check_table(X: Any, who: str) -> None:
    """Raise a ValueError naming `X` unless it is a 2-D table with rows and columns."""
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
