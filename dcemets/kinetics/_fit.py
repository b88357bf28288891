"""Private core of Tofts fitting: Murase linear least squares, variable projection, bounded LM.

All arrays are (V, T) blocks of voxels; kinetic constants in 1/min, times in s.  The solver
(:func:`model`, :func:`llsq`, :func:`lm` with :func:`_solve`, :func:`_project` and
:func:`_active_step`; the kep table's :func:`basis`, :func:`_lin`, :class:`_Profile`,
:func:`coarse_start` and :func:`varpro`; :func:`polish`) is written once over the array API
(``array_api_compat.array_namespace``, through :func:`_ns`): the NumPy backend calls it with
NumPy arrays and :mod:`dcemets.models.tofts_backend` with torch tensors (this module never
imports torch).  Beyond
the standard it indexes with integer arrays (also on the left of ``=``) and uses ``xp.einsum``
and ``xp.nan_to_num``, which NumPy, torch and CuPy all have.  Three small shims keep the NumPy
backend's kernels and so its speed and rounding: :func:`_ein` (``np.einsum`` for NumPy, products
summed otherwise), :func:`_matmul` (BLAS for NumPy) and :func:`_piece` (cache-sized pieces of
voxels for NumPy only).  The table itself, the block drivers (:func:`fit_block`,
:func:`fit_numpy`) and the fit quality are NumPy; the blocks and threads are in
:mod:`dcemets.kinetics._threads`.

One concept: fitting the Tofts models to voxel curves (the solver, its NumPy drivers and the
quality flags of each fit); it is long because the solver's three stages (closed-form start,
variable projection over the kep table, exact-model Levenberg-Marquardt) share their design
and bounds, and splitting them would make the array-API contract cross modules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from array_api_compat import device

from dcemets.kinetics import _np, _threads

_ns = _np.ns  # the array namespace of an argument (NumPy's looked up once)


def _ein(spec: str, a: Any, b: Any, out: Any = None) -> Any:
    """The two-operand contraction `spec` (einsum notation) over any array kind.

    The one NumPy-specific kernel of the shared code: NumPy arrays go to ``np.einsum`` (its
    inner loops are NumPy's fastest row-wise dot products, and fix the NumPy backend's
    rounding); others (torch, CuPy) are multiplied and summed over the contracted letters,
    whose rounding, unlike a batched matrix product's, does not depend on the batch size.
    With `out` (an array of the result's shape, e.g. a slice of a larger one) the result is
    written there and `out` returned (NumPy: no temporary).
    """
    if isinstance(a, np.ndarray):
        return np.einsum(spec, a, b, out=out)
    if out is not None:
        out[...] = _ein(spec, a, b)
        return out
    xp = _ns(a)
    ins, out = spec.split("->")
    sa, sb = ins.split(",")
    order = out + "".join(sorted(set(sa + sb) - set(out)))

    def lay(x: Any, sx: str) -> Any:  # axes in `order`, size 1 where x has no such letter
        x = xp.permute_dims(x, tuple(sorted(range(len(sx)), key=lambda i: order.index(sx[i]))))
        shape, it = [], iter(x.shape)
        for c in order:
            shape.append(next(it) if c in sx else 1)
        return xp.reshape(x, tuple(shape))

    return xp.sum(lay(a, sa) * lay(b, sb), axis=tuple(range(len(out), len(order))))


def _matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for (V, T) `a` and (T,) or (T, G) `b`: NumPy's BLAS product, else :func:`_ein`."""
    if isinstance(a, np.ndarray):
        return a @ b
    return _ein("vt,t->v", a, b) if b.ndim == 1 else _ein("vt,tg->vg", a, b)


def _piece(x: Any, size: int) -> int:
    """Voxels per piece of a pass over `x` (V, ...).

    `size` for NumPy arrays (each piece's work arrays stay in the CPU cache); all at once for
    the others (an accelerator wants large batches).
    """
    return size if isinstance(x, np.ndarray) else max(x.shape[0], 1)


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

    def conv(self, k: np.ndarray, deriv: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The exact convolution of the AIF with exp(-k t) at the frames (:func:`_np.exp_conv`)."""
        return _np.exp_conv(self.tm, self.am, k, self.idx, deriv=deriv)


def design(t: np.ndarray, ta: np.ndarray, a: np.ndarray) -> Design:
    """Pre-compute the AIF quantities for frame times `t`."""
    tm, am, idx = _np.merge_grid(ta, a, t)
    icp_all = _np.cumtrapz0(am, tm)
    icp = icp_all[idx] - icp_all[idx[0]]
    return Design(tm=tm, am=am, idx=idx, t=t, cp=am[idx], icp=icp)


def model(d: Any, p: Any, extended: bool, deriv: bool) -> tuple[Any, Any]:
    """Model (V, T) and Jacobian (V, T, n_par) for parameters p (V, n_par), any array kind.

    `d` is a :class:`Design` (NumPy) or the torch backend's design: anything with ``cp`` (Cp at
    the frames, an array of p's kind) and ``conv(k, deriv)``, the exact convolution of the AIF
    with ``exp(-k t)`` at the frames (k in 1/s) and its k-derivative.
    """
    xp = _ns(p)
    kt = p[:, 0]
    g, gk = d.conv(p[:, 1] / 60.0, deriv)
    m = kt[:, None] / 60.0 * g
    if extended:
        m += p[:, 2:3] * d.cp[None, :]
    if not deriv:
        return m, None
    cols = [g / 60.0, kt[:, None] / 3600.0 * gk]
    if extended:
        cols.append(xp.broadcast_to(d.cp[None, :], g.shape))
    return m, xp.stack(cols, axis=-1)


def _solve(a: Any, b: Any) -> Any:
    """Batched solve of small SPD systems (V, n, n) by Cramer's rule; NaN where singular."""
    xp = _ns(a)
    n = a.shape[-1]
    if n == 2:
        det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        x0 = b[:, 0] * a[:, 1, 1] - a[:, 0, 1] * b[:, 1]
        x1 = a[:, 0, 0] * b[:, 1] - a[:, 1, 0] * b[:, 0]
        x = xp.stack([x0, x1], axis=-1)
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
        x = xp.stack(
            [
                c00 * b[:, 0] + c10 * b[:, 1] + c20 * b[:, 2],
                c01 * b[:, 0] + c11 * b[:, 1] + c21 * b[:, 2],
                c02 * b[:, 0] + c12 * b[:, 1] + c22 * b[:, 2],
            ],
            axis=-1,
        )
    # the largest |entry| (elementwise maxima: a row-wise reduction over n^2 is slower)
    flat = xp.reshape(xp.abs(a), (a.shape[0], -1))
    big = flat[:, 0]
    for j in range(1, flat.shape[1]):
        big = xp.maximum(big, flat[:, j])
    ok = xp.abs(det) > 1e-13 * big**n
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x / xp.where(ok, det, 1.0)[:, None]
    return xp.where(ok[:, None], out, xp.nan)


def llsq(d: Any, y: Any, extended: bool) -> Any:
    """Murase linear least squares (closed form, vectorised); returns (V, n_par).

    Ct(t) = b1 int_{t0}^t Cp - kep int_{t0}^t Ct [+ vp Cp(t)], with b1 = Ktrans (+ kep vp for
    the extended model); the integrals start at the first frame t0, assumed pre-contrast
    (Ct(t0) = Cp(t0) = 0, as in Murase 2004).  int Cp is exact on the AIF grid, int Ct is
    the trapezoid on the frames.  `y` of any array kind; `d` a :class:`Design` or the torch
    backend's (``t`` the NumPy frame times, ``icp`` and ``cp`` arrays of `y`'s kind).
    """
    xp = _ns(y)
    x1 = d.icp
    # -int Ct by the trapezoid on the frames, as one (V, T) x (T, T) product with the
    # cumulative-trapezoid weights (row k: the integrals of the k-th unit curve); the same
    # sums as a cumulative sum per voxel, ~20x faster on short curves (rounding ~1e-16 apart)
    t = np.asarray(d.t)
    w = -_np.cumtrapz0(np.eye(t.size), t)
    x2 = y @ (w if isinstance(y, np.ndarray) else xp.asarray(w, dtype=y.dtype, device=device(y)))
    # the normal equations: the entries between the shared columns (int Cp, Cp) are scalars,
    # those with the voxel's column x2 are (V,) vectors; solved by Cramer's rule as
    # :func:`_solve` does (the same products, the division by the determinant as one
    # reciprocal: ~1 ulp apart), without building the (V, n, n) system
    a00 = float(x1 @ x1)
    a01 = x2 @ x1
    a11 = _ein("vt,vt->v", x2, x2)
    b0 = y @ x1
    b1 = _ein("vt,vt->v", x2, y)
    if not extended:
        det = a00 * a11 - a01 * a01
        z0 = b0 * a11 - a01 * b1
        z1 = a00 * b1 - a01 * b0
        big = xp.maximum(xp.maximum(xp.abs(a01), abs(a00)), xp.abs(a11))
        ok = xp.abs(det) > 1e-13 * big**2
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = xp.where(ok, 1.0 / xp.where(ok, det, 1.0), xp.nan)
        return xp.stack([z0 * inv * 60.0, z1 * inv * 60.0], axis=-1)
    x3 = d.cp
    a02, a22 = float(x1 @ x3), float(x3 @ x3)
    a12 = x2 @ x3
    b2 = y @ x3
    c00 = a11 * a22 - a12 * a12
    c01 = a12 * a02 - a01 * a22
    c02 = a01 * a12 - a11 * a02
    det = a00 * c00 + a01 * c01 + a02 * c02
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    big = xp.maximum(xp.maximum(xp.abs(a01), xp.abs(a11)), xp.abs(a12))
    big = xp.maximum(big, max(abs(a00), abs(a02), abs(a22)))
    ok = xp.abs(det) > 1e-13 * big**3
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = xp.where(ok, 1.0 / xp.where(ok, det, 1.0), xp.nan)
    kep = (c01 * b0 + c11 * b1 + c12 * b2) * inv
    vp = (c02 * b0 + c12 * b1 + c22 * b2) * inv
    kt = (c00 * b0 + c01 * b1 + c02 * b2) * inv - kep * vp
    return xp.stack([kt * 60.0, kep * 60.0, vp], axis=-1)


def _kep_lo(bd: Bounds) -> float:
    """Lowest feasible kep: ``ktrans[0] <= Ktrans <= ve_max kep`` needs ``kep >= ktrans[0] / ve_max``."""
    return max(bd.kep[0], bd.ktrans[0] / bd.ve_max)


def _project(p: Any, bd: Bounds, extended: bool) -> Any:
    """Nearest point of the box, then Ktrans clipped to ``ve_max kep`` (params (V, n_par))."""
    xp = _ns(p)
    kep = xp.minimum(xp.maximum(p[:, 1], _kep_lo(bd)), bd.kep[1])
    kt = xp.minimum(xp.maximum(p[:, 0], bd.ktrans[0]), xp.minimum(bd.ve_max * kep, bd.ktrans[1]))
    cols = [kt, kep]
    if extended:
        cols.append(xp.minimum(xp.maximum(p[:, 2], bd.vp[0]), bd.vp[1]))
    return xp.stack(cols, axis=-1)


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


def _finite_rows(a: Any) -> Any:
    """``all(isfinite(a), axis=1)`` for (V, n) `a` (any array kind), column by column.

    The row-wise reduction over a short axis is several times slower than n elementwise passes.
    """
    xp = _ns(a)
    out = xp.isfinite(a[:, 0])
    for j in range(1, a.shape[1]):
        out = out & xp.isfinite(a[:, j])
    return out


def _active_step(a: Any, g: Any, at_lo: Any, at_hi: Any, out: Any) -> Any:
    """LM step of the free parameters, those held at a bound fixed (active-set Newton).

    `a` (V, n, n) is the damped normal matrix, `g` (V, n) = J^T r, `at_lo`/`at_hi` mark the
    parameters on a box bound and `out` (V, n) those already held (gradient pointing out of
    the box).  A free parameter on a bound whose step points out of the box is held too, and
    the step re-solved, until no free parameter's step points out (at most n + 1 solves).  Held
    parameters have their rows and columns of `a` zeroed except the diagonal (kept rather than
    1, so that the relative singularity test of :func:`_solve` keeps its scale) and a zero
    right-hand side, so their step is exactly 0 and the others' is the reduced LM step.
    """
    xp = _ns(a)
    held = out
    n = a.shape[-1]
    diag = xp.eye(n, dtype=xp.bool, device=device(a))[None, :, :]
    delta = xp.zeros_like(g)
    for _ in range(n + 1):
        free = ~held
        ar = xp.where(diag | (free[:, :, None] & free[:, None, :]), a, 0.0)
        delta = xp.nan_to_num(_solve(ar, xp.where(free, g, 0.0)))
        more = free & ((at_lo & (delta < 0)) | (at_hi & (delta > 0)))
        if not bool(xp.any(more)):
            break
        held = held | more
    return delta


def lm_accept(state: tuple[Any, ...], active: Any, trial: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """Levenberg-Marquardt bookkeeping: keep the trial points that lower the RSS, in place.

    `state` is ``(p, r, jac, rss, lam)`` of all voxels, `trial` ``(p, r, jac, rss)`` of the
    `active` ones.  Accepted voxels take the trial values and their damping shrinks 3x; the
    others' grows 10x.  Returns the accepted mask, the RSS gain and the RSS before the step (of
    the active voxels).  Shared by :func:`lm` and :func:`dcemets.kinetics._nlls.lm`.
    """
    p, r, jac, rss, lam = state
    pn, rn, jn, rssn = trial
    rss_old = rss[active]
    acc = rssn < rss_old
    ia = active[acc]
    p[ia] = pn[acc]
    r[ia] = rn[acc]
    jac[ia] = jn[acc]
    rss[ia] = rssn[acc]
    lam[ia] *= 0.3
    lam[active[~acc]] *= 10.0
    return acc, rss_old - rssn, rss_old


def lm(
    d: Any,
    y: Any,
    p0: Any,
    extended: bool,
    bd: Bounds,
    max_iter: int = 100,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-8,
) -> tuple[Any, Any, Any]:
    """Batched projected Levenberg-Marquardt with an active set; returns params, rss, converged.

    Each iteration holds the parameters on a box bound whose gradient or LM step points out of
    the box (active set), takes the LM step in the others, and projects the result into the
    bounds (``Ktrans <= ve_max kep`` is kept by the projection only).  A voxel has converged
    when an accepted step gains <= `ftol` of the RSS, a step is <= `xtol` (1 + max |p|), the
    RSS is ~0, the damping exceeds 1e12, or the projected gradient (J^T r with the components
    pointing out of the box at a bound zeroed) is <= `gtol` ||J_i|| ||r|| in every parameter i
    (the cosine test of MINPACK, restricted to the feasible directions).  Arrays of any kind
    (NumPy, torch, CuPy; `d` as for :func:`model`); `p0` is not modified.
    """
    xp = _ns(y)
    dev = device(y)
    nv, npar = p0.shape
    lo, hi = (xp.asarray(x, dtype=y.dtype, device=dev) for x in _box(bd, extended))
    p = _project(p0, bd, extended)
    m, jac = model(d, p, extended, True)
    r = y - m
    rss = _ein("vt,vt->v", r, r)
    lam = xp.full((nv,), 1e-3, dtype=y.dtype, device=dev)
    conv = xp.zeros((nv,), dtype=xp.bool, device=dev)
    active = xp.arange(nv, device=dev)
    ysq = _ein("vt,vt->v", y, y)
    eye = xp.eye(npar, dtype=y.dtype, device=dev)[None, :, :]
    for _ in range(max_iter):
        if active.shape[0] == 0:
            break
        ja = jac[active]
        ra = r[active]
        # xp.einsum: NumPy's, torch's and CuPy's (outside the array API standard)
        jtj = xp.einsum("vti,vtj->vij", ja, ja)
        jtr = xp.einsum("vti,vt->vi", ja, ra)
        diag = xp.linalg.diagonal(jtj)
        pa = p[active]
        at_lo, at_hi = pa <= lo, pa >= hi
        out = (at_lo & (jtr < 0)) | (at_hi & (jtr > 0))
        # first-order optimality on the box: |projected gradient_i| <= gtol ||J_i|| ||r||
        pg = xp.where(out, 0.0, jtr)
        opt = xp.all(pg * pg <= gtol**2 * diag * rss[active][:, None], axis=1)
        if bool(xp.any(opt)):
            conv[active[opt]] = True
            keep = ~opt
            active, jtj, jtr, diag = active[keep], jtj[keep], jtr[keep], diag[keep]
            pa, at_lo, at_hi, out = pa[keep], at_lo[keep], at_hi[keep], out[keep]
            if active.shape[0] == 0:
                break
        damp = lam[active][:, None] * (diag + 1e-12 * xp.max(diag, axis=1, keepdims=True) + 1e-30)
        delta = _active_step(jtj + eye * damp[:, :, None], jtr, at_lo, at_hi, out)
        pn = _project(pa + delta, bd, extended)
        mn, jn = model(d, pn, extended, True)
        rn = y[active] - mn
        rssn = _ein("vt,vt->v", rn, rn)
        acc, gain, rss_old = lm_accept((p, r, jac, rss, lam), active, (pn, rn, jn, rssn))
        step = xp.max(xp.abs(pn - pa), axis=1)
        done = (
            (acc & (gain <= ftol * xp.maximum(rss_old, 1e-30)))
            | (step <= xtol * (1.0 + xp.max(xp.abs(pa), axis=1)))
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


# ----------------------------------------------------------------------------------------
# Variable projection over a tabulated kep axis (the fast NLLS path)
# ----------------------------------------------------------------------------------------
#
# For a fixed kep the (extended) Tofts model ``Ktrans b(kep) [+ vp Cp]`` is linear in Ktrans
# (and vp), and ``b(kep) = g(kep) / 60`` -- the exact convolution of the AIF with exp(-kep t)
# sampled at the frames -- is the same for every voxel.  ``b`` is tabulated once per call on a
# uniform grid of ``u = ln kep`` spanning the kep bounds, exactly (the recursion of
# :func:`dcemets.kinetics._np.exp_conv`, with its derivative), and read back anywhere by cubic
# Hermite interpolation (values and u-derivatives at the nodes): with 2049 nodes over the
# default 5 decades the interpolant is within 1e-11 of the exact convolution (relative to the
# curve's peak; ``tests/kinetics/test_fitting.py`` checks it).  A voxel's fit is then a
# one-dimensional search over u: a coarse scan of the nodes (one matrix product for all
# voxels, refined by a parabola through the 3 best costs) followed by a safeguarded Newton
# iteration on the variable-projection residual (Golub & Pereyra 1973; Kaufman 1975), every
# quantity a fixed small dot product through the 4 x 4 Gram matrix of each table cell.  The delay and Patlak fits can reuse :class:`KepTable`
# (any shared basis that depends on one nonlinear parameter) and :func:`varpro`.


#: Nodes of the kep table up to 256 frames (interpolation error ~1e-11 of the curve's peak).
FINE_NODES = 2049

#: Cells of the coarse kep scan that starts each voxel (its nodes: every (FINE_NODES - 1) /
#: COARSE_CELLS-th; a power of 2, so that the table keeps its FINE_NODES nodes).  64 rather than
#: 32 starts the Newton iterations close enough that most voxels need one fewer evaluation.
COARSE_CELLS = 64


@dataclass(frozen=True)
class KepTable:
    """Exact Tofts basis on a uniform grid of ``u = ln kep`` (kep in 1/min).

    Node ``i`` is ``u_i = u0 + i h``.  ``cells[i]`` holds the 4 vectors (T,) that the cubic
    Hermite interpolant on cell ``[u_i, u_(i+1)]`` combines: ``b_i``, ``h db/du_i``,
    ``b_(i+1)``, ``h db/du_(i+1)``, where ``b = d model / d Ktrans`` (mM per 1/min) at the
    frames.  ``gram[i]`` (4, 4) holds their dot products, ``cpdot[i]`` (4,) their dot products
    with Cp at the frames, so that ``b . b``, ``b . db/du``, ``b . Cp`` ... at any ``u`` cost a
    few multiply-adds per voxel.  ``coarse`` are the node indices scanned for the start.
    """

    u0: float
    h: float
    n: int
    nodes: Any  # (n, T) b at the nodes
    cells: Any  # (n - 1, 4, T)
    gram: Any  # (n - 1, 4, 4)
    cpdot: Any  # (n - 1, 4)
    coarse: Any  # (n_coarse,) node indices
    coarse_step: int  # nodes between two coarse nodes
    kep_lo: float  # the bounds the table spans (1/min), returned exactly at the ends
    kep_hi: float


def kep_table(d: Design, kep_lo: float, kep_hi: float, n_nodes: int | None = None) -> KepTable:
    """Tabulate the Tofts basis of `d` over ``[kep_lo, kep_hi]`` (1/min).

    `n_nodes` defaults to 2049 for up to 256 frames, fewer for long curves (the table holds
    ``32 n_nodes T`` bytes of cells; 513 nodes keep the interpolant within ~2e-9).
    """
    nt = d.t.size
    if n_nodes is None:
        n_nodes = FINE_NODES if nt <= 256 else int(np.clip(2**23 // (32 * nt), 257, FINE_NODES))
    coarse_step = max(1, (n_nodes - 1) // COARSE_CELLS)
    n_nodes = (n_nodes - 1) // coarse_step * coarse_step + 1
    u0, u1 = float(np.log(kep_lo)), float(np.log(kep_hi))
    u = np.linspace(u0, u1, n_nodes)
    h = (u1 - u0) / (n_nodes - 1)
    kep = np.exp(u)
    kep[0], kep[-1] = kep_lo, kep_hi
    g, gk = _np.exp_conv(d.tm, d.am, kep / 60.0, d.idx, deriv=True)
    b = g / 60.0
    assert gk is not None
    bu = gk * (kep / 3600.0)[:, None]
    cells = np.stack([b[:-1], h * bu[:-1], b[1:], h * bu[1:]], axis=1)
    gram = np.einsum("cit,cjt->cij", cells, cells)
    cpdot = cells @ d.cp
    return KepTable(
        u0=u0,
        h=h,
        n=n_nodes,
        nodes=b,
        cells=np.ascontiguousarray(cells),
        gram=gram,
        cpdot=cpdot,
        coarse=np.arange(0, n_nodes, coarse_step),
        coarse_step=coarse_step,
        kep_lo=float(kep_lo),
        kep_hi=float(kep_hi),
    )


def table_as(tab: KepTable, convert: Callable[[np.ndarray], Any]) -> KepTable:
    """`tab` with its arrays passed through `convert` (e.g. to torch tensors on a device)."""
    return replace(
        tab, **{f: convert(getattr(tab, f)) for f in ("nodes", "cells", "gram", "cpdot", "coarse")}
    )


def _hermite(s: Any) -> tuple[Any, Any, Any]:
    """Cubic Hermite weights (V, 4) for [b_i, h b'_i, b_(i+1), h b'_(i+1)] and their 1st, 2nd s-derivatives."""
    xp = _ns(s)
    s2 = s * s
    s3 = s2 * s
    w = xp.stack([2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s, 3 * s2 - 2 * s3, s3 - s2], axis=-1)
    wd = xp.stack([6 * s2 - 6 * s, 3 * s2 - 4 * s + 1, 6 * s - 6 * s2, 3 * s2 - 2 * s], axis=-1)
    wdd = xp.stack([12 * s - 6, 6 * s - 4, 6 - 12 * s, 6 * s - 2], axis=-1)
    return w, wd, wdd


def _locate(tab: KepTable, u: Any) -> tuple[Any, Any]:
    """Cell index (int64) and position in the cell (0 .. 1) of each ``u`` in the table."""
    xp = _ns(u)
    x = (u - tab.u0) / tab.h
    i = xp.minimum(xp.maximum(xp.astype(xp.floor(x), xp.int64), 0), tab.n - 2)
    return i, xp.minimum(xp.maximum(x - xp.astype(i, x.dtype), 0.0), 1.0)


def basis(tab: KepTable, kep: Any, deriv: bool = True) -> tuple[Any, Any]:
    """Interpolated ``b`` (V, T) and ``db/dkep`` (V, T; None unless `deriv`) at `kep` (1/min, inside the table)."""
    xp = _ns(kep)
    i, s = _locate(tab, xp.log(kep))
    w, wd, _ = _hermite(s)
    if deriv:
        wd /= (tab.h * kep)[:, None]
    nv, nt = kep.shape[0], tab.cells.shape[-1]
    b = xp.empty((nv, nt), dtype=w.dtype, device=device(kep))
    bk = xp.empty((nv, nt), dtype=w.dtype, device=device(kep)) if deriv else None
    # in pieces whose (V, 4, T) gather of the table stays in cache (NumPy; one piece on others),
    # written into the outputs
    step = _piece(kep, PROFILE_PIECE)
    for a in range(0, nv, step):
        sl = slice(a, a + step)
        rows = tab.cells[i[sl]]
        _ein("vc,vct->vt", w[sl], rows, out=b[sl])
        if bk is not None:
            _ein("vc,vct->vt", wd[sl], rows, out=bk[sl])
    return b, bk


def _lin(
    P: Any, Q: Any, C: Any, yc: Any, cc: float, kmax: Any, bd: Bounds, extended: bool
) -> tuple[Any, Any, Any, Any]:
    """Bounded linear least squares of Ktrans [and vp] for a fixed kep (the projection).

    Minimises ``-2 (K P + v yc) + K^2 Q + 2 K v C + v^2 cc`` over ``bd.ktrans[0] <= K <= kmax``
    (and ``bd.vp``): the unconstrained optimum when feasible, else the best of the four edges
    (exact for this convex quadratic).  Returns K, v (zeros for Tofts), whether K and v are
    free (strictly inside their bounds).
    """
    xp = _ns(P)
    klo = bd.ktrans[0]
    safe_q = xp.where(Q > 0, Q, 1.0)
    if not extended or cc <= 0:  # extended with Cp = 0 at every frame: vp does not enter
        k = xp.minimum(xp.maximum(xp.where(Q > 0, P / safe_q, klo), klo), kmax)
        v = xp.full_like(k, bd.vp[0] if extended else 0.0)
        return k, v, (k > klo) & (k < kmax), xp.zeros(k.shape, dtype=xp.bool, device=device(k))
    vlo, vhi = bd.vp

    def cost(k: Any, v: Any) -> Any:
        return -2 * (k * P + v * yc) + k * k * Q + 2 * k * v * C + v * v * cc

    det = Q * cc - C * C
    ok = det > 1e-12 * xp.maximum(Q * cc, 1e-300)
    sd = xp.where(ok, det, 1.0)
    k0 = (P * cc - C * yc) / sd
    v0 = (Q * yc - C * P) / sd
    feas = ok & (k0 >= klo) & (k0 <= kmax) & (v0 >= vlo) & (v0 <= vhi)
    best_k = xp.where(feas, k0, 0.0)
    best_v = xp.where(feas, v0, 0.0)
    best_c = xp.where(feas, cost(best_k, best_v), xp.inf)
    for kb in (xp.full_like(P, klo), kmax):
        v = xp.minimum(xp.maximum((yc - kb * C) / cc, vlo), vhi)
        c = cost(kb, v)
        better = ~feas & (c < best_c)
        best_k, best_v, best_c = (
            xp.where(better, kb, best_k),
            xp.where(better, v, best_v),
            xp.where(better, c, best_c),
        )
    for vb in (vlo, vhi):
        k = xp.minimum(xp.maximum(xp.where(Q > 0, (P - vb * C) / safe_q, klo), klo), kmax)
        c = cost(k, xp.full_like(k, vb))
        better = ~feas & (c < best_c)
        best_k, best_v, best_c = (
            xp.where(better, k, best_k),
            xp.where(better, vb, best_v),
            xp.where(better, c, best_c),
        )
    kfree = (best_k > klo) & (best_k < kmax)
    vfree = (best_v > vlo) & (best_v < vhi)
    return best_k, best_v, kfree, vfree


class _Profile:
    """The variable-projection state of a batch at ``u``: linear parameters, RSS, Newton terms.

    ``phi(u)`` is the RSS minimised over the linear parameters within their bounds.  With
    ``res`` the residual, ``e = d model / du`` and ``e2 = d2 model / du2`` at fixed free
    linear parameters (a Ktrans held at ``ve_max kep`` follows kep, one held at a constant
    bound does not), ``phi'/2 = -res . e`` and ``phi''/2 = |e|^2 - res . e2 - z^T A^-1 z``
    over the free linear parameters j (``A`` their Gram matrix, ``z_j = res . d2m/(du dx_j) -
    e . dm/dx_j``).  ``curv`` is that exact curvature where it is positive, else Kaufman's
    Gauss-Newton one (``|e|^2`` minus its projection on the free columns, >= 0).
    """

    def __init__(
        self,
        tab: KepTable,
        y: Any,
        yy: Any,
        yc: Any,
        cc: float,
        u: Any,
        extended: bool,
        bd: Bounds,
    ) -> None:
        xp = _ns(y)
        i, s = _locate(tab, u)
        w, wd, wdd = _hermite(s)
        wd /= tab.h
        wdd /= tab.h * tab.h
        wall = xp.stack([w, wd, wdd], axis=1)  # (V, 3, 4)
        yr = _ein("vt,vct->vc", y, tab.cells[i])  # y . cell vectors (V, 4)
        gram = tab.gram[i]  # (V, 4, 4), gathered once
        gw = _ein("vij,vj->vi", gram, w)  # (V, 4)
        gwd = _ein("vij,vj->vi", gram, wd)
        P, Pd, Pdd = _ein("vkc,vc->kv", wall, yr)  # y . b, y . b', y . b''
        Q, Qd, Qbdd = _ein("vkc,vc->kv", wall, gw)  # b . b, b . b', b . b''
        Qdd = _ein("vc,vc->v", wd, gwd)  # b' . b'
        if extended:
            C, Cd, Cdd = _ein("vkc,vc->kv", wall, tab.cpdot[i])  # b . Cp, b' . Cp, b'' . Cp
        else:  # vp = 0: Cp does not enter
            C = Cd = Cdd = xp.zeros_like(P)
        kep = xp.exp(u)
        kmax_ve = bd.ve_max * kep
        kmax = xp.minimum(kmax_ve, bd.ktrans[1])
        k, v, kfree, vfree = _lin(P, Q, C, yc, cc, kmax, bd, extended)
        # signed violations of the bounds by the unconstrained linear optimum (> 0: violated);
        # where one changes sign between two points, the active set (and phi'') changes
        with np.errstate(divide="ignore", invalid="ignore"):
            k0 = xp.where(Q > 0, P / xp.where(Q > 0, Q, 1.0), 0.0)
            if extended and cc > 0:
                det = Q * cc - C * C
                okd = det > 1e-12 * xp.maximum(Q * cc, 1e-300)
                k0 = xp.where(okd, (P * cc - C * yc) / xp.where(okd, det, 1.0), k0)
                v0 = (yc - k0 * C) / cc
                self.viol = xp.stack([k0 - kmax, bd.ktrans[0] - k0, bd.vp[0] - v0, v0 - bd.vp[1]], axis=-1)
            else:
                self.viol = xp.stack([k0 - kmax, bd.ktrans[0] - k0], axis=-1)
        kv = xp.astype((k >= kmax) & (kmax_ve < bd.ktrans[1]), y.dtype)  # K follows ve_max kep
        self.k, self.v = k, v
        if not extended:  # vp = 0 and Cp absent: the terms below without their zero parts
            self._tofts(k, P, Pd, Pdd, Q, Qd, Qbdd, Qdd, kv, kfree, yy)
            return
        self.phi = yy - 2 * (k * P + v * yc) + k * k * Q + 2 * k * v * C + v * v * cc
        rb = P - k * Q - v * C  # res . b
        rbd = Pd - k * Qd - v * Cd  # res . b'
        rbdd = Pdd - k * Qbdd - v * Cdd  # res . b''
        r_e = k * (rbd + kv * rb)
        r_e2 = k * (rbdd + kv * (rb + 2 * rbd))
        ee = k * k * (Qdd + 2 * kv * Qd + kv * Q)
        eb = k * (Qd + kv * Q)  # e . b
        ec = k * (Cd + kv * C)  # e . Cp
        fk, fv = xp.astype(kfree, y.dtype), xp.astype(vfree, y.dtype)
        a11 = xp.where(kfree, Q, 1.0)
        a22 = xp.where(vfree, xp.full_like(Q, cc), 1.0)
        a12 = fk * fv * C
        det = a11 * a22 - a12 * a12
        ok = det > 0
        inv = xp.where(ok, 1.0 / xp.where(ok, det, 1.0), 0.0)

        def quad(x1: Any, x2: Any) -> Any:
            return (a22 * x1 * x1 - 2 * a12 * x1 * x2 + a11 * x2 * x2) * inv

        gn = xp.maximum(ee - quad(fk * eb, fv * ec), 0.0)
        exact = ee - r_e2 - quad(fk * (rbd - eb), -fv * ec)
        self.grad = -r_e  # (d phi / du) / 2
        self.curv = xp.where(exact > 0, exact, gn)  # (d2 phi / du2) / 2

    def _tofts(
        self, k: Any, P: Any, Pd: Any, Pdd: Any, Q: Any, Qd: Any, Qbdd: Any, Qdd: Any, *rest: Any
    ) -> None:
        """Phi, grad and curv of the Tofts model (no vp).

        The same values as the general formulas with ``v = C = 0`` (the dropped terms are
        exact zeros).
        """
        kv, kfree, yy = rest
        xp = _ns(k)
        self.phi = yy - 2 * (k * P) + k * k * Q
        rb = P - k * Q
        rbd = Pd - k * Qd
        rbdd = Pdd - k * Qbdd
        r_e = k * (rbd + kv * rb)
        r_e2 = k * (rbdd + kv * (rb + 2 * rbd))
        ee = k * k * (Qdd + 2 * kv * Qd + kv * Q)
        eb = k * (Qd + kv * Q)
        fk = xp.astype(kfree, k.dtype)
        a11 = xp.where(kfree, Q, 1.0)
        ok = a11 > 0
        inv = xp.where(ok, 1.0 / xp.where(ok, a11, 1.0), 0.0)
        x1 = fk * eb
        gn = xp.maximum(ee - x1 * x1 * inv, 0.0)
        x1 = fk * (rbd - eb)
        exact = ee - r_e2 - x1 * x1 * inv
        self.grad = -r_e
        self.curv = xp.where(exact > 0, exact, gn)


#: Voxels per piece of the coarse scan: its (V, n_coarse) work arrays stay in cache (and are
#: not freshly mapped, page by page, as arrays of several MB are).
COARSE_PIECE = 2048


#: Voxels per piece of a :class:`_Profile` evaluation (its (V, 4, T) gathers stay in cache).
PROFILE_PIECE = 4096


class _Pieces:
    """The :class:`_Profile` arrays of consecutive pieces of voxels, concatenated."""

    def __init__(self, parts: list[_Profile]) -> None:
        for name in ("k", "v", "phi", "grad", "curv", "viol"):
            setattr(self, name, _ns(parts[0].k).concat([getattr(q, name) for q in parts]))


def _profile(tab: KepTable, y: Any, per_voxel: tuple[Any, Any, Any], *shared: Any) -> Any:
    """:class:`_Profile` of the voxels, in pieces of :data:`PROFILE_PIECE` (each voxel's own).

    `per_voxel` is ``(yy, yc, u)``; `shared` the remaining arguments ``cc, extended, bd``.
    NumPy arrays only are cut in pieces (:func:`_piece`).
    """
    yy, yc, u = per_voxel
    nv, step = y.shape[0], _piece(y, PROFILE_PIECE)
    if nv <= step:
        return _Profile(tab, y, yy, yc, shared[0], u, *shared[1:])
    sl = [slice(s, s + step) for s in range(0, nv, step)]
    return _Pieces([_Profile(tab, y[i], yy[i], yc[i], shared[0], u[i], *shared[1:]) for i in sl])


def coarse_start(tab: KepTable, y: Any, cp: Any, extended: bool, bd: Bounds) -> Any:
    """``u`` of the best coarse node per voxel (one (V, T) x (T, n_coarse) product).

    The linear parameters at each node are those of :func:`grid_start` (Ktrans clipped into
    its bounds, then the best clipped vp): a start, refined exactly by :func:`varpro`.
    NumPy voxels are scanned in pieces of :data:`COARSE_PIECE` (each voxel's result is its own).
    """
    nv, step = y.shape[0], _piece(y, COARSE_PIECE)
    if nv > step:
        return np.concatenate(
            [_coarse_piece(tab, y[s : s + step], cp, extended, bd) for s in range(0, nv, step)]
        )
    return _coarse_piece(tab, y, cp, extended, bd)


def _coarse_piece(tab: KepTable, y: Any, cp: Any, extended: bool, bd: Bounds) -> Any:
    """:func:`coarse_start` on one piece of voxels."""
    xp = _ns(y)
    nodes = tab.nodes[tab.coarse]  # (G, T)
    kep = xp.exp(tab.u0 + tab.h * xp.astype(tab.coarse, y.dtype))
    P = _matmul(y, nodes.T)  # (V, G)
    Q = _ein("gt,gt->g", nodes, nodes)[None, :]
    kmax = xp.minimum(bd.ve_max * kep, bd.ktrans[1])[None, :]
    klo = bd.ktrans[0]
    k = P / xp.where(Q > 0, Q, 1.0)
    if not extended:
        k = xp.minimum(xp.maximum(k, klo), kmax)
        cost = (k * Q - 2 * P) * k
    else:
        cc = float(cp @ cp)
        yc = _matmul(y, cp)[:, None]
        C = _matmul(nodes, cp)[None, :]
        det = Q * cc - C * C
        okd = det > 1e-12 * xp.maximum(Q * cc, 1e-300)
        k = xp.where(okd, (P * cc - C * yc) / xp.where(okd, det, 1.0), k)
        k = xp.minimum(xp.maximum(k, klo), kmax)
        if cc > 0:
            v = xp.minimum(xp.maximum((yc - k * C) / cc, bd.vp[0]), bd.vp[1])
        else:
            v = xp.full_like(k, bd.vp[0])
        cost = k * (k * Q - 2 * P) + v * (v * cc - 2 * yc) + 2 * k * v * C
    j = xp.argmin(cost, axis=1)
    u = tab.u0 + tab.h * xp.astype(tab.coarse[j], y.dtype)
    # vertex of the parabola through the best node and its neighbours (interior nodes)
    g = tab.coarse.shape[0]
    jm, jp = xp.maximum(j - 1, 0), xp.minimum(j + 1, g - 1)
    rows = xp.arange(y.shape[0], device=device(y))
    cm, c0, cp_ = cost[rows, jm], cost[rows, j], cost[rows, jp]
    curv = cm - 2.0 * c0 + cp_
    inner = (j > 0) & (j < g - 1) & (curv > 0)
    hc = tab.h * tab.coarse_step if g > 1 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        off = xp.where(inner, 0.5 * hc * (cm - cp_) / xp.where(inner, curv, 1.0), 0.0)
    return u + xp.minimum(xp.maximum(off, -0.5 * hc), 0.5 * hc)


#: Newton steps (in u = ln kep) at most this long are taken without a new evaluation: their
#: error is ~ step^2 (~1e-8 relative in kep; within 1.2e-7 of the fits of the former 1e-5
#: threshold on curves with parameters on their bounds), and the step is undone when the
#: RSS rose (:data:`PHI_ROUNDING`).  3e-4 was too long: a step that short can still sit at a
#: kink of phi (a Ktrans bound turning active) far from the minimum.
LAST_STEP = 1e-4

#: Relative rounding (of |y|^2) of the profile's RSS formula ``|y|^2 - 2 K y.b + K^2 b.b ...``.
PHI_ROUNDING = 1e-12


def _shrunk_radius(f1: Any, step: Any, pa: Any, ua: Any, un: Any, sub: Any, va: Any) -> Any:
    """:func:`varpro`'s trust radius after a rejected step (`f1`: d phi along the step at 0).

    The minimum of the quadratic through phi(0), phi'(0) and phi(step), kept within [0.1, 0.5]
    of the failed step; or the trial point's own Newton step when it lands back inside the
    segment (a minimum just past a kink of phi, where a held Ktrans starts to follow
    ve_max kep); or just past the first bound that the linear optimum crosses along the step
    (`va`: the bound violations at the start, ``sub.viol`` at the trial point).
    """
    xp = _ns(f1)
    rise = xp.maximum(sub.phi - pa - f1, 1e-300)
    t = xp.minimum(xp.maximum(-f1 / (2.0 * rise), 0.1), 0.5)
    shrink = t * xp.abs(step)
    with np.errstate(divide="ignore", invalid="ignore"):
        back = (un - sub.grad / sub.curv - ua) / step
    inside = xp.isfinite(back) & (back > 0.0) & (back < 1.0)
    shrink = xp.where(inside, back * xp.abs(step), shrink)
    vn = sub.viol
    cross = (va <= 0) != (vn <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = xp.min(xp.where(cross, va / (va - vn), xp.inf), axis=1)
    kink = xp.isfinite(tc) & (tc > 0) & (tc < 1)
    tc = xp.where(kink, tc, 0.0)
    return xp.where(kink, (tc + 1e-3 * (1.0 - tc)) * xp.abs(step), shrink)


def _fill_rest(
    tab: KepTable,
    cp: Any,
    y: Any,
    extended: bool,
    params: tuple[Any, Any, Any],
    todo: Any,
    out: tuple[Any, Any, Any],
) -> None:
    """:func:`varpro`'s RSS and basis (and its kep derivative) at the final point, in place.

    For the voxels `todo` (those whose trial-point values were not kept), from `params`
    ``(ktrans, kep, vp)`` into `out` ``(rss, b, bk)`` (`bk` None: not wanted).
    """
    k, kep, v = params
    rss, b, bk = out
    nv = y.shape[0]
    rest = _ns(y).nonzero(todo)[0]
    if rest.shape[0]:
        every = rest.shape[0] == nv
        kr = k if every else k[rest]
        br, bkr = basis(tab, kep if every else kep[rest], deriv=bk is not None)
        res = (y if every else y[rest]) - kr[:, None] * br
        if extended:
            res -= (v if every else v[rest])[:, None] * cp[None, :]
        rss[rest] = _ein("vt,vt->v", res, res)
        b[rest] = br
        if bk is not None:
            bk[rest] = bkr


def _finish(
    tab: KepTable,
    cp: Any,
    y: Any,
    extended: bool,
    bd: Bounds,
    point: tuple[Any, Any, Any, Any],
    sums: tuple[Any, Any],
    with_basis: bool,
) -> tuple[Any, Any, Any, Any]:
    """:func:`varpro`'s result: params, RSS, ``b`` and ``db/dkep`` (None unless `with_basis`).

    `point` is ``(u, u_new, k, v)``: the last evaluated ``u`` with its linear parameters, and
    where the result is assembled (``u`` plus an unevaluated last Newton step, kept unless the
    RSS there is above phi beyond rounding); `sums` is ``(phi, |y|^2)`` at ``u``.  ``u``, ``k``
    and ``v`` are updated in place.
    """
    xp, dev = _ns(y), device(y)
    u, u_new, k, v = point
    phi, yy = sums
    moved = xp.nonzero(u_new != u)[0]
    nv, nt = y.shape
    ulo, uhi = tab.u0, tab.u0 + tab.h * (tab.n - 1)
    rss = xp.empty((nv,), dtype=y.dtype, device=dev)
    b = xp.empty((nv, nt), dtype=y.dtype, device=dev)
    bk = xp.empty((nv, nt), dtype=y.dtype, device=dev) if with_basis else None
    known = xp.zeros((nv,), dtype=xp.bool, device=dev)  # b [, bk] and rss already at the final point
    if moved.shape[0]:
        um = u_new[moved]
        km, vm, rm, bm, bkm = _assemble(tab, cp, y[moved], um, extended, bd, deriv=with_basis)
        # the unevaluated point is kept unless its explicit RSS is above the profile's phi at
        # the last evaluated point by more than that formula's rounding (it cancels at
        # ~1e-16 |y|^2): a point worse beyond rounding is undone
        better = rm <= phi[moved] + PHI_ROUNDING * yy[moved]
        ib = moved[better]
        u[ib], k[ib], v[ib] = um[better], km[better], vm[better]
        # the trial point's basis and RSS are the final ones (kep = exp(u) strictly inside)
        keep = better & (um > ulo) & (um < uhi)
        ik = moved[keep]
        rss[ik], b[ik] = rm[keep], bm[keep]
        if bk is not None:
            bk[ik] = bkm[keep]
        known[ik] = True
    kep = xp.exp(u)
    kep = xp.where(u <= ulo, tab.kep_lo, xp.where(u >= uhi, tab.kep_hi, kep))
    cols = [k, kep] + ([v] if extended else [])
    p = xp.stack(cols, axis=-1)
    _fill_rest(tab, cp, y, extended, (k, kep, v), ~known, (rss, b, bk))
    return p, rss, b, bk


def varpro(
    tab: KepTable,
    cp: Any,
    y: Any,
    extended: bool,
    bd: Bounds,
    max_iter: int = 100,
    xtol: float = 1e-10,
    gtol: float = 1e-10,
    with_basis: bool = False,
) -> tuple[Any, ...]:
    """Bounded NLLS of the (extended) Tofts model by variable projection; params, rss, converged.

    `tab` must span the feasible kep range (:func:`kep_table` with ``_kep_lo(bd), bd.kep[1]``)
    and `cp` is Cp at the frames.  Each voxel starts at its best coarse node
    (:func:`coarse_start`) and iterates a damped Gauss-Newton step in ``u = ln kep`` on the
    reduced RSS ``phi(u) = min over Ktrans [, vp] of RSS`` (Kaufman's approximation of the
    curvature, the linear parameters re-solved within their bounds at every ``u`` by
    :func:`_lin`), a step accepted only when it lowers ``phi`` (the damping grows 10x on
    rejection, shrinks 3x on acceptance), ``u`` clipped to the kep bounds.  A voxel has
    converged when a step is <= `xtol` in ``u`` (relative in kep), when ``|phi'|`` is <= `gtol`
    times ``sqrt(curvature phi)`` (the cosine test), when kep sits on a bound with ``phi``
    rising inwards, when the curve is ~0, or when the model does not depend on kep
    (Ktrans = 0: kep is not identifiable and stays at the start).  With `with_basis` the
    interpolated ``b`` and ``db/dkep`` at the returned kep (what :func:`basis` gives) are
    returned fourth and fifth (the fit quality reuses them).
    """
    xp, dev = _ns(y), device(y)
    nv = y.shape[0]
    ulo, uhi = tab.u0, tab.u0 + tab.h * (tab.n - 1)
    yy = _ein("vt,vt->v", y, y)
    cc = float(cp @ cp) if extended else 0.0
    yc = _matmul(y, cp) if extended else xp.zeros((nv,), dtype=y.dtype, device=dev)
    u = coarse_start(tab, y, cp, extended, bd)
    st = _profile(tab, y, (yy, yc, u), cc, extended, bd)
    k, v, phi, grad, curv, viol = st.k, st.v, st.phi, st.grad, st.curv, st.viol
    radius = xp.full((nv,), 2.0 * tab.h * tab.coarse_step, dtype=y.dtype, device=dev)
    conv = xp.zeros((nv,), dtype=xp.bool, device=dev)
    u_new = xp.asarray(u, copy=True)  # where the result is assembled (u, or u plus a last Newton step)
    act = xp.arange(nv, device=dev)
    for _ in range(max_iter):
        ga, ca, ua, pa = grad[act], curv[act], u[act], phi[act]
        ysq = yy[act]
        done = (
            (ga * ga <= gtol * gtol * ca * xp.maximum(pa, 0.0))
            | (ca <= 1e-30 * xp.maximum(ysq, 1e-300))
            | ((ua <= ulo) & (ga > 0))
            | ((ua >= uhi) & (ga < 0))
            | (pa <= 1e-24 * (1.0 + ysq))
        )
        # close to the minimum the Newton step is taken without a new evaluation: its error
        # is ~ step^2 (checked, and undone if phi rose, when the result is assembled)
        last = ~done & (xp.abs(ga) <= LAST_STEP * ca) & ~((ua <= ulo) | (ua >= uhi))
        u_new[act[last]] = xp.minimum(xp.maximum(ua[last] - ga[last] / ca[last], ulo), uhi)
        done |= last
        conv[act[done]] = True
        act = act[~done]
        if act.shape[0] == 0:
            break
        ga, ca, ua, pa, ra = grad[act], curv[act], u[act], phi[act], radius[act]
        step = xp.minimum(xp.maximum(-ga / ca, -ra), ra)
        un = xp.minimum(xp.maximum(ua + step, ulo), uhi)
        step = un - ua
        sub = _profile(tab, y[act], (yy[act], yc[act], un), cc, extended, bd)
        acc = sub.phi <= pa
        ia = act[acc]
        u[ia], k[ia], v[ia], phi[ia] = un[acc], sub.k[acc], sub.v[acc], sub.phi[acc]
        u_new[ia] = un[acc]
        grad[ia], curv[ia], viol[ia] = sub.grad[acc], sub.curv[acc], sub.viol[acc]
        # trust radius: grows on success; on failure the minimum of the quadratic through
        # phi(0), phi'(0) and phi(step), kept within [0.1, 0.5] of the failed step
        f1 = 2.0 * ga * step  # d phi along the step, at 0
        shrink = _shrunk_radius(f1, step, pa, ua, un, sub, viol[act])
        radius[act] = xp.where(acc, xp.maximum(ra, 2.0 * xp.abs(step)), shrink)
        # converged: a step below xtol, or a rejected step whose predicted gain is at the
        # rounding level of phi
        # (phi cannot rank points that close: the Newton point is then taken, unevaluated)
        flat = ~acc & (-f1 <= 1e-13 * xp.maximum(pa, 1e-300))
        u_new[act[flat]] = un[flat]
        stop = (xp.abs(step) <= xtol) | flat
        conv[act[stop]] = True
        act = act[~stop]
    p, rss, b, bk = _finish(tab, cp, y, extended, bd, (u, u_new, k, v), (phi, yy), with_basis)
    if with_basis:
        assert bk is not None
        return p, rss, conv & _finite_rows(p), b, bk
    return p, rss, conv & _finite_rows(p)


# ----------------------------------------------------------------------------------------
# Block drivers, fit quality
# ----------------------------------------------------------------------------------------

_TABLES: dict[tuple[bytes, int, int, float, float], KepTable] = {}
_TABLES_LOCK = threading.Lock()


def table_for(d: Design, bd: Bounds) -> KepTable:
    """The :class:`KepTable` of `d` over the feasible kep range of `bd` (cached, 4 entries).

    Keyed by the content of the design (AIF grid, AIF, frame positions), so calls with the
    same AIF and frames share one table (a table is a pure function of that content).
    """
    grid = b"".join(np.ascontiguousarray(x).tobytes() for x in (d.tm, d.am, d.idx))
    key = (grid, d.tm.size, d.idx.size, _kep_lo(bd), float(bd.kep[1]))
    with _TABLES_LOCK:
        hit = _TABLES.get(key)
        if hit is not None:
            return hit
    tab = kep_table(d, key[3], key[4])
    with _TABLES_LOCK:
        if len(_TABLES) >= 4:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = tab
    return tab


def fit_block(
    d: Design,
    y: np.ndarray,
    extended: bool,
    method: str,
    bd: Bounds,
    max_iter: int,
    tab: KepTable | None = None,
    llsq_rss: bool = True,
    with_basis: bool = False,
) -> tuple[Any, ...]:
    """Fit a (V, T) block of finite curves; returns params (V, n_par), rss, success.

    NLLS: :func:`varpro` on the table of :func:`table_for`; voxels it leaves unconverged
    (rare), voxels fitted to better than 1e-6 of their norm (noise-free curves, where the
    table's ~1e-11 error would show in the parameters) and every voxel when the curves are
    too long for a table of :data:`FINE_NODES` nodes (> 256 frames) are handed to the
    exact-model :func:`lm` from where it stopped (it keeps the better of the two).  `tab`:
    the table of :func:`kep_table` for `d` over the feasible kep range of `bd` when the caller
    holds it (default: :func:`table_for`).  With `with_basis` (NLLS only) a fourth item is
    ``(b, bk, stale)``: the basis and its kep-derivative at the fitted kep from :func:`varpro`
    (for :func:`quality`), ``stale`` the voxels whose parameters the LM polish changed since.
    """
    if method == "llsq":
        p_ls = llsq(d, y, extended)
        ok = _finite_rows(p_ls) & (p_ls[:, 0] >= 0) & (p_ls[:, 1] > 0)
        rss = np.full(y.shape[0], np.nan)
        if ok.any() and llsq_rss:  # else the caller fills it (:func:`quality` with fill_rss)
            rss[ok] = _rss(d, y[ok], p_ls[ok], extended, bd)
        return p_ls, rss, ok
    if tab is None:
        tab = table_for(d, bd)
    vp_out = varpro(tab, d.cp, y, extended, bd, max_iter=max_iter, with_basis=with_basis)
    p, rss, conv = vp_out[:3]
    stale = polish(d, y, (p, rss, conv), tab.n, extended, bd, max_iter)
    if with_basis:
        return p, rss, conv, (vp_out[3], vp_out[4], stale)
    return p, rss, conv


def polish(
    d: Any, y: Any, fit: tuple[Any, Any, Any], n_nodes: int, extended: bool, bd: Bounds, max_iter: int
) -> Any:
    """:func:`lm` on the exact model after :func:`varpro`, in place; returns the voxels it changed.

    The table's interpolation error (~1e-11 of the peak) is far below any noise, but not below
    the residual of a noise-free curve: those (rss < 1e-12 |y|^2), the unconverged and, for long
    curves (a table of fewer than :data:`FINE_NODES` `n_nodes`), every voxel are polished from
    where varpro stopped, the better of the two kept.  `fit` is varpro's ``(params, rss,
    converged)`` of `y`, written in place; arrays of any kind (`d` as for :func:`model`).
    """
    xp = _ns(y)
    p, rss, conv = fit
    exact = ~conv | (rss < 1e-12 * _ein("vt,vt->v", y, y))
    bad = xp.nonzero(exact)[0] if n_nodes >= FINE_NODES else xp.arange(y.shape[0], device=device(y))
    if bad.shape[0] == 0:
        return bad
    p2, rss2, conv2 = lm(d, y[bad], p[bad], extended, bd, max_iter=max_iter)
    better = rss2 <= rss[bad]
    p[bad[better]], rss[bad[better]] = p2[better], rss2[better]
    conv[bad] = conv2 & _finite_rows(p[bad])
    return bad[better]


def _rss(d: Design, y: np.ndarray, p: np.ndarray, extended: bool, bd: Bounds) -> np.ndarray:
    """RSS of the exact model at `p` (the table inside the kep bounds, the recursion outside)."""
    b = _basis_any(d, p[:, 1], bd, deriv=False)[0]
    res = y - p[:, 0:1] * b
    if extended:
        res -= p[:, 2:3] * d.cp[None, :]
    return np.einsum("vt,vt->v", res, res)


def _basis_any(d: Design, kep: np.ndarray, bd: Bounds, deriv: bool = True) -> tuple[np.ndarray, Any]:
    """``b`` and ``db/dkep`` at any kep > 0 (1/min): the table where it spans kep, else exact.

    Without `deriv` the second array is only filled outside the table (do not use it).
    """
    tab = table_for(d, bd)
    inside = (kep >= tab.kep_lo) & (kep <= tab.kep_hi)
    if inside.all():
        return basis(tab, kep, deriv)
    b = np.empty((kep.size, d.t.size))
    bk = np.empty_like(b)
    if inside.any():
        bi, bki = basis(tab, kep[inside], deriv)
        b[inside] = bi
        if deriv:
            bk[inside] = bki
    out = ~inside
    g, gk = _np.exp_conv(d.tm, d.am, np.abs(kep[out]) / 60.0, d.idx, deriv=True)
    b[out], bk[out] = g / 60.0, gk / 3600.0  # type: ignore[operator]
    return b, bk


#: Bits of the ``at_bound`` flag (CF ``flag_masks``), in this order.
AT_BOUND_BITS = ("ktrans", "kep", "vp", "ve")


def _at_bound(p: np.ndarray, ok: np.ndarray, extended: bool, bd: Bounds) -> np.ndarray:
    """:func:`quality`'s at-bound flag (int64, bits :data:`AT_BOUND_BITS`; 0 where not `ok`)."""
    kt, kep = p[:, 0], p[:, 1]
    tol = 1e-9
    flag = np.zeros(p.shape[0], dtype=np.int64)
    lo_k, hi_k = bd.ktrans
    flag |= ((kt <= lo_k + tol * max(abs(lo_k), 1e-12)) | (kt >= hi_k * (1 - tol))).astype(np.int64)
    flag |= 2 * ((kep <= _kep_lo(bd) * (1 + tol)) | (kep >= bd.kep[1] * (1 - tol))).astype(np.int64)
    if extended:
        vp = p[:, 2]
        flag |= 4 * ((vp <= bd.vp[0] + tol) | (vp >= bd.vp[1] - tol)).astype(np.int64)
    with np.errstate(invalid="ignore"):
        flag |= 8 * (kt >= bd.ve_max * kep * (1 - tol)).astype(np.int64)
    flag[~ok] = 0
    return flag


def quality(
    d: Design,
    y: np.ndarray,
    p: np.ndarray,
    rss: np.ndarray,
    ok: np.ndarray,
    extended: bool,
    bd: Bounds,
    n_jobs: int | None = None,
    fill_rss: bool = False,
    pre_basis: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Standard errors, R2 and the at-bound flag of fits `p` (V, n_par) of curves `y` (V, T).

    Returns (V, n_par + 3): the SEs of Ktrans, kep [, vp] (1/min, 1), the SE of ve, R2 and the
    at-bound bits (as float).  The SEs are the square roots of the diagonal of
    ``sigma^2 (J^T J)^-1``, ``J`` the Jacobian of the exact model at `p` (the table of
    :func:`table_for` interpolates the convolution and its kep-derivative to ~1e-11) and
    ``sigma^2 = rss / (T - n_par)``; ve's by the delta method on ``ve = Ktrans / kep`` with the
    Ktrans-kep covariance.  NaN where the fit failed (`ok` False), where ``T <= n_par``, or
    where ``J^T J`` is singular (a parameter that does not enter the model, e.g. kep when
    Ktrans = 0).  R2 = 1 - rss / sum((y - mean y)^2), NaN for a constant curve.  Bit i of the
    flag is set when parameter ``AT_BOUND_BITS[i]`` lies on (or, for the unbounded LLSQ,
    beyond) a bound of `bd` (``ve`` when Ktrans >= ve_max kep), within 1e-9 relative.
    Blocks of :data:`_threads.BLOCK` voxels run in :func:`_threads.n_threads` (`n_jobs`) threads.  With
    `fill_rss` (one block only) `rss` is first written in place, for the fitted voxels, as the
    RSS of the exact model at `p` from the basis computed here (the values of :func:`_rss`).
    `pre_basis` (one block only): ``(b, bk, stale)`` of :func:`fit_block` with `with_basis`,
    the basis at ``p[:, 1]`` for all V voxels but the `stale` ones (recomputed here); the
    values are those :func:`_basis_any` gives, so the result is the same, without the
    interpolation.
    """
    nv, npar = p.shape
    if nv > _threads.BLOCK:  # block by block (the (V, 4, T) gathers of the table stay in cache), in threads
        out_all = np.empty((nv, npar + 3))
        table_for(d, bd)  # built once, before the threads

        def run(sl: slice) -> None:
            out_all[sl] = quality(d, y[sl], p[sl], rss[sl], ok[sl], extended, bd)

        _threads.map_blocks(run, nv, n_jobs)
        return out_all
    nt = y.shape[1]
    out = np.full((nv, npar + 3), np.nan)
    kep = p[:, 1]
    good = np.flatnonzero(ok & _finite_rows(p) & (kep > 0))
    pre = None
    if fill_rss and good.size:
        every = good.size == nv
        pre = _basis_any(d, kep if every else kep[good], bd)
        p_fit = p if every else p[good]
        res = pre[0] * p_fit[:, 0:1]
        np.subtract(y if every else y[good], res, out=res)
        if extended:
            res -= p_fit[:, 2:3] * d.cp[None, :]
        rss[good] = np.einsum("vt,vt->v", res, res)
    ym = y - y.mean(axis=1, keepdims=True)
    tss = np.einsum("vt,vt->v", ym, ym)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, npar + 1] = np.where(tss > 0, 1.0 - rss / tss, np.nan)
    out[:, npar + 2] = _at_bound(p, ok, extended, bd)
    if good.size == 0 or nt <= npar:
        return out
    pg = p[good]
    if pre is None and pre_basis is not None:
        b_all, bk_all, stale = pre_basis
        if stale.size:
            b_all, bk_all = b_all.copy(), bk_all.copy()
            b_all[stale], bk_all[stale] = _basis_any(d, p[stale, 1], bd)
        pre = (b_all, bk_all) if good.size == nv else (b_all[good], bk_all[good])
    b, bk = _basis_any(d, pg[:, 1], bd) if pre is None else pre
    kg, eg = pg[:, 0], pg[:, 1]
    s2 = rss[good] / (nt - npar)
    bb = np.einsum("vt,vt->v", b, b)
    bbk = np.einsum("vt,vt->v", b, bk)
    bkbk = np.einsum("vt,vt->v", bk, bk)
    with np.errstate(divide="ignore", invalid="ignore"):
        if not extended:
            # closed-form inverse of [[b.b, K b.bk], [K b.bk, K^2 bk.bk]]
            det = bb * bkbk - bbk * bbk
            sing = ~(det > 1e-13 * bb * bkbk) | ~(kg > 0)
            inv = s2 / np.where(sing, 1.0, det)
            c00 = inv * bkbk
            c11 = inv * bb / np.where(sing, 1.0, kg * kg)
            c01 = -inv * bbk / np.where(sing, 1.0, kg)
            var = np.stack([c00, c11], axis=-1)
            var[sing] = np.nan
            cov01 = np.where(sing, np.nan, c01)
        else:
            cp = d.cp
            # closed-form inverse of the symmetric 3 x 3 J^T J (its diagonal and the
            # Ktrans-kep entry), with the relative singularity test of :func:`_solve`
            a00, a01, a11 = bb, kg * bbk, kg * kg * bkbk
            a02, a12, a22 = b @ cp, kg * (bk @ cp), float(cp @ cp)
            c00 = a11 * a22 - a12 * a12
            c01 = a02 * a12 - a01 * a22
            c02 = a01 * a12 - a11 * a02
            det = a00 * c00 + a01 * c01 + a02 * c02
            scale = np.maximum.reduce(
                [np.abs(x) for x in (a00, a01, a11, a02, a12)] + [np.full_like(a00, a22)]
            )
            sing = ~(np.abs(det) > 1e-13 * scale**3)
            inv = s2 / np.where(sing, 1.0, det)
            var = np.stack([c00 * inv, (a00 * a22 - a02 * a02) * inv, (a00 * a11 - a01 * a01) * inv], axis=-1)
            var[sing] = np.nan
            cov01 = np.where(sing, np.nan, c01 * inv)
        out[good, :npar] = np.sqrt(np.where(var >= 0, var, np.nan))
        var_ve = (var[:, 0] - 2 * kg / eg * cov01 + (kg / eg) ** 2 * var[:, 1]) / eg**2
        out[good, npar] = np.sqrt(np.where(var_ve >= 0, var_ve, np.nan))
    return out


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
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy backend of ``fit_tofts``: fit (V, T) finite curves block by block, in threads.

    Same contract as the plugin backends (see :mod:`dcemets.kinetics.fitting`); `device` and
    `dtype` are validated by the caller ("cpu", float64) and only accepted for that contract.
    Blocks of :data:`_threads.BLOCK` voxels run in :func:`_threads.n_threads` (`n_jobs`) threads (voxels are
    independent: the result does not depend on the split nor on the number of threads).
    """
    npar = 3 if extended else 2
    nv = y.shape[0]
    params = np.empty((nv, npar))
    rss = np.empty(nv)
    ok = np.empty(nv, dtype=bool)
    if nv == 0:
        return params, rss, ok
    table_for(d, bd)  # built once, before the threads (NLLS; the RSS of LLSQ reads it too)

    def run(sl: slice) -> None:
        params[sl], rss[sl], ok[sl] = fit_block(d, y[sl], extended, method, bd, max_iter)

    _threads.map_blocks(run, nv, n_jobs)
    return params, rss, ok


def fit_numpy_quality(
    y: np.ndarray,
    d: Design,
    extended: bool,
    method: str,
    bd: Bounds,
    max_iter: int,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fit_numpy` then :func:`quality` (after :func:`llsq_no_uptake` for LLSQ), fused.

    One pass of threads over blocks of :data:`_threads.BLOCK` voxels, each block fitted and assessed
    while in cache; the same values as the three calls one after the other.  LLSQ fits whose
    kep lies outside the kep table (the exact convolution, a loop over the AIF samples, is
    needed there) are assessed after the pass, all in one call rather than one per block.
    """
    npar = 3 if extended else 2
    nv = y.shape[0]
    params = np.empty((nv, npar))
    rss = np.empty(nv)
    ok = np.empty(nv, dtype=bool)
    q = np.empty((nv, npar + 3))
    if nv == 0:
        return params, rss, ok, q
    tab = table_for(d, bd)  # built once, before the threads
    llsq = method == "llsq"
    deferred: list[np.ndarray] = []

    def run(sl: slice) -> None:
        yb = y[sl]
        res = fit_block(d, yb, extended, method, bd, max_iter, llsq_rss=False, with_basis=not llsq)
        p, r, o = res[:3]
        oq = o
        if llsq:
            p, r, o = llsq_no_uptake(yb, p, r, o, bd)
            r = np.array(r)  # written by quality below
            with np.errstate(invalid="ignore"):
                off = o & ((p[:, 1] < tab.kep_lo) | (p[:, 1] > tab.kep_hi))
            oq = o & ~off
            if off.any():
                deferred.append(sl.start + np.flatnonzero(off))  # list.append: thread-safe
        q[sl] = quality(d, yb, p, r, oq, extended, bd, fill_rss=llsq, pre_basis=None if llsq else res[3])
        params[sl], rss[sl], ok[sl] = p, r, o

    _threads.map_blocks(run, nv, n_jobs)
    if deferred:
        idx = np.sort(np.concatenate(deferred))
        for s in range(0, idx.size, _threads.BLOCK):
            ii = idx[s : s + _threads.BLOCK]
            r = rss[ii]  # a copy, written by quality
            q[ii] = quality(d, y[ii], params[ii], r, ok[ii], extended, bd, fill_rss=True)
            rss[ii] = r
    return params, rss, ok, q


#: A block fitter: finite (V, T) float64 curves -> params (V, n_par), rss (V,), success (V,)
#: [, extra per-voxel columns (V, n_extra)].
FitCurves = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def fit(
    ct: np.ndarray, npar: int, fit_curves: FitCurves, n_extra: int = 0, sel: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Fit curves ct (..., T) with `fit_curves`; NaN curves, and those outside `sel`, are skipped.

    `sel` (bool, ct.shape[:-1]) is the user's ``mask=``: curves outside it are not fitted and
    not counted among the skipped NaN curves.

    Returns params (..., n_par), rss, success and the number of skipped curves, then (when
    ``n_extra > 0``) the extra columns (..., n_extra) that `fit_curves` returns fourth (NaN
    for skipped curves).
    """
    lead = ct.shape[:-1]
    y = np.asarray(ct, dtype=float).reshape(-1, ct.shape[-1])
    # a finite total means every sample is finite (NaN and inf propagate): the usual case,
    # checked in one fast pass instead of the slow row-wise reduction
    finite = np.ones(y.shape[0], dtype=bool) if np.isfinite(y.sum()) else _finite_rows(y)
    inside = np.ones(y.shape[0], dtype=bool) if sel is None else np.asarray(sel, dtype=bool).reshape(-1)
    good = finite & inside
    gi = np.flatnonzero(good)
    every = gi.size == y.shape[0] > 0
    if not every:  # else the backend's own arrays are returned (no copy into NaN-filled ones)
        params = np.full((y.shape[0], npar), np.nan)
        rss = np.full(y.shape[0], np.nan)
        ok = np.zeros(y.shape[0], dtype=bool)
        extra = np.full((y.shape[0], n_extra), np.nan)
    if gi.size:
        yg = y if every else y[gi]
        res = fit_curves(np.ascontiguousarray(yg))
        p, r, c = (
            np.asarray(res[0], dtype=float),
            np.asarray(res[1], dtype=float),
            np.asarray(res[2], dtype=bool),
        )
        if p.shape != (gi.size, npar) or r.shape != (gi.size,) or c.shape != (gi.size,):
            raise RuntimeError(
                f"the fitting backend returned shapes {p.shape}, {r.shape}, {c.shape} for {gi.size} "
                f"curves; expected ({gi.size}, {npar}), ({gi.size},), ({gi.size},)"
            )
        if every:
            params, rss, ok = p, r, c
            if n_extra:
                extra = np.asarray(res[3], dtype=float).reshape(gi.size, n_extra)
        else:
            params[gi], rss[gi], ok[gi] = p, r, c
            if n_extra:
                extra[gi] = res[3]
    n_nan = int((~finite & inside).sum())
    out: tuple[Any, ...] = (params.reshape((*lead, npar)), rss.reshape(lead), ok.reshape(lead), n_nan)
    if n_extra:
        out = (*out, extra.reshape((*lead, n_extra)))
    return out


def _assemble(
    tab: KepTable,
    cp: Any,
    y: Any,
    u: Any,
    extended: bool,
    bd: Bounds,
    deriv: bool = False,
) -> tuple[Any, Any, Any, Any, Any]:
    """Linear parameters, RSS, ``b`` and ``db/dkep`` (None unless `deriv`) at ``u`` (one interpolation)."""
    xp = _ns(y)
    kep = xp.exp(u)
    b, bk = basis(tab, kep, deriv=deriv)
    P = _ein("vt,vt->v", y, b)
    Q = _ein("vt,vt->v", b, b)
    C = _matmul(b, cp) if extended else xp.zeros_like(P)
    yc = _matmul(y, cp) if extended else xp.zeros_like(P)
    cc = float(cp @ cp) if extended else 0.0
    kmax = xp.minimum(bd.ve_max * kep, bd.ktrans[1])
    k, v, _, _ = _lin(P, Q, C, yc, cc, kmax, bd, extended)
    res = y - k[:, None] * b
    if extended:
        res -= v[:, None] * cp[None, :]
    return k, v, _ein("vt,vt->v", res, res), b, bk
