"""LSTM layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (layout in
``_chunks.pxd``; calling convention in ``_elman.pyx``): the LSTM cell's steps,
run by the driver of every cell (``_driver.pxd``), and its entry points. With PyTorch's
equations and gate order i, f, g, o:

    [i, f, g, o] = x_t @ W_ih + h_{t-1} @ W_hh + b      (pre-activations)
    i, f, o = sigmoid(.),   g = tanh(.)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t),          h_{-1} = h0, c_{-1} = c0 (or 0)

``W_ih`` is (n_in, 4H) and ``W_hh`` is (H, 4H): PyTorch's ``weight_ih_l0``
and ``weight_hh_l0`` transposed. ``b`` is PyTorch's ``bias_ih + bias_hh``.
"""

from cython cimport floating
from libc.string cimport memcpy, memset

from ._packed cimport (
    free_packed, pack_stacked_weight, pack_weight, packed_gemm, packed_gemm_bias,
)
from ._boundary cimport (
    check_backward_pass, check_forward_pass, require_length, require_shape,
)
from ._chunks cimport (
    ChunkJob, const_row_pointer, copy_chunk_rows, init_job, row_pointer, run_chunks,
    column_sums, initial_state_gradients, project_inputs,
    inputs_beside_states, previous_states_beside_inputs,
    stacked_weight_gradients, sum_chunk_gradients, tanh_inplace,
)
from ._driver cimport (
    BACKWARD_BEGIN, BACKWARD_STEP, Cell, FORWARD_BEGIN, FORWARD_STEP, PREDICT_STEP,
    Slab, StepPart, backward_task, forward_task,
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


def forward_work_size(Py_ssize_t chunk_size, Py_ssize_t hidden, Py_ssize_t n_in):
    """Length of each chunk's row of ``work`` in ``lstm_forward``."""
    # (Prediction only) one step's gates and cell states, and two blocks of
    # rows [x | h] (see predict_chunk, _driver.pxd).
    return chunk_size * (7 * hidden + 2 * n_in)


def backward_work_size(Py_ssize_t chunk_size, Py_ssize_t hidden):
    """Length of each chunk's row of ``work`` in ``lstm_backward``."""
    return 3 * chunk_size * hidden + 4 * hidden


def lstm_forward(
    const floating[:, ::1] X,
    const Py_ssize_t[::1] input_start,
    Py_ssize_t input_step,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_ih,
    const floating[:, ::1] W_hh,
    const floating[::1] b,
    const floating[:, ::1] h0,
    const floating[:, ::1] c0,
    bint has_initial_state,
    floating[:, ::1] H,
    floating[:, ::1] final,
    floating[:, ::1] C,
    floating[:, ::1] A,
    floating[:, ::1] work,
    int n_threads,
):
    """Forward pass of one LSTM layer over a sorted, chunked mini-batch.

    Parameters
    ----------
    X, input_start, input_step, seq_len, chunk_row_start, chunk_size, W_ih, W_hh, b :
        As for ``elman_forward``, with 4H gate columns.
    h0, c0 : (1, H) or (n_seq, H) arrays
        Initial hidden and cell states: one row shared by every sequence
        (zeros unless learned), or one row per sorted sequence.
    has_initial_state : bool
        Whether h0 is not zero; if not, its product with W_hh is skipped.
    H, final : arrays, written
        As for ``elman_forward``.
    C : (n_rows, H) or (0, H) array, written
        Cell state at every row; empty for a prediction pass.
    A : (n_rows, 4H) or (0, 4H) array, written
        The gates' activations [i, f, g, o] at every row; empty for a
        prediction pass, which keeps one step of each in ``work`` and so
        reads and writes a few times less memory.
    work : (n_threads, forward_work_size(chunk_size, H, n_in)) array, work
        One row per thread, reused by each chunk it runs.
    n_threads : int
        Threads of the team (_team.pxd) that runs the chunks.

    Returns
    -------
    inputs_finite : bool
        As for ``elman_forward``.
    """
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef bint predicting = input_start.shape[0] > 0
    cdef int hidden = W_hh.shape[0]
    cdef int n_in = W_ih.shape[0]
    cdef bint inputs_finite
    cdef ChunkJob job
    cdef floating *packed_W_ih = NULL
    cdef floating *packed_W_hh = NULL
    cdef floating *packed_W_xh = NULL
    cdef Py_ssize_t n_rows = check_forward_pass(
        seq_len, chunk_row_start, chunk_size, input_start, input_step,
        X.shape[0], X.shape[1], 4, W_ih.shape[0], W_ih.shape[1], W_hh.shape[0],
        W_hh.shape[1], b.shape[0], h0.shape[0], h0.shape[1], H.shape[0], H.shape[1],
        final.shape[0], final.shape[1], work.shape[0], work.shape[1],
        forward_work_size(chunk_size, hidden, n_in), n_threads)
    require_shape("c0", c0.shape[0], c0.shape[1], h0.shape[0], hidden)
    if not predicting:
        require_shape("C", C.shape[0], C.shape[1], n_rows, hidden)
        require_shape("A", A.shape[0], A.shape[1], n_rows, 4 * hidden)
    # The weights, packed once for every chunk. W_ih for the input
    # projections: of a whole chunk when training; when predicting, of step
    # 0 from a zero h0. W_hh for the recurrent products; prediction stacks
    # it below W_ih (see _predict_step).
    packed_W_ih = pack_weight(n_in, 4 * hidden, &W_ih[0, 0], W_ih.shape[1], False)
    if predicting:
        packed_W_xh = pack_stacked_weight(
            n_in, hidden, 4 * hidden, &W_ih[0, 0], W_ih.shape[1],
            &W_hh[0, 0], W_hh.shape[1])
    else:
        packed_W_hh = pack_weight(
            hidden, 4 * hidden, &W_hh[0, 0], W_hh.shape[1], False)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.cell = &_LSTM
    job.b, job.h0, job.c0 = &b[0], &h0[0, 0], &c0[0, 0]
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state = has_initial_state
    job.packed[0] = packed_W_ih
    job.packed[1] = packed_W_xh if predicting else packed_W_hh
    job.H, job.final = row_pointer(H), row_pointer(final)
    job.C, job.A = row_pointer(C), row_pointer(A)
    if predicting:
        job.input_start, job.input_step = &input_start[0], input_step
        job.work, job.work_stride = &work[0, 0], work.shape[1]
    try:
        inputs_finite = run_chunks(&job, forward_task, n_chunks, n_threads)
    finally:
        free_packed(packed_W_ih)
        free_packed(packed_W_hh)
        free_packed(packed_W_xh)
    return inputs_finite


# -- the cell's steps, run by the driver (_driver.pxd) --------------------------

cdef Cell _LSTM
_LSTM.step = _cell_step
# A prediction step's gates (4H) and cell states (H) per sequence.
_LSTM.predict_scratch = 5


cdef void _cell_step(StepPart part, const ChunkJob *j, Slab *s) noexcept nogil:
    if j.is_double:
        _step_part(part, j, s, <double *> NULL)
    else:
        _step_part(part, j, s, <float *> NULL)


cdef inline void _step_part(
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
    recurrent one and no short product over the inputs alone."""
    cdef int hidden = j.hidden
    cdef int width = 4 * hidden
    cdef floating *gates = <floating *> s.work              # row stride ``width``
    cdef floating *cells = gates + s.n_seq * width          # row stride ``hidden``
    if s.t > 0 or j.has_initial_state:
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


def lstm_backward(
    const floating[:, ::1] X,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_ih,
    const floating[:, ::1] W_hh,
    const floating[:, ::1] h0,
    const floating[:, ::1] c0,
    bint has_initial_state,
    bint given_initial_state,
    const floating[:, ::1] H,
    const floating[:, ::1] C,
    const floating[:, ::1] A,
    const floating[:, ::1] dH,
    floating[:, ::1] D,
    floating[:, ::1] XH,
    floating[:, ::1] dX,
    floating[:, ::1] d_initial,
    floating[:, ::1] d_initial_cell,
    floating[:, ::1] work,
    floating[:, ::1] chunk_grad,
    floating[::1] grad,
    int n_threads,
):
    """BPTT of one LSTM layer after ``lstm_forward``; writes its gradient.

    Parameters
    ----------
    X, seq_len, chunk_row_start, chunk_size, W_ih, W_hh, h0, c0 :
        As given to ``lstm_forward``.
    has_initial_state, given_initial_state : bool
        As for ``elman_backward``.
    H, C, A : arrays
        As written by ``lstm_forward``.
    dH : (n_rows, H) array
        Gradient of the loss with respect to the layer's output h at every row.
    D : (n_rows, 4H) array, work
        Gradient with respect to the gates' pre-activations at every row.
    XH : (n_rows, n_in + H) array, work
        At the row of step t, the input x_t and the same sequence's h_{t-1}
        (zero at step 0), so that dW_ih and dW_hh, stacked as they are in
        the gradient, are one GEMM: XH^T @ D. (Pairing delta_t with h_{t-1}
        rather than delta_{t+1} with h_t keeps D the only operand of 4H
        columns, packed by BLAS once.)
    dX : (n_rows, n_in) or (0, n_in) array, written
        Gradient with respect to ``X``; skipped when it has no rows.
    d_initial, d_initial_cell : (n_seq, H) or (0, H) arrays, written
        Gradient with respect to each sorted sequence's initial hidden and
        cell state; skipped when they have no rows.
    work : (n_chunks, backward_work_size(chunk_size, H)) array, work
    chunk_grad : (n_chunks, n_local) array, work
        One gradient per chunk, local layout [W_ih, W_hh, b, (h0, c0)].
    grad : (n_local,) array, written
        The layer's gradient, summed over chunks in chunk order.
    n_threads : int
        Threads of the team (_team.pxd) that runs the chunks.
    """
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef int hidden = W_hh.shape[0]
    cdef ChunkJob job
    cdef floating *packed_W_hh_T = NULL
    cdef Py_ssize_t n_rows = check_backward_pass(
        seq_len, chunk_row_start, chunk_size, X.shape[0], X.shape[1], 4,
        W_ih.shape[0], W_ih.shape[1], W_hh.shape[0], W_hh.shape[1], h0.shape[0],
        h0.shape[1], has_initial_state, given_initial_state,
        hidden if has_initial_state else 0, d_initial.shape[0], d_initial.shape[1],
        H.shape[0], H.shape[1],
        dH.shape[0], dH.shape[1], D.shape[0], D.shape[1], dX.shape[0], dX.shape[1],
        work.shape[0], work.shape[1], backward_work_size(chunk_size, hidden),
        chunk_grad.shape[0], chunk_grad.shape[1], grad.shape[0], n_threads)
    require_shape("c0", c0.shape[0], c0.shape[1], h0.shape[0], hidden)
    require_shape("d_initial_cell", d_initial_cell.shape[0], d_initial_cell.shape[1],
                  d_initial.shape[0], hidden)
    require_shape("C", C.shape[0], C.shape[1], n_rows, hidden)
    require_shape("A", A.shape[0], A.shape[1], n_rows, 4 * hidden)
    require_shape("XH", XH.shape[0], XH.shape[1], n_rows, X.shape[1] + hidden)
    # The recurrent weight transposed, packed once for every step of every chunk.
    packed_W_hh_T = pack_weight(
        W_hh.shape[1], W_hh.shape[0], &W_hh[0, 0], W_hh.shape[1], True)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.cell = &_LSTM
    job.W_ih, job.W_hh, job.h0, job.c0 = &W_ih[0, 0], &W_hh[0, 0], &h0[0, 0], &c0[0, 0]
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state, job.given_initial_state = has_initial_state, given_initial_state
    job.d_initial, job.d_initial_cell = row_pointer(d_initial), row_pointer(d_initial_cell)
    job.packed[0] = packed_W_hh_T
    # (BPTT only reads H, C and A.)
    job.H, job.C = <void *> const_row_pointer(H), <void *> const_row_pointer(C)
    job.A, job.dH = <void *> const_row_pointer(A), const_row_pointer(dH)
    job.D, job.shifted, job.dX = row_pointer(D), row_pointer(XH), row_pointer(dX)
    job.work, job.work_stride = row_pointer(work), work.shape[1]
    job.chunk_grad, job.chunk_grad_stride = row_pointer(chunk_grad), chunk_grad.shape[1]
    run_chunks(&job, backward_task, n_chunks, n_threads)
    free_packed(packed_W_hh_T)
    sum_chunk_gradients(chunk_grad, grad)


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
