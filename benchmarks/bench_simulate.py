"""Benchmark: simulate the paper's 61-case cohort on the default (half) grid.

Run as ``python benchmarks/bench_simulate.py``.  Prints

1. the wall time of ``simulate_cohort()`` (61 cases, default grid, ``n_jobs=2``), the target
   being < 60 s on 2 cores;
2. the serial time per case (``n_jobs=1``, 4 cases) and the parallel speed-up;
3. the cost of the tissue-concentration step against the baseline a user would otherwise
   write: a per-voxel extended Tofts model with ``np.convolve`` on a 0.5 s grid for every
   tissue voxel (measured on 2000 voxels and extrapolated to one case's non-air voxels).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dcemets import kinetics
from dcemets.simulate import LABELS, simulate_case, simulate_cohort


def main() -> None:
    simulate_case("lung", rng=0)  # warm-up (imports, caches)

    t0 = time.perf_counter()
    cases = simulate_cohort(rng=0, n_jobs=2, progress=False)
    t_cohort = time.perf_counter() - t0
    print(f"simulate_cohort(): {len(cases)} cases, half grid, n_jobs=2: {t_cohort:.1f} s (target < 60 s)")

    t0, c0 = time.perf_counter(), time.process_time()
    simulate_cohort(composition={"lung": 2, "thyroid": 2}, rng=1, n_jobs=1, progress=False)
    per_case = (time.perf_counter() - t0) / 4
    cpu_case = (time.process_time() - c0) / 4
    print(
        f"serial: {per_case:.2f} s wall, {cpu_case:.2f} s CPU per case -> 61 cases ~ {61 * per_case:.0f} s on one core"
    )
    print(f"CPU-bound estimate for 61 cases on 2 free cores: {61 * cpu_case / 2:.0f} s")
    print(f"speed-up n_jobs=2 vs n_jobs=1 (extrapolated): {61 * per_case / t_cohort:.2f}x")

    # baseline: voxel-by-voxel extended Tofts with np.convolve for every tissue voxel
    case = cases[0]
    n_tissue = int((case.truth["labels"].values != LABELS["air"]).sum())
    t = np.arange(0.0, 160.0, 0.5)
    cp = np.asarray(kinetics.parker_aif(t, delay=15.0))
    rng = np.random.default_rng(0)
    kt, kep, vp = rng.uniform(0.05, 0.5, 2000), rng.uniform(0.3, 2.0, 2000), rng.uniform(0, 0.1, 2000)
    frames = np.arange(12) * 12.0
    t0 = time.perf_counter()
    for a, b, c in zip(kt, kep, vp):
        ct = a / 60 * np.convolve(cp, np.exp(-b / 60 * t))[: t.size] * 0.5 + c * cp
        np.interp(frames, t, ct)
    t_naive = (time.perf_counter() - t0) / 2000 * n_tissue
    t0 = time.perf_counter()
    simulate_case("lung", rng=3)
    t_case = time.perf_counter() - t0
    print(
        f"one case ({n_tissue} tissue voxels): dcemets.simulate {t_case:.2f} s (whole case) vs "
        f"per-voxel np.convolve Tofts alone {t_naive:.1f} s -> ratio {t_naive / t_case:.1f}x"
    )


if __name__ == "__main__":
    main()
