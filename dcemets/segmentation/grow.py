"""Step (g) of Fig. 3: region growing from the most strongly enhancing voxel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr

from dcemets._checks import check_finite, check_int, check_positive
from dcemets._conventions import SPATIAL_DIMS, check_same_grid, geometry, like, output_attrs, validate_image
from dcemets.segmentation._checks import as_mask

from ._np import _grow_np, _smooth

__all__ = ["find_seed", "region_grow"]


def find_seed(
    image: xr.DataArray, *, within: xr.DataArray, smoothing_mm: float = 2.0
) -> tuple[int, int, int]:
    """Most strongly enhancing voxel of `image` inside `within`, on a smoothed map.

    The image is smoothed with a recursive Gaussian of `smoothing_mm` (physical units, so
    anisotropic voxels are handled) before the arg-max, so a single noisy voxel does not
    become the seed.

    Parameters
    ----------
    image : xarray.DataArray
        Enhancement image ``(z, y, x)``.
    within : xarray.DataArray
        Bool mask on the grid of `image`; the seed is searched there.
    smoothing_mm : float
        Gaussian sigma (mm); 0 takes the raw maximum.

    Returns
    -------
    tuple of 3 int
        Seed index ``(z, y, x)``.

    Raises
    ------
    ValueError
        If `within` is empty or not on the grid of `image`, either has an invalid grid,
        `image` holds NaN/inf, or `smoothing_mm` is negative or not finite.
    TypeError
        If `image`/`within` are not DataArrays of the right dtype or `smoothing_mm` is not
        a number.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4 ("the most strongly enhancing
    voxel was identified as the seed point"), :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> a = np.zeros((1, 5, 5))
    >>> a[0, 1, 3] = 1.0
    >>> find_seed(make_image(a), within=make_image(np.ones((1, 5, 5), bool)), smoothing_mm=0)
    (0, 1, 3)
    """
    img = validate_image(image, name="image")
    msk = as_mask(within, "within", allow_empty=False)
    check_same_grid(img, msk, names=("image", "within"))
    s = check_positive(smoothing_mm, "smoothing_mm", inclusive=True)
    spacing = np.asarray(geometry(img).spacing)
    sm = _smooth(np.asarray(img.values), spacing, s)
    m = np.asarray(msk.values)
    flat = int(np.argmax(np.where(m, sm, -np.inf)))
    z, y, x = np.unravel_index(flat, m.shape)
    return int(z), int(y), int(x)


def region_grow(
    image: xr.DataArray,
    *,
    seed: Sequence[int] | None = None,
    within: xr.DataArray,
    method: Literal["threshold", "confidence"] = "threshold",
    fraction: float = 0.5,
    background: float | None = 0.0,
    upper_factor: float = 2.0,
    seed_smoothing_mm: float = 2.0,
    smoothing_mm: float = 0.75,
    multiplier: float = 2.5,
    iterations: int = 4,
    radius: int = 1,
    fill_holes: bool = True,
    connectivity: Literal["face", "full"] = "face",
    exclude: xr.DataArray | None = None,
) -> xr.DataArray:
    """Grow the lesion from its most strongly enhancing voxel inside a 3D mask (Fig. 3g).

    1. **Seed.** Unless given, the seed is the arg-max of `image` smoothed with a Gaussian of
       `seed_smoothing_mm` inside `within` (:func:`find_seed`): a smoothed maximum is a
       hot spot, not a single noisy voxel.
    2. **Criterion.** The image is lightly smoothed (`smoothing_mm`) and restricted to
       `within` (voxels outside can never join).  With ``method="threshold"``
       (SimpleITK ``ConnectedThreshold``) a voxel joins when it is connected to the seed
       through voxels whose value is at least

       ``lower = b + fraction * (p - b)``,

       where ``p`` is the smoothed value at the seed and ``b`` the `background` level (0 by
       default: an enhancement image is 0 where nothing enhances; ``None`` takes the median
       of the smoothed image in `within`).  With the default ``fraction=0.5`` this is a
       half-maximum rule: the boundary sits where the (partial-volume blurred) enhancement
       falls to half the lesion's peak, which adapts to each lesion's enhancement and is
       insensitive to the weaker enhancement of normal marrow.  Voxels above
       ``upper = b + upper_factor * (p - b)`` do not join either: a voxel enhancing more than
       twice as much as the lesion's (smoothed) peak is another tissue, typically a vessel
       (aorta, vena cava, segmental arteries) next to a weakly enhancing lesion.  With
       ``method="confidence"`` (SimpleITK ``ConfidenceConnected``) the interval is
       ``mean +/- multiplier * sd`` of the current region, re-estimated `iterations` times
       from a `radius` neighbourhood of the seed.
    3. **Holes.** Enclosed holes (a necrotic or cystic core) are filled in 3D and per slice.

    Parameters
    ----------
    image : xarray.DataArray
        Enhancement image ``(z, y, x)`` (:func:`enhancement_image`).
    seed : sequence of 3 int, optional
        Seed index ``(z, y, x)``; found with :func:`find_seed` when omitted.
    within : xarray.DataArray
        Bool mask on the same grid; growing never leaves it (Fig. 3f).
    method : {"threshold", "confidence"}
        Growing criterion (above).
    fraction : float
        Position of the lower threshold between background and peak, in (0, 1).
    background : float or None
        Background level ``b`` of the threshold rule (image units); ``None`` = median of the
        smoothed image inside `within`.
    upper_factor : float
        Upper threshold as a multiple of the peak above background (> 1; ``inf`` disables).
    seed_smoothing_mm, smoothing_mm : float
        Gaussian sigma (mm) for seed finding and for the grown image.
    multiplier : float
        ``ConfidenceConnected``: width of the interval in standard deviations.
    iterations : int
        ``ConfidenceConnected``: number of re-estimations of the interval (>= 0; 0 grows
        once with the interval of the initial neighbourhood).
    radius : int
        ``ConfidenceConnected``: radius (voxels, >= 1) of the initial neighbourhood of the
        seed.
    fill_holes : bool
        Fill enclosed holes of the grown region.
    connectivity : {"face", "full"}
        Neighbourhood of ``ConnectedThreshold`` (6- or 26-connected).
    exclude : xarray.DataArray, optional
        Bool mask of voxels the region may not grow through (another criterion, e.g. too
        little relative enhancement); enclosed excluded voxels are still filled as holes.

    Returns
    -------
    xarray.DataArray
        Bool lesion mask on the grid of `image`; ``attrs["seed_index"]`` is the seed
        ``(z, y, x)`` and ``attrs["lower_threshold"]``/``attrs["upper_threshold"]`` the
        thresholds used (threshold method).

    Raises
    ------
    ValueError
        If `within` is empty, `image`, `within` or `exclude` are on different or invalid
        grids, the seed lies outside `within` or the volume, or a parameter is out of range
        (`fraction` outside (0, 1), `upper_factor` <= 1, a negative or non-finite
        smoothing, `multiplier` <= 0, `iterations` < 0, `radius` < 1, a non-finite
        `background`, an unknown `method` or `connectivity`).  Every parameter is checked,
        whichever `method` uses it.
    TypeError
        If `image`/`within`/`exclude` are not DataArrays of the right dtype, a numeric
        parameter is not a number, or `iterations`/`radius` is not an int.

    References
    ----------
    Adams R, Bischof L. Seeded region growing. IEEE TPAMI 1994;16:641-7, :doi:`10.1109/34.295913`.
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4, :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> a = np.zeros((1, 9, 9))
    >>> a[0, 2:5, 2:5] = 10.0
    >>> a[0, 7, 7] = 10.0  # bright, but not connected
    >>> m = region_grow(make_image(a), within=make_image(np.ones((1, 9, 9), bool)), smoothing_mm=0)
    >>> int(m.sum()), m.attrs["seed_index"]
    (9, [0, 3, 3])
    """
    img = validate_image(image, name="image")
    msk = as_mask(within, "within", allow_empty=False)
    check_same_grid(img, msk, names=("image", "within"))
    if method not in ("threshold", "confidence"):
        raise ValueError(f"`method` must be 'threshold' or 'confidence', got {method!r}")
    if connectivity not in ("face", "full"):
        raise ValueError(f"`connectivity` must be 'face' or 'full', got {connectivity!r}")
    frac = check_positive(fraction, "fraction")
    if frac >= 1.0:
        raise ValueError(f"`fraction` must be in (0, 1), got {fraction!r}")
    upf = (
        float(upper_factor)
        if upper_factor == np.inf
        else check_positive(upper_factor, "upper_factor", minimum=1.0)
    )
    s_seed = check_positive(seed_smoothing_mm, "seed_smoothing_mm", inclusive=True)
    s_grow = check_positive(smoothing_mm, "smoothing_mm", inclusive=True)
    mult = check_positive(multiplier, "multiplier")
    n_iter = check_int(iterations, "iterations", minimum=0)
    rad = check_int(radius, "radius", minimum=1)
    b_given = None if background is None else check_finite(background, "background")
    m = np.asarray(msk.values)
    if seed is None:
        seed_idx = find_seed(img, within=msk, smoothing_mm=s_seed)
    else:
        seed_arr = np.asarray(seed)
        if seed_arr.shape != (3,) or not np.issubdtype(seed_arr.dtype, np.integer):
            raise ValueError(f"`seed` must be 3 ints (z, y, x), got {seed!r}")
        if np.any(seed_arr < 0) or np.any(seed_arr >= m.shape):
            raise ValueError(f"`seed` {tuple(seed_arr.tolist())} lies outside the volume of shape {m.shape}")
        seed_idx = (int(seed_arr[0]), int(seed_arr[1]), int(seed_arr[2]))
        if not m[seed_idx]:
            raise ValueError(f"`seed` {seed_idx} lies outside `within`")
    excl = None
    if exclude is not None:
        ex = as_mask(exclude, "exclude")
        check_same_grid(img, ex, names=("image", "exclude"))
        excl = np.asarray(ex.values)
    spacing = np.asarray(geometry(img).spacing)
    sm = _smooth(np.asarray(img.values), spacing, s_grow)
    peak = float(sm[seed_idx])
    b = float(np.median(sm[m])) if b_given is None else b_given
    lower = b + frac * (peak - b)
    upper = b + upf * (peak - b) if np.isfinite(upf) else np.inf
    grown = _grow_np(
        sm,
        m,
        seed_idx,
        spacing_xyz=spacing,
        method=method,
        lower=lower,
        upper=upper,
        multiplier=mult,
        iterations=n_iter,
        radius=rad,
        fill_holes=bool(fill_holes),
        connectivity=connectivity,
        exclude=excl,
    )
    out = like(img, grown, name="lesion")
    out.attrs = output_attrs(img, units="1", long_name="lesion mask", method=f"region growing ({method})")
    out.attrs["seed_index"] = list(seed_idx)
    if method == "threshold":
        out.attrs["lower_threshold"] = lower
        out.attrs["upper_threshold"] = upper
    return out.transpose(*SPATIAL_DIMS)
