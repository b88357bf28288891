"""NumPy core of the curve-feature segmentation (``segment_lesion(algorithm="curve")``).

A lesion is found as the region whose enhancement *curve* (and baseline, and T2W signal when
given) differs from the normal marrow around it, not as the brightest thing near the outline:

1. every voxel of a crop around the search box gets a feature vector: the log baseline
   ``log S0`` (relative to the box median), the mean relative enhancement ``S(t)/S0 - 1`` over
   the first, middle and last third of the post-contrast frames, the curve's shape
   ``(early - late) / mean`` (oedematous marrow enhances with the marrow's kinetics, scaled; a
   tumour with its own), and, when a T2W image is given, its log signal (relative to the box
   median), all after a Gaussian smoothing of ``sigma_mm``;
2. the **lesion reference** is the robust centre (median) and spread (scaled MAD) of the
   features over the *core* of the transferred outline (its antero-posterior middle, where
   the radiologist marked tumour), less the core voxels that do not enhance (a disc or an end
   plate inside a generous outline);
3. the **marrow reference** is the same over a ring around the outline, antero-posterior and
   head-foot only (left-right the lesion extends beyond a sagittal outline), less the voxels
   that do not enhance or have no signal (disc, fat, cortex) and vessels;
4. a voxel is lesion-like when it is nearer the lesion centre than the marrow centre, in
   units of the geometric mean of the two spreads (a nearest-centroid rule, so the boundary
   sits half-way: where a partial-volume mix is half lesion), not farther than ``tau`` spreads
   from the lesion centre, and its enhancement is nearer the lesion's than zero (no
   non-enhancing tissue: disc, fat, cortex);
5. the lesion is the lesion-like region connected to the core, inside the search box, with
   enclosed holes filled (3D and per slice).

Every function takes plain arrays in ``(z, y, x)`` order (time first for a series) and never
writes into its inputs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._np import _smooth

__all__: list[str] = []

_SCALE_FLOOR = 0.05  # floor of a feature's spread (log units / relative enhancement)
_MIN_REFERENCE = 10  # fewest voxels of a reference before falling back


@dataclass
class CurveResult:
    """Output of :func:`_curve_segment` (arrays on the full grid)."""

    lesion: np.ndarray
    probability: np.ndarray
    core: np.ndarray
    marrow: np.ndarray
    confidence: float
    core_enhancement: float
    lesion_centre: np.ndarray
    marrow_centre: np.ndarray
    feature_names: tuple[str, ...]


def _robust(x: np.ndarray, floor: float = _SCALE_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    c = np.median(x, axis=0)
    s = 1.4826 * np.median(np.abs(x - c), axis=0)
    return c, np.maximum(s, floor)


def _crop(box: np.ndarray, spacing_xyz: np.ndarray, margin_mm: float) -> tuple[slice, slice, slice]:
    idx = np.argwhere(box)
    pad = np.ceil(margin_mm / np.asarray(spacing_xyz, dtype=float)[::-1]).astype(int)
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, box.shape)
    return (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])), slice(int(lo[2]), int(hi[2])))


def _ring(outline: np.ndarray, spacing_xyz: np.ndarray, inner_mm: float, outer_mm: float) -> np.ndarray:
    """Voxels between `inner_mm` and `outer_mm` from the outline along y (A-P) and z (S-I) only."""
    sy, sz = float(spacing_xyz[1]), float(spacing_xyz[2])
    ry_in, ry_out = round(inner_mm / sy), max(1, round(outer_mm / sy))
    rz_in, rz_out = round(inner_mm / sz), max(1, round(outer_mm / sz))
    outer = np.zeros((2 * rz_out + 1, 2 * ry_out + 1, 1), dtype=bool)
    zz, yy = np.meshgrid(np.arange(-rz_out, rz_out + 1), np.arange(-ry_out, ry_out + 1), indexing="ij")
    outer[..., 0] = (zz * sz) ** 2 + (yy * sy) ** 2 <= outer_mm**2 + 1e-9
    inner = np.zeros_like(outer)
    if inner_mm > 0:
        inner[..., 0] = (zz * sz) ** 2 + (yy * sy) ** 2 <= inner_mm**2 + 1e-9
    else:
        inner[rz_out, ry_out, 0] = True
    del rz_in, ry_in
    return ndi.binary_dilation(outline, outer) & ~ndi.binary_dilation(outline, inner)


def _features(
    signal: np.ndarray,
    t2w: np.ndarray | None,
    box: np.ndarray,
    *,
    n_baseline: int,
    spacing_xyz: np.ndarray,
    sigma_mm: float,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Feature stack ``(z, y, x, n_features)`` and the peak relative enhancement of a crop."""
    sig = np.stack([_smooth(f, spacing_xyz, sigma_mm) for f in np.asarray(signal, dtype=np.float64)])
    s0 = sig[:n_baseline].mean(axis=0)
    ref = float(np.median(s0[box]))
    ref = ref if ref > 0 else float(np.max(s0)) if np.max(s0) > 0 else 1.0
    s0f = np.maximum(s0, 0.03 * ref)
    post = sig[n_baseline:]
    n_post = post.shape[0]
    k = min(3, n_post)
    edges = np.linspace(0, n_post, k + 1).round().astype(int)
    rel = [post[a:b].mean(axis=0) / s0f - 1.0 for a, b in itertools.pairwise(edges)]
    while len(rel) < 3:  # fewer than 3 post-contrast frames: repeat the last window
        rel.append(rel[-1])
    feats = [np.log(s0f / ref), *rel]
    names = ["log_s0", "enhancement_early", "enhancement_mid", "enhancement_late"]
    # the curve's shape, whatever its amplitude: (early - late) / mean enhancement.  Oedematous
    # marrow enhances with the marrow's kinetics, scaled; a tumour with its own
    amp = np.maximum(np.mean(rel, axis=0), 0.1)
    feats.append((rel[0] - rel[2]) / amp)
    names.append("shape")
    if t2w is not None:
        t2 = _smooth(t2w, spacing_xyz, sigma_mm)
        r2 = float(np.median(t2[box]))
        r2 = r2 if r2 > 0 else 1.0
        feats.append(np.log(np.maximum(t2, 0.03 * r2) / r2))
        names.append("log_t2w")
    peak = (post.max(axis=0) - s0) / s0f
    return np.stack(feats, axis=-1), peak, tuple(names)


def _drop_oedema_like(
    prob: np.ndarray, enh: np.ndarray, marrow: np.ndarray, core: np.ndarray, separation: float
) -> np.ndarray:
    """Zero the lesion probability of voxels whose curve *shape* is the marrow's.

    Reactive marrow oedema around a metastasis enhances with the marrow's kinetics, scaled up
    (more water, more perfusion), whereas the tumour enhances with its own; so a voxel whose
    normalised enhancement curve (the two differences of the three window means over their
    mean) is nearer the marrow reference's than the lesion core's (in units of the geometric
    mean of the two robust spreads, so the boundary lies half-way) is taken as oedema.
    Applied only when the two references' shapes differ by more than `separation` of those
    spreads (otherwise shape cannot tell them apart).
    """
    amp = np.maximum(enh.mean(axis=-1), 0.1)[..., None]
    sh = np.stack([enh[..., 0] - enh[..., 1], enh[..., 1] - enh[..., 2]], axis=-1) / amp
    c_m, s_m = _robust(sh[marrow], floor=0.01)
    c_l, s_l = _robust(sh[core], floor=0.01)
    scale = np.sqrt(s_m * s_l)  # shared, as in the classification: the boundary lies half-way
    if float((((c_l - c_m) / scale) ** 2).sum()) <= separation**2:
        return prob
    d_l = (((sh - c_l) / scale) ** 2).sum(axis=-1)
    d_m = (((sh - c_m) / scale) ** 2).sum(axis=-1)
    return np.where((d_m < d_l) & ~core, 0.0, prob)


def _curve_segment(
    signal: np.ndarray,
    box: np.ndarray,
    outline: np.ndarray,
    core: np.ndarray,
    *,
    spacing_xyz: np.ndarray,
    n_baseline: int,
    t2w: np.ndarray | None = None,
    sigma_mm: float = 1.5,
    ring_mm: tuple[float, float] = (3.0, 9.0),
    core_fraction: float = 0.3,
    tau: float = 3.0,
    oedema_separation: float | None = None,
) -> CurveResult:
    """Curve-feature lesion segmentation inside `box` (see the module docstring).

    `signal` is the DCE series ``(time, z, y, x)``; `box`, `outline` (the transferred outline)
    and `core` (its antero-posterior middle) are bool ``(z, y, x)``; `t2w` is the T2W image
    resampled onto the same grid or None.
    """
    sl = _crop(box, spacing_xyz, 2.0 * ring_mm[1] + 3.0 * sigma_mm)
    b = box[sl]
    sig = np.asarray(signal)[(slice(None), *sl)]
    t2 = None if t2w is None else np.asarray(t2w)[sl]
    feats, peak, names = _features(
        sig, t2, b, n_baseline=n_baseline, spacing_xyz=spacing_xyz, sigma_mm=sigma_mm
    )
    log_s0 = feats[..., 0]
    enh = feats[..., 1:4]
    c = core[sl] & b
    if not c.any():
        c = outline[sl] & b
    # marrow reference: an A-P / S-I ring around the outline, enhancing, with signal, no vessel
    ring = _ring(outline[sl], spacing_xyz, *ring_mm) & ~outline[sl]
    core_peak = float(np.median(peak[c]))
    away = b & ~ndi.binary_dilation(outline[sl], iterations=2)
    marrow = np.zeros_like(b)
    for floor in (0.25, 0.05):  # normal marrow enhances (a disc, fat or cortex hardly does)
        plausible = (peak > floor) & (peak < 3.0) & (log_s0 > np.log(0.4))
        for candidate in (ring, away):
            if (candidate & plausible).sum() >= _MIN_REFERENCE:
                marrow = candidate & plausible
                break
        if marrow.any():
            break
    if not marrow.any():
        marrow = b & ~c if (b & ~c).sum() >= _MIN_REFERENCE else np.ones_like(b)
    c_m, s_m = _robust(feats[marrow])
    # lesion reference: the core, less its non-enhancing voxels (disc or end plate in a loose outline)
    if core_fraction > 0:
        enh_ml = enh[..., 1:].mean(axis=-1)
        cleaned = c & (enh_ml > core_fraction * float(c_m[2:4].mean()))
        if cleaned.sum() >= max(_MIN_REFERENCE, 0.2 * c.sum()):
            c = cleaned
    c_l, s_l = _robust(feats[c])
    scale = np.sqrt(s_m * s_l)
    d_l = (((feats - c_l) / scale) ** 2).sum(axis=-1)
    d_m = (((feats - c_m) / scale) ** 2).sum(axis=-1)
    d_tau = (((feats - c_l) / s_l) ** 2).sum(axis=-1)
    # a non-enhancing tissue: the voxel's own baseline (and T2W), zero enhancement
    d_l_enh = (((enh - c_l[1:4]) / scale[1:4]) ** 2).sum(axis=-1)
    d_0_enh = ((enh / scale[1:4]) ** 2).sum(axis=-1)
    # lesion probability: two Gaussian classes with a shared spread, equal priors
    prob = 1.0 / (1.0 + np.exp(np.clip(0.5 * (d_l - d_m), -50.0, 50.0)))
    prob = np.where((d_tau < tau**2 * feats.shape[-1]) & (d_l_enh < d_0_enh), prob, 0.0)
    if oedema_separation is not None:
        prob = _drop_oedema_like(prob, enh, marrow, c, oedema_separation)
    cand = (prob > 0.5) & b
    lab, _ = ndi.label(cand)
    keep = np.unique(lab[c & cand])
    keep = keep[keep > 0]
    m = np.isin(lab, keep)
    if m.any():
        m = ndi.binary_fill_holes(m)
        m = np.stack([ndi.binary_fill_holes(s) for s in m]) & b
    # confidence: |mask & sure| / |mask | plausible|, sure p >= 0.9, plausible p >= 0.1 connected to it
    sure = m & (prob >= 0.9)
    lab_p, _ = ndi.label((prob >= 0.1) & b)
    touch = np.unique(lab_p[m])
    plausible_region = np.isin(lab_p, touch[touch > 0]) | m
    conf = float(sure.sum() / plausible_region.sum()) if plausible_region.any() else 0.0

    def full(a: np.ndarray, fill: float | bool = False) -> np.ndarray:
        out = np.full(box.shape, fill, dtype=a.dtype)
        out[sl] = a
        return out

    return CurveResult(
        lesion=full(m),
        probability=full(prob.astype(np.float32), 0.0),
        core=full(c),
        marrow=full(marrow),
        confidence=conf,
        core_enhancement=100.0 * core_peak,
        lesion_centre=c_l,
        marrow_centre=c_m,
        feature_names=names,
    )


def _resample_to(
    image: np.ndarray, src_index_from_ref_index: np.ndarray, shape: tuple[int, int, int]
) -> np.ndarray:
    """Trilinear resampling of `image` (z, y, x) onto a grid of `shape` (z, y, x).

    `src_index_from_ref_index` is the 4 x 4 matrix mapping a reference index ``(i, j, k, 1)``
    (x, y, z order) to a source index; outside the source the nearest edge value is used.
    """
    zz, yy, xx = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    ijk = np.stack([xx.ravel(), yy.ravel(), zz.ravel(), np.ones(xx.size)])
    src = (src_index_from_ref_index @ ijk)[:3][::-1]
    vals = ndi.map_coordinates(np.asarray(image, dtype=np.float64), src, order=1, mode="nearest")
    return np.asarray(vals.reshape(shape))
