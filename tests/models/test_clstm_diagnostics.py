"""Issue 19: diagnostics of the ConvLSTM classifier as tests (seconds each).

On a toy cohort whose class is carried only by the *shape* of the enhancement curve (plateau vs
wash-out at the same peak, see ``conftest.curve_shape_cohort``) the ``cpu`` preset's CLSTM must
(1) be able to drive its training loss near zero on a few patients, (2) pass gradients down to its
first ConvLSTM layer, (3) classify held-out patients and (4) lose that ability when the frames of
the held-out slices are shuffled in time -- it reads the time course, not the tumour's outline.
"""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from torch.nn import functional as F

from dcemets.models import TRAINING_PRESETS, CLSTMClassifier, CLSTMNet

pytestmark = pytest.mark.torch

CPU = TRAINING_PRESETS["cpu"].estimator_params("CLSTMClassifier")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine OpenMP's second thread makes training 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small_cohort(curve_cohort_factory):
    """24 patients x 3 slices, 8 x 8 crops: the toy cohort at a size that trains in seconds.

    Patient CV accuracy of the cpu CLSTM (3 folds) on seeds 0, 5, 11: 1.00, 1.00, 0.958 (11 is used
    here, the worst of the three); with the frames shuffled 0.50 on all three.
    """
    return curve_cohort_factory(n_patients=24, n_slices=3, size=16, crop=8, seed=11)


def _mean_curves(X):
    frames = X[:, :, 0]
    inside = (frames != 0).any(1)
    return (frames * inside[:, None]).sum((2, 3)) / inside.sum((1, 2))[:, None]


def _patient_accuracy(clf, X, y, groups):
    proba = pd.Series(clf.predict_proba(X)[:, list(clf.classes_).index("lung")]).groupby(groups).mean()
    truth = pd.Series(y == "lung").groupby(groups).first()
    return float(((proba >= 0.5) == truth).mean())


def test_toy_cohort_is_separable_by_the_mean_curve(curve_cohort):
    """The reference: a logistic regression on each slice's mean curve (patient-grouped CV)."""
    X, y, g = _mean_curves(curve_cohort.X), curve_cohort.y.astype(str), curve_cohort.groups
    scores = []
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, y, g):
        scores.append(LogisticRegression(max_iter=2000).fit(X[train], y[train]).score(X[test], y[test]))
    assert np.mean(scores) >= 0.95
    # and no single frame's mean separates the classes (the peak is the same in both)
    lung, other = X[y == "lung"], X[y == "other"]
    assert abs(lung[:, :5].mean() - other[:, :5].mean()) < 0.25


def test_clstm_overfits_eight_patients(small_cohort):
    """Capacity: the cpu preset's CLSTM drives the training loss of 8 patients near zero."""
    keep = np.isin(small_cohort.groups, np.unique(small_cohort.groups)[:8])
    X, y = small_cohort.X[keep], small_cohort.y[keep].astype(str)
    clf = CLSTMClassifier(**{**CPU, "epochs": 40, "augment": 1}, random_state=0, device="cpu").fit(X, y)
    losses = [h["train_loss"] for h in clf.history_]
    assert losses[-1] < 0.05, losses[-5:]
    assert clf.score(X, y) == 1.0


@pytest.mark.parametrize(("readout", "num_layers", "factor"), [("flatten", 7, 10.0), ("pool", 3, 10.0)])
def test_gradient_reaches_the_first_convlstm_layer(curve_cohort, readout, num_layers, factor):
    """Gradient flow at initialisation: the first layer's gradient norm is within `factor` of the last's.

    Measured (64 toy slices, seed 0): paper network (7 layers, He input kernels)
    [0.016, 0.034, 0.032, 0.033, 0.044, 0.042, 0.041], ratio last/first 2.6; with Keras' Glorot
    input kernels it is 100 (0.00048 -> 0.048), which is why CLSTMNet uses He.
    """
    torch.manual_seed(0)
    net = CLSTMNet(image_size=16, readout=readout, num_layers=num_layers)
    X = torch.from_numpy(curve_cohort.X[:64])
    y = torch.from_numpy((curve_cohort.y[:64] == "other").astype(np.int64))
    F.cross_entropy(net(X), y).backward()
    norms = [
        float(torch.sqrt(sum(p.grad.pow(2).sum() for p in cell.parameters()))) for cell in net.lstm.cells
    ]
    print(f"gradient norm per ConvLSTM layer ({readout}, {num_layers} layers):", np.round(norms, 5))
    assert all(n > 0 for n in norms)
    assert max(norms) / norms[0] < factor, norms


def _cv_clstm(cohort, n_splits=3, seed=0):
    """Patient-level CV accuracy on the held-out slices as they are, and with shuffled frames."""
    X, y, g = cohort.X, cohort.y.astype(str), cohort.groups
    rng = np.random.default_rng(seed)
    accuracies = {"ordered": [], "shuffled": []}
    for train, test in StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(X, y, g):
        clf = CLSTMClassifier(**CPU, random_state=seed, device="cpu").fit(X[train], y[train])
        order = np.argsort(rng.random((len(test), X.shape[1])), axis=1)  # each slice its own order
        shuffled = np.take_along_axis(X[test], order[:, :, None, None, None], axis=1)
        accuracies["ordered"].append(_patient_accuracy(clf, X[test], y[test], g[test]))
        accuracies["shuffled"].append(_patient_accuracy(clf, shuffled, y[test], g[test]))
    return {k: float(np.mean(v)) for k, v in accuracies.items()}


@pytest.fixture(scope="module")
def toy_cv(small_cohort):
    return _cv_clstm(small_cohort)


def test_clstm_reads_the_curve_shape(toy_cv):
    """The cpu preset's CLSTM classifies held-out patients by the curve shape (patient-level CV)."""
    assert toy_cv["ordered"] >= 0.95


def test_clstm_uses_the_order_of_the_frames(toy_cv):
    """The same trained models on the same held-out slices with their frames shuffled: chance."""
    assert toy_cv["shuffled"] <= 0.7
