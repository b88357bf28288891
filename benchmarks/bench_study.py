"""Wall time of ``dcemets replicate`` presets on the simulated 61-case cohort.

Prints the time of the per-case stage with 1 and with 2 worker processes (the ratio is the
parallel speed-up a user gets over running the cases one after another), and the time of
the whole ``fast`` preset. Set ``DCEMETS_BENCH_CPU=1`` to also time the ``cpu`` preset
(about 20-30 min on two cores).

Run: ``python benchmarks/bench_study.py``
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    from dcemets.simulate import simulate_cohort
    from dcemets.study import StudyConfig, run_cases

    cohort = simulate_cohort(rng=0, n_jobs=2, progress=False)
    subset = cohort[:12]
    cfg1 = StudyConfig.preset("fast", n_jobs=1)
    cfg2 = StudyConfig.preset("fast", n_jobs=2)
    t = time.perf_counter()
    run_cases(subset, config=cfg1, progress=False)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    run_cases(subset, config=cfg2, progress=False)
    t2 = time.perf_counter() - t
    print(
        f"per-case stage, 12 cases: 1 process {t1:.1f} s ({t1 / 12:.2f} s/case), 2 processes {t2:.1f} s; speed-up {t1 / t2:.2f}x"
    )
    with tempfile.TemporaryDirectory() as d:
        exe = [sys.executable, "-m", "dcemets.study.cli", "replicate", "--no-progress", "--jobs", "2"]
        fast = _time([*exe, "--preset", "fast", "--out", os.path.join(d, "fast")])
        print(
            f"dcemets replicate --preset fast (61 cases, simulation included): {fast:.0f} s (target < 180 s)"
        )
        if os.environ.get("DCEMETS_BENCH_CPU"):
            cpu = _time([*exe, "--preset", "cpu", "--out", os.path.join(d, "cpu")])
            print(f"dcemets replicate --preset cpu (61 cases): {cpu:.0f} s (target < 1800 s)")


if __name__ == "__main__":
    main()
