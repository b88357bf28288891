"""Population arterial input functions (plasma concentration, mM, time in s)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from dcemets._checks import check_finite, check_positive
from dcemets.kinetics import _np
from dcemets.kinetics._checks import as_float_array

__all__ = ["biexponential_aif", "parker_aif"]


def _time_array(time: Any) -> np.ndarray:
    return as_float_array(time, "time", finite=True, min_size=1)


def _hct(hct: Any) -> float:
    h = check_finite(hct, "hct", "fraction")
    if not 0.0 <= h < 1.0:
        raise ValueError(f"`hct` (haematocrit) must be in [0, 1), got {h}")
    return h


def _wrap(time: Any, values: np.ndarray, long_name: str) -> np.ndarray | xr.DataArray:
    if isinstance(time, xr.DataArray) and time.ndim == 1:
        return xr.DataArray(
            values,
            dims=time.dims,
            coords={time.dims[0]: time.values},
            name="aif",
            attrs={"units": "mM", "long_name": long_name},
        )
    return values


def parker_aif(time: Any, *, delay: float = 0.0, hct: float = 0.42) -> np.ndarray | xr.DataArray:
    """Parker population AIF as **plasma** concentration.

    The Parker et al. (2006) functional form gives the *blood* concentration
    ``Cb(t) = sum_n A_n / (sigma_n sqrt(2 pi)) exp(-(t - T_n)^2 / (2 sigma_n^2))
    + alpha exp(-beta t) / (1 + exp(-s (t - tau)))`` (``t`` in minutes after the AIF onset);
    this function returns ``Cp = Cb / (1 - hct)`` and sets it to 0 before the onset
    (``time < delay``), as the OSIPI delayed reference does (the formula itself gives
    ``Cb(0) = 0.0804`` mM).

    Parameters
    ----------
    time : array_like or xarray.DataArray, any shape
        Times in seconds.  A 1D DataArray gives a DataArray with the same coordinate.
    delay : float, default 0.0
        AIF onset (s): the formula is evaluated at ``time - delay``.
    hct : float, default 0.42
        Haematocrit in [0, 1); ``hct=0`` returns the blood curve.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Plasma concentration (mM), same shape as `time`.

    Raises
    ------
    ValueError
        If `hct` is outside [0, 1) or `time`/`delay` are not finite, or `time` is empty.
    TypeError
        If `time`, `delay` or `hct` is not real numbers (complex, strings, objects).

    References
    ----------
    .. [1] Parker GJM et al. Experimentally-derived functional form for a population-averaged
       high-temporal-resolution arterial input function for dynamic contrast-enhanced MRI.
       Magn Reson Med 2006;56:993-1000. :doi:`10.1002/mrm.21066`

    Examples
    --------
    >>> round(float(parker_aif(10.4, hct=0.0)), 2)  # blood peak, 10.4 s after onset
    6.07
    >>> parker_aif([0.0, 30.0], delay=20.0).round(3)
    array([ 0.   , 10.418])
    """
    t = _time_array(time)
    d = check_finite(delay, "delay", "s")
    h = _hct(hct)
    tm = (t - d) / 60.0
    cp = np.where(tm >= 0, _np.parker_blood(tm), 0.0) / (1.0 - h)
    return _wrap(time, cp, "Parker population AIF (plasma)")


def biexponential_aif(
    time: Any,
    *,
    delay: float = 0.0,
    dose: float = 0.1,
    a1: float = 3.99,
    m1: float = 0.144,
    a2: float = 4.78,
    m2: float = 0.0111,
) -> np.ndarray | xr.DataArray:
    """Bi-exponential (Weinmann / Tofts-Kermode) plasma AIF.

    ``Cp(t) = dose (a1 exp(-m1 t) + a2 exp(-m2 t))`` for ``t >= delay`` (``t`` in minutes
    after injection) and 0 before: an instantaneous bolus with no upslope.  The defaults are
    the Weinmann et al. (1984) values used by Tofts & Kermode (1991) for Gd-DTPA.  With this
    input the Tofts model has a closed form (see :func:`dcemets.kinetics.tofts`), which the
    test-suite uses as an oracle.

    Parameters
    ----------
    time : array_like or xarray.DataArray
        Times in seconds.
    delay : float, default 0.0
        Injection time (s).
    dose : float, default 0.1
        Dose (mmol/kg), positive.
    a1 : float, default 3.99
        Amplitude of the fast component (kg/L), non-negative.
    m1 : float, default 0.144
        Rate constant of the fast component (1/min), positive (a zero rate would be a
        compartment that never clears).
    a2 : float, default 4.78
        Amplitude of the slow component (kg/L), non-negative.
    m2 : float, default 0.0111
        Rate constant of the slow component (1/min), positive.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Plasma concentration (mM), same shape as `time`.

    Raises
    ------
    ValueError
        If `time` or a parameter is not finite or `time` is empty, `a1` or `a2` is negative,
        or `dose`, `m1` or `m2` is not positive.
    TypeError
        If `time` or a parameter is not real numbers.

    References
    ----------
    .. [1] Tofts PS, Kermode AG. Measurement of the blood-brain barrier permeability and
       leakage space using dynamic MR imaging. 1. Fundamental concepts.
       Magn Reson Med 1991;17:357-367. :doi:`10.1002/mrm.1910170208`
    .. [2] Weinmann HJ, Laniado M, Mützel W. Pharmacokinetics of GdDTPA/dimeglumine after
       intravenous injection into healthy volunteers. Physiol Chem Phys Med NMR 1984;16:167-172.

    Examples
    --------
    >>> biexponential_aif([-1.0, 0.0]).round(3)
    array([0.   , 0.877])
    """
    t = _time_array(time)
    d = check_finite(delay, "delay", "s")
    dose = check_positive(dose, "dose", "mmol/kg")
    m1 = check_positive(m1, "m1", "1/min")
    m2 = check_positive(m2, "m2", "1/min")
    a1, a2 = (check_finite(v, k, "kg/L") for k, v in (("a1", a1), ("a2", a2)))
    for k, v in (("a1", a1), ("a2", a2)):
        if v < 0:
            raise ValueError(f"`{k}` must be non-negative (kg/L), got {v}")
    tm = (t - d) / 60.0
    tpos = np.maximum(tm, 0.0)
    cp = dose * (a1 * np.exp(-m1 * tpos) + a2 * np.exp(-m2 * tpos))
    cp = np.where(tm >= 0, cp, 0.0)
    return _wrap(time, cp, "bi-exponential AIF (plasma)")
