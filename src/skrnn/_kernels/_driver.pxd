# The one chunked driver of every cell kernel: the time loops of a training
# pass, a prediction pass and BPTT over one chunk, written once.
#
# A cell kernel (_elman.pyx, _lstm.pyx, _gru.pyx) contributes one function,
# ``_step_part(part, job, slab)`` (fused over the dtype), called once per part of a chunk's pass
# (before the loop, at every step, after it) with where the loop stands in
# ``Slab``; it does that part's products and element-wise work, reading its
# arrays from the ``ChunkJob``. One indirect call per step of a chunk, each
# running a step's products over every sequence of the chunk: nothing is
# called per element.
#
# What the driver owns: the chunk's extent, the running count and the rows
# of every step (the slab), the order of the steps, and in a prediction pass
# the two blocks of rows [x_t | h_{t-1}] the steps alternate between, the
# gathering (and checking) of each step's inputs, their projection ahead
# where a pass has but one or two sequences (``projects_ahead``), and the
# storing of its states. The layout of a batch and the determinism rules are
# in _chunks.pxd.

from cython cimport floating

from ._chunks cimport (
    ChunkJob, fill_initial_states, gather_step_inputs, n_running, store_step_states,
)
from ._packed cimport packed_gemm, pack_stacked_weight, pack_weight, skrnn_packed_free


cdef extern from "_gemm.h" nogil:
    Py_ssize_t skrnn_l1d_bytes()


# The parts of a pass, the ``part`` argument of a cell's step function.
cdef enum StepPart:
    # Training forward: before the time loop (the inputs' projection), then
    # each step t over the rows of ``slab`` (its previous step's at
    # ``prev_slab``).
    FORWARD_BEGIN
    FORWARD_STEP
    # Prediction: step t, from ``xh`` (row stride ``ld``: x_t beside
    # h_{t-1}) to ``states`` (h_t, same stride), using the chunk's scratch
    # before the blocks in ``work``. Where the pass projects its inputs
    # ahead, x_t is not in ``xh``: ``projected`` holds x_t @ W_ih, to be
    # continued over h_{t-1} (``packed_gemm_continue``), and the step's
    # gates are computed there.
    PREDICT_STEP
    # BPTT: before the backward time loop, each step t from the last, and
    # after it (the weight and initial-state gradients into ``grad``).
    BACKWARD_BEGIN
    BACKWARD_STEP
    BACKWARD_END


cdef struct Slab:
    # The chunk: its index, first sorted sequence, sequence count and rows.
    Py_ssize_t chunk
    Py_ssize_t first
    Py_ssize_t n_seq
    Py_ssize_t row0
    Py_ssize_t row1
    # Where the time loop stands: step t, the first row of its slab and of
    # the slab of step t - 1 (training, BPTT; ``slab`` itself at t = 0), and
    # the sequences running at t and at t + 1.
    Py_ssize_t t
    Py_ssize_t slab
    Py_ssize_t prev_slab
    Py_ssize_t running
    Py_ssize_t next_running
    # Scratch of the chunk (BPTT: a row per chunk; prediction: the worker's
    # row), its gradient buffer (BPTT), and a prediction step's rows.
    void *work
    void *grad
    void *xh
    void *states
    Py_ssize_t ld
    void *projected


# A cell's step function, one per dtype: the fused ``_step_part`` of each
# cell kernel, specialised (``dtype`` only selects the type).
ctypedef void (*float_step)(StepPart part, const ChunkJob *job, Slab *slab,
                            float *dtype) noexcept nogil
ctypedef void (*double_step)(StepPart part, const ChunkJob *job, Slab *slab,
                             double *dtype) noexcept nogil

# Packs the weights of a forward pass into ``job.packed`` (from ``job.W_ih``
# and ``job.W_hh``): for the input projections (W_ih, always packed[0])
# and the recurrent products, or, if ``stacked``, for a prediction pass's
# products over [x_t | h_{t-1}].
ctypedef int (*pack_function)(ChunkJob *job, bint stacked) except -1


cdef struct Cell:
    # What a cell kernel tells the driver: its steps, how it packs its
    # weights, and the shapes of what it reads and writes (widths in
    # multiples of the hidden size; 0 for an array the cell does not use).
    float_step step_float
    double_step step_double
    pack_function pack_forward
    int n_gates
    # Per-row arrays a training pass keeps for BPTT: the cell states C, the
    # gates' activations A, and the GRU's h W_hn + b_hn, HN.
    int c_width
    int a_width
    int hn_width
    # Whether the cell carries a cell state (c0 and its gradient), has a
    # recurrent bias apart (b_hn), and has BPTT keep delta_{t+1} at the row
    # of step t (``shifted`` of the gates' width) rather than [x_t, h_{t-1}].
    bint carries_cell_state
    bint has_recurrent_bias
    bint shifts_next_deltas
    # Scratch values per sequence of a prediction step, before the two
    # blocks of rows [x | h] (gates, cell states); and of BPTT, per sequence
    # of a chunk and shared by the chunk.
    Py_ssize_t predict_scratch
    Py_ssize_t backward_scratch
    Py_ssize_t backward_scratch_shared


# Projected ahead (``projects_ahead``): a pass of at most this many
# sequences, whose inputs of as many steps as make AHEAD_ROWS rows are
# projected in one product.
cdef enum:
    AHEAD_MAX_SEQUENCES = 2
    AHEAD_ROWS = 64


cdef inline Py_ssize_t cell_forward_work_size(
    const Cell *cell, Py_ssize_t chunk_size, Py_ssize_t hidden, Py_ssize_t n_in,
) noexcept nogil:
    """Length of each thread's row of a forward pass's ``work``: a
    prediction step's scratch, its two blocks of rows [x | h], and the rows
    of inputs projected ahead with their projections."""
    return (chunk_size * (cell.predict_scratch * hidden + 2 * (n_in + hidden))
            + AHEAD_ROWS * (n_in + cell.n_gates * hidden))


cdef inline bint projects_ahead(const ChunkJob *job) noexcept nogil:
    """Whether a prediction pass projects its inputs ahead. With one or two
    sequences, each step's product over [x_t | h_{t-1}] has one or two
    rows, so that it reads the whole of [W_ih; W_hh] for them; where that
    exceeds the L1 cache, W_ih's rows come from L2 at every step. Projected
    for many steps in one product, the inputs leave each step W_hh alone to
    read. The sums are the same either way (``packed_gemm_continue``), and
    so are the results."""
    cdef const Cell *cell = <const Cell *> job.cell
    cdef Py_ssize_t stacked_bytes = ((job.n_in + job.hidden) * cell.n_gates * job.hidden
                                     * (8 if job.is_double else 4))
    return job.n_seq <= AHEAD_MAX_SEQUENCES and stacked_bytes > skrnn_l1d_bytes()


cdef inline Py_ssize_t cell_backward_work_size(
    const Cell *cell, Py_ssize_t chunk_size, Py_ssize_t hidden,
) noexcept nogil:
    """Length of each chunk's row of BPTT's ``work``."""
    return (chunk_size * cell.backward_scratch + cell.backward_scratch_shared) * hidden


cdef inline void free_packed_weights(ChunkJob *job) noexcept nogil:
    cdef int i
    for i in range(4):
        skrnn_packed_free(<void *> job.packed[i])
        job.packed[i] = NULL


cdef inline int pack_gates_together(ChunkJob *job, bint stacked) except -1:
    """``pack_function`` of the cells whose gates all take one product of
    each weight (Elman, LSTM): W_ih for the input projections (of a whole
    chunk when training, or of many steps projected ahead; else of step 0
    from a zero h0), and W_hh for the recurrent products, stacked below
    W_ih for a prediction's products over [x_t | h_{t-1}]."""
    if job.is_double:
        _pack_gates_together(job, stacked, <double *> NULL)
    else:
        _pack_gates_together(job, stacked, <float *> NULL)
    return 0


cdef inline void _pack_gates_together(
    ChunkJob *job, bint stacked, floating *dtype,
) except *:
    cdef int n_in = job.n_in
    cdef int hidden = job.hidden
    cdef int width = (<const Cell *> job.cell).n_gates * hidden
    cdef const floating *W_ih = <const floating *> job.W_ih
    cdef const floating *W_hh = <const floating *> job.W_hh
    job.packed[0] = pack_weight(n_in, width, W_ih, width, False)
    if stacked:
        job.packed[1] = pack_stacked_weight(n_in, hidden, width, W_ih, width, W_hh, width)
    else:
        job.packed[1] = pack_weight(hidden, width, W_hh, width, False)


cdef inline const Cell *job_cell(const ChunkJob *job) noexcept nogil:
    return <const Cell *> job.cell


cdef inline void run_step(StepPart part, const ChunkJob *j, Slab *s) noexcept nogil:
    """One part of a chunk's pass, by the cell's step function of the job's
    dtype: the one indirect call per step."""
    cdef const Cell *cell = job_cell(j)
    if j.is_double:
        cell.step_double(part, j, s, NULL)
    else:
        cell.step_float(part, j, s, NULL)


cdef inline void chunk_extent(const ChunkJob *j, Py_ssize_t c, Slab *s) noexcept nogil:
    s.chunk = c
    s.first = c * j.chunk_size
    s.n_seq = min(j.chunk_size, j.n_seq - s.first)
    s.row0 = j.chunk_row_start[c]
    s.row1 = j.chunk_row_start[c + 1]


cdef inline void forward_task(void *job, Py_ssize_t c, int worker) noexcept nogil:
    """Chunk c of a forward pass (a team task): training, or prediction
    when ``job.input_start`` is set."""
    cdef const ChunkJob *j = <const ChunkJob *> job
    cdef Slab s
    chunk_extent(j, c, &s)
    if j.input_start == NULL:
        train_chunk(j, &s)
    elif j.is_double:
        j.chunk_inputs_finite[c] = predict_chunk(j, &s, worker, <double *> NULL)
    else:
        j.chunk_inputs_finite[c] = predict_chunk(j, &s, worker, <float *> NULL)


cdef inline void train_chunk(const ChunkJob *j, Slab *s) noexcept nogil:
    """A training pass's time loop: every step's rows are kept for BPTT."""
    cdef const Py_ssize_t *seq_len = &j.seq_len[s.first]
    cdef Py_ssize_t t
    s.slab = s.prev_slab = s.row0
    run_step(FORWARD_BEGIN, j, s)
    for t in range(seq_len[0]):
        s.t = t
        s.running = n_running(seq_len, s.n_seq, t)
        run_step(FORWARD_STEP, j, s)
        s.prev_slab = s.slab
        s.slab += s.running


cdef inline bint predict_chunk(
    const ChunkJob *j, Slab *s, int worker, floating *dtype,
) noexcept nogil:
    """A prediction pass's time loop, in two blocks of rows [x | h] (row
    stride n_in + H) in the worker's ``work``, after the cell's scratch.
    Step t gathers x_t into its block, next to the h_{t-1} that step t - 1
    wrote there, and the cell writes h_t into the other, so that a step's
    products read [x_t | h_{t-1}] as one operand; or, projecting ahead, the
    inputs of many steps are gathered and projected at once, after the
    blocks (``project_ahead``), and each step reads its projection.
    ``H``, if not NULL, gets the slab's states; ``final``, if not NULL, each
    sequence's last. Returns whether every input value read was finite."""
    cdef const Cell *cell = job_cell(j)
    cdef const Py_ssize_t *seq_len = &j.seq_len[s.first]
    cdef Py_ssize_t ld = j.n_in + j.hidden
    cdef Py_ssize_t width = cell.n_gates * j.hidden
    cdef Py_ssize_t t, projected_until = 0, projected_row = 0
    cdef bint inputs_finite = True
    cdef floating *work = <floating *> j.work + worker * j.work_stride
    cdef floating *blocks = work + s.n_seq * cell.predict_scratch * j.hidden
    cdef floating *ahead_inputs = blocks + 2 * s.n_seq * ld
    cdef floating *ahead = ahead_inputs + AHEAD_ROWS * j.n_in
    cdef floating *H = NULL if j.final != NULL else <floating *> j.H
    cdef floating *final = (<floating *> j.final + s.first * j.hidden
                            if j.final != NULL else NULL)
    cdef floating *xh
    cdef floating *states
    s.work, s.ld, s.projected = work, ld, NULL
    if j.has_initial_state:
        fill_initial_states(blocks, s.n_seq, ld, j.n_in,
                            <const floating *> j.h0 + s.first * j.h0_stride, j.h0_stride,
                            j.hidden)
    s.slab = s.row0
    for t in range(seq_len[0]):
        s.t = t
        s.running = n_running(seq_len, s.n_seq, t)
        s.next_running = n_running(seq_len, s.n_seq, t + 1)
        xh = &blocks[(t & 1) * s.n_seq * ld]
        states = &blocks[((t + 1) & 1) * s.n_seq * ld + j.n_in]
        if j.projects_ahead:
            if t == projected_until:
                projected_until = project_ahead(j, s, ahead_inputs, ahead, &inputs_finite)
                projected_row = 0
            s.projected = &ahead[projected_row * width]
            projected_row += s.running
        elif not gather_step_inputs(<const floating *> j.X, &j.input_start[s.first],
                                    j.input_step, seq_len, t, s.running, j.n_in, xh, ld):
            inputs_finite = False
        s.xh, s.states = xh, states
        run_step(PREDICT_STEP, j, s)
        store_step_states(states, ld, s.running, s.next_running, j.hidden,
                          &H[s.slab * j.hidden] if H != NULL else NULL, final)
        s.slab += s.running
    return inputs_finite


cdef inline Py_ssize_t project_ahead(
    const ChunkJob *j, const Slab *s, floating *inputs, floating *projected,
    bint *inputs_finite,
) noexcept nogil:
    """From step s.t on, the inputs of as many steps as make at most
    AHEAD_ROWS rows (each step's running sequences, in step order) gathered
    into ``inputs`` and checked, and their projections x @ W_ih, without
    the bias, into ``projected`` (rows of the gates' width): the first part
    of each step's sums, which the step continues over h_{t-1}. Returns the
    step after the last projected."""
    cdef const Py_ssize_t *seq_len = &j.seq_len[s.first]
    cdef int width = job_cell(j).n_gates * j.hidden
    cdef Py_ssize_t t = s.t, rows = 0, running
    while t < seq_len[0]:
        running = n_running(seq_len, s.n_seq, t)
        if rows + running > AHEAD_ROWS:
            break
        if not gather_step_inputs(<const floating *> j.X, &j.input_start[s.first],
                                  j.input_step, seq_len, t, running, j.n_in,
                                  &inputs[rows * j.n_in], j.n_in):
            inputs_finite[0] = False
        rows += running
        t += 1
    packed_gemm(<int> rows, width, j.n_in, inputs, j.n_in, <const floating *> j.packed[0],
                projected, width, False)
    return t


cdef inline void backward_task(void *job, Py_ssize_t c, int worker) noexcept nogil:
    """Chunk c of BPTT (a team task): the backward time loop, from each
    sequence's last step, into the chunk's own gradient buffer."""
    cdef const ChunkJob *j = <const ChunkJob *> job
    cdef const Py_ssize_t *seq_len
    cdef Py_ssize_t t, slab_end
    cdef Slab s
    chunk_extent(j, c, &s)
    seq_len = &j.seq_len[s.first]
    if j.is_double:
        s.work = <double *> j.work + c * j.work_stride
        s.grad = <double *> j.chunk_grad + c * j.chunk_grad_stride
    else:
        s.work = <float *> j.work + c * j.work_stride
        s.grad = <float *> j.chunk_grad + c * j.chunk_grad_stride
    run_step(BACKWARD_BEGIN, j, &s)
    slab_end = s.row1
    s.next_running = 0
    for t in range(seq_len[0] - 1, -1, -1):
        s.t = t
        s.running = n_running(seq_len, s.n_seq, t)
        s.slab = slab_end - s.running
        s.prev_slab = s.slab - n_running(seq_len, s.n_seq, t - 1) if t > 0 else s.slab
        run_step(BACKWARD_STEP, j, &s)
        s.next_running = s.running
        slab_end = s.slab
    # (s.running: every sequence of the chunk, running at step 0.)
    run_step(BACKWARD_END, j, &s)
