"""The training objective of a weighted batch, for the tests of
``sample_weight`` and ``class_weight``."""

import numpy as np


def repeat(items, counts):
    """Each item ``counts[i]`` times, in order (0 drops it)."""
    return [item for item, k in zip(items, counts) for _ in range(k)]


def objective(estimator, X, y, sample_weight=None):
    """The training objective and its gradient on all of (X, y) as one
    mini-batch, at the estimator's current parameters, with the weights a
    fit gives the outputs (``sample_weight`` times the class weights)."""
    sequences = estimator._validate_sequences(X, reset=False)
    targets = estimator._cast_targets(estimator._prepare_targets(y, sequences, False),
                                      np.float64)
    row_weights = estimator._fit_weights(sample_weight, sequences, targets, False)
    weights = (None if row_weights is None
               else estimator._output_weights(row_weights, sequences, np.float64))
    return estimator._loss_and_gradient(estimator._params, sequences, targets, 2,
                                        batch_weights=weights)
