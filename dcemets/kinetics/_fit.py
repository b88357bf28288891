"""Private NumPy core of Tofts fitting: Murase linear least squares and batched bounded LM.

All arrays are (V, T) blocks of voxels; kinetic constants in 1/min, times in s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dcemets.kinetics import _np

BLOCK = 32768  # voxels per block: keeps the time recursion's work arrays in cache


@dataclass(frozen=True)
class Bounds:
    """Box bounds of the fit (1/min, fractions) plus ``ve = Ktrans / kep <= ve_max``."""

    ktrans: tuple[float, float] = (0.0, 5.0)
    kep: tuple[float, float] = (1e-3, 100.0)
    vp: tuple[float, float] = (0.0, 1.0)
    ve_max: float = 1.0


@dataclass(frozen=True)
class Design:
    """Everything about the AIF and the frame times shared by all voxels."""

    tm: np.ndarray  # merged AIF grid (s)
    am: np.ndarray  # AIF on it (mM)
    idx: np.ndarray  # frame positions in the merged grid
    t: np.ndarray  # frame times (s)
    cp: np.ndarray  # Cp at the frames (mM)
    icp: np.ndarray  # integral of Cp from t[0] to each frame (mM s), exact on the AIF grid


def design(t: np.ndarray, ta: np.ndarray, a: np.ndarray) -> Design:
    """Pre-compute the AIF quantities for frame times `t`."""
    tm, am, idx = _np.merge_grid(ta, a, t)
    icp_all = _np.cumtrapz0(am, tm)
    icp = icp_all[idx] - icp_all[idx[0]]
    return Design(tm=tm, am=am, idx=idx, t=t, cp=am[idx], icp=icp)


def model(d: Design, p: np.ndarray, extended: bool, deriv: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Model (V, T) and Jacobian (V, T, n_par) for parameters p (V, n_par)."""
    kt = p[:, 0]
    g, gk = _np.exp_conv(d.tm, d.am, p[:, 1] / 60.0, d.idx, deriv=deriv)
    m = kt[:, None] / 60.0 * g
    if extended:
        m += p[:, 2:3] * d.cp[None, :]
    if not deriv:
        return m, None
    jac = np.empty((*m.shape, p.shape[1]))
    jac[..., 0] = g / 60.0
    jac[..., 1] = kt[:, None] / 3600.0 * gk  # type: ignore[operator]
    if extended:
        jac[..., 2] = d.cp[None, :]
    return m, jac


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched solve of small SPD systems by Cramer's rule; NaN where singular."""
    n = a.shape[-1]
    if n == 2:
        det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        x0 = b[:, 0] * a[:, 1, 1] - a[:, 0, 1] * b[:, 1]
        x1 = a[:, 0, 0] * b[:, 1] - a[:, 1, 0] * b[:, 0]
        x = np.stack([x0, x1], axis=-1)
    else:
        c00 = a[:, 1, 1] * a[:, 2, 2] - a[:, 1, 2] * a[:, 2, 1]
        c01 = a[:, 1, 2] * a[:, 2, 0] - a[:, 1, 0] * a[:, 2, 2]
        c02 = a[:, 1, 0] * a[:, 2, 1] - a[:, 1, 1] * a[:, 2, 0]
        det = a[:, 0, 0] * c00 + a[:, 0, 1] * c01 + a[:, 0, 2] * c02
        c10 = a[:, 0, 2] * a[:, 2, 1] - a[:, 0, 1] * a[:, 2, 2]
        c11 = a[:, 0, 0] * a[:, 2, 2] - a[:, 0, 2] * a[:, 2, 0]
        c12 = a[:, 0, 1] * a[:, 2, 0] - a[:, 0, 0] * a[:, 2, 1]
        c20 = a[:, 0, 1] * a[:, 1, 2] - a[:, 0, 2] * a[:, 1, 1]
        c21 = a[:, 0, 2] * a[:, 1, 0] - a[:, 0, 0] * a[:, 1, 2]
        c22 = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        # inverse = adj / det, adj[i, j] = cofactor[j, i]
        x = np.stack(
            [
                c00 * b[:, 0] + c10 * b[:, 1] + c20 * b[:, 2],
                c01 * b[:, 0] + c11 * b[:, 1] + c21 * b[:, 2],
                c02 * b[:, 0] + c12 * b[:, 1] + c22 * b[:, 2],
            ],
            axis=-1,
        )
    scale = np.abs(a).reshape(a.shape[0], -1).max(axis=1) ** n
    ok = np.abs(det) > 1e-13 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x / np.where(ok, det, 1.0)[:, None]
    out[~ok] = np.nan
    return out


def llsq(d: Design, y: np.ndarray, extended: bool) -> np.ndarray:
    """Murase linear least squares (closed form, vectorised); returns (V, n_par).

    Ct(t) = b1 int_{t0}^t Cp - kep int_{t0}^t Ct [+ vp Cp(t)], with b1 = Ktrans (+ kep vp for
    the extended model); the integrals start at the first frame t0, assumed pre-contrast
    (Ct(t0) = Cp(t0) = 0, as in Murase 2004).  int Cp is exact on the AIF grid, int Ct is
    the trapezoid on the frames.
    """
    x1 = d.icp
    x2 = _np.cumtrapz0(y, d.t)
    x2 *= -1.0
    n = 3 if extended else 2
    nv = y.shape[0]
    a = np.empty((nv, n, n))
    b = np.empty((nv, n))
    # shared columns (int Cp, Cp) enter through mat-vec products, the voxel column directly
    a[:, 0, 0] = x1 @ x1
    a[:, 0, 1] = a[:, 1, 0] = x2 @ x1
    a[:, 1, 1] = np.einsum("vt,vt->v", x2, x2)
    b[:, 0] = y @ x1
    b[:, 1] = np.einsum("vt,vt->v", x2, y)
    if extended:
        x3 = d.cp
        a[:, 0, 2] = a[:, 2, 0] = x1 @ x3
        a[:, 1, 2] = a[:, 2, 1] = x2 @ x3
        a[:, 2, 2] = x3 @ x3
        b[:, 2] = y @ x3
    beta = _solve(a, b)
    kep = beta[:, 1]
    if extended:
        vp = beta[:, 2]
        kt = beta[:, 0] - kep * vp
        return np.stack([kt * 60.0, kep * 60.0, vp], axis=-1)
    return np.stack([beta[:, 0] * 60.0, kep * 60.0], axis=-1)


def _kep_lo(bd: Bounds) -> float:
    """Lowest feasible kep: ``ktrans[0] <= Ktrans <= ve_max kep`` needs ``kep >= ktrans[0] / ve_max``."""
    return max(bd.kep[0], bd.ktrans[0] / bd.ve_max)


def _project(p: np.ndarray, bd: Bounds, extended: bool) -> np.ndarray:
    """Nearest point of the box, then Ktrans clipped to ``ve_max kep`` (params (V, n_par))."""
    q = p.copy()
    q[:, 1] = np.clip(q[:, 1], _kep_lo(bd), bd.kep[1])
    q[:, 0] = np.clip(q[:, 0], bd.ktrans[0], np.minimum(bd.ktrans[1], bd.ve_max * q[:, 1]))
    if extended:
        q[:, 2] = np.clip(q[:, 2], *bd.vp)
    return q


def grid_start(
    d: Design, y: np.ndarray, extended: bool, bd: Bounds, n_grid: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Best (projected) parameters over a log grid of kep by variable projection.

    The model is linear in Ktrans (and vp) for a fixed kep, and the kep-dependent basis is
    the same for every voxel, so the whole grid costs n_grid convolutions plus (V, n_grid)
    closed-form solves.
    """
    keps = np.geomspace(bd.kep[0], bd.kep[1], n_grid)
    g, _ = _np.exp_conv(d.tm, d.am, keps / 60.0, d.idx)  # (G, T)
    basis = g / 60.0  # d model / d Ktrans
    yg = y @ basis.T  # (V, G)
    gg = np.einsum("gt,gt->g", basis, basis)
    yy = np.einsum("vt,vt->v", y, y)
    kmax = np.minimum(bd.ktrans[1], bd.ve_max * keps)[None, :]
    if not extended:
        with np.errstate(divide="ignore", invalid="ignore"):
            kt = np.clip(yg / gg, bd.ktrans[0], kmax)
        rss = yy[:, None] - 2 * kt * yg + kt**2 * gg
        vp = None
    else:
        cp = d.cp
        yc = (y @ cp)[:, None]
        cc = float(cp @ cp)
        gc = (basis @ cp)[None, :]
        det = gg[None, :] * cc - gc**2
        with np.errstate(divide="ignore", invalid="ignore"):
            kt = (yg * cc - gc * yc) / det
            vp = (gg[None, :] * yc - gc * yg) / det
        kt = np.clip(np.nan_to_num(kt), bd.ktrans[0], kmax)
        # best vp for the clipped Ktrans
        vp = np.clip((yc - kt * gc) / cc if cc > 0 else np.zeros_like(kt), *bd.vp)
        rss = yy[:, None] - 2 * (kt * yg + vp * yc) + kt**2 * gg + 2 * kt * vp * gc + vp**2 * cc
    rss = np.where(np.isfinite(rss), rss, np.inf)
    j = np.argmin(rss, axis=1)
    rows = np.arange(y.shape[0])
    cols = [kt[rows, j], keps[j]]
    if extended:
        cols.append(vp[rows, j])  # type: ignore[index]
    return np.stack(cols, axis=-1), rss[rows, j]


def _box(bd: Bounds, extended: bool) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper box bounds (n_par,) of the parameters (``ve <= ve_max`` not included)."""
    lo = [bd.ktrans[0], _kep_lo(bd)] + ([bd.vp[0]] if extended else [])
    hi = [bd.ktrans[1], bd.kep[1]] + ([bd.vp[1]] if extended else [])
    return np.array(lo), np.array(hi)


def _active_step(
    a: np.ndarray, g: np.ndarray, at_lo: np.ndarray, at_hi: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """LM step of the free parameters, those held at a bound fixed (active-set Newton).

    `a` (V, n, n) is the damped normal matrix, `g` (V, n) = J^T r, `at_lo`/`at_hi` mark the
    parameters on a box bound and `out` (V, n) those already held (gradient pointing out of
    the box).  A free parameter on a bound whose step points out of the box is held too, and
    the step re-solved, until no free parameter's step points out (at most n + 1 solves).  Held
    parameters have their rows and columns of `a` zeroed except the diagonal (kept rather than
    1, so that the relative singularity test of :func:`_solve` keeps its scale) and a zero
    right-hand side, so their step is exactly 0 and the others' is the reduced LM step.
    """
    held = out.copy()
    n = a.shape[-1]
    delta = np.zeros_like(g)
    for _ in range(n + 1):
        free = ~held
        ar = np.where(free[:, :, None] & free[:, None, :], a, 0.0)
        ar[:, np.arange(n), np.arange(n)] = np.einsum("vii->vi", a)
        delta = np.nan_to_num(_solve(ar, np.where(free, g, 0.0)))
        more = free & ((at_lo & (delta < 0)) | (at_hi & (delta > 0)))
        if not more.any():
            break
        held |= more
    return delta


def lm(
    d: Design,
    y: np.ndarray,
    p0: np.ndarray,
    extended: bool,
    bd: Bounds,
    max_iter: int = 100,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched projected Levenberg-Marquardt with an active set; returns params, rss, converged.

    Each iteration holds the parameters on a box bound whose gradient or LM step points out of
    the box (active set), takes the LM step in the others, and projects the result into the
    bounds (``Ktrans <= ve_max kep`` is kept by the projection only).  A voxel has converged
    when an accepted step gains <= `ftol` of the RSS, a step is <= `xtol` (1 + max |p|), the
    RSS is ~0, the damping exceeds 1e12, or the projected gradient (J^T r with the components
    pointing out of the box at a bound zeroed) is <= `gtol` ||J_i|| ||r|| in every parameter i
    (the cosine test of MINPACK, restricted to the feasible directions).
    """
    nv, npar = p0.shape
    lo, hi = _box(bd, extended)
    p = _project(p0, bd, extended)
    m, jac = model(d, p, extended, True)
    r = y - m
    rss = np.einsum("vt,vt->v", r, r)
    lam = np.full(nv, 1e-3)
    conv = np.zeros(nv, dtype=bool)
    active = np.arange(nv)
    ysq = np.einsum("vt,vt->v", y, y)
    eye = np.eye(npar)[None]
    for _ in range(max_iter):
        if active.size == 0:
            break
        ja = jac[active]  # type: ignore[index]
        ra = r[active]
        jtj = np.einsum("vti,vtj->vij", ja, ja)
        jtr = np.einsum("vti,vt->vi", ja, ra)
        diag = np.einsum("vii->vi", jtj)
        pa = p[active]
        at_lo, at_hi = pa <= lo, pa >= hi
        out = (at_lo & (jtr < 0)) | (at_hi & (jtr > 0))
        # first-order optimality on the box: |projected gradient_i| <= gtol ||J_i|| ||r||
        pg = np.where(out, 0.0, jtr)
        opt = np.all(pg * pg <= gtol**2 * diag * rss[active, None], axis=1)
        if opt.any():
            conv[active[opt]] = True
            keep = ~opt
            active, jtj, jtr, diag = active[keep], jtj[keep], jtr[keep], diag[keep]
            pa, at_lo, at_hi, out = pa[keep], at_lo[keep], at_hi[keep], out[keep]
            if active.size == 0:
                break
        damp = lam[active, None] * (diag + 1e-12 * diag.max(axis=1, keepdims=True) + 1e-30)
        delta = _active_step(jtj + eye * damp[:, :, None], jtr, at_lo, at_hi, out)
        pn = _project(pa + delta, bd, extended)
        mn, jn = model(d, pn, extended, True)
        rn = y[active] - mn
        rssn = np.einsum("vt,vt->v", rn, rn)
        acc = rssn < rss[active]
        ia = active[acc]
        step = np.abs(pn - pa).max(axis=1)
        gain = rss[active] - rssn
        p[ia] = pn[acc]
        r[ia] = rn[acc]
        jac[ia] = jn[acc]  # type: ignore[index]
        rss_old = rss[active]
        rss[ia] = rssn[acc]
        lam[ia] *= 0.3
        lam[active[~acc]] *= 10.0
        done = (
            (acc & (gain <= ftol * np.maximum(rss_old, 1e-30)))
            | (step <= xtol * (1.0 + np.abs(pa).max(axis=1)))
            | (rss[active] <= 1e-24 * (1.0 + ysq[active]))
            | (lam[active] > 1e12)
        )
        conv[active[done]] = True
        active = active[~done]
    return p, rss, conv


def llsq_no_uptake(
    y: np.ndarray, p: np.ndarray, rss: np.ndarray, ok: np.ndarray, bd: Bounds
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give LLSQ's all-zero curves the exact no-uptake fit instead of NaN (any backend).

    For ``Ct = 0`` the column ``int Ct`` vanishes, the normal equations are singular and kep
    is not identifiable; the least-squares fit is exact with ``Ktrans = vp = 0``.  kep is set
    to the lowest feasible kep of the NLLS bounds (what NLLS returns), so ``ve = 0``,
    ``rss = 0`` and ``success`` is True: both methods agree on such curves.
    """
    zero = ~np.any(y, axis=1)
    if not zero.any():
        return p, rss, ok
    p, rss, ok = np.array(p, dtype=float), np.array(rss, dtype=float), np.array(ok, dtype=bool)
    p[zero] = 0.0
    p[zero, 1] = _kep_lo(bd)
    rss[zero] = 0.0
    ok[zero] = True
    return p, rss, ok


def fit_block(
    d: Design, y: np.ndarray, extended: bool, method: str, bd: Bounds, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a (V, T) block of finite curves; returns params (V, n_par), rss, success."""
    p_ls = llsq(d, y, extended)
    if method == "llsq":
        ok = np.all(np.isfinite(p_ls), axis=1) & (p_ls[:, 0] >= 0) & (p_ls[:, 1] > 0)
        safe = np.where(ok[:, None], p_ls, 0.0)
        m, _ = model(d, np.abs(safe), extended, False)
        res = y - m
        rss = np.where(ok, np.einsum("vt,vt->v", res, res), np.nan)
        return p_ls, rss, ok
    # start: LLSQ (projected into the bounds) unless the kep-grid start fits better
    p_start = _project(np.nan_to_num(p_ls, nan=0.0), bd, extended)
    m, _ = model(d, p_start, extended, False)
    res = y - m
    rss_ls = np.einsum("vt,vt->v", res, res)
    rss_ls = np.where(np.all(np.isfinite(p_ls), axis=1), rss_ls, np.inf)
    p_grid, rss_grid = grid_start(d, y, extended, bd)
    use_grid = rss_grid < rss_ls
    p0 = np.where(use_grid[:, None], p_grid, p_start)
    p, rss, conv = lm(d, y, p0, extended, bd, max_iter=max_iter)
    return p, rss, conv & np.all(np.isfinite(p), axis=1)


def fit_numpy(
    y: np.ndarray,
    d: Design,
    extended: bool,
    method: str,
    bd: Bounds,
    max_iter: int,
    *,
    device: str = "cpu",
    dtype: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy backend of ``fit_tofts``: fit (V, T) finite curves block by block.

    Same contract as the plugin backends (see :mod:`dcemets.kinetics.fitting`); `device` and
    `dtype` are validated by the caller ("cpu", float64) and only accepted for that contract.
    """
    npar = 3 if extended else 2
    nv = y.shape[0]
    params = np.empty((nv, npar))
    rss = np.empty(nv)
    ok = np.empty(nv, dtype=bool)
    for s in range(0, nv, BLOCK):
        sl = slice(s, s + BLOCK)
        params[sl], rss[sl], ok[sl] = fit_block(d, y[sl], extended, method, bd, max_iter)
    return params, rss, ok


#: A block fitter: finite (V, T) float64 curves -> params (V, n_par), rss (V,), success (V,).
FitCurves = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def fit(ct: np.ndarray, npar: int, fit_curves: FitCurves) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Fit curves ct (..., T) with `fit_curves`; NaN curves are skipped.

    Returns params (..., n_par), rss, success and the number of skipped curves.
    """
    lead = ct.shape[:-1]
    y = np.asarray(ct, dtype=float).reshape(-1, ct.shape[-1])
    good = np.all(np.isfinite(y), axis=1)
    params = np.full((y.shape[0], npar), np.nan)
    rss = np.full(y.shape[0], np.nan)
    ok = np.zeros(y.shape[0], dtype=bool)
    gi = np.flatnonzero(good)
    if gi.size:
        yg = y if gi.size == y.shape[0] else y[gi]
        p, r, c = fit_curves(np.ascontiguousarray(yg))
        p, r, c = np.asarray(p, dtype=float), np.asarray(r, dtype=float), np.asarray(c, dtype=bool)
        if p.shape != (gi.size, npar) or r.shape != (gi.size,) or c.shape != (gi.size,):
            raise RuntimeError(
                f"the fitting backend returned shapes {p.shape}, {r.shape}, {c.shape} for {gi.size} "
                f"curves; expected ({gi.size}, {npar}), ({gi.size},), ({gi.size},)"
            )
        params[gi], rss[gi], ok[gi] = p, r, c
    n_nan = int((~good).sum())
    return params.reshape((*lead, npar)), rss.reshape(lead), ok.reshape(lead), n_nan
