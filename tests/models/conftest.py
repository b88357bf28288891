"""Shared fixtures of the models tests: a controlled toy cohort whose class is carried by the curve shape."""

from __future__ import annotations

import numpy as np
import pytest


def curve_shape_cohort(n_patients=40, n_slices=4, size=24, crop=16, n_frames=12, seed=0, noise=0.08):
    """A toy DCE cohort where only the *shape* of the enhancement curve tells the classes apart.

    Every patient has a tumour (a random ellipse per slice, inside a ``size x size`` field) on a
    noisy background.  Tumour voxels enhance from frame 2 on to a patient-specific peak relative
    enhancement (0.6-2.0, the same distribution in both classes) reached at frame 4-5, then either
    stay on a plateau ("lung") or wash out to 55-70 % of the peak by the last frame ("other").
    Baseline signal, peak, timing and each voxel's enhancement fraction vary per patient / voxel,
    so no single frame, intensity or shape feature of the image separates the classes: only the
    time course does.  The series go through :func:`dcemets.models.slice_dataset` (the study's
    cropping and normalisation).  A logistic regression on each slice's mean curve separates the
    classes (see ``test_toy_cohort_is_separable_by_the_mean_curve``).

    Returns
    -------
    SliceDataset
        ``X`` ``(n_patients * n_slices, n_frames, 1, crop, crop)``, ``y`` ("lung"/"other"),
        ``groups`` (patient ids).
    """
    from dcemets._conventions import make_dce, make_image
    from dcemets.models import slice_dataset

    rng = np.random.default_rng(seed)
    t = np.arange(n_frames, dtype=float)
    yy, xx = np.mgrid[:size, :size]
    items = []
    for p in range(n_patients):
        label = "lung" if p % 2 == 0 else "other"
        s0 = rng.uniform(200, 600)
        peak = rng.uniform(0.6, 2.0)
        onset = 2 + rng.uniform(-0.3, 0.3)
        t_peak = onset + rng.uniform(1.8, 3.0)
        rise = np.clip((t - onset) / (t_peak - onset), 0, 1)
        if label == "lung":
            tail = 1 + rng.uniform(-0.03, 0.08) * np.clip(t - t_peak, 0, None) / (n_frames - 1 - t_peak)
        else:
            end = rng.uniform(0.55, 0.70)
            tail = 1 - (1 - end) * np.clip(t - t_peak, 0, None) / (n_frames - 1 - t_peak)
        course = peak * rise * np.where(t > t_peak, tail, 1.0)  # relative enhancement per frame
        vol = np.empty((n_frames, n_slices, size, size))
        mask = np.zeros((n_slices, size, size), bool)
        for z in range(n_slices):
            cy, cx = rng.uniform(8, size - 8, 2)
            ry, rx = rng.uniform(3, 7, 2)
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            mask[z] = inside
            frac = np.where(inside, rng.uniform(0.5, 1.0, (size, size)), 0.0)  # voxel enhancement fraction
            base = s0 * (1 + 0.1 * rng.standard_normal((size, size)))
            vol[:, z] = base * (1 + frac * course[:, None, None])
        vol *= 1 + noise * rng.standard_normal(vol.shape)
        items.append(
            (make_dce(vol, t * 20.0), make_image(mask), label, f"p{p:02d}"),
        )
    return slice_dataset(items, crop=crop, n_frames=n_frames, progress=False)


@pytest.fixture(scope="session")
def curve_cohort():
    """The default toy cohort (40 patients x 4 slices, 16 x 16 crops, 12 frames, seed 0)."""
    return curve_shape_cohort()


@pytest.fixture(scope="session")
def curve_cohort_factory():
    """:func:`curve_shape_cohort` itself, for tests that need another size or seed."""
    return curve_shape_cohort
