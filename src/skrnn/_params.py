"""All weights in one flat array, with a named view per weight.

Keeping every parameter in one contiguous vector (and the gradient in
another of the same layout) makes the optimizer step, gradient clipping and
the L2 penalty single vectorised operations. Weight matrices come first and
biases (and learned initial states) last, so the penalised part is the
prefix ``flat[:n_weights]``.

Names: layer k's parameters end in ``_l{k}``, and its backward direction's
in ``_l{k}_reverse``, as in PyTorch. Per layer and direction:

``W_ih`` (n_in, G*H), ``W_hh`` (H, G*H)
    Input and recurrent weights of the G gates side by side, in PyTorch's
    gate order (``skrnn._cells``: rnn 1 gate; lstm i, f, g, o; gru r, z,
    n). They are PyTorch's ``weight_ih_l{k}`` and ``weight_hh_l{k}``
    transposed.
``b`` (G*H,)
    PyTorch's ``bias_ih + bias_hh``, except for a gate whose recurrent bias
    the cell keeps apart (the GRU's n gate, whose recurrent bias the reset
    gate multiplies): there it is ``bias_ih`` alone, and the recurrent bias
    is ``b_hn`` (H,).
``h0``, ``c0`` (H,)
    Learned initial state of each state the cell carries (the hidden state,
    and the LSTM's cell state), if any.

and for the output layer ``W_y`` (D*H_last, n_outputs) and ``b_y``.
"""

import math

import numpy as np

from ._cells import CELLS

DIRECTIONS = ("", "_reverse")


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

    def runs(self, names):
        """Where the named parameters, one after another in this order (a
        layer's local layout), lie in the flat vector: a list of (start,
        stop, local_start), each a run contiguous in both, parameters that
        follow each other in both merged into one run."""
        runs, local = [], 0
        for name in names:
            start = self.offsets[name]
            size = math.prod(self.shapes[name])
            if runs and runs[-1][1] == start:
                first, _, local_first = runs[-1]
                runs[-1] = (first, start + size, local_first)
            else:
                runs.append((start, start + size, local))
            local += size
        return runs


class NetworkSpec:
    """The architecture of a recurrent network: everything but the values.

    Parameters
    ----------
    n_features : int
        Features per time step.
    n_outputs : int
    cell : {'rnn', 'lstm', 'gru'}
    hidden_sizes : tuple of int
        Hidden size of each recurrent layer, first to last.
    bidirectional : bool
    learn_initial_state : bool
    activation : {'tanh', 'relu'}
        Of the 'rnn' cell.
    """

    def __init__(self, n_features, n_outputs, cell, hidden_sizes, bidirectional,
                 learn_initial_state, activation="tanh"):
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.cell = cell
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.bidirectional = bool(bidirectional)
        self.learn_initial_state = bool(learn_initial_state)
        self.activation = activation
        self.directions = DIRECTIONS[: 2 if bidirectional else 1]

    @property
    def cell_type(self):
        """The cell's descriptor (``skrnn._cells``)."""
        return CELLS[self.cell]

    @property
    def n_gates(self):
        return self.cell_type.n_gates

    def layer_inputs(self, k):
        """Input width of layer k."""
        if k == 0:
            return self.n_features
        return len(self.directions) * self.hidden_sizes[k - 1]

    def layers(self):
        """(k, suffix, n_in, hidden) for every layer and direction, in order."""
        for k, hidden in enumerate(self.hidden_sizes):
            for direction in self.directions:
                yield k, f"_l{k}{direction}", self.layer_inputs(k), hidden

    def local_names(self, tag):
        """Parameter names of one layer and direction, in the kernels' local
        gradient layout [W_ih, W_hh, b, (b_hn), (h0), (c0)]."""
        cell = self.cell_type
        names = ["W_ih", "W_hh", "b"] + cell.extra_bias_names()
        if self.learn_initial_state:
            names += cell.initial_state_names()
        return [name + tag for name in names]

    def layout(self):
        """The ParameterLayout of this network."""
        weights, biases = [], []
        for _, tag, n_in, hidden in self.layers():
            width = self.n_gates * hidden
            weights += [("W_ih" + tag, (n_in, width)), ("W_hh" + tag, (hidden, width))]
            biases.append(("b" + tag, (width,)))
            biases += [(name, (hidden,)) for name in self.local_names(tag)[3:]]
        n_final = len(self.directions) * self.hidden_sizes[-1]
        weights.append(("W_y", (n_final, self.n_outputs)))
        biases.append(("b_y", (self.n_outputs,)))
        return ParameterLayout(weights, biases)


def init_params(spec, layout, rng, dtype):
    """Initial flat parameters, suited to each cell.

    * Input weights ``W_ih`` and the output layer ``W_y``: Glorot uniform,
      with each gate's block scaled by its own fan-in and fan-out (n_in, H).
    * Recurrent weights ``W_hh``: a random orthogonal matrix for each gate,
      whose singular values are all 1, so that at the start the recurrence
      neither shrinks nor blows up the gradient flowing back in time.
    * Biases: zero, except the cell's ``initial_biases`` (the LSTM's forget
      gate, set to 1 so that the cell starts by remembering).
    * Learned initial states: zero, the usual fixed initial state.
    """
    flat = np.zeros(layout.n_params, dtype=dtype)
    views = layout.views(flat)
    # Drawn in this order (input weights, output weights, recurrent weights)
    # so that a one-layer Elman network gets the same weights as skrnn 0.1.
    for _, tag, n_in, hidden in spec.layers():
        bound = math.sqrt(6.0 / (n_in + hidden))
        views["W_ih" + tag][...] = rng.uniform(-bound, bound, size=(n_in, spec.n_gates * hidden))
    fan_in, fan_out = layout.shapes["W_y"]
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    views["W_y"][...] = rng.uniform(-bound, bound, size=(fan_in, fan_out))
    for _, tag, _, hidden in spec.layers():
        views["W_hh" + tag][...] = np.hstack(
            [_random_orthogonal(hidden, rng) for _ in range(spec.n_gates)]
        )
        for gate, value in spec.cell_type.initial_biases.items():
            views["b" + tag][spec.cell_type.gate_slice(gate, hidden)] = value
    return flat


def _random_orthogonal(n, rng):
    # QR of a Gaussian matrix, with the signs fixed so the result is
    # uniformly distributed over orthogonal matrices.
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))
