"""The paper's 13 histogram (intensity-statistics) features of a map inside a ROI."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dcemets.radiomics import _np
from dcemets.radiomics._checks import prepare

__all__ = ["HISTOGRAM_FEATURES", "histogram_features"]

HISTOGRAM_FEATURES: tuple[str, ...] = _np.HISTOGRAM_FEATURES
"""Names of the 13 histogram features, in the paper's order (section 2.5)."""

_METHODS = (
    "linear",
    "hazen",
    "weibull",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "nearest",
    "midpoint",
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
)


def histogram_features(
    image: Any,
    mask: Any,
    *,
    percentile_method: str = "linear",
    excess_kurtosis: bool = True,
    nan_policy: str = "raise",
) -> pd.Series:
    r"""The paper's 13 histogram features of the map values inside a ROI.

    The values are the raw (not discretised) map values of the ROI voxels, so these are
    IBSI *intensity-based statistics* (family ``stat``):

    * ``p10``, ``p20``, ..., ``p90``: the 10th ... 90th percentiles (IBSI QG58 for P10,
      Y12H for the median P50, 8DWT for P90);
    * ``mean``: :math:`\mu = \frac{1}{N}\sum_k x_k` (IBSI Q4LE);
    * ``sd``: :math:`\sqrt{m_2}`, the population SD, with
      :math:`m_n = \frac{1}{N}\sum_k (x_k - \mu)^n` (square root of IBSI ECT3);
    * ``kurtosis``: :math:`m_4/m_2^2 - 3`, excess kurtosis (IBSI IPH6);
    * ``skewness``: :math:`m_3/m_2^{3/2}` (IBSI KE2A).

    Conventions, stated because tools differ:

    * **Percentiles** use :func:`numpy.percentile` with ``method="linear"`` (the default;
      the same as PyRadiomics), i.e. linear interpolation between order statistics at rank
      ``q (N - 1)``.  MATLAB's ``prctile`` corresponds to ``percentile_method="hazen"``.
    * **SD** is the population SD (divides by N), as IBSI and PyRadiomics; MATLAB ``std``
      divides by N - 1.
    * **Skewness** and **kurtosis** are the biased moment ratios (IBSI, PyRadiomics).
      Kurtosis is IBSI's **excess** kurtosis (-3); ``excess_kurtosis=False`` gives Pearson's
      kurtosis as PyRadiomics and MATLAB ``kurtosis`` report it.
    * When the variance is 0 (constant map, one voxel) skewness and kurtosis are 0, as IBSI
      defines them; the percentiles and mean equal the value and the SD is 0.

    Parameters
    ----------
    image : ndarray or DataArray, shape (z, y, x)
        The map.
    mask : ndarray or DataArray of bool, shape (z, y, x)
        The ROI on the grid of `image`.
    percentile_method : str
        ``method`` of :func:`numpy.percentile`, default ``"linear"``.
    excess_kurtosis : bool
        Subtract 3 from the kurtosis (IBSI), default True.
    nan_policy : {"raise", "omit"}
        NaN/inf voxels inside the ROI: raise, or drop them from the ROI.

    Returns
    -------
    pandas.Series
        The 13 features, index :data:`HISTOGRAM_FEATURES`, in the units of `image` (kurtosis
        and skewness dimensionless).  ``attrs`` records the settings.

    Raises
    ------
    ValueError
        Empty mask, different grids, NaN in the ROI, unknown `percentile_method`.
    TypeError
        Wrong argument types.

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12, :doi:`10.1016/j.mri.2019.02.013`,
           section 2.5.
    .. [2] Zwanenburg A et al. The Image Biomarker Standardization Initiative. Radiology
           2020;295:328-338, :doi:`10.1148/radiol.2020191145` (manual arXiv:1612.07003,
           section 3.3).
    .. [3] Hyndman RJ, Fan Y. Sample quantiles in statistical packages. Am Stat
           1996;50:361-365, :doi:`10.1080/00031305.1996.10473566`.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.arange(1.0, 12.0).reshape(1, 1, 11)
    >>> h = histogram_features(img, img > 0)
    >>> h[["p10", "p50", "mean", "skewness"]].tolist()
    [2.0, 6.0, 6.0, 0.0]
    >>> round(float(h["kurtosis"]), 4)
    -1.22
    """
    if percentile_method not in _METHODS:
        raise ValueError(f"`percentile_method` must be one of {_METHODS}, got {percentile_method!r}")
    if not isinstance(excess_kurtosis, (bool, np.bool_)):
        raise TypeError(f"`excess_kurtosis` must be a bool, got {type(excess_kurtosis).__name__}")
    _img, _msk, values, n_omitted, _ = prepare(image, mask, nan_policy=nan_policy)
    out = pd.Series(
        _np.histogram_values(
            values, percentile_method=percentile_method, excess_kurtosis=bool(excess_kurtosis)
        ),
        name="hist",
        dtype=np.float64,
    )
    out.attrs.update(
        {
            "percentile_method": percentile_method,
            "excess_kurtosis": bool(excess_kurtosis),
            "n_voxels": int(values.size),
            "n_omitted_nonfinite": n_omitted,
        }
    )
    return out
