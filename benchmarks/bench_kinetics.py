"""Benchmark dcemets.kinetics: heuristic maps, Tofts LLSQ and NLLS against a curve_fit loop.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_kinetics.py`` (about a minute on 2 cores);
``... bench_kinetics.py torch`` runs only the torch-backend section.
Targets (issue 3): heuristic maps of 256 x 192 x 30 x 12 < 0.5 s; LLSQ >= 1e6 voxels/s;
NLLS >= 5e4 voxels/s (12 frames) and >= 100x a scipy ``curve_fit`` loop, with no loss of
accuracy on the OSIPI Tofts curves.  The torch backend (``backend="torch"``) is timed against
the NumPy one on the same voxels, on the CPU and, when present, on CUDA.
"""

from __future__ import annotations

import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit
from scipy.signal import lfilter

from dcemets._conventions import make_dce
from dcemets.kinetics import _np, fit_tofts, heuristics, parametric_maps, parker_aif, tofts

RNG = np.random.default_rng(0)
FRAMES = np.arange(12) * 12.0
T_FINE = np.arange(0.0, 144.0, 0.5)
CP_FINE = parker_aif(T_FINE, delay=24.0)
AIF_FINE = xr.DataArray(CP_FINE, dims="t_aif", coords={"t_aif": T_FINE})
CP_FRAMES = parker_aif(FRAMES, delay=24.0)


def best_of(fn, repeat=3):
    ts = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def simulate(n, aif_time, aif):
    kt = RNG.uniform(0.05, 0.3, n)
    ve = RNG.uniform(0.1, 0.6, n)
    c = tofts(FRAMES, aif, kt, kt / ve, aif_time=aif_time)
    c += RNG.normal(0, 0.05 * c.max(axis=1, keepdims=True).mean(), c.shape)
    return xr.DataArray(c, dims=("voxel", "time"), coords={"time": FRAMES}), kt, ve


def bench_heuristics():
    print("== heuristic maps, 256 x 192 x 30 x 12 ==")
    base = np.array([100, 100, 150, 190, 200, 195, 190, 185, 180, 175, 170, 165.0])
    scale = RNG.uniform(0.5, 2.0, (30, 192, 256)).astype(float)
    vol = base[:, None, None, None] * scale[None] + RNG.normal(0, 2, (12, 30, 192, 256))
    dce = make_dce(vol, FRAMES)
    t, _ = best_of(lambda: parametric_maps(dce))
    print(f"parametric_maps (per-voxel frames): {t:.3f} s  (target < 0.5 s)")
    frames = heuristics(vol[:, 15, 96, 128], time=FRAMES)
    t2, _ = best_of(lambda: parametric_maps(dce, frames=frames))
    print(f"parametric_maps (hot-spot frames):  {t2:.3f} s")
    # baseline: the same heuristics called curve by curve (a Python loop over voxels)
    n = 300
    curves = vol.reshape(12, -1)[:, :n].T
    t0 = time.perf_counter()
    for c in curves:
        heuristics(c, time=FRAMES)
    per = (time.perf_counter() - t0) / n
    loop_total = per * vol[0].size
    print(
        f"per-voxel loop baseline: {per * 1e3:.2f} ms/voxel -> {loop_total:.0f} s for the volume; ratio {loop_total / t:.0f}x"
    )


def bench_fits():
    print("== Tofts fits, 12 frames of 12 s, Parker AIF ==")
    for label, aif, _ in (
        ("AIF on a 0.5 s grid", AIF_FINE, None),
        ("AIF at the 12 frames", CP_FRAMES, None),
    ):
        n = 1_000_000
        ct, _, _ = simulate(n, T_FINE, CP_FINE)
        t_ls, _ = best_of(lambda ct=ct, aif=aif: fit_tofts(ct, aif, method="llsq"), repeat=2)
        print(f"[{label}] LLSQ {n} voxels: {t_ls:.2f} s -> {n / t_ls:.3g} voxels/s (target >= 1e6)")
        n = 100_000
        ct, kt, _ = simulate(n, T_FINE, CP_FINE)
        t_nl, fit = best_of(lambda ct=ct, aif=aif: fit_tofts(ct, aif), repeat=1)
        med = float(np.median(fit.ktrans.values / kt - 1))
        print(
            f"[{label}] NLLS {n} voxels: {t_nl:.2f} s -> {n / t_nl:.3g} voxels/s (target >= 5e4); "
            f"success {float(fit.success.mean()):.3f}; median Ktrans rel. error {med:+.3f}"
        )
    # baseline: scipy curve_fit per voxel with the same exact model (fine AIF)
    n_cf = 100
    ct, kt, _ = simulate(n_cf, T_FINE, CP_FINE)

    # the fastest honest per-voxel model: the same exact recursion run in C by
    # scipy.signal.lfilter (y_n = E y_(n-1) + c2 a_n + c1 a_(n-1)), sampled at the frames
    idx = np.searchsorted(T_FINE, FRAMES)
    dt = T_FINE[1] - T_FINE[0]

    def model(_t, k, v):
        x = np.array([k / v / 60.0 * dt])
        p1, p2, _, _ = _np.phi(x)
        c1, c2 = float(dt * (p1 - p2)[0]), float(dt * p2[0])
        g = lfilter([c2, c1], [1.0, -np.exp(-x[0])], CP_FINE)
        g = g - c2 * CP_FINE[0] * np.exp(-x[0]) ** np.arange(CP_FINE.size)  # g(t_0) = 0
        return k / 60.0 * g[idx]

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in ct.values:
            try:
                curve_fit(model, FRAMES, c, p0=(0.1, 0.3), bounds=((0, 1e-3), (5, 1)))
            except RuntimeError:
                pass
    per = (time.perf_counter() - t0) / n_cf
    ct_b, _, _ = simulate(20_000, T_FINE, CP_FINE)
    t_ours, _ = best_of(lambda: fit_tofts(ct_b, AIF_FINE), repeat=1)
    ours = t_ours / 20_000
    print(
        f"curve_fit loop: {per * 1e3:.2f} ms/voxel ({1 / per:.0f} voxels/s); fit_tofts NLLS {ours * 1e6:.1f} us/voxel; "
        f"ratio {per / ours:.0f}x (target >= 100x)"
    )


def bench_osipi_accuracy():
    print("== accuracy on the 25 OSIPI Tofts curves: fit_tofts NLLS vs curve_fit ==")
    csv.field_size_limit(10**9)
    path = Path(__file__).resolve().parents[1] / "tests" / "data" / "osipi" / "dce_DRO_data_tofts.csv"
    with open(path, encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    ours_pass = cf_pass = 0
    dmax = 0.0
    t_ours = t_cf = 0.0
    for r in rows:
        t = np.array(r["t"].split(), float)
        c = np.array(r["C"].split(), float)
        ca = np.array(r["ca"].split(), float)
        kt, ve = float(r["Ktrans"]), float(r["ve"])
        t0 = time.perf_counter()
        fit = fit_tofts(xr.DataArray(c[None], dims=("v", "time"), coords={"time": t}), ca)
        t_ours += time.perf_counter() - t0
        k1, v1 = float(fit.ktrans[0]), float(fit.ve[0])
        t0 = time.perf_counter()
        p, _ = curve_fit(
            lambda _t, k, v, t=t, ca=ca: tofts(t, ca, k, k / v),
            t,
            c,
            p0=(0.6, 0.2),
            bounds=((0, 1e-3), (5, 1)),
        )
        t_cf += time.perf_counter() - t0
        ours_pass += abs(k1 - kt) <= 0.005 + 0.1 * kt and abs(v1 - ve) <= 0.05
        cf_pass += abs(p[0] - kt) <= 0.005 + 0.1 * kt and abs(p[1] - ve) <= 0.05
        dmax = max(dmax, abs(k1 - p[0]))
    print(
        f"pass OSIPI tolerance: fit_tofts {ours_pass}/25, curve_fit {cf_pass}/25; max |dKtrans| {dmax:.2e} /min"
    )
    print(f"time for 25 single-curve calls (1321 points): fit_tofts {t_ours:.2f} s, curve_fit {t_cf:.2f} s")


def bench_torch_backend():
    print("== Tofts NLLS, torch backend vs numpy backend: 20000 voxels, 12 frames, AIF on a 0.5 s grid ==")
    try:
        import torch
    except ImportError:
        print('skipped: torch not installed (pip install torch==2.13.0 -e ".[torch]")')
        return
    n = 20_000
    ct, _, _ = simulate(n, T_FINE, CP_FINE)
    fit_tofts(ct[:10], AIF_FINE, backend="torch")  # import torch, load the entry point
    for extended in (False, True):
        model = "extended Tofts" if extended else "Tofts"
        t_np, ref = best_of(lambda ext=extended: fit_tofts(ct, AIF_FINE, extended=ext), repeat=2)
        print(f"[{model}] numpy backend: {t_np:.2f} s -> {n / t_np:.3g} voxels/s")
        runs = [("cpu", "float64"), ("cpu", "float32"), ("cuda", "float64"), ("cuda", "float32")]
        for device, dtype in runs:
            label = f"[{model}] torch {device} {dtype}"
            if device == "cuda" and not torch.cuda.is_available():
                print(f"{label}: skipped: no CUDA")
                continue
            kw = {"backend": "torch", "device": device, "dtype": dtype, "extended": extended}
            fit_tofts(ct[:10], AIF_FINE, **kw)  # warm-up (CUDA context)
            t_t, got = best_of(lambda kw=kw: fit_tofts(ct, AIF_FINE, **kw), repeat=2)
            both = ref.success.values & got.success.values
            rel = np.abs(got.ktrans.values[both] / ref.ktrans.values[both] - 1)
            print(
                f"{label}: {t_t:.2f} s -> {n / t_t:.3g} voxels/s; ratio to numpy {t_np / t_t:.2f}x; "
                f"Ktrans vs numpy: median rel. diff {np.median(rel):.1e}, max {rel.max():.1e}"
            )


if __name__ == "__main__":
    if sys.argv[1:] == ["torch"]:
        bench_torch_backend()
    else:
        bench_heuristics()
        bench_fits()
        bench_osipi_accuracy()
        bench_torch_backend()
