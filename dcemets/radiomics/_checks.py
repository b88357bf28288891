"""Input checks shared by the public radiomics functions; their warning class.

Scalar arguments are checked by :mod:`dcemets._checks`, the set every layer shares.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import xarray as xr

from dcemets._checks import check_finite, check_int, check_positive
from dcemets._conventions import check_same_grid, coord_values, validate_image

NAN_POLICIES = ("raise", "omit")


class RadiomicsWarning(UserWarning):
    """A feature took a documented degenerate value (for example a constant ROI).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", RadiomicsWarning)  # e.g. for constant ROIs on purpose
    ...     pass
    """


def _as_array(x: Any, name: str) -> tuple[np.ndarray, xr.DataArray | None]:
    if isinstance(x, xr.DataArray):
        da = validate_image(x, name=name, allow_nan=True)
        return np.asarray(da.values), da
    if isinstance(x, xr.Dataset):
        raise TypeError(f"`{name}` must be one map (a DataArray or ndarray), got a Dataset")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"`{name}` must be an array or DataArray, got {type(x).__name__}") from exc
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"`{name}` must be a 3D (z, y, x) array (or 2D (y, x)), got shape {arr.shape}")
    return arr, None


def _identical_grid(a: xr.DataArray, b: xr.DataArray) -> bool:
    """Fast path: same coordinates and the same geometry attrs (then the grids are equal)."""
    for key in ("affine", "spacing_mm", "space", "frame_of_reference"):
        va, vb = a.attrs.get(key), b.attrs.get(key)
        if isinstance(va, (list, tuple, np.ndarray)) or isinstance(vb, (list, tuple, np.ndarray)):
            if not np.array_equal(np.asarray(va, dtype=object), np.asarray(vb, dtype=object)):
                return False
        elif va != vb:
            return False
    return all(np.array_equal(coord_values(a, d), coord_values(b, d)) for d in ("z", "y", "x"))


def prepare(
    image: Any, mask: Any, *, nan_policy: str = "raise"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, xr.DataArray | None]:
    """Validate an (image, mask) pair.

    Returns
    -------
    image : ndarray, shape (nz, ny, nx)
        The image values (not copied, not converted).
    mask : ndarray of bool, shape (nz, ny, nx)
        The ROI, minus the non-finite voxels when ``nan_policy="omit"``.
    values : ndarray of float64, shape (n_roi,)
        ROI values in C order.
    n_omitted : int
        Number of non-finite ROI voxels dropped.
    template : DataArray or None
        The canonical image DataArray when `image` was one.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"`nan_policy` must be one of {NAN_POLICIES}, got {nan_policy!r}")
    img, img_da = _as_array(image, "image")
    msk_da: xr.DataArray | None = None
    zyx = ("z", "y", "x")
    mask_zyx = None
    if (
        img_da is not None
        and isinstance(mask, xr.DataArray)
        and mask.ndim == 3
        and set(mask.dims) == set(zyx)
    ):
        mask_zyx = mask if mask.dims == zyx else mask.transpose(*zyx)  # a transpose costs ~0.1 ms
    if img_da is not None and mask_zyx is not None and _identical_grid(img_da, mask_zyx):
        # same coordinates and geometry attrs as the validated image: no second geometry check
        msk = np.asarray(mask_zyx.values)
    else:
        msk, msk_da = _as_array(mask, "mask")
    if img.dtype == bool or not (
        np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)
    ):
        raise TypeError(f"`image` must hold real numbers, got dtype {img.dtype}")
    if msk.dtype != bool:
        if not np.issubdtype(msk.dtype, np.integer):
            raise TypeError(f"`mask` must be bool (or integer 0/1), got dtype {msk.dtype}")
        if msk.size and (msk.min() < 0 or msk.max() > 1):
            raise ValueError("`mask` must hold only 0 and 1 (or be bool)")
        msk = msk.astype(bool)
    if img.shape != msk.shape:
        raise ValueError(f"`image` and `mask` are on different grids: shapes {img.shape} vs {msk.shape}")
    if img_da is not None and msk_da is not None and not _identical_grid(img_da, msk_da):
        check_same_grid(img_da, msk_da, names=("image", "mask"))
    if not msk.any():
        raise ValueError("`mask` is empty: no voxel inside the ROI, features are undefined")
    values = img[msk].astype(np.float64)
    bad = ~np.isfinite(values)
    n_bad = int(bad.sum())
    if n_bad:
        if nan_policy == "raise":
            raise ValueError(
                f"`image` has {n_bad} NaN or infinite value(s) inside `mask`; pass "
                "nan_policy='omit' to drop them from the ROI, or clean the mask first"
            )
        msk = msk & np.isfinite(img)
        values = values[~bad]
        if values.size == 0:
            raise ValueError("every voxel of `mask` is NaN or infinite in `image`: the ROI is empty")
    return img, msk, values, n_bad, img_da


def check_binning(
    bin_count: Any, bin_width: Any, min_value: Any, *, default_bin_count: int = 32
) -> tuple[int | None, float | None, float | None]:
    """Resolve the discretisation keywords (fixed bin number by default)."""
    if bin_count is not None and bin_width is not None:
        raise ValueError(
            "give either `bin_count` (fixed bin number) or `bin_width` (fixed bin size), not both"
        )
    if bin_count is None and bin_width is None:
        bin_count = default_bin_count
    if bin_count is not None:
        bin_count = check_int(bin_count, "bin_count", 1, 512)
        if min_value is not None:
            raise ValueError("`min_value` applies to `bin_width` (fixed bin size) only")
        return int(bin_count), None, None
    w = check_positive(bin_width, "bin_width")
    if min_value is not None:
        return None, w, check_finite(min_value, "min_value")
    return None, w, None


def check_n_jobs(n_jobs: Any) -> int:
    """`n_jobs` of joblib as an int: a non-zero int (negative: joblib's ``cpu_count + 1 + n_jobs``)."""
    if isinstance(n_jobs, numbers.Real) and not isinstance(n_jobs, (bool, numbers.Integral)):
        # a number, but not a whole one (2.5, NaN): a bad value, not a bad type
        raise ValueError(  # noqa: TRY004
            f"`n_jobs` must be a non-zero int (-1: every core), got {n_jobs!r}"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"`n_jobs` must be a non-zero int (-1: every core), got {type(n_jobs).__name__}")
    if n_jobs == 0:
        raise ValueError("`n_jobs` must be a non-zero int (-1: every core), got 0")
    return int(n_jobs)
