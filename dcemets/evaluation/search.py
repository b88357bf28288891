"""The paper's radiomics model search (Table 2): forest ranking, top-k logistic regression.

Lang et al. (2019, section 2.5) rank the radiomics features with a random forest
(:class:`dcemets.classify.ForestRanker`) and keep the logistic regression on the top k
features that cross-validates best.  The search is a pipeline under
:func:`dcemets.evaluation.cross_validate` (the one cross-validation loop of the package); it
lived in ``dcemets.classify`` until issue 17 moved it here, where the cross-validation is.

One concept: the paper's radiomics model search (forest ranking + top-k logistic
regression under cross-validation) and its result.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from dcemets._conventions import NOT_GIVEN, rng_or_random_state
from dcemets.classify import ForestRanker
from dcemets.classify._checks import (
    check_int_sequence,
    check_labels_present,
    check_seed,
    check_table_and_labels,
    real_array,
)
from dcemets.evaluation.crossval import cross_validate
from dcemets.evaluation.metrics import _resolve_positive

__all__ = ["FAMILIES", "SearchResult", "radiomics_search"]

FAMILIES: dict[str, tuple[str, ...]] = {
    "both": ("_hist_", "_glcm_"),
    "histogram": ("_hist_",),
    "texture": ("_glcm_",),
}
"""Feature families of :func:`radiomics_search`: substrings of the column names they keep."""

PROTOCOLS = ("leak-free", "paper")


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
    fold_rankings : dict of str to pandas.DataFrame
        Leak-free protocol: per family, the forest importances of the ranking fitted on each
        training fold (one row per fold, index ``fold``; one column per feature of the
        family), from which that fold's top-k were taken; empty for the paper protocol.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["lung"] * 15 + ["other"] * 15)
    >>> X = pd.DataFrame(rng.normal(size=(30, 2)), columns=["washout_hist_p90", "max_se_glcm_energy"])
    >>> X["washout_hist_p90"] += 2.0 * (y == "lung")
    >>> res = radiomics_search(X, y, family="all", k_range=[1], n_splits=3, n_estimators=20, rng=0,
    ...                        positive="lung")
    >>> res.protocol, res.positive, res.best.index.tolist()
    ('leak-free', 'lung', ['both', 'histogram', 'texture'])
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


class _Rankings:
    """One family's forest rankings, on all cases and per training fold, grown once each.

    Shared by the clones of :class:`_TopK` that :func:`cross_validate` fits (``clone``
    deep-copies parameters, so ``__deepcopy__`` returns the object itself): the forests, the
    costly part, are grown once per training fold and serve every k.  The seeds are drawn
    in advance in the order the search always drew them (all cases, then fold 0, 1, ...),
    so results do not depend on the order in which the folds are fitted.
    """

    def __init__(
        self,
        family: str,
        X: np.ndarray,
        y: np.ndarray,
        folds: list[tuple[np.ndarray, np.ndarray]],
        rng: np.random.RandomState,
        *,
        leak_free: bool,
        n_estimators: int,
        max_samples: float,
        checkpoint: Any,
        bar: Any,
    ) -> None:
        self.family, self.X, self.y = family, X, y
        self.n_estimators, self.max_samples = n_estimators, max_samples
        self.checkpoint, self.bar, self.leak_free = checkpoint, bar, leak_free
        self.full_seed = int(rng.randint(2**31 - 1))
        self.fold_of = {np.sort(train).tobytes(): f for f, (train, _test) in enumerate(folds)}
        self.fold_seeds = [int(rng.randint(2**31 - 1)) for _ in folds] if leak_free else []
        self.trains = [train for train, _test in folds]
        self._done: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> _Rankings:
        return self

    def _ranking(self, key: str, seed: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(order_, feature_importances_) of a forest, from memory or the checkpoint when stored."""
        key = f"{self.family}-{key}-seed{seed}"
        if key in self._done:
            return self._done[key]
        stored = self.checkpoint.get(key) if self.checkpoint is not None else None
        if stored is not None:
            out = np.asarray(stored["order"], dtype=np.intp), np.asarray(stored["importances"], dtype=float)
        else:
            Xr, yr = (self.X, self.y) if rows is None else (self.X[rows], self.y[rows])
            r = ForestRanker(n_estimators=self.n_estimators, max_samples=self.max_samples, random_state=seed)
            r.fit(Xr, yr)
            if self.checkpoint is not None:
                self.checkpoint.put(
                    key, {"order": r.order_.tolist(), "importances": r.feature_importances_.tolist()}
                )
            out = r.order_, r.feature_importances_
        self._done[key] = out
        self.bar.update(1)
        return out

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        """Ranking on all cases (the final model's)."""
        return self._ranking("all", self.full_seed, None)

    def fold(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Ranking of training fold `f` (leak-free), or the one on all cases (paper protocol)."""
        if not self.leak_free:
            return self.full()
        return self._ranking(f"fold{f}", self.fold_seeds[f], self.trains[f])

    def order_for(self, rows: np.ndarray) -> np.ndarray:
        """Feature order for a training set given by its row numbers."""
        if not self.leak_free:
            return self.full()[0]
        f = self.fold_of.get(np.sort(rows).tobytes())
        if f is None:
            raise ValueError("the ranking step was fitted on rows that are not a training fold of the search")
        return self.fold(f)[0]


class _TopK(TransformerMixin, BaseEstimator):
    """Pipeline step: the top `k` features of the training fold's forest ranking.

    Its input carries the row number of each case in column 0 (added by
    :func:`radiomics_search`), so that it knows which training fold it is fitted on and
    takes that fold's ranking from the shared :class:`_Rankings`; it outputs the top-k
    feature columns in ranking order.
    """

    def __init__(self, k: int = 5, rankings: _Rankings | None = None) -> None:
        self.k = k
        self.rankings = rankings

    def fit(self, X: np.ndarray, y: Any = None) -> _TopK:
        assert self.rankings is not None
        self.selected_ = np.asarray(self.rankings.order_for(X[:, 0].astype(np.int64))[: self.k])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        # C order, as the columns taken from the table before its rows (same BLAS sums, same bits)
        return np.ascontiguousarray(X[:, 1 + self.selected_])


def _search_inputs(
    X: Any,
    y: Any,
    *,
    family: str | Sequence[str],
    k_range: Sequence[int],
    protocol: str,
    n_splits: int,
    positive: Any,
    checkpoint: Any,
) -> tuple[list[str], dict[str, list[int]], list[str], np.ndarray, np.ndarray, np.ndarray, Any, list[int]]:
    """The arguments of :func:`radiomics_search`, checked.

    Returns the families, their columns, the column names, ``X`` and ``y`` as arrays, ``y``
    as 0/1, the positive class and the k values.
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
    positive = _resolve_positive(ya, positive, "y")
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
    return families, families_cols, names, Xa, ya, y01, positive, ks


def _evaluate_k(
    k: int,
    rankings: Any,
    model: Any,
    X_rows: np.ndarray,
    Xf: np.ndarray,
    y01: np.ndarray,
    cv: Any,
    folds: list[tuple[np.ndarray, np.ndarray]],
    full_order: np.ndarray,
    fam: str,
    fam_names: list[str],
    protocol: str,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """One row of the search table (family `fam`, top `k`) and its out-of-fold scores.

    The pipeline ranking -> top `k` -> `model` is cross-validated over `cv` (the ranking step
    finds each training fold's ranking by the row number in column 0 of `X_rows`); the row
    holds the pooled accuracy and AUC, the mean per-fold AUC, the resubstitution accuracy of
    `model` on the final top-`k` features, those features and their fold-to-fold stability.
    """
    n = X_rows.shape[0]
    pipe = Pipeline([("rank", _TopK(k=k, rankings=rankings)), ("model", model)])
    cvres = cross_validate(pipe, X_rows, y01, cv=cv, positive=1)
    score = np.empty(n)
    fold_of = np.empty(n, dtype=int)
    score[cvres.oof.index.to_numpy()] = cvres.oof["y_score"].to_numpy(float)
    fold_of[cvres.oof.index.to_numpy()] = cvres.oof["fold"].to_numpy()
    fold_auc = [
        roc_auc_score(y01[test], score[test]) for _train, test in folds if np.unique(y01[test]).size == 2
    ]
    final = set(full_order[:k].tolist())
    jacc = []
    for f in range(len(folds)):
        chosen = set(rankings.fold(f)[0][:k].tolist())
        jacc.append(len(chosen & final) / len(chosen | final))
    final_cols = full_order[:k]
    fitted = clone(model).fit(Xf[:, final_cols], y01)
    resub = float((fitted.predict(Xf[:, final_cols]) == y01).mean())
    row = {
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
    oof = pd.DataFrame(
        {
            "family": fam,
            "k": k,
            "sample": np.arange(n),
            "fold": fold_of,
            "y_true": y01,
            "y_score": score,
        }
    )
    return row, oof


def radiomics_search(
    X: Any,
    y: Any,
    *,
    family: str | Sequence[str] = "both",
    k_range: Sequence[int] = range(3, 11),
    protocol: str = "leak-free",
    n_splits: int = 10,
    rng: int | None = None,
    random_state: Any = NOT_GIVEN,
    positive: Any = None,
    n_estimators: int = 500,
    max_samples: float = 0.6,
    estimator: Any = None,
    progress: bool = False,
    checkpoint: Any = None,
) -> SearchResult:
    """The paper's radiomics model search: forest ranking, top-k logistic regression, 10-fold CV.

    Lang et al. (2019, section 2.5, Table 2): features are ranked by a random forest
    (:class:`~dcemets.classify.ForestRanker`, 500 trees, ~60 % of cases per tree, out-of-bag loss of
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

    Both are one scikit-learn pipeline, ``Pipeline([ranking of the top k, estimator])`` with
    the default estimator ``make_pipeline(StandardScaler(), LogisticRegression())``,
    cross-validated by :func:`cross_validate` over the same stratified folds for every k.
    The ranking step grows :class:`~dcemets.classify.ForestRanker` forests once per training
    fold (leak-free; once on all cases for the paper protocol) and serves every k from them.

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
    rng : int or None
        Seed of the folds (shuffled) and of the forests.
    random_state : int or None
        Deprecated old name of `rng` (a ``FutureWarning``; removed in the next release).
    positive : label, optional
        Positive class for the AUC: by default 1 (``True``) for 0/1, -1/1 or boolean labels;
        other labels must name it (``"lung"`` still defaults, with a ``FutureWarning``, until
        the next release).
    n_estimators, max_samples
        :class:`~dcemets.classify.ForestRanker` settings (defaults 500 and 0.6, the paper's).
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
        outside ``[1, n_features]``, a bad `rng`.
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
    ...                        n_estimators=30, rng=0, positive="lung")
    >>> res.table[["family", "k"]].shape
    (6, 2)
    >>> res.best.loc["histogram", "features"][0]
    'washout_hist_p90'
    """
    families, families_cols, names, Xa, ya, y01, positive, ks = _search_inputs(
        X,
        y,
        family=family,
        k_range=k_range,
        protocol=protocol,
        n_splits=n_splits,
        positive=positive,
        checkpoint=checkpoint,
    )
    model = make_pipeline(StandardScaler(), LogisticRegression()) if estimator is None else estimator
    state = check_seed(rng_or_random_state(rng, random_state, func="radiomics_search"), "rng")
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=int(state.randint(2**31 - 1)))
    folds = list(cv.split(Xa, y01))
    n = Xa.shape[0]
    leak_free = protocol == "leak-free"

    rows: list[dict[str, Any]] = []
    oof_parts: list[pd.DataFrame] = []
    importances: dict[str, pd.Series] = {}
    fold_rankings: dict[str, pd.DataFrame] = {}
    total = len(families) * (1 + (len(folds) if leak_free else 0))
    with tqdm(total=total, desc="radiomics search", disable=not progress) as bar:
        for fam in families:
            cols = np.asarray(families_cols[fam])
            Xf = Xa[:, cols]
            fam_names = [names[c] for c in cols]
            rankings = _Rankings(
                fam,
                Xf,
                ya,
                folds,
                state,
                leak_free=leak_free,
                n_estimators=n_estimators,
                max_samples=max_samples,
                checkpoint=checkpoint,
                bar=bar,
            )
            full_order, full_imp = rankings.full()
            importances[fam] = pd.Series(full_imp, index=fam_names)
            # column 0: the row number, for the ranking step to find its training fold
            X_rows = np.column_stack([np.arange(n, dtype=float), Xf])
            fam_rows = []
            for k in ks:
                row, oof = _evaluate_k(
                    k, rankings, model, X_rows, Xf, y01, cv, folds, full_order, fam, fam_names, protocol
                )
                fam_rows.append(row)
                oof_parts.append(oof)
                if leak_free:
                    fold_rankings[fam] = pd.DataFrame(
                        [rankings.fold(f)[1] for f in range(len(folds))], columns=fam_names
                    ).rename_axis("fold")
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
