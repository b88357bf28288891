"""Pins the radiomics search's numbers (Table 2) on a small fixed input.

The values were recorded from the hand-built cross-validation loop that
``dcemets.classify.radiomics_search`` held before it moved to :mod:`dcemets.evaluation`
(issue 17, item 3); the search expressed as a pipeline under
:func:`dcemets.evaluation.cross_validate` must reproduce them exactly: same folds, same
forest seeds, same out-of-fold scores, same checkpoint keys.
"""

import numpy as np
import pandas as pd
import pytest

from dcemets.evaluation import radiomics_search
from dcemets.radiomics import FEATURE_NAMES

NAN = float("nan")
PINNED = {
    "leak-free": {
        "folds": [3, 1, 3, 0, 3, 2, 2, 4, 0, 2, 0, 4, 1, 1, 1, 3, 0, 1, 4, 1, 4, 2, 3, 0, 2, 4, 4, 0, 2, 3],
        "fr": {"both": 0.2866666666666667, "histogram": 0.10666666666666662, "texture": -0.07333333333333328},
        "imp": 0.17222222222222222,
        "keys": [
            "both-all-seed1720656046",
            "both-fold0-seed202860983",
            "both-fold1-seed741720773",
            "both-fold2-seed2030163841",
            "both-fold3-seed1527380328",
            "both-fold4-seed922627671",
            "histogram-all-seed468304328",
            "histogram-fold0-seed849238834",
            "histogram-fold1-seed419000713",
            "histogram-fold2-seed928097338",
            "histogram-fold3-seed607583996",
            "histogram-fold4-seed2045583207",
            "texture-all-seed964245613",
            "texture-fold0-seed26758750",
            "texture-fold1-seed852208439",
            "texture-fold2-seed1086550967",
            "texture-fold3-seed1731638585",
            "texture-fold4-seed1867415400",
        ],
        "rows": [
            (
                "both",
                1,
                0.7,
                0.7008928571428572,
                0.6805555555555556,
                0.7666666666666667,
                ("wash_in_hist_p10",),
                0.8,
                False,
            ),
            (
                "both",
                2,
                0.6333333333333333,
                0.7232142857142858,
                0.7444444444444445,
                0.8333333333333334,
                ("wash_in_hist_p10", "wash_in_hist_p50"),
                0.3333333333333333,
                False,
            ),
            (
                "both",
                3,
                0.7,
                0.7544642857142858,
                0.7444444444444445,
                0.8333333333333334,
                ("wash_in_hist_p10", "wash_in_hist_p50", "wash_in_glcm_cluster_prominence"),
                0.25999999999999995,
                True,
            ),
            (
                "histogram",
                1,
                0.7333333333333333,
                0.6607142857142857,
                0.6888888888888889,
                0.7666666666666667,
                ("wash_in_hist_p10",),
                0.8,
                False,
            ),
            (
                "histogram",
                2,
                0.6666666666666666,
                0.6830357142857142,
                0.7333333333333333,
                0.8333333333333334,
                ("wash_in_hist_p10", "wash_in_hist_p50"),
                0.8666666666666666,
                False,
            ),
            (
                "histogram",
                3,
                0.6666666666666666,
                0.6919642857142857,
                0.7555555555555555,
                0.7666666666666667,
                ("wash_in_hist_p10", "wash_in_hist_p50", "wash_in_hist_p20"),
                0.7,
                True,
            ),
            (
                "texture",
                1,
                0.5666666666666667,
                0.6473214285714286,
                0.6833333333333333,
                0.6666666666666666,
                ("wash_in_glcm_autocorrelation",),
                0.0,
                False,
            ),
            (
                "texture",
                2,
                0.7,
                0.6785714285714286,
                0.7444444444444445,
                0.6,
                ("wash_in_glcm_autocorrelation", "wash_in_glcm_cluster_prominence"),
                0.4666666666666666,
                True,
            ),
            (
                "texture",
                3,
                0.7333333333333333,
                0.6741071428571428,
                0.7444444444444445,
                0.6666666666666666,
                (
                    "wash_in_glcm_autocorrelation",
                    "wash_in_glcm_cluster_prominence",
                    "wash_in_glcm_correlation_1",
                ),
                0.44000000000000006,
                False,
            ),
        ],
        "score_sum": 126.92588593432441,
    },
    "paper": {
        "folds": [3, 1, 3, 0, 3, 2, 2, 4, 0, 2, 0, 4, 1, 1, 1, 3, 0, 1, 4, 1, 4, 2, 3, 0, 2, 4, 4, 0, 2, 3],
        "fr": {},
        "imp": 0.21666666666666673,
        "keys": ["both-all-seed1720656046", "histogram-all-seed202860983", "texture-all-seed741720773"],
        "rows": [
            (
                "both",
                1,
                0.8,
                0.7589285714285714,
                0.7555555555555555,
                0.7666666666666667,
                ("wash_in_hist_p10",),
                NAN,
                False,
            ),
            (
                "both",
                2,
                0.6666666666666666,
                0.6875,
                0.7555555555555555,
                0.8333333333333334,
                ("wash_in_hist_p10", "wash_in_hist_p50"),
                NAN,
                False,
            ),
            (
                "both",
                3,
                0.8,
                0.8080357142857143,
                0.8194444444444444,
                0.8333333333333334,
                ("wash_in_hist_p10", "wash_in_hist_p50", "wash_in_glcm_cluster_prominence"),
                NAN,
                True,
            ),
            (
                "histogram",
                1,
                0.8,
                0.7589285714285714,
                0.7555555555555555,
                0.7666666666666667,
                ("wash_in_hist_p10",),
                NAN,
                True,
            ),
            (
                "histogram",
                2,
                0.6666666666666666,
                0.6875,
                0.7555555555555555,
                0.8333333333333334,
                ("wash_in_hist_p10", "wash_in_hist_p50"),
                NAN,
                False,
            ),
            (
                "histogram",
                3,
                0.6666666666666666,
                0.7008928571428572,
                0.7555555555555555,
                0.7666666666666667,
                ("wash_in_hist_p10", "wash_in_hist_p50", "wash_in_hist_p40"),
                NAN,
                False,
            ),
            (
                "texture",
                1,
                0.6,
                0.6696428571428571,
                0.7055555555555555,
                0.6333333333333333,
                ("wash_in_glcm_cluster_prominence",),
                NAN,
                False,
            ),
            (
                "texture",
                2,
                0.5666666666666667,
                0.6785714285714286,
                0.7055555555555555,
                0.6,
                ("wash_in_glcm_cluster_prominence", "wash_in_glcm_autocorrelation"),
                NAN,
                True,
            ),
            (
                "texture",
                3,
                0.6,
                0.6607142857142857,
                0.6805555555555556,
                0.6666666666666666,
                (
                    "wash_in_glcm_cluster_prominence",
                    "wash_in_glcm_autocorrelation",
                    "wash_in_glcm_correlation_1",
                ),
                NAN,
                False,
            ),
        ],
        "score_sum": 123.8369627037816,
    },
}


class Store(dict):
    def get(self, key):
        return dict.get(self, key)

    def put(self, key, value):
        self[key] = value


def fixture():
    rng = np.random.default_rng(11)
    y = np.array(["lung"] * 14 + ["other"] * 16)
    names = [n for n in FEATURE_NAMES if "_hist_" in n][:5] + [n for n in FEATURE_NAMES if "_glcm_" in n][:5]
    X = pd.DataFrame(rng.normal(size=(30, 10)), columns=names)
    X[names[0]] += 1.0 * (y == "lung")
    X[names[6]] -= 0.8 * (y == "lung")
    return X, y


@pytest.mark.parametrize("protocol", ["leak-free", "paper"])
def test_search_reproduces_the_pinned_numbers(protocol):
    X, y = fixture()
    store = Store()
    kw = {"family": "all", "k_range": [1, 2, 3], "protocol": protocol, "n_splits": 5}
    kw |= {"n_estimators": 15, "rng": 4, "checkpoint": store, "positive": "lung"}
    res = radiomics_search(X, y, **kw)
    want = PINNED[protocol]
    rows = [
        (
            r.family,
            int(r.k),
            float(r.accuracy),
            float(r.auc),
            float(r.auc_fold_mean),
            float(r.accuracy_resubstitution),
            r.features,
            float(r.stability),
            bool(r.best),
        )
        for r in res.table.itertuples()
    ]
    # to the last bit (NaN stability of the paper protocol compared as NaN)
    np.testing.assert_equal(rows, want["rows"])
    assert res.oof.fold.tolist()[:30] == want["folds"]
    assert float(res.oof.y_score.sum()) == want["score_sum"]
    assert sorted(store) == want["keys"]
    assert float(np.nansum(res.importances.to_numpy())) == want["imp"]
    assert {k: float(v.to_numpy().sum()) for k, v in res.fold_rankings.items()} == want["fr"]
    # a second run reads every ranking back from the checkpoint and gives the same table
    pd.testing.assert_frame_equal(radiomics_search(X, y, **kw).table, res.table, check_exact=True)


def test_old_classify_names_are_deprecated_aliases():
    import dcemets.classify
    import dcemets.classify.selection
    from dcemets.evaluation import SearchResult, search

    for module in (dcemets.classify, dcemets.classify.selection):
        with pytest.warns(DeprecationWarning, match=r"moved to dcemets\.evaluation") as rec:
            assert module.radiomics_search is radiomics_search
        assert rec[0].filename == __file__  # points at the caller
        with pytest.warns(DeprecationWarning, match="SearchResult moved"):
            assert module.SearchResult is SearchResult
    with pytest.warns(DeprecationWarning, match=r"dcemets\.evaluation\.search\.FAMILIES"):
        assert dcemets.classify.selection.FAMILIES is search.FAMILIES
    with pytest.raises(AttributeError):
        getattr(dcemets.classify.selection, "no_such_name")
    assert "radiomics_search" not in dcemets.classify.__all__
