"""scikit-learn's estimator checks on the image classifiers.

A 2D table ``(n_samples, n_features)`` is read as 1 x 1-pixel images (CLSTM: a sequence of
``n_features`` frames, i.e. an ordinary LSTM; CNN: ``n_features`` channels), so the generic
checks exercise the real training loop and input validation.  With that reading every
check applies and passes (sklearn 1.9.1), so the list of expected failures is empty; the
array-API checks skip unless ``SCIPY_ARRAY_API`` is set.
"""

import pytest

pytest.importorskip("torch")

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


def expected_failed_checks(estimator):
    return EXPECTED_FAILED


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
