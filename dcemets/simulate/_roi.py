"""The radiologist's outline of the diseased segment on the sagittal series.

Private to :mod:`dcemets.simulate.case`.  One job: draw an imprecise ROI (margin, boundary
wobble, shift, slice choice) from the true lesion on the sagittal grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__: list[str] = []


def _smooth_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap", truncate=3.0)
    return f / max(float(f.std()), 1e-12)


def _radiologist_roi(
    lesion_sag: np.ndarray,
    spacing: np.ndarray,
    rng: np.random.Generator,
    *,
    error: float = 1.0,
    neighbour_probability: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """An imprecise outline of the diseased segment on 1-3 sagittal slices.

    Loose or tight (margin -0.5 to 3 mm, times `error`), a smooth boundary wobble, a shift
    of ~1.5 mm; with `neighbour_probability`, the outline of a slice is drawn on the
    neighbouring slice (the radiologist scrolled one slice too far).
    """
    area = lesion_sag.sum(axis=(1, 2))
    roi = np.zeros_like(lesion_sag)
    if area.max() == 0:
        return roi, {"roi_slices": []}
    best = int(np.argmax(area))
    n = int(rng.integers(1, 4))
    cand = [best] + [s for s in (best - 1, best + 1) if 0 <= s < area.size and area[s] > 0.3 * area[best]]
    slices = sorted(cand[:n])
    margin = float(rng.uniform(-0.5, 3.0)) * error  # mm: radiologists outline generously
    wobble = float(rng.uniform(0.8, 2.0)) * error  # mm
    pix = float(np.mean(spacing[:2]))
    shift = np.rint(rng.normal(0.0, 1.5 * error, size=2) / spacing[1::-1]).astype(int)  # (rows, cols)
    step = int(rng.choice([-1, 1])) if rng.random() < neighbour_probability else 0
    for s in slices:
        les = lesion_sag[s]
        if not les.any():
            continue
        les = ndimage.binary_closing(les, iterations=2) | les
        sd = (ndimage.distance_transform_edt(~les) - ndimage.distance_transform_edt(les)) * pix
        field = _smooth_noise(les.shape, 3.0, rng) * wobble
        r = (sd + field) < margin
        r = np.roll(r, tuple(shift), axis=(0, 1))
        lab, nlab = ndimage.label(r)
        if nlab > 1:
            sizes = ndimage.sum_labels(r, lab, index=np.arange(1, nlab + 1))
            r = lab == (1 + int(np.argmax(sizes)))
        roi[min(max(s + step, 0), roi.shape[0] - 1)] |= ndimage.binary_fill_holes(r)
    if not roi.any():  # pragma: no cover - margins are bounded, keep a fallback
        roi[best] = lesion_sag[best]
    return roi, {
        "roi_slices": [min(max(s + step, 0), roi.shape[0] - 1) for s in slices],
        "roi_margin_mm": margin,
        "roi_wobble_mm": wobble,
        "roi_slice_offset": step,
    }
