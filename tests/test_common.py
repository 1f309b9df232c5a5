"""scikit-learn's common estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNClassifier, RNNRegressor


@parametrize_with_checks([RNNClassifier(), RNNRegressor()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
