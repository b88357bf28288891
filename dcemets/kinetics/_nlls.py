"""Private batched, box-bounded Levenberg-Marquardt for the 2CXM / 2CUM fits.

All voxels iterate together (no loop over voxels); a voxel leaves the active set when it has
converged.  ``fun(p, rows) -> (model (V, T), jacobian (V, T, n))`` evaluates the model for the
parameter rows `p` of the voxels `rows`.  Its damping schedule and box differ from the Tofts
:func:`dcemets.kinetics._fit.lm` (a plain box, NumPy's general solve); the acceptance
bookkeeping is the shared :func:`dcemets.kinetics._fit.lm_accept`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dcemets.kinetics._fit import lm_accept

Fun = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def lm(
    fun: Fun,
    y: np.ndarray,
    p0: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    max_iter: int = 100,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected LM (Marquardt scaling); returns params (V, n), rss (V,), converged (V,).

    Parameters on a bound whose gradient points out of the box are held for the step (active
    set); a voxel has converged when its projected gradient is <= `gtol` ||J_i|| ||r|| in every
    parameter (MINPACK's cosine test), an accepted step gains <= `ftol` of the RSS, a relative
    step is <= `xtol`, the RSS is ~0 or the damping exceeds 1e10.
    """
    nv, npar = p0.shape
    p = np.clip(p0, lo, hi)
    rows = np.arange(nv)
    m, jac = fun(p, rows)
    r = y - m
    rss = np.einsum("vt,vt->v", r, r)
    lam = np.full(nv, 1e-2)
    conv = np.zeros(nv, dtype=bool)
    active = rows.copy()
    ysq = np.einsum("vt,vt->v", y, y)
    eye = np.eye(npar)[None]
    for _ in range(max_iter):
        if active.size == 0:
            break
        ja = jac[active]
        jtj = np.einsum("vti,vtj->vij", ja, ja)
        jtr = np.einsum("vti,vt->vi", ja, r[active])
        diag = np.einsum("vii->vi", jtj)
        pa = p[active]
        # parameters on a bound whose descent direction points out of the box are held
        held = ((pa <= lo) & (jtr < 0)) | ((pa >= hi) & (jtr > 0))
        pg = np.where(held, 0.0, jtr)
        opt = np.all(pg * pg <= gtol**2 * diag * rss[active, None], axis=1)
        if opt.any():
            conv[active[opt]] = True
            keep = ~opt
            active, jtj, jtr, diag, pa, held = (
                active[keep],
                jtj[keep],
                jtr[keep],
                diag[keep],
                pa[keep],
                held[keep],
            )
            if active.size == 0:
                break
        free = ~held
        jtj = np.where(free[:, :, None] & free[:, None, :], jtj, 0.0)
        jtj[:, np.arange(npar), np.arange(npar)] = diag
        jtr = np.where(held, 0.0, jtr)
        damp = lam[active, None] * (diag + 1e-12 * diag.max(axis=1, keepdims=True) + 1e-30)
        try:
            delta = np.linalg.solve(jtj + eye * damp[:, :, None], jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:  # pragma: no cover - a singular damped system
            delta = np.zeros_like(jtr)
        delta = np.nan_to_num(delta)
        pn = np.clip(pa + delta, lo, hi)
        mn, jn = fun(pn, active)
        rn = y[active] - mn
        rssn = np.einsum("vt,vt->v", rn, rn)
        acc, gain, rss_old = lm_accept((p, r, jac, rss, lam), active, (pn, rn, jn, rssn))
        step = np.abs(pn - pa) / (np.abs(pa) + 1e-3 * (hi - lo))
        done = (
            (acc & (gain <= ftol * np.maximum(rss_old, 1e-30)))
            | (step.max(axis=1) <= xtol)
            | (rss[active] <= 1e-24 * (1.0 + ysq[active]))
            | (lam[active] > 1e10)
        )
        conv[active[done]] = True
        active = active[~done]
    return p, rss, conv


def solve2(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form 2 x 2 solves, batched over leading dims: a (..., 3) = (a00, a01, a11), b (..., 2)."""
    det = a[..., 0] * a[..., 2] - a[..., 1] ** 2
    ok = np.abs(det) > 1e-12 * (np.abs(a[..., 0] * a[..., 2]) + 1e-300)
    d = np.where(ok, det, 1.0)
    x0 = (b[..., 0] * a[..., 2] - a[..., 1] * b[..., 1]) / d
    x1 = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]) / d
    return np.where(ok, x0, np.nan), np.where(ok, x1, np.nan)
