"""NumPy cores of the radiomics layer: discretisation, masked GLCM, GLCM and histogram features.

Everything here takes plain arrays that the public wrappers have already validated
(float64 image, bool mask of the same 3D shape, ROI not empty, no NaN inside the ROI).
Nothing loops over voxels: the co-occurrence counts come from :func:`numpy.bincount` over
integer pair codes (one call per direction, or one call for all slices and directions).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

OFFSETS_3D: np.ndarray = np.array(
    [
        (0, 0, 1),
        (0, 1, -1),
        (0, 1, 0),
        (0, 1, 1),
        (1, -1, -1),
        (1, -1, 0),
        (1, -1, 1),
        (1, 0, -1),
        (1, 0, 0),
        (1, 0, 1),
        (1, 1, -1),
        (1, 1, 0),
        (1, 1, 1),
    ],
    dtype=np.intp,
)
"""The 13 unique 3D unit offsets ``(dz, dy, dx)`` (IBSI order; the other 13 are their negatives)."""

OFFSETS_2D: np.ndarray = OFFSETS_3D[:4]
"""The 4 unique in-plane offsets ``(0, dy, dx)``: 0, 45, 90 and 135 degrees."""

AGGREGATIONS: tuple[str, ...] = (
    "3d_average",
    "3d_merged",
    "2d_average",
    "2d_slice_merged",
    "2.5d_direction_merged",
    "2.5d_merged",
)

MAX_LEVELS = 512
"""Largest number of grey levels accepted (a 13 x 512 x 512 float64 stack is 27 MB)."""

GLCM_FEATURES: tuple[str, ...] = (
    "autocorrelation",
    "cluster_prominence",
    "cluster_shade",
    "contrast",
    "correlation_1",
    "correlation_2",
    "dissimilarity",
    "energy",
    "entropy",
    "homogeneity_1",
    "homogeneity_2",
    "maximum_probability",
    "sum_average",
    "information_entropy",
    "sum_variance",
    "sum_entropy",
    "difference_variance",
    "difference_entropy",
    "information_correlation_1",
    "information_correlation_2",
)
"""The paper's 20 GLCM features (section 2.5), in the paper's order."""

HISTOGRAM_FEATURES: tuple[str, ...] = (
    "p10",
    "p20",
    "p30",
    "p40",
    "p50",
    "p60",
    "p70",
    "p80",
    "p90",
    "mean",
    "sd",
    "kurtosis",
    "skewness",
)
"""The paper's 13 histogram features (section 2.5), in the paper's order."""


# --------------------------------------------------------------------------- discretisation
def discretise_values(
    values: np.ndarray,
    *,
    bin_count: int | None,
    bin_width: float | None,
    min_value: float | None,
) -> tuple[np.ndarray, int]:
    """Grey levels 1..Ng of the ROI values (IBSI section 2.7); returns ``(levels, n_levels)``.

    Fixed bin number: ``floor(Ng (x - min) / (max - min)) + 1``, the maximum mapped to Ng, a
    constant ROI mapped to level 1.  Fixed bin size: ``floor((x - x0) / w) + 1`` with ``x0``
    `min_value` or the ROI minimum.
    """
    v = np.asarray(values, dtype=np.float64)
    if bin_count is not None:
        lo = float(v.min())
        hi = float(v.max())
        if hi == lo:
            return np.ones(v.shape, dtype=np.intp), int(bin_count)
        lev = np.floor(bin_count * ((v - lo) / (hi - lo))).astype(np.intp)
        lev += 1
        np.minimum(lev, bin_count, out=lev)
        return lev, int(bin_count)
    assert bin_width is not None
    x0 = float(v.min()) if min_value is None else float(min_value)
    lev = np.floor((v - x0) / bin_width).astype(np.intp)
    lev += 1
    return lev, int(lev.max())


# --------------------------------------------------------------------------- GLCM counts
def bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice]:
    """Smallest box (z, y, x slices) holding every True voxel of a non-empty 3D mask."""
    out = []
    for axes in ((1, 2), (0, 2), (0, 1)):
        nz = np.flatnonzero(mask.any(axis=axes))
        out.append(slice(int(nz[0]), int(nz[-1]) + 1))
    return out[0], out[1], out[2]


def glcm_counts(
    levels: np.ndarray,
    mask: np.ndarray,
    n_levels: int,
    *,
    offsets: np.ndarray,
    per_slice: bool = False,
    symmetric: bool = True,
) -> np.ndarray:
    """Co-occurrence counts of ROI voxel pairs, one matrix per offset (and per slice).

    Parameters
    ----------
    levels : ndarray of int, shape (n_roi,)
        Grey levels 1..n_levels of the ROI voxels, in C order of ``mask``.
    mask : ndarray of bool, shape (nz, ny, nx)
        The ROI.
    n_levels : int
        Number of grey levels Ng.
    offsets : ndarray of int, shape (n_offsets, 3)
        ``(dz, dy, dx)`` offsets, first nonzero component positive.
    per_slice : bool
        One matrix per (z slice, offset) when True (offsets must then be in-plane).
    symmetric : bool
        Add the transpose (count each pair in both orders).

    Returns
    -------
    ndarray of int64, shape (n_offsets, Ng, Ng) or (nz_roi, n_offsets, Ng, Ng)
        ``[..., i - 1, j - 1]`` counts pairs (voxel at level i, neighbour at level j);
        ``nz_roi`` is the number of slices from the first to the last slice of the ROI.
    """
    box = bounding_box(mask)
    m = mask[box]
    d = int(np.abs(offsets).max())
    shape = tuple(s + 2 * d for s in m.shape)
    # Level volume padded by `d` zeros: a neighbour outside the box lands on a 0 (outside ROI).
    pad = np.zeros(shape, dtype=np.intp)
    pad[d:-d, d:-d, d:-d][m] = levels
    flat = pad.ravel()
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.intp)
    shifts = offsets @ strides
    g1 = n_levels + 1
    idx = np.flatnonzero(flat)
    n_off = len(offsets)
    block = g1 * g1
    base = flat[idx] * g1  # pair code (level_i * g1 + level_j); level 0 = outside the ROI
    if per_slice:  # one bincount over (slice, offset, i, j) codes; slices of the ROI's z extent
        codes = flat[idx[None, :] + shifts[:, None]]
        codes += base
        z = idx // strides[0] - d
        codes += (z[None, :] * n_off + np.arange(n_off, dtype=np.intp)[:, None]) * block
        n_mat = m.shape[0] * n_off
        flat_counts = np.bincount(codes.ravel(), minlength=n_mat * block)
    else:  # one bincount per offset (cache-sized arrays)
        n_mat = n_off
        flat_counts = np.empty((n_off, block), dtype=np.intp)
        for k in range(n_off):
            flat_counts[k] = np.bincount(flat[idx + shifts[k]] + base, minlength=block)
    counts = flat_counts.reshape(n_mat, g1, g1)[:, 1:, 1:]
    if symmetric:
        counts = counts + counts.transpose(0, 2, 1)
    else:
        counts = np.ascontiguousarray(counts)
    if per_slice:
        return counts.reshape(m.shape[0], n_off, n_levels, n_levels)
    return counts


def aggregate_counts(
    levels: np.ndarray,
    mask: np.ndarray,
    n_levels: int,
    *,
    aggregation: str,
    distance: int = 1,
    symmetric: bool = True,
) -> np.ndarray:
    """Counts stacked as the matrices whose features are averaged, shape (n_matrices, Ng, Ng)."""
    if aggregation.startswith("3d"):
        c = glcm_counts(levels, mask, n_levels, offsets=OFFSETS_3D * distance, symmetric=symmetric)
        return c.sum(axis=0, keepdims=True) if aggregation == "3d_merged" else c
    c4 = glcm_counts(
        levels, mask, n_levels, offsets=OFFSETS_2D * distance, per_slice=True, symmetric=symmetric
    )
    if aggregation == "2d_average":
        return c4.reshape(-1, n_levels, n_levels)
    if aggregation == "2d_slice_merged":
        return c4.sum(axis=1)
    if aggregation == "2.5d_direction_merged":
        return c4.sum(axis=0)
    return c4.sum(axis=(0, 1))[None]  # 2.5d_merged


# --------------------------------------------------------------------------- GLCM features
@lru_cache(maxsize=16)
def _sum_diff_operators(n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 matrices mapping the flattened GLCM to p_{x+y}(k), k=2..2Ng, and p_{x-y}(k), k=0..Ng-1."""
    i, j = np.indices((n_levels, n_levels))
    s = np.zeros((n_levels * n_levels, 2 * n_levels - 1))
    s[np.arange(n_levels * n_levels), (i + j).ravel()] = 1.0
    dm = np.zeros((n_levels * n_levels, n_levels))
    dm[np.arange(n_levels * n_levels), np.abs(i - j).ravel()] = 1.0
    s.flags.writeable = False
    dm.flags.writeable = False
    return s, dm


def _plogp(p: np.ndarray, log: np.ufunc) -> np.ndarray:
    """Sum over the last axis of p log p, with 0 log 0 = 0."""
    lp = log(p, out=np.zeros_like(p), where=p > 0)
    return (p * lp).sum(axis=-1)


def glcm_feature_table(counts: np.ndarray, *, convention: str = "ibsi") -> dict[str, np.ndarray]:
    """The 20 features of every matrix of a (n, Ng, Ng) count stack (n >= 1, no empty matrix).

    ``convention="ibsi"`` follows the IBSI definitions (log base 2); ``"matlab"`` reproduces
    the MATLAB script ``GLCM_Features1.m`` (natural logarithms, Haralick's printed sum
    variance, ``sum k^2 p_{x-y}`` as difference variance, sum-of-squares variance centred on
    the mean GLCM cell).
    """
    n, ng, _ = counts.shape
    tot = counts.sum(axis=(1, 2), dtype=np.float64)
    p = counts / tot[:, None, None]
    flat = p.reshape(n, ng * ng)
    g = np.arange(1, ng + 1, dtype=np.float64)
    px = p.sum(axis=2)
    py = p.sum(axis=1)
    mux = px @ g
    muy = py @ g
    dx = g[None, :] - mux[:, None]
    dy = g[None, :] - muy[:, None]
    varx = (dx * dx * px).sum(axis=1)
    vary = (dy * dy * py).sum(axis=1)
    sxy = np.sqrt(varx * vary)
    s_op, d_op = _sum_diff_operators(ng)
    p_plus = flat @ s_op  # k = 2 .. 2 Ng
    p_minus = flat @ d_op  # k = 0 .. Ng - 1
    k_plus = np.arange(2, 2 * ng + 1, dtype=np.float64)
    k_minus = np.arange(ng, dtype=np.float64)

    pj = p @ g  # sum_j j p_ij
    autocorrelation = pj @ g
    cov = np.einsum("ni,nij,nj->n", dx, p, dy)
    degenerate = sxy == 0
    safe = np.where(degenerate, 1.0, sxy)
    correlation_1 = np.where(degenerate, 1.0, cov / safe)
    correlation_2 = np.where(degenerate, 1.0, (autocorrelation - mux * muy) / safe)
    c = k_plus[None, :] - (mux + muy)[:, None]
    cluster_shade = (c**3 * p_plus).sum(axis=1)
    cluster_prominence = (c**4 * p_plus).sum(axis=1)
    contrast = p_minus @ (k_minus**2)
    dissimilarity = p_minus @ k_minus
    homogeneity_1 = p_minus @ (1.0 / (1.0 + k_minus))
    homogeneity_2 = p_minus @ (1.0 / (1.0 + k_minus**2))
    energy = (flat * flat).sum(axis=1)
    maximum_probability = flat.max(axis=1)
    sum_average = p_plus @ k_plus

    log = np.log2 if convention == "ibsi" else np.log
    hxy = -_plogp(flat, log)
    hx = -_plogp(px, log)
    hy = -_plogp(py, log)
    sum_entropy = -_plogp(p_plus, log)
    difference_entropy = -_plogp(p_minus, log)
    # HXY1 = -sum p_ij log(px_i py_j) and HXY2 = -sum px_i py_j log(px_i py_j) both reduce
    # exactly to HX + HY (the marginals sum to 1; p_ij > 0 implies px_i, py_j > 0).
    hxy1 = hx + hy
    hxy2 = hx + hy
    hmax = np.maximum(hx, hy)
    information_correlation_1 = np.where(hmax > 0, (hxy - hxy1) / np.where(hmax > 0, hmax, 1.0), 0.0)
    information_correlation_2 = np.sqrt(np.clip(1.0 - np.exp(-2.0 * (hxy2 - hxy)), 0.0, None))

    if convention == "ibsi":
        information_entropy = varx  # IBSI joint variance (UR99)
        sum_variance = ((k_plus[None, :] - sum_average[:, None]) ** 2 * p_plus).sum(axis=1)
        da = dissimilarity
        difference_variance = ((k_minus[None, :] - da[:, None]) ** 2 * p_minus).sum(axis=1)
    else:
        m = 1.0 / (ng * ng)  # mean of the normalised GLCM cells (MATLAB mean2)
        information_entropy = ((g - m) ** 2 * px).sum(axis=1)
        sum_variance = ((k_plus[None, :] - sum_entropy[:, None]) ** 2 * p_plus).sum(axis=1)
        difference_variance = contrast.copy()

    return {
        "autocorrelation": autocorrelation,
        "cluster_prominence": cluster_prominence,
        "cluster_shade": cluster_shade,
        "contrast": contrast,
        "correlation_1": correlation_1,
        "correlation_2": correlation_2,
        "dissimilarity": dissimilarity,
        "energy": energy,
        "entropy": hxy,
        "homogeneity_1": homogeneity_1,
        "homogeneity_2": homogeneity_2,
        "maximum_probability": maximum_probability,
        "sum_average": sum_average,
        "information_entropy": information_entropy,
        "sum_variance": sum_variance,
        "sum_entropy": sum_entropy,
        "difference_variance": difference_variance,
        "difference_entropy": difference_entropy,
        "information_correlation_1": information_correlation_1,
        "information_correlation_2": information_correlation_2,
    }


def aggregate_features(counts: np.ndarray, *, convention: str = "ibsi") -> np.ndarray:
    """Features of each non-empty matrix averaged over the matrices (IBSI aggregation), in GLCM_FEATURES order."""
    keep = counts.sum(axis=(1, 2)) > 0
    table = glcm_feature_table(counts if keep.all() else counts[keep], convention=convention)
    return np.stack([table[k] for k in GLCM_FEATURES]).mean(axis=1)


# --------------------------------------------------------------------------- histogram
def histogram_values(
    values: np.ndarray, *, percentile_method: str, excess_kurtosis: bool
) -> dict[str, float]:
    """The 13 histogram features of a 1D float64 array of finite ROI values.

    The values are first scaled by a power of two (``w = v / 2**e``, ``max |w|`` in
    [0.5, 1)): exact in floating point, so results are bit-identical to the unscaled
    formulas for ordinary values, while ``d**4`` can neither overflow (values near 1e300)
    nor underflow to a zero variance (values near 1e-155).  Mean and SD are scaled back
    (they never exceed ``max |v|``); skewness and kurtosis are scale-free; percentiles are
    interpolated on `v` itself unless its range overflows.
    """
    v = np.asarray(values, dtype=np.float64)
    vmin, vmax = float(v.min()), float(v.max())
    if vmin == vmax:  # constant: IBSI sets skewness and kurtosis to 0; the mean is exact
        out = {f"p{10 * (k + 1)}": vmin for k in range(9)}
        out.update({"mean": vmin, "sd": 0.0, "kurtosis": 0.0, "skewness": 0.0})
        return out
    e = int(np.frexp(max(abs(vmin), abs(vmax)))[1])
    w = np.ldexp(v, -e)
    ranks = np.arange(10, 100, 10)
    if np.isfinite(vmax - vmin):  # percentiles on v itself (no underflow of tiny values in w)
        q = np.percentile(v, ranks, method=percentile_method)  # type: ignore[call-overload]
    else:  # the range overflows: interpolate in w and scale back
        q = np.ldexp(np.percentile(w, ranks, method=percentile_method), e)  # type: ignore[call-overload]
    mu = float(w.mean())
    d = w - mu
    m2 = float(np.mean(d * d))  # > 0: two distinct w differ by >= 1e-16 when max |w| >= 0.5
    m3 = float(np.mean(d**3))
    m4 = float(np.mean(d**4))
    skew = m3 / m2**1.5
    kurt = m4 / (m2 * m2) - (3.0 if excess_kurtosis else 0.0)
    out = {f"p{10 * (k + 1)}": float(q[k]) for k in range(9)}
    out.update(
        {
            "mean": float(np.ldexp(mu, e)),
            "sd": float(np.ldexp(np.sqrt(m2), e)),
            "kurtosis": kurt,
            "skewness": skew,
        }
    )
    return out
