"""scikit-learn's estimator checks on the image classifiers.

A 2D table ``(n_samples, n_features)`` is read as 1 x 1-pixel images (CLSTM: a sequence of
``n_features`` frames, i.e. an ordinary LSTM; CNN: ``n_features`` channels), so the generic
checks exercise the real training loop and input validation.  With that reading every
check applies and passes (sklearn 1.9.1) but one: ``check_methods_sample_order_invariance``
compares ``predict_proba`` on a permuted table at ``rtol=1e-7``, which is float32's rounding
level.  The networks compute in float32, and a sample's row position in a GEMM tile changes
the accumulation order (seen at 3e-7 relative with one torch thread); the check draws its
permutation from NumPy's *global* RNG, so it passed or failed by chance.  It is skipped
with that reason, and :func:`test_predictions_invariant_to_sample_order` asserts the
property at float32 precision on fixed permutations and thread counts instead.  The
array-API checks skip unless ``SCIPY_ARRAY_API`` is set.
"""

import pytest

pytest.importorskip("torch")

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from dcemets.models import CLSTMClassifier, CurveGRUClassifier, MapCNNClassifier

pytestmark = [pytest.mark.torch, pytest.mark.slow]

# Small, fast, undropped networks: the checks fit dozens of times on tiny tables.
CHECKED = [
    CLSTMClassifier(
        features=4, num_layers=2, epochs=30, batch_size=16, lr=0.01, augment=1, dropout=0.0, random_state=0
    ),
    MapCNNClassifier(
        features=8, num_layers=3, epochs=30, batch_size=16, lr=0.01, augment=1, dropout=0.0, random_state=0
    ),
    CurveGRUClassifier(hidden=8, epochs=30, batch_size=16, lr=0.01, random_state=0),
]

EXPECTED_FAILED: dict[str, str] = {}  # check name -> reason; none needed (see module docstring)

# Checks replaced by a test of this module (they pass or fail by chance, so neither xfail fits).
REPLACED = {
    "check_methods_sample_order_invariance": (
        "float32 network: order invariance holds to float32 rounding (~3e-7 relative), not to "
        "sklearn's rtol=1e-7 on a permutation from NumPy's global RNG; tested at float32 precision "
        "in test_predictions_invariant_to_sample_order"
    ),
}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    name = getattr(check, "func", check).__name__
    if name in REPLACED:
        pytest.skip(REPLACED[name])
    check(estimator)


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("estimator", CHECKED, ids=lambda e: type(e).__name__)
def test_predictions_invariant_to_sample_order(estimator, restore_threads):
    """A sample's prediction does not depend on where it sits in the table, to float32
    rounding, with one and with two torch threads and on several fixed permutations
    (the data of sklearn's ``check_methods_sample_order_invariance``)."""
    rnd = np.random.RandomState(0)
    X = 3 * rnd.uniform(size=(20, 3))
    y = X[:, 0].astype(np.int64)
    y[y == 2] = 1
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = clone(estimator).fit(X, y)
        proba = model.predict_proba(X)
        for seed in range(4):
            idx = np.random.default_rng(seed).permutation(len(X))
            permuted = model.predict_proba(X[idx])
            np.testing.assert_allclose(permuted, proba[idx], rtol=1e-5, atol=1e-7)
            # labels change only where the two probabilities tie to float32 rounding
            labels = model.predict(X[idx])
            margin = np.abs(proba[idx, 1] - 0.5)
            assert np.all((labels == model.predict(X)[idx]) | (margin < 1e-6))
