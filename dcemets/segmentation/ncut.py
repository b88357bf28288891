"""Steps (d)-(f) of Fig. 3: normalized-cut partitions of the search box and their selection."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import xarray as xr

from dcemets._checks import check_finite, check_int, check_positive
from dcemets._conventions import NOT_GIVEN, rng_or_random_state
from dcemets.segmentation._checks import as_generator

from ._np import _ncut_np, _select_np

__all__ = ["normalized_cut", "select_partitions"]

ArrayLike = TypeVar("ArrayLike", np.ndarray, xr.DataArray)


def _plain(a: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    if isinstance(a, xr.DataArray):
        arr = np.asarray(a.values)
    elif isinstance(a, np.ndarray):
        arr = a
    else:
        raise TypeError(f"`{name}` must be a numpy array or an xarray.DataArray, got {type(a).__name__}")
    if arr.ndim not in ndim:
        raise ValueError(f"`{name}` must be {' or '.join(f'{n}D' for n in ndim)}, got shape {arr.shape}")
    return arr


def _value_range(value_range: Any) -> tuple[float, float]:
    """`value_range` as (low, high): two finite real numbers with low <= high."""
    if isinstance(value_range, (str, bytes)) or np.ndim(value_range) != 1 or len(value_range) != 2:
        raise ValueError(f"`value_range` must be two numbers (low, high), got {value_range!r}")
    lo = check_finite(value_range[0], "value_range")
    hi = check_finite(value_range[1], "value_range")
    if lo > hi:
        raise ValueError(f"`value_range` must be (low, high) with low <= high, got {value_range!r}")
    return lo, hi


def _rewrap(template: Any, values: np.ndarray, name: str) -> Any:
    if isinstance(template, xr.DataArray):
        return xr.DataArray(
            values, dims=template.dims, coords=template.coords, name=name, attrs=dict(template.attrs)
        )
    return values


def normalized_cut(
    image2d: ArrayLike,
    region2d: np.ndarray | xr.DataArray,
    *,
    n_segments: int | None = None,
    pixels_per_segment: float = 6.0,
    compactness: float = 0.1,
    sigma: float = 0.02,
    smoothing: float = 0.5,
    thresh: float = 0.01,
    num_cuts: int = 20,
    value_range: tuple[float, float] | None = None,
    rng: int | np.random.Generator | None = None,
    random_state: Any = NOT_GIVEN,
) -> ArrayLike:
    """Partition the search area of one axial slice with a normalized cut (Fig. 3d).

    The slice is cropped to the bounding box of `region2d` and its intensities are scaled
    to [0, 1] over `value_range` (by default the 1st-99th percentiles inside the region),
    so the defaults below hold for any MRI intensity scale.  SLIC superpixels
    (:func:`skimage.segmentation.slic`, Achanta et al. 2012) are joined in a region
    adjacency graph whose edge weights are ``exp(-d**2 / sigma)`` with ``d`` the difference
    of the superpixels' mean scaled intensities (:func:`skimage.graph.rag_mean_color`,
    ``mode="similarity"``), and the graph is cut recursively by the normalized-cut criterion
    of Shi and Malik (:func:`skimage.graph.cut_normalized`) until a cut costs more than
    `thresh`.

    Parameters
    ----------
    image2d : numpy.ndarray or xarray.DataArray, shape (ny, nx)
        One axial slice of the enhancement image (:func:`enhancement_image`).
    region2d : numpy.ndarray or xarray.DataArray of bool, shape (ny, nx)
        Search area of that slice (:func:`widen_search_region`).
    n_segments : int, optional
        Number of SLIC superpixels; by default ``n_pixels / pixels_per_segment``.
    pixels_per_segment : float
        Mean superpixel size (pixels) when `n_segments` is not given.
    compactness : float
        SLIC compactness for [0, 1]-scaled intensities (scikit-image's 10 assumes 0-255 colour).
    sigma : float
        Similarity scale of the RAG weights, in squared scaled-intensity units
        (scikit-image's 255 assumes 8-bit colour and gives a single partition on MRI).
    smoothing : float
        Gaussian pre-smoothing of SLIC (pixels).
    thresh : float
        Stop recursing when the normalized cut exceeds this value.
    num_cuts : int
        Candidate thresholds on the Fiedler vector per cut.
    value_range : tuple of 2 float, optional
        Intensities mapped to 0 and 1 (pass a volume-wide range for consistent slices);
        ``low <= high``, and ``low == high`` (a constant image) maps every pixel to 0.
    rng : int, numpy.random.Generator or None
        Seeds the eigen-solver start vector; fixed for repeatable partitions.
    random_state : int, numpy.random.Generator or None
        Deprecated old name of `rng` (a ``FutureWarning``; removed in the next release).

    Returns
    -------
    numpy.ndarray or xarray.DataArray of int
        Partition labels 1, 2, ... (raster order of first appearance), 0 outside `region2d`;
        same type as `image2d`.

    Raises
    ------
    ValueError
        If shapes differ, the images are not 2D, `region2d` is empty, `image2d` holds
        NaN/inf inside it, `value_range` is not two finite numbers with low <= high,
        `rng` is a negative seed, or a parameter is out of range (`n_segments`,
        `num_cuts` < 1; `pixels_per_segment`, `compactness`, `sigma`, `thresh` <= 0;
        `smoothing` < 0; any of them not finite).
    TypeError
        If an input is not an array, `image2d` does not hold real numbers, `region2d` is
        not bool, `n_segments`/`num_cuts` is not an int, another parameter is not a
        number, `rng` is not an int, a Generator or None, or both `rng` and `random_state`
        are given.

    References
    ----------
    Shi J, Malik J. Normalized cuts and image segmentation. IEEE TPAMI 2000;22:888-905,
    :doi:`10.1109/34.868688`.
    Achanta R et al. SLIC superpixels. IEEE TPAMI 2012;34:2274-82, :doi:`10.1109/TPAMI.2012.120`.
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4, :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((20, 20))
    >>> img[:, 10:] = 1.0
    >>> labels = normalized_cut(img, np.ones((20, 20), bool), rng=0)
    >>> len(np.unique(labels)), bool(np.all(labels[:, :10] == labels[0, 0]))
    (2, True)
    """
    img_in = _plain(image2d, "image2d", (2,))
    if img_in.dtype.kind == "c":
        raise TypeError("`image2d` is complex; pass real values (e.g. the magnitude `np.abs(image2d)`)")
    if not (np.issubdtype(img_in.dtype, np.number) or img_in.dtype == bool):
        raise TypeError(f"`image2d` must hold numbers, got dtype {img_in.dtype}")
    img = img_in.astype(np.float64, copy=False)
    reg = _plain(region2d, "region2d", (2,))
    if reg.shape != img.shape:
        raise ValueError(f"`region2d` has shape {reg.shape}, expected the shape of `image2d` {img.shape}")
    if reg.dtype != bool:
        raise TypeError(f"`region2d` must be a bool mask, got dtype {reg.dtype}")
    if not reg.any():
        raise ValueError("`region2d` is empty: it marks no pixel to partition")
    if not np.all(np.isfinite(img[reg])):
        raise ValueError("`image2d` contains NaN or infinite values inside `region2d`")
    n_seg = None if n_segments is None else check_int(n_segments, "n_segments", minimum=1)
    pps = check_positive(pixels_per_segment, "pixels_per_segment")
    comp = check_positive(compactness, "compactness")
    sig = check_positive(sigma, "sigma")
    smo = check_positive(smoothing, "smoothing", inclusive=True)
    th = check_positive(thresh, "thresh")
    n_cuts = check_int(num_cuts, "num_cuts", minimum=1)
    if value_range is None:
        vals = img[reg]
        vr = (float(np.percentile(vals, 1)), float(np.percentile(vals, 99)))
    else:
        vr = _value_range(value_range)
    rng = as_generator(rng_or_random_state(rng, random_state, func="normalized_cut"), "rng")
    labels = _ncut_np(
        img,
        reg.astype(bool),
        value_range=vr,
        n_segments=n_seg,
        pixels_per_segment=pps,
        compactness=comp,
        sigma=sig,
        smoothing=smo,
        thresh=th,
        num_cuts=n_cuts,
        rng=rng,
    )
    return _rewrap(image2d, labels, "partitions")  # type: ignore[no-any-return]


def select_partitions(labels: ArrayLike, region: np.ndarray | xr.DataArray) -> ArrayLike:
    """Keep the partitions that overlap the transferred outline (Fig. 3e-f).

    A partition (label > 0) is kept when at least one of its voxels lies in `region`.  For
    3D input the labels are per axial slice (``z``, the first array axis): label 3 on slice
    0 and label 3 on slice 1 are different partitions, as :func:`normalized_cut` numbers
    every slice from 1.  Stacking the kept partitions of all slices gives the 3D search mask.

    Parameters
    ----------
    labels : numpy.ndarray or xarray.DataArray of int, shape (ny, nx) or (nz, ny, nx)
        Partition labels, 0 = not partitioned.
    region : numpy.ndarray or xarray.DataArray of bool, same shape
        The transferred outline (:func:`transfer_roi`).

    Returns
    -------
    numpy.ndarray or xarray.DataArray of bool
        Union of the kept partitions, same type and shape as `labels`.

    Raises
    ------
    ValueError
        If shapes differ or the arrays are neither 2D nor 3D.
    TypeError
        If `labels` is not integer or `region` not bool.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4, :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[1, 1, 2, 2], [3, 3, 2, 2]])
    >>> region = np.array([[0, 0, 0, 0], [0, 1, 0, 0]], bool)
    >>> select_partitions(labels, region).astype(int).tolist()
    [[0, 0, 0, 0], [1, 1, 0, 0]]
    """
    if (
        isinstance(labels, xr.DataArray)
        and isinstance(region, xr.DataArray)
        and set(labels.dims) == set(region.dims)
    ):
        region = region.transpose(*labels.dims)
    lab = _plain(labels, "labels", (2, 3))
    reg = _plain(region, "region", (2, 3))
    if not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"`labels` must be integer partition labels, got dtype {lab.dtype}")
    if reg.dtype != bool:
        raise TypeError(f"`region` must be a bool mask, got dtype {reg.dtype}")
    if reg.shape != lab.shape:
        raise ValueError(f"`region` has shape {reg.shape}, expected the shape of `labels` {lab.shape}")
    if lab.ndim == 3 and isinstance(labels, xr.DataArray) and "z" in labels.dims:
        zax = labels.dims.index("z")
        sel = np.moveaxis(_select_np(np.moveaxis(lab, zax, 0), np.moveaxis(reg, zax, 0)), 0, zax)
    else:
        sel = _select_np(lab, reg)
    out = _rewrap(labels, sel, "kept_partitions")
    if isinstance(out, xr.DataArray):
        out.attrs.update({"units": "1", "long_name": "partitions overlapping the transferred outline"})
    return out  # type: ignore[no-any-return]
