"""The Echo State Network's reservoir: its states over many sequences, and
closed-loop generation through a linear readout.

The reservoir is a leaky-integrator tanh unit (reservoirpy's equation),

    x_t = (1 - a) x_{t-1} + a tanh(u_t W_in + x_{t-1} W + b),   x_{-1} = x0,

with fixed weights: nothing here is trained, so there is no backward pass.

Layout and threads. Python sorts the sequences longest first and the kernel
cuts them into chunks of ``chunk_size`` consecutive sequences, whatever the
thread count; one thread runs the whole time loop of a chunk, on a block of
rows (one per running sequence, a prefix of the chunk). Every row is computed
by the same operations in the same order whichever chunk or thread holds it
(the packed product computes each row of its result alone, and the sparse
product sums each column in stored order), so the states are bitwise the same
for any number of threads.

The recurrent product is either dense, on W packed once per call (``_gemm.h``),
or sparse, on W stored by columns (``_reservoir.h``); Python chooses by
density. The input projection is always the dense packed product: inputs
have few features.

Fewer chunks than threads (one long series, the usual case of reservoir
computing): the chunks run one after another on the calling thread, and each
step's pre-activations are cut by columns among the team instead, each
column computed by the same operations as above, so the states are still
the same bitwise. A step of a reservoir of COLUMNS_FROM_UNITS units or more
(tens to hundreds of thousands of multiply-adds, streamed from memory) is
long enough that the team's hand-off at every step, a few microseconds,
costs less than the half of the step it saves.
"""

from cython cimport floating
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from ._boundary cimport check_thread_count, require_length, require_shape
from ._chunks cimport gather_step_inputs, n_running
from ._packed cimport free_packed, pack_weight, packed_gemm, packed_gemm_bias
from ._team cimport team_run, team_task


cdef extern from "_reservoir.h":
    void skrnn_leaky_update_float(float *state, float *pre, Py_ssize_t n, float leak,
                                  int fresh) noexcept nogil
    void skrnn_leaky_update_double(double *state, double *pre, Py_ssize_t n,
                                   double leak, int fresh) noexcept nogil
    void skrnn_sparse_accumulate_float(const float *state, int n_units, const int *col_ptr,
                                       const int *row_index, const float *values,
                                       float *pre) noexcept nogil
    void skrnn_sparse_accumulate_double(const double *state, int n_units,
                                        const int *col_ptr, const int *row_index,
                                        const double *values, double *pre) noexcept nogil


# What a run writes for each sequence, besides its final state (codes shared
# with skrnn._reservoir).
cpdef enum Pooling:
    NO_POOLING = 0
    POOL_LAST = 1
    POOL_MEAN = 2
    POOL_MAX = 3


# Reservoirs from this size cut their steps by columns among the threads
# when there are fewer chunks than threads (see the module's docstring).
cdef enum:
    COLUMNS_FROM_UNITS = 400


cdef struct ReservoirJob:
    # Floating-point arrays as void *, of the type ``is_double`` says.
    bint is_double
    Py_ssize_t n_seq
    Py_ssize_t chunk_size
    int n_in
    int n_units
    double leak
    # The sorted sequences: step t of sequence q is row input_start[q] + t of
    # X (run) and it has seq_len[q] steps; its results go to row
    # seq_row[q] of ``final`` and ``pooled``.
    const void *X
    const Py_ssize_t *input_start
    const Py_ssize_t *seq_len
    const Py_ssize_t *seq_row
    # Weights: W_in and the bias; W packed (dense) or by columns (sparse).
    const void *packed_W_in
    const void *b
    const void *packed_W
    const int *col_ptr
    const int *row_index
    const void *values
    # x0 of each sequence by ``seq_row`` (NULL: zero).
    const void *initial
    # Steps t >= store_from of sequence q go to row out_start[q] + t -
    # store_from of ``states`` (NULL: not stored), and into its pooling.
    Py_ssize_t store_from
    const Py_ssize_t *out_start
    void *states
    int pooling
    void *pooled
    void *final
    # Generation: the readout (packed W_out, b_out), its width, the steps.
    const void *packed_W_out
    const void *b_out
    int n_out
    Py_ssize_t n_steps
    void *generated
    # Scratch, one block per worker; per chunk, whether its inputs were finite.
    void *work
    Py_ssize_t work_stride
    char *chunk_inputs_finite
    # Steps cut by columns among this many threads (0: a chunk per thread).
    int column_threads


# One step's pre-activations, P[:rows] = U[:rows] W_in + b + S[:rows] W, cut
# into column blocks of ``block_width`` (a multiple of the packed panels'
# width) for the team.
cdef struct StepColumns:
    const ReservoirJob *job
    const void *U
    const void *S
    void *P
    Py_ssize_t rows
    bint has_state
    int block_width


def reservoir_states(
    const floating[:, ::1] X,
    const Py_ssize_t[::1] input_start,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] seq_row,
    const floating[:, ::1] W_in,
    const floating[::1] b,
    const floating[:, ::1] W,
    const int[::1] col_ptr,
    const int[::1] row_index,
    const floating[::1] values,
    double leak,
    const floating[:, ::1] initial,
    Py_ssize_t store_from,
    const Py_ssize_t[::1] out_start,
    floating[:, ::1] states,
    int pooling,
    floating[:, ::1] pooled,
    floating[:, ::1] final,
    Py_ssize_t chunk_size,
    int n_threads,
):
    """Run the reservoir over sequences; returns whether every input read
    was finite.

    Parameters
    ----------
    X : (n_rows, n_in) array
        The sequences' steps; sequence q's step t is row ``input_start[q] + t``.
    input_start, seq_len, seq_row : (n_seq,) arrays
        Per sequence, sorted by ``seq_len`` longest first: its first row in
        X, its length (at least 1), and its row in ``initial``, ``final``
        and ``pooled`` (a permutation of range(n_seq)).
    W_in : (n_in, n_units) array
    b : (n_units,) array
    W : (n_units, n_units) array, or (0, 0) for the sparse product
    col_ptr, row_index, values : W by columns (scipy's CSC arrays), or
        empty for the dense product
    leak : float
        The leak rate a, in (0, 1].
    initial : (n_seq, n_units) array of x0, or (0, n_units) for zero states
    store_from : int
        The first step written to ``states`` and pooled.
    out_start : (n_seq,) array, or empty with ``states`` (0, n_units)
        Row of ``states`` for sequence q's step ``store_from``.
    states : (n_out_rows, n_units) array, written
    pooling : Pooling
        NO_POOLING, or what ``pooled`` receives over the steps t >=
        ``store_from``: the last state, the mean or the maximum.
    pooled : (n_seq, n_units) array, written (or (0, n_units) if NO_POOLING)
    final : (n_seq, n_units) array, written: every sequence's last state
    chunk_size : int
        Sequences per chunk (the unit of parallel work).
    n_threads : int
    """
    cdef ReservoirJob job
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t n_units = W_in.shape[1]
    cdef Py_ssize_t n_chunks, q, c
    cdef int inputs_finite = 1
    cdef bint sparse = W.shape[0] == 0
    _check_weights(W_in, b, W, col_ptr, row_index, values, n_units)
    require_shape("W_in", W_in.shape[0], W_in.shape[1], X.shape[1], n_units)
    _check_sequences(input_start, seq_len, seq_row, X.shape[0], store_from, chunk_size,
                     n_threads, leak)
    require_shape("final", final.shape[0], final.shape[1], n_seq, n_units)
    if initial.shape[0] != 0:
        require_shape("initial", initial.shape[0], initial.shape[1], n_seq, n_units)
    if pooling != NO_POOLING:
        require_shape("pooled", pooled.shape[0], pooled.shape[1], n_seq, n_units)
        for q in range(n_seq):
            if seq_len[q] <= store_from:
                raise ValueError(f"kernel argument seq_len: sequence {q} has no step "
                                 f"from store_from={store_from} to pool")
    if states.shape[0] != 0:
        require_length("out_start", out_start.shape[0], n_seq)
        require_shape("states", states.shape[0], states.shape[1], -1, n_units)
        for q in range(n_seq):
            if seq_len[q] > store_from and (
                    out_start[q] < 0
                    or out_start[q] + seq_len[q] - store_from > states.shape[0]):
                raise ValueError(f"kernel argument out_start puts sequence {q} outside "
                                 f"the {states.shape[0]} rows of states")
    if n_seq == 0:
        return True

    _init_job(&job, W_in, b, col_ptr, row_index, values, sparse, leak, n_seq, chunk_size)
    job.X = &X[0, 0] if X.shape[0] > 0 else NULL
    job.input_start, job.seq_len, job.seq_row = &input_start[0], &seq_len[0], &seq_row[0]
    job.initial = &initial[0, 0] if initial.shape[0] > 0 else NULL
    job.store_from = store_from
    if states.shape[0] > 0:
        job.out_start, job.states = &out_start[0], &states[0, 0]
    job.pooling = pooling
    job.pooled = &pooled[0, 0] if pooling != NO_POOLING else NULL
    job.final = &final[0, 0]
    # Scratch per worker: the step's inputs, pre-activations, states and
    # pooling accumulators of a chunk's rows.
    job.work_stride = chunk_size * (X.shape[1] + 3 * n_units)
    n_chunks = (n_seq + chunk_size - 1) // chunk_size
    job.chunk_inputs_finite = <char *> malloc(n_chunks)
    try:
        if job.chunk_inputs_finite == NULL:
            raise MemoryError("cannot allocate the reservoir's work arrays")
        _pack_and_run(&job, W_in, W, n_threads, _run_task)
        for c in range(n_chunks):
            inputs_finite &= job.chunk_inputs_finite[c]
    finally:
        _free_job(&job, <floating *> NULL)
    return bool(inputs_finite)


def reservoir_generate(
    const floating[:, ::1] start,
    const floating[:, ::1] W_in,
    const floating[::1] b,
    const floating[:, ::1] W,
    const int[::1] col_ptr,
    const int[::1] row_index,
    const floating[::1] values,
    double leak,
    const floating[:, ::1] W_out,
    const floating[::1] b_out,
    floating[:, :, ::1] generated,
    Py_ssize_t chunk_size,
    int n_threads,
):
    """Closed-loop generation: from each sequence's state ``start[q]``, emit
    y = x W_out + b_out, feed y back as the next input, and repeat.

    Parameters
    ----------
    start : (n_seq, n_units) array
        The reservoir's state after each warm-up sequence.
    W_in, b, W, col_ptr, row_index, values, leak
        The reservoir, as in ``reservoir_states``; W_in has n_out rows.
    W_out : (n_units, n_out) array
    b_out : (n_out,) array
    generated : (n_seq, n_steps, n_out) array, written: step k is the
        readout of the state after k fed-back inputs (step 0: of ``start``).
    chunk_size, n_threads
        As in ``reservoir_states``.
    """
    cdef ReservoirJob job
    cdef Py_ssize_t n_seq = start.shape[0]
    cdef Py_ssize_t n_units = W_in.shape[1]
    cdef Py_ssize_t n_out = W_out.shape[1]
    cdef bint sparse = W.shape[0] == 0
    _check_weights(W_in, b, W, col_ptr, row_index, values, n_units)
    require_shape("start", start.shape[0], start.shape[1], -1, n_units)
    require_shape("W_out", W_out.shape[0], W_out.shape[1], n_units, W_in.shape[0])
    require_length("b_out", b_out.shape[0], n_out)
    if generated.shape[0] != n_seq or generated.shape[2] != n_out:
        raise ValueError(f"kernel argument generated has shape ({generated.shape[0]}, "
                         f"{generated.shape[1]}, {generated.shape[2]}); expected "
                         f"({n_seq}, any, {n_out})")
    check_thread_count(n_threads)
    if chunk_size < 1 or not 0 < leak <= 1:
        raise ValueError("kernel arguments chunk_size must be >= 1 and leak in (0, 1]")
    if n_seq == 0 or generated.shape[1] == 0:
        return

    _init_job(&job, W_in, b, col_ptr, row_index, values, sparse, leak, n_seq, chunk_size)
    job.initial = &start[0, 0]
    job.b_out = &b_out[0]
    job.n_out = <int> n_out
    job.n_steps = generated.shape[1]
    job.generated = &generated[0, 0, 0]
    job.work_stride = chunk_size * (n_out + 2 * n_units)
    try:
        job.packed_W_out = pack_weight(<int> n_units, <int> n_out, &W_out[0, 0],
                                       <int> n_out, False)
        _pack_and_run(&job, W_in, W, n_threads, _generate_task)
    finally:
        _free_job(&job, <floating *> NULL)


cdef void _init_job(
    ReservoirJob *job, const floating[:, ::1] W_in, const floating[::1] b,
    const int[::1] col_ptr, const int[::1] row_index, const floating[::1] values,
    bint sparse, double leak, Py_ssize_t n_seq, Py_ssize_t chunk_size,
) noexcept:
    """Zero ``job``, then set what every run reads: the dtype, the chunks,
    the reservoir's sizes, leak and bias, and W by columns if sparse."""
    memset(job, 0, sizeof(ReservoirJob))
    job.is_double = floating is double
    job.n_seq, job.chunk_size = n_seq, chunk_size
    job.n_in, job.n_units = <int> W_in.shape[0], <int> W_in.shape[1]
    job.leak = leak
    job.b = &b[0]
    if sparse:
        job.col_ptr = &col_ptr[0]
        job.row_index = &row_index[0] if row_index.shape[0] else NULL
        job.values = &values[0] if values.shape[0] else NULL


cdef int _pack_and_run(
    ReservoirJob *job, const floating[:, ::1] W_in, const floating[:, ::1] W,
    int n_threads, team_task task,
) except -1:
    """Give each worker its scratch (``job.work_stride`` values), pack W_in
    and, for the dense product, W, and run ``task`` on every chunk. The
    caller frees the job (``_free_job``), whether or not this raises."""
    cdef Py_ssize_t n_chunks = (job.n_seq + job.chunk_size - 1) // job.chunk_size
    cdef Py_ssize_t c
    cdef int n = job.n_units
    cdef int chunk_threads = <int> min(n_threads, n_chunks)
    if n_threads > n_chunks and n >= COLUMNS_FROM_UNITS:
        job.column_threads, chunk_threads = n_threads, 1
    job.work = malloc(chunk_threads * job.work_stride * sizeof(floating))
    if job.work == NULL:
        raise MemoryError("cannot allocate the reservoir's work arrays")
    job.packed_W_in = pack_weight(job.n_in, n, &W_in[0, 0], n, False)
    if job.col_ptr == NULL:
        job.packed_W = pack_weight(n, n, &W[0, 0], n, False)
    with nogil:
        if job.column_threads:
            for c in range(n_chunks):
                task(job, c, 0)
        else:
            team_run(chunk_threads, n_chunks, task, job)
    return 0


cdef int _check_weights(
    const floating[:, ::1] W_in, const floating[::1] b, const floating[:, ::1] W,
    const int[::1] col_ptr, const int[::1] row_index, const floating[::1] values,
    Py_ssize_t n_units,
) except -1:
    cdef Py_ssize_t j, k
    if n_units < 1 or W_in.shape[0] < 1:
        raise ValueError(f"kernel argument W_in has shape ({W_in.shape[0]}, {n_units})")
    require_length("b", b.shape[0], n_units)
    if W.shape[0] != 0:
        require_shape("W", W.shape[0], W.shape[1], n_units, n_units)
        return 0
    # Sparse: every stored entry must index a unit.
    require_length("col_ptr", col_ptr.shape[0], n_units + 1)
    require_length("values", values.shape[0], row_index.shape[0])
    if col_ptr[0] != 0 or col_ptr[n_units] != row_index.shape[0]:
        raise ValueError("kernel argument col_ptr does not span row_index")
    for j in range(n_units):
        if col_ptr[j + 1] < col_ptr[j]:
            raise ValueError(f"kernel argument col_ptr decreases at column {j}")
    for k in range(row_index.shape[0]):
        if row_index[k] < 0 or row_index[k] >= n_units:
            raise ValueError(f"kernel argument row_index[{k}] = {row_index[k]} is not a unit")
    return 0


cdef int _check_sequences(
    const Py_ssize_t[::1] input_start, const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] seq_row, Py_ssize_t x_rows, Py_ssize_t store_from, Py_ssize_t chunk_size, int n_threads, double leak,
) except -1:
    """Sorted lengths >= 1, rows of X in bounds, seq_row a permutation."""
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t q
    cdef char *seen
    check_thread_count(n_threads)
    require_length("input_start", input_start.shape[0], n_seq)
    require_length("seq_row", seq_row.shape[0], n_seq)
    if chunk_size < 1 or store_from < 0 or not 0 < leak <= 1:
        raise ValueError("kernel arguments chunk_size must be >= 1, store_from >= 0 "
                         "and leak in (0, 1]")
    for q in range(n_seq):
        if seq_len[q] < 1 or (q > 0 and seq_len[q] > seq_len[q - 1]):
            raise ValueError("kernel argument seq_len must hold lengths >= 1 sorted "
                             f"longest first; entry {q} is {seq_len[q]}")
        if input_start[q] < 0 or input_start[q] + seq_len[q] > x_rows:
            raise ValueError(f"kernel argument input_start makes sequence {q} read "
                             f"past the {x_rows} rows of X")
    seen = <char *> malloc(max(n_seq, 1))
    if seen == NULL:
        raise MemoryError()
    memset(seen, 0, n_seq)
    try:
        for q in range(n_seq):
            if seq_row[q] < 0 or seq_row[q] >= n_seq or seen[seq_row[q]]:
                raise ValueError("kernel argument seq_row is not a permutation")
            seen[seq_row[q]] = 1
    finally:
        free(seen)
    return 0


cdef void _free_job(ReservoirJob *job, floating *dtype) noexcept:
    if job.packed_W_in != NULL:
        free_packed(<floating *> job.packed_W_in)
    if job.packed_W != NULL:
        free_packed(<floating *> job.packed_W)
    if job.packed_W_out != NULL:
        free_packed(<floating *> job.packed_W_out)
    free(job.work)
    free(job.chunk_inputs_finite)


cdef void _run_task(void *job_, Py_ssize_t chunk, int worker) noexcept nogil:
    cdef ReservoirJob *job = <ReservoirJob *> job_
    if job.is_double:
        _run_chunk(job, chunk, worker, <double *> NULL)
    else:
        _run_chunk(job, chunk, worker, <float *> NULL)


cdef void _generate_task(void *job_, Py_ssize_t chunk, int worker) noexcept nogil:
    cdef ReservoirJob *job = <ReservoirJob *> job_
    if job.is_double:
        _generate_chunk(job, chunk, worker, <double *> NULL)
    else:
        _generate_chunk(job, chunk, worker, <float *> NULL)


cdef inline void _leaky_update(
    floating *state, floating *pre, Py_ssize_t n, floating leak, bint fresh,
) noexcept nogil:
    if floating is float:
        skrnn_leaky_update_float(state, pre, n, leak, fresh)
    else:
        skrnn_leaky_update_double(state, pre, n, leak, fresh)


cdef inline void _recurrent_product(
    const ReservoirJob *job, const floating *S, Py_ssize_t rows, floating *P,
    int j0, int j1,
) noexcept nogil:
    """P[:rows, j0:j1] += S[:rows] @ W[:, j0:j1] (j0 a multiple of the packed
    panels' width)."""
    cdef int n = job.n_units
    cdef Py_ssize_t p
    if job.packed_W != NULL:
        packed_gemm(<int> rows, j1 - j0, n, S, n,
                    <const floating *> job.packed_W + <Py_ssize_t> j0 * n, &P[j0], n, True)
        return
    for p in range(rows):
        if floating is float:
            skrnn_sparse_accumulate_float(&S[p * n], j1 - j0, &job.col_ptr[j0],
                                          job.row_index, <const float *> job.values,
                                          &P[p * n + j0])
        else:
            skrnn_sparse_accumulate_double(&S[p * n], j1 - j0, &job.col_ptr[j0],
                                           job.row_index, <const double *> job.values,
                                           &P[p * n + j0])


cdef inline void _pre_activations(
    const ReservoirJob *job, const floating *U, const floating *S, Py_ssize_t rows,
    bint has_state, floating *P, int j0, int j1,
) noexcept nogil:
    """P[:rows, j0:j1] = U[:rows] @ W_in[:, j0:j1] + b[j0:j1], plus
    S[:rows] @ W[:, j0:j1] if ``has_state`` (j0 a multiple of the packed
    panels' width)."""
    cdef int n = job.n_units, n_in = job.n_in
    packed_gemm_bias(<int> rows, j1 - j0, n_in, U, n_in,
                     <const floating *> job.packed_W_in + <Py_ssize_t> j0 * n_in,
                     <const floating *> job.b + j0, &P[j0], n)
    if has_state:
        _recurrent_product(job, S, rows, P, j0, j1)


cdef void _column_block_task(void *step_, Py_ssize_t block, int worker) noexcept nogil:
    cdef StepColumns *step = <StepColumns *> step_
    cdef int j0 = <int> block * step.block_width
    cdef int j1 = min(j0 + step.block_width, step.job.n_units)
    if step.job.is_double:
        _pre_activations(step.job, <const double *> step.U, <const double *> step.S,
                         step.rows, step.has_state, <double *> step.P, j0, j1)
    else:
        _pre_activations(step.job, <const float *> step.U, <const float *> step.S,
                         step.rows, step.has_state, <float *> step.P, j0, j1)


cdef inline void _step_pre_activations(
    const ReservoirJob *job, const floating *U, const floating *S, Py_ssize_t rows,
    bint has_state, floating *P,
) noexcept nogil:
    """P[:rows] = U[:rows] @ W_in + b (+ S[:rows] @ W): on this thread, or
    cut by columns among ``job.column_threads`` threads."""
    cdef StepColumns step
    cdef int panel = <int> (64 // sizeof(floating))
    if not job.column_threads:
        _pre_activations(job, U, S, rows, has_state, P, 0, job.n_units)
        return
    step.job, step.U, step.S, step.P = job, U, S, P
    step.rows, step.has_state = rows, has_state
    # Two blocks a thread, whole panels each.
    step.block_width = (job.n_units + 2 * job.column_threads - 1) // (2 * job.column_threads)
    step.block_width = (step.block_width + panel - 1) // panel * panel
    team_run(job.column_threads, (job.n_units + step.block_width - 1) // step.block_width,
             _column_block_task, &step)


cdef inline void _initial_states(
    const ReservoirJob *job, Py_ssize_t first, Py_ssize_t count, floating *S,
) noexcept nogil:
    """S[p] = x0 of the chunk's sequence p (first + p), if given."""
    cdef Py_ssize_t p
    cdef int n = job.n_units
    if job.initial == NULL:
        return
    for p in range(count):
        memcpy(&S[p * n], &(<const floating *> job.initial)[job.seq_row[first + p] * n],
               n * sizeof(floating))


cdef void _run_chunk(ReservoirJob *job, Py_ssize_t chunk, int worker,
                     floating *dtype) noexcept nogil:
    cdef Py_ssize_t first = chunk * job.chunk_size
    cdef Py_ssize_t count = min(job.chunk_size, job.n_seq - first)
    cdef const Py_ssize_t *lengths = &job.seq_len[first]
    cdef const Py_ssize_t *rows = &job.seq_row[first]
    cdef int n = job.n_units, n_in = job.n_in
    cdef floating leak = <floating> job.leak
    cdef floating *U = <floating *> job.work + worker * job.work_stride
    cdef floating *P = U + job.chunk_size * n_in
    cdef floating *S = P + job.chunk_size * n
    cdef floating *acc = S + job.chunk_size * n
    cdef floating *pooled = <floating *> job.pooled
    cdef floating *final = <floating *> job.final
    cdef floating *states = <floating *> job.states
    cdef bint finite = True
    cdef bint has_state = job.initial != NULL
    cdef Py_ssize_t t, p, j, running, next_running, steps
    cdef floating *row

    _initial_states(job, first, count, S)
    running = count
    t = 0
    while running > 0:
        finite &= gather_step_inputs(<const floating *> job.X, &job.input_start[first], 1,
                                     lengths, t, running, n_in, U, n_in)
        _step_pre_activations(job, U, S, running, has_state, P)
        for p in range(running):
            _leaky_update(&S[p * n], &P[p * n], n, leak, not has_state)
        has_state = True

        if t >= job.store_from:
            if states != NULL:
                for p in range(running):
                    memcpy(&states[(job.out_start[first + p] + t - job.store_from) * n],
                           &S[p * n], n * sizeof(floating))
            if job.pooling == POOL_MEAN or job.pooling == POOL_MAX:
                for p in range(running):
                    row = &acc[p * n]
                    if t == job.store_from:
                        memcpy(row, &S[p * n], n * sizeof(floating))
                    elif job.pooling == POOL_MEAN:
                        for j in range(n):
                            row[j] += S[p * n + j]
                    else:
                        for j in range(n):
                            # (A NaN state stays NaN in the maximum.)
                            if not S[p * n + j] <= row[j]:
                                row[j] = S[p * n + j]

        # The sequences that end at step t: rows next_running..running.
        next_running = n_running(lengths, running, t + 1)
        for p in range(next_running, running):
            memcpy(&final[rows[p] * n], &S[p * n], n * sizeof(floating))
            if job.pooling == POOL_LAST:
                memcpy(&pooled[rows[p] * n], &S[p * n], n * sizeof(floating))
            elif job.pooling == POOL_MAX:
                memcpy(&pooled[rows[p] * n], &acc[p * n], n * sizeof(floating))
            elif job.pooling == POOL_MEAN:
                steps = lengths[p] - job.store_from
                for j in range(n):
                    pooled[rows[p] * n + j] = acc[p * n + j] / steps
        running = next_running
        t += 1
    job.chunk_inputs_finite[chunk] = finite


cdef void _generate_chunk(ReservoirJob *job, Py_ssize_t chunk, int worker,
                          floating *dtype) noexcept nogil:
    cdef Py_ssize_t first = chunk * job.chunk_size
    cdef Py_ssize_t count = min(job.chunk_size, job.n_seq - first)
    cdef int n = job.n_units, n_out = job.n_out
    cdef floating leak = <floating> job.leak
    cdef floating *Y = <floating *> job.work + worker * job.work_stride
    cdef floating *P = Y + job.chunk_size * n_out
    cdef floating *S = P + job.chunk_size * n
    cdef floating *generated = <floating *> job.generated
    cdef Py_ssize_t k, p
    cdef Py_ssize_t n_steps = job.n_steps
    for p in range(count):
        memcpy(&S[p * n], &(<const floating *> job.initial)[(first + p) * n],
               n * sizeof(floating))
    for k in range(n_steps):
        packed_gemm_bias(<int> count, n_out, n, S, n, <const floating *> job.packed_W_out,
                         <const floating *> job.b_out, Y, n_out)
        for p in range(count):
            memcpy(&generated[((first + p) * n_steps + k) * n_out], &Y[p * n_out],
                   n_out * sizeof(floating))
        if k + 1 == n_steps:
            break
        _step_pre_activations(job, Y, S, count, True, P)
        for p in range(count):
            _leaky_update(&S[p * n], &P[p * n], n, leak, False)
