"""Segmentation accuracy per lesion type on the spine DRO (issue 20): Dice tables of the docs.

Run::

    python benchmarks/bench_segmentation_dro.py            # simulates both cohorts (~3 min)
    python benchmarks/bench_segmentation_dro.py --cache DIR  # keeps/reuses the cohorts as pickles
    python benchmarks/bench_segmentation_dro.py --difficulty realistic --seed 20261206  # another cohort

Two cohorts of 64 cases each (16 lung, 14 breast, 18 prostate, 6 thyroid, 5 liver,
5 kidney: every lesion type), on seeds that no test and no development run uses:
``simulate_cohort(composition=..., rng=20261204, difficulty="realistic")`` and
``rng=20261205, difficulty="hard"`` (development used ``rng=1000`` and ``rng=2000``).  Each
case is segmented four ways, in the same run:

* ``curve + T2W``: ``segment_lesion(dce, roi, t2w_sagittal=t2w)`` (what ``segment_cohort`` and
  the study do);
* ``study chain, registered``: the mask of ``process_case`` with ``motion_correction=True``
  (frames registered, then segmented with the T2W; its whole-chain time is printed too);
* ``curve``: the DCE series and the outline only;
* ``paper``: ``algorithm="paper"``, the chain of Lang et al. 2019 (Fig. 3), the baseline a
  user would otherwise run.

It prints, per difficulty and method, the Dice distribution (n, median, 10th percentile,
minimum) over all cases and per lesion type (lytic / sclerotic / mixed / with breach / with
motion), the segmentation time per case, and how well the confidence flags poor masks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import pickle
import time
from pathlib import Path

import numpy as np

from dcemets.segmentation import dice, segment_lesion
from dcemets.simulate import simulate_cohort
from dcemets.study import StudyConfig, process_case

COMPOSITION = {"lung": 16, "breast": 14, "prostate": 18, "thyroid": 6, "liver": 5, "kidney": 5}
SEEDS = {"realistic": 20261204, "hard": 20261205}


def _study(motion_correction: bool):
    """The study's per-case chain (``process_case``): its mask, segmented after registration."""
    cfg = StudyConfig.preset("fast", dl={"enabled": False}, motion_correction=motion_correction)

    def run(c):
        res = process_case(c, cfg)
        CHAIN_SECONDS.setdefault(motion_correction, []).append(res.quality["seconds_total"])
        return res.mask

    return run


CHAIN_SECONDS: dict[bool, list[float]] = {}
METHODS = {
    "curve + T2W": lambda c: segment_lesion(c.dce, c.roi_sagittal, t2w_sagittal=c.t2w_sagittal),
    "study chain, registered": _study(True),
    "curve": lambda c: segment_lesion(c.dce, c.roi_sagittal),
    "paper": lambda c: segment_lesion(c.dce, c.roi_sagittal, algorithm="paper"),
}


def cohort(difficulty: str, cache: Path | None, seed: int | None = None) -> list:
    seed = SEEDS[difficulty] if seed is None else seed
    path = None if cache is None else cache / f"dro_{difficulty}_{seed}.pkl"
    if path is not None and path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    cases = simulate_cohort(composition=COMPOSITION, rng=seed, difficulty=difficulty, progress=False)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            pickle.dump(cases, f)
    return cases


def groups(case) -> list[str]:
    t = case.truth
    out = [str(t["lesion_type"])]
    if t["breakthrough_mm"] > 0:
        out.append("with breach")
    if t["moving"]:
        out.append("with motion")
    return out


def row(name: str, d: np.ndarray) -> str:
    if d.size == 0:
        return f"| {name} | 0 | | | |"
    return f"| {name} | {d.size} | {np.median(d):.3f} | {np.percentile(d, 10):.3f} | {d.min():.3f} |"


def evaluate(cases: list, label: str) -> None:
    names = ["all", "lytic", "sclerotic", "mixed", "with breach", "with motion"]
    res: dict[str, dict[str, list[float]]] = {m: {n: [] for n in names} for m in METHODS}
    conf: dict[str, list[float]] = {m: [] for m in METHODS}
    secs: dict[str, list[float]] = {m: [] for m in METHODS}
    for c in cases:
        for m, fn in METHODS.items():
            t0 = time.perf_counter()
            mask = fn(c)
            secs[m].append(time.perf_counter() - t0)
            d = float(dice(mask, c.lesion_mask))
            conf[m].append(float(mask.attrs["confidence"]))
            for g in ["all", *groups(c)]:
                res[m][g].append(d)
    for m in METHODS:
        print(
            f"\n{label}, {m}: segmentation {np.median(secs[m]):.2f} s per case (median, max {max(secs[m]):.2f})"
        )
        print("| cases | n | median Dice | 10th pct | min |\n|---|---|---|---|---|")
        for n in names:
            print(row(n, np.asarray(res[m][n])))
        d, cf = np.asarray(res[m]["all"]), np.asarray(conf[m])
        poor = d < 0.7
        print(
            f"confidence: Spearman-free check: {int((cf[poor] < 0.5).sum())} of {int(poor.sum())} "
            f"cases with Dice < 0.7 have confidence < 0.5; {int((cf[~poor] < 0.5).sum())} of "
            f"{int((~poor).sum())} others do; Pearson r(confidence, Dice) = "
            f"{np.corrcoef(cf, d)[0, 1]:.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="folder for the simulated cohorts")
    ap.add_argument("--difficulty", choices=sorted(SEEDS), nargs="*", default=["realistic", "hard"])
    ap.add_argument("--seed", type=int, default=None, help="another cohort seed (one difficulty)")
    args = ap.parse_args()
    for diff in args.difficulty:
        seed = SEEDS[diff] if args.seed is None else args.seed
        evaluate(cohort(diff, args.cache, seed), f"{diff} (rng={seed}, {sum(COMPOSITION.values())} cases)")
        for reg, t in CHAIN_SECONDS.items():
            print(
                f"study chain (motion_correction={reg}): {np.median(t):.2f} s per case (median), "
                f"90th pct {np.percentile(t, 90):.2f}, max {max(t):.2f}"
            )
        CHAIN_SECONDS.clear()


if __name__ == "__main__":
    main()
