"""Motion correction on the DRO: residual misalignment and hot-spot heuristics, with and without.

For each case, the simulator draws the same exam twice from one seed: with motion (the
setting's bulk and respiratory motion, forced on: ``motion_probability=1``) and without (the
same setting with zero motion amplitudes).  The random stream is the same, so the twin
has the same anatomy, kinetics and noise, and differs only by the motion.

* **Residual**: per frame, ``|estimated - true|`` displacement of the anatomy (the
  simulator's ``truth["motion_mm"]``) in voxels (each axis divided by its spacing), median
  over the moved frames of all cases; the baseline a user has without correction is
  ``|true|``.
* **Heuristics**: wash-in, maximum SE and wash-out (``dcemets.kinetics.heuristics``) of the
  3 x 3 hot spot that ``hotspot_roi`` finds inside the true lesion mask, on the moving series
  uncorrected and corrected, against the same on the motion-free twin; the median absolute
  error over cases and the ratio corrected / uncorrected.
* **Speed**: wall and CPU seconds of ``register_frames`` per case.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_registration.py [--n 3]
[--seed0 8100] [--fixed-frame -1]``.
The seeds (8100 + i hard, 8200 + i realistic by default) are used by no test.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from dcemets import kinetics
from dcemets.registration import register_frames
from dcemets.simulate import DIFFICULTIES, simulate_case

PRIMARIES = ("lung", "breast", "prostate", "kidney", "thyroid", "liver")
KEYS = ("wash_in", "max_se", "washout")


def heur(dce, mask):
    roi = kinetics.hotspot_roi(dce, within=mask)
    h = kinetics.heuristics(kinetics.roi_curve(dce, roi))
    return np.array([float(h[k]) for k in KEYS])


def one(setting: str, seed: int, primary: str, fixed_frame: int = -1) -> dict:
    base = DIFFICULTIES[setting]
    moving = dataclasses.replace(base, motion_probability=1.0)
    still = dataclasses.replace(moving, bulk_motion_mm=0.0, respiratory_mm=0.0)
    c = simulate_case(primary, rng=seed, difficulty=moving)
    t = simulate_case(primary, rng=seed, difficulty=still)
    assert np.array_equal(c.lesion_mask.values, t.lesion_mask.values)
    sp = np.asarray(c.dce.attrs["spacing_mm"])  # (x, y, z) = (L, P, S) on the axial grid
    true = c.truth["motion_mm"].values
    w0, c0 = time.perf_counter(), time.process_time()
    r = register_frames(c.dce, fixed_frame=fixed_frame, rng=seed)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    est = r.transforms.displacement.values
    resid = np.linalg.norm((est - true) / sp, axis=1)[1:]
    before = np.linalg.norm(true / sp, axis=1)[1:]
    ref = heur(t.dce, t.lesion_mask)
    return {
        "resid": resid,
        "before": before,
        "err_raw": np.abs(heur(c.dce, c.lesion_mask) - ref),
        "err_cor": np.abs(heur(r.dce, c.lesion_mask) - ref),
        "wall": wall,
        "cpu": cpu,
        "motion_vox": r.motion_vox,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6, help="cases per setting")
    ap.add_argument("--seed0", type=int, default=8100)
    ap.add_argument("--settings", default="hard,realistic")
    ap.add_argument("--fixed-frame", type=int, default=-1, help="register_frames(fixed_frame=...)")
    a = ap.parse_args()
    for j, setting in enumerate(a.settings.split(",")):
        rows = []
        for i in range(a.n):
            seed = a.seed0 + 100 * j + i
            rows.append(one(setting, seed, PRIMARIES[i % len(PRIMARIES)], a.fixed_frame))
            r = rows[-1]
            print(
                f"{setting} seed {seed}: true motion median {np.median(r['before']):.2f} vox, residual "
                f"{np.median(r['resid']):.3f} vox; |err| raw {np.round(r['err_raw'], 1).tolist()} "
                f"corrected {np.round(r['err_cor'], 1).tolist()} (%); {r['wall']:.1f} s wall, "
                f"{r['cpu']:.1f} s CPU",
                flush=True,
            )
        resid = np.concatenate([r["resid"] for r in rows])
        before = np.concatenate([r["before"] for r in rows])
        raw = np.array([r["err_raw"] for r in rows])
        cor = np.array([r["err_cor"] for r in rows])
        print(f"== {setting}: {len(rows)} moving cases, {resid.size} frames")
        print(
            f"  misalignment (vox): uncorrected median {np.median(before):.3f}, corrected median "
            f"{np.median(resid):.3f} (90th pct {np.percentile(resid, 90):.3f}, max {resid.max():.3f}); "
            f"ratio {np.median(resid) / np.median(before):.3f}"
        )
        for k, key in enumerate(KEYS):
            mr, mc = np.median(raw[:, k]), np.median(cor[:, k])
            print(
                f"  {key}: median |error| uncorrected {mr:.2f} %, corrected {mc:.2f} % (ratio "
                f"{mc / mr if mr > 0 else float('nan'):.2f}); mean {raw[:, k].mean():.2f} -> {cor[:, k].mean():.2f}"
            )
        print(
            f"  register_frames: median {np.median([r['wall'] for r in rows]):.1f} s wall, "
            f"{np.median([r['cpu'] for r in rows]):.1f} s CPU per case"
        )


if __name__ == "__main__":
    main()
