"""The enhancement image the segmentation works on (Fig. 3b)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from dcemets._conventions import SPATIAL_DIMS, like, output_attrs, validate_dce

from ._np import _enhancement_np

__all__ = ["enhancement_image"]

_KINDS = ("subtraction", "max_se")


def enhancement_image(
    dce: xr.DataArray,
    *,
    kind: Literal["subtraction", "max_se"] = "subtraction",
    n_baseline: int = 1,
) -> xr.DataArray:
    """Peak contrast enhancement of every voxel of a DCE series.

    With ``S0`` the mean of the first `n_baseline` (pre-contrast) frames and ``S_t`` the
    later frames:

    * ``kind="subtraction"`` (default): the peak subtraction image
      ``max_t (S_t - S0)`` in signal units, the "subtraction enhancement map" of the
      paper's Fig. 2 taken at each voxel's peak.  It is the default for segmentation because
      it does not amplify noise in dark voxels (cortical bone, air, CSF on T1w), which the
      relative enhancement does.
    * ``kind="max_se"``: the maximum signal-enhancement ratio ``100 (S_max - S0) / S0`` (%)
      of section 2.3 (the paper's "maximum SE" map); voxels with ``S0 <= 0`` get 0.

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series, dims ``("time", "z", "y", "x")`` in any order, signal in a.u.
    kind : {"subtraction", "max_se"}
        Which enhancement image.
    n_baseline : int
        Number of pre-contrast frames averaged into ``S0`` (the paper acquired one).

    Returns
    -------
    xarray.DataArray
        Dims ``("z", "y", "x")`` on the DCE grid, ``units`` ``"a.u."`` or ``"%"``.

    Raises
    ------
    ValueError
        If `kind` is unknown or `n_baseline` leaves no post-contrast frame.
    TypeError
        If `dce` is not a numeric DataArray.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.3 and Figs. 2-3,
    :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> sig = np.ones((3, 1, 1, 2)) * 100.0
    >>> sig[1:, 0, 0, 1] = [150.0, 130.0]
    >>> dce = make_dce(sig, [0.0, 10.0, 20.0])
    >>> enhancement_image(dce).values.ravel().tolist()
    [0.0, 50.0]
    >>> enhancement_image(dce, kind="max_se").values.ravel().tolist()
    [0.0, 50.0]
    """
    dce = validate_dce(dce)
    if kind not in _KINDS:
        raise ValueError(f"`kind` must be one of {_KINDS}, got {kind!r}")
    if isinstance(n_baseline, bool) or not isinstance(n_baseline, (int, np.integer)):
        raise TypeError(f"`n_baseline` must be an int, got {type(n_baseline).__name__}")
    if not 1 <= n_baseline < dce.sizes["time"]:
        raise ValueError(
            f"`n_baseline` must be in [1, {dce.sizes['time'] - 1}] (at least one post-contrast frame), got {n_baseline}"
        )
    sig = np.moveaxis(np.asarray(dce.values, dtype=np.float64), 0, -1)
    enh, _ = _enhancement_np(sig, n_baseline=int(n_baseline), kind=kind)
    units = "a.u." if kind == "subtraction" else "%"
    long_name = "peak subtraction enhancement" if kind == "subtraction" else "maximum signal enhancement"
    out = like(dce, enh, name="enhancement")
    out.attrs = output_attrs(dce, units=units, long_name=long_name, method=f"{kind}, n_baseline={n_baseline}")
    return out.transpose(*SPATIAL_DIMS)
