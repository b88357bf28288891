"""The phantom sampled on an image grid: tissue fractions with partial volume, oedema weights.

Private to :mod:`dcemets.simulate.case`.  One job: turn the world-space phantom
(:mod:`dcemets.simulate.anatomy`) into per-voxel quantities of a grid: the tissue label at
each voxel centre, the fraction of each tissue and lesion in boundary voxels (supersampled,
:data:`_SUPERSAMPLE` points per voxel) with the lesion fields averaged over the voxel's
tumour part, and the oedema weight around a lesion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from .anatomy import lesion_properties, tissue_labels
from .tissues import LABELS

__all__: list[str] = []


def _oedema_weight(inside: np.ndarray, spacing_xyz: np.ndarray, length_mm: float) -> np.ndarray:
    """``exp(-d / length)`` of the distance ``d`` (mm) to the lesion, 0 inside it."""
    out = np.zeros(inside.shape)
    if not inside.any():
        return out
    # only a box reaching 8 decay lengths around the lesion matters (exp(-8) < 4e-4)
    sp = np.asarray(spacing_xyz, dtype=float)[::-1]
    idx = np.nonzero(inside)
    pad = np.ceil(8 * length_mm / sp).astype(int)
    lo = [max(int(i.min()) - p, 0) for i, p in zip(idx, pad)]
    hi = [min(int(i.max()) + p + 1, n) for i, p, n in zip(idx, pad, inside.shape)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    d = ndimage.distance_transform_edt(~inside[box], sampling=tuple(sp))
    out[box] = np.where(inside[box], 0.0, np.exp(-d / length_mm))
    return out


_SUPERSAMPLE = (3, 2, 2)  # (z, y, x) sub-points per boundary voxel (partial volume)


def _boundary(vol: np.ndarray) -> np.ndarray:
    """Voxels whose label differs from one of their 6 neighbours."""
    b = np.zeros(vol.shape, dtype=bool)
    for ax in range(3):
        d = np.diff(vol, axis=ax) != 0
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax] = slice(0, -1)
        hi[ax] = slice(1, None)
        b[tuple(lo)] |= d
        b[tuple(hi)] |= d
    return b


def _sub_offsets(spacing_xyz: np.ndarray, factors_zyx: tuple[int, int, int]) -> np.ndarray:
    """Offsets (LPS, mm) of the supersampling points of a voxel (axial grid: identity)."""
    grids = [((np.arange(n) + 0.5) / n - 0.5) * s for n, s in zip(factors_zyx, spacing_xyz[::-1])]
    gz, gy, gx = np.meshgrid(*grids, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)


def _fractions(
    pts: np.ndarray,
    shape: tuple[int, int, int],
    spacing_xyz: np.ndarray,
    anatomy: Any,
    lesions: list[Any],
    supersample: bool,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, np.ndarray]], np.ndarray]:
    """Tissue fractions per voxel (last two columns: index lesion, other lesions).

    Returns ``frac`` (nvox, n_labels + 1) float32, the centre labels with lesions overlaid,
    per lesion the partial-volume mean of its fields over the voxel's tumour part, and the
    centre labels without the lesions.
    """
    n_lab = len(LABELS)
    les_col = LABELS["lesion"]
    oth_col = n_lab
    labels = tissue_labels(pts, anatomy)
    props = [lesion_properties(pts, labels, anatomy, les) for les in lesions]
    over = labels.astype(np.int16)
    for i, pr in enumerate(props):
        over[pr["inside"]] = les_col if i == 0 else oth_col
    nvox = pts.shape[0]
    frac = np.zeros((nvox, n_lab + 1), dtype=np.float32)
    frac[np.arange(nvox), over] = 1.0
    fields = [{k: pr[k].astype(np.float32) for k in ("viability", "kep_texture", "mineral")} for pr in props]
    lesion_frac = [pr["inside"].astype(np.float32) for pr in props]
    if supersample:
        bnd = np.flatnonzero(_boundary(over.reshape(shape)).ravel())
        off = _sub_offsets(spacing_xyz, _SUPERSAMPLE)
        m = off.shape[0]
        sub = (pts[bnd][:, None, :] + off[None]).reshape(-1, 3)
        slab = tissue_labels(sub, anatomy)
        sover = slab.astype(np.int16)
        sprops = [lesion_properties(sub, slab, anatomy, les) for les in lesions]
        for i, pr in enumerate(sprops):
            sover[pr["inside"] & (sover != les_col)] = les_col if i == 0 else oth_col
        counts = np.zeros((bnd.size, n_lab + 1), dtype=np.float32)
        np.add.at(counts, (np.repeat(np.arange(bnd.size), m), sover), 1.0)
        frac[bnd] = counts / m
        for i, pr in enumerate(sprops):
            ins = pr["inside"].reshape(bnd.size, m)
            nin = ins.sum(axis=1)
            lesion_frac[i][bnd] = nin / m
            for k in fields[i]:
                s = np.where(ins, pr[k].reshape(bnd.size, m), 0.0).sum(axis=1)
                fields[i][k][bnd] = np.where(nin > 0, s / np.maximum(nin, 1), 0.0)
    # the index lesion's column holds its own fraction; others in the last column
    return frac, over, [dict(f, fraction=lf) for f, lf in zip(fields, lesion_frac)], labels
