"""A stacked, optionally bidirectional recurrent network as a function of its
flat parameter vector.

This module is the only caller of the kernels: it sorts a mini-batch by
length, cuts it into chunks, allocates every work array, runs each layer and
direction through its cell's kernel, and applies the dense output layer to
what the network's head (``skrnn._heads``) reads from the last layer: the
final states, a pooling of the states over each sequence's steps, or the
state at every step. Estimators see plain arrays.

The backward direction of a layer is the same kernel run on each sequence
reversed in time, so ragged batches need nothing special (each sequence's
backward pass starts at its own last step). Training maps step t of a
sequence to its step L - 1 - t with the layout's ``reverse_rows``
permutation; prediction reads each sequence from its last row back.
"""

import math

import numpy as np

from ._cells import CELLS, as_state_parts, from_state_parts
from ._kernels._dense import dense_forward
from ._kernels._layout import chunk_layout, gather_rows, sort_and_chunk
from ._kernels._output import output_loss
from ._heads import make_head
from ._params import NetworkSpec, init_params

# Sequences per chunk, the unit of parallel work. It must not depend on the
# thread count: the chunks decide the order in which gradients are summed,
# and so the bits of the result. Training batches are small (tens of
# sequences), so their chunks are too, or one thread would get all the work
# (see ``training_chunk_size``); prediction sees the whole input at once,
# and bigger chunks make each per-step product a bigger, more efficient GEMM.
CHUNK_SIZE = 32
PREDICT_CHUNK_SIZE = 64
# The smallest chunk a training batch is cut into: the tallest block of rows
# of the packed products (_kernels/_gemm.h), so that each per-step product
# still runs whole blocks.
MIN_CHUNK_SIZE = 8


def training_chunk_size(n_sequences):
    """Sequences per chunk of a training batch: CHUNK_SIZE, or, for a batch
    of fewer than two such chunks, half the batch (at least MIN_CHUNK_SIZE),
    so that a small mini-batch, a ``partial_fit`` on a few sequences above
    all, still gives a second thread a chunk. One thread runs the two halves
    nearly as fast as the whole: each step's products run the same blocks
    of rows (at most MIN_CHUNK_SIZE tall) either way."""
    return min(CHUNK_SIZE, max(MIN_CHUNK_SIZE, -(-n_sequences // 2)))

# ``input_start`` of a training pass (the input is in layout order), and the
# row indices ``chunk_layout`` is not asked for.
_NO_ROWS = np.empty(0, np.intp)

# Work memory per prediction slice, in bytes (see ``predict_raw``). It must
# hold several chunks of sequences, or a slice leaves threads idle.
_PREDICT_BUDGET = 256 << 20

# A call's work arrays up to this size are kept for the network's next call
# (``RecurrentNetwork.workspace``); larger ones are given back.
_KEPT_WORKSPACE_BYTES = 32 << 20


class BatchLayout:
    """A mini-batch sorted longest first and cut into chunks.

    Attributes
    ----------
    order : ndarray of shape (n_seq,)
        Batch index of each sorted sequence.
    seq_start : ndarray of shape (n_seq,)
        Row of ``sequences.data`` holding each sorted sequence's first step.
    seq_len : ndarray of shape (n_seq,)
        Sorted lengths.
    chunk_row_start : ndarray of shape (n_chunks + 1,)
        First row of each chunk in the work arrays.
    data_rows : ndarray of shape (n_rows,) or None
        Row of ``sequences.data`` held by each work row.
    last_rows : ndarray of shape (n_seq,) or None
        Work row of each sorted sequence's last step.
    reverse_rows : ndarray of shape (n_rows,) or None
        Work row of the same sequence at the mirrored step (bidirectional
        networks only).

    The three row indices are made only ``with_rows`` (training). A
    prediction pass needs none: its kernels find each sequence's rows from
    ``seq_start``, where writing and reading an index of every row cost 5%
    of a small prediction.
    """

    def __init__(self, sequences, with_reverse, chunk_size=CHUNK_SIZE, with_rows=True):
        self.order, self.seq_start, self.seq_len, self.chunk_row_start = sort_and_chunk(
            sequences.lengths, sequences.starts, chunk_size)
        n_seq = len(self.order)
        self.chunk_size = chunk_size
        self.n_rows = int(self.chunk_row_start[-1])
        self.data_rows = self.last_rows = self.reverse_rows = None
        self._sequence_rows = None
        if with_rows:
            self.data_rows = np.empty(self.n_rows, np.intp)
            self.last_rows = np.empty(n_seq, np.intp)
            reverse = np.empty(self.n_rows if with_reverse else 0, np.intp)
            chunk_layout(self.seq_start, 1, self.seq_len, self.chunk_row_start, chunk_size,
                         self.data_rows, self.last_rows, reverse, self._slab_start())
            self.reverse_rows = reverse if with_reverse else None

    def rows_of(self, seq_start, step):
        """Row of other data held by each work row.

        Parameters
        ----------
        seq_start : ndarray of shape (n_seq,)
            Row of that data holding each sorted sequence's first step.
        step : {1, -1}
            Rows from one step of a sequence to the next there.

        Returns
        -------
        rows : ndarray of shape (n_rows,)
        """
        rows = np.empty(self.n_rows, np.intp)
        chunk_layout(seq_start, step, self.seq_len, self.chunk_row_start, self.chunk_size,
                     rows, _NO_ROWS, _NO_ROWS, self._slab_start())
        return rows

    def _slab_start(self):
        # chunk_layout's work array: one entry per step of the longest sequence.
        return np.empty(int(self.seq_len[0]) + 1 if len(self.seq_len) else 1, np.intp)

    def sequence_rows(self):
        """Where each work row goes when the sorted sequences are stored one
        after another, each in step order.

        Returns
        -------
        rows : ndarray of shape (n_rows,)
            That row of each work row (for the backward direction's rows,
            which hold the steps mirrored, it is a row of the same sequence).
        seq_starts : ndarray of shape (n_seq,)
            The row of each sorted sequence's first step there.
        """
        if self._sequence_rows is None:
            seq_starts = np.zeros(len(self.seq_len), np.intp)
            np.cumsum(self.seq_len[:-1], out=seq_starts[1:])
            self._sequence_rows = self.rows_of(seq_starts, 1), seq_starts
        return self._sequence_rows

    def mirrored_rows(self):
        """Work row of the same sequence at the mirrored step, L - 1 - t
        (``reverse_rows``, made on demand for a prediction pass)."""
        if self.reverse_rows is None:
            rows, seq_starts = self.sequence_rows()
            by_sequence = np.empty(self.n_rows, np.intp)
            by_sequence[rows] = np.arange(self.n_rows)
            self.reverse_rows = by_sequence[
                self.rows_of(np.ascontiguousarray(seq_starts + self.seq_len - 1), -1)]
        return self.reverse_rows

    @property
    def n_chunks(self):
        return self.chunk_row_start.shape[0] - 1

    def team_size(self, n_threads):
        """Threads worth starting for this batch: at most one per chunk, the
        unit of parallel work, so that the per-thread work arrays (and the
        team of threads) never grow past what the batch can use, whatever
        ``n_threads`` asks for."""
        return max(1, min(n_threads, self.n_chunks))


class LayerPass:
    """One layer and direction's pass, as the kernels read it
    (``skrnn._kernels._layer``): every array by the name of the kernel
    field it fills, C-contiguous, in the network's dtype. Arrays a cell does
    not use are empty.

    Forward
    -------
    X : (n_rows, n_in)
        The layer's input at every work row; or, when ``input_start`` has
        entries (a prediction pass), sequences stored anyhow, sequence q's
        step t at row ``input_start[q] + t * input_step`` (a step of 1 reads
        each sequence forward, -1 from its last row back).
    input_start : (n_seq,) or (0,) intp; input_step : int
    seq_len, chunk_row_start : intp arrays; chunk_size : int
        The batch layout (``BatchLayout``).
    W_ih (n_in, G*H), W_hh (H, G*H), b (G*H,), b_hn (H,) or (0,)
        The parameters (views of the flat vector).
    h0, c0 : (1, H) or (n_seq, H)
        Initial states: one row shared by every sequence (zeros unless
        learned), or one per sorted sequence (``given_initial_state``).
        ``c0`` is the LSTM's cell state, else empty.
    has_initial_state : bool
        Whether h0 is not zero (its product with W_hh is skipped if not).
    given_initial_state : bool
        Whether h0 and c0 are per sequence and not parameters (BPTT adds
        each sequence's own share of dW_hh).
    activation : int
        The Elman cell's activation code.
    H : (n_rows, H) or (0, H), written
        The state at every row; empty when ``final`` has rows.
    final : (n_seq, H) or (0, H), written
        Each sorted sequence's last state alone: the last layer of a
        prediction pass whose head reads nothing else.
    C, A, HN : (n_rows, .) or empty, written
        What a training pass keeps for BPTT (``Cell.kept_arrays``): the
        LSTM's cell states, the gates' activations, the GRU's h W_hn + b_hn.
    work : (n_threads, forward_work_size) or (n_chunks, backward_work_size)
        Scratch, one row per thread (forward) or per chunk (BPTT).

    BPTT
    ----
    dH : (n_rows, H)
        dLoss/dh at every row.
    D : (n_rows, G*H), work
        dLoss/d(pre-activations) at every row.
    shifted : (n_rows, ``Cell.shifted_width``), work
        What makes the weight gradients whole-chunk GEMMs.
    dX : (n_rows, n_in) or (0, n_in), written
        dLoss/dX, for the layer below.
    d_initial, d_initial_cell : (n_seq, H) or (0, H), written
        dLoss/d(each sorted sequence's initial states), where asked.
    chunk_grad : (n_chunks, n_local), work; grad : (n_local,), written
        The layer's gradient per chunk, then summed in chunk order.
    """

    __slots__ = (
        "X", "input_start", "input_step", "seq_len", "chunk_row_start", "chunk_size",
        "W_ih", "W_hh", "b", "b_hn", "h0", "c0", "has_initial_state",
        "given_initial_state", "activation", "H", "final", "C", "A", "HN", "work",
        "dH", "D", "shifted", "dX", "d_initial", "d_initial_cell", "chunk_grad", "grad",
    )

    def __init__(self, *, X, input_start, input_step, seq_len, chunk_row_start, chunk_size,
                 W_ih, W_hh, b, b_hn, h0, c0, has_initial_state, given_initial_state,
                 activation, H, final, C, A, HN, work):
        # The forward pass's fields, assigned by name (a setattr loop over
        # keyword arguments costs as much as a small prediction's
        # arithmetic); BPTT sets its own on the same object.
        self.X, self.input_start, self.input_step = X, input_start, input_step
        self.seq_len, self.chunk_row_start, self.chunk_size = seq_len, chunk_row_start, chunk_size
        self.W_ih, self.W_hh, self.b, self.b_hn = W_ih, W_hh, b, b_hn
        self.h0, self.c0 = h0, c0
        self.has_initial_state, self.given_initial_state = has_initial_state, given_initial_state
        self.activation, self.H, self.final = activation, H, final
        self.C, self.A, self.HN, self.work = C, A, HN, work


class LayerParameters:
    """What one layer and direction's passes read from the parameters: the
    ``LayerPass`` fields that do not change from batch to batch (views of
    the flat vector, or constants).

    Attributes
    ----------
    hidden : int
    W_ih, W_hh, b, b_hn : ndarray
        As ``LayerPass`` takes them (``b_hn`` empty unless the cell has it).
    h0, c0 : ndarray of shape (1, hidden) or (0, hidden)
        The learned initial states, or zeros (``c0`` empty unless the cell
        carries a cell state).
    learned : bool
        Whether h0 (and c0) are learned parameters.
    activation : int
        The kernel's code of the network's activation.
    empty : ndarray of shape (0, hidden)
        For the arrays a pass does not use (the kernels never write an
        array without rows, so one serves them all).
    """

    __slots__ = ("hidden", "W_ih", "W_hh", "b", "b_hn", "h0", "c0", "learned",
                 "activation", "empty")

    def __init__(self, network, w, tag, hidden):
        cell, dtype = network.cell, network.dtype
        self.hidden = hidden
        self.W_ih, self.W_hh, self.b = w["W_ih" + tag], w["W_hh" + tag], w["b" + tag]
        extra = [w[name + tag] for name in cell.extra_bias_names()]
        self.b_hn = extra[0] if extra else np.empty(0, dtype)
        # The learned initial states, one row shared by every sequence, or
        # zeros (the kernels read the row as the state before step 0 either
        # way, and only skip its product with W_hh).
        names = [name + tag for name in cell.initial_state_names()]
        self.learned = names[0] in w
        initial = ([w[name].reshape(1, hidden) for name in names] if self.learned
                   else [np.zeros((1, hidden), dtype) for _ in names])
        self.empty = np.empty((0, hidden), dtype)
        self.h0 = initial[0]
        self.c0 = initial[1] if len(initial) > 1 else self.empty
        self.activation = cell.activation_code(network.spec.activation)


class Workspace:
    """Work arrays kept from one batch to the next of a fit or predict call.

    A training epoch runs forward and backward passes over many batches of
    the same shape; allocating their arrays afresh each time made the kernel
    map, zero and unmap megabytes of pages per batch (measured: about 15% of
    the time of a small LSTM). A workspace hands out the same memory again
    instead. Each name's array is valid until the next request for that name,
    so one workspace serves one sequence of passes at a time: it is made per
    ``fit`` or ``predict`` call, never shared between threads.
    """

    def __init__(self):
        self._buffers = {}
        self.nbytes = 0

    def empty(self, name, shape, dtype):
        """An uninitialised array of ``shape`` for ``name``."""
        size = math.prod(shape)  # not np.prod: this runs a dozen times a batch
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            if buffer is not None:
                self.nbytes -= buffer.nbytes
            buffer = self._buffers[name] = np.empty(size, dtype)
            self.nbytes += buffer.nbytes
        return buffer[:size].reshape(shape)

    def zeros(self, name, shape, dtype):
        """``empty``, filled with zeros."""
        array = self.empty(name, shape, dtype)
        array.fill(0)
        return array


class _KeptWorkspace:
    """``RecurrentNetwork.workspace``'s context manager: an idle workspace of
    the network (or a new one) for the ``with`` block, idle again after it
    unless it grew too large. (A class rather than a generator: it runs at
    every call, however small.)"""

    __slots__ = ("_idle", "_workspace")

    def __init__(self, idle):
        self._idle = idle

    def __enter__(self):
        self._workspace = self._idle.pop() if self._idle else Workspace()
        return self._workspace

    def __exit__(self, *exc_info):
        if self._workspace.nbytes <= _KEPT_WORKSPACE_BYTES:
            self._idle.append(self._workspace)
        return False


class RecurrentNetwork:
    """Recurrent layers with a dense output layer on what a head reads.

    Parameters
    ----------
    spec : NetworkSpec
    dtype : {np.float32, np.float64}
    head : {'last', 'mean', 'max', 'step'}, default='last'
        What the output layer reads (see ``skrnn._heads``): with 'step',
        there is one output row per time step.
    """

    def __init__(self, spec, dtype, head="last"):
        self.spec = spec
        self.dtype = np.dtype(dtype)
        self.head = make_head(head)
        self.cell = CELLS[spec.cell]
        self.layout = spec.layout()
        # Where each layer's gradient, in its local layout, goes in the flat one.
        self._local_runs = {
            tag: self.layout.runs(spec.local_names(tag)) for _, tag, _, _ in spec.layers()
        }
        # Where the output layer lies in the flat vector, found once: every
        # update reads it (``outputs_stay_finite``, ``backward``).
        self._output_slices = [self._slice(name) for name in ("W_y", "b_y")]
        last = len(spec.hidden_sizes) - 1
        self._bounding_h0 = (
            [self._slice(f"h0_l{last}{d}") for d in spec.directions]
            if self.cell.state_scale_reads_h0 and spec.learn_initial_state else [])
        self._idle_workspaces = []
        self._params_views = (None, None, None)
        # Values kept per time step by a prediction pass, over all layers:
        # the layers' states (and, stacked, their inputs stored by sequence
        # and the row index that stores them).
        self._predict_values_per_row = sum(
            n_in + hidden + 1 for _, _, n_in, hidden in spec.layers())

    def _views(self, params):
        """``layout.views(params)``, made once per parameter array: the
        optimizers update that array in place, so its views stay valid,
        and a prediction of one sequence need not build them again."""
        return self._parameter_views(params)[0]

    def _layer_parameters(self, params):
        """Per layer tag, the ``LayerParameters`` of ``params``, made once
        per parameter array as ``_views`` are."""
        return self._parameter_views(params)[1]

    def _parameter_views(self, params):
        cached, views, layers = self._params_views
        if cached is not params:
            views = self.layout.views(params)
            layers = {tag: LayerParameters(self, views, tag, hidden)
                      for _, tag, _, hidden in self.spec.layers()}
            self._params_views = (params, views, layers)
        return views, layers

    def workspace(self):
        """A workspace for one call (a fit, a ``partial_fit``, a prediction),
        as a context manager: kept for the next call unless it grew past
        _KEPT_WORKSPACE_BYTES.

        Small calls, the online prediction of one sequence or a
        ``partial_fit`` on a few, would otherwise allocate their work arrays
        afresh each time, and with glibc's default thresholds the operating
        system would map and zero their pages again at every call, a cost of
        the order of the call's arithmetic. Calls that run at the same time
        (from several threads) take one workspace each."""
        return _KeptWorkspace(self._idle_workspaces)

    def _slice(self, name):
        """(slice, shape) of a parameter in the flat vector."""
        offset, shape = self.layout.offsets[name], self.layout.shapes[name]
        return slice(offset, offset + math.prod(shape)), shape

    @property
    def n_outputs(self):
        return self.spec.n_outputs

    def get_state(self):
        """The network as plain values: ``RecurrentNetwork.from_state``
        rebuilds it (so that persisting a model stores no skrnn objects)."""
        spec = self.spec
        return {"n_features": spec.n_features, "n_outputs": spec.n_outputs,
                "cell": spec.cell, "hidden_sizes": list(spec.hidden_sizes),
                "bidirectional": spec.bidirectional,
                "learn_initial_state": spec.learn_initial_state,
                "activation": spec.activation, "dtype": self.dtype.name,
                "head": self.head.name}

    @classmethod
    def from_state(cls, state):
        state = dict(state)
        dtype = state.pop("dtype")
        head = state.pop("head", "last")  # (saved before heads existed)
        return cls(NetworkSpec(**state), dtype, head)

    def init_params(self, rng):
        """Initial flat parameters (see ``skrnn._params.init_params``)."""
        return init_params(self.spec, self.layout, rng, self.dtype)

    def outputs_stay_finite(self, params):
        """Whether ``params`` are finite and, where the last layer's final
        states are bounded, every output is too, for any finite states:
        |b_j| + s * sum_i |W_y[i, j]| is finite, where s bounds the states
        (1 for tanh and the LSTM; for the GRU, whose state mixes the
        previous one in, the largest of 1 and a learned h0). The relu Elman
        cell has no bound, and only finiteness is checked. Training rejects
        an update that breaks this, so a fit never ends with weights whose
        predictions overflow."""
        if not np.isfinite(params).all():
            return False
        if not self.cell.states_bounded(self.spec.activation):
            return True
        (w_slice, w_shape), (b_slice, _) = self._output_slices
        scale = max([1.0] + [float(np.max(np.abs(params[h0]))) for h0, _ in self._bounding_h0])
        with np.errstate(over="ignore"):
            bound = np.abs(params[w_slice]).reshape(w_shape).sum(axis=0)
            if scale != 1.0:
                bound *= scale
            bound += np.abs(params[b_slice])
        return bool(np.isfinite(bound).all())

    # -- forward ---------------------------------------------------------------

    def forward(self, params, sequences, n_threads, chunk_size=None,
                for_backward=True, workspace=None, initial_states=None):
        """Raw outputs for every sequence, plus what ``backward`` needs.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        sequences : Sequences
            Its ``data`` must have this network's dtype.
        n_threads : int
        chunk_size : int, optional
            Sequences per chunk of parallel work; by default
            ``training_chunk_size(len(sequences))``.
        for_backward : bool
            Keep what ``backward`` needs (every step's gates and cell
            states). Prediction passes False, and its kernels keep one step
            of them at a time.
        workspace : Workspace, optional
            Where the work arrays come from; by default new ones. The returned
            ``cache`` holds arrays of the workspace, valid until its next
            pass.
        initial_states : dict, optional
            The state each sequence starts from, per layer: a layer tag
            (``"_l0"``, ...) to an array (n_sequences, hidden) in batch
            order, or for the LSTM a pair (hidden states, cell states).
            Layers not named start from their learned initial state, or
            zero. A training pass of a network of one direction only.

        Returns
        -------
        out : ndarray of shape (n_sequences, n_outputs) or (n_steps, n_outputs)
            In batch order; with the 'step' head, each sequence's steps in
            order, one sequence after another.
        cache : dict
            The batch layout, every layer's work arrays and, for a
            prediction pass, ``inputs_finite``: whether the kernels found
            every value of ``sequences.data`` they read finite.
            ``final_states(cache)`` gives a training pass's final states.
        """
        if chunk_size is None:
            chunk_size = training_chunk_size(len(sequences))
        cache = self._forward_to_head(params, sequences, n_threads, chunk_size,
                                      for_backward, workspace, initial_states)
        w = self._views(params)
        head_rows, batch, out_rows = cache["head_rows"], cache["batch"], cache["out_rows"]
        out = np.empty((len(head_rows), self.n_outputs), self.dtype)
        dense_forward(head_rows, w["W_y"], w["b_y"], out,
                      batch.order if out_rows is None else out_rows, n_threads)
        return out, cache

    def forward_loss(self, params, sequences, targets, loss, n_terms, n_threads,
                     workspace=None, initial_states=None, row_weights=None,
                     target_rows=None):
        """A training pass's loss, with the output layer's gradients.

        The output layer, the loss and their gradients run in one kernel
        (``_kernels/_output.pyx``) over the head's rows in the order the
        head reads them, so that neither the outputs nor their gradient
        are put in output order and back.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        sequences : Sequences
        targets : ndarray of shape (n_targets, n_outputs)
            The target of every output row, in ``out``'s order, or, with
            ``target_rows``, where that says.
        loss : a loss of ``skrnn._losses``
        n_terms : int or float
            What the loss is averaged over: the loss and its gradient are
            the sum over the rows, divided by ``n_terms``.
        n_threads : int
        workspace : Workspace, optional
        initial_states : dict, optional
            As ``forward`` takes them.
        row_weights : ndarray of shape (n_rows,), optional
            Each output row's weight in the loss, in ``out``'s order; by
            default 1.
        target_rows : ndarray of shape (n_rows,), optional
            The row of ``targets`` of each output row, in ``out``'s order:
            the head reads the targets from where they are stored, in one
            gather.

        Returns
        -------
        loss : float
        cache : dict
            As ``forward``'s, with the output layer's gradients, for
            ``backward`` called with no ``d_out``.
        """
        ws = workspace if workspace is not None else Workspace()
        cache = self._forward_to_head(params, sequences, n_threads,
                                      training_chunk_size(len(sequences)), True, ws,
                                      initial_states)
        w = self._views(params)
        head_rows, batch, out_rows = cache["head_rows"], cache["batch"], cache["out_rows"]
        head_targets = ws.empty("head_targets", (len(head_rows), self.n_outputs), self.dtype)
        head_order = batch.order if out_rows is None else out_rows
        np.take(targets, head_order if target_rows is None else target_rows[head_order],
                axis=0, out=head_targets)
        # An empty array stands for a weight of 1 on every row.
        n_weights = 0 if row_weights is None else len(head_rows)
        head_weights = ws.empty("head_weights", (n_weights,), self.dtype)
        if row_weights is not None:
            np.take(row_weights, head_order, out=head_weights)
        d_head = ws.empty("d_head", head_rows.shape, self.dtype)
        g_W = np.empty_like(w["W_y"])
        g_b = np.empty_like(w["b_y"])
        value = output_loss(head_rows, w["W_y"], w["b_y"], head_targets, head_weights,
                            loss.code, 1.0 / n_terms, d_head, g_W, g_b, batch.team_size(n_threads))
        cache["output_gradient"] = (d_head, g_W, g_b)
        return value, cache

    def _forward_to_head(self, params, sequences, n_threads, chunk_size, for_backward,
                         workspace, initial_states):
        """The recurrent layers' passes and the head's rows: ``forward``'s
        cache, ``head_rows`` in it."""
        spec = self.spec
        ws = workspace if workspace is not None else Workspace()
        batch = BatchLayout(sequences, spec.bidirectional, chunk_size, with_rows=for_backward)
        n_threads = batch.team_size(n_threads)
        layer_parameters = self._layer_parameters(params)
        n_dir = len(spec.directions)
        if for_backward:
            # Training: the kernels read (and BPTT reuses) every layer's
            # input in layout order.
            X = ws.empty("X", (batch.n_rows, sequences.n_features), self.dtype)
            gather_rows(sequences.data, batch.data_rows, X)
        else:
            # Prediction: the kernels read each sequence's rows where they
            # are, a step at a time, so no copy of all the inputs is made.
            X, starts = sequences.data, batch.seq_start
        n_layers = len(spec.hidden_sizes)
        layers = []
        for k in range(n_layers):
            is_last = k == n_layers - 1
            # Prediction's last layer writes final states only, unless the
            # head reads the others.
            final_only = is_last and not for_backward and self.head.reads_final_only
            for direction in spec.directions:
                tag = f"_l{k}{direction}"
                X_dir, input_start, input_step = X, _NO_ROWS, 0
                if for_backward and direction:
                    X_dir = ws.empty("X" + tag, X.shape, self.dtype)
                    gather_rows(X, batch.reverse_rows, X_dir)
                elif not for_backward:
                    # The backward direction reads each sequence from its
                    # last row back.
                    input_start, input_step = (
                        (starts, 1) if not direction else (starts + batch.seq_len - 1, -1))
                given = None if initial_states is None else initial_states.get(tag)
                layers.append(self._layer_forward(tag, X_dir, input_start, input_step, batch,
                                                  layer_parameters[tag], n_threads,
                                                  for_backward, final_only, ws,
                                                  given))
            if not is_last:
                states = [cache["H"] for cache in layers[-n_dir:]]
                if for_backward:
                    X = self._layer_output(states, batch)
                else:
                    X, starts = self._layer_output_by_sequence(states, batch, ws, k)
        top = layers[-n_dir:]
        finals = [cache["final"] for cache in top] if final_only else None
        states = None if final_only else [cache["H"] for cache in top]
        head_rows, head_context = self.head.read(states, finals, batch, for_backward)
        # The first layer's kernels (both directions) read every input value.
        inputs_finite = all(cache["inputs_finite"] for cache in layers[:n_dir])
        return dict(batch=batch, layers=layers, head_rows=head_rows,
                    head_context=head_context, out_rows=self._output_rows(batch, sequences),
                    inputs_finite=inputs_finite)

    def _output_rows(self, batch, sequences):
        """Output row of each of the head's rows, or None when the head
        gives one row per sorted sequence."""
        if not self.head.per_step:
            return None
        out_starts = np.zeros(len(sequences), np.intp)
        np.cumsum(sequences.lengths[:-1], out=out_starts[1:])
        return self.head.output_rows(batch, out_starts)

    def _layer_output(self, states, batch):
        """The next layer's input in layout order, from a training pass's
        states (one array per direction, each in its own layout order)."""
        if len(states) == 1:
            return states[0]
        H_forward, H_backward = states
        return np.concatenate([H_forward, H_backward[batch.reverse_rows]], axis=1)

    def _layer_output_by_sequence(self, states, batch, ws, k):
        """The next layer's input from a prediction pass's states, stored as
        prediction's kernels read it: each sorted sequence's steps in
        consecutive rows, directions side by side.

        Returns
        -------
        X : ndarray of shape (n_rows, n_directions * hidden)
        starts : ndarray of shape (n_seq,)
            Row of X holding each sorted sequence's first step.
        """
        starts = np.zeros(len(batch.seq_len), np.intp)
        np.cumsum(batch.seq_len[:-1], out=starts[1:])
        hidden = states[0].shape[1]
        X = ws.empty(f"X_l{k + 1}", (batch.n_rows, len(states) * hidden), self.dtype)
        # The backward direction's step t is the sequence's step L - 1 - t.
        steps = [(starts, 1), (starts + batch.seq_len - 1, -1)]
        for d, H in enumerate(states):
            X[batch.rows_of(*steps[d]), d * hidden : (d + 1) * hidden] = H
        return X, starts

    def _given_states(self, given, batch):
        """Initial states given per sequence, one array per carried state,
        in the kernels' sorted order."""
        if self.spec.bidirectional:
            raise ValueError("initial states per sequence need a network of one direction")
        return [np.ascontiguousarray(states[batch.order], dtype=self.dtype)
                for states in as_state_parts(given, self.cell)]

    def final_states(self, cache):
        """Each sequence's state after its last step, per layer, in batch
        order, from a training pass: what ``forward``'s ``initial_states``
        takes, so that the next pass continues where this one ended."""
        batch = cache["batch"]
        states = {}
        for layer in cache["layers"]:
            parts = []
            # A carried state is kept at every row in the array named after it.
            for state in self.cell.states:
                rows = layer[state.upper()]
                part = np.empty((len(batch.order), rows.shape[1]), self.dtype)
                part[batch.order] = rows[batch.last_rows]
                parts.append(part)
            states[layer["tag"]] = from_state_parts(parts, self.cell)
        return states

    def _layer_forward(self, tag, X, input_start, input_step, batch, parameters, n_threads,
                       for_backward, final_only, ws, given=None):
        cell = self.cell
        p = parameters
        hidden, n_rows = p.hidden, batch.n_rows
        h0, c0 = p.h0, p.c0
        if given is not None:
            states = self._given_states(given, batch)
            h0, c0 = states[0], states[1] if len(states) > 1 else p.empty
        # Either the states at every row, or (``final_only``) each sorted
        # sequence's final state.
        if final_only:
            H = p.empty
            final = ws.empty("final" + tag, (len(batch.order), hidden), self.dtype)
        else:
            H = ws.empty("H" + tag, (n_rows, hidden), self.dtype)
            final = p.empty
        # The arrays only BPTT reads; none make the kernels keep one step at
        # a time.
        kept = {}
        if for_backward:
            kept = {name: ws.empty(name + tag, (n_rows, units * hidden), self.dtype)
                    for name, units in cell.kept_arrays}
        # Scratch memory for one chunk, a row per thread: each thread reuses
        # its row for every chunk it runs, so the row stays in cache, where
        # a row per chunk would be megabytes, fetched from memory on every
        # call. (The kernels write each part before they read it.)
        work_size = cell.forward_work_size(batch.chunk_size, hidden, X.shape[1])
        work = ws.empty("work", (n_threads, work_size), self.dtype)
        layer_pass = LayerPass(
            X=X, input_start=input_start, input_step=input_step, seq_len=batch.seq_len,
            chunk_row_start=batch.chunk_row_start, chunk_size=batch.chunk_size,
            W_ih=p.W_ih, W_hh=p.W_hh, b=p.b, b_hn=p.b_hn, h0=h0, c0=c0,
            has_initial_state=p.learned or given is not None,
            given_initial_state=given is not None, activation=p.activation, H=H,
            final=final, C=kept.get("C", p.empty), A=kept.get("A", p.empty),
            HN=kept.get("HN", p.empty), work=work)
        # (BPTT reads ``learned``: whether the learned initial states were used.)
        cache = dict(tag=tag, X=X, H=H, final=final, learned=p.learned and given is None,
                     given=given is not None, layer_pass=layer_pass, **kept)
        cache["inputs_finite"] = cell.forward(layer_pass, n_threads)
        return cache

    # -- backward --------------------------------------------------------------

    def backward(self, params, cache, d_out, n_threads, workspace=None,
                 initial_gradient=False, d_head=None):
        """Gradient of the loss with respect to ``params`` by BPTT.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        cache : dict
            From the ``forward`` call on the same batch and parameters.
        d_out : ndarray of the shape of ``forward``'s ``out``, or None
            Gradient of the loss with respect to ``out``, in its order; None
            after ``forward_loss``, whose cache holds the output layer's
            gradients.
        n_threads : int
        workspace : Workspace, optional
            Where the work arrays come from; by default new ones.
        initial_gradient : bool, default=False
            Also return dLoss/d(initial state) of every sequence.
        d_head : ndarray of shape (n_sequences, n_directions * hidden), optional
            Instead of ``d_out``: the gradient with respect to the rows the
            head read (a pooling head's, in batch order), for a loss that
            reaches them by another path than this pass's output layer. The
            output layer's gradient is then zero.

        Returns
        -------
        grad : ndarray of shape (n_params,)
            A new array.
        d_initial : dict
            With ``initial_gradient``: per layer tag, the gradient with
            respect to each sequence's initial state, in batch order and in
            the form ``forward``'s ``initial_states`` takes.
        """
        spec = self.spec
        ws = workspace if workspace is not None else Workspace()
        batch = cache["batch"]
        n_threads = batch.team_size(n_threads)
        layers = cache["layers"]
        w = self._views(params)
        grad = np.empty(self.layout.n_params, self.dtype)
        (w_slice, w_shape), (b_slice, _) = self._output_slices
        g_W, g_b = grad[w_slice].reshape(w_shape), grad[b_slice]
        n_dir = len(spec.directions)

        out_rows = cache["out_rows"]
        if d_out is None and d_head is None:
            d_head, g_W[...], g_b[...] = cache["output_gradient"]
        elif d_head is None:
            d_out = np.ascontiguousarray(
                d_out[batch.order if out_rows is None else out_rows], dtype=self.dtype)
            g_W[...] = cache["head_rows"].T @ d_out
            g_b[...] = d_out.sum(axis=0)
            d_head = d_out @ w["W_y"].T
        else:
            g_W[...] = 0
            g_b[...] = 0
            d_head = np.ascontiguousarray(d_head[batch.order], dtype=self.dtype)

        # dLoss/dh at every row of the top layer, from the head.
        dH = self.head.seed(d_head, cache["head_context"], batch,
                            spec.hidden_sizes[-1], n_dir, ws)
        d_initial = {}

        for k in range(len(spec.hidden_sizes) - 1, -1, -1):
            n_in = spec.layer_inputs(k)
            dX_total = None
            for d, direction in enumerate(spec.directions):
                layer = layers[k * n_dir + d]
                dX = ws.empty(f"dX{k}_{d}", (batch.n_rows if k > 0 else 0, n_in), self.dtype)
                local = self._layer_backward(layer, dH[d], dX, batch, w, n_threads, ws,
                                             initial_gradient, d_initial)
                for start, stop, local_start in self._local_runs[layer["tag"]]:
                    grad[start:stop] = local[local_start : local_start + stop - start]
                if k > 0:
                    dX = dX if not direction else dX[batch.reverse_rows]
                    dX_total = dX if dX_total is None else dX_total + dX
            if k > 0:
                # Split dLoss/dX of layer k into dLoss/dh of layer k-1's
                # directions, back in each direction's own row order.
                hidden = spec.hidden_sizes[k - 1]
                dH = [np.ascontiguousarray(dX_total[:, :hidden])]
                if n_dir == 2:
                    dH.append(np.ascontiguousarray(dX_total[batch.reverse_rows, hidden:]))
        return (grad, d_initial) if initial_gradient else grad

    def _layer_backward(self, layer, dH, dX, batch, w, n_threads, ws, initial_gradient,
                        d_initial):
        cell = self.cell
        tag = layer["tag"]
        hidden, width = w["W_hh" + tag].shape
        n_local = sum(stop - start for start, stop, _ in self._local_runs[tag])
        D = ws.empty("D", (batch.n_rows, width), self.dtype)
        # What makes the weight gradients whole-chunk GEMMs (see
        # ``Cell.shifted_width``).
        shifted = ws.empty("shifted", (batch.n_rows, cell.shifted_width(layer["X"].shape[1],
                                                                        hidden)), self.dtype)
        work = ws.empty("work",
                        (batch.n_chunks, cell.backward_work_size(batch.chunk_size, hidden)),
                        self.dtype)
        if layer["given"] and self.spec.learn_initial_state:
            # The learned initial states, last in the local layout, were not
            # used: their gradient is zero, and the kernel writes the rest.
            n_unused = hidden * len(cell.states)
            local_grad = np.zeros(n_local, self.dtype)
            n_local -= n_unused
        else:
            local_grad = ws.empty("local_grad", (n_local,), self.dtype)
        chunk_grad = ws.empty("chunk_grad", (batch.n_chunks, n_local), self.dtype)
        n_seq = len(batch.order) if initial_gradient else 0
        d_states = [np.empty((n_seq, hidden), self.dtype) for _ in cell.states]
        # The forward pass's arrays, BPTT's beside them.
        layer_pass = layer["layer_pass"]
        layer_pass.has_initial_state = layer["learned"]
        layer_pass.dH, layer_pass.D, layer_pass.shifted, layer_pass.dX = dH, D, shifted, dX
        layer_pass.d_initial = d_states[0]
        layer_pass.d_initial_cell = (d_states[1] if len(d_states) > 1
                                     else np.empty((0, hidden), self.dtype))
        layer_pass.work, layer_pass.chunk_grad = work, chunk_grad
        layer_pass.grad = local_grad[:n_local]
        cell.backward(layer_pass, n_threads)
        if initial_gradient:
            unsorted = []
            for part in d_states:
                unsorted.append(np.empty_like(part))
                unsorted[-1][batch.order] = part
            d_initial[tag] = from_state_parts(unsorted, cell)
        return local_grad

    # -- prediction ------------------------------------------------------------

    def predict_raw(self, params, sequences, n_threads):
        """Raw outputs, computed in slices that bound the work memory.

        Returns
        -------
        out : ndarray of shape (n_sequences, n_outputs) or (n_steps, n_outputs)
            As ``forward`` gives it.
        inputs_finite : bool
            Whether every value of ``sequences.data`` was finite. The
            kernels check as they read, so that prediction need not make a
            pass over all of X first; with a non-finite input, ``out`` holds
            whatever it propagated to.
        """
        max_rows = max(1, _PREDICT_BUDGET
                       // (self._predict_values_per_row * self.dtype.itemsize))
        if sequences.data.shape[0] <= max_rows:
            # One slice (every online call): no slicing, no copy of the outputs.
            with self.workspace() as ws:
                out, cache = self.forward(params, sequences, n_threads, PREDICT_CHUNK_SIZE,
                                          for_backward=False, workspace=ws)
            return out, cache["inputs_finite"]
        n_seq = len(sequences)
        cum_rows = np.cumsum(sequences.lengths)
        n_out_rows = int(cum_rows[-1]) if self.head.per_step else n_seq
        out = np.empty((n_out_rows, self.n_outputs), self.dtype)
        inputs_finite = True
        start = 0
        with self.workspace() as ws:
            while start < n_seq:
                base = cum_rows[start - 1] if start else 0
                stop = max(start + 1,
                           int(np.searchsorted(cum_rows, base + max_rows, "right")))
                batch = sequences.take(slice(start, stop))
                part = (slice(int(base), int(cum_rows[stop - 1])) if self.head.per_step
                        else slice(start, stop))
                out[part], cache = self.forward(params, batch, n_threads, PREDICT_CHUNK_SIZE,
                                                for_backward=False, workspace=ws)
                inputs_finite &= cache["inputs_finite"]
                start = stop
        return out, inputs_finite
