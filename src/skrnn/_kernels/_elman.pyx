"""Elman RNN layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (the layout
is described in ``_chunks.pxd``). For one sequence x_0 .. x_{L-1}:

    h_t = act(x_t @ W_ih + h_{t-1} @ W_hh + b),   h_{-1} = h0 (or 0)

``W_ih`` is (n_in, H) and ``W_hh`` is (H, H): PyTorch's ``weight_ih_l0`` and
``weight_hh_l0`` transposed, so that the batch is the left operand of every
product. ``b`` is PyTorch's ``bias_ih + bias_hh``.

The time loops of the passes are the driver's (``_driver.pxd``), written
once for every cell; this module holds the Elman cell's steps
(``_cell_step``) and its entry points. Every cell kernel (``_elman``,
``_lstm``, ``_gru``) has the same calling convention, so that
``skrnn._network`` stacks layers and directions without knowing the cell:

* ``forward(X, input_start, input_step, seq_len, chunk_row_start, chunk_size,
  W_ih, W_hh, b, ..., h0, ..., has_initial_state, (activation), H, final,
  <BPTT's arrays>, work, n_threads)``
  writes ``H``, the hidden state at every row, and what BPTT needs, or (the
  last layer of a prediction pass) only each sequence's final state; it
  returns whether the inputs of a prediction pass were all finite.
* ``backward(..., dH, <work arrays>, dX, chunk_grad, grad, n_threads)`` takes
  dLoss/dh at every row and writes the layer's gradient in its local layout
  ``[W_ih, W_hh, b, (b_hn), (h0), (c0)]`` and, if ``dX`` has rows,
  dLoss/dX.

Kernels never validate: the caller checks shapes, dtypes and contiguity and
allocates every array.
"""

from cython cimport floating
from libc.string cimport memset

from ._packed cimport (
    free_packed, pack_stacked_weight, pack_weight, packed_gemm, packed_gemm_bias,
)
from ._boundary cimport (
    check_backward_pass, check_forward_pass, require_length, require_shape,
)
from ._chunks cimport (
    ChunkJob, const_row_pointer, init_job, row_pointer, run_chunks,
    column_sums, initial_state_gradients, project_inputs,
    inputs_beside_states, previous_states_beside_inputs,
    stacked_weight_gradients, sum_chunk_gradients, tanh_rows,
)
from ._driver cimport (
    BACKWARD_BEGIN, BACKWARD_STEP, Cell, FORWARD_BEGIN, FORWARD_STEP, PREDICT_STEP,
    Slab, StepPart, backward_task, forward_task,
)


# Activation codes, shared with Python through ``ACTIVATIONS``.
cdef enum:
    TANH = 0
    RELU = 1

ACTIVATIONS = {"tanh": TANH, "relu": RELU}


def forward_work_size(Py_ssize_t chunk_size, Py_ssize_t hidden, Py_ssize_t n_in):
    """Length of each chunk's row of ``work`` in ``elman_forward``."""
    # (Prediction only) two blocks of rows [x | h] (see predict_chunk, _driver.pxd).
    return 2 * chunk_size * (n_in + hidden)


def backward_work_size(Py_ssize_t chunk_size, Py_ssize_t hidden):
    """Length of each chunk's row of ``work`` in ``elman_backward``."""
    return chunk_size * hidden + hidden


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


def elman_forward(
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
    bint has_initial_state,
    int activation,
    floating[:, ::1] H,
    floating[:, ::1] final,
    floating[:, ::1] work,
    int n_threads,
):
    """Forward pass of one layer over a sorted, chunked mini-batch.

    Parameters
    ----------
    X : (n_rows, n_in) array
        The layer's input at every row (chunk / time / sequence order), or,
        when ``input_start`` is given, sequences stored anyhow, each with
        its steps evenly spaced.
    input_start, input_step : (n_seq,) or (0,) array, and int
        If ``input_start`` is not empty, the input of sorted sequence q at
        step t is ``X[input_start[q] + t * input_step]`` (a step of 1 reads
        each sequence forward, -1 from its last row backward), and the
        pass is a prediction pass: each step reads its own inputs and
        multiplies them, beside the previous states, in its recurrent
        product, and the LSTM and GRU keep one step of gates (their ``A``,
        ``C``, ``HN`` are then empty). If empty, X is in row order and the inputs of a
        whole chunk are projected in one GEMM before its time loop;
        ``input_step`` is then unused.
    seq_len : (n_seq,) array
        Length of each sequence, sorted longest first.
    chunk_row_start : (n_chunks + 1,) array
        First row of each chunk (cumulative sum of the chunks' lengths).
    chunk_size : int
        Sequences per chunk (the last chunk may hold fewer).
    W_ih, W_hh, b : arrays
        Parameters (views into the flat parameter vector).
    h0 : (1, H) or (n_seq, H) array
        Initial hidden state: one row shared by every sequence (zeros
        unless learned), or one row per sorted sequence (states carried
        from a previous pass).
    has_initial_state : bool
        Whether h0 is not zero; if not, its product with W_hh is skipped.
    activation : int
        A value of ``ACTIVATIONS``.
    H : (n_rows, H) or (0, H) array, written
        Hidden state of every running sequence at every step; empty when
        ``final`` has rows.
    final : (0, H) or (n_seq, H) array, written
        If not empty, each sequence's state after its last step, in sorted
        order, and the only states written: the last layer of a
        prediction pass (``input_start`` given) needs no others.
    work : (n_threads, forward_work_size(chunk_size, H, n_in)) array, work
        One row per thread, reused by each chunk it runs.
    n_threads : int
        Threads of the team (_team.pxd) that runs the chunks.

    Returns
    -------
    inputs_finite : bool
        Whether every input value of a prediction pass was finite: the
        check of X that prediction makes here, where each row is read
        anyway. True for a training pass, which does not check (``fit``
        validates its X beforehand).
    """
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef bint predicting = input_start.shape[0] > 0
    cdef bint final_only = final.shape[0] > 0
    cdef int hidden = W_hh.shape[0]
    cdef int n_in = W_ih.shape[0]
    cdef bint inputs_finite
    cdef ChunkJob job
    cdef floating *packed_W_ih = NULL
    cdef floating *packed_W_hh = NULL
    cdef floating *packed_W_xh = NULL
    check_forward_pass(
        seq_len, chunk_row_start, chunk_size, input_start, input_step,
        X.shape[0], X.shape[1], 1, W_ih.shape[0], W_ih.shape[1], W_hh.shape[0],
        W_hh.shape[1], b.shape[0], h0.shape[0], h0.shape[1], H.shape[0], H.shape[1],
        final.shape[0], final.shape[1], work.shape[0], work.shape[1],
        forward_work_size(chunk_size, hidden, n_in), n_threads)
    # The weights, packed once for every chunk. W_ih for the input
    # projections: of a whole chunk when training; when predicting, of step
    # 0 from a zero h0. W_hh for the recurrent products; prediction stacks
    # it below W_ih (see _predict_step).
    packed_W_ih = pack_weight(n_in, hidden, &W_ih[0, 0], W_ih.shape[1], False)
    if predicting:
        packed_W_xh = pack_stacked_weight(
            n_in, hidden, hidden, &W_ih[0, 0], W_ih.shape[1],
            &W_hh[0, 0], W_hh.shape[1])
    else:
        packed_W_hh = pack_weight(hidden, hidden, &W_hh[0, 0], W_hh.shape[1], False)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.cell = &_ELMAN
    job.b, job.h0 = &b[0], &h0[0, 0]
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state, job.activation = has_initial_state, activation
    job.packed[0] = packed_W_ih
    job.packed[1] = packed_W_xh if predicting else packed_W_hh
    job.H, job.final = row_pointer(H), row_pointer(final)
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

cdef Cell _ELMAN
_ELMAN.step = _cell_step
_ELMAN.predict_scratch = 0


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
    projection alone."""
    cdef bint recurrent = s.t > 0 or j.has_initial_state
    packed_gemm_bias(<int> s.running, j.hidden, <int> s.ld if recurrent else j.n_in,
                     <const floating *> s.xh, <int> s.ld,
                     <const floating *> j.packed[1] if recurrent
                     else <const floating *> j.packed[0],
                     <const floating *> j.b, <floating *> s.states, <int> s.ld)
    _activate_rows(<floating *> s.states, s.running, j.hidden, s.ld, j.activation)


def elman_backward(
    const floating[:, ::1] X,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_ih,
    const floating[:, ::1] W_hh,
    const floating[:, ::1] h0,
    bint has_initial_state,
    bint given_initial_state,
    int activation,
    const floating[:, ::1] H,
    const floating[:, ::1] dH,
    floating[:, ::1] D,
    floating[:, ::1] XH,
    floating[:, ::1] dX,
    floating[:, ::1] d_initial,
    floating[:, ::1] work,
    floating[:, ::1] chunk_grad,
    floating[::1] grad,
    int n_threads,
):
    """BPTT of one layer after ``elman_forward``; writes its gradient.

    Parameters
    ----------
    X, seq_len, chunk_row_start, chunk_size, W_ih, W_hh, h0, activation :
        As given to ``elman_forward``.
    has_initial_state : bool
        Whether h0 is learned: one shared row, whose gradient ends the
        local gradient.
    given_initial_state : bool
        Whether h0 holds a state per sequence, given (not a parameter): its
        share of dW_hh is then each sequence's own.
    H : (n_rows, H) array
        As written by ``elman_forward``.
    dH : (n_rows, H) array
        Gradient of the loss with respect to the layer's output h at every
        row (from the layer above, or the output layer at final rows).
    D : (n_rows, H) array, work
        Gradient with respect to the pre-activation at every row (delta_t).
    XH : (n_rows, n_in + H) array, work
        At the row of step t, the input x_t and the same sequence's h_{t-1}
        (zero at step 0), so that dW_ih and dW_hh, stacked as they are in
        the gradient, are one GEMM: XH^T @ D.
    dX : (n_rows, n_in) or (0, n_in) array, written
        Gradient with respect to ``X``; skipped when it has no rows.
    d_initial : (n_seq, H) or (0, H) array, written
        Gradient with respect to each sorted sequence's initial state;
        skipped when it has no rows.
    work : (n_chunks, backward_work_size(chunk_size, H)) array, work
    chunk_grad : (n_chunks, n_local) array, work
        One gradient per chunk, local layout [W_ih, W_hh, b, (h0)].
    grad : (n_local,) array, written
        The layer's gradient, summed over chunks in chunk order.
    n_threads : int
        Threads of the team (_team.pxd) that runs the chunks.
    """
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef ChunkJob job
    cdef floating *packed_W_hh_T = NULL
    check_backward_pass(
        seq_len, chunk_row_start, chunk_size, X.shape[0], X.shape[1], 1,
        W_ih.shape[0], W_ih.shape[1], W_hh.shape[0], W_hh.shape[1], h0.shape[0],
        h0.shape[1], has_initial_state, given_initial_state, 0, d_initial.shape[0],
        d_initial.shape[1], H.shape[0], H.shape[1], dH.shape[0], dH.shape[1],
        D.shape[0], D.shape[1], dX.shape[0], dX.shape[1], work.shape[0],
        work.shape[1], backward_work_size(chunk_size, W_hh.shape[0]),
        chunk_grad.shape[0], chunk_grad.shape[1], grad.shape[0], n_threads)
    require_shape("XH", XH.shape[0], XH.shape[1], D.shape[0], X.shape[1] + W_hh.shape[0])
    # The recurrent weight transposed, packed once for every step of every chunk.
    packed_W_hh_T = pack_weight(
        W_hh.shape[1], W_hh.shape[0], &W_hh[0, 0], W_hh.shape[1], True)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, W_hh.shape[0])
    job.cell = &_ELMAN
    job.W_ih, job.W_hh, job.h0 = &W_ih[0, 0], &W_hh[0, 0], &h0[0, 0]
    job.h0_stride = W_hh.shape[0] if h0.shape[0] > 1 else 0
    job.has_initial_state, job.activation = has_initial_state, activation
    job.given_initial_state, job.d_initial = given_initial_state, row_pointer(d_initial)
    job.packed[0] = packed_W_hh_T
    # (BPTT only reads H.)
    job.H, job.dH = <void *> const_row_pointer(H), const_row_pointer(dH)
    job.D, job.shifted, job.dX = row_pointer(D), row_pointer(XH), row_pointer(dX)
    job.work, job.work_stride = row_pointer(work), work.shape[1]
    job.chunk_grad, job.chunk_grad_stride = row_pointer(chunk_grad), chunk_grad.shape[1]
    run_chunks(&job, backward_task, n_chunks, n_threads)
    free_packed(packed_W_hh_T)
    sum_chunk_gradients(chunk_grad, grad)


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
