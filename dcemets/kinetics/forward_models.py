"""Tracer-kinetic forward models: (extended) Tofts and Patlak."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from dcemets.kinetics import _np
from dcemets.kinetics._checks import as_float_array, as_time

__all__ = ["patlak", "tcum", "tcxm", "tofts"]


def _prepare_aif(time: np.ndarray, aif: Any, aif_time: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (aif grid, aif values) after checks; a DataArray AIF brings its own times."""
    tname = "aif_time"
    if aif_time is None and isinstance(aif, xr.DataArray) and aif.ndim == 1 and aif.dims[0] in aif.coords:
        aif_time = aif[aif.dims[0]].values
        tname = f"aif.{aif.dims[0]}"  # the AIF's own coordinate, not an `aif_time` argument
    a = as_float_array(aif, "aif")
    if a.ndim != 1:
        raise ValueError(f"`aif` must be 1D (one concentration per AIF time), got shape {a.shape}")
    ta = time if aif_time is None else as_time(aif_time, tname)
    if a.size != ta.size:
        name = "time" if aif_time is None else tname
        raise ValueError(f"`aif` has {a.size} samples but `{name}` has {ta.size}; sample the AIF at `{name}`")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"`aif` contains {int((~np.isfinite(a)).sum())} NaN or infinite value(s)")
    tol = 1e-9 * max(1.0, float(np.max(np.abs(ta))))
    if ta[0] > time[0] + tol or ta[-1] < time[-1] - tol:
        raise ValueError(
            f"the AIF time grid [{ta[0]:g}, {ta[-1]:g}] s does not cover the requested times "
            f"[{time[0]:g}, {time[-1]:g}] s"
        )
    return ta, a


def _nonneg(x: Any, name: str, unit: str) -> np.ndarray:
    """`x` as a float array of finite values >= 0 (<= 1 for a volume fraction), elementwise."""
    arr = as_float_array(x, name)
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"`{name}` ({unit}) must be finite, got {n_bad} NaN or infinite value(s)")
    if np.any(arr < 0):
        raise ValueError(
            f"`{name}` must be non-negative ({unit}), got {int((arr < 0).sum())} negative value(s)"
        )
    if unit == "fraction" and np.any(arr > 1):
        raise ValueError(
            f"`{name}` is a volume fraction and must be in [0, 1], got {int((arr > 1).sum())} "
            f"value(s) above 1 (max {float(arr.max()):g})"
        )
    return arr


def tofts_np(
    time: np.ndarray, ta: np.ndarray, a: np.ndarray, ktrans: np.ndarray, kep: np.ndarray, vp: np.ndarray
) -> np.ndarray:
    """Numpy core of :func:`tofts` (validated inputs, kinetic constants in 1/min)."""
    shape = np.broadcast_shapes(np.shape(ktrans), np.shape(kep), np.shape(vp))
    kt, ke, v = (np.broadcast_to(p, shape).reshape(-1) for p in (ktrans, kep, vp))
    tm, am, idx = _np.merge_grid(ta, a, time)
    g, _ = _np.exp_conv(tm, am, ke / 60.0, idx)
    cp = am[idx]
    ct = kt[:, None] / 60.0 * g + v[:, None] * cp[None, :]
    return ct.reshape((*shape, time.size))


def _param_wrapper(core: Any, t: np.ndarray, params: tuple[Any, ...]) -> xr.DataArray:
    """Apply `core(*params)` over DataArray parameters, adding a ``time`` dim."""
    out = xr.apply_ufunc(
        core,
        *params,
        output_core_dims=[["time"]],
        dask="parallelized",
        output_dtypes=[float],
        dask_gufunc_kwargs={"output_sizes": {"time": t.size}},
    )
    out = out.assign_coords(time=xr.Variable("time", t, attrs={"units": "s"}))
    out.name = "concentration"
    out.attrs.update({"units": "mM", "long_name": "tissue concentration"})
    return out


def tofts(
    time: Any,
    aif: Any,
    ktrans: Any,
    kep: Any,
    vp: Any = 0.0,
    *,
    aif_time: Any = None,
) -> np.ndarray | xr.DataArray:
    """(Extended) Tofts model tissue concentration.

    ``Ct(t) = Ktrans * integral_0^t Cp(tau) exp(-kep (t - tau)) dtau + vp Cp(t)``
    (OSIPI CAPLEX M.IC1.004 / M.IC1.005), with ``vp = 0`` giving the standard Tofts model.
    The convolution is computed **exactly** for an AIF that is linear between its samples,
    by the O(N) exponential recursion of Flouri et al. (2016, appendix), vectorised across
    parameter sets (no FFT, no ``np.convolve``, any -- even non-uniform -- AIF grid).

    The AIF may live on its own, finer grid `aif_time` (e.g. a population AIF on a 0.5 s
    grid): the model is then computed on that grid and sampled exactly at `time`.  With the
    12 frames of 10-14 s of Lang et al. (2019) an AIF known only at the frames biases fitted
    Ktrans by -14 % to +78 %, so evaluate population AIFs on a <= 1 s grid.

    Parameters
    ----------
    time : array_like, shape (T,)
        Output times (s), strictly increasing, inside the AIF grid.
    aif : array_like, shape (N,), or xarray.DataArray
        Plasma concentration (mM) at `aif_time` (default `time`); a 1D DataArray with a
        coordinate supplies its own times.  Zero before its first sample.
    ktrans : float, array_like or DataArray
        Volume transfer constant (1/min), >= 0.
    kep : float, array_like or DataArray
        Efflux rate constant ``Ktrans / ve`` (1/min), >= 0 (``kep = 0`` is pure uptake).
    vp : float, array_like or DataArray, default 0.0
        Plasma volume fraction in [0, 1] (extended Tofts when non-zero).
    aif_time : array_like, shape (N,), optional
        Times (s) of the AIF samples.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Tissue concentration (mM) of shape ``broadcast(ktrans, kep, vp).shape + (T,)``; a
        DataArray with a new ``time`` dim when a parameter is a DataArray (dask-lazy if the
        parameter is chunked).

    Raises
    ------
    ValueError
        If times are not increasing, the AIF grid does not cover `time`, sizes disagree, or a
        parameter is NaN, infinite or negative, or `vp` is above 1 (checked elementwise; a
        dask-backed parameter is not computed to check it).

    References
    ----------
    .. [1] Tofts PS et al. Estimating kinetic parameters from dynamic contrast-enhanced
       T1-weighted MRI of a diffusable tracer: standardized quantities and symbols.
       J Magn Reson Imaging 1999;10:223-232. :doi:`10.1002/(SICI)1522-2586(199909)10:3<223::AID-JMRI2>3.0.CO;2-S`
    .. [2] Flouri D, Lesnic D, Sourbron SP. Fitting the two-compartment model in DCE-MRI by
       linear inversion. Magn Reson Med 2016;76:998-1006. :doi:`10.1002/mrm.25991`
    .. [3] Dickie BR et al. A community-endorsed open-source lexicon for contrast agent-based
       perfusion MRI: a consensus guidelines report from the ISMRM OSIPI initiative.
       Magn Reson Med 2024;91:1761-1773. :doi:`10.1002/mrm.29840`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif
    >>> t = np.arange(0.0, 301.0, 1.0)
    >>> cp = parker_aif(t, delay=20.0)
    >>> ct = tofts(t, cp, ktrans=[0.1, 0.2], kep=0.5)
    >>> ct.shape
    (2, 301)
    >>> frames = np.arange(0.0, 144.0, 12.0)  # 12 frames, AIF on its own 1-s grid
    >>> tofts(frames, cp, 0.1, 0.4, aif_time=t).shape
    (12,)
    """
    t = as_time(time, "time", min_frames=1)
    ta, a = _prepare_aif(t, aif, aif_time)
    params = (ktrans, kep, vp)
    names = ("ktrans", "kep", "vp")
    units = ("1/min", "1/min", "fraction")
    if any(isinstance(p, xr.DataArray) for p in params):
        if not isinstance(ktrans, xr.DataArray) or isinstance(ktrans.data, np.ndarray):
            for p, n, u in zip(params, names, units):
                if not isinstance(p, xr.DataArray) or isinstance(p.data, np.ndarray):
                    _nonneg(p, n, u)
        return _param_wrapper(
            lambda k1, k2, v: tofts_np(
                t, ta, a, np.asarray(k1, float), np.asarray(k2, float), np.asarray(v, float)
            ),
            t,
            params,
        )
    kt, ke, v = (_nonneg(p, n, u) for p, n, u in zip(params, names, units))
    return tofts_np(t, ta, a, kt, ke, v)


def patlak(time: Any, aif: Any, ktrans: Any, vp: Any, *, aif_time: Any = None) -> np.ndarray:
    """Patlak model tissue concentration.

    ``Ct(t) = vp Cp(t) + Ktrans * integral_0^t Cp(tau) dtau`` (OSIPI M.IC1.001 with PS
    written as Ktrans): the Tofts model with ``kep = 0``.  The integral is exact for a
    piecewise-linear AIF (cumulative trapezoid on the AIF grid with `time` inserted).

    Parameters
    ----------
    time : array_like, shape (T,)
        Output times (s).
    aif : array_like, shape (N,), or xarray.DataArray
        Plasma concentration (mM) at `aif_time` (default `time`).
    ktrans : float or array_like
        Transfer constant (PS) (1/min), >= 0.
    vp : float or array_like
        Plasma volume fraction, in [0, 1].
    aif_time : array_like, shape (N,), optional
        Times (s) of the AIF samples.

    Returns
    -------
    numpy.ndarray
        Shape ``broadcast(ktrans, vp).shape + (T,)`` (mM).

    Raises
    ------
    ValueError
        As :func:`tofts`.

    References
    ----------
    .. [1] Patlak CS, Blasberg RG, Fenstermacher JD. Graphical evaluation of blood-to-brain
       transfer constants from multiple-time uptake data. J Cereb Blood Flow Metab 1983;3:1-7.
       :doi:`10.1038/jcbfm.1983.1`

    Examples
    --------
    >>> t = np.array([0.0, 60.0, 120.0])
    >>> patlak(t, np.ones(3), ktrans=0.1, vp=0.05).round(3)
    array([0.05, 0.15, 0.25])
    """
    t = as_time(time, "time", min_frames=1)
    ta, a = _prepare_aif(t, aif, aif_time)
    kt = _nonneg(ktrans, "ktrans", "1/min")
    v = _nonneg(vp, "vp", "fraction")
    tm, am, idx = _np.merge_grid(ta, a, t)
    icp = _np.cumtrapz0(am, tm)[idx]
    np.broadcast_shapes(kt.shape, v.shape)
    return np.asarray(kt)[..., None] / 60.0 * icp + np.asarray(v)[..., None] * am[idx]


# ----------------------------------------------------------------------------------------
# Two-compartment exchange (2CXM) and uptake (2CUM) models
# ----------------------------------------------------------------------------------------


def tcxm_exponents(
    fp: np.ndarray, ps: np.ndarray, ve: np.ndarray, vp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rates (1/min) and amplitudes (1/min) of the 2CXM impulse response ``sum_i a_i exp(-s_i t)``.

    ``s_n <= s_p`` are the roots of ``s^2 - S s + P = 0`` with ``S = (Fp + PS) / vp + PS / ve``
    and ``P = Fp PS / (vp ve)`` (Sourbron & Buckley 2011, eq. 11; 2013, section 4.3); the
    amplitudes are ``a_n = (P (vp + ve) - Fp s_n) / (s_p - s_n)`` and ``a_p = Fp - a_n`` so that
    the response is ``Fp`` at ``t = 0`` and integrates to ``vp + ve``.  ``ve = 0`` is the same
    tissue as ``PS = 0`` (no extravascular space to fill); ``vp`` is floored at 1e-9 so that
    ``vp -> 0`` tends to the Tofts model with ``Ktrans = E Fp``.
    """
    fp, ps, ve, vp = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (fp, ps, ve, vp)))
    has_e = ve > 0
    ps = np.where(has_e, ps, 0.0)
    ve = np.where(has_e, ve, 1.0)
    vp = np.maximum(vp, 1e-9)
    s = (fp + ps) / vp + ps / ve
    p = fp * ps / (vp * ve)
    root = np.sqrt(np.maximum(s * s - 4.0 * p, 0.0))
    sp = 0.5 * (s + root)
    with np.errstate(divide="ignore", invalid="ignore"):
        sn = np.where(sp > 0, 2.0 * p / np.where(sp > 0, s + root, 1.0), 0.0)
        gap = sp - sn
        an = np.where(
            gap > 0, (p * (vp + np.where(has_e, ve, 0.0)) - fp * sn) / np.where(gap > 0, gap, 1.0), 0.0
        )
    ap = fp - an
    return sn, sp, an, ap


def tcum_exponents(
    fp: np.ndarray, ps: np.ndarray, vp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rates and amplitudes (1/min) of the 2CUM impulse response ``Fp E + Fp (1 - E) exp(-t / Tp)``.

    ``E = PS / (Fp + PS)`` and ``1 / Tp = (Fp + PS) / vp`` (Sourbron & Buckley 2013, section
    4.2); returned in the order (0, 1/Tp, Fp E, Fp (1 - E)) of :func:`tcxm_exponents`.
    """
    fp, ps, vp = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (fp, ps, vp)))
    tot = fp + ps
    vp = np.maximum(vp, 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        a0 = np.where(tot > 0, fp * ps / np.where(tot > 0, tot, 1.0), 0.0)
    return np.zeros_like(tot), tot / vp, a0, fp - a0


def biexp_np(
    tm: np.ndarray,
    am: np.ndarray,
    idx: np.ndarray,
    sn: np.ndarray,
    sp: np.ndarray,
    an: np.ndarray,
    ap: np.ndarray,
) -> np.ndarray:
    """``(an exp(-sn t) + ap exp(-sp t)) * Cp`` at grid indices `idx` (rates, amplitudes 1/min)."""
    shape = np.broadcast_shapes(np.shape(sn), np.shape(sp), np.shape(an), np.shape(ap))
    sn, sp, an, ap = (np.broadcast_to(x, shape).reshape(-1) for x in (sn, sp, an, ap))
    gn, _ = _np.exp_conv(tm, am, sn / 60.0, idx)
    gp, _ = _np.exp_conv(tm, am, sp / 60.0, idx)
    ct = (an[:, None] * gn + ap[:, None] * gp) / 60.0
    return ct.reshape((*shape, idx.size))


def tcxm(time: Any, aif: Any, fp: Any, ps: Any, ve: Any, vp: Any, *, aif_time: Any = None) -> np.ndarray:
    """Two-compartment exchange model (2CXM) tissue concentration.

    ``Ct = R * Cp`` with the bi-exponential impulse response
    ``R(t) = a_n exp(-s_n t) + a_p exp(-s_p t)`` of a plasma compartment (volume ``vp``,
    plasma flow ``Fp``) exchanging with the extravascular extracellular space (``ve``) through
    the permeability-surface area product ``PS`` (Brix et al. 2004; Sourbron & Buckley 2011,
    eq. 11 and 2013, section 4.3; OSIPI CAPLEX M.IC2.001).  The rates are
    ``s_{n,p} = (S -+ sqrt(S^2 - 4 P)) / 2``, ``S = (Fp + PS) / vp + PS / ve``,
    ``P = Fp PS / (vp ve)``, and each exponential is convolved with the AIF exactly for a
    piecewise-linear AIF (the recursion of :func:`tofts`).

    Limits: ``Fp -> inf`` is the extended Tofts model with ``Ktrans = PS``,
    ``kep = PS / ve``; ``PS = 0`` (or ``ve = 0``) a plasma compartment alone; ``ve -> inf``
    the two-compartment uptake model :func:`tcum`.

    Parameters
    ----------
    time : array_like, shape (T,)
        Output times (s).
    aif : array_like, shape (N,), or xarray.DataArray
        Plasma concentration (mM) at `aif_time` (default `time`).
    fp : float or array_like
        Plasma flow Fp (1/min, i.e. ml/min per ml of tissue; multiply by 100 for
        ml/100ml/min), >= 0.
    ps : float or array_like
        Permeability-surface area product PS (1/min), >= 0.
    ve : float or array_like
        Extravascular extracellular volume fraction, in [0, 1].
    vp : float or array_like
        Plasma volume fraction, in [0, 1].
    aif_time : array_like, shape (N,), optional
        Times (s) of the AIF samples.

    Returns
    -------
    numpy.ndarray
        Shape ``broadcast(fp, ps, ve, vp).shape + (T,)`` (mM).

    Raises
    ------
    ValueError
        As :func:`tofts`: bad times, AIF grid, or a parameter NaN, infinite, negative, or a
        volume fraction above 1.

    References
    ----------
    .. [1] Brix G et al. Microcirculation and microvasculature in breast tumors:
       pharmacokinetic analysis of dynamic MR image series. Magn Reson Med 2004;52:420-429.
       :doi:`10.1002/mrm.20161`
    .. [2] Sourbron SP, Buckley DL. On the scope and interpretation of the Tofts models for
       DCE-MRI. Magn Reson Med 2011;66:735-745. :doi:`10.1002/mrm.22861`
    .. [3] Sourbron SP, Buckley DL. Classic models for dynamic contrast-enhanced MRI. NMR
       Biomed 2013;26:1004-1027. :doi:`10.1002/nbm.2940`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, tofts
    >>> t = np.arange(0.0, 301.0, 0.5)
    >>> cp = parker_aif(t, delay=10.0)
    >>> ct = tcxm(t, cp, fp=[0.25, 1e4], ps=0.1, ve=0.2, vp=0.05)
    >>> ct.shape
    (2, 602)
    >>> etofts = tofts(t, cp, ktrans=0.1, kep=0.5, vp=0.05)  # the Fp -> infinity limit
    >>> bool(np.abs(ct[1] - etofts).max() < 1e-3 * etofts.max())
    True
    """
    t = as_time(time, "time", min_frames=1)
    ta, a = _prepare_aif(t, aif, aif_time)
    f, p, e, v = (
        _nonneg(x, n, u)
        for x, n, u in zip(
            (fp, ps, ve, vp), ("fp", "ps", "ve", "vp"), ("1/min", "1/min", "fraction", "fraction")
        )
    )
    tm, am, idx = _np.merge_grid(ta, a, t)
    return biexp_np(tm, am, idx, *tcxm_exponents(f, p, e, v))


def tcum(time: Any, aif: Any, fp: Any, ps: Any, vp: Any, *, aif_time: Any = None) -> np.ndarray:
    """Two-compartment uptake model (2CUM) tissue concentration.

    ``Ct = Fp (1 - E) exp(-t / Tp) * Cp + Fp E int_0^t Cp``, with the extraction fraction
    ``E = PS / (Fp + PS)`` and the plasma mean transit time ``Tp = vp / (Fp + PS)``: the 2CXM
    with an extravascular space that never returns tracer in the acquisition window (Sourbron &
    Buckley 2013, section 4.2; Sourbron et al. 2009).  ``Fp -> inf`` gives the Patlak model with
    ``Ktrans = PS`` (:func:`patlak`); ``PS = 0`` a plasma compartment alone.

    Parameters
    ----------
    time : array_like, shape (T,)
        Output times (s).
    aif : array_like, shape (N,), or xarray.DataArray
        Plasma concentration (mM) at `aif_time` (default `time`).
    fp : float or array_like
        Plasma flow Fp (1/min), >= 0.
    ps : float or array_like
        Permeability-surface area product PS (1/min), >= 0.
    vp : float or array_like
        Plasma volume fraction, in [0, 1].
    aif_time : array_like, shape (N,), optional
        Times (s) of the AIF samples.

    Returns
    -------
    numpy.ndarray
        Shape ``broadcast(fp, ps, vp).shape + (T,)`` (mM).

    Raises
    ------
    ValueError
        As :func:`tofts`.

    References
    ----------
    .. [1] Sourbron SP, Buckley DL. Classic models for dynamic contrast-enhanced MRI. NMR
       Biomed 2013;26:1004-1027. :doi:`10.1002/nbm.2940`
    .. [2] Sourbron S et al. Quantification of cerebral blood flow, cerebral blood volume,
       and blood-brain-barrier leakage with DCE-MRI. Magn Reson Med 2009;62:205-217.
       :doi:`10.1002/mrm.22005`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, patlak
    >>> t = np.arange(0.0, 301.0, 0.5)
    >>> cp = parker_aif(t, delay=10.0)
    >>> ct = tcum(t, cp, fp=1e4, ps=0.05, vp=0.1)  # the Fp -> infinity limit is Patlak
    >>> bool(np.abs(ct - patlak(t, cp, ktrans=0.05, vp=0.1)).max() < 1e-3 * ct.max())
    True
    """
    t = as_time(time, "time", min_frames=1)
    ta, a = _prepare_aif(t, aif, aif_time)
    f, p, v = (
        _nonneg(x, n, u) for x, n, u in zip((fp, ps, vp), ("fp", "ps", "vp"), ("1/min", "1/min", "fraction"))
    )
    tm, am, idx = _np.merge_grid(ta, a, t)
    return biexp_np(tm, am, idx, *tcum_exponents(f, p, v))
