"""Honest cross-validation for small diagnostic studies.

Stratified k-fold (the paper: 10 folds, 3 lung + 3 other cases per test fold), grouped when
one patient contributes several samples (slices, lesions), repeated with new shuffles, with
the estimator cloned and fitted inside every training fold -- so feature selection and
hyper-parameter search inside the estimator (a ``Pipeline`` with a selector, a
``GridSearchCV``) form a nested, leak-free protocol.  Results hold per-fold metrics, the
paper's mean +/- SD (range) summary, and out-of-fold scores for ROC curves.

One concept: cross-validation of one estimator on one cohort (the folds, the fitting
loop, and the per-fold and pooled results it returns).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from tqdm.auto import tqdm

from dcemets._conventions import NOT_GIVEN, check_rng, rng_or_random_state
from dcemets.evaluation.metrics import (
    METRICS,
    _check_binary,
    _format_metric_names,
    _labels_1d,
    _rates,
    _resolve_positive,
    diagnostic_metrics,
)

__all__ = ["CVResult", "cross_validate", "resubstitution_metrics"]

_COUNTS = ("n", "tp", "fn", "tn", "fp")


@dataclass
class CVResult:
    """Result of :func:`cross_validate`.

    Attributes
    ----------
    per_fold : pandas.DataFrame
        One row per (``repeat``, ``fold``): ``n_train``, ``n_test``, confusion counts and the
        metrics of ``dcemets.evaluation.metrics.METRICS`` on that test fold (NaN where a
        metric is undefined on the fold, e.g. the AUC of a fold holding one class).
    oof : pandas.DataFrame
        Out-of-fold predictions, one row per sample (per group when aggregated) and repeat:
        ``repeat``, ``fold``, ``group``, ``y_true``, ``y_pred``, ``y_score``.
    positive : label
        The positive class.
    estimators : list or None
        The fitted per-fold estimators when ``return_estimators=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> res = cross_validate(LogisticRegression(), np.arange(20.0)[:, None], [0, 1] * 10, cv=2, rng=0)
    >>> res.per_fold.shape[0], list(res.oof.columns[:5]), res.positive
    (2, ['repeat', 'fold', 'group', 'y_true', 'y_pred'], 1)
    """

    per_fold: pd.DataFrame
    oof: pd.DataFrame
    positive: Any
    estimators: list[Any] | None = field(default=None, repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """Mean, SD (ddof 1), min and max of each metric over folds (the paper's Table 3).

        Folds where a metric is undefined are left out; ``n_folds`` counts those used.
        """
        cols = [m for m in METRICS if m in self.per_fold]
        values = self.per_fold[cols]
        out = pd.DataFrame(
            {
                "mean": values.mean(),
                "sd": values.std(ddof=1),
                "min": values.min(),
                "max": values.max(),
                "n_folds": values.count(),
            }
        )
        out.index.name = "metric"
        return out

    @property
    def pooled(self) -> pd.DataFrame:
        """Metrics of the pooled out-of-fold predictions, one row per repeat."""
        rows = {}
        for r, part in self.oof.groupby("repeat", sort=True):
            score = part["y_score"].to_numpy(float)
            has_score = bool(np.all(np.isfinite(score)))
            rates = _rates(
                (part["y_true"] == self.positive).to_numpy(),
                (part["y_pred"] == self.positive).to_numpy(),
                score if has_score else None,
            )
            rows[r] = rates
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "repeat"
        return out

    def format_summary(
        self, metrics: tuple[str, ...] = ("accuracy", "sensitivity", "specificity"), decimals: int = 2
    ) -> str:
        """Summary text as the paper writes it: ``Accuracy 0.81 ± 0.03 (range 0.75–0.84)``.

        Parameters
        ----------
        metrics : tuple of str
            Metrics to include (from ``summary.index``).
        decimals : int, default 2
            Decimals.

        Returns
        -------
        str
            One line per metric.
        """
        s = self.summary
        missing = [m for m in metrics if m not in s.index]
        if missing:
            raise ValueError(f"`metrics` {missing} not available; choose from {list(s.index)}")
        lines = []
        for name, pretty in zip(metrics, _format_metric_names(metrics)):
            row = s.loc[name]
            d = decimals
            lines.append(
                f"{pretty} {row['mean']:.{d}f} ± {row['sd']:.{d}f} (range {row['min']:.{d}f}–{row['max']:.{d}f})"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        n_rep = self.per_fold.index.get_level_values("repeat").nunique()
        n_fold = len(self.per_fold) // max(n_rep, 1)
        return f"CVResult({n_rep} x {n_fold}-fold)\n" + self.format_summary()


def _take(X: Any, idx: np.ndarray) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return X[idx]


def _n_samples(X: Any) -> int:
    if hasattr(X, "shape") and len(getattr(X, "shape", ())) > 0:
        return int(X.shape[0])
    try:
        return len(X)
    except TypeError as err:
        raise TypeError(
            f"`X` must be array-like with samples along the first axis, got {type(X).__name__}"
        ) from err


def _check_X(X: Any) -> Any:
    """`X` checked for what no estimator accepts: NaN/inf, complex or text arrays, 0-D/1-D arrays.

    A DataFrame's numeric columns are checked for NaN; its other columns are the estimator's
    business (a pipeline may encode them).  An array must have samples along its first axis
    and at least one more axis (features, or image axes).
    """
    if isinstance(X, pd.DataFrame):
        numeric = X.select_dtypes(include="number")
        bad = [c for c in numeric.columns if numeric[c].isna().any()]
        if bad:
            raise ValueError(f"`X` contains NaN in columns {bad}; impute or drop those cases first")
        return X
    if X is None or isinstance(X, (str, bytes, dict)):
        raise TypeError(f"`X` must be array-like with samples along the first axis, got {type(X).__name__}")
    if isinstance(X, (list, tuple)):
        X = np.asarray(X)
    if isinstance(X, np.ndarray):
        if X.dtype.kind == "c":
            raise ValueError(f"`X` must hold real numbers, got complex dtype {X.dtype}")
        if X.dtype.kind in "USV":
            raise TypeError(
                f"`X` must hold numbers, got dtype {X.dtype} (text, also when the strings spell "
                "numbers); convert it to numbers where it is read"
            )
        if X.ndim < 2:
            raise ValueError(
                f"`X` must have samples along its first axis and features (or image axes) along "
                f"the others, got shape {X.shape}; reshape a single feature with X.reshape(-1, 1)"
            )
        if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
            raise ValueError("`X` contains NaN or infinite values; impute or drop those cases first")
    return X


def _check_estimator(estimator: Any) -> None:
    """Raise a TypeError naming `estimator` unless it is an estimator instance with fit and predict."""
    if isinstance(estimator, type):
        raise TypeError(
            f"`estimator` must be an estimator instance, got the class {estimator.__name__}; "
            f"pass {estimator.__name__}() instead"
        )
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict") and hasattr(estimator, "get_params")):
        raise TypeError(
            f"`estimator` must be a scikit-learn estimator with fit, predict and get_params, got "
            f"{type(estimator).__name__}"
        )


def _check_rng(rng: Any) -> np.random.Generator:
    """``check_rng`` with errors naming `rng`."""
    try:
        return check_rng(rng)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"`rng` must be None, an int >= 0 or a numpy Generator, got {rng!r}") from exc


def _fold_hash(train: np.ndarray, test: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(train, dtype=np.int64).tobytes())
    h.update(b"|")
    h.update(np.ascontiguousarray(test, dtype=np.int64).tobytes())
    return h.hexdigest()[:12]


def _positive_score(est: Any, X: Any, positive: Any) -> tuple[np.ndarray | None, float]:
    """Score of the positive class and its decision threshold (0.5 for probabilities)."""
    classes = list(getattr(est, "classes_", []))
    if hasattr(est, "predict_proba") and positive in classes:
        return np.asarray(est.predict_proba(X))[:, classes.index(positive)].astype(float), 0.5
    if hasattr(est, "decision_function") and len(classes) == 2 and positive in classes:
        d = np.asarray(est.decision_function(X), dtype=float).ravel()
        return (d if classes.index(positive) == 1 else -d), 0.0
    return None, np.nan


def _splitters(
    cv: Any, repeats: int, rng: Any, y_arr: np.ndarray, g_arr: np.ndarray | None, labels: Any
) -> list[Any]:
    """One fold splitter per repeat: stratified (grouped) k-fold for an int `cv`, else `cv`.

    Every class must hold at least `cv` cases (groups, with `g_arr`); each repeat's shuffle
    is seeded from `rng`.
    """
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"`cv` must be >= 2 folds, got {cv}")
        for label in labels:
            mask = y_arr == label
            count = int(mask.sum()) if g_arr is None else int(np.unique(g_arr[mask]).size)
            unit = "cases" if g_arr is None else "groups"
            if cv > count:
                raise ValueError(
                    f"`cv`={cv} folds but class {label!r} has only {count} {unit}; use cv <= {count}"
                )
        seeds = _check_rng(rng).integers(0, 2**31 - 1, size=repeats)
        splitters = [
            StratifiedKFold(int(cv), shuffle=True, random_state=int(s))
            if g_arr is None
            else StratifiedGroupKFold(int(cv), shuffle=True, random_state=int(s))
            for s in seeds
        ]
    elif hasattr(cv, "split") and not isinstance(cv, (str, bytes)):
        if repeats != 1:
            raise ValueError("`repeats` > 1 needs an int `cv` (a splitter object is used as given)")
        splitters = [cv]
    else:
        raise TypeError(f"`cv` must be an int or a splitter with a split method, got {type(cv).__name__}")
    return splitters


def _aggregate_groups(
    part: pd.DataFrame, positive: Any, labels: Any, threshold: float, *, scored: bool
) -> pd.DataFrame:
    """One row per group of a fold's predictions.

    The mean score at `threshold` (or, without scores, the share of positive predictions at
    0.5) decides each group's class.
    """
    other = next(lbl for lbl in labels if lbl != positive)
    part["_pos_pred"] = (part["y_pred"] == positive).astype(float)
    agg = part.groupby("group", sort=False).agg(
        sample=("group", "first"),
        repeat=("repeat", "first"),
        fold=("fold", "first"),
        y_true=("y_true", "first"),
        y_score=("y_score", "mean"),
        _pos_pred=("_pos_pred", "mean"),
    )
    agg = agg.reset_index()
    decide = agg["y_score"] >= threshold if scored else agg["_pos_pred"] >= 0.5
    agg["y_pred"] = np.where(decide, positive, other)
    part = agg[["sample", "repeat", "fold", "group", "y_true", "y_pred", "y_score"]]
    return part


def _predict_fold(
    estimator: Any,
    X: Any,
    y_arr: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    positive: Any,
    checkpoint: Any,
    r: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray | None, float, Any]:
    """Predictions, positive-class scores and threshold of fold `k` of repeat `r`.

    Also the estimator fitted on the fold's training part (None when the fold was read from
    `checkpoint`).
    """
    est = None
    stored = None
    if checkpoint is not None:
        key = f"r{r}-f{k}-" + _fold_hash(train, test)
        stored = checkpoint.get(key)
    if stored is not None:
        pred = np.asarray(stored["pred"], dtype=y_arr.dtype)
        score = None if stored["score"] is None else np.asarray(stored["score"], dtype=float)
        threshold = float(stored["threshold"])
    else:
        est = clone(estimator).fit(_take(X, train), y_arr[train])
        X_test = _take(X, test)
        pred = np.asarray(est.predict(X_test))
        score, threshold = _positive_score(est, X_test, positive)
        if checkpoint is not None:
            checkpoint.put(
                key,
                {
                    "pred": pred.tolist(),
                    "score": None if score is None else np.asarray(score, dtype=float).tolist(),
                    "threshold": float(threshold),
                },
            )
    return pred, score, threshold, est


def cross_validate(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    groups: Any = None,
    cv: int | Any = 10,
    repeats: int = 1,
    rng: int | np.random.Generator | None = None,
    random_state: Any = NOT_GIVEN,
    aggregate_groups: bool = False,
    positive: Any = None,
    progress: bool = False,
    return_estimators: bool = False,
    checkpoint: Any = None,
) -> CVResult:
    """Stratified (grouped) k-fold cross-validation with per-fold diagnostic metrics.

    Each repeat shuffles the cases into `cv` folds that keep the class proportions
    (``StratifiedKFold``; with `groups`,
    ``StratifiedGroupKFold``, so that one patient's slices or
    lesions never straddle training and test).  For every fold a fresh
    ``sklearn.base.clone`` of `estimator` is fitted on the training part only, so any
    selection it performs (features, hyper-parameters) is nested inside the fold.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Unfitted estimator (or pipeline, or search object) with ``fit`` and ``predict``;
        ``predict_proba`` or ``decision_function`` gives the out-of-fold scores.
    X : array-like, shape (n_samples, ...)
        Features (a DataFrame keeps its column names; image models take
        ``(n_samples, T, C, H, W)`` arrays).  No NaN.
    y : array-like, shape (n_samples,)
        Labels of two classes.
    groups : array-like, shape (n_samples,), optional
        Patient (group) of each sample.
    cv : int or cross-validation splitter, default 10
        Number of folds, or a splitter with ``split(X, y, groups)`` (then ``repeats`` must be 1).
    repeats : int, default 1
        Repetitions with new shuffles (seeds drawn from `rng`).
    rng : int, numpy.random.Generator or None
        Seed of the shuffles.
    random_state : int, numpy.random.Generator or None
        Deprecated old name of `rng` (a ``FutureWarning``; removed in the next release).
    aggregate_groups : bool, default False
        Evaluate per group: average the positive-class scores of each group's samples in
        the test fold (the paper's patient-level evaluation of slice models), predict
        `positive` when the mean reaches the estimator's threshold (0.5 for probabilities,
        0 for decision functions; majority vote without scores).  Needs `groups`.
    positive : label, optional
        The positive class.  By default 1 (``True``) for 0/1, -1/1 or boolean labels; other
        labels must name it (labels holding ``"lung"`` still default to it, with a
        ``FutureWarning``, until the next release).
    progress : bool, default False
        Show a tqdm progress bar over folds.
    return_estimators : bool, default False
        Keep the fitted per-fold estimators in ``CVResult.estimators``.
    checkpoint : object, optional
        Fold checkpoints, for long cross-validations that may be interrupted: any object with
        ``get(key) -> dict | None`` and ``put(key, dict)`` (e.g. the study's
        :class:`dcemets.study.FoldStore`).  Before fitting a fold, its out-of-fold predictions
        are looked up under a key made of the repeat, the fold and a hash of its training and
        test indices; after fitting, they are stored.  The caller must give a store that is
        specific to the estimator and the data (the key does not cover them).  Cannot be
        combined with `return_estimators`.

    Returns
    -------
    CVResult
        ``per_fold``, ``summary`` (mean, SD, range), ``oof`` and ``pooled``.

    Raises
    ------
    ValueError
        If `y` has one class, `positive` is not a label, `X` contains NaN/inf or complex
        values or is a 1-D array, lengths of `X`, `y` and `groups` differ, a group mixes
        classes with ``aggregate_groups=True``, `cv` exceeds the number of cases (groups) of
        a class, or `rng` is a negative seed.
    TypeError
        If `estimator` is a class or lacks ``fit``/``predict``/``get_params``, `X` holds text
        (also numeric strings), `cv` is neither an int nor a splitter, `rng` is neither
        None, an int nor a Generator, or both `rng` and `random_state` are given.

    References
    ----------
    .. [1] N. Lang et al., Magn. Reson. Imaging 64:4-12, 2019, sections 2.5-2.6 and
           Table 3. :DOI:`10.1016/j.mri.2019.02.013`
    .. [2] S. Varma, R. Simon, "Bias in error estimation when using cross-validation for
           model selection", BMC Bioinformatics 7:91, 2006. :DOI:`10.1186/1471-2105-7-91`

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 2)); y = np.where(X[:, 0] + 0.5 * rng.normal(size=40) > 0, "lung", "other")
    >>> res = cross_validate(LogisticRegression(), X, y, cv=5, rng=0, positive="lung")
    >>> res.per_fold.shape[0], list(res.summary.columns)
    (5, ['mean', 'sd', 'min', 'max', 'n_folds'])
    >>> float(res.summary.loc["accuracy", "mean"]) > 0.7
    True
    """
    _check_estimator(estimator)
    if checkpoint is not None:
        if not (callable(getattr(checkpoint, "get", None)) and callable(getattr(checkpoint, "put", None))):
            raise TypeError(
                f"`checkpoint` must have get(key) and put(key, value) methods, got {type(checkpoint).__name__}"
            )
        if return_estimators:
            raise ValueError(
                "`return_estimators=True` cannot be combined with `checkpoint` (no estimator is stored)"
            )
    X = _check_X(X)
    y_arr = _labels_1d(y, "y")
    n = _n_samples(X)
    if y_arr.size != n:
        raise ValueError(f"`X` has {n} samples but `y` has {y_arr.size}")
    rng = rng_or_random_state(rng, random_state, func="cross_validate")
    positive = _resolve_positive(y_arr, positive, "y")
    _, labels = _check_binary(y_arr, positive, "y")
    g_arr: np.ndarray | None = None
    if groups is not None:
        g_arr = _labels_1d(groups, "groups")
        if g_arr.size != n:
            raise ValueError(f"`groups` has {g_arr.size} entries but `y` has {n}; give one group per sample")
    if aggregate_groups:
        if g_arr is None:
            raise ValueError("`aggregate_groups=True` needs `groups` (the patient of each sample)")
        frame = pd.DataFrame({"g": g_arr, "y": y_arr})
        mixed = frame.groupby("g")["y"].nunique()
        if (mixed > 1).any():
            raise ValueError(
                f"groups {mixed[mixed > 1].index.tolist()[:5]} mix classes; "
                "`aggregate_groups` needs one label per group"
            )
    if not isinstance(repeats, (int, np.integer)) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"`repeats` must be an int >= 1, got {repeats!r}")

    splitters = _splitters(cv, repeats, rng, y_arr, g_arr, labels)

    folds = [
        (r, k, train, test)
        for r, splitter in enumerate(splitters)
        for k, (train, test) in enumerate(splitter.split(np.zeros((n, 1)), y_arr, g_arr))
    ]
    rows, oof_parts, fitted = [], [], []
    for r, k, train, test in tqdm(folds, desc="cross-validation", disable=not progress):
        pred, score, threshold, est = _predict_fold(
            estimator, X, y_arr, train, test, positive, checkpoint, r, k
        )
        if return_estimators and est is not None:
            fitted.append(est)
        part = pd.DataFrame(
            {
                "sample": test,
                "repeat": r,
                "fold": k,
                "group": g_arr[test] if g_arr is not None else test,
                "y_true": y_arr[test],
                "y_pred": pred,
                "y_score": score if score is not None else np.nan,
            }
        )
        if aggregate_groups:
            part = _aggregate_groups(part, positive, labels, threshold, scored=score is not None)
        rates = _rates(
            (part["y_true"] == positive).to_numpy(),
            (part["y_pred"] == positive).to_numpy(),
            part["y_score"].to_numpy(float) if score is not None else None,
        )
        rows.append({"repeat": r, "fold": k, "n_train": train.size, "n_test": test.size, **rates})
        oof_parts.append(part)
    per_fold = pd.DataFrame(rows).set_index(["repeat", "fold"])
    for c in _COUNTS:
        per_fold[c] = per_fold[c].astype(int)
    oof = pd.concat(oof_parts, ignore_index=True).set_index("sample")
    oof.index.name = "group" if aggregate_groups else "sample"
    return CVResult(
        per_fold=per_fold, oof=oof, positive=positive, estimators=fitted if return_estimators else None
    )


def resubstitution_metrics(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    positive: Any = None,
    confidence: float | None = None,
) -> pd.Series:
    """Fit on all cases and score on the same cases (the paper's "entire dataset" accuracy).

    This is the figure the paper reports for the hot-spot CHAID tree (0.79) and the final
    radiomics model (0.71, Table 3, "Entire dataset").  It is optimistic -- the model is
    tested on its training data -- and is labelled as such (``name`` of the Series); report
    :func:`cross_validate` beside it.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Unfitted estimator; a clone is fitted.
    X : array-like, shape (n_samples, ...)
        Features, no NaN.
    y : array-like, shape (n_samples,)
        Labels of two classes.
    positive : label, optional
        The positive class.  By default 1 (``True``) for 0/1, -1/1 or boolean labels; other
        labels must name it (labels holding ``"lung"`` still default to it, with a
        ``FutureWarning``, until the next release).
    confidence : float, optional
        Add Wilson/DeLong intervals (see :func:`diagnostic_metrics`).

    Returns
    -------
    pandas.Series
        :func:`diagnostic_metrics` of the resubstitution predictions, named
        ``"resubstitution (entire dataset)"``.

    Raises
    ------
    ValueError
        As :func:`diagnostic_metrics`, or for NaN/inf or complex values in `X`, a 1-D `X`
        array or mismatched lengths.
    TypeError
        If `estimator` is a class or lacks ``fit``/``predict``/``get_params``, or `X` holds
        text (also numeric strings).

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X = np.arange(10.0).reshape(-1, 1); y = ["lung"] * 5 + ["other"] * 5
    >>> resubstitution_metrics(DecisionTreeClassifier(), X, y, positive="lung")["accuracy"]
    np.float64(1.0)
    """
    _check_estimator(estimator)
    X = _check_X(X)
    y_arr = _labels_1d(y, "y")
    if _n_samples(X) != y_arr.size:
        raise ValueError(f"`X` has {_n_samples(X)} samples but `y` has {y_arr.size}")
    positive = _resolve_positive(y_arr, positive, "y")
    _check_binary(y_arr, positive, "y")
    est = clone(estimator).fit(X, y_arr)
    score, _ = _positive_score(est, X, positive)
    out = diagnostic_metrics(y_arr, est.predict(X), score, positive=positive, confidence=confidence)
    out.name = "resubstitution (entire dataset)"
    return out
