"""Private NumPy cores of :mod:`dcemets.kinetics`.

Cranky layer: positional float64 arrays, time on the last axis, no labels, no validation
beyond what the maths needs, never writes into its inputs.  Times are in seconds and rate
constants in 1/s inside this module unless a name says otherwise (``*_min``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj, is_numpy_array

# ----------------------------------------------------------------------------------------
# Population AIFs
# ----------------------------------------------------------------------------------------

#: Parker et al. 2006 (MRM 56:993), Table 1; times in min, amplitudes in mM*min / mM.
PARKER = {
    "A1": 0.809,
    "A2": 0.330,
    "T1": 0.17046,
    "T2": 0.365,
    "sigma1": 0.0563,
    "sigma2": 0.132,
    "alpha": 1.050,
    "beta": 0.1685,
    "s": 38.078,
    "tau": 0.483,
}


def parker_blood(t_min: np.ndarray) -> np.ndarray:
    """Parker blood concentration (mM) at `t_min` minutes after AIF onset (no zeroing)."""
    p = PARKER
    g1 = (
        p["A1"]
        / (p["sigma1"] * np.sqrt(2 * np.pi))
        * np.exp(-((t_min - p["T1"]) ** 2) / (2 * p["sigma1"] ** 2))
    )
    g2 = (
        p["A2"]
        / (p["sigma2"] * np.sqrt(2 * np.pi))
        * np.exp(-((t_min - p["T2"]) ** 2) / (2 * p["sigma2"] ** 2))
    )
    # logistic written with exp of a clipped argument: no overflow warning far before onset
    z = np.clip(-p["s"] * (t_min - p["tau"]), -700.0, 700.0)
    sig = p["alpha"] * np.exp(-p["beta"] * t_min) / (1.0 + np.exp(z))
    return g1 + g2 + sig


# ----------------------------------------------------------------------------------------
# Exact recursive convolution with an exponential (Flouri et al. 2016, appendix)
# ----------------------------------------------------------------------------------------

#: The array-API namespace of NumPy arrays, looked up once (see :func:`ns`).
_NPX = array_namespace(np.empty(0))


def ns(x: Any) -> Any:
    """``array_namespace(x)``: NumPy's without the look-up (thousands of calls per NumPy fit)."""
    return _NPX if isinstance(x, np.ndarray) else array_namespace(x)


_SMALL = 1e-2


def phi(x: Any) -> tuple[Any, Any, Any, Any]:
    """Return phi1, phi2 and their x-derivatives, stable at x -> 0.

    phi1(x) = (1 - e^-x) / x,  phi2(x) = (x - 1 + e^-x) / x^2.  Written over the array API:
    `x` may be a NumPy, torch or CuPy array (the results are of its kind; anything else is
    taken as float64 NumPy).  The torch backend's convolution
    (:class:`dcemets.models.tofts_backend.ExpConv`) calls it with tensors.
    """
    if not is_array_api_obj(x) or is_numpy_array(x):
        x = np.asarray(x, dtype=float)
    xp = ns(x)
    small = xp.abs(x) < _SMALL
    xs = xp.where(small, 1.0, x)
    em = xp.expm1(-xs)  # e^-x - 1
    e = em + 1.0
    p1 = -em / xs
    p2 = (xs + em) / xs**2
    p1d = (xs * e + em) / xs**2
    p2d = (-em * xs - 2.0 * (xs + em)) / xs**3
    # Taylor series for small x (truncation error < 1e-12 for |x| < 1e-2)
    x2, x3 = x * x, x * x * x
    p1s = 1.0 - x / 2 + x2 / 6 - x3 / 24 + x2 * x2 / 120
    p2s = 0.5 - x / 6 + x2 / 24 - x3 / 120 + x2 * x2 / 720
    p1ds = -0.5 + x / 3 - x2 / 8 + x3 / 30
    p2ds = -1.0 / 6 + x / 12 - x2 / 40 + x3 / 180
    return (
        xp.where(small, p1s, p1),
        xp.where(small, p2s, p2),
        xp.where(small, p1ds, p1d),
        xp.where(small, p2ds, p2d),
    )


def merge_grid(
    t_aif: np.ndarray, a: np.ndarray, t_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert the output times into the AIF grid (AIF interpolated linearly there).

    Returns the merged grid, the AIF on it and the indices of `t_out` in the merged grid.
    Exact for a piecewise-linear AIF: an inserted knot does not change the input.
    """
    tol = 1e-9 * max(1.0, float(np.max(np.abs(t_aif))))
    pos = np.searchsorted(t_aif, t_out)
    pos_c = np.clip(pos, 0, t_aif.size - 1)
    on = np.abs(t_aif[pos_c] - t_out) <= tol
    pos_m = np.clip(pos - 1, 0, t_aif.size - 1)
    on_m = np.abs(t_aif[pos_m] - t_out) <= tol
    if np.all(on | on_m):
        idx = np.where(on, pos_c, pos_m)
        return t_aif, a, idx
    extra = t_out[~(on | on_m)]
    tm = np.union1d(t_aif, extra)
    am = np.interp(tm, t_aif, a)
    idx = np.searchsorted(tm, t_out)
    idx = np.clip(idx, 0, tm.size - 1)
    near_prev = (idx > 0) & (np.abs(tm[np.maximum(idx - 1, 0)] - t_out) <= np.abs(tm[idx] - t_out))
    idx = np.where(near_prev, idx - 1, idx)
    return tm, am, idx


def _is_uniform(t: np.ndarray) -> bool:
    if t.size < 3:
        return True
    d = np.diff(t)
    return bool(np.allclose(d, d[0], rtol=1e-9, atol=1e-12 * max(1.0, abs(float(t[-1])))))


def exp_conv(
    t: np.ndarray, a: np.ndarray, k: np.ndarray, idx: np.ndarray, *, deriv: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Exact convolution of a piecewise-linear input with exp(-k t), sampled at grid indices.

    g(t_n) = integral_{t_0}^{t_n} a(tau) exp(-k (t_n - tau)) dtau, the input being linear
    between the knots ``t`` and zero before ``t[0]``.

    Parameters
    ----------
    t : (N,) increasing grid (s).  a : (N,) input on the grid.
    k : (V,) rate constants (1/s), k >= 0.
    idx : (m,) grid indices at which g is returned.
    deriv : also return dg/dk.

    Returns
    -------
    g : (V, m) and dg/dk : (V, m) or None.
    """
    k = np.asarray(k, dtype=float).reshape(-1)
    nv = k.size
    m = idx.size
    if t.size < 2 or nv == 0:
        z = np.zeros((nv, m))
        return z, (np.zeros((nv, m)) if deriv else None)
    if _is_uniform(t):
        return _exp_conv_uniform(float(t[1] - t[0]), a, k, idx, deriv)
    return _exp_conv_general(t, a, k, idx, deriv)


def _exp_conv_uniform(
    dt: float, a: np.ndarray, k: np.ndarray, idx: np.ndarray, deriv: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Uniform grid: g_n = c1 D_n + c2 (D_{n+1} - a0 E^n), D by Horner's rule.

    With E = exp(-k dt) and c1 = dt (phi1 - phi2), c2 = dt phi2 the per-step recursion
    g_{n+1} = E g_n + c1 a_n + c2 a_{n+1} sums to the expression above, where
    D_n = sum_{i<n} a_i E^(n-1-i) needs two array operations per time step.
    """
    nv = k.size
    x = k * dt
    e = np.exp(-x)
    p1, p2, p1d, p2d = phi(x)
    c1 = dt * (p1 - p2)
    c2 = dt * p2
    need = np.zeros(a.size + 1, dtype=bool)
    need[idx] = True
    need[np.minimum(idx + 1, a.size)] = True
    n_max = int(idx.max()) + 1
    store = np.zeros((a.size + 1,), dtype=np.intp) - 1
    wanted = np.flatnonzero(need[: n_max + 1])
    store[wanted] = np.arange(wanted.size)
    dstore = np.zeros((wanted.size, nv))
    d = np.zeros(nv)
    dd = np.zeros(nv) if deriv else None
    ddstore = np.zeros((wanted.size, nv)) if deriv else None
    # D (and dD/dE) stay 0 over the leading zeros of the input (AIF before the bolus)
    nz = np.flatnonzero(a[:n_max])
    n0 = int(nz[0]) if nz.size else n_max
    for n in range(n0, n_max):
        if deriv:
            # dD_{n+1}/dE = E dD_n/dE + D_n
            dd *= e  # type: ignore[operator]
            dd += d  # type: ignore[operator]
        d *= e
        d += a[n]
        s = store[n + 1]
        if s >= 0:
            dstore[s] = d
            if deriv:
                ddstore[s] = dd  # type: ignore[index]
    i0 = store[idx]
    i1 = store[idx + 1]
    dn = dstore[i0].T  # (V, m)
    dn1 = dstore[i1].T
    en = np.exp(-np.outer(x, idx.astype(float)))  # E^n
    g = c1[:, None] * dn + c2[:, None] * (dn1 - a[0] * en)
    if not deriv:
        return g, None
    dd_n = ddstore[i0].T  # type: ignore[index]
    dd_n1 = ddstore[i1].T  # type: ignore[index]
    ek = (-dt * e)[:, None]  # dE/dk
    c1k = (dt * dt * (p1d - p2d))[:, None]
    c2k = (dt * dt * p2d)[:, None]
    gk = (
        c1k * dn
        + c1[:, None] * dd_n * ek
        + c2k * (dn1 - a[0] * en)
        + c2[:, None] * (dd_n1 * ek + a[0] * dt * idx[None, :] * en)
    )
    return g, gk


def _exp_conv_general(
    t: np.ndarray, a: np.ndarray, k: np.ndarray, idx: np.ndarray, deriv: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Any increasing grid: the per-step recursion, coefficients cached per step length."""
    nv = k.size
    out = np.zeros((nv, idx.size))
    outk = np.zeros((nv, idx.size)) if deriv else None
    where: dict[int, list[int]] = {}
    for j, n in enumerate(idx.tolist()):
        where.setdefault(int(n), []).append(j)
    g = np.zeros(nv)
    gk = np.zeros(nv) if deriv else None
    cache: dict[float, tuple[np.ndarray, ...]] = {}
    n_max = int(idx.max())
    for n in range(n_max):
        dt = float(t[n + 1] - t[n])
        key = round(dt, 12)
        co = cache.get(key)
        if co is None:
            x = k * dt
            e = np.exp(-x)
            p1, p2, p1d, p2d = phi(x)
            co = (e, dt * (p1 - p2), dt * p2, -dt * e, dt * dt * (p1d - p2d), dt * dt * p2d)
            if len(cache) < 64:
                cache[key] = co
        e, c1, c2, ek, c1k, c2k = co
        if deriv:
            gk = e * gk + ek * g + c1k * a[n] + c2k * a[n + 1]
        g = e * g + c1 * a[n] + c2 * a[n + 1]
        for j in where.get(n + 1, ()):
            out[:, j] = g
            if deriv:
                outk[:, j] = gk  # type: ignore[index]
    return out, outk


def cumtrapz0(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid along the last axis, starting at 0."""
    dt = np.diff(t)
    inc = 0.5 * (y[..., 1:] + y[..., :-1]) * dt
    out = np.zeros(y.shape)
    np.cumsum(inc, axis=-1, out=out[..., 1:])
    return out


# ----------------------------------------------------------------------------------------
# SPGR signal model
# ----------------------------------------------------------------------------------------


def spgr_signal(r1: np.ndarray, m0: np.ndarray, fa_rad: float, tr: float) -> np.ndarray:
    """Steady-state SPGR signal for relaxation rate `r1` (1/s)."""
    e = np.exp(-tr * r1)
    return m0 * np.sin(fa_rad) * (1.0 - e) / (1.0 - np.cos(fa_rad) * e)


def spgr_r1(signal: np.ndarray, m0: np.ndarray, fa_rad: float, tr: float) -> np.ndarray:
    """Exact SPGR inversion: R1 (1/s) from the signal; NaN where impossible."""
    y = signal / (m0 * np.sin(fa_rad))
    num = 1.0 - y
    den = 1.0 - y * np.cos(fa_rad)
    ok = (num > 0) & (den > 0)
    e = np.where(ok, num / np.where(ok, den, 1.0), 1.0)
    return np.where(ok, -np.log(e) / tr, np.nan)


# ----------------------------------------------------------------------------------------
# Heuristic enhancement parameters (Lang et al. 2019, section 2.3)
# ----------------------------------------------------------------------------------------

RULE_PEAK, RULE_LATE, RULE_NONE = 0, 1, -1


def late_interp(times: np.ndarray, t_late: float) -> tuple[int, float]:
    """Frame j and weight w with S(t_late) = (1 - w) S[j] + w S[j + 1]."""
    j = int(np.searchsorted(times, t_late, side="right") - 1)
    j = min(max(j, 0), times.size - 2)
    w = float((t_late - times[j]) / (times[j + 1] - times[j]))
    return j, w


def _baseline(st: np.ndarray, nb: int) -> np.ndarray:
    s0 = st[0].astype(float, copy=True)
    for i in range(1, nb):
        s0 += st[i]
    if nb > 1:
        s0 /= nb
    return s0


def _check_s0(s0: np.ndarray, finite: np.ndarray | None, nb: int, name: str = "signal") -> None:
    bad = ~(s0 > 0)
    if finite is not None:
        bad &= finite
    n = int(np.count_nonzero(bad))
    if n:
        raise ValueError(
            f"`{name}`: baseline signal S0 (mean of the first {nb} frame(s)) is zero or negative in "
            f"{n} voxel(s); restrict the computation with a mask"
        )


def heuristics_np(
    s: np.ndarray,
    times: np.ndarray,
    nb: int,
    t_inj: float,
    peak_cutoff: float,
    late_ref: float,
    name: str = "signal",
) -> tuple[np.ndarray, ...]:
    """Per-curve heuristics; time on the last axis.

    Returns wash_in, max_se, washout (%), s1, s2, peak (int64, -1 where the curve has NaN)
    and rule (int8: 0 peak rule, 1 late rule, -1 invalid).
    """
    s = np.asarray(s, dtype=float)
    st = np.moveaxis(s, -1, 0)  # frames on axis 0 (contiguous for a time-first volume)
    nt = st.shape[0]
    # one reduction over time flags every curve holding a NaN/inf sample
    with np.errstate(invalid="ignore", over="ignore"):
        fin = np.isfinite(st.sum(axis=0))
    finite: np.ndarray | None = None
    if not np.all(fin):
        finite = np.all(np.isfinite(st), axis=0)
        st = np.where(finite[None], st, 1.0)
    s0 = _baseline(st, nb)
    _check_s0(s0, finite, nb, name)
    # peak: first maximum
    smax = np.array(st[0], dtype=float)
    peak = np.zeros(smax.shape, dtype=np.int64)
    upd = np.empty(smax.shape, dtype=bool)
    for i in range(1, nt):
        np.greater(st[i], smax, out=upd)
        np.copyto(peak, i, where=upd)
        np.copyto(smax, st[i], where=upd)
    # steepest adjacent rise among pairs (i, i+1) with i + 1 <= peak
    best = np.full(smax.shape, -np.inf)
    s1 = np.zeros(smax.shape, dtype=np.int64)
    d = np.empty(smax.shape)
    for i in range(nt - 1):
        np.subtract(st[i + 1], st[i], out=d)
        np.greater(d, best, out=upd)
        upd &= peak > i
        np.copyto(best, d, where=upd)
        np.copyto(s1, i, where=upd)
    has_pair = peak > 0
    s2 = np.where(has_pair, s1 + 1, 0)
    wash_in = np.where(has_pair, best, 0.0) / s0 * 100.0
    max_se = (smax - s0) / s0 * 100.0
    t_peak = times[peak] - t_inj
    rule = np.where(t_peak <= peak_cutoff, RULE_PEAK, RULE_LATE).astype(np.int8)
    j, w = late_interp(times, t_inj + late_ref)
    s_late = (1.0 - w) * st[j] + w * st[j + 1]
    ref = np.where(rule == RULE_PEAK, smax, s_late)
    with np.errstate(divide="ignore", invalid="ignore"):
        washout = (st[nt - 1] - ref) / ref * 100.0
    if finite is not None:  # np.where, not item assignment: a single curve gives 0-d scalars
        bad = ~finite
        wash_in, max_se, washout = (np.where(bad, np.nan, a) for a in (wash_in, max_se, washout))
        s1, s2, peak = (np.where(bad, -1, a) for a in (s1, s2, peak))
        rule = np.where(bad, RULE_NONE, rule).astype(np.int8)
    return wash_in, max_se, washout, s1, s2, peak, rule


def fixed_frames_np(
    s: np.ndarray,
    times: np.ndarray,
    nb: int,
    s1: int,
    s2: int,
    peak: int,
    rule: int,
    t_late: float,
    name: str = "signal",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heuristic maps with the frames fixed (those of the hot spot, paper section 2.5)."""
    s = np.asarray(s, dtype=float)
    st = np.moveaxis(s, -1, 0)
    finite = np.all(np.isfinite(s), axis=-1)
    s0 = _baseline(st, nb)
    _check_s0(s0, finite, nb, name)
    with np.errstate(divide="ignore", invalid="ignore"):
        wash_in = (st[s2] - st[s1]) / s0 * 100.0
        max_se = (st[peak] - s0) / s0 * 100.0
        if rule == RULE_PEAK:
            ref = st[peak]
        else:
            j, w = late_interp(times, t_late)
            ref = (1.0 - w) * st[j] + w * st[j + 1]
        washout = (st[-1] - ref) / ref * 100.0
    return wash_in, max_se, washout
