"""ForestRanker (sklearn selector) and the paper's top-k logistic-regression search."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from dcemets.classify import ForestRanker
from dcemets.evaluation import SearchResult, radiomics_search


@parametrize_with_checks(
    [
        ForestRanker(n_estimators=10, random_state=0),
        ForestRanker(n_estimators=5, k=1, bootstrap=True, random_state=0),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def informative(n=80, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (2 * X[:, 3] - 1.5 * X[:, 7] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_informative_features_rank_first():
    X, y = informative()
    r = ForestRanker(n_estimators=200, k=2, random_state=0).fit(X, y)
    assert set(r.order_[:2].tolist()) == {3, 7}
    assert r.ranking_[r.order_[0]] == 1
    assert sorted(r.ranking_.tolist()) == list(range(1, 13))
    np.testing.assert_array_equal(r.get_support(indices=True), sorted([3, 7]))
    np.testing.assert_array_equal(r.transform(X), X[:, [3, 7]])
    assert 0.6 < r.oob_accuracy_ <= 1
    assert (np.abs(r.feature_importances_) <= 1).all()
    assert r.feature_importances_[[3, 7]].min() > np.delete(r.feature_importances_, [3, 7]).max()


def test_constant_feature_has_zero_importance_and_seed_reproducible():
    X, y = informative()
    X[:, 0] = 5.0
    a = ForestRanker(n_estimators=60, random_state=3).fit(X, y)
    b = ForestRanker(n_estimators=60, random_state=3).fit(X, y)
    c = ForestRanker(n_estimators=60, random_state=4).fit(X, y)
    assert a.feature_importances_[0] == 0
    np.testing.assert_array_equal(a.feature_importances_, b.feature_importances_)
    assert not np.array_equal(a.feature_importances_, c.feature_importances_)


def test_out_of_bag_size_follows_max_samples():
    X, y = informative(n=50)
    # all cases drawn without replacement: nothing is out of bag
    r = ForestRanker(n_estimators=5, max_samples=1.0, random_state=0).fit(X, y)
    assert np.isnan(r.oob_accuracy_)
    assert (r.feature_importances_ == 0).all()
    r = ForestRanker(n_estimators=5, max_samples=30, random_state=0).fit(X, y)
    assert np.isfinite(r.oob_accuracy_)


def test_dataframe_feature_names_and_string_labels():
    X, y = informative()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = np.where(y == 1, "lung", "other")
    r = ForestRanker(n_estimators=100, k=2, random_state=0).fit(df, labels)
    assert sorted(r.get_feature_names_out()) == ["f3", "f7"]
    assert list(r.classes_) == ["lung", "other"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_estimators": 0}, "`n_estimators`"),
        ({"k": 0}, "`k`"),
        ({"max_samples": 1.5}, "`max_samples`"),
        ({"max_samples": 0}, "`max_samples`"),
        ({"max_samples": 1000}, "`max_samples`"),
    ],
)
def test_bad_parameters(params, match):
    X, y = informative()
    with pytest.raises(ValueError, match=match):
        ForestRanker(**params).fit(X, y)


# ----------------------------------------------------------------------------- search
def cohort(seed=0, signal=1.2):
    """61 cases (30 lung + 31 other), 99 named radiomics columns, three informative."""
    from dcemets.radiomics import FEATURE_NAMES

    rng = np.random.default_rng(seed)
    y = np.array(["lung"] * 30 + ["other"] * 31)
    X = pd.DataFrame(rng.normal(size=(61, 99)), columns=list(FEATURE_NAMES))
    lung = (y == "lung").astype(float)
    X["washout_hist_p90"] += signal * lung
    X["washout_hist_kurtosis"] -= signal * lung
    X["max_se_glcm_information_entropy"] += signal * lung
    return X, y


def test_table2_search_finds_the_informative_features():
    X, y = cohort()
    res = radiomics_search(X, y, family="all", n_estimators=60, rng=0, protocol="paper", positive="lung")
    assert isinstance(res, SearchResult)
    t = res.table
    assert len(t) == 3 * 8
    assert list(t.columns) == [
        "family",
        "k",
        "protocol",
        "accuracy",
        "auc",
        "auc_fold_mean",
        "accuracy_resubstitution",
        "features",
        "stability",
        "best",
    ]
    assert t.groupby("family")["best"].sum().tolist() == [1, 1, 1]
    best = res.best
    assert best.loc["histogram", "auc"] > 0.8
    top_hist = set(t[(t.family == "histogram") & (t.k == 3)].features.iloc[0])
    assert {"washout_hist_p90", "washout_hist_kurtosis"} <= top_hist
    assert all(f.split("_")[-2] != "glcm" for fs in t[t.family == "histogram"].features for f in fs)
    assert all("_glcm_" in f for fs in t[t.family == "texture"].features for f in fs)
    assert t[t.family == "texture"].features.iloc[0][0] == "max_se_glcm_information_entropy"
    # k features are the top-k of one ranking: nested
    both = t[t.family == "both"].sort_values("k").features.tolist()
    assert all(a == b[: len(a)] for a, b in itertools.pairwise(both))
    table2 = res.to_table2(ks=[3, 5])
    assert table2.shape == (2, 3)
    assert list(table2.columns) == ["both", "histogram", "texture"]
    assert table2.loc["3 features", "histogram"].startswith(
        f"{t[(t.family == 'histogram') & (t.k == 3)].accuracy.iloc[0]:.2f} ("
    )


def test_stratified_folds_hold_3_lung_and_3_or_4_other():
    X, y = cohort()
    res = radiomics_search(X, y, k_range=[3], n_estimators=20, rng=1, positive="lung")
    oof = res.oof
    counts = oof.groupby("fold").y_true.agg(["sum", "size"])
    assert (counts["sum"] == 3).all()
    assert set((counts["size"] - counts["sum"]).tolist()) <= {3, 4}
    assert len(oof) == 61
    assert res.positive == "lung"
    # accuracy and AUC are those of the pooled out-of-fold scores
    row = res.table.iloc[0]
    np.testing.assert_allclose(row.accuracy, ((oof.y_score >= 0.5) == oof.y_true).mean())


def test_leak_free_is_not_optimistic_on_pure_noise():
    """Ranking on all cases then cross-validating (the paper's protocol) leaks the test folds."""
    rng = np.random.default_rng(5)
    from dcemets.radiomics import FEATURE_NAMES

    y = np.array(["lung"] * 30 + ["other"] * 31)
    paper, leak_free = [], []
    for seed in range(3):
        X = pd.DataFrame(rng.normal(size=(61, 99)), columns=list(FEATURE_NAMES))
        kw = {"k_range": [3, 5], "n_estimators": 40, "rng": seed, "positive": "lung"}
        paper.append(radiomics_search(X, y, protocol="paper", **kw).table.auc.mean())
        res = radiomics_search(X, y, protocol="leak-free", **kw)
        leak_free.append(res.table.auc.mean())
        assert res.table.stability.between(0, 1).all()
        assert res.fold_rankings["both"].shape == (10, 99)
    assert np.mean(paper) > np.mean(leak_free) + 0.05
    assert abs(np.mean(leak_free) - 0.5) < 0.12


def test_numpy_input_and_errors():
    X, y = cohort()
    res = radiomics_search(X.to_numpy(), y, k_range=[2], n_estimators=10, n_splits=5, rng=0, positive="lung")
    assert res.table.features.iloc[0][0].startswith("x")
    with pytest.raises(ValueError, match="named columns"):
        radiomics_search(X.to_numpy(), y, family="texture", positive="lung")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        radiomics_search(X, np.array(["a", "b", "c"] * 20 + ["a"]), positive="lung")
    with pytest.raises(ValueError, match="`k_range`"):
        radiomics_search(X, y, family="histogram", k_range=[40], positive="lung")
    with pytest.raises(ValueError, match="`protocol`"):
        radiomics_search(X, y, protocol="nested", positive="lung")
    with pytest.raises(ValueError, match="`family`"):
        radiomics_search(X, y, family="shape", positive="lung")
    bad = X.copy()
    bad.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        radiomics_search(bad, y, positive="lung")
    with pytest.raises(ValueError, match="at least `n_splits`"):
        radiomics_search(X.iloc[:35], y[:35], positive="lung")
    with pytest.raises(ValueError, match="no column"):
        radiomics_search(X[["washout_hist_p90"]], y, family="texture", positive="lung")


def test_forest_ranker_errors_name_x_and_y():
    """Issue 16.13: shape errors of `X`/`y` name the argument."""
    with pytest.raises(ValueError, match=r"`X` must be a 2-D feature table .*ForestRanker"):
        ForestRanker(n_estimators=3).fit(np.zeros((4, 3, 2)), ["a", "b"] * 2)
    with pytest.raises(ValueError, match=r"`X` has 4 sample\(s\) \(rows\) but `y` has 5 label\(s\)"):
        ForestRanker(n_estimators=3).fit(np.zeros((4, 3)), ["a", "b"] * 2 + ["a"])


def test_forest_ranker_refuses_one_class_and_missing_labels():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"`y` contains one class only \(\['a'\]\); ForestRanker"):
        ForestRanker(n_estimators=3).fit(X, ["a"] * 10)
    y = np.array(["a", "b"] * 5, dtype=object)
    y[3] = None
    with pytest.raises(ValueError, match=r"`y` has 1 missing label"):
        ForestRanker(n_estimators=3).fit(X, y)
    with pytest.raises(TypeError, match=r"`X` must hold numbers"):
        ForestRanker(n_estimators=3).fit(X.astype(str), ["a", "b"] * 5)


def test_radiomics_search_checks_x_y_and_options_by_name():
    """Fuzz defects: NaN/complex/text tables, wrong rows, bad k_range/family/random_state."""
    X, y = cohort()
    kw = {"k_range": [1], "n_estimators": 3, "n_splits": 3, "positive": "lung"}
    with pytest.raises(ValueError, match=r"Complex data not supported: `X`"):
        radiomics_search(X.astype(complex), y, **kw)
    with pytest.raises(TypeError, match=r"`X` must hold numbers"):
        radiomics_search(X.astype(str), y, **kw)
    with pytest.raises(ValueError, match=r"`X` has 0 sample"):
        radiomics_search(X.iloc[:0], y, **kw)
    with pytest.raises(ValueError, match=r"`X` has 60 sample\(s\) \(rows\) but `y` has 61"):
        radiomics_search(X.iloc[:-1], y, **kw)
    y_nan = y.astype(object)
    y_nan[0] = np.nan
    with pytest.raises(ValueError, match=r"`y` has 1 missing label"):
        radiomics_search(X, y_nan, **kw)
    with pytest.raises(TypeError, match=r"`family` must be one of"):
        radiomics_search(X, y, **{**kw, "family": 3})
    bad_k = (
        (None, TypeError),
        ("12", TypeError),
        (["a"], TypeError),
        ([1.5], ValueError),
        ([0, 1], ValueError),
    )
    for bad, error in (*bad_k, ([], ValueError)):
        with pytest.raises(error, match=r"`k_range"):
            radiomics_search(X, y, **{**kw, "k_range": bad})
    for seed in (-1, 0.5, "fuzz", [1, 2]):
        with pytest.raises(ValueError, match=r"`rng` must be None, an int"):
            radiomics_search(X, y, rng=seed, **kw)
