"""Random-forest feature ranking (Lang et al. 2019, section 2.5).

The top-k search of Table 2 that uses it is :func:`dcemets.evaluation.radiomics_search`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from dcemets.classify._checks import (
    check_classes,
    check_table_and_labels,
)

__all__ = ["ForestRanker"]


def __getattr__(name: str) -> Any:
    """The search's names, moved to :mod:`dcemets.evaluation.search` (deprecated here)."""
    from dcemets.classify._moved import moved

    return moved(name, __name__)


class ForestRanker(SelectorMixin, BaseEstimator):
    """Rank features by random-forest out-of-bag permutation loss of accuracy; keep the top `k`.

    The paper's criterion (Lang et al. 2019, section 2.5): a forest of `n_estimators` trees is
    grown on random samples of about 60 % of the cases, and "the significance of a feature
    could be assessed as the loss of accuracy after this feature was removed".  This is
    Breiman's permutation importance: for every tree, the accuracy on its **out-of-bag**
    cases (those not drawn for it) minus the accuracy on the same cases with one feature's
    values randomly permuted among them; the importance is the mean over trees
    (``feature_importances_``, unscaled mean decrease in accuracy).  Each tree is a CART
    tree grown to purity with ``max_features`` candidate features per split, as in a random
    forest.

    Parameters
    ----------
    n_estimators : int
        Number of trees, default 500 (the paper's).
    max_samples : float or int
        Cases drawn per tree: a fraction of the cases (float in (0, 1]) or a count.
        Default 0.6 (the paper's "approximately 60 % of cases").
    k : int
        Number of features kept by :meth:`transform` (top of the ranking), default 5; more
        than the number of features keeps them all.
    bootstrap : bool
        Draw with replacement (sklearn's bootstrap with ``max_samples``) instead of a
        sub-sample without replacement (default, the literal reading of the paper).  Breiman's
        original forest is ``bootstrap=True, max_samples=1.0`` (63 % distinct cases).
    max_features : int, float, "sqrt", "log2" or None
        Candidate features per split (``DecisionTreeClassifier``), default ``"sqrt"``.
    random_state : int, RandomState or None
        Seed of the draws, the trees and the permutations.

    Attributes
    ----------
    feature_importances_ : ndarray, shape (n_features,)
        Mean out-of-bag loss of accuracy when the feature is permuted.
    importances_std_ : ndarray, shape (n_features,)
        Its standard deviation over trees.
    ranking_ : ndarray of int, shape (n_features,)
        Rank of each feature, 1 = most important (ties broken by column order).
    order_ : ndarray of int, shape (n_features,)
        Column indices from most to least important.
    oob_accuracy_ : float
        Mean out-of-bag accuracy of the trees (unpermuted).
    classes_ : ndarray
        Class labels.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names, when `X` is a DataFrame with string columns.

    References
    ----------
    .. [1] Breiman L. Random forests. Mach Learn 2001;45:5-32,
           :doi:`10.1023/A:1010933404324`.
    .. [2] Lang N et al. Magn Reson Imaging 2019;64:4-12, :doi:`10.1016/j.mri.2019.02.013`,
           section 2.5.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 6))
    >>> y = (X[:, 2] + 0.3 * rng.normal(size=60) > 0).astype(int)
    >>> ranker = ForestRanker(n_estimators=50, k=2, random_state=0).fit(X, y)
    >>> int(ranker.order_[0])
    2
    >>> ranker.transform(X).shape
    (60, 2)
    """

    def __init__(
        self,
        *,
        n_estimators: int = 500,
        max_samples: float = 0.6,
        k: int = 5,
        bootstrap: bool = False,
        max_features: Any = "sqrt",
        random_state: Any = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.k = k
        self.bootstrap = bootstrap
        self.max_features = max_features
        self.random_state = random_state

    def _check_params(self, n: int) -> int:
        if isinstance(self.n_estimators, bool) or not isinstance(self.n_estimators, numbers.Integral):
            raise TypeError(f"`n_estimators` must be an int, got {type(self.n_estimators).__name__}")
        if self.n_estimators < 1:
            raise ValueError(f"`n_estimators` must be >= 1, got {self.n_estimators}")
        if isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral) or self.k < 1:
            raise ValueError(f"`k` must be an int >= 1, got {self.k!r}")
        ms = self.max_samples
        if isinstance(ms, bool) or not isinstance(ms, numbers.Real):
            raise TypeError(f"`max_samples` must be a float in (0, 1] or an int, got {type(ms).__name__}")
        if isinstance(ms, numbers.Integral):
            if not 1 <= ms <= n:
                raise ValueError(f"`max_samples` as a count must be in [1, {n}], got {ms}")
            return int(ms)
        if not 0 < ms <= 1:
            raise ValueError(f"`max_samples` as a fraction must be in (0, 1], got {ms}")
        return max(1, round(float(ms) * n))

    def fit(self, X: Any, y: Any) -> ForestRanker:
        """Grow the forest and rank the features.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Feature table (finite values).
        y : array_like, shape (n_samples,)
            Class labels.

        Returns
        -------
        ForestRanker
            The fitted ranker.

        Raises
        ------
        ValueError
            A `X` that is not a non-empty 2-D table, non-finite or complex `X`, a `y` that is
            not one label per row of `X`, missing labels, a continuous or single-class `y`,
            bad parameters.
        TypeError
            A `X` holding text (also numeric strings), parameters of the wrong type.
        """
        check_table_and_labels(X, y, type(self).__name__)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        check_classes(self.classes_, "ForestRanker")
        n, p = X.shape
        n_draw = self._check_params(n)
        rng = check_random_state(self.random_state)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        with config_context(skip_parameter_validation=True):
            drops, oob_acc = self._grow(X32, y_enc, n_draw, rng)
        if drops:
            d = np.asarray(drops)
            self.feature_importances_ = d.mean(axis=0)
            self.importances_std_ = d.std(axis=0)
            self.oob_accuracy_ = float(np.mean(oob_acc))
        else:  # every draw took all cases (tiny n): nothing is out of bag
            self.feature_importances_ = np.zeros(p)
            self.importances_std_ = np.zeros(p)
            self.oob_accuracy_ = float("nan")
        self.order_ = np.argsort(-self.feature_importances_, kind="stable")
        self.ranking_ = np.empty(p, dtype=int)
        self.ranking_[self.order_] = np.arange(1, p + 1)
        return self

    def _grow(
        self, X32: np.ndarray, y_enc: np.ndarray, n_draw: int, rng: np.random.RandomState
    ) -> tuple[list[np.ndarray], list[float]]:
        """Grow the trees; per tree, the OOB accuracy and the accuracy drop of each permuted feature."""
        n, p = X32.shape
        cols = np.arange(p)
        y32 = y_enc.astype(np.float64)
        drops: list[np.ndarray] = []
        oob_acc: list[float] = []
        for _ in range(self.n_estimators):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            inbag = rng.choice(n, n_draw, replace=bool(self.bootstrap))
            oob = np.setdiff1d(np.arange(n), inbag)
            if oob.size == 0:
                continue
            tree = DecisionTreeClassifier(max_features=self.max_features, random_state=seed)
            tree.fit(X32[inbag], y32[inbag], check_input=False)
            xo = X32[oob]
            m = oob.size
            # block 0: unpermuted; block j + 1: column j permuted among the OOB cases
            stack = np.broadcast_to(xo, (p + 1, m, p)).copy()
            perm = np.argsort(rng.random_sample((p, m)), axis=1)
            stack[1 + cols[:, None], np.arange(m)[None, :], cols[:, None]] = xo[perm, cols[:, None]]
            pred = tree.predict(stack.reshape(-1, p), check_input=False).reshape(p + 1, m)
            acc = (pred == y_enc[oob][None, :]).mean(axis=1)
            oob_acc.append(float(acc[0]))
            drops.append(acc[0] - acc[1:])
        return drops, oob_acc

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "order_")
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[self.order_[: min(int(self.k), self.n_features_in_)]] = True
        return mask

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags
