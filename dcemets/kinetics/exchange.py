"""Voxel-wise fits of the two-compartment exchange (2CXM) and uptake (2CUM) models.

Both impulse responses are sums of (at most) two exponentials, so the tissue curve is
``a_n E(s_n) + a_p E(s_p)`` with ``E(s) = exp(-s t) * Cp`` computed exactly by the recursion
of :func:`dcemets.kinetics.tofts`.  The fit is a batched, box-bounded Levenberg-Marquardt on
the physical parameters over all voxels at once, with the analytic derivatives of ``E`` with
respect to the rates chained to those of the (closed-form) map from the physical parameters
to the rates and amplitudes.  Each voxel starts from the best physically admissible point of
a grid over the rates, where the amplitudes are linear and solved for every voxel by one
matrix product (variable projection, Golub & Pereyra 1973).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from dcemets.kinetics import _nlls, _np
from dcemets.kinetics._wrap import check_bounds, check_ct_aif, check_max_iter, fit_dataset
from dcemets.kinetics.forward_models import tcum_exponents, tcxm_exponents

__all__ = ["fit_tcum", "fit_tcxm"]

_TCXM_BOUNDS = {"fp": (1e-3, 20.0), "ps": (0.0, 5.0), "ve": (1e-3, 1.0), "vp": (1e-4, 1.0)}
_TCUM_BOUNDS = {"fp": (1e-3, 20.0), "ps": (0.0, 5.0), "vp": (1e-4, 1.0)}

_META = {
    "fp": ("1/min", "plasma flow Fp (ml/min per ml tissue)"),
    "ps": ("1/min", "permeability-surface area product PS"),
    "ve": ("1", "extravascular extracellular volume fraction ve"),
    "vp": ("1", "plasma volume fraction vp"),
    "e": ("1", "extraction fraction E = PS / (Fp + PS)"),
    "rss": ("mM2", "residual sum of squares"),
    "success": ("1", "fit converged"),
}


def _basis(tm: np.ndarray, am: np.ndarray, idx: np.ndarray, rates: np.ndarray) -> np.ndarray:
    g, _ = _np.exp_conv(tm, am, rates / 60.0, idx)
    return g / 60.0  # (K, T): d Ct / d amplitude, amplitudes in 1/min


def _model_fun(
    tm: np.ndarray,
    am: np.ndarray,
    idx: np.ndarray,
    expo: Callable[..., tuple[np.ndarray, ...]],
    scale: np.ndarray,
) -> _nlls.Fun:
    """LM model: analytic d Ct / d (rates, amplitudes) chained with d (rates, amplitudes) / d params."""

    def fun(p: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = [p[:, i] for i in range(p.shape[1])]
        sn, sp, an, ap = expo(*cols)
        gn, dgn = _np.exp_conv(tm, am, sn / 60.0, idx, deriv=True)
        gp, dgp = _np.exp_conv(tm, am, sp / 60.0, idx, deriv=True)
        m = (an[:, None] * gn + ap[:, None] * gp) / 60.0
        dm = np.stack(
            [an[:, None] * dgn / 3600.0, ap[:, None] * dgp / 3600.0, gn / 60.0, gp / 60.0], axis=-1
        )  # (V, T, 4): d m / d (sn, sp, an, ap)
        dmap = np.empty((p.shape[0], 4, p.shape[1]))
        for i in range(p.shape[1]):  # central differences of the cheap closed-form map
            h = 1e-6 * (np.abs(p[:, i]) + scale[i])
            up, dn = list(cols), list(cols)
            up[i] = cols[i] + h
            dn[i] = np.maximum(cols[i] - h, 0.0)
            eu, ed = np.stack(expo(*up), -1), np.stack(expo(*dn), -1)
            dmap[:, :, i] = (eu - ed) / (up[i] - dn[i])[:, None]
        return m, np.einsum("vtk,vki->vti", dm, dmap)

    return fun


def _grid_tcxm(
    tm: np.ndarray, am: np.ndarray, idx: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Best admissible 2CXM start over pairs of rates (amplitudes by linear least squares)."""
    rates = np.geomspace(1e-3, 1e3, 25)
    g = _basis(tm, am, idx, rates)
    yg = y @ g.T  # (V, K)
    gg = g @ g.T
    i, j = np.triu_indices(rates.size, 1)
    a = np.stack([gg[i, i], gg[i, j], gg[j, j]], -1)[None]
    b = np.stack([yg[:, i], yg[:, j]], -1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        an, ap = _nlls.solve2(a, b)
        sn, sp = rates[i][None], rates[j][None]
        fp = an + ap
        v = an / sn + ap / sp
        vp = fp / (sn + sp - v * sn * sp / fp)
        ve = v - vp
        ps = sn * sp * vp * ve / fp
        gain = an * b[..., 0] + ap * b[..., 1]  # rss = |y|^2 - gain
        ok = (fp > 0) & (vp > 0) & (ve > 0) & (ps >= 0) & np.isfinite(gain) & np.isfinite(ps)
    gain = np.where(ok, gain, -np.inf)
    k = np.argmax(gain, axis=1)
    r = np.arange(y.shape[0])
    p = np.stack([fp[r, k], ps[r, k], ve[r, k], vp[r, k]], -1)
    none = ~ok[r, k]
    p[none] = [0.2, 0.1, 0.2, 0.05]  # no admissible grid point: a typical tumour
    return np.clip(np.nan_to_num(p), lo, hi)


def _grid_tcum(
    tm: np.ndarray, am: np.ndarray, idx: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Best admissible 2CUM start over 1/Tp (amplitudes Fp E >= 0, Fp (1 - E) > 0 linear)."""
    rates = np.geomspace(1e-2, 1e4, 40)
    g = _basis(tm, am, idx, np.concatenate([[0.0], rates]))
    g0, gk = g[0], g[1:]
    yg0, ygk = y @ g0, y @ gk.T
    a = np.stack([np.full(rates.size, g0 @ g0), gk @ g0, np.einsum("kt,kt->k", gk, gk)], -1)[None]
    b = np.stack([np.broadcast_to(yg0[:, None], ygk.shape), ygk], -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a0, a1 = _nlls.solve2(a, b)
        # PS = 0 branch where the uptake amplitude came out negative
        neg = ~(a0 >= 0)
        a1 = np.where(neg, ygk / a[..., 2], a1)
        a0 = np.where(neg, 0.0, a0)
        gain = 2 * (a0 * b[..., 0] + a1 * b[..., 1]) - (
            a0 * a0 * a[..., 0] + 2 * a0 * a1 * a[..., 1] + a1 * a1 * a[..., 2]
        )
        fp = a0 + a1
        ps = fp * a0 / a1
        vp = (fp + ps) / rates[None]
        ok = (a1 > 0) & np.isfinite(gain) & np.isfinite(ps)
    gain = np.where(ok, gain, -np.inf)
    k = np.argmax(gain, axis=1)
    r = np.arange(y.shape[0])
    p = np.stack([fp[r, k], ps[r, k], vp[r, k]], -1)
    p[~ok[r, k]] = [0.2, 0.05, 0.05]
    return np.clip(np.nan_to_num(p), lo, hi)


def _fit_core(
    t: np.ndarray,
    ta: np.ndarray,
    a: np.ndarray,
    which: str,
    bd: Mapping[str, tuple[float, float]],
    max_iter: int,
) -> Callable[[np.ndarray], tuple[np.ndarray, ...]]:
    tm, am, idx = _np.merge_grid(ta, a, t)
    keys = ("fp", "ps", "ve", "vp") if which == "2CXM" else ("fp", "ps", "vp")
    lo = np.array([bd[k][0] for k in keys])
    hi = np.array([bd[k][1] for k in keys])
    expo = tcxm_exponents if which == "2CXM" else tcum_exponents
    scale = np.array([0.1, 0.01, 0.1, 0.01])[: len(keys)]
    fun = _model_fun(tm, am, idx, expo, scale)
    grid = _grid_tcxm if which == "2CXM" else _grid_tcum

    def core(y: np.ndarray) -> tuple[np.ndarray, ...]:
        p0 = grid(tm, am, idx, y, lo, hi)
        p, rss, ok = _nlls.lm(fun, y, p0, lo, hi, max_iter=max_iter)
        ok &= np.all(np.isfinite(p), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = p[:, 1] / (p[:, 0] + p[:, 1])
        return (*(p[:, i] for i in range(len(keys))), e, rss, ok)

    return core


def _fit(ct: Any, aif: Any, aif_time: Any, bounds: Any, max_iter: Any, which: str, mask: Any) -> xr.Dataset:
    t, ta, a = check_ct_aif(ct, aif, aif_time)
    bd = check_bounds(bounds, _TCXM_BOUNDS if which == "2CXM" else _TCUM_BOUNDS)
    if bd["fp"][0] <= 0:
        raise ValueError("`bounds['fp']` lower bound must be > 0 (Fp = 0 leaves PS, ve, vp unidentifiable)")
    it = check_max_iter(max_iter)
    keys = ["fp", "ps", "ve", "vp"] if which == "2CXM" else ["fp", "ps", "vp"]
    names = [*keys, "e", "rss", "success"]
    core = _fit_core(t, ta, a, which, bd, it)
    attrs = {"model": which, "method": "nlls", "n_params": len(keys)}
    return fit_dataset(ct, core, names, _META, attrs, method="nlls", mask=mask)


def fit_tcxm(
    ct: xr.DataArray,
    aif: Any,
    *,
    aif_time: Any = None,
    bounds: Mapping[str, Any] | None = None,
    max_iter: int = 200,
    mask: Any = None,
) -> xr.Dataset:
    """Fit the two-compartment exchange model (Fp, PS, ve, vp) to every curve of `ct`.

    The model is :func:`dcemets.kinetics.tcxm` (Brix et al. 2004; Sourbron & Buckley 2011,
    2013).  Bounded nonlinear least squares by a batched Levenberg-Marquardt over all voxels at
    once (analytic derivatives of the exact AIF convolution), started from the best
    physically admissible point of a 25 x 25 grid of the two exponential rates, whose two
    amplitudes are linear and solved for all voxels by one matrix product.  The 2CXM is
    identifiable only with good temporal resolution and SNR (Sourbron & Buckley 2013,
    section 6): with a few long frames prefer the Tofts models and compare with
    :func:`select_model`.

    Parameters
    ----------
    ct : xarray.DataArray
        Tissue concentration (mM) with a ``time`` dim (s, >= 3 frames) and any other dims.
    aif : xarray.DataArray or array_like
        Plasma AIF (mM): a 1D DataArray with its own time coordinate, or an array at
        `aif_time` (default `ct`'s times).  Give population AIFs on a <= 1 s grid.
    aif_time : array_like, optional
        Times (s) of the AIF samples.
    bounds : mapping, optional
        ``fp`` (default (1e-3, 20) 1/min), ``ps`` ((0, 5) 1/min), ``ve`` ((1e-3, 1)),
        ``vp`` ((1e-4, 1)).
    max_iter : int, default 200
        Maximum LM iterations.
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Curves to fit, over the non-time dims of `ct` (see :func:`fit_tofts`); the others
        are NaN (``success`` False) and not fitted.

    Returns
    -------
    xarray.Dataset
        On the non-time dims of `ct`: ``fp`` and ``ps`` (1/min; Fp x 100 is ml/100ml/min),
        ``ve``, ``vp``, ``e`` (extraction fraction PS / (Fp + PS)), ``rss`` (mM^2) and
        ``success``; ``attrs["n_params"] = 4``.  Curves with NaN samples are skipped (NaN,
        ``success`` False) with a ``RuntimeWarning``.

    Raises
    ------
    ValueError
        Bad times (fewer than 3 frames, not increasing), an AIF grid that does not cover `ct`,
        bad `bounds` or `max_iter`.
    TypeError
        `ct` not a DataArray of real numbers, `aif` not numeric, `bounds` not a mapping.

    References
    ----------
    .. [1] Brix G et al. Magn Reson Med 2004;52:420-429. :doi:`10.1002/mrm.20161`
    .. [2] Sourbron SP, Buckley DL. Magn Reson Med 2011;66:735-745. :doi:`10.1002/mrm.22861`
    .. [3] Sourbron SP, Buckley DL. NMR Biomed 2013;26:1004-1027. :doi:`10.1002/nbm.2940`
    .. [4] Golub GH, Pereyra V. The differentiation of pseudo-inverses and nonlinear least
       squares problems whose variables separate. SIAM J Numer Anal 1973;10:413-432.
       :doi:`10.1137/0710036`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, tcxm
    >>> t = np.arange(0.0, 300.0, 1.0)
    >>> cp = parker_aif(t, delay=10.0)
    >>> ct = xr.DataArray(tcxm(t, cp, fp=[0.3, 0.6], ps=0.1, ve=0.2, vp=0.05),
    ...                   dims=("voxel", "time"), coords={"time": t})
    >>> fit = fit_tcxm(ct, cp)
    >>> fit.fp.values.round(3), fit.ps.values.round(3), fit.ve.values.round(3)
    (array([0.3, 0.6]), array([0.1, 0.1]), array([0.2, 0.2]))
    """
    return _fit(ct, aif, aif_time, bounds, max_iter, "2CXM", mask)


def fit_tcum(
    ct: xr.DataArray,
    aif: Any,
    *,
    aif_time: Any = None,
    bounds: Mapping[str, Any] | None = None,
    max_iter: int = 200,
    mask: Any = None,
) -> xr.Dataset:
    """Fit the two-compartment uptake model (Fp, PS, vp) to every curve of `ct`.

    The model is :func:`dcemets.kinetics.tcum` (Sourbron & Buckley 2013, section 4.2): the
    2CXM without back-flux from the interstitium, i.e. Patlak with a finite plasma flow.
    Batched bounded Levenberg-Marquardt over all voxels (as :func:`fit_tcxm`), started from
    the best admissible point of a 40-value grid of ``(Fp + PS) / vp`` with the two linear
    amplitudes solved for all voxels at once.

    Parameters
    ----------
    ct : xarray.DataArray
        Tissue concentration (mM) with a ``time`` dim (s, >= 3 frames).
    aif : xarray.DataArray or array_like
        Plasma AIF (mM), as in :func:`fit_tcxm`.
    aif_time : array_like, optional
        Times (s) of the AIF samples.
    bounds : mapping, optional
        ``fp`` (default (1e-3, 20) 1/min), ``ps`` ((0, 5) 1/min), ``vp`` ((1e-4, 1)).
    max_iter : int, default 200
        Maximum LM iterations.
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Curves to fit, over the non-time dims of `ct` (see :func:`fit_tofts`); the others
        are NaN (``success`` False) and not fitted.

    Returns
    -------
    xarray.Dataset
        ``fp``, ``ps`` (1/min), ``vp``, ``e``, ``rss``, ``success``; ``attrs["n_params"] = 3``.

    Raises
    ------
    ValueError
        As :func:`fit_tcxm`.
    TypeError
        As :func:`fit_tcxm`.

    References
    ----------
    .. [1] Sourbron SP, Buckley DL. NMR Biomed 2013;26:1004-1027. :doi:`10.1002/nbm.2940`
    .. [2] Sourbron S et al. Magn Reson Med 2009;62:205-217. :doi:`10.1002/mrm.22005`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, tcum
    >>> t = np.arange(0.0, 300.0, 1.0)
    >>> cp = parker_aif(t, delay=10.0)
    >>> ct = xr.DataArray(tcum(t, cp, fp=0.4, ps=0.05, vp=0.1)[None],
    ...                   dims=("voxel", "time"), coords={"time": t})
    >>> fit = fit_tcum(ct, cp)
    >>> fit.fp.values.round(3), fit.ps.values.round(3), fit.vp.values.round(3)
    (array([0.4]), array([0.05]), array([0.1]))
    """
    return _fit(ct, aif, aif_time, bounds, max_iter, "2CUM", mask)
