"""Benchmark of dcemets.segmentation on simulated cases (run: python benchmarks/bench_segmentation.py).

Prints, on a few simulated cases at the simulator's default grid:

* the time per case of :func:`dcemets.segmentation.segment_lesion` (target < 5 s on 2 cores);
* against the scikit-image recipe a user would otherwise follow (SLIC + RAG + normalized cut on
  the **whole** axial slice, scikit-image's 8-bit defaults rescaled to 0-255), the time of the
  partitioning step;
* against a plain SimpleITK pipeline (nearest-neighbour resampling of the outline, then
  ``ConfidenceConnected`` from the raw maximum of the enhancement image inside the outline's
  slices), the Dice and HD95 against the ground truth;
* the outline transfer against ``sitk.Resample`` (nearest neighbour): time and voxels kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time

import numpy as np
import SimpleITK as sitk

from dcemets._conventions import geometry, like
from dcemets.segmentation import (
    dice,
    enhancement_image,
    hausdorff95,
    segment_lesion,
    transfer_roi,
)
from dcemets.simulate import simulate_cohort

N_CASES = 4


def to_sitk(da, dtype=np.float64):
    g = geometry(da)
    img = sitk.GetImageFromArray(np.asarray(da.values, dtype=dtype))
    img.SetOrigin(g.origin)
    img.SetSpacing(g.spacing)
    img.SetDirection(g.direction)
    return img


def nn_transfer(roi, ref):
    out = sitk.Resample(
        to_sitk(roi, np.uint8), to_sitk(ref), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )
    return sitk.GetArrayFromImage(out).astype(bool)


def baseline_segment(dce, roi):
    """Plain SimpleITK: NN-resampled outline, ConfidenceConnected from the raw maximum."""
    enh = enhancement_image(dce)
    ref = enh
    trans = nn_transfer(roi, ref)
    if not trans.any():
        return like(ref, np.zeros(ref.shape, bool))
    e = np.asarray(enh.values)
    seed = np.unravel_index(np.argmax(np.where(trans, e, -np.inf)), e.shape)
    img = to_sitk(enh)
    grown = sitk.ConfidenceConnected(
        img,
        seedList=[(int(seed[2]), int(seed[1]), int(seed[0]))],
        numberOfIterations=4,
        multiplier=2.5,
        initialNeighborhoodRadius=1,
    )
    return like(ref, sitk.GetArrayFromImage(grown).astype(bool))


def skimage_full_slice_ncut(enh, z_slices):
    from skimage import graph, segmentation

    for z in z_slices:
        sl = np.asarray(enh.values[z])
        lo, hi = np.percentile(sl, [1, 99])
        img8 = np.clip((sl - lo) / (hi - lo + 1e-12), 0, 1) * 255.0
        labels = segmentation.slic(img8, n_segments=400, compactness=10, channel_axis=None, start_label=1)
        rag = graph.rag_mean_color(img8, labels, mode="similarity")
        graph.cut_normalized(labels, rag, rng=0)


def main() -> None:
    t0 = time.perf_counter()
    cases = simulate_cohort(composition={"lung": 2, "thyroid": 1, "kidney": 1}, rng=1, progress=False)[
        :N_CASES
    ]
    shape = cases[0].dce.shape
    print(
        f"simulated {len(cases)} cases, DCE shape {shape} (time, z, y, x), {time.perf_counter() - t0:.1f} s"
    )

    times, d_ours, h_ours, d_base, h_base, t_ncut_ours, t_ncut_sk = [], [], [], [], [], [], []
    t_tr, t_nn, n_tr, n_nn = [], [], [], []
    for c in cases:
        t = time.perf_counter()
        mask, steps = segment_lesion(c.dce, c.roi_sagittal, return_steps=True)
        times.append(time.perf_counter() - t)
        d_ours.append(dice(mask, c.lesion_mask))
        h_ours.append(hausdorff95(mask, c.lesion_mask))
        base = baseline_segment(c.dce, c.roi_sagittal)
        d_base.append(dice(base, c.lesion_mask))
        h_base.append(hausdorff95(base, c.lesion_mask) if base.any() else np.nan)
        # partitioning step alone (the paper's chain): ours (search box) vs scikit-image
        # defaults on whole slices
        from dcemets.segmentation import normalized_cut

        _, steps = segment_lesion(c.dce, c.roi_sagittal, return_steps=True, algorithm="paper")

        zs = np.flatnonzero(steps.search_region.values.any(axis=(1, 2)))
        e = steps.enhancement.values
        t = time.perf_counter()
        for z in zs:
            normalized_cut(
                e[z],
                steps.search_region.values[z],
                value_range=tuple(steps.attrs["value_range"]),
                rng=0,
            )
        t_ncut_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        skimage_full_slice_ncut(steps.enhancement, zs)
        t_ncut_sk.append(time.perf_counter() - t)
        # outline transfer
        t = time.perf_counter()
        tr = transfer_roi(c.roi_sagittal, c.dce)
        t_tr.append(time.perf_counter() - t)
        t = time.perf_counter()
        nn = nn_transfer(c.roi_sagittal, steps.enhancement)
        t_nn.append(time.perf_counter() - t)
        n_tr.append(int(tr.sum()))
        n_nn.append(int(nn.sum()))

    med = float(np.median(times))
    print(f"segment_lesion (curve): median {med:.2f} s per case (max {max(times):.2f} s); target < 5 s")
    print(
        f"partitioning, search box (dcemets) vs whole-slice scikit-image recipe: "
        f"{np.median(t_ncut_ours):.3f} s vs {np.median(t_ncut_sk):.3f} s per case, "
        f"ratio {np.median(t_ncut_sk) / np.median(t_ncut_ours):.1f}x"
    )
    print(
        f"Dice median: dcemets {np.median(d_ours):.3f} (min {min(d_ours):.3f}) vs plain SimpleITK "
        f"{np.median(d_base):.3f} (min {min(d_base):.3f}); ratio {np.median(d_ours) / max(np.median(d_base), 1e-9):.2f}"
    )
    print(
        f"HD95 median: dcemets {np.nanmedian(h_ours):.1f} mm vs plain SimpleITK {np.nanmedian(h_base):.1f} mm"
    )
    print(
        f"outline transfer: dcemets {np.median(t_tr) * 1e3:.1f} ms, {np.median(n_tr):.0f} voxels vs "
        f"sitk.Resample NN {np.median(t_nn) * 1e3:.1f} ms, {np.median(n_nn):.0f} voxels "
        f"(time ratio {np.median(t_tr) / np.median(t_nn):.1f}x)"
    )
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
