"""Patlak fit and bolus-arrival-time (delay) fits of the Tofts, extended Tofts and Patlak models.

For a fixed delay and a fixed kep every one of these models is linear in its remaining
parameters (Ktrans [, vp]) with columns shared by all voxels, so a grid over (delay, kep) costs
one matrix product per grid point for all voxels at once plus closed-form, box-constrained
2 x 2 solves (variable projection, Golub & Pereyra 1973).  The Tofts models are then refined
at each voxel's best delay and its better neighbour by the tabulated-kep variable projection
of :func:`dcemets.kinetics.fit_tofts` (``_fit.fit_block`` on the design of the delayed AIF;
voxels grouped by delay: a loop over the delay grid, never over voxels); Patlak is exact on
the grid.

One concept: fits that estimate the bolus arrival time with the kinetic parameters
(delay grids of the Tofts, extended Tofts and Patlak models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from dcemets.kinetics import _fit, _np, _threads
from dcemets.kinetics._wrap import check_bounds, check_ct_aif, fit_dataset

__all__ = ["fit_delay", "fit_patlak"]

_MODELS = ("tofts", "extended_tofts", "patlak")
_META = {
    "ktrans": ("1/min", "volume transfer constant Ktrans (PS for Patlak)"),
    "kep": ("1/min", "efflux rate constant kep"),
    "ve": ("1", "extravascular extracellular volume fraction ve = Ktrans/kep"),
    "vp": ("1", "plasma volume fraction vp"),
    "delay": ("s", "bolus arrival delay of the tissue after the AIF"),
    "rss": ("mM2", "residual sum of squares"),
    "success": ("1", "fit succeeded"),
}


def _box_ls(
    a00: np.ndarray,
    a01: np.ndarray,
    a11: np.ndarray,
    b0: np.ndarray,
    b1: np.ndarray,
    lo: np.ndarray,
    hi0: np.ndarray,
    hi1: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise ``x^T A x - 2 b^T x`` over the box ``lo <= x <= (hi0, hi1)``, batched.

    The optimum of a convex quadratic on a rectangle is the unconstrained one when it is
    inside; otherwise it lies on the violated bound of a coordinate that the unconstrained
    optimum violates (KKT: it cannot be interior in that coordinate), a clipped 1D problem
    (both bounds of both coordinates where the system is singular).  `a..` and `hi0` broadcast against the
    (V, K) right-hand sides `b0`, `b1`.  Returns x0, x1 and the objective (add ``|y|^2`` for
    the RSS).
    """
    det = a00 * a11 - a01 * a01
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(det > 0, 1.0 / det, np.nan)
    x0 = b0 * a11
    x0 -= a01 * b1
    x0 *= inv
    x1 = b1 * a00
    x1 -= a01 * b0
    x1 *= inv
    best = b0 * x0
    best += b1 * x1
    np.negative(best, out=best)  # objective at the unconstrained optimum: -b^T x
    bad = ~(np.isfinite(x0) & np.isfinite(x1))  # singular: every edge is tried
    viol0 = bad | (x0 < lo[0]) | (x0 > hi0)
    viol1 = bad | (x1 < lo[1]) | (x1 > hi1)
    if not (viol0.any() or viol1.any()):
        return x0, x1, best
    # the edges only where a bound is violated (gathered: most grid points are feasible)
    rr, cc = np.nonzero(viol0 | viol1)
    shape = best.shape

    def sub(x: Any) -> np.ndarray:
        return np.broadcast_to(x, shape)[rr, cc]

    a00s, a01s, a11s, b0s, b1s, h0 = (sub(x) for x in (a00, a01, a11, b0, b1, hi0))
    u0, u1, v0, v1, bads = x0[rr, cc], x1[rr, cc], viol0[rr, cc], viol1[rr, cc], bad[rr, cc]
    bs, s0, s1 = np.full(rr.size, np.inf), u0.copy(), u1.copy()
    # KKT: the optimum is on the violated bound of a violated coordinate, the other clipped
    edges0 = [(np.where(u0 > h0, h0, lo[0]), v0)]
    edges1 = [(np.where(u1 > hi1, hi1, lo[1]), v1)]
    if bads.any():
        edges0.append((h0, bads))
        edges1.append((np.full(u1.shape, hi1), bads))
    with np.errstate(divide="ignore", invalid="ignore"):
        for f0, mask in edges0:
            f1 = np.clip(np.where(a11s > 0, (b1s - a01s * f0) / a11s, 0.0), lo[1], hi1)
            o = a00s * f0 * f0 + 2 * a01s * f0 * f1 + a11s * f1 * f1 - 2 * (b0s * f0 + b1s * f1)
            upd = mask & (o < bs)
            bs, s0, s1 = np.where(upd, o, bs), np.where(upd, f0, s0), np.where(upd, f1, s1)
        for f1, mask in edges1:
            f0 = np.clip(np.where(a00s > 0, (b0s - a01s * f1) / a00s, 0.0), lo[0], h0)
            o = a00s * f0 * f0 + 2 * a01s * f0 * f1 + a11s * f1 * f1 - 2 * (b0s * f0 + b1s * f1)
            upd = mask & (o < bs)
            bs, s0, s1 = np.where(upd, o, bs), np.where(upd, f0, s0), np.where(upd, f1, s1)
    best[rr, cc], x0[rr, cc], x1[rr, cc] = bs, s0, s1
    return x0, x1, best


def _shifted(
    ta: np.ndarray, a: np.ndarray, t: np.ndarray, d: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the AIF delayed by `d` s, ``Cp(t - d)``, merged with the frame times.

    Linear interpolation on the AIF's own grid, the first value held before the AIF starts and
    the last after it ends.
    """
    ad = np.interp(ta - d, ta, a)
    return _np.merge_grid(ta, ad, t)


#: Voxels per chunk of :func:`fit_delay` (the search holds a few (V, 96) float64 arrays).
_CHUNK = 65536
#: Voxels per piece of the kep-grid search of :class:`_Grid` (cache-sized work arrays).
_PIECE = 4096


class _Grid:
    """Best (delay, kep) per voxel: rss and linear parameters, one delay at a time."""

    def __init__(self, model: str, t: np.ndarray, ta: np.ndarray, a: np.ndarray, bd: Mapping[str, Any]):
        self.model, self.t, self.ta, self.a, self.bd = model, t, ta, a, bd
        self._cache: dict[tuple[float, bool], tuple[np.ndarray, np.ndarray]] = {}
        if model == "patlak":
            self.coarse = self.dense = np.zeros(1)
        else:
            self.coarse = np.clip(np.geomspace(5e-3, 20.0, 24), *bd["kep"])
            self.dense = np.clip(np.geomspace(5e-3, 20.0, 96), *bd["kep"])
        self.keps = self.coarse

    def columns(self, d: float, keps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, T) Ktrans column per kep, (T,) plasma column, for delay `d` (cached)."""
        key = (d, keps is self.dense)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        tm, am, idx = _shifted(self.ta, self.a, self.t, d)
        if self.model == "patlak":
            out = (_np.cumtrapz0(am, tm)[idx][None] / 60.0, am[idx])
        else:
            g, _ = _np.exp_conv(tm, am, keps / 60.0, idx)
            out = (g / 60.0, am[idx])
        self._cache[key] = out
        return out

    def fit(
        self,
        y: np.ndarray,
        d: float,
        centre: np.ndarray | None = None,
        exact: bool = True,
        rss_only: bool = False,
    ) -> tuple[Any, ...]:
        """Best rss and parameters (Ktrans, kep, vp) over the kep grid at delay `d`, all voxels.

        With `centre` (V,) the grid is, per voxel, the 17 values of the 96-value grid nearest
        to its `centre` kep; otherwise the 24-value coarse grid.  With `rss_only` (the delay
        search) only the best RSS is returned, the parameters as None.  Voxels are taken in
        pieces of :data:`_PIECE` (the (V, n_kep) work arrays then stay in cache).
        """
        nv = y.shape[0]
        if nv > _PIECE:
            parts = [
                self._fit(
                    y[s : s + _PIECE], d, None if centre is None else centre[s : s + _PIECE], exact, rss_only
                )
                for s in range(0, nv, _PIECE)
            ]
            return tuple(None if col[0] is None else np.concatenate(col) for col in zip(*parts))
        return self._fit(y, d, centre, exact, rss_only)

    def _fit(
        self,
        y: np.ndarray,
        d: float,
        centre: np.ndarray | None,
        exact: bool,
        rss_only: bool,
    ) -> tuple[Any, ...]:
        """:meth:`fit` on one piece of voxels."""
        keps = self.coarse if centre is None else self.dense
        g, cp = self.columns(d, keps)
        yy = np.einsum("vt,vt->v", y, y)[:, None]
        yg = y @ g.T  # (V, K)
        gg = np.einsum("kt,kt->k", g, g)[None]
        gc = (g @ cp)[None]
        kk = keps[None]
        if centre is not None and self.model != "patlak":
            n_win = min(17, keps.size)
            start = np.clip(np.searchsorted(keps, centre) - n_win // 2, 0, keps.size - n_win)
            win = start[:, None] + np.arange(n_win)[None]
            yg = np.take_along_axis(yg, win, axis=1)
            gg, gc, kk = gg[0][win], gc[0][win], keps[win]
        kt_lo, kt_hi = self.bd["ktrans"]
        if self.model == "patlak":
            hi0 = np.full((1, 1), kt_hi)
        else:
            hi0 = np.minimum(kt_hi, self.bd["ve_max"] * kk)
        if self.model == "tofts":
            with np.errstate(divide="ignore", invalid="ignore"):
                inv = np.where(gg > 0, 1.0 / gg, 0.0)
            kt = yg * inv
            np.clip(kt, kt_lo, hi0, out=kt)
            rss = kt * gg
            rss -= 2 * yg
            rss *= kt
            rss += yy
            vp = kt
        elif not exact:
            # the delay search: a feasible point rather than the box optimum (Ktrans clipped,
            # then the best clipped vp, then the best clipped Ktrans for it: exact unless both
            # bounds are active); an upper bound of the profile, refined exactly afterwards
            cc = float(cp @ cp)
            yc = (y @ cp)[:, None]
            vlo, vhi = self.bd["vp"]
            det = gg * cc - gc * gc
            with np.errstate(divide="ignore", invalid="ignore"):
                inv = np.where(det > 0, 1.0 / det, 0.0)
                ginv = np.where(gg > 0, 1.0 / gg, 0.0)
            kt = yg * cc
            kt -= gc * yc
            kt *= inv
            np.minimum(np.maximum(kt, kt_lo, out=kt), hi0, out=kt)
            if cc > 0:
                vp = kt * gc
                np.subtract(yc, vp, out=vp)
                vp *= 1.0 / cc
                np.minimum(np.maximum(vp, vlo, out=vp), vhi, out=vp)
            else:
                vp = np.full_like(kt, vlo)
            kt = vp * gc
            np.subtract(yg, kt, out=kt)
            kt *= ginv
            np.minimum(np.maximum(kt, kt_lo, out=kt), hi0, out=kt)
            rss = kt * gg
            rss -= 2 * yg
            rss += 2 * vp * gc
            rss *= kt
            rss += vp * (vp * cc - 2 * yc)
            rss += yy
        else:
            cc = float(cp @ cp)
            yc = (y @ cp)[:, None]
            lo = np.array([kt_lo, self.bd["vp"][0]])
            kt, vp, o = _box_ls(
                gg, gc, np.full_like(gg, cc), yg, np.broadcast_to(yc, yg.shape), lo, hi0, self.bd["vp"][1]
            )
            rss = yy + o
        j = np.argmin(rss, axis=1)
        r = np.arange(y.shape[0])
        best = rss[r, j]
        kep = np.broadcast_to(kk, rss.shape)[r, j]
        if rss.shape[1] >= 3:  # the profile's minimum between grid points: parabola in log kep
            jj = np.clip(j, 1, rss.shape[1] - 2)
            rm, r0, rp = rss[r, jj - 1], rss[r, jj], rss[r, jj + 1]
            curv = rm - 2 * r0 + rp
            with np.errstate(divide="ignore", invalid="ignore"):
                vertex = r0 - (rp - rm) ** 2 / (8 * curv)
                inner = (j == jj) & (curv > 0) & np.isfinite(vertex)
                shift = np.where(inner, np.clip((rm - rp) / (2 * curv), -1.0, 1.0), 0.0)
            best = np.where(inner, np.minimum(best, vertex), best)
            if rss_only:
                return best, None, None, None
            kb = np.broadcast_to(kk, rss.shape)
            ratio = kb[r, jj + 1] / kb[r, jj]
            kep = kep * np.where(ratio > 1, ratio, 1.0) ** shift
        return best, kt[r, j], kep, vp[r, j]


def _refine_varpro(
    y: np.ndarray,
    cand: np.ndarray,
    dl: np.ndarray,
    ext: bool,
    ta: np.ndarray,
    a: np.ndarray,
    t: np.ndarray,
    bd: Mapping[str, Any],
    max_iter: int,
    tables: dict[int, tuple[Any, Any]] | None = None,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, ...]:
    """Variable-projection NLLS of :func:`dcemets.kinetics.fit_tofts` at candidate delays.

    `cand` (V, n_cand) holds indices into `dl`; each voxel is fitted at each of its candidate
    delays by :func:`dcemets.kinetics._fit.fit_block` (the tabulated-kep variable projection
    of ``fit_tofts``, on the design of the delayed AIF: one table per delay, all voxels of a
    delay together) and keeps the delay of least RSS.  Returns delay, Ktrans, kep, vp, rss,
    success.  `tables` (delay index -> design, kep table), when given, caches the per-delay
    tables across calls (the voxel blocks of one ``fit_delay``).  The candidate delays are
    fitted in `n_jobs` threads and merged in their order (the result does not depend on it).
    """
    fb = _fit.Bounds(
        ktrans=tuple(bd["ktrans"]), kep=tuple(bd["kep"]), vp=tuple(bd["vp"]), ve_max=bd["ve_max"]
    )
    nv, npar = y.shape[0], 3 if ext else 2
    best = np.full(nv, np.inf)
    p = np.full((nv, npar), np.nan)
    ok = np.zeros(nv, dtype=bool)
    delay = dl[cand[:, 0]].astype(float)

    def one(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rows, _ = np.nonzero(cand == c)
        rows = np.unique(rows)
        hit = None if tables is None else tables.get(int(c))
        if hit is None:
            tm, am, _ = _shifted(ta, a, t, float(dl[c]))
            des = _fit.design(t, tm, am)
            hit = (des, _fit.kep_table(des, _fit._kep_lo(fb), float(fb.kep[1])))
            if tables is not None:
                tables[int(c)] = hit  # a race builds the same table twice: same values
        des, tab = hit
        pc, rc, oc = np.empty((rows.size, npar)), np.empty(rows.size), np.empty(rows.size, dtype=bool)
        for s in range(0, rows.size, _threads.BLOCK):
            sl = slice(s, s + _threads.BLOCK)
            pc[sl], rc[sl], oc[sl] = _fit.fit_block(des, y[rows[sl]], ext, "nlls", fb, max_iter, tab=tab)
        return rows, pc, rc, oc

    cs = [int(c) for c in np.unique(cand)]
    for c, (rows, pc, rc, oc) in zip(cs, _threads.pmap(one, cs, n_jobs)):
        for s in range(0, rows.size, _threads.BLOCK):  # merged in the serial order
            sl = slice(s, s + _threads.BLOCK)
            b, pb, rb, cb = rows[sl], pc[sl], rc[sl], oc[sl]
            upd = rb < best[b]
            bu = b[upd]
            best[bu], p[bu], ok[bu], delay[bu] = rb[upd], pb[upd], cb[upd], dl[c]
    vp = p[:, 2] if ext else np.zeros(nv)
    return delay, p[:, 0], p[:, 1], vp, best, ok & np.isfinite(best)


def _delays(delays: Any) -> np.ndarray:
    if delays is None:
        return np.arange(-10.0, 10.0 + 1e-9, 0.5)
    from dcemets.kinetics._checks import as_float_array

    d = np.unique(as_float_array(delays, "delays", finite=True, min_size=1).ravel())
    return d


def _bounds(bounds: Mapping[str, Any] | None, model: str) -> dict[str, Any]:
    default: dict[str, tuple[float, float]] = {"ktrans": (0.0, 5.0), "vp": (0.0, 1.0)}
    if model != "patlak":
        default["kep"] = (1e-3, 100.0)
    extra = {}
    if bounds is not None and isinstance(bounds, Mapping) and "ve_max" in bounds:
        ve_max = float(bounds["ve_max"])
        if not ve_max > 0 or model == "patlak":
            raise ValueError(
                f"`bounds['ve_max']` must be positive (Tofts models only), got {bounds['ve_max']!r}"
            )
        extra["ve_max"] = ve_max
        bounds = {k: v for k, v in bounds.items() if k != "ve_max"}
    bd: dict[str, Any] = check_bounds(bounds, default)
    if model != "patlak" and bd["kep"][0] <= 0:
        raise ValueError("`bounds['kep']` lower bound must be > 0 (ve = Ktrans / kep)")
    bd["ve_max"] = extra.get("ve_max", 1.0)
    return bd


def fit_patlak(
    ct: xr.DataArray,
    aif: Any,
    *,
    aif_time: Any = None,
    bounds: Mapping[str, Any] | None = None,
    mask: Any = None,
) -> xr.Dataset:
    """Fit the Patlak model ``Ct = vp Cp + Ktrans int_0^t Cp`` to every curve of `ct`.

    The model (:func:`dcemets.kinetics.patlak`) is linear in Ktrans and vp with columns shared
    by all voxels, so the fit is the exact bounded linear least-squares solution, in closed
    form for all voxels at once (the unconstrained solution, or the best point of the box's
    edges).  Appropriate when the tracer does not flow back from the interstitium during
    the acquisition (Patlak et al. 1983; Sourbron & Buckley 2013, section 4.2).

    Parameters
    ----------
    ct : xarray.DataArray
        Tissue concentration (mM) with a ``time`` dim (s, >= 3 frames) and any other dims.
    aif : xarray.DataArray or array_like
        Plasma AIF (mM): a 1D DataArray with its own time coordinate, or an array at
        `aif_time` (default `ct`'s times); the integral runs from its first sample.
    aif_time : array_like, optional
        Times (s) of the AIF samples.
    bounds : mapping, optional
        ``ktrans`` (default (0, 5) 1/min) and ``vp`` ((0, 1)).
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Curves to fit, over the non-time dims of `ct` (see :func:`fit_tofts`); the others
        are NaN (``success`` False) and not fitted.

    Returns
    -------
    xarray.Dataset
        ``ktrans`` (PS, 1/min), ``vp``, ``rss`` (mM^2), ``success``; ``attrs["n_params"] = 2``.
        Curves with NaN samples are skipped (NaN, ``success`` False) with a ``RuntimeWarning``.

    Raises
    ------
    ValueError
        Bad times, an AIF grid not covering `ct`, bad `bounds`.
    TypeError
        `ct` not a DataArray of real numbers, `aif` not numeric.

    References
    ----------
    .. [1] Patlak CS, Blasberg RG, Fenstermacher JD. J Cereb Blood Flow Metab 1983;3:1-7.
       :doi:`10.1038/jcbfm.1983.1`
    .. [2] Sourbron SP, Buckley DL. NMR Biomed 2013;26:1004-1027. :doi:`10.1002/nbm.2940`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, patlak
    >>> t = np.arange(0.0, 300.0, 1.0)
    >>> cp = parker_aif(t, delay=10.0)
    >>> ct = xr.DataArray(patlak(t, cp, [0.05, 0.1], 0.1), dims=("voxel", "time"),
    ...                   coords={"time": t})
    >>> fit = fit_patlak(ct, cp)
    >>> fit.ktrans.values.round(4), fit.vp.values.round(4)
    (array([0.05, 0.1 ]), array([0.1, 0.1]))
    """
    t, ta, a = check_ct_aif(ct, aif, aif_time)
    bd = _bounds(bounds, "patlak")
    grid = _Grid("patlak", t, ta, a, bd)

    def core(y: np.ndarray) -> tuple[np.ndarray, ...]:
        rss, kt, _, vp = grid.fit(y, 0.0)
        rss = np.maximum(rss, 0.0)
        return kt, vp, rss, np.isfinite(rss)

    attrs = {"model": "Patlak", "method": "llsq", "n_params": 2}
    return fit_dataset(ct, core, ["ktrans", "vp", "rss", "success"], _META, attrs, method="llsq", mask=mask)


def fit_delay(
    ct: xr.DataArray,
    aif: Any,
    *,
    model: str = "tofts",
    delays: Any = None,
    aif_time: Any = None,
    bounds: Mapping[str, Any] | None = None,
    max_iter: int = 100,
    n_jobs: int | None = None,
    mask: Any = None,
) -> xr.Dataset:
    """Fit the bolus arrival delay together with the Tofts, extended Tofts or Patlak model.

    The tissue sees the AIF delayed by ``delay`` seconds: ``Ct(t) = M[Cp(. - delay)](t)``
    (positive: the tissue enhances after the AIF).  For a candidate delay the AIF is shifted
    (linear interpolation on its own grid; exact when the delay is a multiple of the AIF's
    spacing) and the model fitted to all voxels at once: Patlak by exact bounded linear least
    squares, the Tofts models by variable projection over a 24-value log grid of kep (Ktrans
    [and vp] linear, closed form; the profile's minimum between grid points from a parabola
    in log kep; for the extended model the search takes a feasible point -- Ktrans clipped,
    then the best clipped vp, then the best clipped Ktrans for it -- rather than the exact box
    optimum).  Every 4th delay is tried first on all voxels, then the other delays within
    4 steps of each voxel's best, on those voxels only.  For the Tofts models the best delay
    and the better of its two neighbours (by the search RSS) are then fitted by the NLLS of
    :func:`dcemets.kinetics.fit_tofts` (variable projection over a tabulated kep axis of the
    delayed AIF, exact-model polish for noise-free curves; all voxels of a delay together)
    and the one of least RSS is kept.  The candidate delays of both stages are fitted in
    `n_jobs` threads (the result does not depend on their number); the kep tables of the
    delayed AIFs are built once per call.  The delay's
    resolution is the spacing of `delays`; with long frames (10-14 s) fit it on an ROI curve
    rather than per voxel (see the guide "Choosing a kinetic model").

    Parameters
    ----------
    ct : xarray.DataArray
        Tissue concentration (mM) with a ``time`` dim (s, >= 3 frames) and any other dims.
    aif : xarray.DataArray or array_like
        Plasma AIF (mM): a 1D DataArray with its own time coordinate, or an array at
        `aif_time`; give it on a <= 1 s grid (e.g. a population AIF), not at 12 frames.
    model : {"tofts", "extended_tofts", "patlak"}, default "tofts"
        Tissue model.
    delays : array_like, optional
        Candidate delays (s); default -10 to 10 s by 0.5 s (OSIPI's delay bounds).
    aif_time : array_like, optional
        Times (s) of the AIF samples.
    bounds : mapping, optional
        ``ktrans`` ((0, 5) 1/min), ``vp`` ((0, 1)), and for the Tofts models ``kep``
        ((1e-3, 100) 1/min) and ``ve_max`` (1), as in :func:`fit_tofts`.
    max_iter : int, default 100
        Maximum NLLS iterations (Tofts models).
    n_jobs : int, optional
        Threads (over the candidate delays); None: one per CPU this process may use
        (``os.sched_getaffinity``).  The result is identical for any value.
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Curves to fit, over the non-time dims of `ct` (see :func:`fit_tofts`); the others
        are NaN (``success`` False) and not fitted.

    Returns
    -------
    xarray.Dataset
        ``ktrans`` (1/min), ``kep`` and ``ve`` (Tofts models), ``vp`` (extended Tofts,
        Patlak), ``delay`` (s), ``rss`` (mM^2) and ``success``; ``attrs["n_params"]`` counts
        the delay.  Curves with NaN samples are skipped (NaN, ``success`` False) with a
        ``RuntimeWarning``.

    Raises
    ------
    ValueError
        Unknown `model`, non-finite `delays`, bad times or AIF grid, bad `bounds`, `max_iter`,
        `n_jobs`.
    TypeError
        `ct` not a DataArray of real numbers, `aif` or `delays` not numeric.

    References
    ----------
    .. [1] Kershaw LE, Buckley DL. Precision in measurements of perfusion and microvascular
       permeability with T1-weighted dynamic contrast-enhanced MRI. Magn Reson Med
       2006;56:986-992. :doi:`10.1002/mrm.21040`
    .. [2] Golub GH, Pereyra V. SIAM J Numer Anal 1973;10:413-432. :doi:`10.1137/0710036`
    .. [3] OSIPI DCE-DSC-MRI CodeCollection, test/DCEmodels (delay tolerance 1 s).
       https://github.com/OSIPI/DCE-DSC-MRI_CodeCollection

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, tofts
    >>> t = np.arange(0.0, 300.0, 0.5)
    >>> ct = tofts(t, parker_aif(t, delay=15.0), 0.2, 0.5)  # tissue 5 s after the AIF below
    >>> ct = xr.DataArray(ct[None], dims=("voxel", "time"), coords={"time": t})
    >>> fit = fit_delay(ct, parker_aif(t, delay=10.0))
    >>> fit.delay.values, fit.ktrans.values.round(3), fit.kep.values.round(3)
    (array([5.]), array([0.2]), array([0.5]))
    """
    if model not in _MODELS:
        raise ValueError(f"`model` must be one of {_MODELS}, got {model!r}")
    t, ta, a = check_ct_aif(ct, aif, aif_time)
    dl = _delays(delays)
    bd = _bounds(bounds, model)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"`max_iter` must be a positive int, got {max_iter!r}")
    jobs = _threads.check_n_jobs(n_jobs)
    grid = _Grid(model, t, ta, a, bd)
    # the per-delay kep tables of the NLLS refinement, shared by the voxel blocks (~0.8 MB
    # each for 12 frames); not kept when they would be large (long curves, many delays)
    cells = 32 * _fit.FINE_NODES * t.size
    tables: dict[int, tuple[Any, Any]] | None = {} if cells * dl.size <= 2**28 else None

    def core(y: np.ndarray) -> tuple[np.ndarray, ...]:
        # chunks bound the memory of the (V, n_kep) search arrays; the threads work inside
        # a chunk (over delays), where the per-delay groups of voxels are large
        parts = [block_core(y[s : s + _CHUNK]) for s in range(0, y.shape[0], _CHUNK)]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(col) for col in zip(*parts))

    def block_core(y: np.ndarray) -> tuple[np.ndarray, ...]:
        nv = y.shape[0]
        best = np.full(nv, np.inf)
        delay = np.zeros(nv)
        # coarse pass (every 4th delay) for all voxels, then the skipped delays within one
        # coarse step of each voxel's best coarse delay, for those voxels only
        coarse = np.zeros(dl.size, dtype=bool)
        coarse[::4] = True
        coarse[-1] = True
        step = float(np.diff(dl[coarse]).max()) if coarse.sum() > 1 else 0.0  # any spacing
        exact = model != "extended_tofts"
        rs = np.full((nv, dl.size), np.inf)  # search RSS per voxel and delay (inf: not tried)
        # the delays are searched in threads, their results merged in the serial order
        ic = np.flatnonzero(coarse)
        for i, rss in zip(
            ic, _threads.pmap(lambda i: grid.fit(y, float(dl[i]), exact=exact, rss_only=True)[0], ic, jobs)
        ):
            d = dl[i]
            rs[:, i] = rss
            upd = rss < best
            best[upd], delay[upd] = rss[upd], d
        dcentre = delay.copy()

        def fine(i: int) -> tuple[np.ndarray, Any]:
            sel = np.flatnonzero(np.abs(dcentre - dl[i]) < step)
            if not sel.size:
                return sel, None
            return sel, grid.fit(y[sel], float(dl[i]), exact=exact, rss_only=True)[0]

        ifine = np.flatnonzero(~coarse)
        for i, (sel, rss) in zip(ifine, _threads.pmap(fine, ifine, jobs)):
            if sel.size:
                d = dl[i]
                rs[sel, i] = rss
                upd = rss < best[sel]
                best[sel[upd]], delay[sel[upd]] = rss[upd], d
        if model == "patlak":
            kt, vp = np.zeros(nv), np.zeros(nv)
            for d in np.unique(delay):
                sel = np.flatnonzero(delay == d)
                _, kt[sel], _, vp[sel] = grid.fit(y[sel], float(d))
            return kt, vp, delay, np.maximum(best, 0.0), np.isfinite(best)
        # the best delay and the better of its two grid neighbours (by the search RSS): the
        # NLLS of fit_tofts at both, the better kept
        pos = np.searchsorted(dl, delay)
        r = np.arange(nv)
        lo_n, hi_n = np.maximum(pos - 1, 0), np.minimum(pos + 1, dl.size - 1)
        nb = np.where(rs[r, lo_n] <= rs[r, hi_n], lo_n, hi_n)
        nb = np.where(np.isfinite(rs[r, nb]), nb, pos)
        cand = np.stack([pos, nb], axis=1)
        delay, kt, kep, vp, rss, ok = _refine_varpro(
            y, cand, dl, model == "extended_tofts", ta, a, t, bd, int(max_iter), tables, jobs
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ve = kt / kep
        if model == "tofts":
            return kt, kep, ve, delay, rss, ok
        return kt, kep, ve, vp, delay, rss, ok

    names = {
        "tofts": ["ktrans", "kep", "ve", "delay", "rss", "success"],
        "extended_tofts": ["ktrans", "kep", "ve", "vp", "delay", "rss", "success"],
        "patlak": ["ktrans", "vp", "delay", "rss", "success"],
    }[model]
    label = {"tofts": "Tofts", "extended_tofts": "extended Tofts", "patlak": "Patlak"}[model]
    npar = {"tofts": 3, "extended_tofts": 4, "patlak": 3}[model]
    method = "grid+nlls" if model != "patlak" else "grid+llsq"
    attrs = {
        "model": f"{label} + delay",
        "method": method,
        "n_params": npar,
        "delay_grid_s": f"{dl[0]:g}..{dl[-1]:g} ({dl.size} values)",
    }
    return fit_dataset(ct, core, names, _META, attrs, method=method, mask=mask)
