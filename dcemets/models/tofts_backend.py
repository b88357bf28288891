"""PyTorch backend of :func:`dcemets.kinetics.fit_tofts` (CPU or CUDA).

:mod:`dcemets.kinetics` may not import torch, so it defines the backend contract (see
:mod:`dcemets.kinetics.fitting`) and finds this implementation through the entry point
``torch = "dcemets.models.tofts_backend:fit_backend"`` of the group ``dcemets.fit_tofts``.  The
algorithm is not written here: :mod:`dcemets.kinetics._fit` writes it once over the array API
(``array-api-compat``), and this module calls the same functions with torch tensors -- Murase
LLSQ in closed form (:func:`~dcemets.kinetics._fit.llsq`); NLLS by variable projection over
the tabulated kep axis (:func:`~dcemets.kinetics._fit.varpro`, the table built by NumPy and
moved to the device, always in float64: its sums cancel in float32), then the projected
Levenberg-Marquardt on the exact model (:func:`~dcemets.kinetics._fit.polish`) for the voxels
NumPy polishes too -- for a batch of voxels at a time.  What is its own is the device
handling, the batching and the exact convolution, :class:`ExpConv`.

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
(``tests/models/test_tofts_backend.py``); its phi1/phi2 coefficients are those of the shared
:func:`dcemets.kinetics._np.phi`.
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
            p1, p2, p1d, p2d = _knp.phi(k[:, None] * self.dts[None, :])  # (V, U)
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
            p1, p2, p1d, p2d = _knp.phi(k[None, :, None] * self.dt_p)
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
    """:class:`dcemets.kinetics._fit.Design` on a torch device (what the shared functions read)."""

    conv: ExpConv
    t: np.ndarray  # frame times (s), NumPy: the LLSQ trapezoid weights are built from them
    cp: torch.Tensor
    icp: torch.Tensor


def _design(d: _fit.Design, dev: torch.device, dt: torch.dtype) -> _TDesign:
    return _TDesign(
        conv=ExpConv(d.tm, d.am, d.idx, dev, dt),
        t=np.asarray(d.t, dtype=float),
        cp=_tensor(d.cp, device=dev, dtype=dt),
        icp=_tensor(d.icp, device=dev, dtype=dt),
    )


def _table(tab: _fit.KepTable, dev: torch.device) -> _fit.KepTable:
    """The kep table with its arrays on `dev` (float64; the node indices int64)."""

    def convert(x: np.ndarray) -> torch.Tensor:
        return _tensor(x, dev, torch.float64 if x.dtype.kind == "f" else torch.int64)

    return _fit.table_as(tab, convert)


def _fit_batch(
    d: _TDesign,
    y: torch.Tensor,
    extended: bool,
    method: str,
    bd: _fit.Bounds,
    max_iter: int,
    tab: _fit.KepTable | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """As :func:`dcemets.kinetics._fit.fit_block`, on tensors (the RSS of LLSQ on the exact model)."""
    if method == "llsq":
        p_ls = _fit.llsq(d, y, extended)
        ok = _fit._finite_rows(p_ls) & (p_ls[:, 0] >= 0) & (p_ls[:, 1] > 0)
        m, _ = _fit.model(d, torch.where(ok[:, None], p_ls, torch.ones_like(p_ls)), extended, False)
        res = y - m
        return p_ls, torch.where(ok, (res * res).sum(1), torch.full_like(res[:, 0], float("nan"))), ok
    assert tab is not None
    if y.dtype == torch.float64:
        p, rss, conv = _fit.varpro(tab, d.cp, y, extended, bd, max_iter)
    else:  # the table's sums cancel in float32 (~1e-4 of kep): the search runs in float64
        p, rss, conv = _fit.varpro(tab, d.cp.double(), y.double(), extended, bd, max_iter)
        p, rss = p.to(y.dtype), rss.to(y.dtype)
    _fit.polish(d, y, (p, rss, conv), tab.n, extended, bd, max_iter)
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
    tab = _table(_fit.table_for(d, bd), dev) if method == "nlls" else None
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
