"""CHAID classification trees (Kass 1980), as a scikit-learn classifier.

CHAID (CHi-squared Automatic Interaction Detection) grows a multiway tree.  At each node it
merges the categories of every predictor that the class distribution does not tell apart,
tests the merged predictor against the class with a Bonferroni-adjusted Pearson chi-square
and splits on the most significant predictor.  This module implements the algorithm of
Kass (1980) with the defaults of IBM SPSS ``TREE /METHOD TYPE=CHAID`` and bands continuous
predictors into ordinal categories (deciles of the training data) as SPSS does, so that the
tree reads as thresholds in the features' own units (the paper's Fig. 6).

One concept: the CHAID classifier (the estimator and its tree nodes); its statistics
live in ``_chaid_stats`` and its text/plot export in ``_chaid_export``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from dcemets._conventions import warn_user
from dcemets.classify._chaid_stats import (
    bin_edges,
    bonferroni_multiplier,
    merge_categories,
    pearson_chi2,
)
from dcemets.classify._checks import (
    check_alpha,
    check_classes,
    check_int,
    check_table,
    check_table_and_labels,
)

__all__ = [
    "CHAIDClassifier",
    "CHAIDNode",
    "bin_edges",
    "bonferroni_multiplier",
    "merge_categories",
    "pearson_chi2",
]


@dataclass
class CHAIDNode:
    """One node of a fitted :class:`CHAIDClassifier` (``tree_[node_id]``).

    Attributes
    ----------
    node_id : int
        Index of the node in ``tree_`` (0 is the root; parents precede children).
    depth : int
        Depth of the node (root 0).
    parent : int or None
        ``node_id`` of the parent, ``None`` for the root.
    counts : numpy.ndarray of int, shape (n_classes,)
        Training samples of each class of ``classes_`` in the node.
    interval : tuple of float
        ``(low, high)``: the node holds the samples of the parent's split feature with
        ``low <= x < high`` (``(-inf, inf)`` for the root).
    feature : int or None
        Column of the split feature, ``None`` for a leaf.
    thresholds : numpy.ndarray of float
        Cut points (feature units) separating the children; child ``k`` holds
        ``thresholds[k-1] <= x < thresholds[k]``.
    children : list of int
        ``node_id`` of the children, in increasing feature order.
    chi2, dof, p_value, adjusted_p_value : float
        Pearson chi-square of the merged-predictor x class table of the split, its degrees of
        freedom, p-value, and Bonferroni-adjusted p-value (``nan`` for leaves).
    n_categories, n_groups : int
        Ordinal categories of the split feature present in the node (``c``) and merged
        groups (``r``, the number of children).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros(20), np.ones(20)][:, None] + np.random.default_rng(0).normal(0, 0.1, (40, 1))
    >>> tree = CHAIDClassifier().fit(X, ["a"] * 20 + ["b"] * 20)
    >>> root = tree.tree_[0]
    >>> root.node_id, root.depth, root.counts.tolist(), root.feature, len(root.children)
    (0, 0, [20, 20], 0, 2)
    """

    node_id: int
    depth: int
    parent: int | None
    counts: np.ndarray
    interval: tuple[float, float] = (-np.inf, np.inf)
    feature: int | None = None
    thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))
    children: list[int] = field(default_factory=list)
    chi2: float = np.nan
    dof: int = 0
    p_value: float = np.nan
    adjusted_p_value: float = np.nan
    n_categories: int = 0
    n_groups: int = 0

    @property
    def is_leaf(self) -> bool:
        """Whether the node has no children."""
        return self.feature is None

    @property
    def n_samples(self) -> int:
        """Number of training samples in the node."""
        return int(self.counts.sum())


# --------------------------------------------------------------------------------------------
# NumPy cores
# --------------------------------------------------------------------------------------------


class CHAIDClassifier(ClassifierMixin, BaseEstimator):
    """CHAID decision tree classifier (Kass 1980; SPSS ``TREE`` CHAID).

    Fitting follows Kass (1980) and the IBM SPSS CHAID algorithm:

    1. **Banding.** Each continuous predictor is cut into ordinal categories at the deciles
       of the training data (`n_bins`; a predictor with at most `n_bins` distinct values
       keeps one category per value).  Cut points sit halfway between training values.
    2. **Merging** (per node and predictor). Adjacent categories whose 2 x J class tables are
       least significantly different are merged while the Pearson chi-square p-value of the
       most similar pair exceeds `alpha_merge`; groups smaller than `min_samples_leaf` are
       then merged into their most similar neighbour (``merge_categories``).
    3. **Split test.** The merged predictor (``r`` groups out of ``c`` categories) is tested
       against the class with Pearson's chi-square on the r x J table.  With
       ``bonferroni=True`` the p-value is multiplied by Kass's ordinal multiplier
       ``C(c - 1, r - 1)`` (capped at 1).
    4. **Splitting.** The predictor with the smallest adjusted p-value splits the node into
       ``r`` children (a multiway split) if that p-value is at most `alpha_split`, the node
       holds at least `min_samples_split` samples and is shallower than `max_depth`.

    Leaves predict the class proportions of their training samples (ties go to the first
    class of ``classes_``).

    Parameters
    ----------
    max_depth : int or None, default 2
        Maximum depth (number of split levels); the paper's tree has 2.  ``None``: unlimited.
    alpha_merge : float, default 0.05
        Significance level for merging categories, in (0, 1].
    alpha_split : float, default 0.05
        Significance level of the (adjusted) split p-value, in (0, 1].
    n_bins : int, default 10
        Ordinal categories per continuous predictor (deciles).
    min_samples_split : int, default 10
        Minimum samples in a node for it to be split (SPSS ``MINPARENTSIZE``; SPSS's default
        100 would forbid any split of the paper's 61 cases).
    min_samples_leaf : int, default 5
        Minimum samples in a child (SPSS ``MINCHILDSIZE``, default 50 there).
    bonferroni : bool, default True
        Apply Kass's Bonferroni adjustment to split p-values (SPSS default).

    Attributes
    ----------
    classes_ : numpy.ndarray, shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen in `fit`.
    feature_names_in_ : numpy.ndarray of str
        Column names, when `X` was a DataFrame with string column names.
    bin_edges_ : list of numpy.ndarray
        Cut points of each feature (feature units), see ``dcemets.classify.chaid.bin_edges``.
    tree_ : list of CHAIDNode
        The nodes, root first.
    feature_importances_ : numpy.ndarray, shape (n_features,)
        Decrease of Gini impurity brought by each feature's splits, weighted by the fraction
        of training samples reaching the node, normalised to sum to 1 (all zeros for a tree
        without splits); comparable with scikit-learn's trees.

    See Also
    --------
    dcemets.classify.hotspot_chaid : The paper's configuration on the hot-spot heuristics.

    Notes
    -----
    Kass (1980) merges two categories as long as they are not significantly different, also
    when only two are left (SPSS tests a two-category predictor at `alpha_split` instead);
    the two agree when ``alpha_merge == alpha_split``.  The PyPI package ``CHAID`` (Rambatino)
    merges the same way but does not adjust p-values, band continuous predictors or predict
    new data; the test-suite checks that both build the same tree from the same categories.

    References
    ----------
    .. [1] G. V. Kass, "An exploratory technique for investigating large quantities of
           categorical data", Appl. Stat. 29(2):119-127, 1980. :DOI:`10.2307/2986296`
    .. [2] D. Biggs, B. de Ville, E. Suen, "A method of choosing multiway partitions for
           classification and decision trees", J. Appl. Stat. 18(1):49-62, 1991.
           :DOI:`10.1080/02664769100000005`
    .. [3] IBM SPSS Statistics Algorithms, "TREE algorithms: CHAID and Exhaustive CHAID".
    .. [4] N. Lang et al., "Differentiation of spinal metastases originated from lung and
           other cancers using radiomics and deep learning based on DCE-MRI", Magn. Reson.
           Imaging 64:4-12, 2019, section 2.3 and Fig. 6. :DOI:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2))
    >>> y = np.where(x[:, 0] > 0.3, "a", "b")
    >>> clf = CHAIDClassifier(max_depth=1).fit(x, y)
    >>> from dcemets.classify import export_text
    >>> print(export_text(clf, feature_names=["washout", "max_se"]))
    [0] all  n = 200: a 72 (36.0%), b 128 (64.0%) -> b
    |   split on washout: chi2 = 179.17, df = 2, p = 1.2e-39, adj. p = 4.5e-38
    |--- [1] washout < 0.18  n = 120: a 0 (0.0%), b 120 (100.0%) -> b
    |--- [2] 0.18 <= washout < 0.37  n = 20: a 12 (60.0%), b 8 (40.0%) -> a
    |--- [3] washout >= 0.37  n = 60: a 60 (100.0%), b 0 (0.0%) -> a
    >>> clf.predict([[0.5, 0.0], [-1.0, 0.0]])
    array(['a', 'b'], dtype='<U1')
    >>> clf.feature_importances_
    array([1., 0.])
    """

    def __init__(
        self,
        *,
        max_depth: int | None = 2,
        alpha_merge: float = 0.05,
        alpha_split: float = 0.05,
        n_bins: int = 10,
        min_samples_split: int = 10,
        min_samples_leaf: int = 5,
        bonferroni: bool = True,
    ) -> None:
        self.max_depth = max_depth
        self.alpha_merge = alpha_merge
        self.alpha_split = alpha_split
        self.n_bins = n_bins
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.bonferroni = bonferroni

    # -- parameter validation ----------------------------------------------------------------
    def _check_params(self) -> None:
        if self.max_depth is not None:
            check_int(self.max_depth, "max_depth", minimum=0)
        for name in ("alpha_merge", "alpha_split"):
            check_alpha(getattr(self, name), name)
        check_int(self.n_bins, "n_bins", minimum=2)
        check_int(self.min_samples_split, "min_samples_split", minimum=2)
        check_int(self.min_samples_leaf, "min_samples_leaf", minimum=1)
        if not isinstance(self.bonferroni, (bool, np.bool_)):
            raise TypeError(f"`bonferroni` must be a bool, got {self.bonferroni!r}")

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> CHAIDClassifier:
        """Grow the tree on training data.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Finite predictor values (any units; no NaN).
        y : array-like, shape (n_samples,)
            Class labels (at least two classes).

        Returns
        -------
        CHAIDClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            For a `X` that is not a non-empty 2-D table, NaN/inf or complex values in `X`, a
            `y` that is not one label per row of `X`, missing (NaN/None) labels, a continuous
            or single-class `y`, or invalid parameters.
        TypeError
            For a `X` holding text (also numeric strings: read the table as numbers).
        """
        self._check_params()
        check_table_and_labels(X, y, type(self).__name__)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass"):
            raise ValueError(f"`y` must hold class labels, got target type {type_of_target(y)!r}")
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        check_classes(self.classes_, "CHAID")
        self.bin_edges_ = [bin_edges(X[:, j], self.n_bins) for j in range(X.shape[1])]
        codes = np.column_stack(
            [np.searchsorted(e, X[:, j], side="right") for j, e in enumerate(self.bin_edges_)]
        )
        n_classes = self.classes_.size
        self.tree_: list[CHAIDNode] = []
        max_depth = np.inf if self.max_depth is None else self.max_depth
        # breadth-first growth: parents always precede children in tree_
        queue: list[tuple[np.ndarray, int | None, int, tuple[float, float]]] = [
            (np.arange(y_enc.size), None, 0, (-np.inf, np.inf))
        ]
        while queue:
            idx, parent, depth, interval = queue.pop(0)
            node = CHAIDNode(
                node_id=len(self.tree_),
                depth=depth,
                parent=parent,
                counts=np.bincount(y_enc[idx], minlength=n_classes),
                interval=interval,
            )
            self.tree_.append(node)
            if parent is not None:
                self.tree_[parent].children.append(node.node_id)
            if depth >= max_depth or idx.size < self.min_samples_split or np.count_nonzero(node.counts) < 2:
                continue
            split = self._best_split(codes[idx], y_enc[idx], n_classes)
            if split is None or split["adjusted_p_value"] > self.alpha_split:
                continue
            j = split["feature"]
            node.feature = j
            node.thresholds = split["thresholds"]
            for key in ("chi2", "dof", "p_value", "adjusted_p_value", "n_categories", "n_groups"):
                setattr(node, key, split[key])
            child_of = np.searchsorted(node.thresholds, X[idx, j], side="right")
            bounds = np.concatenate([[-np.inf], node.thresholds, [np.inf]])
            for k in range(node.thresholds.size + 1):
                queue.append((idx[child_of == k], node.node_id, depth + 1, (bounds[k], bounds[k + 1])))
        self.feature_importances_ = self._importances(X.shape[1])
        return self

    def _best_split(self, codes: np.ndarray, y_enc: np.ndarray, n_classes: int) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        for j in range(codes.shape[1]):
            cats, inv = np.unique(codes[:, j], return_inverse=True)
            if cats.size < 2:
                continue
            table = np.bincount(inv * n_classes + y_enc, minlength=cats.size * n_classes).reshape(
                cats.size, n_classes
            )
            table = table[:, table.sum(axis=0) > 0]
            groups = merge_categories(table, alpha_merge=self.alpha_merge, min_size=self.min_samples_leaf)
            if len(groups) < 2:
                continue
            merged = np.array([table[a:b].sum(axis=0) for a, b in groups])
            chi2, dof, p = pearson_chi2(merged)
            adj = min(1.0, p * bonferroni_multiplier(cats.size, len(groups))) if self.bonferroni else p
            if (
                best is None
                or adj < best["adjusted_p_value"]
                or (adj == best["adjusted_p_value"] and chi2 > best["chi2"])
            ):
                first_codes = cats[[a for a, _ in groups[1:]]]
                best = {
                    "feature": j,
                    "thresholds": np.asarray(self.bin_edges_[j][first_codes - 1], dtype=float),
                    "chi2": chi2,
                    "dof": dof,
                    "p_value": p,
                    "adjusted_p_value": adj,
                    "n_categories": int(cats.size),
                    "n_groups": len(groups),
                }
        return best

    def _importances(self, n_features: int) -> np.ndarray:
        def gini(c: np.ndarray) -> float:
            p = c / c.sum()
            return float(1.0 - (p**2).sum())

        imp = np.zeros(n_features)
        n_total = self.tree_[0].n_samples
        for node in self.tree_:
            if node.feature is None:
                continue
            dec = node.n_samples * gini(node.counts)
            for c in node.children:
                child = self.tree_[c]
                if child.n_samples:
                    dec -= child.n_samples * gini(child.counts)
            imp[node.feature] += dec / n_total
        total = imp.sum()
        return imp / total if total > 0 else imp

    # -- prediction ------------------------------------------------------------------------
    def apply(self, X: Any) -> np.ndarray:
        """Return the leaf ``node_id`` that each sample falls into.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Finite predictor values, same columns as in `fit`.

        Returns
        -------
        numpy.ndarray of int, shape (n_samples,)
            For each sample, the ``node_id`` of its leaf (an index into ``tree_``).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        ValueError
            For a `X` that is not a non-empty 2-D table, NaN/inf or complex values, or a wrong
            number of features.
        TypeError
            For a `X` holding text (also numeric strings).
        """
        check_is_fitted(self, "tree_")
        check_table(X, type(self).__name__)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        node_of = np.zeros(X.shape[0], dtype=np.intp)
        for node in self.tree_:
            if node.feature is None:
                continue
            here = np.flatnonzero(node_of == node.node_id)
            k = np.searchsorted(node.thresholds, X[here, node.feature], side="right")
            node_of[here] = np.asarray(node.children, dtype=np.intp)[k]
        return node_of

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities: the class proportions of the sample's leaf.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Finite predictor values.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
            Columns in the order of ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        ValueError
            For a `X` that is not a non-empty 2-D table, NaN/inf or complex values, or a wrong
            number of features.
        TypeError
            For a `X` holding text (also numeric strings).
        """
        leaves = self.apply(X)
        counts = np.stack([n.counts for n in self.tree_]).astype(float)
        return counts[leaves] / counts[leaves].sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predict the majority class of the sample's leaf.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Finite predictor values.

        Returns
        -------
        numpy.ndarray, shape (n_samples,)
            Labels from ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        ValueError
            For a `X` that is not a non-empty 2-D table, NaN/inf or complex values, or a wrong
            number of features.
        TypeError
            For a `X` holding text (also numeric strings).
        """
        check_is_fitted(self, "tree_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # -- reporting (deprecated methods) -------------------------------------------------------
    def export_text(self, **kwargs: Any) -> str:
        """Deprecated: use :func:`dcemets.classify.export_text` ``(tree, ...)``.

        Parameters
        ----------
        **kwargs
            Passed on to :func:`dcemets.classify.export_text`.

        Returns
        -------
        str
            The tree as indented text, as :func:`dcemets.classify.export_text` gives it.

        Warns
        -----
        DeprecationWarning
            At every call: the method will be removed in the next release.
        """
        from dcemets.classify._chaid_export import export_text

        warn_user(
            "CHAIDClassifier.export_text() is deprecated and will be removed in the next release; "
            "use dcemets.classify.export_text(tree, ...)",
            DeprecationWarning,
        )
        return export_text(self, **kwargs)

    def plot_tree(self, ax: Any = None, **kwargs: Any) -> Any:
        """Deprecated: use :func:`dcemets.classify.plot_tree` ``(tree, ax=...)``.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw into (default: a new figure).
        **kwargs
            Passed on to :func:`dcemets.classify.plot_tree`.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn into, as :func:`dcemets.classify.plot_tree` returns them.

        Warns
        -----
        DeprecationWarning
            At every call: the method will be removed in the next release.
        """
        from dcemets.classify._chaid_export import plot_tree

        warn_user(
            "CHAIDClassifier.plot_tree() is deprecated and will be removed in the next release; "
            "use dcemets.classify.plot_tree(tree, ax=...)",
            DeprecationWarning,
        )
        return plot_tree(self, ax, **kwargs)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
