"""Tests of dcemets.evaluation.plotting.plot_roc."""

import matplotlib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve

from dcemets.evaluation.crossval import cross_validate
from dcemets.evaluation.plotting import plot_roc

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_roc_from_cv_results_and_pairs():
    rng = np.random.default_rng(0)
    y = np.array(["lung"] * 30 + ["other"] * 31)
    X = rng.normal(size=(61, 2)) + np.where(y == "lung", 1.0, 0.0)[:, None]
    res = cross_validate(LogisticRegression(), X, y, cv=5, rng=0, positive="lung")
    score = X[:, 0]
    ax = plot_roc({"logistic": res, "wash-out": (y, score)}, positive="lung")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("logistic (AUC = ")
    auc = res.pooled["auc"].iloc[0]
    assert texts[0] == f"logistic (AUC = {auc:.2f})"
    line = ax.lines[1]
    fpr, tpr, _ = roc_curve(y == "lung", score)
    np.testing.assert_allclose(line.get_xdata(), fpr)
    np.testing.assert_allclose(line.get_ydata(), tpr)
    assert len(ax.lines) == 3  # two curves + chance


def test_plot_roc_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        plot_roc({}, positive="lung")
    with pytest.raises(TypeError, match="CVResult"):
        plot_roc({"x": [1, 2, 3]}, positive="lung")
    with pytest.raises(ValueError, match="positive"):
        plot_roc({"x": ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])}, positive="lung")


def test_plot_roc_accepts_any_result_with_oof():
    import pandas as pd

    class Search:
        oof = pd.DataFrame({"y_true": ["lung", "other", "lung", "other"], "y_score": [0.9, 0.2, 0.4, 0.6]})

    ax = plot_roc({"radiomics": Search()}, positive="lung")
    assert ax.get_legend().get_texts()[0].get_text() == "radiomics (AUC = 0.75)"
