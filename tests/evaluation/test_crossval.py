"""Tests of dcemets.evaluation.crossval: stratification, grouping, nesting, aggregation, errors."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from dcemets.classify.chaid import CHAIDClassifier
from dcemets.evaluation.crossval import CVResult, cross_validate, resubstitution_metrics


def cohort(n_lung=30, n_other=31, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["lung"] * n_lung + ["other"] * n_other)
    X = rng.normal(size=(y.size, 3))
    X[:, 2] += np.where(y == "lung", 0.0, -1.2)  # wash-out lower in other tumours
    return pd.DataFrame(X, columns=["wash_in", "max_se", "washout"]), y


class MeanFeatureProba(ClassifierMixin, BaseEstimator):
    """P(positive) = logistic(x0): a fixed scorer to check aggregation by hand."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-np.asarray(X)[:, 0]))
        return np.column_stack([p, 1 - p])  # classes_[0] is "lung"

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def test_stratified_folds_like_the_paper():
    """10-fold CV of 30 + 31 cases: 3 lung and 3-4 other cases in each test fold."""
    X, y = cohort()
    res = cross_validate(LogisticRegression(), X, y, cv=10, rng=0, positive="lung")
    assert isinstance(res, CVResult)
    assert len(res.per_fold) == 10
    assert (res.per_fold["tp"] + res.per_fold["fn"]).tolist() == [3] * 10
    assert sorted((res.per_fold["tn"] + res.per_fold["fp"]).tolist()) == [3] * 9 + [4]
    # every case is tested exactly once per repeat
    assert sorted(res.oof.index.tolist()) == list(range(61))
    # pooled counts equal the summed fold counts
    pooled = res.pooled.iloc[0]
    assert pooled["tp"] == res.per_fold["tp"].sum()
    assert pooled["accuracy"] == pytest.approx((res.oof["y_true"] == res.oof["y_pred"]).mean())


def test_summary_is_mean_sd_range_over_folds():
    X, y = cohort(seed=1)
    res = cross_validate(CHAIDClassifier(), X, y, cv=5, repeats=3, rng=1, positive="lung")
    assert len(res.per_fold) == 15
    acc = res.per_fold["accuracy"]
    s = res.summary.loc["accuracy"]
    assert s["mean"] == pytest.approx(acc.mean())
    assert s["sd"] == pytest.approx(np.std(acc, ddof=1))
    assert (s["min"], s["max"]) == (acc.min(), acc.max())
    text = res.format_summary(("accuracy",))
    assert text == f"Accuracy {s['mean']:.2f} ± {s['sd']:.2f} (range {s['min']:.2f}–{s['max']:.2f})"
    assert "CVResult(3 x 5-fold)" in repr(res)
    # repeats use different shuffles, and the seed makes them reproducible
    folds = res.oof.pivot_table(index=res.oof.index, columns="repeat", values="fold")
    assert not (folds[0] == folds[1]).all()
    again = cross_validate(CHAIDClassifier(), X, y, cv=5, repeats=3, rng=1, positive="lung")
    pd.testing.assert_frame_equal(res.per_fold, again.per_fold)


def test_same_folds_as_sklearn_cross_val_score_for_accuracy():
    from sklearn.model_selection import StratifiedKFold

    X, y = cohort(seed=2)
    res = cross_validate(
        LogisticRegression(), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=3), positive="lung"
    )
    ref = cross_val_score(LogisticRegression(), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=3))
    np.testing.assert_allclose(res.per_fold["accuracy"], ref)


def test_groups_never_straddle_train_and_test():
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(40), rng.integers(2, 6, size=40))
    label_of = np.where(np.arange(40) < 20, "lung", "other")
    y = label_of[patients]
    X = rng.normal(size=(patients.size, 2)) + (y == "lung")[:, None]
    res = cross_validate(LogisticRegression(), X, y, groups=patients, cv=5, repeats=2, rng=0, positive="lung")
    per_group = res.oof.groupby(["repeat", "group"])["fold"].nunique()
    assert (per_group == 1).all()
    assert set(res.oof["group"]) == set(patients)


def test_aggregate_groups_averages_slice_probabilities():
    rng = np.random.default_rng(1)
    patients = np.repeat(np.arange(20), 3)
    y = np.where(patients < 10, "lung", "other")
    X = rng.normal(size=(60, 1)) + np.where(y == "lung", 1.0, -1.0)[:, None]
    res = cross_validate(
        MeanFeatureProba(),
        X,
        y,
        groups=patients,
        cv=5,
        aggregate_groups=True,
        rng=0,
        positive="lung",
    )
    assert res.oof.index.name == "group"
    assert sorted(res.oof.index) == list(range(20))
    p = 1 / (1 + np.exp(-X[:, 0]))
    expected = pd.Series(p).groupby(patients).mean()
    np.testing.assert_allclose(res.oof.sort_index()["y_score"], expected.sort_index())
    pred = np.where(expected >= 0.5, "lung", "other")
    np.testing.assert_array_equal(res.oof.sort_index()["y_pred"], pred)
    assert res.per_fold["n"].sum() == 20  # patient-level counts


def test_nested_selection_does_not_leak():
    """On pure noise, selecting features inside each fold gives chance accuracy; the leaky
    protocol (select on all cases, then cross-validate) looks far better."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2000))
    y = np.array(["lung", "other"] * 30)
    model = make_pipeline(SelectKBest(f_classif, k=10), LogisticRegression())
    nested = cross_validate(model, X, y, cv=5, repeats=2, rng=0, positive="lung")
    assert nested.summary.loc["accuracy", "mean"] < 0.65
    X_leaky = SelectKBest(f_classif, k=10).fit_transform(X, y)
    leaky = cross_validate(LogisticRegression(), X_leaky, y, cv=5, repeats=2, rng=0, positive="lung")
    assert leaky.summary.loc["accuracy", "mean"] > 0.75


def test_decision_function_scores_oriented_to_positive():
    X, y = cohort(seed=3)
    X = X.to_numpy().copy()
    X[:, 2] *= 3
    res = cross_validate(SVC(), X, y, cv=5, rng=0, positive="lung")  # no predict_proba
    assert res.summary.loc["auc", "mean"] > 0.75  # "lung" is classes_[0]: sign flipped
    res_other = cross_validate(SVC(), X, y, cv=5, rng=0, positive="other")
    assert res_other.summary.loc["auc", "mean"] == pytest.approx(res.summary.loc["auc", "mean"])


def test_return_estimators_and_resubstitution():
    X, y = cohort(seed=4)
    res = cross_validate(CHAIDClassifier(), X, y, cv=3, rng=0, return_estimators=True, positive="lung")
    assert len(res.estimators) == 3
    assert all(hasattr(e, "tree_") for e in res.estimators)
    resub = resubstitution_metrics(CHAIDClassifier(), X, y, positive="lung")
    assert resub.name == "resubstitution (entire dataset)"
    fitted = CHAIDClassifier().fit(X, y)
    assert resub["accuracy"] == pytest.approx(fitted.score(X, y))


def test_progress_bar_off_by_default(capsys):
    X, y = cohort()
    cross_validate(LogisticRegression(), X, y, cv=3, rng=0, positive="lung")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_single_class_in_y():
    X, _ = cohort()
    with pytest.raises(ValueError, match="single class"):
        cross_validate(LogisticRegression(), X, ["lung"] * 61, positive="lung")


def test_nan_features():
    X, y = cohort()
    X.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cross_validate(LogisticRegression(), X, y, positive="lung")
    with pytest.raises(ValueError, match="NaN"):
        cross_validate(LogisticRegression(), X.to_numpy(), y, positive="lung")


def test_groups_shorter_than_y():
    X, y = cohort()
    with pytest.raises(ValueError, match="groups"):
        cross_validate(LogisticRegression(), X, y, groups=np.arange(60), positive="lung")


def test_more_folds_than_cases_of_a_class():
    X, y = cohort(n_lung=30, n_other=7)
    with pytest.raises(ValueError, match=r"cv.*'other' has only 7"):
        cross_validate(LogisticRegression(), X, y, cv=10, positive="lung")
    groups = np.arange(37) // 2
    with pytest.raises(ValueError, match="groups"):
        cross_validate(LogisticRegression(), X, y, groups=groups, cv=5, positive="lung")


def test_other_bad_arguments():
    X, y = cohort()
    with pytest.raises(ValueError, match="samples"):
        cross_validate(LogisticRegression(), X.iloc[:50], y, positive="lung")
    with pytest.raises(ValueError, match="positive"):
        cross_validate(LogisticRegression(), X, y, positive="breast")
    with pytest.raises(ValueError, match="aggregate_groups"):
        cross_validate(LogisticRegression(), X, y, aggregate_groups=True, positive="lung")
    with pytest.raises(ValueError, match="mix classes"):
        cross_validate(
            LogisticRegression(),
            X,
            y,
            groups=(np.arange(61) + 1) // 2,
            aggregate_groups=True,
            cv=3,
            positive="lung",
        )
    with pytest.raises(ValueError, match="repeats"):
        cross_validate(LogisticRegression(), X, y, repeats=0, positive="lung")
    with pytest.raises(ValueError, match="repeats"):
        cross_validate(LogisticRegression(), X, y, cv=GroupKFold(3), repeats=2, positive="lung")
    with pytest.raises(ValueError, match="cv"):
        cross_validate(LogisticRegression(), X, y, cv=1, positive="lung")
    with pytest.raises(TypeError, match="estimator"):
        cross_validate(object(), X, y, positive="lung")
    with pytest.raises(ValueError, match="two classes"):
        cross_validate(LogisticRegression(), X, np.array(["a", "b", "lung"] * 20 + ["a"]), positive="lung")


def test_inputs_not_modified():
    X, y = cohort()
    X0, y0 = X.copy(), y.copy()
    cross_validate(CHAIDClassifier(), X, y, cv=3, rng=0, positive="lung")
    pd.testing.assert_frame_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_nested_forest_ranker_pipeline_refits_selection_per_fold():
    selection = pytest.importorskip("dcemets.classify.selection")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 100))
    y = np.array(["lung", "other"] * 30)
    model = make_pipeline(selection.ForestRanker(n_estimators=30, k=5, random_state=0), LogisticRegression())
    res = cross_validate(model, X, y, cv=5, rng=0, return_estimators=True, positive="lung")
    chosen = {tuple(np.flatnonzero(est[0].get_support())) for est in res.estimators}
    assert len(chosen) > 1  # each training fold ranks its own features
    assert res.summary.loc["accuracy", "mean"] < 0.7  # noise stays at chance


class SignPredictor(ClassifierMixin, BaseEstimator):
    """Predicts "lung" when x0 > 0; no scores at all."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.where(np.asarray(X)[:, 0] > 0, "lung", "other")


def test_aggregate_groups_majority_vote_without_scores():
    patients = np.repeat(np.arange(10), 3)
    y = np.where(patients < 5, "lung", "other")
    # patient 0: two of three slices positive -> lung; patient 5: one of three -> other
    x = np.where(y == "lung", 1.0, -1.0)
    x[[2, 15]] = [-1.0, 1.0]
    res = cross_validate(
        SignPredictor(),
        x[:, None],
        y,
        groups=patients,
        cv=5,
        aggregate_groups=True,
        rng=0,
        positive="lung",
    )
    out = res.oof.sort_index()
    assert out["y_score"].isna().all()
    np.testing.assert_array_equal(out["y_pred"], ["lung"] * 5 + ["other"] * 5)
    assert res.summary.loc["accuracy", "mean"] == 1.0
    assert res.summary.loc["auc", "n_folds"] == 0  # no scores, no AUC


class _DictStore:
    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def put(self, key, value):
        self.data[key] = value


def test_checkpoint_serves_stored_folds_without_refitting():
    """Issue 16 #4: a resumed cross-validation reads finished folds instead of refitting."""
    from sklearn.linear_model import LogisticRegression

    from dcemets.evaluation import cross_validate

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=40) > 0, "lung", "other")
    store = _DictStore()
    first = cross_validate(
        LogisticRegression(), X, y, cv=4, repeats=2, rng=0, checkpoint=store, positive="lung"
    )
    assert len(store.data) == 8
    store.data.pop(sorted(store.data)[3])  # the fold a kill interrupted

    fits = []

    class Counting(LogisticRegression):
        def fit(self, X, y):
            fits.append(len(y))
            return super().fit(X, y)

    again = cross_validate(Counting(), X, y, cv=4, repeats=2, rng=0, checkpoint=store, positive="lung")
    assert len(fits) == 1  # only the missing fold is fitted
    pd.testing.assert_frame_equal(first.per_fold, again.per_fold)
    pd.testing.assert_frame_equal(first.oof, again.oof)


def test_checkpoint_argument_is_checked():
    from sklearn.linear_model import LogisticRegression

    from dcemets.evaluation import cross_validate

    X = np.arange(20.0).reshape(10, 2)
    y = np.array(["lung", "other"] * 5)
    with pytest.raises(TypeError, match=r"`checkpoint` must have get\(key\) and put"):
        cross_validate(LogisticRegression(), X, y, cv=2, checkpoint={}, positive="lung")
    with pytest.raises(ValueError, match=r"`return_estimators=True` cannot be combined with `checkpoint`"):
        cross_validate(
            LogisticRegression(), X, y, cv=2, checkpoint=_DictStore(), return_estimators=True, positive="lung"
        )


def test_bad_estimator_x_cv_and_seed_named():
    """Fuzz defects: sklearn's clone/validation errors and `rng` messages did not name the argument."""
    X, y = cohort()
    Xa = X.to_numpy()
    for bad in (LogisticRegression, None, "fuzz", {"a": 1}):
        with pytest.raises(TypeError, match=r"`estimator` must be"):
            resubstitution_metrics(bad, Xa, y, positive="lung")
        with pytest.raises(TypeError, match=r"`estimator` must be"):
            cross_validate(bad, Xa, y, positive="lung")
    for func in (cross_validate, resubstitution_metrics):
        with pytest.raises(ValueError, match=r"`X` must hold real numbers"):
            func(LogisticRegression(), Xa.astype(complex), y)
        with pytest.raises(TypeError, match=r"`X` must hold numbers"):
            func(LogisticRegression(), Xa.astype(str), y)
        with pytest.raises(ValueError, match=r"`X` must have samples along its first axis"):
            func(LogisticRegression(), Xa[:, 0], y)
        with pytest.raises(TypeError, match=r"`X` must be array-like"):
            func(LogisticRegression(), "fuzz", y)
    with pytest.raises(TypeError, match=r"`cv` must be an int or a splitter"):
        cross_validate(LogisticRegression(), X, y, cv="fuzz", positive="lung")
    for seed, error in ((-1, ValueError), (0.5, TypeError), ("fuzz", TypeError)):
        with pytest.raises(error, match=r"`rng` must be None, an int >= 0 or a numpy Generator"):
            cross_validate(LogisticRegression(), X, y, rng=seed, positive="lung")
