"""LSTM layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (layout in
``_chunks.pxd``): the LSTM cell's steps, run by the driver of every cell
(``_driver.pxd``), and its ``Cell``, exported as ``CELL`` for the entry
points (``_layer.pyx``). With PyTorch's
equations and gate order i, f, g, o:

    [i, f, g, o] = x_t @ W_ih + h_{t-1} @ W_hh + b      (pre-activations)
    i, f, o = sigmoid(.),   g = tanh(.)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t),          h_{-1} = h0, c_{-1} = c0 (or 0)

``W_ih`` is (n_in, 4H) and ``W_hh`` is (H, 4H): PyTorch's ``weight_ih_l0``
and ``weight_hh_l0`` transposed. ``b`` is PyTorch's ``bias_ih + bias_hh``.
"""

from cpython.pycapsule cimport PyCapsule_New
from cython cimport floating
from libc.string cimport memcpy, memset

from ._packed cimport packed_gemm, packed_gemm_bias, packed_gemm_continue
from ._chunks cimport (
    ChunkJob, copy_chunk_rows, column_sums, initial_state_gradients, project_inputs,
    inputs_beside_states, previous_states_beside_inputs, stacked_weight_gradients,
    tanh_inplace,
)
from ._driver cimport (
    BACKWARD_BEGIN, BACKWARD_STEP, Cell, FORWARD_BEGIN, FORWARD_STEP, PREDICT_STEP,
    Slab, StepPart, pack_gates_together,
)


cdef extern from "_lstm_step.h" nogil:
    void skrnn_lstm_forward_step_float(
        Py_ssize_t running, Py_ssize_t hidden, float *gates,
        const float *C_prev, Py_ssize_t c_prev_stride, float *cells, float *H,
        Py_ssize_t h_stride)
    void skrnn_lstm_forward_step_double(
        Py_ssize_t running, Py_ssize_t hidden, double *gates,
        const double *C_prev, Py_ssize_t c_prev_stride, double *cells,
        double *H, Py_ssize_t h_stride)
    void skrnn_lstm_backward_step_float(
        Py_ssize_t running, Py_ssize_t hidden, const float *A,
        const float *C_prev, Py_ssize_t c_prev_stride, const float *T,
        const float *dH, const float *G, float *Gc, float *D)
    void skrnn_lstm_backward_step_double(
        Py_ssize_t running, Py_ssize_t hidden, const double *A,
        const double *C_prev, Py_ssize_t c_prev_stride, const double *T,
        const double *dH, const double *G, double *Gc, double *D)


# -- the cell's steps, run by the driver (_driver.pxd) --------------------------

cdef Cell _LSTM
_LSTM.step_float = _step_part[float]
_LSTM.step_double = _step_part[double]
_LSTM.pack_forward = pack_gates_together
_LSTM.n_gates = 4
_LSTM.c_width, _LSTM.a_width, _LSTM.hn_width = 1, 4, 0
_LSTM.carries_cell_state = True
_LSTM.has_recurrent_bias = _LSTM.shifts_next_deltas = False
_LSTM.backward_scratch = 3             # G, Gc, tanh(c_t)
_LSTM.backward_scratch_shared = 4      # delta0_sum
# A prediction step's gates (4H) and cell states (H) per sequence.
_LSTM.predict_scratch = 5


# The cell, as ``skrnn._kernels._layer`` takes it.
CELL = PyCapsule_New(<void *> &_LSTM, b"skrnn.Cell", NULL)


cdef void _step_part(
    StepPart part, const ChunkJob *j, Slab *s, floating *dtype,
) noexcept nogil:
    """One part of a chunk's pass; ``dtype`` only selects the type."""
    if part == FORWARD_BEGIN:
        # Every step's input projection, into the gates' rows.
        project_inputs(<const floating *> j.X, <const floating *> j.packed[0],
                       <const floating *> j.b, s.row0, s.row1, j.n_in, 4 * j.hidden,
                       <floating *> j.A)
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


cdef inline void _step(
    Py_ssize_t running, int hidden, floating *gates, const floating *cells_prev,
    Py_ssize_t prev_stride, floating *cells, floating *states, Py_ssize_t ld_states,
) noexcept nogil:
    """Gates, c_t and h_t of a slab's rows, in one vectorised pass
    (_lstm_step.h)."""
    if floating is float:
        skrnn_lstm_forward_step_float(
            running, hidden, gates, cells_prev, prev_stride, cells, states, ld_states)
    else:
        skrnn_lstm_forward_step_double(
            running, hidden, gates, cells_prev, prev_stride, cells, states, ld_states)


cdef inline void _forward_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of a training pass: every step's gates, cell states and states
    are kept for BPTT, in the slab's rows of ``A``, ``C`` and ``H``."""
    cdef int hidden = j.hidden
    cdef int width = 4 * hidden
    cdef floating *A = <floating *> j.A
    cdef floating *C = <floating *> j.C
    cdef floating *H = <floating *> j.H
    # At t = 0 the sequences start from h0 and c0 (shared rows: stride 0);
    # from a zero h0 there are no recurrent terms.
    cdef Py_ssize_t prev_stride = hidden if s.t > 0 else j.h0_stride
    cdef const floating *h_prev = <const floating *> j.h0 + s.first * j.h0_stride
    cdef const floating *c_prev = <const floating *> j.c0 + s.first * j.h0_stride
    if s.t > 0:
        h_prev = &H[s.prev_slab * hidden]
        c_prev = &C[s.prev_slab * hidden]
    # All four gates' recurrent terms in one product.
    if s.t > 0 or j.has_initial_state:
        packed_gemm(<int> s.running, width, hidden, h_prev, prev_stride,
                    <const floating *> j.packed[1], &A[s.slab * width], width, True)
    _step(s.running, hidden, &A[s.slab * width], c_prev, prev_stride,
          &C[s.slab * hidden], &H[s.slab * hidden], hidden)


cdef inline void _predict_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of a prediction pass: one step of gates and the cell states
    live in the scratch (c_t overwrites c_{t-1} of the same sequence,
    element by element), so that the gates are one product, [x_t | h_{t-1}]
    @ [W_ih; W_hh] + b, with no pass to add the input projection to the
    recurrent one and no short product over the inputs alone; or, with the
    inputs projected ahead, the same sums continued from x_t W_ih
    (``packed_gemm_continue``)."""
    cdef int hidden = j.hidden
    cdef int width = 4 * hidden
    cdef floating *gates = <floating *> s.work              # row stride ``width``
    cdef floating *cells = gates + s.n_seq * width          # row stride ``hidden``
    cdef bint recurrent = s.t > 0 or j.has_initial_state
    if s.projected != NULL:
        gates = <floating *> s.projected
        packed_gemm_continue(<int> s.running, width, hidden if recurrent else 0,
                             <const floating *> s.xh + j.n_in, <int> s.ld,
                             <const floating *> j.packed[1], <const floating *> j.b,
                             gates, width)
    elif recurrent:
        packed_gemm_bias(<int> s.running, width, <int> s.ld, <const floating *> s.xh,
                         <int> s.ld, <const floating *> j.packed[1],
                         <const floating *> j.b, gates, width)
    else:
        # From a zero h0: the input projection alone.
        packed_gemm_bias(<int> s.running, width, j.n_in, <const floating *> s.xh,
                         <int> s.ld, <const floating *> j.packed[0],
                         <const floating *> j.b, gates, width)
    # At t = 0 the sequences start from c0 (a shared row: stride 0).
    cdef const floating *c_prev = <const floating *> j.c0 + s.first * j.h0_stride
    if s.t > 0:
        c_prev = cells
    _step(s.running, hidden, gates, c_prev, hidden if s.t > 0 else j.h0_stride, cells,
          <floating *> s.states, s.ld)


cdef inline void _backward_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of BPTT: the gates' deltas from dLoss/dh_t and dLoss/dc_t,
    then dLoss/dh_{t-1} through step t, all gates in one product; h_{t-1}
    goes beside x_t in XH for dW_hh."""
    cdef int hidden = j.hidden
    cdef int width = 4 * hidden
    cdef Py_ssize_t running = s.running
    cdef const floating *H = <const floating *> j.H
    cdef const floating *C = <const floating *> j.C
    cdef const floating *A = <const floating *> j.A
    cdef const floating *dH = <const floating *> j.dH
    cdef floating *D = <floating *> j.D
    cdef floating *XH = <floating *> j.shifted
    # G[p], Gc[p]: dLoss/dh_t and dLoss/dc_t of the chunk's sequence p
    # through step t+1; T: tanh(c_t) of the current slab, recomputed.
    cdef floating *G = <floating *> s.work
    cdef floating *Gc = G + s.n_seq * hidden
    cdef floating *T = Gc + s.n_seq * hidden
    cdef floating *d_initial = NULL
    cdef floating *d_initial_cell = NULL
    cdef const floating *c_prev = (&C[s.prev_slab * hidden] if s.t > 0
                                   else <const floating *> j.c0 + s.first * j.h0_stride)
    cdef Py_ssize_t c_prev_stride = hidden if s.t > 0 else j.h0_stride
    if j.d_initial != NULL:
        d_initial = <floating *> j.d_initial + s.first * hidden
        d_initial_cell = <floating *> j.d_initial_cell + s.first * hidden
    memcpy(T, &C[s.slab * hidden], running * hidden * sizeof(floating))
    tanh_inplace(T, running * hidden)
    # Sequences whose last step is t get nothing from step t + 1.
    if running > s.next_running:
        memset(&G[s.next_running * hidden], 0,
               (running - s.next_running) * hidden * sizeof(floating))
        memset(&Gc[s.next_running * hidden], 0,
               (running - s.next_running) * hidden * sizeof(floating))
    if floating is float:
        skrnn_lstm_backward_step_float(
            running, hidden, &A[s.slab * width], c_prev, c_prev_stride, T,
            &dH[s.slab * hidden], G, Gc, &D[s.slab * width])
    else:
        skrnn_lstm_backward_step_double(
            running, hidden, &A[s.slab * width], c_prev, c_prev_stride, T,
            &dH[s.slab * hidden], G, Gc, &D[s.slab * width])
    if s.t > 0:
        previous_states_beside_inputs(&H[s.prev_slab * hidden], s.slab, running,
                                      j.n_in, hidden, XH)
        # dLoss/dh_{t-1} through step t, all gates in one product.
        packed_gemm(<int> running, hidden, width, &D[s.slab * width],
                    width, <const floating *> j.packed[0], G, hidden, False)
    else:
        previous_states_beside_inputs(
            <const floating *> j.h0 + s.first * j.h0_stride if j.given_initial_state
            else NULL, s.slab, running, j.n_in, hidden, XH)
        if d_initial != NULL:
            # dLoss/dh0 through step 0; dLoss/dc0 is what the step left in Gc.
            packed_gemm(<int> running, hidden, width, &D[s.slab * width],
                        width, <const floating *> j.packed[0], d_initial, hidden, False)
            copy_chunk_rows(Gc, running, hidden, d_initial_cell)


cdef inline void _backward_end(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """The chunk's weight gradients, each one GEMM over its rows, and the
    learned h0's and c0's."""
    cdef int hidden = j.hidden
    cdef int n_in = j.n_in
    cdef int width = 4 * hidden
    cdef floating *Gc = <floating *> s.work + s.n_seq * hidden
    cdef floating *delta0_sum = Gc + 2 * s.n_seq * hidden
    cdef floating *g_W_ih = <floating *> s.grad
    cdef floating *g_W_hh = g_W_ih + n_in * width
    cdef floating *g_b = g_W_hh + hidden * width
    cdef floating *g_h0 = g_b + width
    cdef floating *g_c0 = g_h0 + hidden
    stacked_weight_gradients(<const floating *> j.shifted, <const floating *> j.D,
                             <const floating *> j.W_ih, s.row0, s.row1, n_in, hidden,
                             width, g_W_ih, g_b, <floating *> j.dX)
    if j.has_initial_state:
        # dc0 is the sum of the cell gradients carried back from step 0,
        # left in Gc by the loop.
        column_sums(<const floating *> j.D + s.row0 * width, s.running, width, width,
                    delta0_sum)
        initial_state_gradients(<const floating *> j.h0 + s.first * j.h0_stride,
                                delta0_sum, <const floating *> j.W_hh, hidden, width,
                                g_W_hh, 0, g_h0)
        column_sums(Gc, s.running, hidden, hidden, g_c0)
