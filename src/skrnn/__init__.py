"""skrnn: recurrent neural networks as scikit-learn estimators.

Elman RNNs trained by backpropagation through time in multi-threaded Cython kernels,
behind the estimator API of ``sklearn.neural_network``.
"""

from ._rnn import RNNClassifier, RNNRegressor
from ._sequences import from_channels_first
from .exceptions import TrainingDivergedError

__version__ = "0.1.0"

__all__ = [
    "RNNClassifier",
    "RNNRegressor",
    "TrainingDivergedError",
    "from_channels_first",
    "__version__",
]
