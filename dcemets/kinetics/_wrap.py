"""Private helpers shared by the fits of :mod:`delay`, :mod:`exchange` and :mod:`selection`.

A *core* maps a C-contiguous (V, T) float64 block of finite curves to a tuple of (V,)
arrays; :func:`fit_dataset` skips curves holding NaN/inf (NaN outputs, ``success`` False,
one ``RuntimeWarning``) and, with the user's ``mask=``, the curves outside it, runs the core through ``xarray.apply_ufunc(dask="parallelized")``
and labels the outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import SPATIAL_DIMS, output_attrs, warn_user
from dcemets.kinetics._checks import as_time, check_mask, check_real_dataarray
from dcemets.kinetics.forward_models import _prepare_aif

Core = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def check_ct_aif(
    ct: Any, aif: Any, aif_time: Any, min_frames: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate `ct` (DataArray with a time coordinate in s) and the AIF; return t, ta, a."""
    if not isinstance(ct, xr.DataArray):
        raise TypeError(
            f"`ct` must be an xarray.DataArray with a 'time' dim (s), got {type(ct).__name__}"
            " (wrap a NumPy array: xarray.DataArray(values, dims=(..., 'time'), coords={'time': t}))"
        )
    if "time" not in ct.dims or "time" not in ct.coords:
        raise ValueError(f"`ct` needs a 'time' dim with a coordinate in seconds, got dims {ct.dims}")
    check_real_dataarray(ct, "ct")
    t = as_time(ct["time"].values, "ct.time", min_frames=min_frames)
    if isinstance(aif, xr.DataArray) and aif.ndim != 1:
        raise ValueError(f"`aif` must be 1D (one curve for all voxels), got dims {aif.dims}")
    ta, a = _prepare_aif(t, aif, aif_time)
    return t, ta, a


def fit_dataset(
    ct: xr.DataArray,
    core: Core,
    names: Sequence[str],
    meta: Mapping[str, tuple[str, str]],
    attrs: Mapping[str, Any],
    *,
    method: str,
    mask: Any = None,
) -> xr.Dataset:
    """Run `core` on every finite curve of `ct` (within `mask`); return a labelled Dataset.

    `mask` is the user's ``mask=`` (see :func:`dcemets.kinetics._checks.check_mask`): curves
    outside it are NaN (``success`` False), not computed and not counted in the warning.
    """
    n_out = len(names)
    dtypes = [bool if n == "success" else float for n in names]
    m = check_fit_mask(mask, ct)

    def block(yb: np.ndarray, mb: Any) -> tuple[np.ndarray, ...]:
        lead = yb.shape[:-1]
        y = np.asarray(yb, dtype=float).reshape(-1, yb.shape[-1])
        sel = np.broadcast_to(np.asarray(mb, dtype=bool), lead).reshape(-1)
        good = np.all(np.isfinite(y), axis=1) & sel
        outs = [np.zeros(y.shape[0], bool) if d is bool else np.full(y.shape[0], np.nan) for d in dtypes]
        gi = np.flatnonzero(good)
        if gi.size:
            res = core(np.ascontiguousarray(y[gi]))
            for o, r in zip(outs, res):
                o[gi] = r
        n_bad = int((~good & sel).sum())
        if n_bad:
            warn_user(
                f"{n_bad} curve(s) contain NaN or infinite samples and were skipped (NaN parameters, "
                "success False)",
                RuntimeWarning,
            )
        return tuple(o.reshape(lead) for o in outs)

    data = ct.chunk({"time": -1}) if ct.chunks is not None else ct
    res = xr.apply_ufunc(
        block,
        data,
        True if m is None else m,
        input_core_dims=[["time"], []],
        output_core_dims=[[] for _ in range(n_out)],
        dask="parallelized",
        output_dtypes=dtypes,
    )
    ds = xr.Dataset(dict(zip(names, res)))
    template = ct if set(SPATIAL_DIMS) <= set(ct.dims) else None
    for n in names:
        u, ln = meta[n]
        ds[n].attrs = output_attrs(template, units=u, long_name=ln, method=method)
    ds.attrs.update(attrs)
    return ds


def check_fit_mask(mask: Any, ct: xr.DataArray) -> xr.DataArray | None:
    """The ``mask=`` of a voxel-wise fit, validated against `ct` and chunked like it (or None)."""
    if mask is None:
        return None
    m = check_mask(mask, ct, "ct", what="curve to fit")
    if ct.chunks is not None:
        m = m.chunk({d: ct.chunksizes[d] for d in m.dims})
    return m  # type: ignore[no-any-return]


def check_bounds(
    bounds: Mapping[str, Any] | None, default: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Merge user `bounds` into `default` (same keys), checking 0 <= lo < hi, finite."""
    out = dict(default)
    if bounds is None:
        return out
    if not isinstance(bounds, Mapping):
        raise TypeError(
            f"`bounds` must be a mapping like {{{next(iter(default))!r}: (lo, hi)}}, got {type(bounds).__name__}"
        )
    unknown = set(bounds) - set(default)
    if unknown:
        raise ValueError(f"unknown `bounds` key(s) {sorted(unknown)}; use {sorted(default)}")
    for k, v in bounds.items():
        try:
            lo, hi = (float(x) for x in v)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`bounds[{k!r}]` must be a pair of numbers (lo, hi), got {v!r}") from exc
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"`bounds[{k!r}]` must be finite (lo, hi) with 0 <= lo < hi, got {(lo, hi)}")
        if k in ("ve", "vp") and hi > 1:
            raise ValueError(f"`bounds[{k!r}]` is a volume fraction: the upper bound must be <= 1, got {hi}")
        out[k] = (lo, hi)
    return out


def check_max_iter(max_iter: Any) -> int:
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"`max_iter` must be a positive int, got {max_iter!r}")
    return int(max_iter)
