"""Elman RNN layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (the layout
is described in ``_chunks.pxd``). For one sequence x_0 .. x_{L-1}:

    h_t = act(x_t @ W_ih + h_{t-1} @ W_hh + b),   h_{-1} = h0 (or 0)

``W_ih`` is (n_in, H) and ``W_hh`` is (H, H): PyTorch's ``weight_ih_l0`` and
``weight_hh_l0`` transposed, so that the batch is the left operand of every
product. ``b`` is PyTorch's ``bias_ih + bias_hh``.

The time loops of the passes are the driver's (``_driver.pxd``), written
once for every cell, and the entry points (``forward``, ``backward``) are
``_layer.pyx``'s; this module holds the Elman cell's steps (``_step_part``)
and its ``Cell``: what the driver and the entry points need to know of it,
exported as ``CELL``. The LSTM and GRU kernels are built the same way, so
that ``skrnn._network`` stacks layers and directions without knowing the
cell.
"""

from cpython.pycapsule cimport PyCapsule_New
from cython cimport floating
from libc.string cimport memset

from ._packed cimport packed_gemm, packed_gemm_bias, packed_gemm_continue
from ._chunks cimport (
    ChunkJob, column_sums, copy_rows, initial_state_gradients, project_inputs,
    inputs_beside_states, previous_states_beside_inputs, stacked_weight_gradients,
    tanh_rows,
)
from ._driver cimport (
    BACKWARD_BEGIN, BACKWARD_STEP, Cell, FORWARD_BEGIN, FORWARD_STEP, PREDICT_STEP,
    Slab, StepPart, pack_gates_together,
)


# Activation codes, shared with Python through ``ACTIVATIONS``.
cdef enum:
    TANH = 0
    RELU = 1

ACTIVATIONS = {"tanh": TANH, "relu": RELU}


cdef inline void _activate_rows(
    floating *a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld, int activation,
) noexcept nogil:
    """a = act(a), in place, over the first ``cols`` values of ``rows`` rows
    of stride ``ld`` (a contiguous block is one row)."""
    cdef Py_ssize_t p, i
    if activation == RELU:
        for p in range(rows):
            for i in range(cols):
                a[p * ld + i] = a[p * ld + i] if a[p * ld + i] > 0 else 0
    else:
        tanh_rows(a, rows, cols, ld)


cdef inline floating _activation_grad(floating h, int activation) noexcept nogil:
    # Both derivatives are functions of the activation's output h, so the
    # pre-activations never need to be stored.
    if activation == RELU:
        return <floating> (1 if h > 0 else 0)
    return <floating> 1 - h * h


# -- the cell's steps, run by the driver (_driver.pxd) --------------------------

cdef Cell _ELMAN
_ELMAN.step_float = _step_part[float]
_ELMAN.step_double = _step_part[double]
_ELMAN.pack_forward = pack_gates_together
_ELMAN.n_gates = 1
_ELMAN.c_width = _ELMAN.a_width = _ELMAN.hn_width = 0
_ELMAN.carries_cell_state = _ELMAN.has_recurrent_bias = _ELMAN.shifts_next_deltas = False
_ELMAN.backward_scratch = 1            # G
_ELMAN.backward_scratch_shared = 1     # delta0_sum
_ELMAN.predict_scratch = 0


# The cell, as ``skrnn._kernels._layer`` takes it.
CELL = PyCapsule_New(<void *> &_ELMAN, b"skrnn.Cell", NULL)


cdef void _step_part(
    StepPart part, const ChunkJob *j, Slab *s, floating *dtype,
) noexcept nogil:
    """One part of a chunk's pass; ``dtype`` only selects the type."""
    if part == FORWARD_BEGIN:
        # Every step's input projection, into the states' rows: the
        # recurrence adds to it.
        project_inputs(<const floating *> j.X, <const floating *> j.packed[0],
                       <const floating *> j.b, s.row0, s.row1, j.n_in, j.hidden,
                       <floating *> j.H)
    elif part == FORWARD_STEP:
        _forward_step(j, s, dtype)
    elif part == PREDICT_STEP:
        _predict_step(j, s, dtype)
    elif part == BACKWARD_BEGIN:
        inputs_beside_states(<const floating *> j.X, s.row0, s.row1, j.n_in, j.hidden,
                             <floating *> j.shifted)
    elif part == BACKWARD_STEP:
        _backward_step(j, s, dtype)
    else:
        _backward_end(j, s, dtype)


cdef inline void _forward_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of a training pass: h_t = act(x_t W_ih + b + h_{t-1} W_hh), the
    projection already in the slab's rows; only h_{t-1} @ W_hh is
    sequential."""
    cdef int hidden = j.hidden
    cdef floating *states = <floating *> j.H + s.slab * hidden
    # At t = 0 the sequences start from h0 (a shared row: stride 0), or
    # from zero.
    if s.t > 0:
        packed_gemm(<int> s.running, hidden, hidden,
                    <const floating *> j.H + s.prev_slab * hidden, hidden,
                    <const floating *> j.packed[1], states, hidden, True)
    elif j.has_initial_state:
        packed_gemm(<int> s.running, hidden, hidden,
                    <const floating *> j.h0 + s.first * j.h0_stride, j.h0_stride,
                    <const floating *> j.packed[1], states, hidden, True)
    _activate_rows(states, 1, s.running * hidden, s.running * hidden, j.activation)


cdef inline void _predict_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of a prediction pass: one product, [x_t | h_{t-1}] @ [W_ih;
    W_hh] + b, then the activation; from a zero h0, step 0 is the input
    projection alone. With the inputs projected ahead, the same sums
    continued from x_t W_ih (``packed_gemm_continue``) in the states' rows."""
    cdef bint recurrent = s.t > 0 or j.has_initial_state
    if s.projected != NULL:
        copy_rows(<const floating *> s.projected, j.hidden, s.running, j.hidden,
                  <floating *> s.states, s.ld)
        packed_gemm_continue(<int> s.running, j.hidden, j.hidden if recurrent else 0,
                             <const floating *> s.xh + j.n_in, <int> s.ld,
                             <const floating *> j.packed[1], <const floating *> j.b,
                             <floating *> s.states, <int> s.ld)
        _activate_rows(<floating *> s.states, s.running, j.hidden, s.ld, j.activation)
        return
    packed_gemm_bias(<int> s.running, j.hidden, <int> s.ld if recurrent else j.n_in,
                     <const floating *> s.xh, <int> s.ld,
                     <const floating *> j.packed[1] if recurrent
                     else <const floating *> j.packed[0],
                     <const floating *> j.b, <floating *> s.states, <int> s.ld)
    _activate_rows(<floating *> s.states, s.running, j.hidden, s.ld, j.activation)


cdef inline void _backward_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of BPTT: delta_t from dLoss/dh_t, then dLoss/dh_{t-1} through
    step t, delta_t @ W_hh^T; h_{t-1} goes beside x_t in XH for dW_hh."""
    cdef int hidden = j.hidden
    cdef Py_ssize_t p, k, r
    cdef floating dh
    cdef const floating *H = <const floating *> j.H
    cdef const floating *dH = <const floating *> j.dH
    cdef floating *D = <floating *> j.D
    cdef floating *XH = <floating *> j.shifted
    # G[p]: dLoss/dh_t of the chunk's sequence p through h_{t+1} (the
    # recurrent part; the part from above is read from dH).
    cdef floating *G = <floating *> s.work
    cdef floating *d_initial = (<floating *> j.d_initial + s.first * hidden
                                if j.d_initial != NULL else NULL)
    # Sequences whose last step is t get nothing from step t + 1.
    if s.running > s.next_running:
        memset(&G[s.next_running * hidden], 0,
               (s.running - s.next_running) * hidden * sizeof(floating))
    for p in range(s.running):
        r = (s.slab + p) * hidden
        for k in range(hidden):
            dh = dH[r + k] + G[p * hidden + k]
            D[r + k] = dh * _activation_grad(H[r + k], j.activation)
    if s.t > 0:
        previous_states_beside_inputs(&H[s.prev_slab * hidden], s.slab, s.running,
                                      j.n_in, hidden, XH)
        packed_gemm(<int> s.running, hidden, hidden, &D[s.slab * hidden],
                    hidden, <const floating *> j.packed[0], G, hidden, False)
    else:
        previous_states_beside_inputs(
            <const floating *> j.h0 + s.first * j.h0_stride if j.given_initial_state
            else NULL, s.slab, s.running, j.n_in, hidden, XH)
        if d_initial != NULL:
            packed_gemm(<int> s.running, hidden, hidden, &D[s.slab * hidden],
                        hidden, <const floating *> j.packed[0], d_initial, hidden, False)


cdef inline void _backward_end(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """The chunk's weight gradients, each one GEMM over its rows, and a
    learned h0's."""
    cdef int hidden = j.hidden
    cdef int n_in = j.n_in
    cdef floating *delta0_sum = <floating *> s.work + s.n_seq * hidden
    cdef floating *g_W_ih = <floating *> s.grad
    cdef floating *g_W_hh = g_W_ih + n_in * hidden
    cdef floating *g_b = g_W_hh + hidden * hidden
    cdef floating *g_h0 = g_b + hidden
    stacked_weight_gradients(<const floating *> j.shifted, <const floating *> j.D,
                             <const floating *> j.W_ih, s.row0, s.row1, n_in, hidden,
                             hidden, g_W_ih, g_b, <floating *> j.dX)
    if j.has_initial_state:
        column_sums(<const floating *> j.D + s.row0 * hidden, s.running, hidden, hidden,
                    delta0_sum)
        initial_state_gradients(<const floating *> j.h0 + s.first * j.h0_stride, delta0_sum,
                                <const floating *> j.W_hh, hidden, hidden, g_W_hh, 0, g_h0)
