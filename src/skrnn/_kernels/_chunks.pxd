# Helpers shared by the cell kernels (_elman.pyx, _lstm.pyx, _gru.pyx).
#
# Layout of a mini-batch, common to every cell
# --------------------------------------------
# Python (skrnn._network) sorts a batch's sequences by length, longest first,
# and cuts them into chunks of ``chunk_size`` consecutive sequences. A chunk is
# the unit of parallel work: one thread runs the whole time loop of a chunk.
# Each chunk owns a contiguous block of rows in every work array, ordered by
# time step, then by sequence: the "slab" of step t holds one row per
# sequence of the chunk still running at t. Because the sequences are
# sorted, the running ones are always a prefix of the chunk, so every
# per-step product is one GEMM over a contiguous block and no work is spent
# on padding.
#
# Determinism: the chunking depends on the batch only, never on the thread
# count; each chunk writes its own rows and its own gradient buffer, and the
# buffers are summed in chunk order (``sum_chunk_gradients``), and every
# product is skrnn's own (``_gemm.h``), whose sums do not depend on the
# thread either. So results are bitwise the same for any number of threads.
#
# Threads: a kernel fills a ``ChunkJob`` with its arguments and has the team
# of ``_team.pxd`` run one task per chunk.

from cython cimport floating
from libc.stdlib cimport free, malloc

from ._team cimport team_run, team_task
from libc.string cimport memcpy, memset

from ._packed cimport gemm, packed_gemm_bias

cdef extern from "_step_inputs.h":
    bint skrnn_gather_step_float(
        const float *X, const Py_ssize_t *input_start, Py_ssize_t input_step,
        const Py_ssize_t *seq_len, Py_ssize_t t, Py_ssize_t running, int n_in,
        float *inputs, Py_ssize_t ld) noexcept nogil
    bint skrnn_gather_step_double(
        const double *X, const Py_ssize_t *input_start, Py_ssize_t input_step,
        const Py_ssize_t *seq_len, Py_ssize_t t, Py_ssize_t running, int n_in,
        double *inputs, Py_ssize_t ld) noexcept nogil


cdef extern from "_tanh.h":
    void skrnn_tanh_rows(double *a, Py_ssize_t rows, Py_ssize_t cols,
                         Py_ssize_t ld) noexcept nogil
    void skrnn_tanhf_rows(float *a, Py_ssize_t rows, Py_ssize_t cols,
                          Py_ssize_t ld) noexcept nogil


cdef extern from "_column_sums.h":
    void skrnn_column_sums_float(const float *a, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                 Py_ssize_t lda, float *sums) noexcept nogil
    void skrnn_column_sums_double(const double *a, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                  Py_ssize_t lda, double *sums) noexcept nogil


cdef inline void tanh_rows(
    floating *a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
) noexcept nogil:
    """a[p, :cols] = tanh(a[p, :cols]) for p < rows, row stride ld."""
    if floating is float:
        skrnn_tanhf_rows(a, rows, cols, ld)
    else:
        skrnn_tanh_rows(a, rows, cols, ld)


cdef inline void tanh_inplace(floating *a, Py_ssize_t n) noexcept nogil:
    """a = tanh(a), in place, over n contiguous values."""
    tanh_rows(a, 1, n, n)


cdef inline Py_ssize_t n_running(
    const Py_ssize_t *lengths, Py_ssize_t n_seq, Py_ssize_t t,
) noexcept nogil:
    """Sequences (of a chunk sorted longest first) still running at step t."""
    cdef Py_ssize_t n = 0
    while n < n_seq and lengths[n] > t:
        n += 1
    return n


cdef inline void column_sums(
    const floating *a, Py_ssize_t n_rows, Py_ssize_t n_cols, Py_ssize_t lda,
    floating *sums,
) noexcept nogil:
    """sums[j] = sum_i a[i, j], in row order, for a row-major block with row
    stride lda."""
    if floating is float:
        skrnn_column_sums_float(a, n_rows, n_cols, lda, sums)
    else:
        skrnn_column_sums_double(a, n_rows, n_cols, lda, sums)


cdef inline void sum_chunk_gradients(
    const floating *chunk_grad, Py_ssize_t n_chunks, Py_ssize_t n, floating *grad,
) noexcept nogil:
    """grad (n values) = the sum of the chunks' gradients (rows of n values),
    always added in chunk order: the column sums of the chunks' rows. (On one
    thread: a few adds per parameter, against a whole BPTT pass.)"""
    column_sums(chunk_grad, n_chunks, n, n, grad)


# -- a kernel call's arguments, as the team's tasks read them ------------------

cdef struct ChunkJob:
    # What every cell's forward or backward pass reads, as raw pointers
    # (floating-point arrays as void *, of the type ``is_double`` says); a
    # kernel sets the fields it uses and leaves the rest NULL.
    bint is_double
    # The cell's steps, run by the driver (a ``Cell`` of _driver.pxd).
    const void *cell
    # The batch layout (see the top of this file).
    const Py_ssize_t *seq_len
    const Py_ssize_t *chunk_row_start
    Py_ssize_t chunk_size
    Py_ssize_t n_seq
    int n_in
    int hidden
    # The layer's input; a prediction pass reads sequence q's step t at row
    # ``input_start[q] + t * input_step`` (``input_start`` NULL: training).
    const void *X
    const Py_ssize_t *input_start
    Py_ssize_t input_step
    # A prediction pass that projects its inputs many steps ahead rather
    # than stack them beside the states (``projects_ahead``, _driver.pxd).
    bint projects_ahead
    # Parameters, and the weights packed for the chunks' products.
    const void *W_ih
    const void *W_hh
    const void *b
    const void *b_hn
    # Initial states: one row shared by every sequence (row stride 0) or
    # one per sorted sequence (row stride ``hidden``); ``given_initial_state``:
    # per sequence, and not parameters (BPTT gives their gradients back in
    # ``d_initial`` and ``d_initial_cell`` if not NULL).
    const void *h0
    const void *c0
    Py_ssize_t h0_stride
    bint has_initial_state
    bint given_initial_state
    void *d_initial
    void *d_initial_cell
    int activation
    const void *packed[4]
    # What the forward pass writes and BPTT reads (NULL where unused).
    void *H
    void *final
    void *C
    void *A
    void *HN
    # BPTT's arrays.
    const void *dH
    void *D
    void *shifted
    void *dX
    void *chunk_grad
    Py_ssize_t chunk_grad_stride
    # Scratch rows: one per worker (forward) or per chunk (backward).
    void *work
    Py_ssize_t work_stride
    # Per chunk, whether a prediction pass read only finite inputs.
    char *chunk_inputs_finite


cdef inline void init_job(
    ChunkJob *job, bint is_double, const void *X, int n_in,
    const Py_ssize_t[::1] seq_len, const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size, int hidden,
) noexcept nogil:
    """Zero ``job``, then set its dtype, input (NULL if it has no rows) and
    batch layout."""
    memset(job, 0, sizeof(ChunkJob))
    job.is_double = is_double
    job.seq_len = &seq_len[0] if seq_len.shape[0] > 0 else NULL
    job.chunk_row_start = &chunk_row_start[0]
    job.chunk_size = chunk_size
    job.n_seq = seq_len.shape[0]
    job.n_in = n_in
    job.hidden = hidden
    job.X = X


cdef inline int run_chunks(
    ChunkJob *job, team_task task, Py_ssize_t n_chunks, int n_threads,
) except -1:
    """Run ``task`` on every chunk of ``job`` on the team; returns whether
    a prediction pass (``job.input_start`` set) read only finite inputs,
    from the flag each chunk writes (1 for a training pass)."""
    cdef Py_ssize_t c
    cdef int inputs_finite = 1
    if job.input_start != NULL:
        job.chunk_inputs_finite = <char *> malloc(max(n_chunks, 1))
        if job.chunk_inputs_finite == NULL:
            raise MemoryError("cannot allocate the chunks' flags")
    with nogil:
        team_run(n_threads, n_chunks, task, job)
    if job.input_start != NULL:
        for c in range(n_chunks):
            inputs_finite &= job.chunk_inputs_finite[c]
        free(job.chunk_inputs_finite)
        job.chunk_inputs_finite = NULL
    return inputs_finite


# -- the parts of a chunk's forward and backward pass common to every cell ----

cdef inline void project_inputs(
    const floating *X, const floating *packed_W_ih, const floating *b,
    Py_ssize_t row0, Py_ssize_t row1, int n_in, int width, floating *A,
) noexcept nogil:
    """A = X @ W_ih + b over the chunk's rows, W_ih packed: every step's
    input projection in one product, before the time loop. (For these
    shapes, thousands of rows by a few dozen inputs, the packed product is
    faster than BLAS, which repacks W_ih and needs b copied in first.)"""
    packed_gemm_bias(<int> (row1 - row0), width, n_in, &X[row0 * n_in], n_in,
                     packed_W_ih, b, &A[row0 * width], width)


# -- a prediction step's rows: [x_t | h_{t-1}], gathered a step at a time -----

cdef inline bint gather_step_inputs(
    const floating *X, const Py_ssize_t *input_start, Py_ssize_t input_step,
    const Py_ssize_t *seq_len, Py_ssize_t t, Py_ssize_t running, int n_in,
    floating *inputs, Py_ssize_t ld,
) noexcept nogil:
    """inputs[p, :n_in] = the input of the chunk's sequence p at step t, for
    the running sequences, where that input is row
    ``input_start[p] + t * input_step`` of X and ``seq_len[p]`` is the
    sequence's length; ``inputs`` has row stride ``ld``. Returns whether
    every value read was finite.

    A prediction pass reads the user's rows where they are, a step at a
    time, rather than from a copy of all the inputs in layout order; the
    gathered rows are checked for NaN and infinity on the way
    (``_step_inputs.h``)."""
    if floating is float:
        return skrnn_gather_step_float(X, input_start, input_step, seq_len, t,
                                       running, n_in, inputs, ld)
    else:
        return skrnn_gather_step_double(X, input_start, input_step, seq_len, t,
                                        running, n_in, inputs, ld)


cdef inline void copy_rows(
    const floating *source, Py_ssize_t ld_source, Py_ssize_t n_rows,
    int n_cols, floating *dest, Py_ssize_t ld_dest,
) noexcept nogil:
    """dest[p, :n_cols] = source[p, :n_cols] for p < n_rows, each array with
    its own row stride."""
    cdef Py_ssize_t p
    for p in range(n_rows):
        memcpy(&dest[p * ld_dest], &source[p * ld_source], n_cols * sizeof(floating))


cdef inline void fill_initial_states(
    floating *blocks, Py_ssize_t n_seq, Py_ssize_t ld, int n_in,
    const floating *h0, Py_ssize_t h0_stride, int hidden,
) noexcept nogil:
    """blocks[p, n_in:] = h0[p] (row stride ``h0_stride``, 0 for a shared
    h0) for the chunk's n_seq rows of [x | h] (row stride ``ld``): the
    h_{-1} beside step 0's inputs in a prediction pass (see
    ``predict_chunk`` in _driver.pxd)."""
    cdef Py_ssize_t p
    for p in range(n_seq):
        memcpy(&blocks[p * ld + n_in], &h0[p * h0_stride], hidden * sizeof(floating))


cdef inline void copy_chunk_rows(
    const floating *source, Py_ssize_t n_rows, int n_cols, floating *dest,
) noexcept nogil:
    """dest[:n_rows] = source[:n_rows], contiguous rows of n_cols values;
    nothing if ``dest`` is NULL (an output not asked for)."""
    if dest != NULL:
        memcpy(dest, source, n_rows * n_cols * sizeof(floating))


cdef inline void store_step_states(
    const floating *states, Py_ssize_t ld, Py_ssize_t running,
    Py_ssize_t next_running, int hidden, floating *H_slab, floating *final,
) noexcept nogil:
    """A prediction step's states h_t (row stride ``ld``) where the layer's
    caller reads them: into the slab's rows of H, unless ``H_slab`` is NULL,
    and into ``final`` for the sequences that end at this step (p from
    ``next_running`` to ``running``; the chunk is sorted longest first),
    unless ``final`` is NULL."""
    if H_slab != NULL:
        copy_rows(states, ld, running, hidden, H_slab, hidden)
    if final != NULL and next_running < running:
        copy_rows(&states[next_running * ld], ld, running - next_running, hidden,
                  &final[next_running * hidden], hidden)


cdef inline void weight_gradients(
    const floating *X, const floating *H, const floating *D,
    const floating *D_next, const floating *W_ih,
    Py_ssize_t row0, Py_ssize_t row1, int n_in, int hidden, int width,
    floating *g_W_ih, floating *g_W_hh, floating *g_b, floating *dX,
) noexcept nogil:
    """After the backward time loop of a chunk, each one GEMM over all its
    rows: dW_ih = X^T D, dW_hh = H^T D_next, then ``bias_and_input_gradients``.
    ``H`` and ``D_next`` pair each h_t with delta_{t+1} (the same
    sequence's, zero after its last step)."""
    cdef int n_rows = <int> (row1 - row0)
    gemm(True, False, n_in, width, n_rows,
         &X[row0 * n_in], n_in, &D[row0 * width], width,
         False, g_W_ih, width)
    gemm(True, False, hidden, width, n_rows,
         &H[row0 * hidden], hidden, &D_next[row0 * width], width,
         False, g_W_hh, width)
    bias_and_input_gradients(D, W_ih, row0, row1, n_in, width, g_b, dX)


cdef inline void inputs_beside_states(
    const floating *X, Py_ssize_t row0, Py_ssize_t row1, int n_in, int hidden,
    floating *XH,
) noexcept nogil:
    """XH[r, :n_in] = X[r] over the chunk's rows, before the backward loop
    fills XH[r, n_in:] (``previous_states_beside_inputs``)."""
    cdef Py_ssize_t r
    for r in range(row0, row1):
        memcpy(&XH[r * (n_in + hidden)], &X[r * n_in], n_in * sizeof(floating))


cdef inline void previous_states_beside_inputs(
    const floating *H_prev, Py_ssize_t slab, Py_ssize_t running, int n_in,
    int hidden, floating *XH,
) noexcept nogil:
    """XH[slab + p, n_in:] = h_{t-1} of the slab's sequence p, read from the
    rows at ``H_prev`` (at step 0, the initial states given per sequence);
    zero if ``H_prev`` is NULL (step 0 from a zero or learned h0, whose
    share of dW_hh is added apart)."""
    cdef Py_ssize_t p
    cdef floating *row
    for p in range(running):
        row = &XH[(slab + p) * (n_in + hidden) + n_in]
        if H_prev == NULL:
            memset(row, 0, hidden * sizeof(floating))
        else:
            memcpy(row, &H_prev[p * hidden], hidden * sizeof(floating))


cdef inline void stacked_weight_gradients(
    const floating *XH, const floating *D, const floating *W_ih,
    Py_ssize_t row0, Py_ssize_t row1, int n_in, int hidden, int width,
    floating *g_W, floating *g_b, floating *dX,
) noexcept nogil:
    """``weight_gradients`` for a kernel whose rows hold [x_t, h_{t-1}] side
    by side in ``XH`` (row stride n_in + hidden): dW_ih and dW_hh, stacked
    in ``g_W`` as in the gradient's layout, are one GEMM, XH^T D, which
    packs D (the widest operand) once instead of twice."""
    cdef int ld_xh = n_in + hidden
    gemm(True, False, ld_xh, width, <int> (row1 - row0),
         &XH[row0 * ld_xh], ld_xh, &D[row0 * width], width,
         False, g_W, width)
    bias_and_input_gradients(D, W_ih, row0, row1, n_in, width, g_b, dX)


cdef inline void bias_and_input_gradients(
    const floating *D, const floating *W_ih, Py_ssize_t row0, Py_ssize_t row1,
    int n_in, int width, floating *g_b, floating *dX,
) noexcept nogil:
    """db = column sums of D over the chunk's rows, and dX = D W_ih^T unless
    ``dX`` is NULL (the first layer needs none)."""
    cdef int n_rows = <int> (row1 - row0)
    column_sums(&D[row0 * width], n_rows, width, width, g_b)
    if dX != NULL:
        gemm(False, True, n_rows, n_in, width,
             &D[row0 * width], width, W_ih, width,
             False, &dX[row0 * n_in], n_in)


cdef inline void given_initial_state_gradients(
    const floating *h0, const floating *delta0, Py_ssize_t n_seq, int hidden,
    int width, floating *g_W_hh,
) noexcept nogil:
    """Step 0 of each sequence p read its own h0[p] (rows of ``h0``), and
    ``delta0`` holds its recurrent-side deltas (rows of ``width``): add
    h0^T delta0 to dW_hh."""
    gemm(True, False, hidden, width, <int> n_seq,
         h0, hidden, delta0, width,
         True, g_W_hh, width)


cdef inline void initial_state_rows_gradient(
    const floating *delta0, Py_ssize_t n_seq, const floating *W_hh, int hidden,
    int width, floating beta, floating *d_initial,
) noexcept nogil:
    """d_initial = delta0 @ W_hh^T + beta * d_initial: dLoss/dh0 of each
    sequence through the recurrent side of step 0."""
    gemm(False, True, <int> n_seq, hidden, width,
         delta0, width, W_hh, width,
         beta != 0, d_initial, hidden)


cdef inline void initial_state_gradients(
    const floating *h0, const floating *delta0_sum, const floating *W_hh,
    int hidden, int width, floating *g_W_hh, floating beta, floating *g_h0,
) noexcept nogil:
    """Step 0 of every sequence read h0: given the recurrent-side deltas of
    step 0 summed over the chunk, add h0^T delta0_sum to dW_hh and set
    g_h0 = delta0_sum @ W_hh^T + beta * g_h0."""
    gemm(True, False, hidden, width, 1,
         h0, hidden, delta0_sum, width,
         True, g_W_hh, width)
    gemm(False, True, 1, hidden, width,
         delta0_sum, width, W_hh, width,
         beta != 0, g_h0, hidden)
