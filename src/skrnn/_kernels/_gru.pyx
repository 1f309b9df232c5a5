"""GRU layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (layout in
``_chunks.pxd``; calling convention in ``_elman.pyx``). With PyTorch's
equations and gate order r, z, n, the reset gate applied after the
recurrent product:

    r = sigmoid(x_t @ W_ir + h_{t-1} @ W_hr + b_r)
    z = sigmoid(x_t @ W_iz + h_{t-1} @ W_hz + b_z)
    n = tanh(x_t @ W_in + b_in + r * (h_{t-1} @ W_hn + b_hn))
    h_t = (1 - z) * n + z * h_{t-1},       h_{-1} = h0 (or 0)

``W_ih`` is (n_in, 3H) and ``W_hh`` is (H, 3H): PyTorch's ``weight_ih_l0``
and ``weight_hh_l0`` transposed. ``b`` is [b_r, b_z, b_in] with b_r and b_z
PyTorch's ``bias_ih + bias_hh`` of those gates; ``b_hn`` stays separate
because r multiplies it.
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
    column_sums, fill_initial_states, gather_step_inputs, given_initial_state_gradients,
    initial_state_gradients, initial_state_rows_gradient,
    n_running, project_inputs, store_step_states, sum_chunk_gradients,
    weight_gradients,
)


cdef extern from "_gru_step.h" nogil:
    void skrnn_gru_forward_step_float(
        Py_ssize_t running, Py_ssize_t hidden, float *gates, const float *HN,
        const float *H_prev, Py_ssize_t h_prev_stride, float *H, Py_ssize_t h_stride)
    void skrnn_gru_forward_step_double(
        Py_ssize_t running, Py_ssize_t hidden, double *gates, const double *HN,
        const double *H_prev, Py_ssize_t h_prev_stride, double *H,
        Py_ssize_t h_stride)


def forward_work_size(Py_ssize_t chunk_size, Py_ssize_t hidden, Py_ssize_t n_in):
    """Length of each chunk's row of ``work`` in ``gru_forward``."""
    # (Prediction only) one step's gates and h W_hn + b_hn, and two blocks
    # of rows [x | h] (see _predict_chunk).
    return chunk_size * (6 * hidden + 2 * n_in)


def backward_work_size(Py_ssize_t chunk_size, Py_ssize_t hidden):
    """Length of each chunk's row of ``work`` in ``gru_backward``."""
    # G, delta0_sum, and step 0's recurrent-side deltas per sequence (for
    # initial states given per sequence, or their gradient).
    return chunk_size * hidden + 3 * hidden + chunk_size * 3 * hidden


def gru_forward(
    const floating[:, ::1] X,
    const Py_ssize_t[::1] input_start,
    Py_ssize_t input_step,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_ih,
    const floating[:, ::1] W_hh,
    const floating[::1] b,
    const floating[::1] b_hn,
    const floating[:, ::1] h0,
    bint has_initial_state,
    floating[:, ::1] H,
    floating[:, ::1] final,
    floating[:, ::1] A,
    floating[:, ::1] HN,
    floating[:, ::1] work,
    int n_threads,
):
    """Forward pass of one GRU layer over a sorted, chunked mini-batch.

    Parameters
    ----------
    X, input_start, input_step, seq_len, chunk_row_start, chunk_size, W_ih, W_hh, b :
        As for ``elman_forward``, with 3H gate columns.
    b_hn : (H,) array
        Bias of the recurrent product of the n gate.
    h0 : (1, H) or (n_seq, H) array
        Initial hidden state: one row shared by every sequence (zeros
        unless learned), or one row per sorted sequence.
    has_initial_state : bool
        Whether h0 is not zero; if not, its product with W_hh is skipped.
    H, final : arrays, written
        As for ``elman_forward``.
    A : (n_rows, 3H) or (0, 3H) array, written
        The gates' activations [r, z, n] at every row; empty for a
        prediction pass, which keeps one step of them in ``work``.
    HN : (n_rows, H) or (0, H) array, written
        h_{t-1} @ W_hn + b_hn at every row (BPTT needs it for r); empty for
        a prediction pass.
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
    cdef floating *packed_W_hn = NULL
    cdef floating *packed_W_hrz = NULL
    cdef floating *packed_W_xrz = NULL
    cdef floating *packed_W_in = NULL
    cdef Py_ssize_t n_rows = check_forward_pass(
        seq_len, chunk_row_start, chunk_size, input_start, input_step,
        X.shape[0], X.shape[1], 3, W_ih.shape[0], W_ih.shape[1], W_hh.shape[0],
        W_hh.shape[1], b.shape[0], h0.shape[0], h0.shape[1], H.shape[0], H.shape[1],
        final.shape[0], final.shape[1], work.shape[0], work.shape[1],
        forward_work_size(chunk_size, hidden, n_in), n_threads)
    require_length("b_hn", b_hn.shape[0], hidden)
    if not predicting:
        require_shape("A", A.shape[0], A.shape[1], n_rows, 3 * hidden)
        require_shape("HN", HN.shape[0], HN.shape[1], n_rows, hidden)
    # The weights, packed once for every chunk. W_ih for the input
    # projections: of a whole chunk when training; when predicting, of step
    # 0 from a zero h0. W_hh in two parts (see _forward_chunk): h W_hn apart
    # for r to multiply, and the rest, which prediction stacks below W_ih's
    # part of the same gates (see _predict_chunk).
    packed_W_ih = pack_weight(n_in, 3 * hidden, &W_ih[0, 0], W_ih.shape[1], False)
    packed_W_hn = pack_weight(hidden, hidden, &W_hh[0, 2 * hidden], W_hh.shape[1], False)
    if predicting:
        packed_W_xrz = pack_stacked_weight(
            n_in, hidden, 2 * hidden, &W_ih[0, 0], W_ih.shape[1],
            &W_hh[0, 0], W_hh.shape[1])
        packed_W_in = pack_weight(
            n_in, hidden, &W_ih[0, 2 * hidden], W_ih.shape[1], False)
    else:
        packed_W_hrz = pack_weight(
            hidden, 2 * hidden, &W_hh[0, 0], W_hh.shape[1], False)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.b, job.b_hn, job.h0 = &b[0], &b_hn[0], &h0[0, 0]
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state = has_initial_state
    job.packed[0] = packed_W_ih
    job.packed[1] = packed_W_xrz if predicting else packed_W_hrz
    job.packed[2] = packed_W_in
    job.packed[3] = packed_W_hn
    job.H, job.final = row_pointer(H), row_pointer(final)
    job.A, job.HN = row_pointer(A), row_pointer(HN)
    if predicting:
        job.input_start, job.input_step = &input_start[0], input_step
        job.work, job.work_stride = &work[0, 0], work.shape[1]
    try:
        inputs_finite = run_chunks(&job, _forward_task, n_chunks, n_threads)
    finally:
        free_packed(packed_W_ih)
        free_packed(packed_W_hn)
        free_packed(packed_W_hrz)
        free_packed(packed_W_xrz)
        free_packed(packed_W_in)
    return inputs_finite


cdef void _forward_task(void *job, Py_ssize_t c, int worker) noexcept nogil:
    if (<ChunkJob *> job).is_double:
        _forward_one_chunk(<ChunkJob *> job, c, worker, <double *> NULL)
    else:
        _forward_one_chunk(<ChunkJob *> job, c, worker, <float *> NULL)


cdef inline void _forward_one_chunk(
    const ChunkJob *j, Py_ssize_t c, int worker, floating *dtype,
) noexcept nogil:
    """Chunk c of ``gru_forward``; ``dtype`` only selects the type."""
    cdef Py_ssize_t first = c * j.chunk_size
    cdef Py_ssize_t n_seq = min(j.chunk_size, j.n_seq - first)
    if j.input_start != NULL:
        j.chunk_inputs_finite[c] = _predict_chunk(
            &j.seq_len[first], n_seq, j.chunk_row_start[c], j.n_in, j.hidden,
            <const floating *> j.X, &j.input_start[first], j.input_step,
            <const floating *> j.packed[0], <const floating *> j.packed[1],
            <const floating *> j.packed[2], <const floating *> j.packed[3],
            <const floating *> j.b, <const floating *> j.b_hn,
            <const floating *> j.h0 + first * j.h0_stride, j.h0_stride, j.has_initial_state,
            NULL if j.final != NULL else <floating *> j.H,
            <floating *> j.final + first * j.hidden if j.final != NULL else NULL,
            <floating *> j.work + worker * j.work_stride,
        )
    else:
        _forward_chunk(
            &j.seq_len[first], n_seq, j.chunk_row_start[c], j.chunk_row_start[c + 1],
            j.n_in, j.hidden, <const floating *> j.X,
            <const floating *> j.packed[0], <const floating *> j.packed[1],
            <const floating *> j.packed[3],
            <const floating *> j.b, <const floating *> j.b_hn,
            <const floating *> j.h0 + first * j.h0_stride, j.h0_stride, j.has_initial_state,
            <floating *> j.H, <floating *> j.A, <floating *> j.HN,
        )


cdef inline void _step(
    Py_ssize_t running, int hidden, floating *gates, const floating *hns,
    const floating *h_prev, Py_ssize_t prev_stride, floating *states,
    Py_ssize_t ld_states,
) noexcept nogil:
    """Gates and h_t of a slab's rows, in one vectorised pass (_gru_step.h)."""
    if floating is float:
        skrnn_gru_forward_step_float(
            running, hidden, gates, hns, h_prev, prev_stride, states, ld_states)
    else:
        skrnn_gru_forward_step_double(
            running, hidden, gates, hns, h_prev, prev_stride, states, ld_states)


cdef void _forward_chunk(
    const Py_ssize_t *seq_len,
    Py_ssize_t n_seq,
    Py_ssize_t row0,
    Py_ssize_t row1,
    int n_in,
    int hidden,
    const floating *X,
    const floating *packed_W_ih,
    const floating *packed_W_hrz,
    const floating *packed_W_hn,
    const floating *b,
    const floating *b_hn,
    const floating *h0,
    Py_ssize_t h0_stride,
    bint has_initial_state,
    floating *H,
    floating *A,
    floating *HN,
) noexcept nogil:
    """One chunk's time loop when training: every step's gates, states and
    h W_hn + b_hn are kept for BPTT, in the slab's rows of ``A``, ``H`` and
    ``HN``."""
    cdef int width = 3 * hidden
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef Py_ssize_t t, p, slab, running
    cdef Py_ssize_t prev_stride
    cdef floating *states = NULL  # the slab's h_t, row stride ``hidden``
    cdef const floating *prev_states = NULL
    cdef const floating *h_prev   # prev_states, or h0 at t = 0
    cdef floating *gates          # the slab's gates, row stride ``width``
    cdef floating *hns            # the slab's h W_hn + b_hn, row stride ``hidden``

    project_inputs(X, packed_W_ih, b, row0, row1, n_in, width, A)

    slab = row0
    for t in range(n_steps):
        running = n_running(seq_len, n_seq, t)
        states = &H[slab * hidden]
        gates = &A[slab * width]
        hns = &HN[slab * hidden]
        # At t = 0 the sequences start from h0 (a shared row: stride 0).
        h_prev = prev_states if t > 0 else h0
        prev_stride = hidden if t > 0 else h0_stride
        # The recurrent terms: h_{t-1} W_hr and h_{t-1} W_hz added to the
        # gates in place, and hn = h_{t-1} W_hn + b_hn apart, for r to
        # multiply; none from a zero initial state.
        if t > 0 or has_initial_state:
            packed_gemm(<int> running, 2 * hidden, hidden, h_prev, prev_stride,
                        packed_W_hrz, gates, width, True)
            packed_gemm_bias(<int> running, hidden, hidden, h_prev, prev_stride,
                             packed_W_hn, b_hn, hns, hidden)
        else:
            for p in range(running):
                memcpy(&hns[p * hidden], b_hn, hidden * sizeof(floating))
        _step(running, hidden, gates, hns, h_prev, prev_stride, states, hidden)
        prev_states = states
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
    const floating *packed_W_xrz,
    const floating *packed_W_in,
    const floating *packed_W_hn,
    const floating *b,
    const floating *b_hn,
    const floating *h0,
    Py_ssize_t h0_stride,
    bint has_initial_state,
    floating *H,
    floating *final,
    floating *work,
) noexcept nogil:
    """One chunk's time loop when predicting: one step of gates and of
    h W_hn + b_hn lives in ``work``, beside two blocks of rows
    [x | h] (row stride n_in + H) that the steps alternate between. Step t
    gathers x_t into its block, next to the h_{t-1} that step t - 1 wrote
    there, and writes h_t into the other. The r and z gates' two products
    are then one, [x_t | h_{t-1}] @ [W_ir W_iz; W_hr W_hz], with no pass to
    add one product to the other and no short product over the inputs
    alone. ``H``, if not NULL, gets the slab's states; ``final``, if not
    NULL, each sequence's last. Returns whether every input value read was
    finite."""
    cdef int width = 3 * hidden
    cdef Py_ssize_t ld = n_in + hidden
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef bint inputs_finite = True
    cdef Py_ssize_t t, p, slab, running, next_running, prev_stride
    cdef floating *gates = work                     # row stride ``width``
    cdef floating *hns = gates + n_seq * width      # row stride ``hidden``
    cdef floating *blocks = hns + n_seq * hidden
    cdef floating *xh                               # [x_t | h_{t-1}]
    cdef floating *states                           # h_t, in the other block
    cdef const floating *h_prev

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
            h_prev = &xh[n_in]
            prev_stride = ld
            packed_gemm_bias(<int> running, 2 * hidden, <int> ld, xh, <int> ld,
                             packed_W_xrz, b, gates, width)
            packed_gemm_bias(<int> running, hidden, n_in, xh, <int> ld,
                             packed_W_in, &b[2 * hidden], &gates[2 * hidden], width)
            packed_gemm_bias(<int> running, hidden, hidden, h_prev, <int> ld,
                             packed_W_hn, b_hn, hns, hidden)
        else:
            # From a zero h0: the input projection alone, and hn = b_hn.
            h_prev = h0
            prev_stride = 0
            packed_gemm_bias(<int> running, width, n_in, xh, <int> ld,
                             packed_W_ih, b, gates, width)
            for p in range(running):
                memcpy(&hns[p * hidden], b_hn, hidden * sizeof(floating))
        _step(running, hidden, gates, hns, h_prev, prev_stride, states, ld)
        store_step_states(states, ld, running, next_running, hidden,
                          &H[slab * hidden] if H != NULL else NULL, final)
        slab += running
    return inputs_finite


def gru_backward(
    const floating[:, ::1] X,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_ih,
    const floating[:, ::1] W_hh,
    const floating[:, ::1] h0,
    bint has_initial_state,
    bint given_initial_state,
    const floating[:, ::1] H,
    const floating[:, ::1] A,
    const floating[:, ::1] HN,
    const floating[:, ::1] dH,
    floating[:, ::1] D,
    floating[:, ::1] D_next,
    floating[:, ::1] dX,
    floating[:, ::1] d_initial,
    floating[:, ::1] work,
    floating[:, ::1] chunk_grad,
    floating[::1] grad,
    int n_threads,
):
    """BPTT of one GRU layer after ``gru_forward``; writes its gradient.

    Parameters
    ----------
    X, seq_len, chunk_row_start, chunk_size, W_ih, W_hh, h0 :
        As given to ``gru_forward``.
    has_initial_state, given_initial_state : bool
        As for ``elman_backward``.
    H, A, HN : arrays
        As written by ``gru_forward``.
    dH : (n_rows, H) array
        Gradient of the loss with respect to the layer's output h at every row.
    D : (n_rows, 3H) array, work
        Gradient with respect to the input-side pre-activations
        (x @ W_ih + b) at every row.
    D_next : (n_rows, 3H) array, work
        Gradient with respect to the recurrent side (h @ W_hh, and b_hn) of
        the same sequence's next step, at the row of step t (zero at its last
        step), so that dW_hh is one GEMM: H^T @ D_next. It differs from D in
        the n block, where r multiplies the recurrent term.
    dX : (n_rows, n_in) or (0, n_in) array, written
        Gradient with respect to ``X``; skipped when it has no rows.
    d_initial : (n_seq, H) or (0, H) array, written
        Gradient with respect to each sorted sequence's initial state;
        skipped when it has no rows.
    work : (n_chunks, backward_work_size(chunk_size, H)) array, work
    chunk_grad : (n_chunks, n_local) array, work
        One gradient per chunk, local layout [W_ih, W_hh, b, b_hn, (h0)].
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
        seq_len, chunk_row_start, chunk_size, X.shape[0], X.shape[1], 3,
        W_ih.shape[0], W_ih.shape[1], W_hh.shape[0], W_hh.shape[1], h0.shape[0],
        h0.shape[1], has_initial_state, given_initial_state, hidden, d_initial.shape[0],
        d_initial.shape[1], H.shape[0], H.shape[1],
        dH.shape[0], dH.shape[1], D.shape[0], D.shape[1], dX.shape[0], dX.shape[1],
        work.shape[0], work.shape[1], backward_work_size(chunk_size, hidden),
        chunk_grad.shape[0], chunk_grad.shape[1], grad.shape[0], n_threads)
    require_shape("A", A.shape[0], A.shape[1], n_rows, 3 * hidden)
    require_shape("HN", HN.shape[0], HN.shape[1], n_rows, hidden)
    require_shape("D_next", D_next.shape[0], D_next.shape[1], n_rows, 3 * hidden)
    # The recurrent weight transposed, packed once for every step of every chunk.
    packed_W_hh_T = pack_weight(
        W_hh.shape[1], W_hh.shape[0], &W_hh[0, 0], W_hh.shape[1], True)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.W_ih, job.W_hh, job.h0 = &W_ih[0, 0], &W_hh[0, 0], &h0[0, 0]
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state, job.given_initial_state = has_initial_state, given_initial_state
    job.d_initial = row_pointer(d_initial)
    job.packed[0] = packed_W_hh_T
    # (BPTT only reads H, A and HN.)
    job.H, job.A = <void *> const_row_pointer(H), <void *> const_row_pointer(A)
    job.HN, job.dH = <void *> const_row_pointer(HN), const_row_pointer(dH)
    job.D, job.shifted, job.dX = row_pointer(D), row_pointer(D_next), row_pointer(dX)
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
    """Chunk c of ``gru_backward``; ``dtype`` only selects the type."""
    cdef Py_ssize_t first = c * j.chunk_size
    _backward_chunk(
        &j.seq_len[first], min(j.chunk_size, j.n_seq - first),
        j.chunk_row_start[c], j.chunk_row_start[c + 1], j.n_in, j.hidden,
        <const floating *> j.X, <const floating *> j.W_ih, <const floating *> j.W_hh,
        <const floating *> j.packed[0], <const floating *> j.h0 + first * j.h0_stride,
        j.h0_stride, j.has_initial_state, j.given_initial_state,
        <const floating *> j.H, <const floating *> j.A, <const floating *> j.HN,
        <const floating *> j.dH, <floating *> j.D, <floating *> j.shifted,
        <floating *> j.dX,
        <floating *> j.d_initial + first * j.hidden if j.d_initial != NULL else NULL,
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
    Py_ssize_t h0_stride,
    bint has_initial_state,
    bint given_initial_state,
    const floating *H,
    const floating *A,
    const floating *HN,
    const floating *dH,
    floating *D,
    floating *D_next,
    floating *dX,
    floating *d_initial,
    floating *work,
    floating *grad,
) noexcept nogil:
    cdef int width = 3 * hidden
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef Py_ssize_t n_rows = row1 - row0
    cdef Py_ssize_t t, p, k, r, slab, slab_end, prev_slab
    cdef Py_ssize_t running = 0, running_next = 0
    cdef const floating *a
    cdef floating *d
    cdef floating *d_rec
    cdef const floating *h_prev
    cdef floating dh, d_n, rg, z, n
    # G[p]: dLoss/dh_t of the chunk's sequence p through step t+1.
    # delta0_sum: the recurrent-side deltas of step 0, summed over sequences.
    cdef floating *G = work
    cdef floating *delta0_sum = G + n_seq * hidden
    # Step 0's recurrent-side deltas of each sequence, kept only where the
    # initial states are per sequence or their gradient is asked for.
    cdef floating *delta0 = (delta0_sum + width
                             if given_initial_state or d_initial != NULL else NULL)
    cdef floating *g_W_ih = grad
    cdef floating *g_W_hh = g_W_ih + n_in * width
    cdef floating *g_b = g_W_hh + hidden * width
    cdef floating *g_b_hn = g_b + width
    cdef floating *g_h0 = g_b_hn + hidden

    for k in range(width):
        delta0_sum[k] = 0
    if has_initial_state:
        for k in range(hidden):
            g_h0[k] = 0

    slab_end = row1
    for t in range(n_steps - 1, -1, -1):
        running = n_running(seq_len, n_seq, t)
        slab = slab_end - running
        prev_slab = slab - n_running(seq_len, n_seq, t - 1) if t > 0 else slab
        # Sequences whose last step is t get nothing from step t + 1.
        if running > running_next:
            memset(&G[running_next * hidden], 0,
                   (running - running_next) * hidden * sizeof(floating))
        for p in range(running):
            r = slab + p
            a = &A[r * width]
            d = &D[r * width]
            d_rec = &D_next[(prev_slab + p) * width] if t > 0 else delta0_sum
            h_prev = &H[(prev_slab + p) * hidden] if t > 0 else &h0[p * h0_stride]
            for k in range(hidden):
                rg = a[k]
                z = a[hidden + k]
                n = a[2 * hidden + k]
                dh = dH[r * hidden + k] + G[p * hidden + k]
                d_n = dh * (<floating> 1 - z) * (<floating> 1 - n * n)
                d[k] = d_n * HN[r * hidden + k] * rg * (<floating> 1 - rg)
                d[hidden + k] = dh * (h_prev[k] - n) * z * (<floating> 1 - z)
                d[2 * hidden + k] = d_n
                # Rows of step t-1 get this step's recurrent-side deltas; at
                # t = 0 they are summed, for b_hn and the initial state.
                if t > 0:
                    d_rec[k] = d[k]
                    d_rec[hidden + k] = d[hidden + k]
                    d_rec[2 * hidden + k] = d_n * rg
                else:
                    d_rec[k] += d[k]
                    d_rec[hidden + k] += d[hidden + k]
                    d_rec[2 * hidden + k] += d_n * rg
                    if has_initial_state:
                        g_h0[k] += dh * z
                    if delta0 != NULL:
                        delta0[p * width + k] = d[k]
                        delta0[p * width + hidden + k] = d[hidden + k]
                        delta0[p * width + 2 * hidden + k] = d_n * rg
                # The direct path h_{t-1} -> h_t.
                G[p * hidden + k] = dh * z
        # Sequences ending at t have no step t+1.
        if running > running_next:
            memset(&D_next[(slab + running_next) * width], 0,
                   (running - running_next) * width * sizeof(floating))
        if t > 0:
            # dLoss/dh_{t-1} = dh_t * z + (recurrent deltas) @ W_hh^T
            packed_gemm(<int> running, hidden, width, &D_next[prev_slab * width],
                        width, packed_W_hh_T, G, hidden, True)
        running_next = running
        slab_end = slab

    weight_gradients(X, H, D, D_next, W_ih, row0, row1, n_in, hidden, width,
                     g_W_ih, g_W_hh, g_b, dX)
    # b_hn sits on the recurrent side: its deltas are D_next's n block, plus
    # step 0's.
    column_sums(&D_next[row0 * width + 2 * hidden], n_rows, hidden, width, g_b_hn)
    for k in range(hidden):
        g_b_hn[k] += delta0_sum[2 * hidden + k]
    if has_initial_state:
        # g_h0 already holds the direct path's sum of dh * z.
        initial_state_gradients(h0, delta0_sum, W_hh, hidden, width,
                                g_W_hh, 1, g_h0)
    if given_initial_state:
        given_initial_state_gradients(h0, delta0, running, hidden, width, g_W_hh)
    if d_initial != NULL:
        # The direct path's dh * z, left in G by step 0, plus the recurrent side.
        copy_chunk_rows(G, running, hidden, d_initial)
        initial_state_rows_gradient(delta0, running, W_hh, hidden, width, 1, d_initial)
