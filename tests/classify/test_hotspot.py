"""Tests of dcemets.classify.hotspot: the paper's hot-spot pipelines."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from dcemets.classify import export_text
from dcemets.classify.chaid import CHAIDClassifier
from dcemets.classify.hotspot import HEURISTIC_FEATURES, hotspot_chaid, hotspot_logistic


def heuristics_table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "wash_in": rng.normal(145, 65, n),
            "max_se": rng.normal(230, 100, n),
            "washout": rng.normal(-5, 12, n),
        }
    )
    logit = 0.15 * (X["washout"] + 5) + 0.004 * (X["max_se"] - 230)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "lung", "other")
    return X, y


def test_feature_names():
    assert HEURISTIC_FEATURES == ("wash_in", "max_se", "washout")


def test_hotspot_logistic_is_the_unpenalised_maximum_likelihood_fit():
    X, y = heuristics_table()
    model = hotspot_logistic().fit(X, y)
    assert isinstance(model, Pipeline)
    # independent MLE of P(y == classes_[1]) on the raw features
    t = (y == model.classes_[1]).astype(float)
    A = np.column_stack([np.ones(len(X)), X.to_numpy()])

    def nll(beta):
        z = A @ beta
        return np.sum(np.logaddexp(0, z) - t * z)

    def grad(beta):
        return A.T @ (1 / (1 + np.exp(-A @ beta)) - t)

    beta0 = np.zeros(4)
    ref = optimize.minimize(nll, beta0, jac=grad, method="BFGS", options={"gtol": 1e-10, "maxiter": 10000})
    p_ref = 1 / (1 + np.exp(-A @ ref.x))
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], p_ref, atol=1e-4)
    # unscaled coefficients
    scale = model.named_steps["scale"].scale_
    coef = model.named_steps["logistic"].coef_.ravel() / scale
    np.testing.assert_allclose(coef, ref.x[1:], rtol=1e-3)


def test_hotspot_logistic_penalty_and_errors():
    X, y = heuristics_table(seed=1)
    strong = hotspot_logistic(C=1e-3).fit(X, y)
    free = hotspot_logistic().fit(X, y)
    assert (
        np.abs(strong.named_steps["logistic"].coef_).sum() < np.abs(free.named_steps["logistic"].coef_).sum()
    )
    for bad in (0, -1.0, "1"):
        with pytest.raises(ValueError, match="C"):
            hotspot_logistic(C=bad)
    for bad, error in ((0, ValueError), (-3, ValueError), (1.5, ValueError), ("100", TypeError)):
        with pytest.raises(error, match=r"`max_iter` must be an int"):  # 0: an unfitted model
            hotspot_logistic(max_iter=bad)


def test_hotspot_chaid_configuration():
    tree = hotspot_chaid()
    assert isinstance(tree, CHAIDClassifier)
    params = tree.get_params()
    assert params["max_depth"] == 2
    assert params["n_bins"] == 10
    assert params["bonferroni"] is True
    assert (params["alpha_merge"], params["alpha_split"]) == (0.05, 0.05)
    assert clone(tree).get_params() == params
    assert hotspot_chaid(max_depth=1, min_samples_leaf=3).get_params()["min_samples_leaf"] == 3


def test_hotspot_chaid_fits_heuristics_table():
    X, y = heuristics_table(n=200, seed=2)
    tree = hotspot_chaid().fit(X, y)
    assert tree.tree_[0].feature == HEURISTIC_FEATURES.index("washout")
    assert list(tree.feature_names_in_) == list(HEURISTIC_FEATURES)
    assert "washout" in export_text(tree)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros((0, 3)), [], r"`X` has 0 sample\(s\)"),
        (np.zeros((4, 3, 2)), ["a", "b"] * 2, r"`X` must be a 2-D feature table .*3-D shape \(4, 3, 2\)"),
        (np.zeros(4), ["a", "b"] * 2, r"`X` must be a 2-D .*X\.reshape\(-1, 1\)"),
        (np.zeros((4, 3)), ["a", "b", "a"], r"`X` has 4 sample\(s\) \(rows\) but `y` has 3 label\(s\)"),
        (np.zeros((4, 3)), np.zeros((4, 2)), r"`y` must be 1-D class labels"),
        (np.zeros((4, 3)), ["a"] * 4, r"`y` contains one class only"),
    ],
)
def test_classifier_errors_name_x_and_y(X, y, match):
    """Issue 16.13: empty, short and 3-D X/y gave scikit-learn messages naming neither."""
    for model in (hotspot_logistic(), hotspot_chaid()):
        with pytest.raises(ValueError, match=match):
            model.fit(X, y)
    fitted = [
        m.fit(np.arange(24.0).reshape(8, 3), ["a", "b"] * 4)
        for m in (hotspot_logistic(C=1.0), hotspot_chaid())
    ]
    for model in fitted:
        for method in ("predict", "predict_proba"):
            with pytest.raises(ValueError, match=r"`X` must be a 2-D feature table"):
                getattr(model, method)(np.zeros((2, 3, 1)))
            with pytest.raises(ValueError, match=r"`X` has 0 sample\(s\)"):
                getattr(model, method)(np.zeros((0, 3)))
