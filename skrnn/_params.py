"""All weights in one flat array, with a named view per weight.

Keeping every parameter in one contiguous vector (and the gradient in
another of the same layout) makes the optimizer step, gradient clipping and
the L2 penalty single vectorised operations. Weight matrices come first and
biases last, so the penalised part is the prefix ``flat[:n_weights]``.
"""

import math

import numpy as np


class ParameterLayout:
    """Names, shapes and offsets of the parameters in the flat vector.

    Parameters
    ----------
    weights : list of (str, tuple)
        Names and shapes of the weight matrices (penalised by ``alpha``).
    biases : list of (str, tuple)
        Names and shapes of the bias vectors (not penalised).
    """

    def __init__(self, weights, biases):
        self.shapes = dict(weights + biases)
        self.offsets = {}
        offset = 0
        for name, shape in weights + biases:
            self.offsets[name] = offset
            offset += math.prod(shape)
            if name == weights[-1][0]:
                self.n_weights = offset
        self.n_params = offset

    def views(self, flat):
        """Dict of name -> view of ``flat`` with that parameter's shape."""
        return {
            name: flat[off : off + math.prod(shape)].reshape(shape)
            for (name, shape), off in zip(self.shapes.items(), self.offsets.values())
        }


def elman_layout(n_features, hidden_size, n_outputs):
    """Layout of a one-layer Elman network with a dense output layer."""
    return ParameterLayout(
        weights=[
            ("W_x", (n_features, hidden_size)),
            ("W_s", (hidden_size, hidden_size)),
            ("W_y", (hidden_size, n_outputs)),
        ],
        biases=[("b", (hidden_size,)), ("b_y", (n_outputs,))],
    )


def init_elman_params(layout, rng, dtype):
    """Initial flat parameters for an Elman network.

    Input and output weights: Glorot uniform, as ``MLPClassifier`` does for
    tanh. Recurrent weights: a random orthogonal matrix, whose singular values
    are all 1, so that at the start the recurrence neither shrinks nor blows
    up the gradient flowing back in time. Biases: zero.
    """
    flat = np.zeros(layout.n_params, dtype=dtype)
    views = layout.views(flat)
    for name in ("W_x", "W_y"):
        fan_in, fan_out = layout.shapes[name]
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        views[name][...] = rng.uniform(-bound, bound, size=(fan_in, fan_out))
    views["W_s"][...] = _random_orthogonal(layout.shapes["W_s"][0], rng)
    return flat


def _random_orthogonal(n, rng):
    # QR of a Gaussian matrix, with the signs fixed so the result is
    # uniformly distributed over orthogonal matrices.
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))
