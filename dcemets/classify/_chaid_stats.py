"""Statistics of the CHAID tree (private): decile banding, Pearson chi-square, category merging.

The building blocks of :class:`dcemets.classify.CHAIDClassifier` (Kass 1980, SPSS CHAID):
public under ``dcemets.classify`` (``bin_edges``, ``pearson_chi2``, ``merge_categories``,
``bonferroni_multiplier``), kept apart from the estimator so that ``chaid.py`` holds the tree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from dcemets.classify._checks import check_alpha, check_int, real_array

__all__ = ["bin_edges", "bonferroni_multiplier", "merge_categories", "pearson_chi2"]


def bin_edges(x: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Cut points that band a continuous predictor into ordinal categories.

    A predictor with at most `n_bins` distinct values gets one category per value (cut
    points halfway between consecutive values).  Otherwise the cut points are the
    ``k / n_bins`` quantiles (``k = 1 .. n_bins - 1``), each moved to the midpoint between
    the two neighbouring distinct values, so that categories hold (as nearly as ties allow)
    equal numbers of samples -- SPSS's banding of scale predictors for CHAID.

    Parameters
    ----------
    x : numpy.ndarray, shape (n_samples,)
        Finite training values of one predictor (any unit).
    n_bins : int, default 10
        Number of categories wanted (deciles by default).

    Returns
    -------
    numpy.ndarray of float, shape (n_cuts,)
        Strictly increasing cut points, ``n_cuts <= n_bins - 1``.  Category of a value:
        ``np.searchsorted(edges, value, side="right")`` (a value equal to a cut point goes to
        the upper category).

    Raises
    ------
    ValueError
        If `x` is empty, not finite or complex, or `n_bins` is not a whole number >= 2.
    TypeError
        If `x` holds text (also numeric strings) or other objects, or `n_bins` is not a
        number.

    Examples
    --------
    >>> bin_edges(np.arange(20.0), n_bins=4)
    array([ 4.5,  9.5, 14.5])
    >>> bin_edges(np.array([0.0, 1.0, 1.0, 3.0]))
    array([0.5, 2. ])
    """
    x = real_array(x, "x", allow_object=False).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("`x` must be a non-empty array of finite values")
    n_bins = check_int(n_bins, "n_bins", minimum=2)
    u = np.unique(x)
    if u.size <= n_bins:
        return (u[:-1] + u[1:]) / 2.0
    q = np.quantile(x, np.arange(1, n_bins) / n_bins)
    i = np.searchsorted(u, q, side="left")
    i = i[(i > 0) & (i < u.size)]
    return np.unique((u[i - 1] + u[i]) / 2.0)


def _check_table(table: Any, *, positive_rows: bool) -> np.ndarray:
    """`table` as a 2-D float array of finite non-negative whole counts (rows with a positive total)."""
    try:
        t = real_array(table, "table", allow_object=False)
    except TypeError as exc:
        raise TypeError(f"`table` must be a 2-D array of counts, got {type(table).__name__}") from exc
    if t.ndim != 2:
        raise ValueError(f"`table` must be 2-D (n_categories, n_classes), got shape {t.shape}")
    if t.size == 0:
        raise ValueError(
            f"`table` is empty (shape {t.shape}); it needs categories (rows) and classes (columns)"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError(
            f"`table` must hold finite counts, got {int((~np.isfinite(t)).sum())} NaN or infinite"
        )
    if np.any(t < 0):
        raise ValueError(f"`table` must hold non-negative counts, got {int((t < 0).sum())} negative")
    if np.any(t != np.round(t)):
        raise ValueError(
            f"`table` must hold whole-number counts, got {int((t != np.round(t)).sum())} fractional value(s)"
        )
    if positive_rows and np.any(t.sum(axis=1) <= 0):
        raise ValueError(
            f"every row of `table` must have a positive total, rows {np.flatnonzero(t.sum(axis=1) <= 0).tolist()} are empty"
        )
    return t


def pearson_chi2(table: np.ndarray) -> tuple[float, int, float]:
    """Pearson chi-square test of independence of a contingency table.

    Columns (classes) with no count are dropped before the test, as in Kass (1980): a
    class absent from every row carries no information.  A table left with one row or one
    column has statistic 0 and p-value 1 (the rows are indistinguishable).

    Parameters
    ----------
    table : numpy.ndarray, shape (n_rows, n_classes)
        Non-negative counts; every row must have a positive total.

    Returns
    -------
    chi2 : float
        Pearson statistic ``sum((O - E)**2 / E)``.
    dof : int
        ``(n_rows - 1) * (n_nonzero_columns - 1)``.
    p_value : float
        Upper tail of the chi-square distribution with `dof` degrees of freedom.

    Raises
    ------
    ValueError
        If `table` is not 2-D, is empty, holds NaN, infinite, negative, fractional or
        complex counts, or has an empty row.
    TypeError
        If `table` is not numeric.

    Examples
    --------
    >>> chi2, dof, p = pearson_chi2(np.array([[10, 0], [0, 10]]))
    >>> round(chi2, 6), dof, round(p, 6)
    (20.0, 1, 8e-06)
    >>> pearson_chi2(np.array([[3, 0, 2], [6, 0, 4]]))
    (0.0, 1, 1.0)
    """
    t = _check_table(table, positive_rows=True)
    t = t[:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return 0.0, 0, 1.0
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    chi2 = float(((t - expected) ** 2 / expected).sum())
    dof = (t.shape[0] - 1) * (t.shape[1] - 1)
    return chi2, dof, float(special.chdtrc(dof, chi2))


def _adjacent_chi2(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson chi-square and p-value of every adjacent pair of rows.

    A vectorised ``pearson_chi2`` on the 2 x J sub-tables, empty classes dropped.
    """
    pairs = np.stack([rows[:-1], rows[1:]], axis=1)  # (n_pairs, 2, J)
    col = pairs.sum(axis=1)
    row = pairs.sum(axis=2)
    expected = row[:, :, None] * col[:, None, :] / row.sum(axis=1)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(expected > 0, (pairs - expected) ** 2 / expected, 0.0)
    chi2 = terms.sum(axis=(1, 2))
    dof = (col > 0).sum(axis=1) - 1
    p = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1), chi2), 1.0)
    return np.where(dof > 0, chi2, 0.0), p


def merge_categories(
    table: np.ndarray, *, alpha_merge: float = 0.05, min_size: int = 1
) -> list[tuple[int, int]]:
    """Merge adjacent ordinal categories whose class distributions do not differ (CHAID).

    Kass's (1980) merging step for an ordinal ("monotonic") predictor: repeatedly find the
    pair of adjacent groups whose 2 x J sub-table is least significantly different (largest
    Pearson p-value; ties go to the larger statistic, then to the leftmost pair) and merge
    it while that p-value exceeds `alpha_merge`.  Then, as SPSS does, any group smaller than
    `min_size` is merged with the adjacent group it is most similar to (largest p-value),
    smallest group first.  Merged groups are not re-split (SPSS default).

    Parameters
    ----------
    table : numpy.ndarray, shape (n_categories, n_classes)
        Class counts of the categories present in the node, in increasing order.
    alpha_merge : float, default 0.05
        Merging level; larger values merge less.
    min_size : int, default 1
        Minimum number of samples in a group (SPSS ``MINCHILDSIZE``).

    Returns
    -------
    list of (start, stop)
        Half-open ranges of row indices of `table`, one per merged group, in order.

    Raises
    ------
    ValueError
        If `table` is not 2-D, is empty or holds NaN, infinite, negative, fractional or
        complex counts; if `alpha_merge` is not a number in (0, 1] or `min_size` is not a
        whole number >= 1.
    TypeError
        If `table` is not numeric or `min_size` is not a number.

    Examples
    --------
    Categories 0-1 look alike, as do 2-3:

    >>> t = np.array([[10, 1], [9, 2], [1, 10], [2, 9]])
    >>> merge_categories(t)
    [(0, 2), (2, 4)]
    """
    t = _check_table(table, positive_rows=False)
    alpha_merge = check_alpha(alpha_merge, "alpha_merge")
    min_size = check_int(min_size, "min_size", minimum=1)
    bounds = list(range(t.shape[0] + 1))  # group k holds rows bounds[k]:bounds[k+1]
    rows = t.copy()

    def join(k: int) -> None:
        nonlocal rows
        rows = np.concatenate([rows[:k], rows[k : k + 2].sum(axis=0, keepdims=True), rows[k + 2 :]])
        del bounds[k + 1]

    while rows.shape[0] >= 2:
        chi2, p = _adjacent_chi2(rows)
        best_p = p.max()
        ties = np.flatnonzero(p == best_p)
        if best_p > alpha_merge:
            join(int(ties[np.argmax(chi2[ties])]))
        else:
            break

    while rows.shape[0] >= 2:
        sizes = rows.sum(axis=1)
        small = int(np.argmin(sizes))
        if sizes[small] >= min_size:
            break
        candidates = [k for k in (small - 1, small) if 0 <= k < rows.shape[0] - 1]
        _, p = _adjacent_chi2(rows)
        join(candidates[int(np.argmax(p[candidates]))])
    groups = [[bounds[k], bounds[k + 1]] for k in range(len(bounds) - 1)]
    return [(g[0], g[1]) for g in groups]


def bonferroni_multiplier(n_categories: int, n_groups: int, *, ordinal: bool = True) -> int:
    """Count Kass's Bonferroni multiplier for merging `n_categories` into `n_groups`.

    Parameters
    ----------
    n_categories : int
        Categories ``c`` of the predictor present in the node.
    n_groups : int
        Groups ``r`` after merging, ``1 <= r <= c``.
    ordinal : bool, default True
        Ordinal (monotonic) predictor: ``B = C(c - 1, r - 1)``; otherwise (nominal, "free")
        the number of ways to partition ``c`` categories into ``r`` non-empty groups,
        ``B = sum_{i=0}^{r-1} (-1)**i (r - i)**c / (i! (r - i)!)``.

    Returns
    -------
    int
        The number ``B >= 1`` of distinct ways the merge could have grouped the categories;
        a split's p-value is multiplied by it (and capped at 1) to adjust for having chosen
        the best of them.

    Raises
    ------
    TypeError
        If `n_categories` or `n_groups` is not a number.
    ValueError
        If either is not a whole number, or unless ``1 <= n_groups <= n_categories``.

    References
    ----------
    .. [1] G. V. Kass, "An exploratory technique for investigating large quantities of
           categorical data", Appl. Stat. 29(2):119-127, 1980. :DOI:`10.2307/2986296`

    Examples
    --------
    >>> bonferroni_multiplier(10, 2), bonferroni_multiplier(10, 3)
    (9, 36)
    >>> bonferroni_multiplier(4, 2, ordinal=False)
    7
    """
    c = check_int(n_categories, "n_categories", minimum=1)
    r = check_int(n_groups, "n_groups", minimum=1)
    if not 1 <= r <= c:
        raise ValueError(f"need 1 <= n_groups <= n_categories, got n_categories={c}, n_groups={r}")
    if ordinal:
        return math.comb(c - 1, r - 1)
    total = sum((-1) ** i * (r - i) ** c / (math.factorial(i) * math.factorial(r - i)) for i in range(r))
    return round(total)


# --------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------
