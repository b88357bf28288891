"""The deep-learning stage's helpers: learning curves kept with the fold checkpoints, fixed folds."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from dcemets.evaluation import cross_validate
from dcemets.models import CurveGRUClassifier
from dcemets.study import FoldStore, _dl


def _curves(n=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(6.0)
    y = np.array(["lung", "other"] * (n // 2))
    X = np.where(y[:, None] == "lung", t, t[::-1]) + rng.normal(0, 0.3, (n, 6))
    return X.astype(np.float32), y, np.array([f"p{i}" for i in range(n)])


def _run(X, y, g, store, sink):
    est = CurveGRUClassifier(
        hidden=2, epochs=3, early_stopping=True, patience=3, random_state=0, device="cpu"
    )
    folds = _dl.FixedFolds(np.arange(len(y)) % 3)
    res = cross_validate(
        _dl._PatientFit(est, _dl.patient_groups(X, g), sink),
        X,
        y,
        groups=g,
        cv=folds,
        aggregate_groups=True,
        checkpoint=_dl._HistoryStore(store, sink),
        positive="lung",
    )
    return res, _dl.learning_curves(sink)


def test_learning_curves_survive_a_resumed_run(tmp_path):
    X, y, g = _curves()
    first, curves = _run(X, y, g, FoldStore(tmp_path / "curve"), "a")
    assert set(curves["fold"]) == {0, 1, 2}
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(curves.columns)
    assert curves.groupby("fold")["epoch"].max().le(3).all()
    second, again = _run(X, y, g, FoldStore(tmp_path / "curve"), "b")  # every fold read back
    pd.testing.assert_frame_equal(curves, again)
    pd.testing.assert_frame_equal(first.oof, second.oof)
    # the test folds are the given ones
    assert [set(first.oof.loc[first.oof["fold"] == k, "group"]) for k in range(3)] == [
        set(g[np.arange(12) % 3 == k]) for k in range(3)
    ]


def test_patient_fit_passes_each_sample_its_patient():
    X, y, g = _curves()
    fit = _dl._PatientFit(CurveGRUClassifier(hidden=2, epochs=1, device="cpu"), _dl.patient_groups(X, g), "c")
    seen = {}

    class Spy(CurveGRUClassifier):
        def fit(self, X, y, groups=None):
            seen["groups"] = groups
            return super().fit(X, y, groups=groups)

    fit.set_params(estimator=Spy(hidden=2, epochs=1, device="cpu")).fit(X[3:], y[3:])
    assert list(seen["groups"]) == list(g[3:])
    _dl.learning_curves("c")
