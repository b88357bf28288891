"""Masked 3D grey-level co-occurrence matrix (GLCM) and the paper's 20 Haralick features."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from dcemets._conventions import warn_user
from dcemets.radiomics import _np
from dcemets.radiomics._checks import RadiomicsWarning, check_binning, prepare
from dcemets.radiomics.discretisation import _levels

__all__ = ["GLCM_FEATURES", "glcm", "glcm_features"]

GLCM_FEATURES: tuple[str, ...] = _np.GLCM_FEATURES
"""Names of the paper's 20 GLCM features, in the paper's order (section 2.5)."""

CONVENTIONS = ("ibsi", "matlab")


@lru_cache(maxsize=1)
def _index() -> pd.Index:
    return pd.Index(GLCM_FEATURES)


def _check_glcm_options(distance: Any, symmetric: Any, aggregation: Any) -> int:
    if isinstance(distance, bool) or not isinstance(distance, (int, np.integer)):
        raise TypeError(f"`distance` must be an int, got {type(distance).__name__}")
    if distance < 1:
        raise ValueError(f"`distance` must be >= 1 (Chebyshev distance in voxels), got {distance}")
    if not isinstance(symmetric, (bool, np.bool_)):
        raise TypeError(f"`symmetric` must be a bool, got {type(symmetric).__name__}")
    if aggregation not in _np.AGGREGATIONS:
        raise ValueError(f"`aggregation` must be one of {_np.AGGREGATIONS}, got {aggregation!r}")
    return int(distance)


def _counts(
    image: Any,
    mask: Any,
    bin_count: int | None,
    bin_width: float | None,
    min_value: float | None,
    distance: Any,
    symmetric: Any,
    aggregation: Any,
    nan_policy: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    d = _check_glcm_options(distance, symmetric, aggregation)
    bc, bw, mv = check_binning(bin_count, bin_width, min_value)
    _img, msk, values, n_omitted, _ = prepare(image, mask, nan_policy=nan_policy)
    lev, n_levels = _levels(values, bc, bw, mv)
    counts = _np.aggregate_counts(
        lev, msk, n_levels, aggregation=aggregation, distance=d, symmetric=symmetric
    )
    info = {
        "bin_count": bc,
        "bin_width": bw,
        "min_value": mv,
        "n_levels": n_levels,
        "distance": d,
        "symmetric": bool(symmetric),
        "aggregation": aggregation,
        "n_voxels": int(values.size),
        "n_omitted_nonfinite": n_omitted,
        "single_level": bool(lev.min() == lev.max()),
    }
    return counts, info


def glcm(
    image: Any,
    mask: Any,
    *,
    bin_count: int | None = None,
    bin_width: float | None = None,
    min_value: float | None = None,
    distance: int = 1,
    symmetric: bool = True,
    aggregation: str = "3d_average",
    nan_policy: str = "raise",
) -> np.ndarray:
    """Masked grey-level co-occurrence matrices of a map inside a ROI (IBSI section 3.6).

    The map is discretised (:func:`~dcemets.radiomics.discretise`); every pair of voxels at
    offset ``distance * (dz, dy, dx)`` with **both** voxels inside the ROI is counted.  The 13
    unique 3D offsets are, in this order, ``(0,0,1) (0,1,-1) (0,1,0) (0,1,1) (1,-1,-1)
    (1,-1,0) (1,-1,1) (1,0,-1) (1,0,0) (1,0,1) (1,1,-1) (1,1,0) (1,1,1)``; the 2D
    aggregations use the first 4 (in-plane) within each ``z`` slice.  With ``symmetric=True``
    each pair is counted in both orders (``P + P.T``), as IBSI and PyRadiomics do.  All
    offsets are in voxel units: voxel spacing is not used (resample first for anisotropic
    data, as IBSI recommends).

    The counts come from :func:`numpy.bincount` over the integer pair codes
    ``i * (Ng + 1) + j`` of all ROI voxels and their neighbours (level 0 marks a neighbour
    outside the ROI, whose pairs are dropped); nothing loops over voxels.

    Parameters
    ----------
    image : ndarray or DataArray, shape (z, y, x)
        The map.
    mask : ndarray or DataArray of bool, shape (z, y, x)
        The ROI on the grid of `image`.
    bin_count, bin_width, min_value
        Discretisation, see :func:`~dcemets.radiomics.discretise` (default 32 bins).
    distance : int
        Chebyshev distance between the paired voxels (voxels), default 1.
    symmetric : bool
        Count each pair in both orders, default True.
    aggregation : str
        Which matrices are returned (the features of each are later averaged):

        * ``"3d_average"`` (default): one per 3D offset, shape ``(13, Ng, Ng)``;
        * ``"3d_merged"``: their sum, ``(1, Ng, Ng)``;
        * ``"2d_average"``: one per (slice, in-plane offset), ``(nz * 4, Ng, Ng)``, slice-major,
          over the ``nz`` slices from the first to the last slice of the ROI;
        * ``"2d_slice_merged"``: per slice, 4 offsets summed, ``(nz, Ng, Ng)``;
        * ``"2.5d_direction_merged"``: per in-plane offset, slices summed, ``(4, Ng, Ng)``;
        * ``"2.5d_merged"``: everything in-plane summed, ``(1, Ng, Ng)``.
    nan_policy : {"raise", "omit"}
        NaN/inf voxels inside the ROI: raise, or drop them from the ROI.

    Returns
    -------
    ndarray of int64, shape (n_matrices, Ng, Ng)
        Counts; entry ``[m, i - 1, j - 1]`` is the number of (level i, level j) pairs.

    Raises
    ------
    ValueError
        Empty mask, different grids, NaN in the ROI, bad options.
    TypeError
        Wrong argument types.

    See Also
    --------
    glcm_features : The features of these matrices.

    References
    ----------
    .. [1] Haralick RM, Shanmugam K, Dinstein I. Textural features for image classification.
           IEEE Trans Syst Man Cybern 1973;3:610-621, :doi:`10.1109/TSMC.1973.4309314`.
    .. [2] Zwanenburg A et al. The Image Biomarker Standardization Initiative. Radiology
           2020;295:328-338, :doi:`10.1148/radiol.2020191145` (manual: arXiv:1612.07003,
           sections 3.1 and 3.6).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[[1, 1, 2, 2]]])
    >>> p = glcm(img, img > 0, bin_width=1)
    >>> p.shape
    (13, 2, 2)
    >>> p[0]  # offset (0, 0, 1): pairs (1,1), (1,2), (2,2), counted both ways
    array([[2, 1],
           [1, 2]])
    """
    counts, _ = _counts(
        image, mask, bin_count, bin_width, min_value, distance, symmetric, aggregation, nan_policy
    )
    return counts


def glcm_features(
    image: Any,
    mask: Any,
    *,
    bin_count: int | None = None,
    bin_width: float | None = None,
    min_value: float | None = None,
    distance: int = 1,
    symmetric: bool = True,
    aggregation: str = "3d_average",
    convention: str = "ibsi",
    nan_policy: str = "raise",
) -> pd.Series:
    r"""The paper's 20 GLCM (Haralick) texture features of a map inside a 3D ROI.

    Lang et al. (2019, section 2.5) list 20 names without formulas or settings.  Each is
    computed here as IBSI defines it (log base 2; grey levels ``i, j = 1..Ng``;
    :math:`p_{ij}` the normalised GLCM; :math:`p_{x+y}(k)`, :math:`p_{x-y}(k)` its sum and
    difference distributions; :math:`\mu_x, \sigma_x` the mean and SD of the row marginal):

    ==============================  ===========================================  ================
    name                            definition                                   IBSI (code)
    ==============================  ===========================================  ================
    ``autocorrelation``             :math:`\sum i j p_{ij}`                      QWB0
    ``cluster_prominence``          :math:`\sum (i+j-\mu_x-\mu_y)^4 p_{ij}`      AE86
    ``cluster_shade``               :math:`\sum (i+j-\mu_x-\mu_y)^3 p_{ij}`      7NFM
    ``contrast``                    :math:`\sum (i-j)^2 p_{ij}`                  ACUI
    ``correlation_1``               :math:`\sum (i-\mu_x)(j-\mu_y) p_{ij}/       NI2N
                                    (\sigma_x\sigma_y)`
    ``correlation_2``               :math:`(\sum ij p_{ij}-\mu_x\mu_y)/          NI2N
                                    (\sigma_x\sigma_y)`
    ``dissimilarity``               :math:`\sum |i-j| p_{ij}`                    8S9J (= TF7R)
    ``energy``                      :math:`\sum p_{ij}^2` (angular 2nd moment)   8ZQL
    ``entropy``                     :math:`-\sum p_{ij}\log_2 p_{ij}`            TU9B
    ``homogeneity_1``               :math:`\sum p_{ij}/(1+|i-j|)`                IB1Z
    ``homogeneity_2``               :math:`\sum p_{ij}/(1+(i-j)^2)`              WF0Z
    ``maximum_probability``         :math:`\max p_{ij}`                          GYBY
    ``sum_average``                 :math:`\mu_+ = \sum k p_{x+y}(k)`            ZGXS
    ``information_entropy``         :math:`\sum (i-\mu_x)^2 p_{ij}` (see below)  UR99 (assumed)
    ``sum_variance``                :math:`\sum (k-\mu_+)^2 p_{x+y}(k)`          OEEB
    ``sum_entropy``                 :math:`-\sum p_{x+y}\log_2 p_{x+y}`          P6QZ
    ``difference_variance``         :math:`\sum (k-\mu_-)^2 p_{x-y}(k)`          D3YU
    ``difference_entropy``          :math:`-\sum p_{x-y}\log_2 p_{x-y}`          NTRS
    ``information_correlation_1``   :math:`(HXY-HXY1)/\max(HX,HY)`               R8DG
    ``information_correlation_2``   :math:`\sqrt{1-\exp(-2(HXY2-HXY))}`          JN9H
    ==============================  ===========================================  ================

    The paper names correlation twice: the two entries are the two algebraic forms of
    Haralick's correlation used by the MATLAB script ``GLCM_Features1.m`` (corrm, corrp).
    They are the same quantity and agree to rounding error; both are kept so that the
    feature count is the paper's 20.  Homogeneity 1 and 2 are IBSI's inverse difference and
    inverse difference moment; dissimilarity equals IBSI's difference average.

    **"Information measure of entropy" is not a defined feature.**  No standard (Haralick
    1973, Soh & Tsatsoulis 1999, Clausi 2002, IBSI, PyRadiomics) has a feature of that name.
    The paper's 20 names are, in order, the outputs of ``GLCM_Features1.m`` except that the
    script's *sum of squares: variance* (``sosvh``) is missing and this name appears in its
    place.  We therefore take it to be the sum of squares (variance), Haralick's f4, which
    IBSI defines as *joint variance* (UR99), :math:`\sum (i-\mu_x)^2 p_{ij}`
    (PyRadiomics ``SumSquares``).  This is an assumption, made plainly; with
    ``convention="matlab"`` the script's own variant (centred on the mean GLCM cell
    :math:`1/N_g^2`) is returned instead.

    With ``convention="matlab"`` all 20 values reproduce ``GLCM_Features1.m``: natural logs
    in the entropies and in ``information_correlation_2``, sum variance centred on the sum
    entropy (Haralick's printed f7), difference variance :math:`\sum k^2 p_{x-y}(k)`.

    Aggregation follows IBSI: features are computed on each matrix of
    :func:`glcm` and averaged (``"3d_average"``: over the 13 directions; ``"3d_merged"``:
    one merged matrix; 2D/2.5D variants likewise).  Matrices without any pair (a direction in
    which the ROI has no neighbours) are left out of the average, as in PyRadiomics.

    Degenerate cases (documented values, no NaN): a matrix whose marginal has zero variance
    (e.g. a constant ROI) has ``correlation_1 = correlation_2 = 1`` and
    ``information_correlation_1 = 0`` (PyRadiomics' convention; IBSI leaves them undefined).
    A ROI with a single grey level (a constant map) also emits a :class:`RadiomicsWarning`;
    its other features take their limits (contrast 0, energy 1, entropy 0, ...).  A ROI
    without any pair of neighbouring voxels (e.g. one voxel) raises ``ValueError``.

    Parameters
    ----------
    image : ndarray or DataArray, shape (z, y, x)
        The map, e.g. a variable of :func:`dcemets.kinetics.parametric_maps`.
    mask : ndarray or DataArray of bool, shape (z, y, x)
        The lesion ROI on the grid of `image`.
    bin_count, bin_width, min_value
        Discretisation, see :func:`~dcemets.radiomics.discretise` (default 32 bins).
    distance, symmetric, aggregation
        GLCM options, see :func:`glcm` (defaults: 1 voxel, symmetric, ``"3d_average"``).
    convention : {"ibsi", "matlab"}
        ``"ibsi"`` (default) or the MATLAB script's definitions (see above).
    nan_policy : {"raise", "omit"}
        NaN/inf voxels inside the ROI: raise, or drop them from the ROI.

    Returns
    -------
    pandas.Series
        The 20 features (float64, dimensionless), index :data:`GLCM_FEATURES`.  ``attrs``
        records the settings (``n_levels``, ``aggregation``, ``n_voxels``, ...).

    Raises
    ------
    ValueError
        Empty mask, no neighbouring pair, different grids, NaN in the ROI, bad options.
    TypeError
        Wrong argument types.

    Warns
    -----
    RadiomicsWarning
        When the ROI holds a single grey level.

    References
    ----------
    .. [1] Lang N et al. Differentiation of spinal metastases originated from lung and other
           cancers using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging
           2019;64:4-12, :doi:`10.1016/j.mri.2019.02.013`, section 2.5.
    .. [2] Haralick RM, Shanmugam K, Dinstein I. Textural features for image classification.
           IEEE Trans Syst Man Cybern 1973;3:610-621, :doi:`10.1109/TSMC.1973.4309314`.
    .. [3] Zwanenburg A et al. The Image Biomarker Standardization Initiative. Radiology
           2020;295:328-338, :doi:`10.1148/radiol.2020191145` (manual arXiv:1612.07003,
           section 3.6, CC BY 4.0).
    .. [4] Soh LK, Tsatsoulis C. Texture analysis of SAR sea ice imagery using gray level
           co-occurrence matrices. IEEE Trans Geosci Remote Sens 1999;37:780-795,
           :doi:`10.1109/36.752194`.
    .. [5] Clausi DA. An analysis of co-occurrence texture statistics as a function of grey
           level quantization. Can J Remote Sens 2002;28:45-62, :doi:`10.5589/m02-004`.
    .. [6] Uppuluri A. GLCM texture features (GLCM_Features1.m). MATLAB Central File Exchange
           #22187, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[[1, 1, 2, 2]]])
    >>> f = glcm_features(img, img > 0, bin_width=1)
    >>> f[["contrast", "energy", "homogeneity_1"]].round(4).tolist()
    [0.3333, 0.2778, 0.8333]
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"`convention` must be one of {CONVENTIONS}, got {convention!r}")
    counts, info = _counts(
        image, mask, bin_count, bin_width, min_value, distance, symmetric, aggregation, nan_policy
    )
    if not counts.any():
        raise ValueError(
            f"`mask` has no pair of neighbouring ROI voxels at distance {info['distance']} "
            f"({info['n_voxels']} voxel(s), aggregation {aggregation!r}): the GLCM is empty and "
            "texture features are undefined"
        )
    if info["single_level"]:
        warn_user(
            "the ROI holds a single grey level (constant map inside the mask): texture features "
            "take their degenerate values (contrast 0, energy 1, entropy 0, correlation 1)",
            RadiomicsWarning,
        )
    values = _np.aggregate_features(counts, convention=convention)
    out = pd.Series(values, index=_index(), name="glcm", dtype=np.float64, copy=False)
    out.attrs.update(info)
    out.attrs["convention"] = convention
    return out
