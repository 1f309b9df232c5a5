"""skrnn: recurrent neural networks as scikit-learn estimators.

Elman RNNs, LSTMs and GRUs trained by backpropagation through time in
multi-threaded Cython kernels, behind the estimator API of
``sklearn.neural_network``: one output per sequence (``RNNClassifier``,
``RNNRegressor``) or one per step (``RNNStepClassifier``,
``RNNStepRegressor``); and Echo State Networks, a fixed random reservoir
with a ridge readout fitted in closed form (``ESNClassifier``,
``ESNRegressor``, ``ESNStepClassifier``, ``ESNStepRegressor``, and
``Reservoir`` for any other readout).
"""

from ._esn import (
    ESNClassifier, ESNRegressor, ESNStepClassifier, ESNStepRegressor, Reservoir,
)
from ._rnn import RNNClassifier, RNNRegressor
from ._step import RNNStepClassifier, RNNStepRegressor
from ._sequences import from_channels_first, from_padded
from .exceptions import GradientClippingWarning, TrainingDivergedError

__version__ = "0.1.0"

__all__ = [
    "ESNClassifier",
    "ESNRegressor",
    "ESNStepClassifier",
    "ESNStepRegressor",
    "Reservoir",
    "GradientClippingWarning",
    "RNNClassifier",
    "RNNRegressor",
    "RNNStepClassifier",
    "RNNStepRegressor",
    "TrainingDivergedError",
    "from_channels_first",
    "from_padded",
    "__version__",
]
