"""The entry points of every cell kernel: one layer and direction's forward
pass and BPTT.

A pass's arrays arrive as the attributes of one object
(``skrnn._network.LayerPass``), named as the ``ChunkJob`` fields they fill,
arrays a cell does not use being empty; the cell as the ``CELL`` capsule of
its kernel module (``_elman``, ``_lstm``, ``_gru``), whose ``Cell`` says how
it packs its weights and the shapes of what it reads and writes. The entry
points assert the shapes they will index by (``_boundary.pxd``), pack the
weights once for every chunk, and run the chunks on the team through the
driver (``_driver.pxd``).

Kernels never validate user input: the caller checks dtypes and contiguity
and allocates every array.
"""

from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating
from libc.string cimport memset

from ._boundary cimport (
    check_backward_pass, check_forward_pass, require_length, require_shape,
)
from ._chunks cimport (
    ChunkJob, const_row_pointer, init_job, row_pointer, run_chunks, sum_chunk_gradients,
)
from ._driver cimport (
    Cell, backward_task, cell_backward_work_size, cell_forward_work_size, forward_task,
    free_packed_weights, projects_ahead,
)
from ._packed cimport pack_weight


cdef const Cell *_cell_of(cell) except NULL:
    return <const Cell *> PyCapsule_GetPointer(cell, b"skrnn.Cell")


def kept_arrays(cell):
    """The per-row arrays a training pass of ``cell`` keeps for BPTT, each
    as (name, columns in multiples of the hidden size), from its ``Cell``."""
    cdef const Cell *c = _cell_of(cell)
    return tuple((name, width) for name, width in
                 (("C", c.c_width), ("A", c.a_width), ("HN", c.hn_width)) if width)


def shifts_next_deltas(cell):
    """Whether BPTT of ``cell`` keeps delta_{t+1} at the row of step t (a
    ``shifted`` array of the gates' width) rather than [x_t, h_{t-1}]."""
    return bool(_cell_of(cell).shifts_next_deltas)


def predicts_ahead(cell, Py_ssize_t n_sequences, int n_in, int hidden, bint is_double):
    """Whether ``forward`` predicting ``n_sequences`` sequences projects the
    inputs ahead on this CPU (``projects_ahead``, _driver.pxd), for tests:
    the results are the same either way."""
    cdef ChunkJob job
    memset(&job, 0, sizeof(ChunkJob))
    job.cell = _cell_of(cell)
    job.n_seq, job.n_in, job.hidden, job.is_double = n_sequences, n_in, hidden, is_double
    return bool(projects_ahead(&job))


def forward_work_size(cell, Py_ssize_t chunk_size, Py_ssize_t hidden, Py_ssize_t n_in):
    """Length of each thread's row of ``work`` in ``forward``."""
    return cell_forward_work_size(_cell_of(cell), chunk_size, hidden, n_in)


def backward_work_size(cell, Py_ssize_t chunk_size, Py_ssize_t hidden):
    """Length of each chunk's row of ``work`` in ``backward``."""
    return cell_backward_work_size(_cell_of(cell), chunk_size, hidden)


def forward(cell, p, int n_threads):
    """The forward pass of one layer and direction over a sorted, chunked
    mini-batch.

    Parameters
    ----------
    cell : capsule
        A cell kernel's ``CELL``.
    p : LayerPass
        The pass's arrays (``skrnn._network.LayerPass``): it writes ``H``
        (or, for the last layer of a prediction pass, ``final``) and, when
        training, the per-row arrays BPTT reads.
    n_threads : int
        Threads of the team (_team.pxd) that runs the chunks.

    Returns
    -------
    inputs_finite : bool
        Whether every input value of a prediction pass was finite (the
        check of X that prediction makes where it reads each row anyway);
        True for a training pass, which does not check.
    """
    cdef const Cell *c = _cell_of(cell)
    if p.W_hh.dtype.itemsize == 8:
        return bool(_forward_pass(c, p, n_threads, <double *> NULL))
    return bool(_forward_pass(c, p, n_threads, <float *> NULL))


cdef int _forward_pass(
    const Cell *cell, object p, int n_threads, floating *dtype,
) except -1:
    cdef const floating[:, ::1] X = p.X
    cdef const Py_ssize_t[::1] input_start = p.input_start
    cdef const Py_ssize_t[::1] seq_len = p.seq_len
    cdef const Py_ssize_t[::1] chunk_row_start = p.chunk_row_start
    cdef Py_ssize_t chunk_size = p.chunk_size
    cdef const floating[:, ::1] W_ih = p.W_ih
    cdef const floating[:, ::1] W_hh = p.W_hh
    cdef const floating[::1] b = p.b
    cdef const floating[::1] b_hn = p.b_hn
    cdef const floating[:, ::1] h0 = p.h0
    cdef const floating[:, ::1] c0 = p.c0
    cdef floating[:, ::1] H = p.H
    cdef floating[:, ::1] final = p.final
    cdef floating[:, ::1] C = p.C
    cdef floating[:, ::1] A = p.A
    cdef floating[:, ::1] HN = p.HN
    cdef floating[:, ::1] work = p.work
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef bint predicting = input_start.shape[0] > 0
    cdef int hidden = W_hh.shape[0]
    cdef int n_in = W_ih.shape[0]
    cdef int inputs_finite
    cdef ChunkJob job
    cdef Py_ssize_t n_rows = check_forward_pass(
        seq_len, chunk_row_start, chunk_size, input_start, p.input_step,
        X.shape[0], X.shape[1], cell.n_gates, W_ih.shape[0], W_ih.shape[1],
        W_hh.shape[0], W_hh.shape[1], b.shape[0], h0.shape[0], h0.shape[1], H.shape[0],
        H.shape[1], final.shape[0], final.shape[1], work.shape[0], work.shape[1],
        cell_forward_work_size(cell, chunk_size, hidden, n_in), n_threads)
    if cell.has_recurrent_bias:
        require_length("b_hn", b_hn.shape[0], hidden)
    if cell.carries_cell_state:
        require_shape("c0", c0.shape[0], c0.shape[1], h0.shape[0], hidden)
    if not predicting:
        _require_kept(cell, C, A, HN, n_rows, hidden)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.cell = cell
    job.W_ih, job.W_hh, job.b = &W_ih[0, 0], &W_hh[0, 0], &b[0]
    job.b_hn = &b_hn[0] if b_hn.shape[0] > 0 else NULL
    job.h0, job.c0 = &h0[0, 0], const_row_pointer(c0)
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state, job.activation = p.has_initial_state, p.activation
    job.H, job.final = row_pointer(H), row_pointer(final)
    job.C, job.A, job.HN = row_pointer(C), row_pointer(A), row_pointer(HN)
    if predicting:
        job.input_start, job.input_step = &input_start[0], p.input_step
        job.work, job.work_stride = &work[0, 0], work.shape[1]
        job.projects_ahead = projects_ahead(&job)
    try:
        cell.pack_forward(&job, predicting and not job.projects_ahead)
        inputs_finite = run_chunks(&job, forward_task, n_chunks, n_threads)
    finally:
        free_packed_weights(&job)
    return inputs_finite


cdef int _require_kept(
    const Cell *cell, const floating[:, ::1] C, const floating[:, ::1] A,
    const floating[:, ::1] HN, Py_ssize_t n_rows, int hidden,
) except -1:
    """Assert the per-row arrays a training pass keeps for BPTT."""
    if cell.c_width:
        require_shape("C", C.shape[0], C.shape[1], n_rows, cell.c_width * hidden)
    if cell.a_width:
        require_shape("A", A.shape[0], A.shape[1], n_rows, cell.a_width * hidden)
    if cell.hn_width:
        require_shape("HN", HN.shape[0], HN.shape[1], n_rows, cell.hn_width * hidden)
    return 0


def backward(cell, p, int n_threads):
    """BPTT of one layer and direction after ``forward``.

    Writes the layer's gradient ``p.grad`` in its local layout [W_ih, W_hh,
    b, (b_hn), (h0), (c0)], summed over the chunks in chunk order, and
    ``p.dX`` and ``p.d_initial`` (and ``p.d_initial_cell``) where they have
    rows. Arguments as for ``forward``.
    """
    cdef const Cell *c = _cell_of(cell)
    if p.W_hh.dtype.itemsize == 8:
        _backward_pass(c, p, n_threads, <double *> NULL)
    else:
        _backward_pass(c, p, n_threads, <float *> NULL)


cdef int _backward_pass(
    const Cell *cell, object p, int n_threads, floating *dtype,
) except -1:
    cdef const floating[:, ::1] X = p.X
    cdef const Py_ssize_t[::1] seq_len = p.seq_len
    cdef const Py_ssize_t[::1] chunk_row_start = p.chunk_row_start
    cdef Py_ssize_t chunk_size = p.chunk_size
    cdef const floating[:, ::1] W_ih = p.W_ih
    cdef const floating[:, ::1] W_hh = p.W_hh
    cdef const floating[:, ::1] h0 = p.h0
    cdef const floating[:, ::1] c0 = p.c0
    cdef const floating[:, ::1] H = p.H
    cdef const floating[:, ::1] C = p.C
    cdef const floating[:, ::1] A = p.A
    cdef const floating[:, ::1] HN = p.HN
    cdef const floating[:, ::1] dH = p.dH
    cdef floating[:, ::1] D = p.D
    cdef floating[:, ::1] shifted = p.shifted
    cdef floating[:, ::1] dX = p.dX
    cdef floating[:, ::1] d_initial = p.d_initial
    cdef floating[:, ::1] d_initial_cell = p.d_initial_cell
    cdef floating[:, ::1] work = p.work
    cdef floating[:, ::1] chunk_grad = p.chunk_grad
    cdef floating[::1] grad = p.grad
    cdef bint has_initial_state = p.has_initial_state
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef int hidden = W_hh.shape[0]
    cdef int width = W_hh.shape[1]
    cdef ChunkJob job
    cdef Py_ssize_t n_extra = (
        (hidden if cell.has_recurrent_bias else 0)
        + (hidden if cell.carries_cell_state and has_initial_state else 0))
    cdef Py_ssize_t n_rows = check_backward_pass(
        seq_len, chunk_row_start, chunk_size, X.shape[0], X.shape[1], cell.n_gates,
        W_ih.shape[0], W_ih.shape[1], W_hh.shape[0], W_hh.shape[1], h0.shape[0],
        h0.shape[1], has_initial_state, p.given_initial_state, n_extra,
        d_initial.shape[0], d_initial.shape[1], H.shape[0], H.shape[1], dH.shape[0],
        dH.shape[1], D.shape[0], D.shape[1], dX.shape[0], dX.shape[1], work.shape[0],
        work.shape[1], cell_backward_work_size(cell, chunk_size, hidden), chunk_grad.shape[0],
        chunk_grad.shape[1], grad.shape[0], n_threads)
    if cell.carries_cell_state:
        require_shape("c0", c0.shape[0], c0.shape[1], h0.shape[0], hidden)
        require_shape("d_initial_cell", d_initial_cell.shape[0], d_initial_cell.shape[1],
                      d_initial.shape[0], hidden)
    _require_kept(cell, C, A, HN, n_rows, hidden)
    require_shape("shifted", shifted.shape[0], shifted.shape[1], n_rows,
                  width if cell.shifts_next_deltas else X.shape[1] + hidden)
    init_job(&job, X, seq_len, chunk_row_start, chunk_size, hidden)
    job.cell = cell
    job.W_ih, job.W_hh, job.h0 = &W_ih[0, 0], &W_hh[0, 0], &h0[0, 0]
    job.c0 = const_row_pointer(c0)
    job.h0_stride = hidden if h0.shape[0] > 1 else 0
    job.has_initial_state, job.given_initial_state = has_initial_state, p.given_initial_state
    job.activation = p.activation
    job.d_initial, job.d_initial_cell = row_pointer(d_initial), row_pointer(d_initial_cell)
    # (BPTT only reads H, C, A and HN.)
    job.H, job.C = <void *> const_row_pointer(H), <void *> const_row_pointer(C)
    job.A, job.HN = <void *> const_row_pointer(A), <void *> const_row_pointer(HN)
    job.dH = const_row_pointer(dH)
    job.D, job.shifted, job.dX = row_pointer(D), row_pointer(shifted), row_pointer(dX)
    job.work, job.work_stride = row_pointer(work), work.shape[1]
    job.chunk_grad, job.chunk_grad_stride = row_pointer(chunk_grad), chunk_grad.shape[1]
    try:
        # The recurrent weight transposed, packed once for every step of
        # every chunk.
        job.packed[0] = pack_weight(width, hidden, &W_hh[0, 0], width, True)
        run_chunks(&job, backward_task, n_chunks, n_threads)
    finally:
        free_packed_weights(&job)
    sum_chunk_gradients(chunk_grad, grad)
    return 0


