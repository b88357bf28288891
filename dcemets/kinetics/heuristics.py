"""Hot-spot heuristics, parametric maps and ROI tools (Lang et al. 2019, sections 2.3 and 2.5).

One concept: the paper's hot-spot measurements, with the guards (vessel and baseline
checks of the hot spot) that make them safe on real exams.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from dcemets._checks import check_finite, check_positive
from dcemets._conventions import (
    SPATIAL_DIMS,
    check_same_grid,
    like,
    output_attrs,
    validate_dce,
    validate_image,
    warn_user,
)
from dcemets.kinetics import _np
from dcemets.kinetics._checks import as_float_array, as_time, check_mask, check_real_dataarray

__all__ = ["HOTSPOT_FLAGS", "heuristics", "hotspot_roi", "parametric_maps", "roi_curve"]

_REFS = (
    "Lang N et al. Differentiation of spinal metastases originated from lung and other cancers "
    "using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging 2019;64:4-12, "
    "doi:10.1016/j.mri.2019.02.013, section 2.3"
)
_LONG = {
    "wash_in": "steepest wash-in signal enhancement (S2 - S1) / S0",
    "max_se": "maximum signal enhancement (Smax - S0) / S0",
    "washout": "wash-out slope (S_last - S_ref) / S_ref",
}
_ACQ_KEYS = ("tr_s", "te_s", "flip_angle_deg", "injection_time_s", "r1_per_mM_s", "field_strength_T")


def _check_nb(n_baseline: Any, nt: int) -> int:
    if isinstance(n_baseline, bool) or not isinstance(n_baseline, (int, np.integer)):
        raise TypeError(f"`n_baseline` must be an int, got {type(n_baseline).__name__}")
    if not 1 <= n_baseline < nt:
        raise ValueError(f"`n_baseline` must be in [1, {nt - 1}] for {nt} frames, got {n_baseline}")
    return int(n_baseline)


def _timing(
    times: np.ndarray,
    nb: int,
    injection_time: Any,
    attrs: Mapping[str, Any],
    late_reference: Any,
    peak_cutoff: Any,
) -> tuple[float, float, float]:
    if injection_time is None:
        injection_time = attrs.get("injection_time_s", times[nb])
    t_inj = check_finite(injection_time, "injection_time", "s")
    late = check_positive(late_reference, "late_reference", "s after injection")
    cutoff = check_positive(peak_cutoff, "peak_cutoff", "s after injection")
    t_late = t_inj + late
    if not times[0] <= t_late <= times[-1]:
        raise ValueError(
            f"the late reference time injection_time + late_reference = {t_late:g} s lies outside the "
            f"frames [{times[0]:g}, {times[-1]:g}] s; adjust `late_reference` or `injection_time`"
        )
    return t_inj, cutoff, t_late


def _signal_and_time(signal: Any, time: Any) -> tuple[Any, np.ndarray]:
    if isinstance(signal, xr.DataArray):
        check_real_dataarray(signal, "signal")
        if "time" not in signal.dims:
            raise ValueError(f"`signal` needs a 'time' dim, got dims {signal.dims}")
        if "time" not in signal.coords:
            raise ValueError("`signal` needs a `time` coordinate (s)")
        t = as_time(signal["time"].values, "signal.time", min_frames=3)
        if time is not None and not np.allclose(as_time(time, "time", min_frames=3), t):
            raise ValueError("`time` disagrees with the `time` coordinate of `signal`")
        return signal, t
    if time is None:
        raise TypeError("`time` (frame times in s) is required when `signal` is not a DataArray")
    s = as_float_array(signal, "signal")
    t = as_time(time, "time", min_frames=3)
    if s.ndim < 1 or s.shape[-1] != t.size:
        raise ValueError(
            f"`signal` must have one frame per `time` value on its last axis: `time` has {t.size} "
            f"values, `signal` has shape {s.shape}"
        )
    return s, t


def _warn_nan(n: int) -> None:
    if n:
        warn_user(
            f"{n} curve(s)/voxel(s) contain NaN or infinite samples; their heuristics are NaN "
            "(index -1, washout_rule -1) and they do not affect other voxels",
            RuntimeWarning,
        )


def heuristics(
    signal: Any,
    *,
    n_baseline: int = 1,
    injection_time: float | None = None,
    peak_cutoff: float = 85.0,
    late_reference: float = 67.0,
    time: Any = None,
) -> xr.Dataset:
    """Heuristic DCE parameters of the paper: steepest wash-in, maximum SE and wash-out slope.

    For each curve ``S`` (Lang et al. 2019, section 2.3), all in percent:

    * ``S0`` = mean of the first `n_baseline` frames;
    * steepest wash-in SE = ``max_i (S[i+1] - S[i]) / S0 x 100`` over adjacent frames up to
      the peak (``i + 1 <= peak``; 0 when the peak is the first frame);
    * maximum SE = ``(Smax - S0) / S0 x 100`` (``Smax`` at the first maximum, the peak);
    * wash-out slope: if the peak comes at most `peak_cutoff` s after injection,
      ``(S_last - S_peak) / S_peak x 100`` (``washout_rule`` 0); otherwise
      ``(S_last - S67) / S67 x 100`` with ``S67`` linearly interpolated `late_reference` s
      after injection (``washout_rule`` 1).

    Works on a single curve, any volume (numpy: time on the last axis, with `time` given;
    DataArray: the ``time`` dim by name) and lazily on dask-chunked DataArrays.

    Parameters
    ----------
    signal : xarray.DataArray with a ``time`` dim, or array_like (..., T)
        Signal (a.u.), e.g. a hot-spot ROI curve ``("time",)`` or a DCE volume.
    n_baseline : int, default 1
        Number of pre-contrast frames averaged into ``S0``.
    injection_time : float, optional
        Injection time (s, on the frame-time axis).  Default: ``attrs['injection_time_s']``
        of a DataArray when present, else the time of frame `n_baseline` (the first
        post-contrast frame).
    peak_cutoff : float, default 85.0
        Latest peak time (s after injection) for the peak rule, positive.
    late_reference : float, default 67.0
        Time (s after injection) of the late reference signal, positive.
    time : array_like, shape (T,), optional
        Frame times (s); required for numpy input.

    Returns
    -------
    xarray.Dataset
        On the non-time dims of `signal`: ``wash_in``, ``max_se``, ``washout`` (float, %),
        ``s1_index``, ``s2_index``, ``peak_index`` (int, frame indices; -1 for NaN curves) and
        ``washout_rule`` (int8: 0 peak, 1 late, -1 invalid).  ``attrs`` record the injection
        and late-reference times.

    Raises
    ------
    ValueError
        Fewer than 3 frames, times not increasing, `time` not matching the last axis of
        `signal`, `n_baseline` out of range, `peak_cutoff` or `late_reference` not positive
        and finite, a baseline ``S0 <= 0`` (the message gives the number of voxels), or a
        late reference time outside the frames.
    TypeError
        Non-numeric (strings, objects) or complex input, or missing `time` for numpy input.

    Warns
    -----
    RuntimeWarning
        With the count of curves holding NaN samples (they get NaN parameters).

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12. :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Lang N, Yuan H, Yu HJ, Su MY. Diagnosis of spinal lesions using heuristic and
       pharmacokinetic parameters measured by dynamic contrast-enhanced MRI. Acad Radiol
       2017;24:867-875. :doi:`10.1016/j.acra.2016.12.011`

    Examples
    --------
    >>> t = np.arange(12) * 12.0
    >>> s = np.array([100, 100, 150, 190, 200, 195, 190, 185, 180, 175, 170, 165.0])
    >>> h = heuristics(s, time=t)
    >>> float(h.wash_in), float(h.max_se), round(float(h.washout), 2), int(h.washout_rule)
    (50.0, 100.0, -17.5, 0)
    """
    data, t = _signal_and_time(signal, time)
    nb = _check_nb(n_baseline, t.size)
    attrs = data.attrs if isinstance(data, xr.DataArray) else {}
    t_inj, cutoff, t_late = _timing(t, nb, injection_time, attrs, late_reference, peak_cutoff)
    names = ("wash_in", "max_se", "washout", "s1_index", "s2_index", "peak_index", "washout_rule")
    dtypes = [float, float, float, np.int64, np.int64, np.int64, np.int8]

    def core(x: np.ndarray) -> tuple[np.ndarray, ...]:
        out = _np.heuristics_np(x, t, nb, t_inj, cutoff, t_late - t_inj)
        if isinstance(x, np.ndarray):
            _warn_nan(int(np.count_nonzero(out[6] == _np.RULE_NONE)))
        return out

    if isinstance(data, xr.DataArray):
        if data.chunks is not None:
            data = data.chunk({"time": -1})
        outs = xr.apply_ufunc(
            core,
            data,
            input_core_dims=[["time"]],
            output_core_dims=[[] for _ in names],
            dask="parallelized",
            output_dtypes=dtypes,
        )
        ds = xr.Dataset(dict(zip(names, outs)))
        template: Any = data if set(SPATIAL_DIMS) <= set(data.dims) else None
    else:
        outs = core(data)
        dims = tuple(f"dim_{i}" for i in range(data.ndim - 1))
        ds = xr.Dataset({n: (dims, o) for n, o in zip(names, outs)})
        template = None
    for n in ("wash_in", "max_se", "washout"):
        ds[n].attrs = output_attrs(template, units="%", long_name=_LONG[n], method="heuristic")
    for n in ("s1_index", "s2_index", "peak_index"):
        ds[n].attrs = {"units": "1", "long_name": f"frame index of {n.split('_')[0].upper()} (0-based)"}
    ds["washout_rule"].attrs = {
        "units": "1",
        "long_name": "wash-out rule used",
        "flag_values": [-1, 0, 1],
        "flag_meanings": "invalid peak late_reference",
    }
    ds.attrs.update(
        {
            "injection_time_s": t_inj,
            "late_reference_time_s": t_late,
            "peak_cutoff_s": cutoff,
            "n_baseline": nb,
            "reference": _REFS,
        }
    )
    return ds


def _frames_from(frames: Any) -> tuple[int, int, int, int]:
    keys = ("s1_index", "s2_index", "peak_index", "washout_rule")
    if not isinstance(frames, (xr.Dataset, Mapping)):
        raise TypeError(
            "`frames` must be the Dataset returned by `heuristics` on the hot-spot curve (or a mapping)"
        )
    vals = []
    for k in keys:
        if k not in frames:
            raise ValueError(
                f"`frames` lacks {k!r}; pass the output of `heuristics` on the hot-spot ROI curve"
            )
        v = np.asarray(frames[k])
        if v.size != 1:
            raise ValueError(
                f"`frames[{k!r}]` must be a single value (heuristics of one ROI curve), got shape {v.shape}"
            )
        vals.append(int(v.reshape(())))
    s1, s2, peak, rule = vals
    if rule not in (_np.RULE_PEAK, _np.RULE_LATE) or min(s1, s2, peak) < 0:
        raise ValueError("`frames` comes from an invalid (NaN) hot-spot curve")
    return s1, s2, peak, rule


def parametric_maps(
    dce: xr.DataArray,
    *,
    mask: xr.DataArray | np.ndarray | None = None,
    frames: Any = None,
    n_baseline: int = 1,
    injection_time: float | None = None,
    peak_cutoff: float = 85.0,
    late_reference: float = 67.0,
) -> xr.Dataset:
    """Voxel-wise wash-in, maximum-SE and wash-out maps (paper section 2.5).

    The formulas of :func:`heuristics`, voxel by voxel.  With `frames` (the output of
    :func:`heuristics` on the hot-spot ROI curve) every voxel uses the hot spot's ``S1``,
    ``S2``, ``Smax``/``Speak`` frames and wash-out rule, as the paper does; without it each
    voxel finds its own frames.

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series ``("time", "z", "y", "x")`` (numpy- or dask-backed).
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Voxels to compute, ``(z, y, x)`` on the grid of `dce` (an ndarray in that order);
        others are NaN and are not checked (e.g. for a positive baseline) -- the same
        ``mask=`` as :func:`signal_to_concentration` and the voxel-wise fits.
    frames : xarray.Dataset or mapping, optional
        ``s1_index``, ``s2_index``, ``peak_index``, ``washout_rule`` of the hot-spot curve.
    n_baseline, injection_time, peak_cutoff, late_reference
        As in :func:`heuristics`.

    Returns
    -------
    xarray.Dataset
        ``wash_in``, ``max_se``, ``washout`` (%), dims ``("z", "y", "x")`` with the geometry of
        `dce` (lazy if `dce` is dask-backed).  Voxels outside `mask`, and voxels whose curve
        holds NaN or infinite samples, are NaN; a ``RuntimeWarning`` gives the count of the
        latter.

    Raises
    ------
    ValueError
        Bad DCE/mask (dims, empty or irregular grid, frames), an empty `mask` (a numpy-backed
        one; a dask mask is not computed to check), `peak_cutoff` or `late_reference` not
        positive and finite, a baseline ``S0 <= 0`` inside the mask (with the voxel count),
        or `frames` without the needed indices.
    TypeError
        Wrong argument types.

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.5.
       :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> from dcemets.geometry import make_dce
    >>> curve = np.array([100, 100, 150, 190, 200, 195, 190, 185, 180, 175, 170, 165.0])
    >>> dce = make_dce(np.tile(curve[:, None, None, None], (1, 1, 2, 2)), np.arange(12) * 12.0)
    >>> maps = parametric_maps(dce)
    >>> maps.washout.values.round(1).tolist()
    [[[-17.5, -17.5], [-17.5, -17.5]]]
    """
    dce = validate_dce(dce, allow_nan=True)
    t = as_time(dce["time"].values, "dce.time", min_frames=3)
    nb = _check_nb(n_baseline, t.size)
    t_inj, cutoff, t_late = _timing(t, nb, injection_time, dce.attrs, late_reference, peak_cutoff)
    m = None if mask is None else check_mask(mask, dce, "dce", what="voxel to compute the maps in")
    fixed = None if frames is None else _frames_from(frames)
    for f in fixed or ():
        if f >= t.size:
            raise ValueError(f"`frames` index {f} is out of range for {t.size} frames")
    names = ("wash_in", "max_se", "washout")

    def core(x: np.ndarray) -> tuple[np.ndarray, ...]:
        if fixed is None:
            return _np.heuristics_np(x, t, nb, t_inj, cutoff, t_late - t_inj, name="dce")[:3]
        return _np.fixed_frames_np(x, t, nb, fixed[0], fixed[1], fixed[2], fixed[3], t_late, name="dce")

    lazy = dce.chunks is not None
    if not lazy:
        vals = dce.values  # (T, z, y, x)
        shape = vals.shape[1:]
        if m is not None:
            sel = np.asarray(m.values)
            sub = vals[:, sel]  # (T, n)
            res = core(np.moveaxis(sub, 0, -1)) if sub.shape[1] else tuple(np.zeros(0) for _ in names)
            outs = []
            for r in res:
                full = np.full(shape, np.nan)
                full[sel] = r
                outs.append(full)
        else:
            outs = list(core(np.moveaxis(vals, 0, -1)))
        nan_vox = int(np.count_nonzero(~np.isfinite(outs[1]) & (sel if m is not None else True)))
        if nan_vox:
            warn_user(
                f"{nan_vox} voxel(s) have NaN samples (or NaN maps); their map values are NaN", RuntimeWarning
            )
        ds = xr.Dataset({n: like(dce, o, name=n) for n, o in zip(names, outs)})
    else:
        data = dce.chunk({"time": -1})
        if m is not None:
            data = data.where(m.data if isinstance(m.data, np.ndarray) else m, 1.0)
        res = xr.apply_ufunc(
            core,
            data,
            input_core_dims=[["time"]],
            output_core_dims=[[], [], []],
            dask="parallelized",
            output_dtypes=[float, float, float],
        )
        ds = xr.Dataset({n: r.transpose(*SPATIAL_DIMS) for n, r in zip(names, res)})
        if m is not None:
            ds = ds.where(m)
    for n in names:
        ds[n].attrs = output_attrs(dce, units="%", long_name=_LONG[n], method="heuristic")
    ds.attrs.update(
        {
            "injection_time_s": t_inj,
            "late_reference_time_s": t_late,
            "n_baseline": nb,
            "frames": "hot-spot" if fixed else "per-voxel",
        }
    )
    if fixed:
        ds.attrs.update(dict(zip(("s1_index", "s2_index", "peak_index", "washout_rule"), fixed)))
    return ds


def _smoothed_argmax(enh: np.ndarray, mask: np.ndarray) -> tuple[int, int, int]:
    """Argmax of the in-plane 3 x 3 median (restricted to the mask), ties broken by the mean."""
    zz, yy, xx = np.nonzero(mask)
    lo = np.array([zz.min(), max(yy.min() - 1, 0), max(xx.min() - 1, 0)])
    hi = np.array([zz.max() + 1, yy.max() + 2, xx.max() + 2])
    e = np.where(mask, enh, np.nan)[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    m = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    pad = np.pad(e, ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    ny, nx = e.shape[1:]
    stack = np.stack([pad[:, dy : dy + ny, dx : dx + nx][m] for dy in range(3) for dx in range(3)])
    med = np.nanmedian(stack, axis=0)
    mean = np.nanmean(stack, axis=0)
    best = np.flatnonzero(med == med.max())
    k = best[int(np.argmax(mean[best]))]
    cz, cy, cx = (int(c[k]) for c in np.nonzero(m))
    return cz + int(lo[0]), cy + int(lo[1]), cx + int(lo[2])


HOTSPOT_FLAGS: dict[str, str] = {
    "hotspot_unguarded": (
        "no voxel of the mask passed the guards; the paper's unguarded hot spot was used "
        "(its numbers may come from a vessel or bone)"
    ),
    "hotspot_small": "the ROI holds fewer than half the voxels of its size x size square",
    "hotspot_low_baseline": (
        "the ROI's pre-contrast signal is below `baseline_floor` x the median of the mask "
        "(near-zero baselines make relative enhancement explode)"
    ),
    "hotspot_vessel": (
        "the ROI curve is vessel-like: it peaks no later than the vessel curve (+ `vessel_lag` "
        "frames) with at least `vessel_level` x the vessel's maximum SE"
    ),
    "hotspot_no_vessel_reference": "no vessel curve was found or given: vessel-like voxels were not excluded",
}
"""Flags :func:`hotspot_roi` can set (``attrs["flags"]``), with their meaning."""


def _vessel_reference(
    dce: xr.DataArray, mask: np.ndarray, vessel: Any, nb: int
) -> tuple[np.ndarray | None, str]:
    """The vessel signal curve (T,) and where it came from; (None, reason) when there is none."""
    nt = dce.sizes["time"]
    if vessel is None:
        return None, "none (vessel=None)"
    if isinstance(vessel, str):
        if vessel != "auto":
            raise ValueError(f"`vessel` must be 'auto', None or a signal curve, got {vessel!r}")
        outside = ~mask
        if not outside.any():
            return None, "none (no voxel outside `within` to search)"
        from dcemets.kinetics.aifs import image_aif

        # image_aif's first filter, done here once on the peak map: its top 5 % of the enhancing
        # voxels outside the mask (the rest of its filters see only these), 20x faster than
        # letting it scan every voxel's curve
        vals = np.asarray(dce.values, dtype=float)
        nb_a = min(nb, nt - 2)
        peak = vals.max(axis=0) - vals[:nb_a].mean(axis=0)
        cand = outside & (peak > 0)
        n_pos = int(cand.sum())
        if n_pos:
            n_top = min(max(int(np.ceil(0.05 * n_pos)), 20), n_pos)
            idx = np.flatnonzero(cand.ravel())
            top = idx[np.argsort(-peak.ravel()[idx], kind="stable")[:n_top]]
            outside = np.zeros(outside.size, dtype=bool)
            outside[top] = True
            outside = outside.reshape(mask.shape)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # fewer voxels than asked: fine here
                found = image_aif(dce, mask=like(dce, outside), n_baseline=nb_a, top_fraction=1.0)
        except ValueError as exc:
            return None, f"none (image_aif found no arterial voxel: {exc})"
        return np.asarray(found["aif"].values, dtype=float), "image_aif outside `within`"
    curve = as_float_array(vessel.values if isinstance(vessel, xr.DataArray) else vessel, "vessel")
    if curve.shape != (nt,):
        raise ValueError(
            f"`vessel` must be a signal curve of {nt} frames (one per DCE frame), got shape {curve.shape}"
        )
    if not np.all(np.isfinite(curve)):
        raise ValueError("`vessel` holds NaN or infinite samples")
    if not curve[:nb].mean() > 0:
        raise ValueError("`vessel`: its baseline (mean of the first `n_baseline` frames) must be > 0")
    if not curve.max() > curve[:nb].mean():
        raise ValueError("`vessel` does not enhance (its maximum is not above its baseline)")
    return curve, "given"


def _unguarded_roi(
    vals: np.ndarray, s0: np.ndarray, mask: np.ndarray, size: int, nb: int
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The paper-mimicking hot spot (no guards): smoothed argmax, square clipped to the mask."""
    _np._check_s0(s0[mask], None, nb, "dce")
    enh = np.zeros(mask.shape)
    enh[mask] = (vals[:, mask].max(axis=0) - s0[mask]) / s0[mask]
    z, y, x = _smoothed_argmax(enh, mask)
    h = size // 2
    roi = np.zeros(mask.shape, dtype=bool)
    roi[z, max(y - h, 0) : y + h + 1, max(x - h, 0) : x + h + 1] = True
    return roi & mask, (z, y, x)


def _enhancement(curve: np.ndarray, nb: int) -> tuple[float, int]:
    """Maximum relative enhancement of a (T,) curve and the frame of its (first) peak."""
    s0 = float(curve[:nb].mean())
    pk = int(np.argmax(curve))
    return (float(curve[pk]) - s0) / s0, pk


def _square_stats(
    values: np.ndarray, ok: np.ndarray, size: int, centres: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, median and mean of `values` over the `ok` voxels of the in-plane square at each centre."""
    h = size // 2
    v = np.where(ok, values, np.nan)
    pad = np.pad(v, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    zz, yy, xx = centres
    stack = np.stack([pad[zz, yy + dy, xx + dx] for dy in range(size) for dx in range(size)])
    count = np.count_nonzero(np.isfinite(stack), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN squares: filtered by count
        return count, np.nanmedian(stack, axis=0), np.nanmean(stack, axis=0)


def _hotspot_options(
    size: Any,
    n_baseline: Any,
    n_time: int,
    guards: Any,
    min_voxels: Any,
    baseline_floor: Any,
    vessel_level: Any,
    vessel_lag: Any,
    on_fail: Any,
) -> tuple[int, int, int, float, float, int]:
    """Checked ``(size, n_baseline, min_voxels, baseline_floor, vessel_level, vessel_lag)`` of :func:`hotspot_roi`."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"`size` must be a positive odd number of voxels, got {size!r}")
    size = int(size)
    nb = _check_nb(n_baseline, n_time)
    if not isinstance(guards, (bool, np.bool_)):
        raise TypeError(f"`guards` must be a bool, got {type(guards).__name__}")
    if min_voxels is None:
        min_vox = size * size
    else:
        if isinstance(min_voxels, bool) or not isinstance(min_voxels, (int, np.integer)):
            raise TypeError(f"`min_voxels` must be an int or None, got {type(min_voxels).__name__}")
        if not 1 <= min_voxels <= size * size:
            raise ValueError(f"`min_voxels` must be in [1, {size * size}] for size {size}, got {min_voxels}")
        min_vox = int(min_voxels)
    floor = check_finite(baseline_floor, "baseline_floor", "fraction of the median baseline")
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"`baseline_floor` must be in [0, 1), got {floor}")
    level = check_finite(vessel_level, "vessel_level", "fraction of the vessel's maximum SE")
    if not 0.0 < level <= 1.0:
        raise ValueError(f"`vessel_level` must be in (0, 1], got {level}")
    if isinstance(vessel_lag, bool) or not isinstance(vessel_lag, (int, np.integer)):
        raise TypeError(f"`vessel_lag` must be an int, got {type(vessel_lag).__name__}")
    if vessel_lag < 0:
        raise ValueError(f"`vessel_lag` must be >= 0 frames, got {vessel_lag}")
    if on_fail not in ("raise", "flag"):
        raise ValueError(f"`on_fail` must be 'raise' or 'flag', got {on_fail!r}")
    return size, nb, min_vox, floor, level, int(vessel_lag)


def _refuse_weak_vessel(
    ref: np.ndarray, source: str, vals: np.ndarray, s0: np.ndarray, mask: np.ndarray, nb: int
) -> tuple[np.ndarray | None, str]:
    """Drop an automatic vessel candidate that enhances less than the mask's 90th percentile.

    An artery enhances more than the tissue: a candidate below most of the mask is tissue (no
    artery in view, or another lesion), not a vessel reference.
    """
    pos = mask & (s0 > 0)
    if pos.any():
        m_mse = (vals[:, pos].max(axis=0) - s0[pos]) / s0[pos]
        if not _enhancement(ref, nb)[0] > float(np.percentile(m_mse, 90)):
            return None, "none (the vessel candidate enhances less than the mask's 90th percentile)"
    return ref, source


def _eligible(
    vals: np.ndarray,
    s0: np.ndarray,
    mask: np.ndarray,
    min_baseline: float,
    vessel_ref: tuple[float, int, float] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The guards: the mask voxels eligible for the hot spot, their max SE, the exclusion counts.

    A voxel is excluded for a baseline at or below `min_baseline`, for vessel-like timing and
    amplitude (`vessel_ref` = the vessel's max SE, the last peak frame that counts as arterial
    timing, the fraction of the vessel's max SE), or for not enhancing.
    """
    sub = vals[:, mask]  # (T, n)
    b = s0[mask]
    good_b = b > min_baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.where(good_b, (sub.max(axis=0) - b) / np.where(good_b, b, 1.0), np.nan)
    vessel_like = np.zeros(b.shape, dtype=bool)
    if vessel_ref is not None:
        v_mse, last_peak, level = vessel_ref
        vessel_like = good_b & (np.argmax(sub, axis=0) <= last_peak) & (mse >= level * v_mse)
    enhancing = np.isfinite(mse) & (mse > 0)
    counts = {
        "n_excluded_baseline": int(np.count_nonzero(~good_b)),
        "n_excluded_vessel": int(np.count_nonzero(vessel_like)),
        "n_excluded_nonenhancing": int(np.count_nonzero(good_b & ~vessel_like & ~enhancing)),
    }
    eligible = np.zeros(mask.shape, dtype=bool)
    eligible[mask] = good_b & ~vessel_like & enhancing
    score = np.zeros(mask.shape)
    score[mask] = np.nan_to_num(mse)
    return eligible, score, counts


def _best_square(
    score: np.ndarray,
    eligible: np.ndarray,
    mask: np.ndarray,
    size: int,
    min_vox: int,
    on_fail: str,
    counts: dict[str, int],
    floor: float,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The guarded hot spot: the best in-plane square of eligible voxels.

    The square holding at least `min_vox` eligible voxels with the highest median (then mean)
    max SE; when none holds that many, an error or (``on_fail="flag"``) the fullest squares.
    """
    # candidate centres: any voxel of the in-plane bounding box of the eligible voxels
    zz, yy, xx = np.nonzero(eligible)
    ny, nx = mask.shape[1:]
    h = size // 2
    gy = np.arange(max(yy.min() - h, 0), min(yy.max() + h + 1, ny))
    gx = np.arange(max(xx.min() - h, 0), min(xx.max() + h + 1, nx))
    cz, cy, cx = (a.ravel() for a in np.meshgrid(np.unique(zz), gy, gx, indexing="ij"))
    count, med, mean = _square_stats(score, eligible, size, (cz, cy, cx))
    cand = count >= min_vox
    if not cand.any():
        if on_fail == "raise":
            raise ValueError(
                f"no {size} x {size} hot-spot square has {min_vox} eligible voxel(s): of the "
                f"{int(mask.sum())} voxels of `within`, {counts['n_excluded_baseline']} have a "
                f"baseline at or below {floor:g} x the median, {counts['n_excluded_vessel']} are "
                f"vessel-like, {counts['n_excluded_nonenhancing']} do not enhance, "
                f"{int(eligible.sum())} are eligible; lower `min_voxels`, pass on_fail='flag', "
                "or guards=False for the unguarded hot spot"
            )
        cand = count == count.max()  # the fullest squares there are
    best = np.flatnonzero(cand)
    best = best[med[best] == med[best].max()]
    k = best[int(np.argmax(mean[best]))]
    z, y, x = int(cz[k]), int(cy[k]), int(cx[k])
    roi = np.zeros(mask.shape, dtype=bool)
    roi[z, max(y - h, 0) : y + h + 1, max(x - h, 0) : x + h + 1] = True
    return roi & eligible, (z, y, x)


def hotspot_roi(
    dce: xr.DataArray,
    *,
    within: xr.DataArray,
    size: int = 3,
    n_baseline: int = 1,
    guards: bool = True,
    min_voxels: int | None = None,
    baseline_floor: float = 0.5,
    vessel: Any = "auto",
    vessel_level: float = 0.5,
    vessel_lag: int = 0,
    on_fail: str = "raise",
) -> xr.DataArray:
    """Automatic hot-spot ROI: a small in-plane square on the most avidly enhancing region.

    Mimics the radiologist's manual hot-spot ROI of the paper (section 2.3), a small ROI on the
    most enhancing part of the lesion.  The score of a voxel is the maximum SE
    ``(max_t S - S0) / S0``; the ROI is the ``size x size`` square on one axial slice whose
    voxels have the highest median score (ties broken by the mean).

    **Guards** (``guards=True``, the default).  An automatic hot spot on a mask that reaches
    past the lesion lands on whatever enhances most in relative terms: a vessel, or a voxel
    whose near-zero baseline (cortical bone, a signal void, fat under suppression) makes
    ``(S - S0) / S0`` explode.  A voxel of `within` is *eligible* only if

    1. **baseline floor**: its ``S0`` is above `baseline_floor` x the median ``S0`` of
       `within`;
    2. **not vessel-like**: it does not peak at or before the vessel curve's peak
       (+ `vessel_lag` frames) *with* at least `vessel_level` x the vessel's maximum SE
       (arterial timing and blood-level enhancement; the vessel curve is found by
       :func:`~dcemets.kinetics.image_aif` outside `within` with ``vessel="auto"``);
    3. **enhancing**: its maximum SE is finite and positive;

    and a square is a candidate only if at least `min_voxels` of its voxels (default all
    ``size**2``: the ROI lies wholly inside the lesion's eligible part, away from its
    partial-volume border) are eligible.  The ROI is the candidate square's eligible voxels.
    When no square qualifies, ``on_fail="raise"`` raises a ``ValueError`` that counts what
    each guard removed; ``on_fail="flag"`` relaxes step by step and says so in
    ``attrs["flags"]``: first the fullest squares there are (``"hotspot_small"`` if
    under half full), then, with no eligible voxel at all, the unguarded hot spot
    (``"hotspot_unguarded"``).  Every returned ROI carries diagnostics (below), so the
    caller can flag a suspicious one, guarded or not.

    ``guards=False`` is the paper-mimicking method of dcemets <= 0.x, unchanged: the
    maximum-SE map smoothed in-plane by a 3 x 3 median restricted to the mask, its best
    voxel as the centre, the square clipped to the mask (a 1-voxel ROI is possible).

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series ``("time", "z", "y", "x")``.
    within : xarray.DataArray of bool
        Lesion mask on the DCE grid.
    size : int, default 3
        Side of the square ROI in voxels (odd).
    n_baseline : int, default 1
        Pre-contrast frames for ``S0``.
    guards : bool, default True
        Apply the guards; False gives the unguarded method (the other guard parameters are
        then only used for the diagnostics).
    min_voxels : int, optional
        Eligible voxels a candidate square needs, in ``[1, size**2]``; default ``size**2``.
    baseline_floor : float, default 0.5
        Smallest ``S0`` of an eligible voxel, as a fraction of the median ``S0`` of
        `within`, in ``[0, 1)``; voxels with ``S0 <= 0`` are never eligible.
    vessel : "auto", None or array_like of shape (T,)
        Vessel (arterial) signal curve for the vessel guard: ``"auto"`` finds it with
        :func:`~dcemets.kinetics.image_aif` among the voxels outside `within` (none found:
        or only a curve enhancing less than the mask's 90th percentile of maximum SE, i.e.
        tissue: the guard is skipped and ``"hotspot_no_vessel_reference"`` flagged); a curve (e.g.
        ``image_aif(dce).aif``) is used as given; None skips the guard.
    vessel_level : float, default 0.5
        Blood-level enhancement: fraction of the vessel curve's maximum SE, in (0, 1].
    vessel_lag : int, default 0
        Frames after the vessel's peak that still count as arterial timing (>= 0).
    on_fail : {"raise", "flag"}, default "raise"
        What happens when no square passes the guards.

    Returns
    -------
    xarray.DataArray of bool
        ``("z", "y", "x")`` ROI on the DCE grid.  ``attrs``: ``center_index`` (z, y, x),
        ``n_voxels``, ``flags`` (tuple of :data:`HOTSPOT_FLAGS` keys; empty when all is
        well), ``guards``, ``baseline_ratio`` (ROI mean ``S0`` / median ``S0`` of `within`),
        ``max_se`` (of the ROI mean curve, %), ``peak_index``, ``vessel_max_se`` (%) and
        ``vessel_peak_index`` (NaN and -1 without a vessel curve), ``vessel_ratio``
        (``max_se / vessel_max_se``), ``vessel_source``, and the counts of mask voxels each
        guard removed (``n_excluded_baseline``, ``n_excluded_vessel``,
        ``n_excluded_nonenhancing``).

    Raises
    ------
    ValueError
        If the mask is empty or on another grid, `size` is not a positive odd int, a guard
        parameter is out of range, `vessel` is not a valid curve, the median baseline of the
        mask is not positive, or (``on_fail="raise"``) no square passes the guards.  With
        ``guards=False``, also if the baseline is not positive anywhere in the mask.
    TypeError
        If `guards` is not a bool or `min_voxels`/`vessel_lag` not ints.

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.3.
       :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Mouridsen K et al. Automatic selection of arterial input function using cluster
       analysis. Magn Reson Med 2006;55:524-531 (arterial timing and enhancement).
       :doi:`10.1002/mrm.20759`

    Examples
    --------
    >>> from dcemets.geometry import make_dce, like
    >>> v = np.full((3, 1, 7, 7), 100.0)
    >>> v[1:, 0, 2:5, 2:5] = 200.0  # enhancing 3 x 3 block
    >>> v[1:, 0, 6, 6] = 400.0  # isolated bright noise voxel
    >>> dce = make_dce(v, [0.0, 10.0, 20.0])
    >>> roi = hotspot_roi(dce, within=like(dce, np.ones((1, 7, 7), bool)))
    >>> roi.attrs["center_index"], int(roi.sum()), roi.attrs["flags"]
    ((0, 3, 3), 9, ('hotspot_no_vessel_reference',))

    A column of voxels with a near-zero baseline (cortical bone) wins without the guards:

    >>> v[0, 0, :, 0] = 2.0
    >>> roi = hotspot_roi(make_dce(v, [0.0, 10.0, 20.0]), within=like(dce, np.ones((1, 7, 7), bool)))
    >>> roi.attrs["center_index"], roi.attrs["n_excluded_baseline"]
    ((0, 3, 3), 7)
    >>> hotspot_roi(make_dce(v, [0.0, 10.0, 20.0]), within=like(dce, np.ones((1, 7, 7), bool)),
    ...             guards=False).attrs["center_index"]
    (0, 0, 0)
    """
    dce = validate_dce(dce)
    m = validate_image(within, name="within", mask=True)
    check_same_grid(dce, m, names=("dce", "within"))
    size, nb, min_vox, floor, level, lag = _hotspot_options(
        size,
        n_baseline,
        dce.sizes["time"],
        guards,
        min_voxels,
        baseline_floor,
        vessel_level,
        vessel_lag,
        on_fail,
    )
    mask = np.asarray(m.values, dtype=bool)
    if not mask.any():
        raise ValueError("`within` is empty: no lesion voxel to place the hot spot in")
    vals = np.asarray(dce.values, dtype=float)
    s0 = vals[:nb].mean(axis=0)
    med0 = float(np.median(s0[mask]))
    flags: list[str] = []
    ref, ref_source = _vessel_reference(dce, mask, vessel, nb)
    if ref is not None and vessel is not None and isinstance(vessel, str):
        ref, ref_source = _refuse_weak_vessel(ref, ref_source, vals, s0, mask, nb)
    if ref is None:
        flags.append("hotspot_no_vessel_reference")
        v_mse, v_pk = np.nan, -1
    else:
        v_mse, v_pk = _enhancement(ref, nb)
    if not guards:
        roi, (z, y, x) = _unguarded_roi(vals, s0, mask, size, nb)
        counts = {"n_excluded_baseline": 0, "n_excluded_vessel": 0, "n_excluded_nonenhancing": 0}
    else:
        if not med0 > 0:
            raise ValueError(
                f"`dce`: the median baseline signal S0 inside `within` is {med0:g}; it must be > 0 "
                "(is `within` on the lesion?)"
            )
        vessel_ref = None if ref is None else (v_mse, v_pk + lag, level)
        eligible, score, counts = _eligible(vals, s0, mask, med0 * floor, vessel_ref)
        if eligible.any():
            roi, (z, y, x) = _best_square(score, eligible, mask, size, min_vox, on_fail, counts, floor)
        else:
            if on_fail == "raise":
                raise ValueError(
                    f"no voxel of `within` qualifies for the hot spot: of {int(mask.sum())} voxels, "
                    f"{counts['n_excluded_baseline']} have a baseline at or below {floor:g} x the median, "
                    f"{counts['n_excluded_vessel']} are vessel-like, {counts['n_excluded_nonenhancing']} "
                    "do not enhance; pass on_fail='flag' or guards=False for the unguarded hot spot"
                )
            flags.append("hotspot_unguarded")
            roi, (z, y, x) = _unguarded_roi(vals, s0, mask, size, nb)
    # diagnostics of the chosen ROI, guarded or not
    n_roi = int(roi.sum())
    curve = vals[:, roi].mean(axis=1)
    r_s0 = float(curve[:nb].mean())
    ratio = r_s0 / med0 if med0 > 0 else float("nan")
    r_mse, r_pk = _enhancement(curve, nb) if r_s0 > 0 else (float("inf"), int(np.argmax(curve)))
    if 2 * n_roi < size * size:
        flags.append("hotspot_small")
    if not ratio > floor:
        flags.append("hotspot_low_baseline")
    if ref is not None and r_pk <= v_pk + lag and r_mse >= level * v_mse:
        flags.append("hotspot_vessel")
    out = like(dce, roi, name="hotspot_roi", units="1", long_name="hot-spot ROI")
    out.attrs.update(
        {
            "center_index": (z, y, x),
            "n_voxels": n_roi,
            "flags": tuple(flags),
            "guards": bool(guards),
            "baseline_ratio": ratio,
            "max_se": 100.0 * r_mse,
            "peak_index": r_pk,
            "vessel_max_se": 100.0 * v_mse,
            "vessel_peak_index": v_pk,
            "vessel_ratio": r_mse / v_mse if ref is not None and v_mse > 0 else float("nan"),
            "vessel_source": ref_source,
            **counts,
        }
    )
    return out


def roi_curve(dce: xr.DataArray, roi: xr.DataArray) -> xr.DataArray:
    """Mean signal-time curve of an ROI.

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series ``("time", "z", "y", "x")``.
    roi : xarray.DataArray of bool
        ROI on the same grid.

    Returns
    -------
    xarray.DataArray
        ``("time",)`` mean signal over the ROI voxels, with the ``time`` coordinate and the
        acquisition attrs of `dce` (``n_voxels`` records the ROI size).  NaN voxels are
        skipped; a warning gives their number.

    Raises
    ------
    ValueError
        Empty ROI, different grids, bad dims.

    Examples
    --------
    >>> from dcemets.geometry import make_dce, like
    >>> dce = make_dce(np.arange(12.0).reshape(3, 1, 2, 2), [0.0, 10.0, 20.0])
    >>> roi_curve(dce, like(dce, np.array([[[True, False], [False, True]]]))).values.tolist()
    [1.5, 5.5, 9.5]
    """
    dce = validate_dce(dce, allow_nan=True)
    r = validate_image(roi, name="roi", mask=True)
    check_same_grid(dce, r, names=("dce", "roi"))
    sel = np.asarray(r.values, dtype=bool)
    n = int(sel.sum())
    if n == 0:
        raise ValueError("`roi` is empty")
    if dce.chunks is None:
        sub = np.asarray(dce.values, dtype=float)[:, sel]
        good = np.all(np.isfinite(sub), axis=0)
        if not good.all():
            warn_user(f"{int((~good).sum())} ROI voxel(s) with NaN samples skipped", RuntimeWarning)
            if not good.any():
                raise ValueError("every voxel of `roi` has NaN samples")
        values: Any = sub[:, good].mean(axis=1)
    else:
        values = dce.where(r).mean(dim=list(SPATIAL_DIMS)).data
    out = xr.DataArray(values, dims=("time",), coords={"time": dce["time"]}, name="signal")
    out.attrs = {k: v for k, v in dce.attrs.items() if k in _ACQ_KEYS}
    out.attrs.update({"units": dce.attrs.get("units", "a.u."), "long_name": "ROI mean signal", "n_voxels": n})
    return out
