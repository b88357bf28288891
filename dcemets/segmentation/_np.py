"""NumPy / SimpleITK / scikit-image cores of the segmentation steps (no labels, no geometry checks).

Every function here takes plain arrays in array order ``(z, y, x)`` (or ``(y, x)`` for one
slice), never writes into its inputs and returns new arrays.  The public, labelled wrappers
live in the sibling modules of :mod:`dcemets.segmentation`.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

__all__: list[str] = []

_CHUNK = 1_000_000  # points mapped per chunk in _transfer_points


# --------------------------------------------------------------------------- enhancement
def _enhancement_np(signal: np.ndarray, *, n_baseline: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Enhancement image of a ``(..., time)`` signal and its baseline.

    Returns ``(enhancement, baseline)``; ``kind`` is ``"subtraction"`` (peak post-minus-pre,
    signal units) or ``"max_se"`` (peak relative enhancement, %).
    """
    s = np.asarray(signal, dtype=np.float64)
    s0 = s[..., :n_baseline].mean(axis=-1)
    peak = s[..., n_baseline:].max(axis=-1) - s0
    if kind == "subtraction":
        return peak, s0
    # relative enhancement; voxels without baseline signal carry no relative enhancement
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(s0 > 0, 100.0 * peak / np.where(s0 > 0, s0, 1.0), 0.0)
    return rel, s0


# --------------------------------------------------------------------------- ROI transfer
def _subvoxel_offsets(spacing_xyz: np.ndarray, step: float) -> np.ndarray:
    """Cell-centred sub-voxel offsets (index units, x/y/z order) at most `step` mm apart."""
    axes = []
    for s in spacing_xyz:
        n = max(1, math.ceil(float(s) / step - 1e-9))
        axes.append((np.arange(n) + 0.5) / n - 0.5)
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=-1)


def _transfer_points(
    roi: np.ndarray,
    roi_index_to_world: np.ndarray,
    roi_spacing_xyz: np.ndarray,
    ref_index_to_world: np.ndarray,
    ref_shape_zyx: tuple[int, int, int],
    ref_spacing_xyz: np.ndarray,
) -> np.ndarray:
    """Mark every reference voxel whose cell holds a sub-sample of a ROI voxel's cell.

    Each ROI voxel cell is sampled on a cell-centred grid no coarser than half the smallest
    reference spacing; the samples go index -> LPS -> reference index and are rounded.  The
    result is a conservative rasterisation of the outline's physical extent: a one-slice
    outline thinner than a reference voxel is never lost between voxel centres.
    """
    out = np.zeros(ref_shape_zyx, dtype=bool)
    idx_zyx = np.argwhere(roi)
    if idx_zyx.size == 0:
        return out
    ijk = idx_zyx[:, ::-1].astype(np.float64)  # (x, y, z) index order, as the matrices
    step = 0.5 * float(np.min(ref_spacing_xyz))
    offsets = _subvoxel_offsets(roi_spacing_xyz, step)
    affine = np.linalg.solve(ref_index_to_world, roi_index_to_world)  # roi index -> ref index
    lin, trans = affine[:3, :3], affine[:3, 3]
    shape_xyz = np.asarray(ref_shape_zyx[::-1])
    per_chunk = max(1, _CHUNK // len(offsets))
    for start in range(0, len(ijk), per_chunk):
        pts = (ijk[start : start + per_chunk, None, :] + offsets[None, :, :]).reshape(-1, 3)
        ref = np.floor(pts @ lin.T + trans + 0.5).astype(np.int64)
        inside = np.all((ref >= 0) & (ref < shape_xyz), axis=1)
        ref = ref[inside]
        out[ref[:, 2], ref[:, 1], ref[:, 0]] = True
    return out


# --------------------------------------------------------------------------- search box
def _widen_np(
    region: np.ndarray,
    *,
    factor: float,
    axis: int,
    min_aspect: float = 0.0,
    spacing_yx: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Per-slice (along array axis 0) bounding boxes of `region`, widened along `axis` (1 or 2).

    The widened extent (mm) is at least `min_aspect` times the box's other in-plane extent (mm).
    """
    out = np.zeros_like(region, dtype=bool)
    _, ny, nx = region.shape
    occ_y: np.ndarray = np.any(region, axis=2)  # (z, y)
    occ_x: np.ndarray = np.any(region, axis=1)  # (z, x)
    has = np.any(occ_y, axis=1)
    if not has.any():
        return out
    z = np.flatnonzero(has)
    y0 = occ_y[z].argmax(axis=1)
    y1 = ny - 1 - occ_y[z, ::-1].argmax(axis=1)
    x0 = occ_x[z].argmax(axis=1)
    x1 = nx - 1 - occ_x[z, ::-1].argmax(axis=1)
    lo = np.stack([y0, x0], axis=1).astype(float)
    hi = np.stack([y1, x1], axis=1).astype(float)
    a = axis - 1
    o = 1 - a
    centre = 0.5 * (lo[:, a] + hi[:, a])
    width = factor * (hi[:, a] - lo[:, a] + 1.0)
    other_mm = (hi[:, o] - lo[:, o] + 1.0) * spacing_yx[o]
    width = np.maximum(width, min_aspect * other_mm / spacing_yx[a])
    half = 0.5 * (width - 1.0)
    lo[:, a] = np.floor(centre - half + 1e-9)  # round outwards: cover at least `width`
    hi[:, a] = np.ceil(centre + half - 1e-9)
    lo = np.clip(lo, 0, None).astype(int)
    hi = np.minimum(hi, [ny - 1, nx - 1]).astype(int)
    yy = np.arange(ny)[None, :]
    xx = np.arange(nx)[None, :]
    in_y = (yy >= lo[:, :1]) & (yy <= hi[:, :1])  # (nzz, ny)
    in_x = (xx >= lo[:, 1:]) & (xx <= hi[:, 1:])  # (nzz, nx)
    out[z] = in_y[:, :, None] & in_x[:, None, :]
    return out


# --------------------------------------------------------------------------- normalized cut
def _ncut_np(
    image: np.ndarray,
    region: np.ndarray,
    *,
    value_range: tuple[float, float],
    n_segments: int | None,
    pixels_per_segment: float,
    compactness: float,
    sigma: float,
    smoothing: float,
    thresh: float,
    num_cuts: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """SLIC superpixels + mean-intensity RAG + normalized cut inside `region` of one slice.

    Returns int labels, 0 outside `region`, partitions numbered 1, 2, ... in raster order.
    """
    from skimage import graph, segmentation

    labels_out = np.zeros(image.shape, dtype=np.int64)
    if not region.any():
        return labels_out
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    img = np.asarray(image[sl], dtype=np.float64)
    reg = np.asarray(region[sl], dtype=bool)
    lo, hi = value_range
    scaled = np.clip((img - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(img)
    n_pix = int(reg.sum())
    if n_pix < 2:
        labels_out[sl][reg] = 1
        return labels_out
    k = n_segments if n_segments is not None else max(2, round(n_pix / pixels_per_segment))
    k = int(min(k, n_pix))
    full_box = bool(reg.all())
    sp = segmentation.slic(
        scaled,
        n_segments=k,
        compactness=compactness,
        sigma=smoothing,
        channel_axis=None,
        start_label=1,
        mask=None if full_box else reg,
        enforce_connectivity=True,
    )
    sp = np.where(reg, sp, 0)
    if sp.max() < 2:
        labels_out[sl][reg] = 1
        return labels_out
    # rag_mean_color broadcasts grey values into a 3-vector "total color", so squared
    # distances are 3x the grey-level ones: pass 3 * sigma for exp(-d_grey**2 / sigma).
    rag = graph.rag_mean_color(scaled, sp, connectivity=2, mode="similarity", sigma=3.0 * sigma)
    if 0 in rag:
        rag.remove_node(0)
    cut = graph.cut_normalized(sp, rag, thresh=thresh, num_cuts=num_cuts, in_place=True, rng=rng)
    cut = np.where(reg, cut, 0)
    # renumber partitions 1..K in raster order of first appearance (deterministic)
    vals, first = np.unique(cut[reg], return_index=True)
    order = vals[np.argsort(first)]
    lut = np.zeros(int(cut.max()) + 1, dtype=np.int64)
    lut[order] = np.arange(1, len(order) + 1)
    labels_out[sl] = np.where(reg, lut[cut], 0)
    return labels_out


def _select_np(labels: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Union of the partitions (label > 0) that overlap `region`, per leading-axis slice for 3D."""
    lab = np.asarray(labels).astype(np.int64)
    if lab.ndim == 2:
        lab = lab[None]
        reg = np.asarray(region, dtype=bool)[None]
        squeeze = True
    else:
        reg = np.asarray(region, dtype=bool)
        squeeze = False
    n_lab = int(lab.max()) + 1 if lab.size else 1
    key = np.arange(lab.shape[0], dtype=np.int64)[:, None, None] * n_lab + lab
    hit = np.unique(key[reg & (lab > 0)])
    out = np.isin(key, hit) & (lab > 0)
    return out[0] if squeeze else out


# --------------------------------------------------------------------------- region growing
def _to_sitk(arr: np.ndarray, spacing_xyz: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    img.SetSpacing(tuple(float(s) for s in spacing_xyz))
    return img


def _smooth(image: np.ndarray, spacing_xyz: np.ndarray, sigma_mm: float) -> np.ndarray:
    """Gaussian smoothing with `sigma_mm` in physical units (per-axis sigma in voxels); 0 = copy."""
    arr = np.asarray(image, dtype=np.float64)
    if sigma_mm <= 0:
        return arr.copy()
    sig_vox = float(sigma_mm) / np.asarray(spacing_xyz, dtype=float)[::-1]
    return np.asarray(ndi.gaussian_filter(arr, sigma=sig_vox, mode="nearest", truncate=3.0))


def _grow_np(
    image: np.ndarray,
    within: np.ndarray,
    seed_zyx: tuple[int, int, int],
    *,
    spacing_xyz: np.ndarray,
    method: str,
    lower: float,
    upper: float,
    multiplier: float,
    iterations: int,
    radius: int,
    fill_holes: bool,
    connectivity: str,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Grow from `seed_zyx` on `image` restricted to `within` minus `exclude`; return a bool mask.

    Holes are filled inside `within` (excluded voxels enclosed by the region are filled too).
    """
    work = np.asarray(image, dtype=np.float64)
    floor = float(np.min(work[within])) if within.any() else 0.0
    span = float(np.ptp(work)) if work.size else 1.0
    outside = floor - 10.0 * (span + 1.0)
    allowed = within if exclude is None else within & ~exclude
    allowed = allowed.copy()
    allowed[seed_zyx] = True
    work = np.where(allowed, work, outside)
    img = _to_sitk(work, spacing_xyz)
    seed = [(int(seed_zyx[2]), int(seed_zyx[1]), int(seed_zyx[0]))]
    if method == "threshold":
        flt = sitk.ConnectedThresholdImageFilter()
        flt.SetSeedList(seed)
        flt.SetLower(float(lower))
        flt.SetUpper(float(upper) if np.isfinite(upper) else float(np.max(work)) + 1.0)
        flt.SetReplaceValue(1)
        flt.SetConnectivity(flt.FullConnectivity if connectivity == "full" else flt.FaceConnectivity)
        grown = flt.Execute(img)
    else:  # "confidence"
        grown = sitk.ConfidenceConnected(
            img,
            seedList=seed,
            numberOfIterations=int(iterations),
            multiplier=float(multiplier),
            initialNeighborhoodRadius=int(radius),
            replaceValue=1,
        )
    mask = sitk.GetArrayFromImage(grown).astype(bool) & within
    if fill_holes and mask.any():
        # fill enclosed holes (e.g. a necrotic core) in 3D and slice by slice
        mask = ndi.binary_fill_holes(mask)
        mask = np.stack([ndi.binary_fill_holes(m) for m in mask]) & within
    return mask


# --------------------------------------------------------------------------- metrics
def _surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels of a 3D mask (voxels with a face neighbour outside, volume edge = outside)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = ndi.binary_erosion(padded, structure=ndi.generate_binary_structure(3, 1))[1:-1, 1:-1, 1:-1]
    return mask & ~inner
