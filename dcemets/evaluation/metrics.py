"""Diagnostic accuracy: confusion counts, sensitivity/specificity/PPV/NPV, AUC, and their CIs.

Proportions get Wilson score intervals (Wilson 1927; Newcombe 1998, method 3), the AUC gets
DeLong's (1988) asymptotic interval, computed with the fast midrank algorithm of Sun & Xu
(2014), or a stratified percentile bootstrap.  :func:`delong_test` compares two correlated
AUCs measured on the same cases.

One concept: diagnostic accuracy of a binary test with its confidence intervals
(counts, proportions, AUC, DeLong comparison).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from dcemets._conventions import check_rng, warn_user

__all__ = [
    "METRICS",
    "DeLongResult",
    "auc_confidence_interval",
    "delong_test",
    "diagnostic_metrics",
    "roc_auc",
    "wilson_interval",
]

METRICS: tuple[str, ...] = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "auc")
"""Names of the rate metrics returned by :func:`diagnostic_metrics` (besides the counts)."""


# --------------------------------------------------------------------------------------------
# input checks shared by the evaluation package
# --------------------------------------------------------------------------------------------


def _labels_1d(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"`{name}` contains NaN labels")
    if arr.dtype.kind == "O" and pd.isna(arr).any():
        raise ValueError(f"`{name}` contains missing labels")
    return arr


def _resolve_positive(y: Any, positive: Any, name: str = "y_true") -> Any:
    """The positive class: `positive` itself, or the default for ``positive=None``.

    ``None`` means 1 (``True``) when the labels are {0, 1}, {-1, 1} or booleans, as in
    scikit-learn; for other labels the caller must name the class.  Until the next release,
    labels holding ``"lung"`` still default to it, with a ``FutureWarning`` (the paper's
    positive class was the default of these generic functions before issue 17).
    """
    if positive is not None:
        return positive
    labels = np.unique(_labels_1d(y, name)).tolist()
    if labels and all(isinstance(v, bool) for v in labels):
        return True
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in labels)
    if numeric and (set(labels) <= {0, 1} or set(labels) <= {-1, 1}):
        return 1
    if "lung" in labels:
        warn_user(
            f"`positive` was not given; it defaults to 'lung' for labels {labels} until the next "
            "release, after which non-0/1 labels need it: pass positive='lung'",
            FutureWarning,
        )
        return "lung"
    raise ValueError(
        f"`positive` must name the positive class of `{name}` (labels: {labels}), "
        f"e.g. positive={labels[-1]!r}; it defaults only for 0/1 or boolean labels"
    )


def _check_binary(y_true: Any, positive: Any, name: str = "y_true") -> tuple[np.ndarray, list[Any]]:
    """Return ``y_true == positive`` and the sorted labels, checking a two-class target."""
    arr = _labels_1d(y_true, name)
    labels = np.unique(arr).tolist()
    if len(labels) > 2:
        raise ValueError(f"`{name}` must hold two classes, got {len(labels)}: {labels}")
    if positive not in labels:
        raise ValueError(
            f"`positive`={positive!r} is not a label of `{name}` (labels: {labels}); "
            "pass the label of the positive class, e.g. positive=1"
        )
    if len(labels) < 2:
        raise ValueError(
            f"`{name}` contains a single class ({labels[0]!r}); sensitivity, specificity and AUC "
            "need cases of both classes"
        )
    return arr == positive, labels


def _check_scores(y_score: Any, n: int, name: str = "y_score") -> np.ndarray:
    """`y_score` as float64 scores, one per case: real numbers (int, float or bool dtype)."""
    try:
        raw = np.asarray(y_score)
    except (TypeError, ValueError) as err:  # ragged
        raise TypeError(f"`{name}` must be numeric scores, got {type(y_score).__name__}") from err
    if raw.ndim == 0 and raw.dtype.kind not in "biufc":  # None, a str, a dict...
        raise TypeError(f"`{name}` must be an array of scores, one per case, got {type(y_score).__name__}")
    if raw.dtype.kind == "c":
        raise TypeError(f"`{name}` must be real scores, got complex dtype {raw.dtype}")
    if raw.dtype.kind not in "biuf":
        raise TypeError(
            f"`{name}` must be numeric scores (int or float dtype), got {type(y_score).__name__} of "
            f"dtype {raw.dtype}; convert text or objects with np.asarray({name}, dtype=float)"
        )
    s = raw.astype(float)
    if s.ndim != 1 or s.size != n:
        raise ValueError(
            f"`{name}` must be one-dimensional with {n} entries (as y_true), got shape {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return s


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (float, int, np.floating)) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"`confidence` must be a number in (0, 1), e.g. 0.95, got {confidence!r}")
    return float(confidence)


# --------------------------------------------------------------------------------------------
# proportions
# --------------------------------------------------------------------------------------------


def wilson_interval(successes: Any, n: Any, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval for a binomial proportion.

    .. math:: \frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    Parameters
    ----------
    successes : int or array-like of int
        Number of successes ``k`` (``0 <= k <= n``).
    n : int or array-like of int
        Number of trials, ``n >= 1`` (with no trial there is no proportion to bound).
    confidence : float, default 0.95
        Two-sided coverage.

    Returns
    -------
    low : numpy.ndarray of float
        Lower bounds of the interval, within [0, 1] (a 0-d array for scalar input; the
        broadcast shape of `successes` and `n` otherwise).
    high : numpy.ndarray of float
        Upper bounds, within [0, 1], of the same shape.

    Raises
    ------
    ValueError
        If ``n < 1``, ``k < 0``, ``k > n``, a count is not a finite whole number, the shapes
        do not broadcast, or `confidence` is not in (0, 1).
    TypeError
        If a count is not numeric.

    References
    ----------
    .. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical
           inference", J. Am. Stat. Assoc. 22:209-212, 1927. :DOI:`10.1080/01621459.1927.10502953`
    .. [2] R. G. Newcombe, "Two-sided confidence intervals for the single proportion:
           comparison of seven methods", Stat. Med. 17:857-872, 1998, Table I, method 3.
           :DOI:`10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E`

    Examples
    --------
    Newcombe's (1998) example 81/263:

    >>> low, high = wilson_interval(81, 263)
    >>> round(float(low), 4), round(float(high), 4)
    (0.2553, 0.3662)
    """
    conf = _check_confidence(confidence)
    k = _counts(successes, "successes")
    m = _counts(n, "n")
    try:
        np.broadcast_shapes(k.shape, m.shape)
    except ValueError:
        raise ValueError(
            f"`successes` (shape {k.shape}) and `n` (shape {m.shape}) do not broadcast together"
        ) from None
    if np.any(m < 1):
        raise ValueError(
            f"`n` must be >= 1 (number of trials), got {int(np.count_nonzero(m < 1))} value(s) of 0: "
            "a proportion of no trial has no interval"
        )
    if np.any(k > m):
        raise ValueError("`successes` must satisfy 0 <= successes <= n")
    z = stats.norm.ppf(0.5 + conf / 2.0)
    p = k / m
    denom = 1.0 + z**2 / m
    centre = (p + z**2 / (2.0 * m)) / denom
    half = z * np.sqrt(p * (1.0 - p) / m + z**2 / (4.0 * m**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _counts(x: Any, name: str) -> np.ndarray:
    """`x` as a float array of finite non-negative whole numbers."""
    try:
        v = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a count (int or array of int), got {type(x).__name__}") from exc
    if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
        raise ValueError(f"`{name}` must hold finite whole numbers (counts), got {v.tolist()}")
    if np.any(v < 0):
        raise ValueError(f"`{name}` must be non-negative (a count), got {v.tolist()}")
    return v


# --------------------------------------------------------------------------------------------
# AUC: Mann-Whitney estimate, DeLong covariance (fast midrank algorithm), bootstrap
# --------------------------------------------------------------------------------------------


def _delong_core(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and DeLong covariance of ``k`` score sets (Sun & Xu 2014, fast midrank algorithm).

    Parameters
    ----------
    pos : numpy.ndarray, shape (k, m)
        Scores of the m positive cases under each of k scorings.
    neg : numpy.ndarray, shape (k, n)
        Scores of the n negative cases.

    Returns
    -------
    auc : numpy.ndarray, shape (k,)
    cov : numpy.ndarray, shape (k, k)
        ``S10 / m + S01 / n`` (DeLong et al. 1988, eq. for the covariance of AUC estimates).
    """
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    auc = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n  # structural components of the positives
    v01 = 1.0 - (tz[:, m:] - ty) / m  # ... and of the negatives
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((pos.shape[0], pos.shape[0]))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((pos.shape[0], pos.shape[0]))
    return auc, s10 / m + s01 / n


def roc_auc(y_true: Any, y_score: Any, *, positive: Any = None) -> float:
    """Area under the ROC curve (Mann-Whitney estimate; ties count one half).

    Parameters
    ----------
    y_true : array-like, shape (n_samples,)
        True labels (two classes).
    y_score : array-like of float, shape (n_samples,)
        Scores, higher meaning more likely `positive`.
    positive : label, optional
        The positive class.  By default 1 (``True``) for 0/1, -1/1 or boolean labels; other
        labels must name it (labels holding ``"lung"`` still default to it, with a
        ``FutureWarning``, until the next release).

    Returns
    -------
    float
        The probability that a random positive case scores above a random negative one
        (ties counting one half), in [0, 1]; 0.5 is chance.

    Raises
    ------
    ValueError
        For a single class, a `positive` not in `y_true`, or NaN scores.
    TypeError
        For scores that are not real numbers (complex, text, objects).

    Examples
    --------
    >>> roc_auc(["a", "a", "b", "b"], [0.1, 0.4, 0.35, 0.8], positive="b")
    0.75
    """
    positive = _resolve_positive(y_true, positive)
    is_pos, _ = _check_binary(y_true, positive)
    s = _check_scores(y_score, is_pos.size)
    auc, _ = _delong_core(s[is_pos][None, :], s[~is_pos][None, :])
    return float(auc[0])


def auc_confidence_interval(
    y_true: Any,
    y_score: Any,
    *,
    positive: Any = None,
    confidence: float = 0.95,
    method: Literal["delong", "bootstrap"] = "delong",
    n_bootstrap: int = 2000,
    rng: int | np.random.Generator | None = None,
) -> tuple[float, float, float]:
    """AUC with a DeLong or bootstrap confidence interval.

    Parameters
    ----------
    y_true : array-like, shape (n_samples,)
        True labels (two classes).
    y_score : array-like of float, shape (n_samples,)
        Scores, higher meaning more likely `positive`.
    positive : label, optional
        The positive class.  By default 1 (``True``) for 0/1, -1/1 or boolean labels; other
        labels must name it (labels holding ``"lung"`` still default to it, with a
        ``FutureWarning``, until the next release).
    confidence : float, default 0.95
        Two-sided coverage.
    method : {"delong", "bootstrap"}, default "delong"
        ``"delong"``: AUC +/- z * SE with DeLong's variance, clipped to [0, 1] (as pROC).
        ``"bootstrap"``: percentile interval of `n_bootstrap` AUCs on resamples drawn within
        each class (stratified, so every resample has both classes).
    n_bootstrap : int, default 2000
        Bootstrap resamples.
    rng : int, numpy.random.Generator or None
        Seed of the bootstrap.

    Returns
    -------
    auc : float
        The AUC (:func:`roc_auc`), in [0, 1].
    low : float
        Lower bound of the `confidence` interval, in [0, 1].
    high : float
        Upper bound of the `confidence` interval, in [0, 1].

    Raises
    ------
    ValueError
        For bad labels/scores or parameters.
    TypeError
        For scores that are not real numbers (complex, text, objects).

    References
    ----------
    .. [1] E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson, "Comparing the areas under two or
           more correlated receiver operating characteristic curves: a nonparametric
           approach", Biometrics 44:837-845, 1988. :DOI:`10.2307/2531595`
    .. [2] X. Sun, W. Xu, "Fast implementation of DeLong's algorithm for comparing the areas
           under correlated receiver operating characteristic curves", IEEE Signal Process.
           Lett. 21:1389-1393, 2014. :DOI:`10.1109/LSP.2014.2337313`
    .. [3] B. Efron, R. Tibshirani, An Introduction to the Bootstrap, Chapman & Hall, 1993.

    Examples
    --------
    >>> y = ["other"] * 4 + ["lung"] * 4
    >>> s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> auc, low, high = auc_confidence_interval(y, s, positive="lung")
    >>> round(auc, 4), round(low, 3), round(high, 3)
    (0.9375, 0.764, 1.0)
    """
    positive = _resolve_positive(y_true, positive)
    is_pos, _ = _check_binary(y_true, positive)
    s = _check_scores(y_score, is_pos.size)
    conf = _check_confidence(confidence)
    pos, neg = s[is_pos], s[~is_pos]
    auc_arr, cov = _delong_core(pos[None, :], neg[None, :])
    auc = float(auc_arr[0])
    if method == "delong":
        half = stats.norm.ppf(0.5 + conf / 2.0) * float(np.sqrt(cov[0, 0]))
        return auc, float(max(0.0, auc - half)), float(min(1.0, auc + half))
    if method != "bootstrap":
        raise ValueError(f"`method` must be 'delong' or 'bootstrap', got {method!r}")
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 10:
        raise ValueError(f"`n_bootstrap` must be an int >= 10, got {n_bootstrap!r}")
    gen = check_rng(rng)
    boot_pos = pos[gen.integers(0, pos.size, size=(n_bootstrap, pos.size))]
    boot_neg = neg[gen.integers(0, neg.size, size=(n_bootstrap, neg.size))]
    aucs, _ = _delong_core(boot_pos, boot_neg)
    low, high = np.quantile(aucs, [0.5 - conf / 2.0, 0.5 + conf / 2.0])
    return auc, float(low), float(high)


@dataclass(frozen=True)
class DeLongResult:
    """Result of :func:`delong_test`.

    Attributes
    ----------
    auc_a, auc_b : float
        AUC of each scoring.
    difference : float
        ``auc_a - auc_b``.
    se : float
        DeLong standard error of the difference.
    z : float
        ``difference / se``.
    p_value : float
        Two-sided p-value from the standard normal.

    Examples
    --------
    >>> r = delong_test([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.7, 0.8], [0.1, 0.5, 0.3, 0.6, 0.2, 0.8])
    >>> round(r.auc_a, 3), round(r.auc_b, 3), round(r.p_value, 3)
    (1.0, 0.778, 0.371)
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float


def delong_test(y_true: Any, score_a: Any, score_b: Any, *, positive: Any = None) -> DeLongResult:
    """Compare two correlated AUCs measured on the same cases with DeLong's test.

    ``z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab)`` with DeLong's nonparametric
    (co)variances; two-sided normal p-value.  Use it to compare two methods (e.g. the
    hot-spot CHAID tree and the CLSTM) on the same out-of-fold predictions.

    Parameters
    ----------
    y_true : array-like, shape (n_samples,)
        True labels (two classes).
    score_a, score_b : array-like of float, shape (n_samples,)
        The two methods' scores, higher meaning more likely `positive`.
    positive : label, optional
        The positive class.  By default 1 (``True``) for 0/1, -1/1 or boolean labels; other
        labels must name it (labels holding ``"lung"`` still default to it, with a
        ``FutureWarning``, until the next release).

    Returns
    -------
    DeLongResult
        ``z = 0, p = 1`` when both the difference and its variance are 0 (identical rankings).

    Raises
    ------
    ValueError
        For a single class, mismatched lengths or NaN scores.
    TypeError
        For scores that are not real numbers (complex, text, objects).

    References
    ----------
    .. [1] E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson, Biometrics 44:837-845, 1988.
           :DOI:`10.2307/2531595`
    .. [2] X. Sun, W. Xu, IEEE Signal Process. Lett. 21:1389-1393, 2014.
           :DOI:`10.1109/LSP.2014.2337313`

    Examples
    --------
    >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> a = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> b = [0.5, 0.2, 0.3, 0.6, 0.4, 0.1, 0.8, 0.7]
    >>> r = delong_test(y, a, b, positive=1)
    >>> round(r.auc_a, 4), round(r.auc_b, 4), round(r.p_value, 3)
    (0.9375, 0.625, 0.202)
    """
    positive = _resolve_positive(y_true, positive)
    is_pos, _ = _check_binary(y_true, positive)
    a = _check_scores(score_a, is_pos.size, "score_a")
    b = _check_scores(score_b, is_pos.size, "score_b")
    scores = np.stack([a, b])
    auc, cov = _delong_core(scores[:, is_pos], scores[:, ~is_pos])
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:
        z = 0.0 if diff == 0.0 else float(np.sign(diff) * np.inf)
    else:
        z = diff / se
    p = float(2.0 * stats.norm.sf(abs(z)))
    return DeLongResult(float(auc[0]), float(auc[1]), diff, se, z, p)


# --------------------------------------------------------------------------------------------
# the table of diagnostic metrics
# --------------------------------------------------------------------------------------------


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def _rates(is_pos: np.ndarray, pred_pos: np.ndarray, score: np.ndarray | None) -> dict[str, float]:
    """Counts and rates; NaN where a denominator is zero (lenient core for per-fold use)."""
    tp = int(np.sum(is_pos & pred_pos))
    fn = int(np.sum(is_pos & ~pred_pos))
    tn = int(np.sum(~is_pos & ~pred_pos))
    fp = int(np.sum(~is_pos & pred_pos))
    n = tp + fn + tn + fp
    out: dict[str, float] = {
        "n": n,
        "tp": tp,
        "fn": fn,
        "tn": tn,
        "fp": fp,
        "accuracy": _ratio(tp + tn, n),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "auc": float("nan"),
    }
    if score is not None and 0 < is_pos.sum() < is_pos.size:
        out["auc"] = float(_delong_core(score[is_pos][None, :], score[~is_pos][None, :])[0][0])
    return out


def diagnostic_metrics(
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    positive: Any = None,
    confidence: float | None = None,
    auc_method: Literal["delong", "bootstrap"] = "delong",
    n_bootstrap: int = 2000,
    rng: int | np.random.Generator | None = None,
) -> pd.Series:
    """Confusion counts, accuracy, sensitivity, specificity, PPV, NPV and AUC.

    With `positive` the diseased class (the paper: lung primary), sensitivity
    ``TP / (TP + FN)``, specificity ``TN / (TN + FP)``, PPV ``TP / (TP + FP)``, NPV
    ``TN / (TN + FN)``, accuracy ``(TP + TN) / n``.  PPV or NPV is NaN when nothing is
    predicted positive or negative (0/0).

    Parameters
    ----------
    y_true : array-like, shape (n_samples,)
        True labels (two classes).
    y_pred : array-like, shape (n_samples,)
        Predicted labels (from those of `y_true`).
    y_score : array-like of float, shape (n_samples,), optional
        Scores (higher = more likely `positive`) for the AUC.
    positive : label, optional
        The positive class.  By default 1 (``True``) for 0/1, -1/1 or boolean labels; other
        labels must name it (labels holding ``"lung"`` still default to it, with a
        ``FutureWarning``, until the next release).
    confidence : float, optional
        E.g. 0.95: add ``<metric>_low`` / ``<metric>_high`` entries, Wilson score intervals
        for the proportions (NaN for a NaN proportion: PPV/NPV of 0/0) and a DeLong (or
        bootstrap) interval for the AUC.
    auc_method : {"delong", "bootstrap"}, default "delong"
        Interval method of the AUC.
    n_bootstrap : int, default 2000
        Resamples for ``auc_method="bootstrap"``.
    rng : int, numpy.random.Generator or None
        Seed of the bootstrap.

    Returns
    -------
    pandas.Series of float
        ``n, tp, fn, tn, fp, accuracy, sensitivity, specificity, ppv, npv`` and, with
        `y_score`, ``auc``; with `confidence`, the interval bounds.

    Raises
    ------
    ValueError
        For a single class in `y_true`, a `positive` that is not one of its labels,
        predicted labels not among them, mismatched lengths, NaN scores, or an unknown
        `auc_method`.
    TypeError
        For scores that are not real numbers (complex, text, objects).

    References
    ----------
    .. [1] N. Lang et al., Magn. Reson. Imaging 64:4-12, 2019, Fig. 6.
           :DOI:`10.1016/j.mri.2019.02.013`
    .. [2] R. G. Newcombe, Stat. Med. 17:857-872, 1998.
    .. [3] E. R. DeLong et al., Biometrics 44:837-845, 1988. :DOI:`10.2307/2531595`

    Examples
    --------
    The paper's Fig. 6 (TP 18, FN 12, TN 30, FP 1):

    >>> y_true = ["lung"] * 30 + ["other"] * 31
    >>> y_pred = ["lung"] * 18 + ["other"] * 12 + ["other"] * 30 + ["lung"]
    >>> m = diagnostic_metrics(y_true, y_pred, positive="lung")
    >>> m[["sensitivity", "specificity", "ppv", "npv", "accuracy"]].round(3).tolist()
    [0.6, 0.968, 0.947, 0.714, 0.787]
    """
    if auc_method not in ("delong", "bootstrap"):
        raise ValueError(f"`auc_method` must be 'delong' or 'bootstrap', got {auc_method!r}")
    positive = _resolve_positive(y_true, positive)
    is_pos, labels = _check_binary(y_true, positive)
    pred = _labels_1d(y_pred, "y_pred")
    if pred.size != is_pos.size:
        raise ValueError(f"`y_pred` has {pred.size} entries but `y_true` has {is_pos.size}")
    unknown = sorted(set(np.unique(pred).tolist()) - set(labels), key=str)
    if unknown:
        raise ValueError(f"`y_pred` holds labels {unknown} that are not in `y_true` ({labels})")
    score = None if y_score is None else _check_scores(y_score, is_pos.size)
    out = _rates(is_pos, pred == positive, score)
    if score is None:
        del out["auc"]
    if confidence is not None:
        conf = _check_confidence(confidence)
        pairs = {
            "accuracy": (out["tp"] + out["tn"], out["n"]),
            "sensitivity": (out["tp"], out["tp"] + out["fn"]),
            "specificity": (out["tn"], out["tn"] + out["fp"]),
            "ppv": (out["tp"], out["tp"] + out["fp"]),
            "npv": (out["tn"], out["tn"] + out["fn"]),
        }
        for key, (k, n) in pairs.items():
            if n == 0:  # the rate itself is undefined (NaN), so is its interval
                out[f"{key}_low"] = out[f"{key}_high"] = np.nan
                continue
            low, high = wilson_interval(k, n, confidence=conf)
            out[f"{key}_low"], out[f"{key}_high"] = float(low), float(high)
        if score is not None:
            _, low_auc, high_auc = auc_confidence_interval(
                y_true, score, positive=positive, confidence=conf, method=auc_method,
                n_bootstrap=n_bootstrap, rng=rng,
            )  # fmt: skip
            out["auc_low"], out["auc_high"] = low_auc, high_auc
    return pd.Series(out, dtype=float, name="diagnostic metrics")


def _format_metric_names(names: Sequence[str]) -> list[str]:
    """Display names used in reports (``ppv`` -> ``PPV``)."""
    pretty = {"ppv": "PPV", "npv": "NPV", "auc": "AUC"}
    return [pretty.get(n, n.capitalize()) for n in names]
