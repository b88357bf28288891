"""Benchmark the issue-21 fits: delay fits, Patlak, 2CUM, 2CXM, against scipy curve_fit loops.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_kinetic_models.py [n_voxels]`` (one to two
minutes on 2 cores; the delay fits on 20 000 voxels by default).  12-frame curves of 12 s (the protocol of Lang et al. 2019), AIF on a 0.5 s grid, noise
SD 2 % of the mean peak.  The baseline is what a user would otherwise write: a
``scipy.optimize.curve_fit`` loop over voxels of the same model (same AIF grid, a delay fitted
as a continuous parameter through a linearly interpolated shifted AIF), timed on a subset and
reported per voxel.  Target (issue 21): delay fits >= 5e4 voxels/s on 2 cores.  Each rate is
given from the wall clock and from the process CPU time (``time.process_time``, all threads:
``fit_delay`` and ``fit_tofts`` fit blocks of voxels in one thread per CPU, see their
``n_jobs``), as voxels per CPU-second times the CPUs the process may use: on a shared,
overloaded machine the second is what that many unloaded cores would give.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit

from dcemets.kinetics import fit_delay, fit_patlak, fit_tcum, fit_tcxm, parker_aif, patlak, tcum, tcxm, tofts

RNG = np.random.default_rng(0)
FRAMES = np.arange(12) * 12.0
T_FINE = np.arange(0.0, 144.0, 0.5)
AIF = xr.DataArray(parker_aif(T_FINE, delay=24.0), dims="t_aif", coords={"t_aif": T_FINE})


def _noisy(c: np.ndarray) -> xr.DataArray:
    c = c + RNG.normal(0, 0.02 * c.max(axis=1).mean(), c.shape)
    return xr.DataArray(c, dims=("voxel", "time"), coords={"time": FRAMES})


def _delayed(n: int, model: str) -> tuple[xr.DataArray, np.ndarray]:
    d = RNG.choice(np.arange(0.0, 8.5, 0.5), n)
    out = np.empty((n, FRAMES.size))
    for di in np.unique(d):  # one AIF per delay value, all its voxels at once
        sel = d == di
        cp = parker_aif(T_FINE, delay=24.0 + di)
        k = int(sel.sum())
        kt, kep, vp = RNG.uniform(0.05, 0.3, k), RNG.uniform(0.3, 1.2, k), RNG.uniform(0.01, 0.1, k)
        if model == "patlak":
            out[sel] = patlak(FRAMES, cp, kt / 3, vp, aif_time=T_FINE)
        else:
            out[sel] = tofts(FRAMES, cp, kt, kep, vp if model == "extended_tofts" else 0.0, aif_time=T_FINE)
    return _noisy(out), d


def _curve_fit_delay(ct: xr.DataArray, model: str) -> float:
    """Seconds per voxel of a curve_fit loop fitting (params, delay)."""
    cp = AIF.values

    def f(t, kt, kep, vp, d):
        shifted = np.interp(T_FINE - d, T_FINE, cp)
        return tofts(t, shifted, kt, kep, vp, aif_time=T_FINE)

    p0, lo, hi = [0.1, 0.5, 0.02, 0.0], [0, 1e-3, 0, -10], [5, 100, 1, 10]
    if model == "tofts":
        g, p0, lo, hi = (
            (lambda t, kt, kep, d: f(t, kt, kep, 0.0, d)),
            [0.1, 0.5, 0.0],
            [0, 1e-3, -10],
            [5, 100, 10],
        )
    else:
        g = f
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in ct.values:
            try:
                curve_fit(g, FRAMES, y, p0=p0, bounds=(lo, hi))
            except RuntimeError:
                pass
    return (time.perf_counter() - t0) / ct.sizes["voxel"]


def _curve_fit_exchange(ct: xr.DataArray, which: str) -> float:
    if which == "2CXM":
        g = lambda t, fp, ps, ve, vp: tcxm(t, AIF.values, fp, ps, ve, vp, aif_time=T_FINE)
        p0, lo, hi = [0.3, 0.1, 0.2, 0.05], [1e-3, 0, 1e-3, 1e-4], [20, 5, 1, 1]
    else:
        g = lambda t, fp, ps, vp: tcum(t, AIF.values, fp, ps, vp, aif_time=T_FINE)
        p0, lo, hi = [0.3, 0.05, 0.05], [1e-3, 0, 1e-4], [20, 5, 1]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in ct.values:
            try:
                curve_fit(g, FRAMES, y, p0=p0, bounds=(lo, hi))
            except RuntimeError:
                pass
    return (time.perf_counter() - t0) / ct.sizes["voxel"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000  # voxels of the delay fits
    import os

    n_cpu = len(os.sched_getaffinity(0))
    print(
        f"CPUs: {n_cpu}; load average {os.getloadavg()[0]:.1f}; CPU-time rates are per CPU-second x {n_cpu}"
    )
    print(f"{'fit':<34s} {'voxels/s':>10s} {'(CPU time)':>11s} {'curve_fit loop':>15s} {'ratio':>7s}  notes")
    for model in ("patlak", "tofts", "extended_tofts"):
        ct, d = _delayed(n, model)
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_delay(ct, AIF, model=model)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        base = _curve_fit_delay(ct.isel(voxel=slice(0, 100)), model) if model != "patlak" else np.nan
        med = float(np.median(np.abs(fit.delay.values - d)))
        ratio = (n / dt) * base if np.isfinite(base) else np.nan
        print(
            f"{'fit_delay(' + model + ')':<34s} {n / dt:10.3g} {n_cpu * n / dc:11.3g} {1 / base if base else np.nan:15.3g} "
            f"{ratio:7.1f}  median |delay error| {med:.2f} s"
        )
    m = 2000
    for name, fn, gen in (
        (
            "fit_patlak",
            fit_patlak,
            lambda k: patlak(FRAMES, AIF, RNG.uniform(0.01, 0.1, k), 0.05, aif_time=T_FINE),
        ),
        (
            "fit_tcum",
            fit_tcum,
            lambda k: tcum(FRAMES, AIF, RNG.uniform(0.1, 1, k), 0.05, 0.05, aif_time=T_FINE),
        ),
        (
            "fit_tcxm",
            fit_tcxm,
            lambda k: tcxm(FRAMES, AIF, RNG.uniform(0.1, 1, k), 0.1, 0.2, 0.05, aif_time=T_FINE),
        ),
    ):
        k = 20 * m if name == "fit_patlak" else m
        ct = _noisy(gen(k))
        t0, c0 = time.perf_counter(), time.process_time()
        fn(ct, AIF)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        base = (
            np.nan
            if name == "fit_patlak"
            else _curve_fit_exchange(ct.isel(voxel=slice(0, 50)), name[4:].upper())
        )
        ratio = (k / dt) * base if np.isfinite(base) else np.nan
        print(
            f"{name:<34s} {k / dt:10.3g} {n_cpu * k / dc:11.3g} {1 / base if np.isfinite(base) else np.nan:15.3g} {ratio:7.1f}"
        )


if __name__ == "__main__":
    main()
