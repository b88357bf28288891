"""Voxel-wise (extended) Tofts fitting: Murase LLSQ and batched bounded Levenberg-Marquardt.

**Backends.**  The fit runs in NumPy (``backend="numpy"``, built in) or in a plugin backend
found through the entry-point group ``dcemets.fit_tofts``.  dcemets registers ``torch =
"dcemets.models.tofts_backend:fit_backend"``: :mod:`dcemets.kinetics` may not import torch (layer
rule), so it defines this contract and :mod:`dcemets.models` implements it; the dependency
points downward at import time and is looked up by name at call time.  The solver itself
is not part of a backend: :mod:`dcemets.kinetics._fit` writes it once over the array API, and
the torch backend calls it with tensors (a backend brings its device, batching and, if it
wants, its own exact convolution).

A backend is a callable::

    fit_backend(y, d, extended, method, bd, max_iter, *, device, dtype)
        -> (params, rss, success)

with ``y`` a C-contiguous (V, T) float64 array of finite concentration curves (mM; curves
with NaN are removed beforehand), ``d`` the :class:`dcemets.kinetics._fit.Design` (merged AIF
grid ``tm`` (s), AIF ``am`` on it, frame indices ``idx`` into it, frame times ``t``, ``cp``
and the exact integral ``icp`` of Cp at the frames), ``extended`` a bool, ``method``
``"nlls"`` or ``"llsq"``, ``bd`` the :class:`dcemets.kinetics._fit.Bounds`, ``max_iter`` the
LM iteration cap, ``device`` the requested device string (``"cpu"``, ``"cuda"``,
``"cuda:N"``, ``"auto"``) and ``dtype`` ``"float64"``, ``"float32"`` or None (the backend's
default).  It returns NumPy arrays: ``params`` (V, n_par) float64 (Ktrans, kep in 1/min [, vp]),
``rss`` (V,) float64 and ``success`` (V,) bool, with the semantics of
:func:`dcemets.kinetics._fit.fit_block`.  :func:`fit_tofts` first calls it once with V = 0,
so that an unusable `device` or `dtype` raises ``ValueError`` at call time even when the
result is a lazy dask array.  A backend may carry an ``accelerated`` attribute, a callable
returning True when it has an accelerator (a GPU) to run on; ``device="auto"`` picks it only
then, and the NumPy backend otherwise (the torch backend is slower than NumPy on the CPU).
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import SPATIAL_DIMS, output_attrs, warn_user
from dcemets.kinetics import _fit, _threads
from dcemets.kinetics._checks import as_time, check_real_dataarray
from dcemets.kinetics._wrap import check_fit_mask
from dcemets.kinetics.forward_models import _prepare_aif

__all__ = ["fit_tofts"]

#: Entry-point group of the fitting backends.
ENTRY_POINT_GROUP = "dcemets.fit_tofts"

_INSTALL = 'pip install torch==2.13.0 -e ".[torch]"'
#: Entry-point values of dcemets' own backends before issue 17 renamed their modules -> now.
#: Metadata written by an older install (an editable install not re-installed since) still
#: names the old module, a deprecated alias that warns on import: load the new one directly.
_RENAMED_ENTRY_POINTS = {"dcemets.models.tofts:fit_backend": "dcemets.models.tofts_backend:fit_backend"}
_DEVICE_RE = re.compile(r"cpu|auto|cuda(:\d+)?")

Backend = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


@functools.cache
def _load_backend(name: str) -> Backend:
    """Return the backend `name` (``numpy`` built in, others from the entry points)."""
    if name == "numpy":
        return _fit.fit_numpy
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    found = [ep for ep in eps if ep.name == name]
    if not found:
        avail = sorted({"numpy", *(ep.name for ep in eps)})
        raise ValueError(
            f"unknown fitting `backend` {name!r}: no entry point {name!r} in group "
            f"{ENTRY_POINT_GROUP!r} (available: {avail}); the 'torch' backend comes with dcemets "
            f"when installed with `{_INSTALL}`"
        )
    ep = found[0]
    if ep.value in _RENAMED_ENTRY_POINTS:
        ep = importlib.metadata.EntryPoint(
            name=ep.name, value=_RENAMED_ENTRY_POINTS[ep.value], group=ep.group
        )
    try:
        fn = ep.load()
    except ImportError as exc:
        raise ValueError(
            f"the {name!r} fitting backend could not be imported ({exc}); install it with `{_INSTALL}`"
        ) from exc
    if not callable(fn):
        raise TypeError(f"entry point {ep.value!r} of group {ENTRY_POINT_GROUP!r} is not callable")
    return fn  # type: ignore[no-any-return]


def _auto_backend() -> str:
    """The backend ``device="auto"`` picks: the fastest available.

    ``"torch"`` when the torch backend is installed and reports an accelerator (its
    ``accelerated()`` attribute: CUDA available), else ``"numpy"`` -- on the CPU the torch
    backend is 2x to 10x slower than NumPy on long series (3000 voxels x 1321 frames: NumPy
    4.8 s, torch 10.8 s in issue 22; 2.7 s and 20-27 s on a shared 2-core machine), so a
    CPU-only machine gets NumPy even with torch installed.
    """
    try:
        fn = _load_backend("torch")
    except (ValueError, TypeError):
        return "numpy"
    accelerated = getattr(fn, "accelerated", None)
    return "torch" if callable(accelerated) and accelerated() else "numpy"


def _resolve_backend(backend: str | None, device: Any, dtype: Any) -> str:
    """Validate `backend`, `device` and `dtype` as strings; return the backend name."""
    if not isinstance(device, str):
        raise TypeError(
            f"`device` must be a str ('cpu', 'cuda', 'cuda:N' or 'auto'), got {type(device).__name__}"
        )
    if not _DEVICE_RE.fullmatch(device):
        raise ValueError(f"`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if dtype is not None and dtype not in ("float64", "float32"):
        raise ValueError(f"`dtype` must be None, 'float64' or 'float32', got {dtype!r}")
    if backend is None:
        backend = _auto_backend() if device == "auto" else ("numpy" if device == "cpu" else "torch")
    if not isinstance(backend, str):
        raise TypeError(f"`backend` must be a str or None, got {type(backend).__name__}")
    if backend == "numpy":
        if device not in ("cpu", "auto"):
            raise ValueError(
                f"backend='numpy' runs on the CPU only, got device={device!r}; use device='cpu' or "
                "backend='torch' for GPU fitting"
            )
        if dtype not in (None, "float64"):
            raise ValueError(f"backend='numpy' computes in float64, got dtype={dtype!r}")
    return backend


def _bounds(bounds: Mapping[str, Any] | None) -> _fit.Bounds:
    if bounds is None:
        return _fit.Bounds()
    if not isinstance(bounds, Mapping):
        raise TypeError(
            "`bounds` must be a mapping like {'ktrans': (0, 5), 'kep': (1e-3, 100), 'vp': (0, 1), 've_max': 1}"
        )
    unknown = set(bounds) - {"ktrans", "kep", "vp", "ve_max"}
    if unknown:
        raise ValueError(f"unknown `bounds` key(s) {sorted(unknown)}; use ktrans, kep, vp, ve_max")
    base = _fit.Bounds()
    kw: dict[str, Any] = {}
    for k in ("ktrans", "kep", "vp"):
        lo, hi = (float(v) for v in bounds.get(k, getattr(base, k)))
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"`bounds[{k!r}]` must be finite (lo, hi) with 0 <= lo < hi, got {(lo, hi)}")
        kw[k] = (lo, hi)
    if kw["kep"][0] <= 0:
        raise ValueError("`bounds['kep']` lower bound must be > 0 (ve = Ktrans / kep)")
    ve_max = float(bounds.get("ve_max", base.ve_max))
    if not ve_max > 0:
        raise ValueError(f"`bounds['ve_max']` must be positive, got {ve_max}")
    if kw["ktrans"][0] > ve_max * kw["kep"][1]:
        raise ValueError(
            f"`bounds` cannot all hold: Ktrans >= {kw['ktrans'][0]} needs kep >= "
            f"{kw['ktrans'][0] / ve_max:g} (Ktrans <= ve_max kep), above the kep upper bound {kw['kep'][1]}"
        )
    return _fit.Bounds(ve_max=ve_max, **kw)


_META: dict[str, tuple[str, str]] = {
    "ktrans": ("1/min", "volume transfer constant Ktrans"),
    "kep": ("1/min", "efflux rate constant kep"),
    "ve": ("1", "extravascular extracellular volume fraction ve = Ktrans/kep"),
    "vp": ("1", "plasma volume fraction vp"),
    "rss": ("mM2", "residual sum of squares"),
    "success": ("1", "fit succeeded"),
    "ktrans_se": ("1/min", "standard error of Ktrans"),
    "kep_se": ("1/min", "standard error of kep"),
    "ve_se": ("1", "standard error of ve (delta method)"),
    "vp_se": ("1", "standard error of vp"),
    "r2": ("1", "coefficient of determination R2 = 1 - rss / total sum of squares"),
    "at_bound": ("1", "parameters on a bound (bit mask)"),
}
"""Units and long names of :func:`fit_tofts`'s output variables."""
_SE_DOC = (
    "sqrt of the diagonal of sigma^2 (J^T J)^-1, J the Jacobian of the exact model at the "
    "estimate, sigma^2 = rss / (n_frames - n_params); NaN where J^T J is singular or the fit "
    "failed"
)


def _annotate(ds: xr.Dataset, names: list[str], template: Any, method: str) -> None:
    """Units, long names and comments of :func:`fit_tofts`'s output variables, in place."""
    for n in names:
        u, ln = _META[n]
        ds[n].attrs = output_attrs(template, units=u, long_name=ln, method=method)
        if n.endswith("_se"):
            ds[n].attrs["comment"] = _SE_DOC
    ds["at_bound"].attrs.update(
        {
            "flag_masks": np.array([1, 2, 4, 8], dtype=np.uint8),
            "flag_meanings": "ktrans_at_bound kep_at_bound vp_at_bound ve_at_ve_max",
            "comment": (
                "bit set where the parameter lies on (LLSQ: on or beyond) a bound of `bounds`, "
                "within 1e-9 relative; 0 for failed fits"
            ),
        }
    )


def fit_tofts(
    ct: xr.DataArray,
    aif: Any,
    *,
    extended: bool = False,
    method: str = "nlls",
    device: str = "cpu",
    aif_time: Any = None,
    bounds: Mapping[str, Any] | None = None,
    max_iter: int = 100,
    backend: str | None = None,
    dtype: str | None = None,
    n_jobs: int | None = None,
    mask: Any = None,
) -> xr.Dataset:
    """Fit the (extended) Tofts model to every concentration curve of `ct`.

    ``method="llsq"``: Murase's linear least squares,
    ``Ct(t) = (Ktrans [+ kep vp]) int Cp - kep int Ct [+ vp Cp(t)]``, solved for all voxels at
    once by closed-form 2 x 2 (3 x 3) normal equations (integrals from the first frame, which
    is assumed pre-contrast).  ``method="nlls"``: bounded nonlinear least squares of the exact
    model of :func:`dcemets.kinetics.tofts` by variable projection (Golub & Pereyra [5]_):
    for a fixed kep the model is linear in Ktrans (and vp), and its kep-dependent part is the
    same for every voxel, so the exact convolution of the AIF (and its kep-derivative) is
    tabulated once per call on 2049 log-spaced kep values spanning the bounds and read back by
    cubic Hermite interpolation (within 1e-11 of the exact recursion, relative to the curve's
    peak).  Each voxel's kep is found by a coarse scan of the table (one matrix product for all
    voxels) refined by safeguarded Newton steps in ln kep on the residual with Ktrans [and vp]
    eliminated (solved within their bounds at every kep, including Ktrans <= ve_max kep); all
    voxels are iterated together, no loop over voxels and no ``curve_fit``.  Voxels whose
    iteration does not converge, noise-free curves (residual below 1e-6 of the curve's norm,
    where the table's error would show) and curves of more than 256 frames are polished by a
    batched projected Levenberg-Marquardt on the exact model with its analytic Jacobian.  The
    NumPy backend fits equal blocks of at most 16384 voxels in `n_jobs` threads (NumPy releases the GIL in
    its array operations); the result does not depend on the number of threads.

    **AIF sampling.**  `aif` may be sampled on a finer grid than `ct` (a 1D DataArray with
    its own time coordinate, or `aif_time`): the model is then computed on the AIF's grid
    and sampled exactly at `ct`'s frame times, and the LLSQ integral of Cp is taken on that
    grid.  This matters for the paper's protocol: with 12 frames of 10-14 s, a model built
    from the AIF known only at the frames biases Ktrans by -14 % to +78 % (kep by -20 % to
    +127 %), depending on where the bolus falls between frames; with the AIF on a <= 1 s grid
    the error is below 2 % (see ``tests/kinetics/test_fitting.py``).  Give population AIFs on
    a fine grid.

    Parameters
    ----------
    ct : xarray.DataArray
        Tissue concentration (mM) with a ``time`` dim (s, strictly increasing, >= 3 frames)
        and any other dims (voxels), numpy- or dask-backed (then the result is lazy).
    aif : xarray.DataArray or array_like
        Plasma AIF (mM): a 1D DataArray with its own time coordinate, or an array sampled
        at `aif_time` (default: `ct`'s times).  Its grid must cover `ct`'s times.
    extended : bool, default False
        Fit the extended Tofts model (adds ``vp``).
    method : {"nlls", "llsq"}, default "nlls"
        Fitting method.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default "cpu"
        Where to fit.  ``"auto"`` is the fastest available: CUDA (the torch backend) when
        torch and a CUDA GPU are available, else the NumPy backend on the CPU -- also when
        torch is installed, since on the CPU the torch backend is 2x to 10x slower than
        NumPy on long series.  ``ds.attrs["backend"]`` records the choice.  ``"cuda"`` needs the
        torch backend.
    aif_time : array_like, optional
        Times (s) of the AIF samples.
    bounds : mapping, optional
        NLLS bounds: ``ktrans`` (default (0, 5) 1/min), ``kep`` ((1e-3, 100) 1/min), ``vp``
        ((0, 1)) and ``ve_max`` (1: Ktrans <= ve_max kep).  LLSQ is unbounded.
    max_iter : int, default 100
        Maximum LM iterations.
    backend : {None, "numpy", "torch"} or str, optional
        Implementation.  None: ``"numpy"`` when `device` is ``"cpu"``, ``"torch"`` for a CUDA
        `device`, and for ``"auto"`` the backend it resolves to (see `device`).
        ``"numpy"`` runs on the CPU only; ``"torch"`` (:func:`dcemets.models.tofts_backend.fit_backend`,
        needs ``pip install torch==2.13.0 -e ".[torch]"``) runs the same algorithm -- same
        start, bounds, damping and stopping rules, results equal to NumPy's to ~1e-8 in
        float64 -- on any torch device, in batches of voxels.  Other names are looked up in
        the ``dcemets.fit_tofts`` entry-point group (the backend contract is in the docstring
        of :mod:`dcemets.kinetics.fitting`).
    dtype : {None, "float64", "float32"}, optional
        Working precision of the torch backend; None is float64 on the CPU and float32 on
        CUDA.  The numpy backend accepts only None or ``"float64"``.  Results are returned as
        float64 either way; float32 parameters are within ~1e-6 of float64 for most voxels
        (median), ~1e-3 for ill-conditioned ones.
    n_jobs : int, optional
        Threads of the NumPy backend (fit and standard errors, by blocks of voxels); None:
        one per CPU this process may use (``os.sched_getaffinity``).  The result is identical
        for any value.  Other backends ignore it.
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Curves to fit; the others are NaN (``success`` False, ``at_bound`` 0) and are
        neither fitted nor counted in the NaN-curve warning -- the same ``mask=`` as
        :func:`parametric_maps` and :func:`signal_to_concentration`.  Over the non-time dims
        of `ct`: a bool DataArray with those dims (for a ``(z, y, x)`` volume on the same
        world grid) or an ndarray of their shape in the order of `ct`.  The fits inside are
        bitwise those of the selected curves fitted alone, and an unmasked call's to
        rounding (batched products differ in the last bits with the set of curves).

    Returns
    -------
    xarray.Dataset
        On the non-time dims of `ct`: ``ktrans`` and ``kep`` (1/min), ``ve`` (= Ktrans/kep),
        ``vp`` (extended only), ``rss`` (mM^2, residual sum of squares of the exact model) and
        ``success`` (bool: LLSQ physically admissible -- finite, Ktrans >= 0, kep > 0 -- or
        NLLS converged); then the fit quality: ``ktrans_se``, ``kep_se`` (1/min), ``ve_se``
        and ``vp_se`` (extended only), the standard errors ``sqrt(diag(sigma^2 (J^T J)^-1))``
        with ``J`` the Jacobian of the exact model at the estimate and ``sigma^2 = rss / (n -
        p)`` (n frames, p parameters; ve's by the delta method), NaN where the fit failed,
        where ``n <= p`` or where a parameter does not enter the model (kep when Ktrans = 0);
        ``r2`` (1 - rss / total sum of squares, NaN for a constant curve); and ``at_bound``
        (uint8 bit mask, CF ``flag_masks``/``flag_meanings`` attrs: 1 Ktrans, 2 kep, 4 vp on a
        bound of `bounds`, 8 Ktrans = ve_max kep; for the unbounded LLSQ, on or beyond it).
        For LLSQ the same SEs are evaluated at the LLSQ estimate (a linearisation around a
        point that is not the least-squares minimum: approximate).  The SEs assume
        independent Gaussian noise of equal variance; with 12 frames estimate +- 1.96 SE
        covers the truth ~92 % of the time (the t quantile 2.23 of 10 degrees of freedom
        gives ~95 %), and at a bound the interval is not meaningful.  Curves with NaN samples are skipped (NaN, ``success`` False) with a
        ``RuntimeWarning`` giving their count; they never affect other voxels.  An all-zero
        curve (no uptake) gets ``Ktrans = vp = ve = 0``, ``rss = 0`` and kep at its lower
        bound (it is not identifiable) from either method.

    Raises
    ------
    ValueError
        Fewer than 3 frames, times not increasing, an AIF grid that does not cover `ct`'s
        times, mismatched AIF size, unknown `method`, bad `bounds`, an unknown `backend` or
        one that is not installed, ``backend="numpy"`` with a non-CPU `device` or float32,
        a CUDA `device` without CUDA, a bad `dtype`, `n_jobs` not None or a positive int,
        a `mask` of the wrong dims, shape or grid, or selecting no curve.
    TypeError
        `ct` not a DataArray of real numbers (complex, strings); `aif` not real numbers;
        `device` or `backend` not a string; `mask` not a bool array.

    References
    ----------
    .. [1] Murase K. Efficient method for calculating kinetic parameters using T1-weighted
       dynamic contrast-enhanced magnetic resonance imaging. Magn Reson Med 2004;51:858-862.
       :doi:`10.1002/mrm.20022`
    .. [2] Tofts PS et al. J Magn Reson Imaging 1999;10:223-232.
       :doi:`10.1002/(SICI)1522-2586(199909)10:3<223::AID-JMRI2>3.0.CO;2-S`
    .. [3] Flouri D, Lesnic D, Sourbron SP. Magn Reson Med 2016;76:998-1006.
       :doi:`10.1002/mrm.25991`
    .. [4] Marquardt DW. An algorithm for least-squares estimation of nonlinear parameters.
       J Soc Ind Appl Math 1963;11:431-441. :doi:`10.1137/0111030`
    .. [5] Golub GH, Pereyra V. The differentiation of pseudo-inverses and nonlinear least
       squares problems whose variables separate. SIAM J Numer Anal 1973;10:413-432.
       :doi:`10.1137/0710036`

    Examples
    --------
    >>> from dcemets.kinetics import parker_aif, tofts
    >>> t_fine = np.arange(0.0, 150.0, 0.5)
    >>> aif = xr.DataArray(parker_aif(t_fine, delay=24.0), dims="t", coords={"t": t_fine})
    >>> frames = np.arange(12) * 12.0
    >>> ct = xr.DataArray(tofts(frames, aif, [0.1, 0.2], [0.39, 0.58]), dims=("voxel", "time"),
    ...                   coords={"time": frames})
    >>> fit = fit_tofts(ct, aif)
    >>> fit.ktrans.values.round(4), fit.kep.values.round(4)
    (array([0.1, 0.2]), array([0.39, 0.58]))
    >>> noisy = ct + np.random.default_rng(0).normal(0.0, 0.01, ct.shape)
    >>> f = fit_tofts(noisy, aif)
    >>> f.ktrans_se.values.round(4), f.r2.values.round(3), f.at_bound.values
    (array([0.0033, 0.005 ]), array([0.995, 0.997]), array([0, 0], dtype=uint8))
    >>> fit_tofts(ct, aif, mask=np.array([False, True])).ktrans.values.round(4)
    array([nan, 0.2])
    """
    if not isinstance(ct, xr.DataArray):
        raise TypeError(
            f"`ct` must be an xarray.DataArray with a 'time' dim (s), got {type(ct).__name__}"
            " (wrap a NumPy array: xarray.DataArray(values, dims=(..., 'time'), coords={'time': t}))"
        )
    if "time" not in ct.dims or "time" not in ct.coords:
        raise ValueError(f"`ct` needs a 'time' dim with a coordinate in seconds, got dims {ct.dims}")
    if method not in ("nlls", "llsq"):
        raise ValueError(f"`method` must be 'nlls' or 'llsq', got {method!r}")
    backend_name = _resolve_backend(backend, device, dtype)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"`max_iter` must be a positive int, got {max_iter!r}")
    jobs = _threads.check_n_jobs(n_jobs)
    check_real_dataarray(ct, "ct")
    t = as_time(ct["time"].values, "ct.time", min_frames=3)
    if isinstance(aif, xr.DataArray) and aif.ndim != 1:
        raise ValueError(f"`aif` must be 1D (one curve for all voxels), got dims {aif.dims}")
    ta, a = _prepare_aif(t, aif, aif_time)
    bd = _bounds(bounds)
    d = _fit.design(t, ta, a)
    ext = bool(extended)
    npar = 3 if ext else 2
    fn = _load_backend(backend_name)

    def fit_curves(y: np.ndarray) -> tuple[np.ndarray, ...]:
        if fn is _fit.fit_numpy:  # fit and quality fused, block by block in threads
            return _fit.fit_numpy_quality(y, d, ext, method, bd, int(max_iter), n_jobs=jobs)
        out = fn(y, d, ext, method, bd, int(max_iter), device=device, dtype=dtype)
        p, rss, ok = (np.asarray(o) for o in out)
        if method == "llsq":
            p, rss, ok = _fit.llsq_no_uptake(y, p, rss, ok, bd)
        if y.shape[0] == 0:
            return p, rss, ok, np.empty((0, npar + 3))
        p, rss, ok = np.asarray(p, dtype=float), np.asarray(rss, dtype=float), np.asarray(ok, dtype=bool)
        return p, rss, ok, _fit.quality(d, y, p, rss, ok, ext, bd, n_jobs=jobs)

    fit_curves(np.empty((0, t.size)))  # validates device and dtype now, even for a lazy result
    m = check_fit_mask(mask, ct)
    pnames = ["ktrans", "kep"] + (["vp"] if ext else [])
    names = ["ktrans", "kep", "ve"] + (["vp"] if ext else []) + ["rss", "success"]
    names += [f"{n}_se" for n in ("ktrans", "kep", "ve", *(["vp"] if ext else []))] + ["r2", "at_bound"]

    def core(y: np.ndarray, sel: Any) -> tuple[np.ndarray, ...]:
        sel = None if m is None else np.broadcast_to(np.asarray(sel, dtype=bool), y.shape[:-1])
        p, rss, ok, n_nan, q = _fit.fit(y, npar, fit_curves, n_extra=npar + 3, sel=sel)
        if n_nan:
            warn_user(
                f"{n_nan} curve(s) contain NaN or infinite samples and were skipped (NaN parameters, "
                "success False)",
                RuntimeWarning,
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            ve = p[..., 0] / p[..., 1]
        outs = [p[..., 0], p[..., 1], ve]
        if ext:
            outs.append(p[..., 2])
        se = {n: q[..., i] for i, n in enumerate(pnames)}
        se["ve"] = q[..., npar]
        ses = [se[n] for n in ("ktrans", "kep", "ve", *(["vp"] if ext else []))]
        flag = np.nan_to_num(q[..., npar + 2]).astype(np.uint8)
        return (*outs, rss, ok, *ses, q[..., npar + 1], flag)

    data = ct.chunk({"time": -1}) if ct.chunks is not None else ct
    res = xr.apply_ufunc(
        core,
        data,
        True if m is None else m,
        input_core_dims=[["time"], []],
        output_core_dims=[[] for _ in names],
        dask="parallelized",
        output_dtypes=[
            float if n not in ("success", "at_bound") else (bool if n == "success" else np.uint8)
            for n in names
        ],
    )
    ds = xr.Dataset(dict(zip(names, res)))
    _annotate(ds, names, ct if set(SPATIAL_DIMS) <= set(ct.dims) else None, method)
    ds.attrs.update(
        {
            "model": "extended Tofts" if ext else "Tofts",
            "method": method,
            "backend": backend_name,
            "aif_grid_s": f"{ta[0]:g}..{ta[-1]:g} ({ta.size} samples)",
        }
    )
    return ds
