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

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating
from libc.string cimport memset

from ._arrays cimport Matrix, is_float64, read_array, typenum_of
from ._boundary cimport (
    check_backward_pass, check_forward_pass, require_length, require_shape,
)
from ._chunks cimport (
    ChunkJob, column_sums, init_job, run_chunks, sum_chunk_gradients,
)
from ._driver cimport (
    Cell, backward_task, cell_backward_work_size, cell_forward_work_size, forward_task,
    free_packed_weights, projects_ahead,
)
from ._packed cimport pack_weight

cnp.import_array()


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


def summed_rows(a, out):
    """out = the sum of a's rows, added in row order (``column_sums`` of
    _chunks.pxd: the bias gradients over a chunk's rows, and a layer's
    gradient over the chunks' buffers), for tests."""
    if is_float64(a):
        _summed_rows(a, out, <double *> NULL)
    else:
        _summed_rows(a, out, <float *> NULL)


cdef int _summed_rows(object a, object out, floating *dtype) except -1:
    cdef Matrix rows, sums
    read_array(a, "a", 2, typenum_of(dtype), False, &rows)
    read_array(out, "out", 1, typenum_of(dtype), True, &sums)
    if sums.rows != rows.cols:
        raise ValueError(f"out has {sums.rows} entries; the rows of a have {rows.cols}")
    column_sums(<const floating *> rows.data, rows.rows, rows.cols, rows.cols,
                <floating *> sums.data)
    return 0


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
    if is_float64(p.W_hh):
        return bool(_forward_pass(c, p, n_threads, <double *> NULL))
    return bool(_forward_pass(c, p, n_threads, <float *> NULL))


cdef int _forward_pass(
    const Cell *cell, object p, int n_threads, floating *dtype,
) except -1:
    # (``p`` holds every array for the call.)
    cdef int t = typenum_of(dtype)
    cdef const Py_ssize_t[::1] input_start = p.input_start
    cdef const Py_ssize_t[::1] seq_len = p.seq_len
    cdef const Py_ssize_t[::1] chunk_row_start = p.chunk_row_start
    cdef Py_ssize_t chunk_size = p.chunk_size
    cdef Matrix X, W_ih, W_hh, b, b_hn, h0, c0, H, final, C, A, HN, work
    read_array(p.X, "X", 2, t, False, &X)
    read_array(p.W_ih, "W_ih", 2, t, False, &W_ih)
    read_array(p.W_hh, "W_hh", 2, t, False, &W_hh)
    read_array(p.b, "b", 1, t, False, &b)
    read_array(p.b_hn, "b_hn", 1, t, False, &b_hn)
    read_array(p.h0, "h0", 2, t, False, &h0)
    read_array(p.c0, "c0", 2, t, False, &c0)
    read_array(p.H, "H", 2, t, True, &H)
    read_array(p.final, "final", 2, t, True, &final)
    read_array(p.C, "C", 2, t, True, &C)
    read_array(p.A, "A", 2, t, True, &A)
    read_array(p.HN, "HN", 2, t, True, &HN)
    read_array(p.work, "work", 2, t, True, &work)
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef bint predicting = input_start.shape[0] > 0
    cdef int hidden = <int> W_hh.rows
    cdef int n_in = <int> W_ih.rows
    cdef int inputs_finite
    cdef ChunkJob job
    cdef Py_ssize_t n_rows = check_forward_pass(
        seq_len, chunk_row_start, chunk_size, input_start, p.input_step,
        X.rows, X.cols, cell.n_gates, W_ih.rows, W_ih.cols, W_hh.rows, W_hh.cols,
        b.rows, h0.rows, h0.cols, H.rows, H.cols, final.rows, final.cols, work.rows,
        work.cols, cell_forward_work_size(cell, chunk_size, hidden, n_in), n_threads)
    if cell.has_recurrent_bias:
        require_length("b_hn", b_hn.rows, hidden)
    if cell.carries_cell_state:
        require_shape("c0", c0.rows, c0.cols, h0.rows, hidden)
    if not predicting:
        _require_kept(cell, &C, &A, &HN, n_rows, hidden)
    init_job(&job, floating is double, X.data, <int> X.cols, seq_len, chunk_row_start,
             chunk_size, hidden)
    job.cell = cell
    job.W_ih, job.W_hh, job.b, job.b_hn = W_ih.data, W_hh.data, b.data, b_hn.data
    job.h0, job.c0 = h0.data, c0.data
    job.h0_stride = hidden if h0.rows > 1 else 0
    job.has_initial_state, job.activation = p.has_initial_state, p.activation
    job.H, job.final = H.data, final.data
    job.C, job.A, job.HN = C.data, A.data, HN.data
    if predicting:
        job.input_start, job.input_step = &input_start[0], p.input_step
        job.work, job.work_stride = work.data, work.cols
        job.projects_ahead = projects_ahead(&job)
    try:
        cell.pack_forward(&job, predicting and not job.projects_ahead)
        inputs_finite = run_chunks(&job, forward_task, n_chunks, n_threads)
    finally:
        free_packed_weights(&job)
    return inputs_finite


cdef int _require_kept(
    const Cell *cell, const Matrix *C, const Matrix *A, const Matrix *HN,
    Py_ssize_t n_rows, int hidden,
) except -1:
    """Assert the per-row arrays a training pass keeps for BPTT."""
    if cell.c_width:
        require_shape("C", C.rows, C.cols, n_rows, cell.c_width * hidden)
    if cell.a_width:
        require_shape("A", A.rows, A.cols, n_rows, cell.a_width * hidden)
    if cell.hn_width:
        require_shape("HN", HN.rows, HN.cols, n_rows, cell.hn_width * hidden)
    return 0


def backward(cell, p, int n_threads):
    """BPTT of one layer and direction after ``forward``.

    Writes the layer's gradient ``p.grad`` in its local layout [W_ih, W_hh,
    b, (b_hn), (h0), (c0)], summed over the chunks in chunk order, and
    ``p.dX`` and ``p.d_initial`` (and ``p.d_initial_cell``) where they have
    rows. Arguments as for ``forward``.
    """
    cdef const Cell *c = _cell_of(cell)
    if is_float64(p.W_hh):
        _backward_pass(c, p, n_threads, <double *> NULL)
    else:
        _backward_pass(c, p, n_threads, <float *> NULL)


cdef int _backward_pass(
    const Cell *cell, object p, int n_threads, floating *dtype,
) except -1:
    # (``p`` holds every array for the call.)
    cdef int t = typenum_of(dtype)
    cdef const Py_ssize_t[::1] seq_len = p.seq_len
    cdef const Py_ssize_t[::1] chunk_row_start = p.chunk_row_start
    cdef Py_ssize_t chunk_size = p.chunk_size
    cdef Matrix X, W_ih, W_hh, h0, c0, H, C, A, HN, dH, D, shifted, dX
    cdef Matrix d_initial, d_initial_cell, work, chunk_grad, grad
    read_array(p.X, "X", 2, t, False, &X)
    read_array(p.W_ih, "W_ih", 2, t, False, &W_ih)
    read_array(p.W_hh, "W_hh", 2, t, False, &W_hh)
    read_array(p.h0, "h0", 2, t, False, &h0)
    read_array(p.c0, "c0", 2, t, False, &c0)
    read_array(p.H, "H", 2, t, False, &H)
    read_array(p.C, "C", 2, t, False, &C)
    read_array(p.A, "A", 2, t, False, &A)
    read_array(p.HN, "HN", 2, t, False, &HN)
    read_array(p.dH, "dH", 2, t, False, &dH)
    read_array(p.D, "D", 2, t, True, &D)
    read_array(p.shifted, "shifted", 2, t, True, &shifted)
    read_array(p.dX, "dX", 2, t, True, &dX)
    read_array(p.d_initial, "d_initial", 2, t, True, &d_initial)
    read_array(p.d_initial_cell, "d_initial_cell", 2, t, True, &d_initial_cell)
    read_array(p.work, "work", 2, t, True, &work)
    read_array(p.chunk_grad, "chunk_grad", 2, t, True, &chunk_grad)
    read_array(p.grad, "grad", 1, t, True, &grad)
    cdef bint has_initial_state = p.has_initial_state
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef int hidden = <int> W_hh.rows
    cdef int width = <int> W_hh.cols
    cdef ChunkJob job
    cdef Py_ssize_t n_extra = (
        (hidden if cell.has_recurrent_bias else 0)
        + (hidden if cell.carries_cell_state and has_initial_state else 0))
    cdef Py_ssize_t n_rows = check_backward_pass(
        seq_len, chunk_row_start, chunk_size, X.rows, X.cols, cell.n_gates,
        W_ih.rows, W_ih.cols, W_hh.rows, W_hh.cols, h0.rows, h0.cols,
        has_initial_state, p.given_initial_state, n_extra, d_initial.rows,
        d_initial.cols, H.rows, H.cols, dH.rows, dH.cols, D.rows, D.cols, dX.rows,
        dX.cols, work.rows, work.cols, cell_backward_work_size(cell, chunk_size, hidden),
        chunk_grad.rows, chunk_grad.cols, grad.rows, n_threads)
    if cell.carries_cell_state:
        require_shape("c0", c0.rows, c0.cols, h0.rows, hidden)
        require_shape("d_initial_cell", d_initial_cell.rows, d_initial_cell.cols,
                      d_initial.rows, hidden)
    _require_kept(cell, &C, &A, &HN, n_rows, hidden)
    require_shape("shifted", shifted.rows, shifted.cols, n_rows,
                  width if cell.shifts_next_deltas else X.cols + hidden)
    init_job(&job, floating is double, X.data, <int> X.cols, seq_len, chunk_row_start,
             chunk_size, hidden)
    job.cell = cell
    job.W_ih, job.W_hh, job.h0, job.c0 = W_ih.data, W_hh.data, h0.data, c0.data
    job.h0_stride = hidden if h0.rows > 1 else 0
    job.has_initial_state, job.given_initial_state = has_initial_state, p.given_initial_state
    job.activation = p.activation
    job.d_initial, job.d_initial_cell = d_initial.data, d_initial_cell.data
    job.H, job.C, job.A, job.HN = H.data, C.data, A.data, HN.data  # (BPTT only reads them)
    job.dH = dH.data
    job.D, job.shifted, job.dX = D.data, shifted.data, dX.data
    job.work, job.work_stride = work.data, work.cols
    job.chunk_grad, job.chunk_grad_stride = chunk_grad.data, chunk_grad.cols
    try:
        # The recurrent weight transposed, packed once for every step of
        # every chunk.
        job.packed[0] = pack_weight(width, hidden, <const floating *> W_hh.data, width, True)
        run_chunks(&job, backward_task, n_chunks, n_threads)
    finally:
        free_packed_weights(&job)
    sum_chunk_gradients(<const floating *> chunk_grad.data, n_chunks, grad.rows,
                        <floating *> grad.data)
    return 0
