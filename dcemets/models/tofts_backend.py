"""PyTorch backend of :func:`dcemets.kinetics.fit_tofts` (CPU or CUDA).

:mod:`dcemets.kinetics` may not import torch, so it defines the backend contract (see
:mod:`dcemets.kinetics.fitting`) and finds this implementation through the entry point
``torch = "dcemets.models.tofts_backend:fit_backend"`` of the group ``dcemets.fit_tofts``.  The
algorithm is the NumPy one of :mod:`dcemets.kinetics._fit` step for step -- Murase LLSQ in
closed form; NLLS by variable projection over the tabulated kep axis (the table built by NumPy,
the coarse scan, safeguarded Newton steps in ln kep and stopping rules of
:func:`dcemets.kinetics._fit.varpro`, always in float64: its sums cancel in float32), then the
batched projected Levenberg-Marquardt on the exact model for the voxels NumPy polishes too --
on torch tensors, for a batch of voxels at a time.

The exact exponential convolution of the piecewise-linear AIF is written per AIF interval
instead of as a recursion over all AIF samples (one kernel launch per sample would be slow on a
GPU).  Interval ``i`` (``t_i .. t_{i+1}``, ``dt_i``, ``x_i = k dt_i``) adds to the integral up
to a time ``T >= t_{i+1}``

    ``exp(-k (T - t_{i+1})) dt_i (a_i (phi1 - phi2)(x_i) + a_{i+1} phi2(x_i))``,

so the intervals of each frame segment are summed with ``T`` the segment's closing frame time
(on a uniform grid the decay factorises, and the sums are one matrix product per evaluation),
and the frames are chained by ``g_n = exp(-k (T_n - T_{n-1})) g_{n-1} + S_n``, computed as a
log2(m)-step scan; dg/dk follows analytically alongside.  The result equals
:func:`dcemets.kinetics._np.exp_conv` to ~1e-14 relative in float64
(``tests/models/test_tofts_backend.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dcemets.kinetics import _fit
from dcemets.kinetics import _np as _knp
from dcemets.models._device import resolve_device

__all__ = ["fit_backend"]

#: Voxels per batch by device type.
BATCH = {"cuda": 65536, "cpu": 32768}
#: Cap on the elements of the (voxels, AIF intervals) work array of one batch ...
_WORK = {"cuda": 2**26, "cpu": 2**23}
#: ... but never fewer voxels than this per batch.
_MIN_BATCH = 1024
#: Distinct interval lengths up to which the convolution uses the per-length matrix products.
_MAX_GROUPS = 8
_SMALL = 1e-2


_device = resolve_device


def _dtype(dtype: str | None, dev: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.float32 if dev.type == "cuda" else torch.float64
    if dtype == "float64":
        return torch.float64
    if dtype == "float32":
        return torch.float32
    raise ValueError(f"`dtype` must be None, 'float64' or 'float32', got {dtype!r}")


def _tensor(x: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Copy a NumPy array (possibly read-only, as dask chunks are) to a tensor."""
    return torch.tensor(np.asarray(x), device=device, dtype=dtype)


def _phi(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """phi1, phi2 and their x-derivatives, as :func:`dcemets.kinetics._np.phi`."""
    small = x.abs() < _SMALL
    xs = torch.where(small, torch.ones_like(x), x)
    em = torch.expm1(-xs)
    e = em + 1.0
    p1 = -em / xs
    p2 = (xs + em) / xs**2
    p1d = (xs * e + em) / xs**2
    p2d = (-em * xs - 2.0 * (xs + em)) / xs**3
    x2, x3 = x * x, x * x * x
    p1s = 1.0 - x / 2 + x2 / 6 - x3 / 24 + x2 * x2 / 120
    p2s = 0.5 - x / 6 + x2 / 24 - x3 / 120 + x2 * x2 / 720
    p1ds = -0.5 + x / 3 - x2 / 8 + x3 / 30
    p2ds = -1.0 / 6 + x / 12 - x2 / 40 + x3 / 180
    return (
        torch.where(small, p1s, p1),
        torch.where(small, p2s, p2),
        torch.where(small, p1ds, p1d),
        torch.where(small, p2ds, p2d),
    )


class ExpConv:
    """Exact convolution of a piecewise-linear input with exp(-k t), sampled at grid indices.

    The torch counterpart of :func:`dcemets.kinetics._np.exp_conv` (same arguments, same
    result), by the per-interval formulation of the module docstring.  The contributing
    intervals (before the last sample, input nonzero at one end) are laid out as ``R`` rows
    of at most ``L`` consecutive intervals of one frame segment (a long segment spans several
    rows; short rows are padded at the start).  On a uniform grid -- the usual case, the AIF
    on a fine grid with the frames on it -- the decay factor of the interval ``l`` of row
    ``r`` factorises as ``exp(-k tau_r) exp(-k (L - 1 - l) dt)``, so one evaluation costs
    ``R + L`` exponentials per voxel and one matrix product; otherwise the factors are
    computed per interval, with the phi coefficients per distinct interval length (at most
    ``_MAX_GROUPS``) or per interval.

    Parameters
    ----------
    t : numpy.ndarray
        (N,) increasing grid (s).
    a : numpy.ndarray
        (N,) input on the grid.
    idx : numpy.ndarray
        (m,) non-decreasing grid indices at which g is returned.
    device : torch.device
        Device of the tensors.
    dtype : torch.dtype
        Working precision.
    """

    def __init__(
        self, t: np.ndarray, a: np.ndarray, idx: np.ndarray, device: torch.device, dtype: torch.dtype
    ) -> None:
        t = np.asarray(t, dtype=float)
        a = np.asarray(a, dtype=float)
        idx = np.asarray(idx, dtype=np.intp)
        m = idx.size
        n_max = int(idx.max()) if m else 0
        # the intervals before the last sample, from the one ending at the first nonzero input
        # (runs of zeros inside the input are kept: rows must be consecutive intervals)
        nz = np.flatnonzero(a[: n_max + 1])
        i = np.arange(max(int(nz[0]) - 1, 0) if nz.size else n_max, n_max)
        seg = np.searchsorted(idx, i + 1, side="left")  # frame closing the segment of interval i
        self.uniform = t.size >= 2 and _knp._is_uniform(t)
        if self.uniform:
            # as _np._exp_conv_uniform: the grid is t[0] + n dt exactly
            dt = t[1] - t[0]
            dts = np.array([dt])
            grp = np.zeros(i.size, dtype=np.intp)
            tau = (idx[seg] - i - 1) * dt
            gap = np.diff(idx) * dt
        else:
            dt_i = t[i + 1] - t[i]
            _, first, grp = np.unique(np.round(dt_i, 12), return_index=True, return_inverse=True)
            dts = dt_i[first]
            tau = t[idx[seg]] - t[i + 1]  # >= 0
            gap = np.diff(t[idx])
        # rows: runs of <= L consecutive intervals of one segment, right-aligned
        counts = np.bincount(seg, minlength=m)
        cap = max(1, -(-2 * i.size // max(m, 1)))
        length = int(min(counts.max(), cap)) if i.size else 1
        rows_per_seg = -(-counts // length)
        # with rho rows per segment (padding with empty rows) the segment sums are a reshape;
        # when segments differ too much in length, a (m, R) indicator matrix sums them instead
        rho = int(rows_per_seg.max()) if m else 0
        self.rho = rho if m * rho <= 4 * max(int(rows_per_seg.sum()), 1) else 0
        if self.rho:
            row_seg = np.repeat(np.arange(m), rho)
            last_row = np.arange(1, m + 1) * rho - 1
        else:
            row_seg = np.repeat(np.arange(m), rows_per_seg)
            last_row = np.cumsum(rows_per_seg) - 1
        n_rows = row_seg.size
        back = np.cumsum(counts)[seg] - 1 - np.arange(i.size)  # later intervals in the segment
        row = last_row[seg] - back // length
        col = length - 1 - back % length
        self.m, self.n_int, self.shape = m, i.size, (n_rows, length)
        self.grouped = dts.size <= _MAX_GROUPS
        seg_ind = np.zeros((m, 0 if self.rho else n_rows))
        if not self.rho:
            seg_ind[row_seg, np.arange(n_rows)] = 1.0
        self.seg = _tensor(seg_ind, device, dtype)
        self.dts = _tensor(dts, device, dtype)
        self.gap = _tensor(gap, device, dtype)
        # per interval: a_i, a_{i+1}, -tau a_i, -tau a_{i+1}, by interval-length group
        u = dts.size
        b = np.zeros((n_rows, length, 4 * u))
        for q, v in enumerate((a[i], a[i + 1], -tau * a[i], -tau * a[i + 1])):
            b[row, col, q * u + grp] = v
        if self.uniform:
            tau_end = np.zeros(n_rows)
            tau_end[row[col == length - 1]] = tau[col == length - 1]
            self.tau_end = _tensor(tau_end, device, dtype)
            self.lag = _tensor((length - 1 - np.arange(length)) * dts[0], device, dtype)
            self.b = _tensor(b.transpose(1, 0, 2).reshape(length, n_rows * 4), device, dtype)  # (L, R * 4)
            return
        tau_p = np.zeros((n_rows, length))
        tau_p[row, col] = tau
        self.tau = _tensor(tau_p, device, dtype)
        if self.grouped:
            self.b = _tensor(b, device, dtype)
        else:
            # per-interval lengths and inputs (padding: dt = 1, a = 0)
            pads = [np.ones((n_rows, length)), np.zeros((n_rows, length)), np.zeros((n_rows, length))]
            for arr, v in zip(pads, (t[i + 1] - t[i], a[i], a[i + 1])):
                arr[row, col] = v
            self.dt_p, self.a0_p, self.a1_p = (_tensor(x[:, None, :], device, dtype) for x in pads)

    def _segments(self, k: torch.Tensor, nb: int) -> torch.Tensor:
        """Sums over each frame segment of the ``b`` columns times the decay: (V, m, nb, U)."""
        nv, m = k.shape[0], self.m
        u = self.dts.shape[0]
        n_rows, length = self.shape
        if self.uniform:
            head = torch.exp(-k[:, None] * self.tau_end[None, :])  # (V, R)
            lag = torch.exp(-k[:, None] * self.lag[None, :])  # (V, L)
            b = self.b.reshape(length, n_rows, 4)[:, :, :nb].reshape(length, n_rows * nb)
            y = (lag @ b).reshape(nv, n_rows, nb) * head[:, :, None]
        else:
            w = torch.exp(-k[None, :, None] * self.tau[:, None, :])  # (R, V, L)
            y = torch.bmm(w, self.b[:, :, : nb * u]).transpose(0, 1)  # (V, R, nb U)
        return self._sum_rows(y).reshape(nv, m, nb, u)

    def _sum_rows(self, y: torch.Tensor) -> torch.Tensor:
        """Sum (V, R, ...) row values into their frame segments: (V, m, ...)."""
        if self.rho:
            return y.reshape(y.shape[0], self.m, self.rho, *y.shape[2:]).sum(2)
        return torch.einsum("mr,vr...->vm...", self.seg, y)

    def __call__(self, k: torch.Tensor, deriv: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return g (V, m) and, with `deriv`, dg/dk (V, m) for rate constants `k` (V,) in 1/s."""
        nv, m = k.shape[0], self.m
        if self.n_int == 0 or nv == 0:
            z = k.new_zeros((nv, m))
            return z, (k.new_zeros((nv, m)) if deriv else None)
        sk: torch.Tensor | None = None
        if self.uniform or self.grouped:
            q = self._segments(k, 4 if deriv else 2)
            p1, p2, p1d, p2d = _phi(k[:, None] * self.dts[None, :])  # (V, U)
            c1 = (self.dts * (p1 - p2))[:, None, :]
            c2 = (self.dts * p2)[:, None, :]
            s = (c1 * q[:, :, 0] + c2 * q[:, :, 1]).sum(-1)
            if deriv:
                dt2 = self.dts * self.dts
                c1k = (dt2 * (p1d - p2d))[:, None, :]
                c2k = (dt2 * p2d)[:, None, :]
                sk = (c1k * q[:, :, 0] + c2k * q[:, :, 1] + c1 * q[:, :, 2] + c2 * q[:, :, 3]).sum(-1)
        else:
            w = torch.exp(-k[None, :, None] * self.tau[:, None, :])  # (R, V, L)
            p1, p2, p1d, p2d = _phi(k[None, :, None] * self.dt_p)
            coef = self.dt_p * ((p1 - p2) * self.a0_p + p2 * self.a1_p)
            contrib = w * coef
            s = self._sum_rows(contrib.sum(-1).T)
            if deriv:
                coefk = self.dt_p * self.dt_p * ((p1d - p2d) * self.a0_p + p2d * self.a1_p)
                sk = self._sum_rows((w * coefk - self.tau[:, None, :] * contrib).sum(-1).T)
        return self._chain(k, s, sk)

    def _chain(
        self, k: torch.Tensor, s: torch.Tensor, sk: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Chain the frame segments: g_n = exp(-k (T_n - T_{n-1})) g_{n-1} + S_n.

        An inclusive scan in log2(m) vectorised steps (Hillis-Steele) instead of a loop over
        the frames.  Element n is the affine map x -> A x + B of x = (g, dg/dk), with
        A = [[e, 0], [c, e]] (e = exp(-k gap), c = de/dk = -gap e) and B = (S_n, dS_n/dk);
        such maps compose within the same family.
        """
        m = s.shape[1]
        e = torch.ones_like(s)
        e[:, 1:] = torch.exp(-k[:, None] * self.gap[None, :])
        g = s.clone()
        if sk is None:
            d = 1
            while d < m:
                g = torch.cat([g[:, :d], e[:, d:] * g[:, :-d] + g[:, d:]], dim=1)
                e = torch.cat([e[:, :d], e[:, d:] * e[:, :-d]], dim=1)
                d *= 2
            return g, None
        c = torch.zeros_like(s)
        c[:, 1:] = -self.gap[None, :] * e[:, 1:]
        gk = sk.clone()
        d = 1
        while d < m:
            gk = torch.cat([gk[:, :d], c[:, d:] * g[:, :-d] + e[:, d:] * gk[:, :-d] + gk[:, d:]], dim=1)
            g = torch.cat([g[:, :d], e[:, d:] * g[:, :-d] + g[:, d:]], dim=1)
            c = torch.cat([c[:, :d], c[:, d:] * e[:, :-d] + e[:, d:] * c[:, :-d]], dim=1)
            e = torch.cat([e[:, :d], e[:, d:] * e[:, :-d]], dim=1)
            d *= 2
        return g, gk


@dataclass
class _TDesign:
    """:class:`dcemets.kinetics._fit.Design` on a torch device."""

    conv: ExpConv
    t: torch.Tensor
    cp: torch.Tensor
    icp: torch.Tensor


def _design(d: _fit.Design, dev: torch.device, dt: torch.dtype) -> _TDesign:
    return _TDesign(
        conv=ExpConv(d.tm, d.am, d.idx, dev, dt),
        t=_tensor(d.t, device=dev, dtype=dt),
        cp=_tensor(d.cp, device=dev, dtype=dt),
        icp=_tensor(d.icp, device=dev, dtype=dt),
    )


def _model(
    d: _TDesign, p: torch.Tensor, extended: bool, deriv: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    kt = p[:, 0]
    g, gk = d.conv(p[:, 1] / 60.0, deriv)
    m = kt[:, None] / 60.0 * g
    if extended:
        m = m + p[:, 2:3] * d.cp[None, :]
    if gk is None:
        return m, None
    cols = [g / 60.0, kt[:, None] / 3600.0 * gk]
    if extended:
        cols.append(d.cp[None, :].expand_as(g))
    return m, torch.stack(cols, dim=-1)


def _solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched Cramer's rule as :func:`dcemets.kinetics._fit._solve`; NaN where singular."""
    n = a.shape[-1]
    if n == 2:
        det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        x0 = b[:, 0] * a[:, 1, 1] - a[:, 0, 1] * b[:, 1]
        x1 = a[:, 0, 0] * b[:, 1] - a[:, 1, 0] * b[:, 0]
        x = torch.stack([x0, x1], dim=-1)
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
        x = torch.stack(
            [
                c00 * b[:, 0] + c10 * b[:, 1] + c20 * b[:, 2],
                c01 * b[:, 0] + c11 * b[:, 1] + c21 * b[:, 2],
                c02 * b[:, 0] + c12 * b[:, 1] + c22 * b[:, 2],
            ],
            dim=-1,
        )
    scale = a.abs().reshape(a.shape[0], -1).amax(dim=1) ** n
    ok = det.abs() > 1e-13 * scale
    out = x / torch.where(ok, det, torch.ones_like(det))[:, None]
    return torch.where(ok[:, None], out, torch.full_like(out, float("nan")))


def _cumtrapz0(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    inc = 0.5 * (y[..., 1:] + y[..., :-1]) * (t[1:] - t[:-1])
    return torch.cat([torch.zeros_like(y[..., :1]), torch.cumsum(inc, dim=-1)], dim=-1)


def _llsq(d: _TDesign, y: torch.Tensor, extended: bool) -> torch.Tensor:
    """Murase linear least squares as :func:`dcemets.kinetics._fit.llsq`."""
    x1 = d.icp
    x2 = -_cumtrapz0(y, d.t)
    n = 3 if extended else 2
    nv = y.shape[0]
    a = y.new_empty((nv, n, n))
    b = y.new_empty((nv, n))
    a[:, 0, 0] = x1 @ x1
    a[:, 0, 1] = a[:, 1, 0] = x2 @ x1
    a[:, 1, 1] = (x2 * x2).sum(1)
    b[:, 0] = y @ x1
    b[:, 1] = (x2 * y).sum(1)
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
        return torch.stack([kt * 60.0, kep * 60.0, vp], dim=-1)
    return torch.stack([beta[:, 0] * 60.0, kep * 60.0], dim=-1)


def _project(p: torch.Tensor, bd: _fit.Bounds, extended: bool) -> torch.Tensor:
    kep = p[:, 1].clamp(_fit._kep_lo(bd), bd.kep[1])
    hi = torch.clamp(bd.ve_max * kep, max=bd.ktrans[1])
    kt = torch.minimum(torch.clamp(p[:, 0], min=bd.ktrans[0]), hi)
    cols = [kt, kep]
    if extended:
        cols.append(p[:, 2].clamp(*bd.vp))
    return torch.stack(cols, dim=-1)


def _grid_start(
    d: _TDesign, y: torch.Tensor, extended: bool, bd: _fit.Bounds, n_grid: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best projected parameters over the log grid of kep, as :func:`_fit.grid_start`."""
    keps = _tensor(np.geomspace(bd.kep[0], bd.kep[1], n_grid), device=y.device, dtype=y.dtype)
    g, _ = d.conv(keps / 60.0)
    basis = g / 60.0  # (G, T)
    yg = y @ basis.T  # (V, G)
    gg = (basis * basis).sum(1)
    yy = (y * y).sum(1)
    kmax = torch.clamp(bd.ve_max * keps, max=bd.ktrans[1])[None, :]
    vp = None
    if not extended:
        kt = torch.minimum(torch.clamp(yg / gg, min=bd.ktrans[0]), kmax)
        rss = yy[:, None] - 2 * kt * yg + kt**2 * gg
    else:
        cp = d.cp
        yc = (y @ cp)[:, None]
        cc = float(cp @ cp)
        gc = (basis @ cp)[None, :]
        det = gg[None, :] * cc - gc**2
        kt = (yg * cc - gc * yc) / det
        kt = torch.minimum(torch.clamp(torch.nan_to_num(kt), min=bd.ktrans[0]), kmax)
        vp = ((yc - kt * gc) / cc if cc > 0 else torch.zeros_like(kt)).clamp(*bd.vp)
        rss = yy[:, None] - 2 * (kt * yg + vp * yc) + kt**2 * gg + 2 * kt * vp * gc + vp**2 * cc
    rss = torch.where(torch.isfinite(rss), rss, torch.full_like(rss, float("inf")))
    j = torch.argmin(rss, dim=1)
    rows = torch.arange(y.shape[0], device=y.device)
    cols = [kt[rows, j], keps[j]]
    if vp is not None:
        cols.append(vp[rows, j])
    return torch.stack(cols, dim=-1), rss[rows, j]


def _active_step(
    a: torch.Tensor, g: torch.Tensor, at_lo: torch.Tensor, at_hi: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """Active-set LM step as :func:`dcemets.kinetics._fit._active_step`."""
    held = out.clone()
    n = a.shape[-1]
    diag = torch.diagonal(a, dim1=1, dim2=2)
    delta = torch.zeros_like(g)
    for _ in range(n + 1):
        free = ~held
        ar = torch.where(free[:, :, None] & free[:, None, :], a, torch.zeros_like(a))
        ar = ar + torch.diag_embed(torch.where(free, torch.zeros_like(diag), diag))
        delta = torch.nan_to_num(_solve(ar, torch.where(free, g, torch.zeros_like(g))))
        more = free & ((at_lo & (delta < 0)) | (at_hi & (delta > 0)))
        if not bool(more.any()):
            break
        held |= more
    return delta


def _lm(
    d: _TDesign,
    y: torch.Tensor,
    p0: torch.Tensor,
    extended: bool,
    bd: _fit.Bounds,
    max_iter: int,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched projected Levenberg-Marquardt with an active set as :func:`dcemets.kinetics._fit.lm`."""
    nv, npar = p0.shape
    lo_np, hi_np = _fit._box(bd, extended)
    lo, hi = _tensor(lo_np, y.device, y.dtype), _tensor(hi_np, y.device, y.dtype)
    p = _project(p0, bd, extended)
    m, jac = _model(d, p, extended, True)
    assert jac is not None
    r = y - m
    rss = (r * r).sum(1)
    lam = torch.full((nv,), 1e-3, device=y.device, dtype=y.dtype)
    conv = torch.zeros(nv, dtype=torch.bool, device=y.device)
    active = torch.arange(nv, device=y.device)
    ysq = (y * y).sum(1)
    eye = torch.eye(npar, device=y.device, dtype=y.dtype)[None]
    for _ in range(max_iter):
        if active.numel() == 0:
            break
        ja = jac[active]
        ra = r[active]
        jtj = torch.einsum("vti,vtj->vij", ja, ja)
        jtr = torch.einsum("vti,vt->vi", ja, ra)
        diag = torch.diagonal(jtj, dim1=1, dim2=2)
        pa = p[active]
        at_lo, at_hi = pa <= lo, pa >= hi
        out = (at_lo & (jtr < 0)) | (at_hi & (jtr > 0))
        pg = torch.where(out, torch.zeros_like(jtr), jtr)
        opt = (pg * pg <= gtol**2 * diag * rss[active, None]).all(dim=1)
        if bool(opt.any()):
            conv[active[opt]] = True
            keep = ~opt
            active, jtj, jtr, diag = active[keep], jtj[keep], jtr[keep], diag[keep]
            pa, at_lo, at_hi, out = pa[keep], at_lo[keep], at_hi[keep], out[keep]
            if active.numel() == 0:
                break
        damp = lam[active, None] * (diag + 1e-12 * diag.amax(dim=1, keepdim=True) + 1e-30)
        delta = _active_step(jtj + eye * damp[:, :, None], jtr, at_lo, at_hi, out)
        pn = _project(pa + delta, bd, extended)
        mn, jn = _model(d, pn, extended, True)
        assert jn is not None
        rn = y[active] - mn
        rssn = (rn * rn).sum(1)
        rss_old = rss[active]
        acc = rssn < rss_old
        ia = active[acc]
        step = (pn - pa).abs().amax(dim=1)
        gain = rss_old - rssn
        p[ia] = pn[acc]
        r[ia] = rn[acc]
        jac[ia] = jn[acc]
        rss[ia] = rssn[acc]
        lam[ia] *= 0.3
        lam[active[~acc]] *= 10.0
        done = (
            (acc & (gain <= ftol * torch.clamp(rss_old, min=1e-30)))
            | (step <= xtol * (1.0 + pa.abs().amax(dim=1)))
            | (rss[active] <= 1e-24 * (1.0 + ysq[active]))
            | (lam[active] > 1e12)
        )
        conv[active[done]] = True
        active = active[~done]
    return p, rss, conv


# ---------------------------------------------------------------------------------------
# Variable projection over the kep table (as dcemets.kinetics._fit.varpro)
# ---------------------------------------------------------------------------------------


@dataclass
class _TTable:
    """:class:`dcemets.kinetics._fit.KepTable` on a torch device."""

    u0: float
    h: float
    n: int
    nodes: torch.Tensor
    cells: torch.Tensor
    gram: torch.Tensor
    cpdot: torch.Tensor
    coarse: torch.Tensor
    coarse_step: int
    kep_lo: float
    kep_hi: float


def _ttable(tab: _fit.KepTable, dev: torch.device, dt: torch.dtype) -> _TTable:
    return _TTable(
        u0=tab.u0,
        h=tab.h,
        n=tab.n,
        nodes=_tensor(tab.nodes, dev, dt),
        cells=_tensor(tab.cells, dev, dt),
        gram=_tensor(tab.gram, dev, dt),
        cpdot=_tensor(tab.cpdot, dev, dt),
        coarse=torch.as_tensor(tab.coarse, device=dev, dtype=torch.long),
        coarse_step=int(tab.coarse[1] - tab.coarse[0]) if tab.coarse.size > 1 else 1,
        kep_lo=tab.kep_lo,
        kep_hi=tab.kep_hi,
    )


def _hermite(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s2 = s * s
    s3 = s2 * s
    w = torch.stack([2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s, 3 * s2 - 2 * s3, s3 - s2], dim=-1)
    wd = torch.stack([6 * s2 - 6 * s, 3 * s2 - 4 * s + 1, 6 * s - 6 * s2, 3 * s2 - 2 * s], dim=-1)
    wdd = torch.stack([12 * s - 6, 6 * s - 4, 6 - 12 * s, 6 * s - 2], dim=-1)
    return w, wd, wdd


def _locate(tab: _TTable, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = (u - tab.u0) / tab.h
    i = torch.floor(x).clamp(0, tab.n - 2)
    return i.long(), (x - i).clamp(0.0, 1.0)


def _basis(tab: _TTable, kep: torch.Tensor) -> torch.Tensor:
    i, s = _locate(tab, torch.log(kep))
    w, _, _ = _hermite(s)
    return (w[:, :, None] * tab.cells[i]).sum(1)


def _lin(P, Q, C, yc, cc: float, kmax, bd: _fit.Bounds, extended: bool):  # type: ignore[no-untyped-def]
    """As :func:`dcemets.kinetics._fit._lin`."""
    klo = bd.ktrans[0]
    pos = Q > 0
    safe_q = torch.where(pos, Q, torch.ones_like(Q))
    if not extended or cc <= 0:
        k = torch.minimum(torch.clamp(torch.where(pos, P / safe_q, torch.full_like(P, klo)), min=klo), kmax)
        v = torch.full_like(k, bd.vp[0] if extended else 0.0)
        return k, v, (k > klo) & (k < kmax), torch.zeros_like(k, dtype=torch.bool)
    vlo, vhi = bd.vp

    def cost(k, v):  # type: ignore[no-untyped-def]
        return -2 * (k * P + v * yc) + k * k * Q + 2 * k * v * C + v * v * cc

    det = Q * cc - C * C
    ok = det > 1e-12 * torch.clamp(Q * cc, min=1e-300)
    sd = torch.where(ok, det, torch.ones_like(det))
    k0 = (P * cc - C * yc) / sd
    v0 = (Q * yc - C * P) / sd
    feas = ok & (k0 >= klo) & (k0 <= kmax) & (v0 >= vlo) & (v0 <= vhi)
    zero = torch.zeros_like(P)
    best_k = torch.where(feas, k0, zero)
    best_v = torch.where(feas, v0, zero)
    best_c = torch.where(feas, cost(best_k, best_v), torch.full_like(P, float("inf")))
    for kb in (torch.full_like(P, klo), kmax):
        v = ((yc - kb * C) / cc).clamp(vlo, vhi)
        c = cost(kb, v)
        better = ~feas & (c < best_c)
        best_k, best_v, best_c = (
            torch.where(better, kb, best_k),
            torch.where(better, v, best_v),
            torch.where(better, c, best_c),
        )
    for vb in (vlo, vhi):
        k = torch.minimum(
            torch.clamp(torch.where(pos, (P - vb * C) / safe_q, torch.full_like(P, klo)), min=klo), kmax
        )
        vbt = torch.full_like(k, vb)
        c = cost(k, vbt)
        better = ~feas & (c < best_c)
        best_k, best_v, best_c = (
            torch.where(better, k, best_k),
            torch.where(better, vbt, best_v),
            torch.where(better, c, best_c),
        )
    return best_k, best_v, (best_k > klo) & (best_k < kmax), (best_v > vlo) & (best_v < vhi)


class _Profile:
    """As :class:`dcemets.kinetics._fit._Profile`."""

    def __init__(self, tab: _TTable, y, yy, yc, cc: float, u, extended: bool, bd: _fit.Bounds) -> None:  # type: ignore[no-untyped-def]
        i, s = _locate(tab, u)
        w, wd, wdd = _hermite(s)
        wd = wd / tab.h
        wdd = wdd / (tab.h * tab.h)
        wall = torch.stack([w, wd, wdd], dim=1)
        # elementwise products and sums, not einsum/matmul: batch-size independent rounding
        yr = (y[:, None, :] * tab.cells[i]).sum(-1)
        g = tab.gram[i]
        gw = (g * w[:, None, :]).sum(-1)
        gwd = (g * wd[:, None, :]).sum(-1)
        P, Pd, Pdd = (wall * yr[:, None, :]).sum(-1).T
        Q, Qd, Qbdd = (wall * gw[:, None, :]).sum(-1).T
        Qdd = (wd * gwd).sum(1)
        C, Cd, Cdd = (wall * tab.cpdot[i][:, None, :]).sum(-1).T
        kep = torch.exp(u)
        kmax_ve = bd.ve_max * kep
        kmax = torch.clamp(kmax_ve, max=bd.ktrans[1])
        k, v, kfree, vfree = _lin(P, Q, C, yc, cc, kmax, bd, extended)
        pos = Q > 0
        k0 = torch.where(pos, P / torch.where(pos, Q, torch.ones_like(Q)), torch.zeros_like(Q))
        if extended and cc > 0:
            det = Q * cc - C * C
            okd = det > 1e-12 * torch.clamp(Q * cc, min=1e-300)
            k0 = torch.where(okd, (P * cc - C * yc) / torch.where(okd, det, torch.ones_like(det)), k0)
            v0 = (yc - k0 * C) / cc
            self.viol = torch.stack([k0 - kmax, bd.ktrans[0] - k0, bd.vp[0] - v0, v0 - bd.vp[1]], dim=-1)
        else:
            self.viol = torch.stack([k0 - kmax, bd.ktrans[0] - k0], dim=-1)
        kv = ((k >= kmax) & (kmax_ve < bd.ktrans[1])).to(y.dtype)
        self.k, self.v = k, v
        self.phi = yy - 2 * (k * P + v * yc) + k * k * Q + 2 * k * v * C + v * v * cc
        rb = P - k * Q - v * C
        rbd = Pd - k * Qd - v * Cd
        rbdd = Pdd - k * Qbdd - v * Cdd
        r_e = k * (rbd + kv * rb)
        r_e2 = k * (rbdd + kv * (rb + 2 * rbd))
        ee = k * k * (Qdd + 2 * kv * Qd + kv * Q)
        eb = k * (Qd + kv * Q)
        ec = k * (Cd + kv * C)
        fk, fv = kfree.to(y.dtype), vfree.to(y.dtype)
        one = torch.ones_like(Q)
        a11 = torch.where(kfree, Q, one)
        a22 = torch.where(vfree, cc * one, one)
        a12 = fk * fv * C
        det2 = a11 * a22 - a12 * a12
        okq = det2 > 0
        inv = torch.where(okq, 1.0 / torch.where(okq, det2, one), torch.zeros_like(Q))

        def quad(x1, x2):  # type: ignore[no-untyped-def]
            return (a22 * x1 * x1 - 2 * a12 * x1 * x2 + a11 * x2 * x2) * inv

        gn = torch.clamp(ee - quad(fk * eb, fv * ec), min=0.0)
        exact = ee - r_e2 - quad(fk * (rbd - eb), -fv * ec)
        self.grad = -r_e
        self.curv = torch.where(exact > 0, exact, gn)


def _coarse_start(tab: _TTable, y, cp, extended: bool, bd: _fit.Bounds):  # type: ignore[no-untyped-def]
    """As :func:`dcemets.kinetics._fit.coarse_start`."""
    nodes = tab.nodes[tab.coarse]
    kep = torch.exp(tab.u0 + tab.h * tab.coarse.to(y.dtype))
    P = (y[:, None, :] * nodes[None]).sum(-1)
    Q = (nodes * nodes).sum(1)[None, :]
    kmax = torch.clamp(bd.ve_max * kep, max=bd.ktrans[1])[None, :]
    klo = bd.ktrans[0]
    safe_q = torch.where(Q > 0, Q, torch.ones_like(Q))
    k = P / safe_q
    if not extended:
        k = torch.minimum(torch.clamp(k, min=klo), kmax)
        cost = k * (k * Q - 2 * P)
    else:
        cc = float(cp @ cp)
        yc = (y * cp).sum(1)[:, None]
        C = (nodes * cp).sum(1)[None, :]
        det = Q * cc - C * C
        okd = det > 1e-12 * torch.clamp(Q * cc, min=1e-300)
        k = torch.where(okd, (P * cc - C * yc) / torch.where(okd, det, torch.ones_like(det)), k)
        k = torch.minimum(torch.clamp(k, min=klo), kmax)
        v = ((yc - k * C) / cc).clamp(*bd.vp) if cc > 0 else torch.full_like(k, bd.vp[0])
        cost = k * (k * Q - 2 * P) + v * (v * cc - 2 * yc) + 2 * k * v * C
    j = torch.argmin(cost, dim=1)
    u = tab.u0 + tab.h * tab.coarse[j].to(y.dtype)
    g = tab.coarse.numel()
    jm, jp = (j - 1).clamp(min=0), (j + 1).clamp(max=g - 1)
    cm, c0, cp_ = (
        cost.gather(1, jm[:, None])[:, 0],
        cost.gather(1, j[:, None])[:, 0],
        cost.gather(1, jp[:, None])[:, 0],
    )
    curv = cm - 2.0 * c0 + cp_
    inner = (j > 0) & (j < g - 1) & (curv > 0)
    hc = tab.h * tab.coarse_step
    off = torch.where(
        inner, 0.5 * hc * (cm - cp_) / torch.where(inner, curv, torch.ones_like(curv)), torch.zeros_like(curv)
    )
    return u + off.clamp(-0.5 * hc, 0.5 * hc)


def _assemble(tab: _TTable, cp, y, u, extended: bool, bd: _fit.Bounds):  # type: ignore[no-untyped-def]
    kep = torch.exp(u)
    b = _basis(tab, kep)
    P = (y * b).sum(1)
    Q = (b * b).sum(1)
    zero = torch.zeros_like(P)
    C = (b * cp).sum(1) if extended else zero
    yc = (y * cp).sum(1) if extended else zero
    cc = float(cp @ cp) if extended else 0.0
    kmax = torch.clamp(bd.ve_max * kep, max=bd.ktrans[1])
    k, v, _, _ = _lin(P, Q, C, yc, cc, kmax, bd, extended)
    res = y - k[:, None] * b
    if extended:
        res = res - v[:, None] * cp[None, :]
    return k, v, (res * res).sum(1)


def _varpro(
    tab: _TTable,
    cp: torch.Tensor,
    y: torch.Tensor,
    extended: bool,
    bd: _fit.Bounds,
    max_iter: int,
    xtol: float = 1e-10,
    gtol: float = 1e-10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """As :func:`dcemets.kinetics._fit.varpro`, on tensors (same steps and stopping rules)."""
    nv = y.shape[0]
    ulo, uhi = tab.u0, tab.u0 + tab.h * (tab.n - 1)
    yy = (y * y).sum(1)
    cc = float(cp @ cp) if extended else 0.0
    yc = (y * cp).sum(1) if extended else torch.zeros_like(yy)
    u = _coarse_start(tab, y, cp, extended, bd)
    st = _Profile(tab, y, yy, yc, cc, u, extended, bd)
    k, v, phi, grad, curv, viol = st.k, st.v, st.phi, st.grad, st.curv, st.viol
    radius = torch.full_like(yy, 2.0 * tab.h * tab.coarse_step)
    conv = torch.zeros(nv, dtype=torch.bool, device=y.device)
    u_new = u.clone()
    act = torch.arange(nv, device=y.device)
    for _ in range(max_iter):
        ga, ca, ua, pa = grad[act], curv[act], u[act], phi[act]
        ysq = yy[act]
        done = (
            (ga * ga <= gtol * gtol * ca * torch.clamp(pa, min=0.0))
            | (ca <= 1e-30 * torch.clamp(ysq, min=1e-300))
            | ((ua <= ulo) & (ga > 0))
            | ((ua >= uhi) & (ga < 0))
            | (pa <= 1e-24 * (1.0 + ysq))
        )
        last = ~done & (ga.abs() <= _fit.LAST_STEP * ca) & ~((ua <= ulo) | (ua >= uhi))
        u_new[act[last]] = (ua[last] - ga[last] / ca[last]).clamp(ulo, uhi)
        done = done | last
        conv[act[done]] = True
        act = act[~done]
        if act.numel() == 0:
            break
        ga, ca, ua, pa, ra = grad[act], curv[act], u[act], phi[act], radius[act]
        step = torch.maximum(torch.minimum(-ga / ca, ra), -ra)
        un = (ua + step).clamp(ulo, uhi)
        step = un - ua
        sub = _Profile(tab, y[act], yy[act], yc[act], cc, un, extended, bd)
        acc = sub.phi <= pa
        ia = act[acc]
        u[ia], k[ia], v[ia], phi[ia] = un[acc], sub.k[acc], sub.v[acc], sub.phi[acc]
        u_new[ia] = un[acc]
        grad[ia], curv[ia], viol[ia] = sub.grad[acc], sub.curv[acc], sub.viol[acc]
        f1 = 2.0 * ga * step
        rise = torch.clamp(sub.phi - pa - f1, min=1e-300)
        t = (-f1 / (2.0 * rise)).clamp(0.1, 0.5)
        shrink = t * step.abs()
        back = (un - sub.grad / sub.curv - ua) / step
        inside = torch.isfinite(back) & (back > 0.0) & (back < 1.0)
        shrink = torch.where(inside, back * step.abs(), shrink)
        va, vn = viol[act], sub.viol
        cross = (va <= 0) != (vn <= 0)
        tc = torch.where(cross, va / (va - vn), torch.full_like(va, float("inf"))).min(dim=1).values
        kink = torch.isfinite(tc) & (tc > 0) & (tc < 1)
        tc = torch.where(kink, tc, torch.zeros_like(tc))
        shrink = torch.where(kink, (tc + 1e-3 * (1.0 - tc)) * step.abs(), shrink)
        radius[act] = torch.where(acc, torch.maximum(ra, 2.0 * step.abs()), shrink)
        flat = ~acc & (-f1 <= 1e-13 * torch.clamp(pa, min=1e-300))
        u_new[act[flat]] = un[flat]
        stop = (step.abs() <= xtol) | flat
        conv[act[stop]] = True
        act = act[~stop]
    moved = torch.nonzero(u_new != u)[:, 0]
    if moved.numel():
        um = u_new[moved]
        km, vm, rm = _assemble(tab, cp, y[moved], um, extended, bd)
        # as NumPy: kept unless above the last evaluated phi beyond that formula's rounding
        better = rm <= phi[moved] + _fit.PHI_ROUNDING * yy[moved]
        ib = moved[better]
        u[ib], k[ib], v[ib] = um[better], km[better], vm[better]
    kep = torch.exp(u)
    kep = torch.where(
        u <= ulo, torch.full_like(u, tab.kep_lo), torch.where(u >= uhi, torch.full_like(u, tab.kep_hi), kep)
    )
    p = torch.stack([k, kep] + ([v] if extended else []), dim=-1)
    b = _basis(tab, kep)
    res = y - k[:, None] * b
    if extended:
        res = res - v[:, None] * cp[None, :]
    return p, (res * res).sum(1), conv & torch.isfinite(p).all(dim=1)


def _fit_batch(
    d: _TDesign,
    y: torch.Tensor,
    extended: bool,
    method: str,
    bd: _fit.Bounds,
    max_iter: int,
    tab: _TTable | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """As :func:`dcemets.kinetics._fit.fit_block`, on tensors."""
    if method == "llsq":
        p_ls = _llsq(d, y, extended)
        finite = torch.isfinite(p_ls).all(dim=1)
        ok = finite & (p_ls[:, 0] >= 0) & (p_ls[:, 1] > 0)
        safe = torch.where(ok[:, None], p_ls, torch.ones_like(p_ls))
        m, _ = _model(d, safe, extended, False)
        res = y - m
        rss = torch.where(ok, (res * res).sum(1), torch.full_like(res[:, 0], float("nan")))
        return p_ls, rss, ok
    assert tab is not None
    if y.dtype == torch.float64:
        p, rss, conv = _varpro(tab, d.cp, y, extended, bd, max_iter)
    else:  # the table's sums cancel in float32 (~1e-4 of kep): the search runs in float64
        p, rss, conv = _varpro(tab, d.cp.double(), y.double(), extended, bd, max_iter)
        p, rss = p.to(y.dtype), rss.to(y.dtype)
    exact = ~conv | (rss < 1e-12 * (y * y).sum(1))
    if tab.n < _fit.FINE_NODES:  # long curves (a coarser table): every voxel
        exact = torch.ones_like(exact)
    bad = torch.nonzero(exact)[:, 0]
    if bad.numel():
        p2, rss2, conv2 = _lm(d, y[bad], p[bad], extended, bd, max_iter)
        better = rss2 <= rss[bad]
        p[bad[better]], rss[bad[better]] = p2[better], rss2[better]
        conv[bad] = conv2 & torch.isfinite(p[bad]).all(dim=1)
    return p, rss, conv


def fit_backend(
    y: np.ndarray,
    d: _fit.Design,
    extended: bool,
    method: str,
    bd: _fit.Bounds,
    max_iter: int,
    *,
    device: str = "cpu",
    dtype: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit (extended) Tofts curves in torch: the ``torch`` backend of ``fit_tofts``.

    Implements the backend contract of :mod:`dcemets.kinetics.fitting`; call it through
    ``fit_tofts(..., backend="torch")`` (or any non-CPU `device`).

    Parameters
    ----------
    y : numpy.ndarray
        (V, T) finite concentration curves (mM), float64.
    d : dcemets.kinetics._fit.Design
        AIF grid, AIF, frame indices, frame times, Cp and its integral at the frames.
    extended : bool
        Extended Tofts (third parameter vp).
    method : {"nlls", "llsq"}
        Murase LLSQ, or NLLS started from LLSQ or the kep grid.
    bd : dcemets.kinetics._fit.Bounds
        Bounds of the NLLS fit.
    max_iter : int
        Maximum LM iterations.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default "cpu"
        Torch device; ``"auto"`` is CUDA when available.
    dtype : {None, "float64", "float32"}, optional
        Working precision; None is float32 on CUDA, float64 on the CPU.

    Returns
    -------
    params : numpy.ndarray
        (V, n_par) float64: Ktrans, kep (1/min) [, vp].
    rss : numpy.ndarray
        (V,) float64 residual sums of squares (mM^2).
    success : numpy.ndarray
        (V,) bool.

    Raises
    ------
    ValueError
        Unknown `device` or `dtype`, a CUDA device without CUDA, unknown `method`.

    Examples
    --------
    ``fit_tofts(..., backend="torch")`` finds this function through its entry point:

    >>> import xarray as xr
    >>> from dcemets.kinetics import fit_tofts, parker_aif, tofts
    >>> t = np.arange(0.0, 120.0, 2.0)
    >>> aif = xr.DataArray(parker_aif(t, delay=10.0), dims="time", coords={"time": t})
    >>> y = tofts(t, aif.values, [0.1, 0.2], [0.4, 0.6])
    >>> ct = xr.DataArray(y, dims=("voxel", "time"), coords={"time": t})
    >>> fit = fit_tofts(ct, aif, backend="torch")
    >>> fit["ktrans"].values.round(6).tolist(), fit["kep"].values.round(6).tolist()
    ([0.1, 0.2], [0.4, 0.6])
    """
    dev = _device(device)
    dt = _dtype(dtype, dev)
    if method not in ("nlls", "llsq"):
        raise ValueError(f"`method` must be 'nlls' or 'llsq', got {method!r}")
    y = np.asarray(y, dtype=float)
    nv = y.shape[0]
    npar = 3 if extended else 2
    params = np.empty((nv, npar))
    rss = np.empty(nv)
    ok = np.empty(nv, dtype=bool)
    if nv == 0:
        return params, rss, ok
    td = _design(d, dev, dt)
    # the kep search always runs in float64 (its sums cancel in float32)
    tab = _ttable(_fit.table_for(d, bd), dev, torch.float64) if method == "nlls" else None
    batch = min(
        BATCH[dev.type], max(_MIN_BATCH, _WORK[dev.type] // max(td.conv.shape[0] * td.conv.shape[1], 1))
    )
    with torch.no_grad():
        for s in range(0, nv, batch):
            yb = _tensor(y[s : s + batch], dtype=dt, device=dev)
            p, r, c = _fit_batch(td, yb, bool(extended), method, bd, int(max_iter), tab)
            params[s : s + batch] = p.double().cpu().numpy()
            rss[s : s + batch] = r.double().cpu().numpy()
            ok[s : s + batch] = c.cpu().numpy()
    return params, rss, ok


def _accelerated() -> bool:
    """True when CUDA is available: ``fit_tofts(device="auto")`` then picks this backend.

    On the CPU the torch backend is 2x to 10x slower than the NumPy one on long series, so
    ``"auto"`` uses NumPy there (see :func:`dcemets.kinetics.fitting._auto_backend`).
    """
    return bool(torch.cuda.is_available())


fit_backend.accelerated = _accelerated  # type: ignore[attr-defined]
