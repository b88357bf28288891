"""Random-forest feature ranking and the paper's top-k logistic-regression search (Table 2)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from dcemets.classify._checks import (
    check_classes,
    check_int_sequence,
    check_labels_present,
    check_seed,
    check_table_and_labels,
    real_array,
)

__all__ = ["FAMILIES", "ForestRanker", "SearchResult", "radiomics_search"]

FAMILIES: dict[str, tuple[str, ...]] = {
    "both": ("_hist_", "_glcm_"),
    "histogram": ("_hist_",),
    "texture": ("_glcm_",),
}
"""Feature families of :func:`radiomics_search`: substrings of the column names they keep."""

PROTOCOLS = ("leak-free", "paper")


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


@dataclass
class SearchResult:
    """Outcome of :func:`radiomics_search`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (family, k): ``family``, ``k``, ``protocol``, ``accuracy`` and ``auc``
        (pooled out-of-fold predictions of the stratified CV), ``auc_fold_mean`` (mean of
        the per-fold AUCs), ``accuracy_resubstitution`` (the final model, fitted and scored
        on all cases, as the paper's last step: optimistic), ``features`` (tuple of the top-k
        names ranked on all cases: the final model's features), ``stability`` (leak-free
        protocol: mean Jaccard index between each fold's top-k and ``features``; NaN for the
        paper protocol) and ``best`` (highest AUC of its family, ties to the smaller k).
    importances : pandas.DataFrame
        Forest importances (ranked on all cases), one row per family, NaN for features
        outside the family.
    oof : pandas.DataFrame
        Out-of-fold scores: ``family``, ``k``, ``sample`` (row position in `X`), ``fold``,
        ``y_true`` (1 = positive class), ``y_score``.
    protocol : str
        ``"leak-free"`` or ``"paper"``.
    positive : object
        The positive class label.
    """

    table: pd.DataFrame
    importances: pd.DataFrame
    oof: pd.DataFrame
    protocol: str
    positive: Any
    fold_rankings: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def best(self) -> pd.DataFrame:
        """The best row (highest AUC) of each family, indexed by family."""
        return self.table[self.table["best"]].set_index("family")

    def to_table2(self, ks: Sequence[int] | None = None) -> pd.DataFrame:
        """Paper-style Table 2: rows ``k features``, columns families, ``accuracy (features)``.

        Parameters
        ----------
        ks : sequence of int, optional
            Rows to show (default all searched k; the paper shows 3 and 5).

        Returns
        -------
        pandas.DataFrame
            Strings such as ``"0.68 (washout_hist_p90, ...)"``.
        """
        t = self.table if ks is None else self.table[self.table["k"].isin(list(ks))]
        cells = t.assign(
            cell=[f"{a:.2f} ({', '.join(f)})" for a, f in zip(t["accuracy"], t["features"], strict=True)]
        )
        out = cells.pivot(index="k", columns="family", values="cell")
        out.index = [f"{k} features" for k in out.index]
        order = [f for f in ("both", "histogram", "texture") if f in out.columns]
        return out[order + [c for c in out.columns if c not in order]]


def _family_columns(names: list[str], family: str) -> list[int]:
    keys = FAMILIES[family]
    return [i for i, n in enumerate(names) if any(k in n for k in keys)]


def _scores(
    model: Pipeline, X: np.ndarray, y01: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    m = clone(model).fit(X[train], y01[train])
    return m.predict_proba(X[test])[:, 1]


def radiomics_search(
    X: Any,
    y: Any,
    *,
    family: str | Sequence[str] = "both",
    k_range: Sequence[int] = range(3, 11),
    protocol: str = "leak-free",
    n_splits: int = 10,
    random_state: int | None = None,
    positive: Any = None,
    n_estimators: int = 500,
    max_samples: float = 0.6,
    estimator: Any = None,
    progress: bool = False,
    checkpoint: Any = None,
) -> SearchResult:
    """The paper's radiomics model search: forest ranking, top-k logistic regression, 10-fold CV.

    Lang et al. (2019, section 2.5, Table 2): features are ranked by a random forest
    (:class:`ForestRanker`, 500 trees, ~60 % of cases per tree, out-of-bag loss of
    accuracy); the top 3, 4, ... 10 features feed a logistic regression on standardised
    features; each is evaluated by stratified 10-fold cross-validation (3 lung + 3 other
    cases per test fold with 30 + 31 cases) and the model with the highest AUC is kept; this
    is done for histogram features only, texture features only, and both.

    Two protocols:

    * ``"leak-free"`` (default): the forest ranking is redone inside every training fold,
      so the test cases never influence which features are chosen.  The reported features
      are those of the ranking on all cases (the final model), with their fold-to-fold
      ``stability``.
    * ``"paper"``: rank once on all cases, then cross-validate only the logistic regression,
      as the paper describes.  The test folds have then already been used to choose the
      features, so its accuracy and AUC are optimistically biased (selection bias, Ambroise &
      McLachlan 2002); use it to reproduce the paper, not to estimate performance.

    Accuracy (threshold 0.5) and AUC are computed on the pooled out-of-fold predictions.

    Parameters
    ----------
    X : pandas.DataFrame or array_like, shape (n_samples, n_features)
        Feature table, e.g. from :func:`dcemets.radiomics.extract_cohort`.  Families are
        found from the column names (``_hist_`` / ``_glcm_``); an array is only accepted
        with ``family="both"``.
    y : array_like, shape (n_samples,)
        Two class labels (e.g. ``"lung"`` / ``"other"``).
    family : str or sequence of str
        ``"both"`` (default), ``"histogram"``, ``"texture"``, a sequence of these, or
        ``"all"`` for the three columns of Table 2.
    k_range : sequence of int
        Numbers of top features tried, default 3..10.
    protocol : {"leak-free", "paper"}
        See above; default ``"leak-free"``.
    n_splits : int
        Stratified folds, default 10.
    random_state : int or None
        Seed of the folds (shuffled) and of the forests.
    positive : label, optional
        Positive class for the AUC: ``"lung"`` when present, else the larger label.
    n_estimators, max_samples
        :class:`ForestRanker` settings (defaults 500 and 0.6, the paper's).
    estimator : sklearn classifier, optional
        Model on the selected features; default
        ``make_pipeline(StandardScaler(), LogisticRegression())`` (L2, C = 1).
    progress : bool
        Show a tqdm progress bar over families and folds.
    checkpoint : object, optional
        Checkpoints of the forest rankings (the costly part), for a search that may be
        interrupted: any object with ``get(key) -> dict | None`` and ``put(key, dict)`` (e.g.
        :class:`dcemets.study.FoldStore`).  Each ranking (per family, on all cases and in each
        training fold) is looked up before it is grown and stored after.  The caller must give
        a store specific to `X`, `y` and the settings (the keys cover only the family, the fold
        and the forest's seed).

    Returns
    -------
    SearchResult
        ``.table`` (tidy, one row per family and k), ``.best``, ``.to_table2()``,
        ``.importances``, ``.oof``.

    Raises
    ------
    ValueError
        A `X` that is not a non-empty 2-D table, NaN, infinite or complex values in `X`, a
        `y` that is not one label per row of `X`, missing labels, not two classes, a class
        smaller than `n_splits`, unknown family/protocol, a family without columns, k
        outside ``[1, n_features]``, a bad `random_state`.
    TypeError
        A `X` holding text (also numeric strings), a `family` that is neither a name nor a
        sequence of names, a `k_range` that is not a sequence of ints, a `checkpoint`
        without ``get``/``put``.

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12, :doi:`10.1016/j.mri.2019.02.013`,
           section 2.5 and Table 2.
    .. [2] Ambroise C, McLachlan GJ. Selection bias in gene extraction on the basis of
           microarray gene-expression data. PNAS 2002;99:6562-6566,
           :doi:`10.1073/pnas.102102699`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["lung"] * 20 + ["other"] * 20)
    >>> X = pd.DataFrame(rng.normal(size=(40, 6)), columns=[
    ...     "washout_hist_p90", "washout_hist_mean", "max_se_hist_sd",
    ...     "washout_glcm_contrast", "max_se_glcm_energy", "wash_in_glcm_entropy"])
    >>> X["washout_hist_p90"] += 1.5 * (y == "lung")
    >>> res = radiomics_search(X, y, family="all", k_range=[1, 2], n_splits=5,
    ...                        n_estimators=30, random_state=0)
    >>> res.table[["family", "k"]].shape
    (6, 2)
    >>> res.best.loc["histogram", "features"][0]
    'washout_hist_p90'
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got {protocol!r}")
    if checkpoint is not None and not (
        callable(getattr(checkpoint, "get", None)) and callable(getattr(checkpoint, "put", None))
    ):
        raise TypeError(
            f"`checkpoint` must have get(key) and put(key, value) methods, got {type(checkpoint).__name__}"
        )
    if isinstance(family, str) and family == "all":
        families: list[str] = ["both", "histogram", "texture"]
    elif isinstance(family, str):
        families = [family]
    elif isinstance(family, Iterable):
        families = list(family)
    else:
        raise TypeError(f"`family` must be one of {(*FAMILIES, 'all')} or a sequence of them, got {family!r}")
    for fam in families:
        if fam not in FAMILIES:
            raise ValueError(
                f"`family` must be one of {(*FAMILIES, 'all')} or a sequence of them, got {fam!r}"
            )
    check_table_and_labels(X, y, "radiomics_search")
    Xa = real_array(X, "X")
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
    else:
        if Xa.ndim != 2:
            raise ValueError(f"`X` must be 2D (n_samples, n_features), got shape {Xa.shape}")
        if families != ["both"]:
            raise ValueError("`X` needs named columns (a DataFrame) to select histogram/texture families")
        names = [f"x{i}" for i in range(Xa.shape[1])]
        families_cols = {"both": list(range(Xa.shape[1]))}
    if not np.all(np.isfinite(Xa)):
        raise ValueError("`X` contains NaN or infinite values; drop or impute those cases first")
    ya = np.asarray(y)
    if ya.ndim != 1 or ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"`y` must be 1D with {Xa.shape[0]} labels, got shape {ya.shape}")
    check_labels_present(ya)
    classes = np.unique(ya)
    if classes.size != 2:
        raise ValueError(f"`y` must have exactly 2 classes, got {classes.tolist()}")
    if positive is None:
        positive = "lung" if "lung" in classes.tolist() else classes[1]
    if positive not in classes.tolist():
        raise ValueError(f"`positive` {positive!r} is not one of the classes {classes.tolist()}")
    y01 = (ya == positive).astype(int)
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ValueError(f"`n_splits` must be an int >= 2, got {n_splits!r}")
    if np.bincount(y01).min() < n_splits:
        raise ValueError(
            f"each class needs at least `n_splits`={n_splits} cases, got {np.bincount(y01).tolist()}"
        )
    ks = check_int_sequence(k_range, "k_range", minimum=1)
    if isinstance(X, pd.DataFrame):
        families_cols = {f: _family_columns(names, f) for f in families}
    for fam in families:
        if not families_cols[fam]:
            raise ValueError(f"no column of `X` belongs to family {fam!r} (looked for {FAMILIES[fam]})")
        if max(ks) > len(families_cols[fam]) or min(ks) < 1:
            raise ValueError(
                f"`k_range` must lie in [1, {len(families_cols[fam])}] for family {fam!r}, got {ks[0]}..{ks[-1]}"
            )
    model = make_pipeline(StandardScaler(), LogisticRegression()) if estimator is None else estimator
    rng = check_seed(random_state)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=int(rng.randint(2**31 - 1)))
    folds = list(cv.split(Xa, y01))
    n = Xa.shape[0]

    def ranker(seed: int) -> ForestRanker:
        return ForestRanker(n_estimators=n_estimators, max_samples=max_samples, random_state=seed)

    def ranking(key: str, seed: int, Xr: np.ndarray, yr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(order_, feature_importances_) of a forest, from the checkpoint when stored."""
        key = f"{key}-seed{seed}"
        stored = checkpoint.get(key) if checkpoint is not None else None
        if stored is not None:
            return np.asarray(stored["order"], dtype=np.intp), np.asarray(stored["importances"], dtype=float)
        r = ranker(seed).fit(Xr, yr)
        if checkpoint is not None:
            checkpoint.put(key, {"order": r.order_.tolist(), "importances": r.feature_importances_.tolist()})
        return r.order_, r.feature_importances_

    rows: list[dict[str, Any]] = []
    oof_parts: list[pd.DataFrame] = []
    importances: dict[str, pd.Series] = {}
    fold_rankings: dict[str, pd.DataFrame] = {}
    total = len(families) * (1 + (len(folds) if protocol == "leak-free" else 0))
    with tqdm(total=total, desc="radiomics search", disable=not progress) as bar:
        for fam in families:
            cols = np.asarray(families_cols[fam])
            Xf = Xa[:, cols]
            fam_names = [names[c] for c in cols]
            full_order, full_imp = ranking(f"{fam}-all", int(rng.randint(2**31 - 1)), Xf, ya)
            bar.update(1)
            importances[fam] = pd.Series(full_imp, index=fam_names)
            if protocol == "leak-free":
                orders = []
                imps = []
                for f, (train, _test) in enumerate(folds):
                    order, imp = ranking(f"{fam}-fold{f}", int(rng.randint(2**31 - 1)), Xf[train], ya[train])
                    orders.append(order)
                    imps.append(imp)
                    bar.update(1)
                fold_rankings[fam] = pd.DataFrame(imps, columns=fam_names).rename_axis("fold")
            else:
                orders = [full_order] * len(folds)
            fam_rows = []
            for k in ks:
                score = np.empty(n)
                fold_of = np.empty(n, dtype=int)
                fold_auc = []
                jacc = []
                final = set(full_order[:k].tolist())
                for f, ((train, test), order) in enumerate(zip(folds, orders, strict=True)):
                    sel = order[:k]
                    s = _scores(model, Xf[:, sel], y01, train, test)
                    score[test] = s
                    fold_of[test] = f
                    if np.unique(y01[test]).size == 2:
                        fold_auc.append(roc_auc_score(y01[test], s))
                    chosen = set(sel.tolist())
                    jacc.append(len(chosen & final) / len(chosen | final))
                final_cols = full_order[:k]
                fitted = clone(model).fit(Xf[:, final_cols], y01)
                resub = float((fitted.predict(Xf[:, final_cols]) == y01).mean())
                fam_rows.append(
                    {
                        "family": fam,
                        "k": k,
                        "protocol": protocol,
                        "accuracy": float(((score >= 0.5).astype(int) == y01).mean()),
                        "auc": float(roc_auc_score(y01, score)),
                        "auc_fold_mean": float(np.mean(fold_auc)) if fold_auc else float("nan"),
                        "accuracy_resubstitution": resub,
                        "features": tuple(fam_names[c] for c in final_cols),
                        "stability": float(np.mean(jacc)) if protocol == "leak-free" else float("nan"),
                    }
                )
                oof_parts.append(
                    pd.DataFrame(
                        {
                            "family": fam,
                            "k": k,
                            "sample": np.arange(n),
                            "fold": fold_of,
                            "y_true": y01,
                            "y_score": score,
                        }
                    )
                )
            aucs = np.array([r["auc"] for r in fam_rows])
            best = int(np.flatnonzero(aucs == aucs.max())[0])
            for i, r in enumerate(fam_rows):
                r["best"] = i == best
            rows.extend(fam_rows)
    table = pd.DataFrame(rows)
    imp = pd.DataFrame(importances).T.reindex(columns=names)
    imp.index.name = "family"
    return SearchResult(
        table=table,
        importances=imp,
        oof=pd.concat(oof_parts, ignore_index=True),
        protocol=protocol,
        positive=positive,
        fold_rankings=fold_rankings,
    )
