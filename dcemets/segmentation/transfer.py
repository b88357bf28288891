"""Steps (c) and (d) of Fig. 3: sagittal outline -> axial search area -> widened search box."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from dcemets._checks import check_positive
from dcemets._conventions import geometry, like, output_attrs
from dcemets.segmentation._checks import as_grid, as_mask, check_frame_of_reference

from ._np import _transfer_points, _widen_np

__all__ = ["transfer_roi", "widen_search_region"]


def transfer_roi(roi_sagittal: xr.DataArray, reference: xr.DataArray) -> xr.DataArray:
    """Carry a sagittal outline onto the axial grid through patient (LPS) coordinates.

    Every voxel of the outline is a small box in patient space.  Each box is sampled on a
    cell-centred sub-voxel grid no coarser than half the smallest voxel spacing of
    `reference`; the samples are mapped index -> LPS -> reference index (the images' own
    affines, so any oblique orientation is handled) and every reference voxel that receives a
    sample is marked.  The result covers the outline's physical extent: a one-slice sagittal
    outline (3-4 mm thick, only 2-3 axial voxels left-right) is never lost between voxel
    centres, as it can be with nearest-neighbour resampling.

    Parameters
    ----------
    roi_sagittal : xarray.DataArray
        Bool outline (integer labels: non-zero is inside), dims ``("z", "y", "x")`` on the
        sagittal grid with dcemets geometry attrs.
    reference : xarray.DataArray
        The axial DCE series (dims ``time, z, y, x``) or any 3D image on its grid (dims in
        any order).  Only its grid is read: its values may be NaN (a parametric map outside
        its mask).

    Returns
    -------
    xarray.DataArray
        Bool mask ``(z, y, x)`` on the spatial grid of `reference` (Fig. 3c).

    Raises
    ------
    ValueError
        If the outline is empty or does not intersect the `reference` volume, the two
        images carry different ``frame_of_reference`` attrs, `reference` is neither a 3D
        image ``(z, y, x)`` nor a DCE series ``(time, z, y, x)`` (with a valid ``time``
        coordinate), or either has an empty or invalid grid (irregular coordinates, a
        non-finite affine).
    TypeError
        If an input is not a DataArray, the outline is not a bool/integer mask, or
        `reference` does not hold real numbers.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4 and Fig. 3(a-c),
    :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> axial = make_image(np.zeros((1, 1, 6)), spacing=1.0)
    >>> roi = make_image(np.ones((1, 1, 1), bool), spacing=(1.0, 1.0, 1.5), origin=(2.0, 0, 0))
    >>> transfer_roi(roi, axial).values.ravel().astype(int).tolist()
    [0, 0, 1, 0, 0, 0]
    """
    roi = as_mask(roi_sagittal, "roi_sagittal", allow_empty=False)
    ref = as_grid(reference, "reference")
    check_frame_of_reference(roi, ref, ("roi_sagittal", "reference"))
    g_roi, g_ref = geometry(roi), geometry(ref)
    shape = tuple(int(ref.sizes[d]) for d in ("z", "y", "x"))
    mask = _transfer_points(
        np.asarray(roi.values),
        g_roi.index_to_world(),
        np.asarray(g_roi.spacing),
        g_ref.index_to_world(),
        shape,  # type: ignore[arg-type]
        np.asarray(g_ref.spacing),
    )
    if not mask.any():
        raise ValueError(
            "`roi_sagittal` does not intersect the `reference` volume: none of its "
            f"{int(roi.sum())} voxel(s) maps inside the axial grid (check both geometries)"
        )
    out = like(ref, mask, name="transferred_roi")
    out.attrs = output_attrs(
        ref,
        units="1",
        long_name="sagittal outline on the axial grid",
        method="sub-voxel point transfer (LPS)",
    )
    return out


def widen_search_region(
    region: xr.DataArray,
    *,
    factor: float = 5.0,
    axis: Literal["x", "y"] = "x",
    min_aspect: float = 0.0,
) -> xr.DataArray:
    """Widen the search box of each axial slice along one in-plane axis (Fig. 3d).

    On every slice (along ``z``) that holds part of `region`, the bounding box of `region`
    is taken and its extent along `axis` (``x``, left-right on an axial DCE grid) is
    multiplied by `factor` about its centre: a box ``w`` voxels wide becomes
    ``round(factor * w)`` voxels wide (clipped to the volume).  The other in-plane extent is
    kept.  Slices without `region` stay empty.

    With ``min_aspect > 0`` the widened extent is also at least `min_aspect` times the box's
    other in-plane extent, in mm: a one-slice sagittal outline is only 3-4 mm wide, so five
    times its width can be narrower than the lesion, while the outline's antero-posterior
    extent is a direct measure of the lesion's size (``min_aspect=1`` assumes the lesion is no
    narrower left-right than it is deep).

    Parameters
    ----------
    region : xarray.DataArray
        Bool mask ``(z, y, x)``, typically :func:`transfer_roi`'s output.
    factor : float
        Widening factor (the paper's 5); 1 returns the per-slice bounding boxes.
    axis : {"x", "y"}
        In-plane array axis to widen.
    min_aspect : float
        Minimum ratio of the widened extent to the other in-plane extent (both in mm);
        0 (default) applies `factor` alone, as the paper does.

    Returns
    -------
    xarray.DataArray
        Bool mask on the grid of `region`.

    Raises
    ------
    ValueError
        If `factor` < 1 or not finite, `min_aspect` < 0 or not finite, `axis` is not
        ``"x"``/``"y"``, or `region` is empty, not 3D or on an invalid grid.
    TypeError
        If `region` is not a bool/integer mask DataArray, or `factor`/`min_aspect` is not a
        number.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4,
    :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_image
    >>> m = np.zeros((1, 1, 12), bool)
    >>> m[0, 0, 5:7] = True
    >>> widen_search_region(make_image(m)).values.ravel().astype(int).tolist()
    [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    """
    reg = as_mask(region, "region", allow_empty=False)
    f = check_positive(factor, "factor", minimum=1.0, inclusive=True)
    if axis not in ("x", "y"):
        raise ValueError(f"`axis` must be 'x' or 'y' (an in-plane axis of the axial slices), got {axis!r}")
    asp = check_positive(min_aspect, "min_aspect", inclusive=True)
    sx, sy, _ = geometry(reg).spacing
    out_arr = _widen_np(
        np.asarray(reg.values), factor=f, axis=2 if axis == "x" else 1, min_aspect=asp, spacing_yx=(sy, sx)
    )
    out = like(reg, out_arr, name="search_region")
    out.attrs = output_attrs(
        reg,
        units="1",
        long_name="widened search box",
        method=f"per-slice bounding box x{f:g} along {axis}, min_aspect={asp:g}",
    )
    return out
