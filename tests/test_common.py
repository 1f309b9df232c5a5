"""scikit-learn's common estimator checks, for every cell, with no expected
failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNClassifier, RNNRegressor

CELLS = ["rnn", "lstm", "gru"]


@parametrize_with_checks(
    [RNNClassifier(cell=cell) for cell in CELLS] + [RNNRegressor(cell=cell) for cell in CELLS]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
