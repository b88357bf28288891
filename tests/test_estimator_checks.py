"""scikit-learn's estimator checks over every dcemets estimator on feature tables."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from dcemets.classify.chaid import CHAIDClassifier
from dcemets.classify.selection import ForestRanker

ESTIMATORS = [
    CHAIDClassifier(),
    CHAIDClassifier(max_depth=None, bonferroni=False),
    ForestRanker(n_estimators=20, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
