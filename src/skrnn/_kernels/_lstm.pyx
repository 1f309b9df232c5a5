"""LSTM layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (layout in
``_chunks.pxd``; calling convention in ``_elman.pyx``). With PyTorch's
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
    column_sums, fill_initial_states, gather_step_inputs, initial_state_gradients,
    n_running, project_inputs, store_step_states,
    inputs_beside_states, previous_states_beside_inputs,
    stacked_weight_gradients, sum_chunk_gradients, tanh_inplace,
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
    # rows [x | h] (see _predict_chunk).
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
    # it below W_ih (see _predict_chunk).
    packed_W_ih = pack_weight(n_in, 4 * hidden, &W_ih[0, 0], W_ih.shape[1], False)
    if predicting:
        packed_W_xh = pack_stacked_weight(
            n_in, hidden, 4 * hidden, &W_ih[0, 0], W_ih.shape[1],
            &W_hh[0, 0], W_hh.shape[1])
    else:
        packed_W_hh = pack_weight(
            hidden, 4 * hidden, &W_hh[0, 0], W_hh.shape[1], False)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
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
        inputs_finite = run_chunks(&job, _forward_task, n_chunks, n_threads)
    finally:
        free_packed(packed_W_ih)
        free_packed(packed_W_hh)
        free_packed(packed_W_xh)
    return inputs_finite


cdef void _forward_task(void *job, Py_ssize_t c, int worker) noexcept nogil:
    if (<ChunkJob *> job).is_double:
        _forward_one_chunk(<ChunkJob *> job, c, worker, <double *> NULL)
    else:
        _forward_one_chunk(<ChunkJob *> job, c, worker, <float *> NULL)


cdef inline void _forward_one_chunk(
    const ChunkJob *j, Py_ssize_t c, int worker, floating *dtype,
) noexcept nogil:
    """Chunk c of ``lstm_forward``; ``dtype`` only selects the type."""
    cdef Py_ssize_t first = c * j.chunk_size
    cdef Py_ssize_t n_seq = min(j.chunk_size, j.n_seq - first)
    if j.input_start != NULL:
        j.chunk_inputs_finite[c] = _predict_chunk(
            &j.seq_len[first], n_seq, j.chunk_row_start[c], j.n_in, j.hidden,
            <const floating *> j.X, &j.input_start[first], j.input_step,
            <const floating *> j.packed[0], <const floating *> j.packed[1],
            <const floating *> j.b, <const floating *> j.h0 + first * j.h0_stride,
            <const floating *> j.c0 + first * j.h0_stride, j.h0_stride,
            j.has_initial_state,
            NULL if j.final != NULL else <floating *> j.H,
            <floating *> j.final + first * j.hidden if j.final != NULL else NULL,
            <floating *> j.work + worker * j.work_stride,
        )
    else:
        _forward_chunk(
            &j.seq_len[first], n_seq, j.chunk_row_start[c], j.chunk_row_start[c + 1],
            j.n_in, j.hidden, <const floating *> j.X,
            <const floating *> j.packed[0], <const floating *> j.packed[1],
            <const floating *> j.b, <const floating *> j.h0 + first * j.h0_stride,
            <const floating *> j.c0 + first * j.h0_stride, j.h0_stride,
            j.has_initial_state, <floating *> j.H, <floating *> j.C, <floating *> j.A,
        )


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


cdef void _forward_chunk(
    const Py_ssize_t *seq_len,
    Py_ssize_t n_seq,
    Py_ssize_t row0,
    Py_ssize_t row1,
    int n_in,
    int hidden,
    const floating *X,
    const floating *packed_W_ih,
    const floating *packed_W_hh,
    const floating *b,
    const floating *h0,
    const floating *c0,
    Py_ssize_t h0_stride,
    bint has_initial_state,
    floating *H,
    floating *C,
    floating *A,
) noexcept nogil:
    """One chunk's time loop when training: every step's gates, cell states
    and states are kept for BPTT, in the slab's rows of ``A``, ``C`` and
    ``H``."""
    cdef int width = 4 * hidden
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef Py_ssize_t t, slab, prev_slab, running, prev_stride
    cdef const floating *prev_states = NULL

    project_inputs(X, packed_W_ih, b, row0, row1, n_in, width, A)

    slab = row0
    prev_slab = row0
    for t in range(n_steps):
        running = n_running(seq_len, n_seq, t)
        # At t = 0 the sequences start from h0 and c0 (shared rows: stride
        # 0); from a zero h0 there are no recurrent terms.
        prev_stride = hidden if t > 0 else h0_stride
        # All four gates' recurrent terms in one product.
        if t > 0 or has_initial_state:
            packed_gemm(<int> running, width, hidden,
                        prev_states if t > 0 else h0, prev_stride,
                        packed_W_hh, &A[slab * width], width, True)
        _step(running, hidden, &A[slab * width],
              &C[prev_slab * hidden] if t > 0 else c0, prev_stride,
              &C[slab * hidden], &H[slab * hidden], hidden)
        prev_states = &H[slab * hidden]
        prev_slab = slab
        slab += running


cdef bint _predict_chunk(
    const Py_ssize_t *seq_len,
    Py_ssize_t n_seq,
    Py_ssize_t row0,
    int n_in,
    int hidden,
    const floating *X,
    const Py_ssize_t *input_start,
    Py_ssize_t input_step,
    const floating *packed_W_ih,
    const floating *packed_W_xh,
    const floating *b,
    const floating *h0,
    const floating *c0,
    Py_ssize_t h0_stride,
    bint has_initial_state,
    floating *H,
    floating *final,
    floating *work,
) noexcept nogil:
    """One chunk's time loop when predicting: one step of gates and the
    cell states live in ``work`` (c_t overwrites c_{t-1} of the same
    sequence, element by element), beside two blocks of rows [x | h] (row
    stride n_in + H) that the steps alternate between. Step t gathers x_t
    into its block, next to the h_{t-1} that step t - 1 wrote there, and
    writes h_t into the other, so that the gates are one product,
    [x_t | h_{t-1}] @ [W_ih; W_hh] + b, with no pass to add the input
    projection to the recurrent one and no short product over the inputs
    alone. ``H``, if not NULL, gets the slab's states; ``final``, if not
    NULL, each sequence's last. Returns whether every input value read was
    finite."""
    cdef int width = 4 * hidden
    cdef Py_ssize_t ld = n_in + hidden
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef bint inputs_finite = True
    cdef Py_ssize_t t, slab, running, next_running
    cdef floating *gates = work                     # row stride ``width``
    cdef floating *cells = gates + n_seq * width    # row stride ``hidden``
    cdef floating *blocks = cells + n_seq * hidden
    cdef floating *xh                               # [x_t | h_{t-1}]
    cdef floating *states                           # h_t, in the other block

    if has_initial_state:
        fill_initial_states(blocks, n_seq, ld, n_in, h0, h0_stride, hidden)
    slab = row0
    for t in range(n_steps):
        running = n_running(seq_len, n_seq, t)
        next_running = n_running(seq_len, n_seq, t + 1)
        xh = &blocks[(t & 1) * n_seq * ld]
        states = &blocks[((t + 1) & 1) * n_seq * ld + n_in]
        if not gather_step_inputs(X, input_start, input_step, seq_len, t, running,
                                  n_in, xh, ld):
            inputs_finite = False
        if t > 0 or has_initial_state:
            packed_gemm_bias(<int> running, width, <int> ld, xh, <int> ld,
                             packed_W_xh, b, gates, width)
        else:
            # From a zero h0: the input projection alone.
            packed_gemm_bias(<int> running, width, n_in, xh, <int> ld,
                             packed_W_ih, b, gates, width)
        # At t = 0 the sequences start from c0 (a shared row: stride 0).
        _step(running, hidden, gates, cells if t > 0 else c0, hidden if t > 0 else h0_stride,
              cells, states, ld)
        store_step_states(states, ld, running, next_running, hidden,
                          &H[slab * hidden] if H != NULL else NULL, final)
        slab += running
    return inputs_finite


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
    run_chunks(&job, _backward_task, n_chunks, n_threads)
    free_packed(packed_W_hh_T)
    sum_chunk_gradients(chunk_grad, grad)


cdef void _backward_task(void *job, Py_ssize_t c, int worker) noexcept nogil:
    if (<ChunkJob *> job).is_double:
        _backward_one_chunk(<ChunkJob *> job, c, <double *> NULL)
    else:
        _backward_one_chunk(<ChunkJob *> job, c, <float *> NULL)


cdef inline void _backward_one_chunk(
    const ChunkJob *j, Py_ssize_t c, floating *dtype,
) noexcept nogil:
    """Chunk c of ``lstm_backward``; ``dtype`` only selects the type."""
    cdef Py_ssize_t first = c * j.chunk_size
    _backward_chunk(
        &j.seq_len[first], min(j.chunk_size, j.n_seq - first),
        j.chunk_row_start[c], j.chunk_row_start[c + 1], j.n_in, j.hidden,
        <const floating *> j.X, <const floating *> j.W_ih, <const floating *> j.W_hh,
        <const floating *> j.packed[0], <const floating *> j.h0 + first * j.h0_stride,
        <const floating *> j.c0 + first * j.h0_stride, j.h0_stride,
        j.has_initial_state, j.given_initial_state, <const floating *> j.H,
        <const floating *> j.C, <const floating *> j.A, <const floating *> j.dH,
        <floating *> j.D, <floating *> j.shifted, <floating *> j.dX,
        <floating *> j.d_initial + first * j.hidden if j.d_initial != NULL else NULL,
        <floating *> j.d_initial_cell + first * j.hidden if j.d_initial != NULL else NULL,
        <floating *> j.work + c * j.work_stride,
        <floating *> j.chunk_grad + c * j.chunk_grad_stride,
    )


cdef void _backward_chunk(
    const Py_ssize_t *seq_len,
    Py_ssize_t n_seq,
    Py_ssize_t row0,
    Py_ssize_t row1,
    int n_in,
    int hidden,
    const floating *X,
    const floating *W_ih,
    const floating *W_hh,
    const floating *packed_W_hh_T,
    const floating *h0,
    const floating *c0,
    Py_ssize_t h0_stride,
    bint has_initial_state,
    bint given_initial_state,
    const floating *H,
    const floating *C,
    const floating *A,
    const floating *dH,
    floating *D,
    floating *XH,
    floating *dX,
    floating *d_initial,
    floating *d_initial_cell,
    floating *work,
    floating *grad,
) noexcept nogil:
    cdef int width = 4 * hidden
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef Py_ssize_t t, slab, slab_end, prev_slab
    cdef Py_ssize_t running = 0, running_next = 0
    # G[p], Gc[p]: dLoss/dh_t and dLoss/dc_t of the chunk's sequence p
    # through step t+1; T: tanh(c_t) of the current slab, recomputed.
    cdef floating *G = work
    cdef floating *Gc = G + n_seq * hidden
    cdef floating *T = Gc + n_seq * hidden
    cdef floating *delta0_sum = T + n_seq * hidden
    cdef floating *g_W_ih = grad
    cdef floating *g_W_hh = g_W_ih + n_in * width
    cdef floating *g_b = g_W_hh + hidden * width
    cdef floating *g_h0 = g_b + width
    cdef floating *g_c0 = g_h0 + hidden

    inputs_beside_states(X, row0, row1, n_in, hidden, XH)

    slab_end = row1
    for t in range(n_steps - 1, -1, -1):
        running = n_running(seq_len, n_seq, t)
        slab = slab_end - running
        prev_slab = slab - n_running(seq_len, n_seq, t - 1) if t > 0 else slab
        memcpy(T, &C[slab * hidden], running * hidden * sizeof(floating))
        tanh_inplace(T, running * hidden)
        # Sequences whose last step is t get nothing from step t + 1.
        if running > running_next:
            memset(&G[running_next * hidden], 0,
                   (running - running_next) * hidden * sizeof(floating))
            memset(&Gc[running_next * hidden], 0,
                   (running - running_next) * hidden * sizeof(floating))
        if floating is float:
            skrnn_lstm_backward_step_float(
                running, hidden, &A[slab * width],
                &C[prev_slab * hidden] if t > 0 else c0, hidden if t > 0 else h0_stride,
                T, &dH[slab * hidden], G, Gc, &D[slab * width])
        else:
            skrnn_lstm_backward_step_double(
                running, hidden, &A[slab * width],
                &C[prev_slab * hidden] if t > 0 else c0, hidden if t > 0 else h0_stride,
                T, &dH[slab * hidden], G, Gc, &D[slab * width])
        if t > 0:
            previous_states_beside_inputs(&H[prev_slab * hidden], slab, running,
                                          n_in, hidden, XH)
            # dLoss/dh_{t-1} through step t, all gates in one product.
            packed_gemm(<int> running, hidden, width, &D[slab * width],
                        width, packed_W_hh_T, G, hidden, False)
        else:
            previous_states_beside_inputs(h0 if given_initial_state else NULL, slab,
                                          running, n_in, hidden, XH)
            if d_initial != NULL:
                # dLoss/dh0 through step 0; dLoss/dc0 is what the step left in Gc.
                packed_gemm(<int> running, hidden, width, &D[slab * width],
                            width, packed_W_hh_T, d_initial, hidden, False)
                copy_chunk_rows(Gc, running, hidden, d_initial_cell)
        running_next = running
        slab_end = slab

    stacked_weight_gradients(XH, D, W_ih, row0, row1, n_in, hidden, width,
                             g_W_ih, g_b, dX)
    if has_initial_state:
        # dc0 is the sum of the cell gradients carried back from step 0,
        # left in Gc by the loop.
        column_sums(&D[row0 * width], running, width, width, delta0_sum)
        initial_state_gradients(h0, delta0_sum, W_hh, hidden, width,
                                g_W_hh, 0, g_h0)
        column_sums(Gc, running, hidden, hidden, g_c0)
