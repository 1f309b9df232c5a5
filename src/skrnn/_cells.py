"""One descriptor per recurrent cell: everything the parameters, the weight
mapping and the network need to know about a cell, read from one place.

A cell is its kernel module (``skrnn._kernels._elman``, ``_lstm``, ``_gru``:
the chunked forward pass, prediction pass and BPTT) and a ``Cell`` here:

* its gates, in PyTorch's order, and the states it carries from step to
  step (the hidden state, and the LSTM's cell state), each with a learned
  initial state ``h0`` / ``c0`` (PyTorch: ``initial_h`` / ``initial_c``);
* the gate whose recurrent bias stays apart from its input bias (the GRU's
  n gate, multiplied by the reset gate: ``b_hn``), and biases that do not
  start at zero (the LSTM's forget gate);
* what bounds its states, for the overflow guard of training;
* the per-row arrays its forward pass keeps for BPTT and the one its BPTT
  shifts by a step, read from its kernel's table.

Adding a cell means writing its kernel and one subclass of ``Cell``.
"""

from ._kernels import _elman, _gru, _layer, _lstm


class Cell:
    """What the rest of skrnn reads about a cell; see the module docstring.

    Attributes
    ----------
    name : str
        The value of the estimators' ``cell`` parameter.
    gates : tuple of str
        PyTorch's gate names, in its order (the blocks of ``W_ih``'s columns).
    states : tuple of str
        The states carried from step to step: 'h', and 'c' for the LSTM.
        Given initial states are arrays for 'h' alone, else tuples in this
        order.
    separate_recurrent_bias : str or None
        The gate whose recurrent bias is kept apart, as ``b_h{gate}``.
    initial_biases : dict of str to float
        Gates whose bias does not start at zero.
    activations : tuple of str
        Accepted values of ``activation``.
    kept_arrays : tuple of (str, int)
        Per-row arrays a training pass keeps for BPTT, besides the states:
        their name and columns in multiples of the hidden size, as the
        kernel's ``Cell`` says.
    """

    name = None
    gates = ()
    states = ("h",)
    separate_recurrent_bias = None
    initial_biases = {}
    activations = ("tanh",)
    kernel = None

    @property
    def n_gates(self):
        return len(self.gates)

    def gate_slice(self, gate, hidden):
        """Columns of ``gate`` in the gates' blocks of ``hidden`` units."""
        k = self.gates.index(gate)
        return slice(k * hidden, (k + 1) * hidden)

    def separate_biases(self):
        """(gate, parameter name) of each gate whose recurrent bias is kept
        apart from the summed bias ``b``."""
        gate = self.separate_recurrent_bias
        return [] if gate is None else [(gate, f"b_h{gate}")]

    def extra_bias_names(self):
        """Per-layer parameters besides W_ih, W_hh and b, always present."""
        return [name for _, name in self.separate_biases()]

    def initial_state_names(self):
        """Names of the learned initial states, in the kernels' order."""
        return [f"{state}0" for state in self.states]

    def states_bounded(self, activation):
        """Whether every state lies in [-s, s], s = max(1, |learned h0|)
        (``state_scale_reads_h0``) or 1, whatever the weights."""
        return True

    #: Whether the state bound is the larger of 1 and the learned h0's
    #: magnitude: the GRU's state mixes in the previous one.
    state_scale_reads_h0 = False

    def activation_code(self, activation):
        """How the kernel names ``activation`` (cells with fixed gates ignore
        it)."""
        return 0

    # -- the kernels (``skrnn._kernels._layer``) -----------------------------

    def forward_work_size(self, chunk_size, hidden, n_in):
        return _layer.forward_work_size(self.kernel.CELL, chunk_size, hidden, n_in)

    def backward_work_size(self, chunk_size, hidden):
        return _layer.backward_work_size(self.kernel.CELL, chunk_size, hidden)

    @property
    def kept_arrays(self):
        return _layer.kept_arrays(self.kernel.CELL)

    def shifted_width(self, n_in, hidden):
        """Columns of the per-row array BPTT builds so that its weight
        gradients are whole-chunk GEMMs: [x_t, h_{t-1}] at the row of step
        t, or, for a cell whose recurrent-side deltas differ from its
        input-side ones (the GRU), delta_{t+1}."""
        if _layer.shifts_next_deltas(self.kernel.CELL):
            return self.n_gates * hidden
        return n_in + hidden

    def forward(self, layer_pass, n_threads):
        """Run the forward kernel on a ``skrnn._network.LayerPass``; returns
        whether the inputs of a prediction pass were all finite."""
        return _layer.forward(self.kernel.CELL, layer_pass, n_threads)

    def backward(self, layer_pass, n_threads):
        """Run BPTT's kernel on a ``LayerPass`` after ``forward``."""
        _layer.backward(self.kernel.CELL, layer_pass, n_threads)


class Elman(Cell):
    name = "rnn"
    gates = ("",)
    activations = ("tanh", "relu")
    kernel = _elman

    def states_bounded(self, activation):
        return activation == "tanh"

    def activation_code(self, activation):
        return _elman.ACTIVATIONS[activation]


class LSTM(Cell):
    name = "lstm"
    gates = ("i", "f", "g", "o")
    states = ("h", "c")
    # The cell starts by remembering (Gers et al., 2000; Jozefowicz et al.,
    # 2015).
    initial_biases = {"f": 1.0}
    kernel = _lstm


class GRU(Cell):
    name = "gru"
    gates = ("r", "z", "n")
    # r * (h W_hn + b_hn): the reset gate multiplies the recurrent bias.
    separate_recurrent_bias = "n"
    state_scale_reads_h0 = True
    kernel = _gru


CELLS = {cell.name: cell for cell in (Elman(), LSTM(), GRU())}


def as_state_parts(value, cell):
    """A given per-sequence state as a list of one array per carried state."""
    return list(value) if len(cell.states) > 1 else [value]


def from_state_parts(parts, cell):
    """The inverse of ``as_state_parts``."""
    return tuple(parts) if len(cell.states) > 1 else parts[0]

