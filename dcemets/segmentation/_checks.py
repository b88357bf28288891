"""Input checks shared by the segmentation steps (masks, grids, frames of reference, rng).

Scalar arguments are checked by :mod:`dcemets._checks`, the set every layer shares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import SPATIAL_DIMS, check_rng, validate_dce, validate_image

__all__: list[str] = []


def as_mask(da: Any, name: str, *, allow_empty: bool = True) -> xr.DataArray:
    """Validate a 3D mask (bool, or integer labels read as "non-zero is inside")."""
    if not isinstance(da, xr.DataArray):
        raise TypeError(
            f"`{name}` must be an xarray.DataArray (bool mask, dims z, y, x), got {type(da).__name__}"
            " (wrap a NumPy array with dcemets.geometry.make_image)"
        )
    if da.dtype != bool and not np.issubdtype(da.dtype, np.integer):
        raise TypeError(f"`{name}` must be a bool (or integer label) mask, got dtype {da.dtype}")
    out = validate_image(da, name=name)
    if out.dtype != bool:
        out = (out != 0).assign_attrs(out.attrs)
    if not allow_empty and not bool(out.any()):
        raise ValueError(f"`{name}` is empty: it marks no voxel; outline at least one voxel")
    return out


def as_grid(da: Any, name: str) -> xr.DataArray:
    """Validate an image or DCE series used only for its grid; return its ``(z, y, x)`` view.

    Its dtype, dims, time coordinate (a DCE series) and geometry are checked; its values are
    not read, so NaN (a parametric map outside its mask) is fine.
    """
    if not isinstance(da, xr.DataArray):
        raise TypeError(
            f"`{name}` must be an xarray.DataArray (a DCE series or a 3D image), got {type(da).__name__}"
            " (wrap a NumPy array with dcemets.geometry.make_dce or make_image)"
        )
    if "time" in da.dims:
        return spatial_view(validate_dce(da, name=name, allow_nan=True, min_frames=1))
    return validate_image(da, name=name, allow_nan=True)


def check_frame_of_reference(a: xr.DataArray, b: xr.DataArray, names: tuple[str, str]) -> None:
    """Raise if both images carry a ``frame_of_reference`` attr and they differ."""
    fa, fb = a.attrs.get("frame_of_reference"), b.attrs.get("frame_of_reference")
    if fa and fb and fa != fb:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` have different frames of reference ({fa!r} vs {fb!r}); "
            "their patient coordinates cannot be compared (register them first)"
        )


def spatial_view(da: xr.DataArray) -> xr.DataArray:
    """A ``(z, y, x)`` template of a 3D image or DCE series (first frame, geometry kept)."""
    if "time" in da.dims:
        da = da.isel(time=0, drop=True)
    return da.transpose(*SPATIAL_DIMS)


def as_generator(value: Any, name: str = "rng") -> np.random.Generator:
    """:func:`dcemets._conventions.check_rng`, with errors naming the argument `name`."""
    try:
        return check_rng(value)
    except TypeError:
        raise TypeError(
            f"`{name}` must be an int seed, a numpy Generator or None, got {type(value).__name__}"
        ) from None
    except ValueError:
        raise ValueError(f"`{name}` must be a non-negative int seed, got {value!r}") from None
