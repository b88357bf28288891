"""The paper's hot-spot classifiers: CHAID tree and logistic regression on the DCE heuristics.

Both take the three hot-spot heuristics of Lang et al. (2019), section 2.3, as columns in the
order of ``HEURISTIC_FEATURES`` (a DataFrame with these column names, or an array):
steepest wash-in SE ratio (%), maximum SE ratio (%) and wash-out slope (%), as computed by
:func:`dcemets.kinetics.heuristics` on a hot-spot ROI curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dcemets.classify._checks import check_classes, check_int, check_table, check_table_and_labels
from dcemets.classify.chaid import CHAIDClassifier

__all__ = ["HEURISTIC_FEATURES", "hotspot_chaid", "hotspot_logistic"]

HEURISTIC_FEATURES: tuple[str, str, str] = ("wash_in", "max_se", "washout")
"""Column names (and order) of the hot-spot heuristics the paper classifies on (all in %)."""


class HotspotLogistic(Pipeline):
    """The :func:`hotspot_logistic` pipeline: a Pipeline whose shape errors name `X` and `y`."""

    def fit(self, X: Any, y: Any = None, **params: Any) -> HotspotLogistic:
        """Check `X` and `y`, then fit the pipeline (:meth:`sklearn.pipeline.Pipeline.fit`)."""
        check_table_and_labels(X, y, "hotspot_logistic")
        if y is not None:
            check_classes(np.unique(np.asarray(y).ravel()), "the logistic regression")
        super().fit(X, y, **params)
        return self

    def predict(self, X: Any, **params: Any) -> Any:
        """Check `X`, then predict (:meth:`sklearn.pipeline.Pipeline.predict`)."""
        check_table(X, "hotspot_logistic")
        return super().predict(X, **params)

    def predict_proba(self, X: Any, **params: Any) -> Any:
        """Check `X`, then class probabilities (:meth:`sklearn.pipeline.Pipeline.predict_proba`)."""
        check_table(X, "hotspot_logistic")
        return super().predict_proba(X, **params)

    def decision_function(self, X: Any, **params: Any) -> Any:
        """Check `X`, then decision scores (:meth:`sklearn.pipeline.Pipeline.decision_function`)."""
        check_table(X, "hotspot_logistic")
        return super().decision_function(X, **params)


def hotspot_logistic(*, C: float = np.inf, max_iter: int = 1000) -> Pipeline:
    """Logistic regression on the hot-spot heuristics (the paper's 0.74 model).

    The paper fits an ordinary (unpenalised) logistic regression on the three heuristics,
    as statistical packages do; the features are standardised first so the solver converges
    whatever the units.  Standardising does not change an unpenalised fit's predictions.

    Parameters
    ----------
    C : float, default inf
        Inverse L2 penalty of ``sklearn.linear_model.LogisticRegression``; ``inf`` is
        the unpenalised maximum-likelihood fit.  Pass e.g. ``C=1.0`` to regularise a
        separable data set.
    max_iter : int, default 1000
        Solver iterations (at least 1).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``StandardScaler -> LogisticRegression`` (steps ``"scale"``, ``"logistic"``), unfitted;
        a :class:`~sklearn.pipeline.Pipeline` subclass whose `fit` and `predict` report a
        1-D/3-D/empty `X` or a `y` of the wrong length naming the argument.

    Raises
    ------
    ValueError
        If `C` is not a positive number or `max_iter` < 1.
    TypeError
        If `max_iter` is not an int.

    References
    ----------
    .. [1] N. Lang et al., Magn. Reson. Imaging 64:4-12, 2019, section 2.3.
           :DOI:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"wash_in": [150, 140, 160, 130, 150, 145],
    ...                   "max_se": [240, 230, 250, 200, 210, 220],
    ...                   "washout": [1.0, -12.0, 2.0, -15.0, -3.0, -1.0]})
    >>> y = ["lung", "other", "lung", "other", "other", "lung"]
    >>> model = hotspot_logistic(C=1.0).fit(X, y)
    >>> model.predict(X.iloc[:2]).tolist()
    ['lung', 'other']
    """
    if not isinstance(C, (int, float, np.integer, np.floating)) or not float(C) > 0:
        raise ValueError(f"`C` must be a positive number (inf: no penalty), got {C!r}")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    return HotspotLogistic(
        [("scale", StandardScaler()), ("logistic", LogisticRegression(C=float(C), max_iter=max_iter))]
    )


def hotspot_chaid(
    *,
    max_depth: int = 2,
    min_samples_split: int = 10,
    min_samples_leaf: int = 5,
    alpha_merge: float = 0.05,
    alpha_split: float = 0.05,
) -> CHAIDClassifier:
    """CHAID tree on the hot-spot heuristics (the paper's 0.79 model, Fig. 6).

    The paper reports a two-level tree (wash-out slope at -6.6 %, then maximum SE at 98 %);
    SPSS's default node sizes (100 / 50) forbid any split of 61 cases, so the study must have
    lowered them; the defaults here (10 / 5) let a 61-case cohort split twice.

    Parameters
    ----------
    max_depth : int, default 2
        Split levels.
    min_samples_split : int, default 10
        Minimum node size for a split.
    min_samples_leaf : int, default 5
        Minimum child size.
    alpha_merge, alpha_split : float, default 0.05
        Merging and splitting significance levels (SPSS defaults).

    Returns
    -------
    CHAIDClassifier
        Unfitted, deciles banding, Bonferroni adjustment on.

    References
    ----------
    .. [1] N. Lang et al., Magn. Reson. Imaging 64:4-12, 2019, section 3.1 and Fig. 6.
           :DOI:`10.1016/j.mri.2019.02.013`
    .. [2] G. V. Kass, Appl. Stat. 29(2):119-127, 1980. :DOI:`10.2307/2986296`

    Examples
    --------
    >>> hotspot_chaid()
    CHAIDClassifier()
    >>> hotspot_chaid(max_depth=1).max_depth
    1
    """
    return CHAIDClassifier(
        max_depth=max_depth,
        alpha_merge=alpha_merge,
        alpha_split=alpha_split,
        n_bins=10,
        min_samples_split=min_samples_split,
        min_samples_leaf=min_samples_leaf,
        bonferroni=True,
    )
