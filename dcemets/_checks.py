"""The scalar argument checks of every layer (private): ints and real numbers, with bounds.

One set, at the bottom of the layers, so that a bad scalar is refused the same way by every
public function: a ``TypeError`` for a value of the wrong type, a ``ValueError`` for a value
out of range, each naming the argument and saying what was expected.  Checks that belong to
one package's data (masks, feature tables, tensors, DICOM) stay in that package's
``_checks.py``.

* :func:`check_int`: an int (a Python or NumPy integer, never a bool), optionally bounded.
* :func:`check_real`: a finite real number (Python or NumPy, or a 0-d real array), optionally
  bounded, each bound open or closed; :func:`check_positive` and :func:`check_finite` are its
  two common cases.

Each returns the value converted (``int`` or ``float``), so a caller writes
``n = check_int(n, "n", minimum=1)``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_finite", "check_int", "check_positive", "check_real"]


def _shown(value: Any) -> str:
    """``repr(value)``, cut to 80 characters (an array passed by mistake stays readable)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(
    value: Any,
    name: str,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    float_error: type[Exception] = TypeError,
) -> int:
    """`value` as an int in ``[minimum, maximum]`` (each bound optional), else an error naming `name`.

    Parameters
    ----------
    value : Any
        The argument to check: a Python or NumPy integer, not a bool.
    name : str
        The argument's name, as the messages show it (e.g. ``"n_bins"``, ``"dl['epochs']"``).
    minimum, maximum : int, optional
        Inclusive bounds.
    float_error : type of Exception, default TypeError
        What a real number that is not an integer (``2.5``, ``3.0``, NaN) raises: a
        ``TypeError`` (a wrong type), or a ``ValueError`` where such a number counts as a
        wrong value (the estimators of :mod:`dcemets.classify`, as scikit-learn's
        parameter checks).

    Returns
    -------
    int
        `value` as a Python int.

    Raises
    ------
    TypeError
        `value` is not an integer (a bool, a string, None, an array ...).
    ValueError
        `value` is out of bounds.

    Examples
    --------
    >>> check_int(3, "n", minimum=1)
    3
    >>> check_int(0, "n", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: `n` must be an int >= 1, got 0
    >>> check_int(True, "n_levels", 1, 5)
    Traceback (most recent call last):
    ...
    TypeError: `n_levels` must be an int in [1, 5], got True (bool)
    """
    if minimum is not None and maximum is not None:
        what = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = f"an int >= {minimum}"
    elif maximum is not None:
        what = f"an int <= {maximum}"
    else:
        what = "an int"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            raise float_error(f"`{name}` must be {what}, got {value!r}")
        raise TypeError(f"`{name}` must be {what}, got {_shown(value)} ({type(value).__name__})")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ValueError(f"`{name}` must be {what}, got {value!r}")
    return v


def _as_real(value: Any) -> float | None:
    """`value` as a float when it is a real number (not a bool) or a 0-d real array, else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if getattr(value, "ndim", None) == 0 and getattr(getattr(value, "dtype", None), "kind", None) in (
        "i",
        "u",
        "f",
    ):
        return float(np.asarray(value))  # a 0-d ndarray or DataArray of a real dtype
    return None


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None and low == 0:
        return "a positive number" if low_open else "a non-negative number"
    if high is None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_real(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    unit: str | None = None,
) -> float:
    """`value` as a finite float between `low` and `high`, else an error naming `name`.

    Parameters
    ----------
    value : Any
        The argument to check: a real number (Python or NumPy, not a bool) or a 0-d array
        of a real dtype.  Strings are refused, even numeric ones.
    name : str
        The argument's name, as the messages show it.
    low, high : float, optional
        Bounds; closed unless `low_open` / `high_open`.
    low_open, high_open : bool, default False
        Whether `low` / `high` itself is excluded.
    unit : str, optional
        The value's unit, shown in the messages (e.g. ``"s"``).

    Returns
    -------
    float
        `value` as a Python float.

    Raises
    ------
    TypeError
        `value` is not a real number.
    ValueError
        `value` is NaN, infinite or out of bounds.

    Examples
    --------
    >>> check_real(0.5, "p", 0.0, 1.0, high_open=True)
    0.5
    >>> check_real(1.0, "p", 0.0, 1.0, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: `p` must be in [0, 1), got 1.0
    >>> check_real("3.7", "tr", 0.0, low_open=True, unit="s")
    Traceback (most recent call last):
    ...
    TypeError: `tr` must be a positive number (s), got '3.7' (str)
    """
    what = _interval(low, high, low_open, high_open) + (f" ({unit})" if unit else "")
    v = _as_real(value)
    if v is None:
        raise TypeError(f"`{name}` must be {what}, got {_shown(value)} ({type(value).__name__})")
    below = low is not None and (v <= low if low_open else v < low)
    above = high is not None and (v >= high if high_open else v > high)
    if not np.isfinite(v) or below or above:
        raise ValueError(f"`{name}` must be {what}, got {_shown(value)}")
    return v


def check_positive(
    value: Any,
    name: str,
    unit: str | None = None,
    *,
    minimum: float = 0.0,
    inclusive: bool = False,
    upper: float | None = None,
) -> float:
    """:func:`check_real` of a finite number > `minimum` (>= with `inclusive`) and < `upper`.

    Parameters
    ----------
    value : Any
        The argument to check.
    name : str
        The argument's name.
    unit : str, optional
        Its unit, shown in the messages.
    minimum : float, default 0.0
        The lower bound, excluded unless `inclusive`.
    inclusive : bool, default False
        Whether `minimum` itself is allowed.
    upper : float, optional
        An upper bound, excluded.

    Returns
    -------
    float
        `value` as a Python float.

    Examples
    --------
    >>> check_positive(2, "tr", "s")
    2.0
    >>> check_positive(0.0, "sigma")
    Traceback (most recent call last):
    ...
    ValueError: `sigma` must be a positive number, got 0.0
    """
    return check_real(value, name, minimum, upper, low_open=not inclusive, high_open=True, unit=unit)


def check_finite(value: Any, name: str, unit: str | None = None) -> float:
    """:func:`check_real` without bounds: any finite real number.

    Parameters
    ----------
    value : Any
        The argument to check.
    name : str
        The argument's name.
    unit : str, optional
        Its unit, shown in the messages.

    Returns
    -------
    float
        `value` as a Python float.

    Examples
    --------
    >>> check_finite(-3, "delay", "s")
    -3.0
    >>> check_finite(float("nan"), "delay", "s")
    Traceback (most recent call last):
    ...
    ValueError: `delay` must be a finite number (s), got nan
    """
    return check_real(value, name, unit=unit)
