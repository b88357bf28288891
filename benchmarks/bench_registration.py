"""Motion correction on the DRO: residual misalignment, hot-spot heuristics and cost, with and without.

For each case, the simulator draws the same exam twice from one seed: with motion (the
setting's bulk and respiratory motion, forced on: ``motion_probability=1``) and without (the
same setting with zero motion amplitudes).  The random stream is the same, so the twin
has the same anatomy, kinetics and noise, and differs only by the motion.

* **Residual**: per frame, ``|estimated - true|`` displacement of the anatomy in voxels
  (each axis divided by its spacing), median over the moved frames of all cases; the
  baseline a user has without correction is ``|true|``.  The truth is the simulator's
  ``truth["motion_effective_mm"]`` (where each frame's image is: A-P the least-squares shift
  of the frame's phase-encode lines) relative to frame 0, the reference; the residual
  against the k-space-centre truth ``truth["motion_mm"]`` is printed too.
* **Heuristics**: wash-in, maximum SE and wash-out (``dcemets.kinetics.heuristics``) of the
  3 x 3 hot spot that ``hotspot_roi`` finds inside the true lesion mask, on the moving series
  uncorrected and corrected, against the same on the motion-free twin; the median absolute
  error over cases and the ratio corrected / uncorrected, with a 95 % bootstrap interval
  (cases resampled, paired).  The same for an *oracle*
  correction: each frame moved back by its true effective shift with the same interpolation
  (frames under ``--min-displacement`` left as they are, as ``register_frames`` does).  A
  perfect frame-wise registration gives the oracle's figures, up to the noise of this
  measure, so the oracle's ratio is what motion correction can reach here: the respiratory blur inside a frame (its phase-encode lines
  see different shifts) cannot be undone by moving the frame, and resampling changes the
  noise that decides which 3 x 3 block is the hot spot.
* **Region** (``--region``): ``roi`` registers on the case's sagittal ROI carried to the DCE
  grid (``dcemets.segmentation.transfer_roi``; the metric on its bounding box +
  ``--margin-mm``), as ``dcemets.study.process_case`` does; ``volume`` on the whole volume.  Both can be given
  (``roi,volume``): each case is then registered both ways.
* **Speed**: wall and CPU seconds of ``register_frames`` per case and, with ``--chain``, of
  the whole per-case chain (``process_case`` with ``StudyConfig.preset("cpu",
  motion_correction=True)``: registration, segmentation, hot spot, Tofts fit, maps,
  radiomics) and of the same chain without motion correction.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_registration.py [--n 6]
[--seed0 8100] [--fixed-frame -1] [--region roi,volume] [--margin-mm 30] [--metric-region box]
[--roi-sampling 0.25] [--volume-sampling 0.06] [--chain]`` (the defaults are the study's
settings for ``roi`` and ``register_frames``' for ``volume``).  The seeds (8100 + i hard, 8200 + i realistic by default) are used by no test;
the study's margin was chosen on development seeds (``--seed0 1000``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import SimpleITK as sitk

from dcemets import kinetics
from dcemets.io import to_sitk
from dcemets.registration import register_frames
from dcemets.segmentation import transfer_roi
from dcemets.simulate import DIFFICULTIES, simulate_case
from dcemets.study import StudyConfig, process_case

PRIMARIES = ("lung", "breast", "prostate", "kidney", "thyroid", "liver")
KEYS = ("wash_in", "max_se", "washout")


def heur(dce, mask):
    roi = kinetics.hotspot_roi(dce, within=mask, on_fail="flag")
    h = kinetics.heuristics(kinetics.roi_curve(dce, roi))
    return np.array([float(h[k]) for k in KEYS])


def oracle(dce, shift_mm, sp, min_vox):
    """`dce` with each frame moved back by its true shift (LPS mm, relative to frame 0), linear."""
    da = dce.transpose("time", "z", "y", "x")
    vals = np.asarray(da.values, dtype=np.float32)
    frames = to_sitk(da.copy(data=vals))
    out = vals.copy()
    for k in range(1, len(frames)):
        if np.linalg.norm(shift_mm[k] / sp) < max(min_vox, 1e-12):
            continue
        tx = sitk.TranslationTransform(3, [float(v) for v in shift_mm[k]])
        res = sitk.Resample(frames[k], frames[0], tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32, True)
        out[k] = sitk.GetArrayFromImage(res)
    return da.copy(data=out.astype(da.dtype, copy=False)).transpose(*dce.dims)


def timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def one(setting: str, seed: int, primary: str, a: argparse.Namespace) -> dict:
    base = DIFFICULTIES[setting]
    moving = dataclasses.replace(
        base, motion_probability=1.0, respiratory_mm=base.respiratory_mm * a.respiratory_scale
    )
    still = dataclasses.replace(moving, bulk_motion_mm=0.0, respiratory_mm=0.0)
    c = simulate_case(primary, rng=seed, difficulty=moving)
    t = simulate_case(primary, rng=seed, difficulty=still)
    assert np.array_equal(c.lesion_mask.values, t.lesion_mask.values)
    sp = np.asarray(c.dce.attrs["spacing_mm"])  # (x, y, z) = (L, P, S) on the axial grid
    centre = c.truth["motion_mm"].values
    eff = c.truth["motion_effective_mm"].values
    eff = eff - eff[0]  # registration to frame 0 sees the motion relative to frame 0's image
    ref = heur(t.dce, t.lesion_mask)
    out: dict = {
        "before": np.linalg.norm(eff / sp, axis=1)[1:],
        "before_centre": np.linalg.norm(centre / sp, axis=1)[1:],
        "err_raw": np.abs(heur(c.dce, c.lesion_mask) - ref),
        "err_orc": np.abs(heur(oracle(c.dce, eff, sp, a.min_displacement), c.lesion_mask) - ref),
    }
    if a.chain:
        cfg = StudyConfig.preset("cpu")
        _, out["chain_off_wall"], out["chain_off_cpu"] = timed(process_case, c, cfg)
    for region in a.region.split(","):
        opts = {
            "sampling": a.volume_sampling,
            "fixed_frame": a.fixed_frame,
            "min_displacement": a.min_displacement,
        }
        if region == "roi":
            opts.update(margin_mm=a.margin_mm, sampling=a.roi_sampling, metric_region=a.metric_region)
        mask = transfer_roi(c.roi_sagittal, c.dce) if region == "roi" else None
        r, wall, cpu = timed(register_frames, c.dce, mask=mask, rng=seed, **opts)
        est = r.transforms.displacement.values
        res: dict = {
            "resid": np.linalg.norm((est - eff) / sp, axis=1)[1:],
            "resid_centre": np.linalg.norm((est - centre) / sp, axis=1)[1:],
            "err_cor": np.abs(heur(r.dce, c.lesion_mask) - ref),
            "wall": wall,
            "cpu": cpu,
        }
        if a.chain:
            cfg = StudyConfig.preset("cpu", motion_correction=True, registration={"region": region, **opts})
            res_c, res["chain_wall"], res["chain_cpu"] = timed(process_case, c, cfg)
            assert res_c.quality["motion_region"] == region
        out[region] = res
    return out


def ratio_ci(num: np.ndarray, den: np.ndarray, n_boot: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval (cases resampled, paired) of median(num) / median(den)."""
    gen = np.random.default_rng(0)
    idx = gen.integers(0, len(num), size=(n_boot, len(num)))
    r = np.median(num[idx], axis=1) / np.maximum(np.median(den[idx], axis=1), 1e-12)
    return float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5))


def summary(setting: str, region: str, rows: list[dict], chain: bool) -> None:
    resid = np.concatenate([r[region]["resid"] for r in rows])
    resid_c = np.concatenate([r[region]["resid_centre"] for r in rows])
    before = np.concatenate([r["before"] for r in rows])
    before_c = np.concatenate([r["before_centre"] for r in rows])
    raw = np.array([r["err_raw"] for r in rows])
    cor = np.array([r[region]["err_cor"] for r in rows])
    orc = np.array([r["err_orc"] for r in rows])
    print(f"== {setting}, region {region}: {len(rows)} moving cases, {resid.size} frames")
    print(
        f"  misalignment (vox, effective truth): uncorrected median {np.median(before):.3f}, corrected "
        f"median {np.median(resid):.3f} (90th pct {np.percentile(resid, 90):.3f}, max {resid.max():.3f})"
    )
    print(
        f"  misalignment (vox, k-space-centre truth): uncorrected median {np.median(before_c):.3f}, "
        f"corrected median {np.median(resid_c):.3f} (90th pct {np.percentile(resid_c, 90):.3f}, "
        f"max {resid_c.max():.3f})"
    )
    for k, key in enumerate(KEYS):
        mr, mc = np.median(raw[:, k]), np.median(cor[:, k])
        lo, hi = ratio_ci(cor[:, k], raw[:, k])
        print(
            f"  {key}: median |error| uncorrected {mr:.2f} %, corrected {mc:.2f} % (ratio "
            f"{mc / mr if mr > 0 else float('nan'):.2f}, 95 % CI {lo:.2f}-{hi:.2f}); "
            f"mean {raw[:, k].mean():.2f} -> {cor[:, k].mean():.2f}"
        )
        mo = np.median(orc[:, k])
        lo, hi = ratio_ci(orc[:, k], raw[:, k])
        print(
            f"  {key}: oracle correction median |error| {mo:.2f} % (ratio "
            f"{mo / mr if mr > 0 else float('nan'):.2f}, 95 % CI {lo:.2f}-{hi:.2f}); mean {orc[:, k].mean():.2f}"
        )
    walls = [r[region]["wall"] for r in rows]
    cpus = [r[region]["cpu"] for r in rows]
    print(
        f"  register_frames: median {np.median(walls):.1f} s wall (max {max(walls):.1f}), "
        f"{np.median(cpus):.1f} s CPU per case"
    )
    if chain:
        cw = [r[region]["chain_wall"] for r in rows]
        cc = [r[region]["chain_cpu"] for r in rows]
        ow = [r["chain_off_wall"] for r in rows]
        print(
            f"  process_case with motion correction: median {np.median(cw):.1f} s wall (max {max(cw):.1f}), "
            f"{np.median(cc):.1f} s CPU; without: median {np.median(ow):.1f} s wall"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6, help="cases per setting")
    ap.add_argument("--seed0", type=int, default=8100)
    ap.add_argument("--settings", default="hard,realistic")
    ap.add_argument("--fixed-frame", type=int, default=-1, help="register_frames(fixed_frame=...)")
    ap.add_argument("--region", default="roi,volume", help="comma-separated: roi, volume")
    ap.add_argument("--margin-mm", type=float, default=30.0, help="register_frames(margin_mm=...) for roi")
    ap.add_argument("--metric-region", default="box", help="register_frames(metric_region=...) for roi")
    ap.add_argument("--roi-sampling", type=float, default=0.25, help="register_frames(sampling=...) for roi")
    ap.add_argument(
        "--volume-sampling", type=float, default=0.06, help="register_frames(sampling=...) for volume"
    )
    ap.add_argument("--chain", action="store_true", help="time process_case too")
    ap.add_argument(
        "--min-displacement", type=float, default=0.1, help="register_frames(min_displacement=...)"
    )
    ap.add_argument(
        "--respiratory-scale",
        type=float,
        default=1.0,
        help="scale the setting's respiratory amplitude (0: bulk only)",
    )
    a = ap.parse_args()
    regions = a.region.split(",")
    if not set(regions) <= {"roi", "volume"}:
        ap.error(f"--region must name roi and/or volume, got {a.region!r}")
    for j, setting in enumerate(a.settings.split(",")):
        rows = []
        for i in range(a.n):
            seed = a.seed0 + 100 * j + i
            rows.append(one(setting, seed, PRIMARIES[i % len(PRIMARIES)], a))
            r = rows[-1]
            for region in regions:
                q = r[region]
                chain = f", chain {q['chain_wall']:.1f} s wall" if a.chain else ""
                print(
                    f"{setting} seed {seed} {region}: true motion median {np.median(r['before']):.2f} vox, "
                    f"residual {np.median(q['resid']):.3f} vox (centre truth {np.median(q['resid_centre']):.3f}); "
                    f"|err| raw {np.round(r['err_raw'], 1).tolist()} corrected {np.round(q['err_cor'], 1).tolist()} "
                    f"(%); {q['wall']:.1f} s wall, {q['cpu']:.1f} s CPU{chain}",
                    flush=True,
                )
        for region in regions:
            summary(setting, region, rows, a.chain)


if __name__ == "__main__":
    main()
