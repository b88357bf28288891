"""Hot-spot guards and quality flags on the DRO (issue 20): paper hot spot vs guarded, true vs segmented masks.

Run (about 10 s per case on 2 busy cores: simulation, segmentation, four hot spots, Tofts fits)::

    python benchmarks/hotspot_guards.py --difficulty realistic --seed 20261204
    python benchmarks/hotspot_guards.py --difficulty hard --seed 20261205
    python benchmarks/hotspot_guards.py --difficulty hard --seed 20261205 --motion-correction

Cohort: ``simulate_cohort(composition=COMPOSITION, rng=seed, difficulty=...)`` (64 cases, every
primary and lesion type; seeds no test uses).  For each case the hot spot is placed four ways:
on the true lesion mask and on the pipeline's segmented mask (``segment_lesion`` through
``process_case``), each with the paper-mimicking method (``guards=False``, the baseline) and with
the guards (default).  Printed, per way: the cases whose hot-spot maximum SE lies outside the
true lesion's range of voxel maximum SE (observed data) and how many of those carry no flag,
the ROIs holding a vessel, cortex or air voxel (DRO labels), the cases with a hot-spot flag;
then the study's flags, and Table 1 from segmented masks against Table 1 from the true masks
per group (a cell is starred when the difference exceeds one standard error of the
true-mask mean).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from dcemets import kinetics
from dcemets.simulate import LABELS, simulate_cohort
from dcemets.study import StudyConfig, acquisition_parameters, process_case
from dcemets.study.acquisition import _hotspot_tofts
from dcemets.study.per_case import _motion_correct

COMPOSITION = {"lung": 16, "breast": 14, "prostate": 18, "thyroid": 6, "liver": 5, "kidney": 5}
BAD = [LABELS[k] for k in ("blood", "vein", "cortex", "air")]
HOT_FLAGS = "hotspot_(?:unguarded|small|low_baseline|vessel)"


def measure(cases, vessel_lag: int, motion_correction: bool = False) -> pd.DataFrame:
    cfg = StudyConfig.preset(
        "fast", dl={"enabled": False}, hotspot={"vessel_lag": vessel_lag}, motion_correction=motion_correction
    )
    rows = []
    for c in cases:
        t0 = time.time()
        # with motion correction, every hot spot (true and segmented masks) is placed on the
        # series the study analyses: the registered one (on the first frame's anatomy, where
        # the true mask lies)
        dce = _motion_correct(c, c.dce, cfg)[0]
        v = np.asarray(dce.values, float)
        tm = np.asarray(c.lesion_mask.values, bool)
        lm = ((v.max(0) - v[0]) / v[0])[tm] * 100
        lab = np.asarray(c.truth["labels"])
        row = {
            "subject_id": c.subject_id,
            "primary": c.primary,
            "label": c.label,
            "lesion_type": c.truth["lesion_type"],
            "moving": bool(c.truth.get("moving", False)),
            "true_lo": float(lm.min()),
            "true_hi": float(lm.max()),
            "truth_ktrans": float(c.truth["ktrans"]),
        }
        res = process_case(c, cfg)
        row.update({"dice": res.quality.get("dice"), "study_flags": ";".join(res.flags)})
        acq = acquisition_parameters(dce, cfg)
        for mname, m in (("true", c.lesion_mask), ("seg", res.mask)):
            for mode, g in (("paper", False), ("guard", True)):
                roi = kinetics.hotspot_roi(dce, within=m, guards=g, on_fail="flag", vessel_lag=vessel_lag)
                r = roi.values
                curve = kinetics.roi_curve(dce, roi)
                h = kinetics.heuristics(curve)
                tf, tq = _hotspot_tofts(curve, acq, cfg)
                k = f"{mname}_{mode}"
                hs = float(h.max_se)
                row.update(
                    {
                        f"{k}_max_se": hs,
                        f"{k}_wash_in": float(h.wash_in),
                        f"{k}_washout": float(h.washout),
                        f"{k}_ktrans": tf["ktrans"],
                        f"{k}_kep": tf["kep"],
                        f"{k}_in_range": bool(row["true_lo"] <= hs <= row["true_hi"]),
                        f"{k}_n": int(r.sum()),
                        f"{k}_bad": int(np.isin(lab[r], BAD).sum()),
                        f"{k}_lesion": int((lab[r] == LABELS["lesion"]).sum()),
                        f"{k}_flags": ";".join(roi.attrs["flags"]),
                        f"{k}_tofts_bound": tq["tofts_bound"],
                        f"{k}_tofts_residual": tq["tofts_residual"],
                    }
                )
        row["seconds"] = time.time() - t0
        rows.append(row)
    return pd.DataFrame(rows)


def report(ok: pd.DataFrame) -> None:
    print(
        f"cases {len(ok)}; lesion types {ok.lesion_type.value_counts().to_dict()}; moving {int(ok.moving.sum())}"
    )
    print(
        f"segmentation Dice median {ok.dice.median():.3f}, 10th percentile {ok.dice.quantile(0.1):.3f}, min {ok.dice.min():.3f}"
    )
    print(
        "way         out-of-range  of them unflagged  vessel/bone/air voxel in ROI  ROI < 50 % lesion  hot-spot flagged  full 3x3"
    )
    for k in ("true_paper", "true_guard", "seg_paper", "seg_guard"):
        oor = ~ok[f"{k}_in_range"].astype(bool)
        hf = ok[f"{k}_flags"].str.contains(HOT_FLAGS, regex=True)
        bad = ok[f"{k}_bad"] > 0
        minority = ok[f"{k}_lesion"] < 0.5 * ok[f"{k}_n"]
        print(
            f"{k:11s} {oor.sum():7d} {(oor & ~hf).sum():14d} {bad.sum():22d} {minority.sum():22d} "
            f"{hf.sum():15d} {(ok[f'{k}_n'] == 9).sum():12d}"
        )
        for _, r in ok[oor & ~hf].iterrows():
            print(
                f"    unflagged: {r.subject_id} ({r.primary}, {r.lesion_type}): {r[f'{k}_max_se']:.0f} % "
                f"vs true range {r.true_lo:.0f}-{r.true_hi:.0f} %, {r[f'{k}_bad']} vessel/bone voxels"
            )
    flags = pd.Series([f for s in ok.study_flags for f in s.split(";") if f]).value_counts().to_dict()
    print(
        f"study flags (segmented, guarded): {flags}; cases flagged {(ok.study_flags != '').sum()}/{len(ok)}"
    )
    cols = ["max_se", "wash_in", "washout", "ktrans", "kep"]
    groups = [("lung", ok.label == "lung"), ("other", ok.label == "other")]
    groups += [(p, ok.primary == p) for p in sorted(ok.primary.unique()) if p != "lung"]
    for seg, true in (("seg_guard", "true_guard"), ("seg_paper", "true_paper")):
        print(f"Table 1, {seg} vs {true}: mean segmented / mean true (SE of the true mean); * > 1 SE")
        n_out = {c: 0 for c in cols}
        for gname, sel in groups:
            g = ok[sel]
            cells = []
            for c in cols:
                a, b = g[f"{seg}_{c}"].astype(float), g[f"{true}_{c}"].astype(float)
                se = b.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan
                out = bool(len(g) > 1 and abs(a.mean() - b.mean()) > se)
                n_out[c] += out
                cells.append(f"{c} {a.mean():.3g}/{b.mean():.3g} ({se:.2g}){'*' if out else ''}")
            print(f"  {gname:9s} n={len(g):2d} " + "  ".join(cells))
        print(f"  groups beyond 1 SE per column (of {len(groups)}): {n_out}")
    print(f"seconds per case (chain + 4 hot spots): median {ok.seconds.median():.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--difficulty", default="realistic", choices=["clean", "realistic", "hard"])
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--vessel-lag", type=int, default=0)
    ap.add_argument("--csv", default=None, help="write the per-case table here")
    ap.add_argument(
        "--motion-correction",
        action="store_true",
        help="register the frames first (StudyConfig.motion_correction)",
    )
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    cases = simulate_cohort(
        composition=COMPOSITION, rng=args.seed, difficulty=args.difficulty, progress=False
    )
    table = measure(cases, args.vessel_lag, args.motion_correction)
    if args.csv:
        table.to_csv(args.csv, index=False)
    report(table)


if __name__ == "__main__":
    main()
