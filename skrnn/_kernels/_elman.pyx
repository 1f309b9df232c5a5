"""Elman RNN forward pass and backpropagation through time (BPTT).

The network, for one sequence x_0 .. x_{L-1} (rows of n_features):

    h_t = act(x_t @ W_x + h_{t-1} @ W_s + b),   h_{-1} = 0
    out = h_{L-1} @ W_y + b_y                    (many-to-one)

Layout of a mini-batch
----------------------
Python sorts the batch's sequences by length, longest first, and cuts them
into chunks of ``chunk_size`` consecutive sequences. The chunks are the unit of
parallel work: one thread runs the whole time loop of a chunk. Each chunk owns
a contiguous block of rows in the work arrays (``X``, ``H``, ``D``,
``D_next``), ordered by time step, then by sequence: the "slab" of step t holds
one row per sequence of the chunk still running at t. Because the sequences
are sorted, the running ones are always a prefix of the chunk, so every
per-step product is one GEMM over a contiguous block and no work is spent on
padding.

Determinism
-----------
The chunking depends on the batch only, never on the thread count, and each
chunk writes its own slice of every output and its own gradient buffer, which
are then summed in chunk order. BLAS runs single-threaded inside (the caller
holds a threadpoolctl limit). So the result is bitwise the same for any
number of threads.

Kernels never validate: the caller (``skrnn._network``) checks shapes,
dtypes and contiguity and allocates every array.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from ._blas cimport gemm

cdef extern from "_tanh.h":
    void skrnn_tanh_inplace(double *a, Py_ssize_t n) noexcept nogil
    void skrnn_tanhf_inplace(float *a, Py_ssize_t n) noexcept nogil


# Activation codes, shared with Python through ``ACTIVATIONS``.
cdef enum:
    TANH = 0
    RELU = 1

ACTIVATIONS = {"tanh": TANH, "relu": RELU}


cdef inline void _activate(floating *a, Py_ssize_t n, int activation) noexcept nogil:
    """a = act(a), in place, over n contiguous values."""
    cdef Py_ssize_t i
    if activation == RELU:
        for i in range(n):
            a[i] = a[i] if a[i] > 0 else 0
    elif floating is float:
        skrnn_tanhf_inplace(a, n)
    else:
        skrnn_tanh_inplace(a, n)


cdef inline floating _activation_grad(floating h, int activation) noexcept nogil:
    # Both derivatives are functions of the activation's output h, so the
    # pre-activations never need to be stored.
    if activation == RELU:
        return 1 if h > 0 else 0
    return 1 - h * h


cdef inline Py_ssize_t _n_running(
    const Py_ssize_t *lengths, Py_ssize_t n_seq, Py_ssize_t t,
) noexcept nogil:
    """Sequences (of a chunk sorted longest first) still running at step t."""
    cdef Py_ssize_t n = 0
    while n < n_seq and lengths[n] > t:
        n += 1
    return n


def elman_forward(
    const floating[:, ::1] data,
    const Py_ssize_t[::1] seq_start,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_x,
    const floating[:, ::1] W_s,
    const floating[::1] b,
    const floating[:, ::1] W_y,
    const floating[::1] b_y,
    int activation,
    floating[:, ::1] X,
    floating[:, ::1] H,
    floating[:, ::1] H_last,
    floating[:, ::1] out,
    int n_threads,
):
    """Forward pass over a sorted, chunked mini-batch.

    Parameters
    ----------
    data : (n_rows_data, n_features) array
        All steps of all sequences, one sequence after the other.
    seq_start, seq_len : (n_seq,) arrays
        Row in ``data`` of each batch sequence's first step, and its length;
        sorted by length, longest first.
    chunk_row_start : (n_chunks + 1,) array
        First work-array row of each chunk (cumulative sum of chunk lengths).
    chunk_size : int
        Sequences per chunk (the last chunk may hold fewer).
    W_x, W_s, b, W_y, b_y : arrays
        Parameters (views into the flat parameter vector).
    activation : int
        A value of ``ACTIVATIONS``.
    X : (n_rows, n_features) array, written
        The batch's inputs in chunk/time/sequence order.
    H : (n_rows, hidden_size) array, written
        Hidden state of every running sequence at every step.
    H_last : (n_seq, hidden_size) array, written
        Final hidden state of each sequence.
    out : (n_seq, n_outputs) array, written
        Raw network output (before the loss's link function).
    n_threads : int
        OpenMP threads.
    """
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef Py_ssize_t c, first
    for c in prange(n_chunks, nogil=True, schedule="dynamic", num_threads=n_threads):
        first = c * chunk_size
        _forward_chunk(
            &data[0, 0], &seq_start[first], &seq_len[first],
            min(chunk_size, n_seq - first), chunk_row_start[c],
            data.shape[1], W_s.shape[0], W_y.shape[1],
            &W_x[0, 0], &W_s[0, 0], &b[0], &W_y[0, 0], &b_y[0], activation,
            &X[0, 0], &H[0, 0], &H_last[first, 0], &out[first, 0],
        )


cdef void _forward_chunk(
    const floating *data,
    const Py_ssize_t *seq_start,
    const Py_ssize_t *seq_len,
    Py_ssize_t n_seq,
    Py_ssize_t row0,
    int n_features,
    int hidden,
    int n_outputs,
    const floating *W_x,
    const floating *W_s,
    const floating *b,
    const floating *W_y,
    const floating *b_y,
    int activation,
    floating *X,
    floating *H,
    floating *H_last,
    floating *out,
) noexcept nogil:
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef Py_ssize_t t, p, row, n_rows, slab, prev_slab
    cdef Py_ssize_t running

    # Gather the chunk's inputs into its rows, slab by slab.
    row = row0
    for t in range(n_steps):
        running = _n_running(seq_len, n_seq, t)
        for p in range(running):
            memcpy(&X[row * n_features], &data[(seq_start[p] + t) * n_features],
                   n_features * sizeof(floating))
            row += 1
    n_rows = row - row0

    # Input projection of every step at once: H = X @ W_x + b.
    for row in range(row0, row0 + n_rows):
        memcpy(&H[row * hidden], b, hidden * sizeof(floating))
    gemm(False, False, <int> n_rows, hidden, n_features,
         <floating> 1, &X[row0 * n_features], n_features, W_x, hidden,
         <floating> 1, &H[row0 * hidden], hidden)

    # The recurrence: only h_{t-1} @ W_s is sequential.
    slab = row0
    prev_slab = row0
    for t in range(n_steps):
        running = _n_running(seq_len, n_seq, t)
        if t > 0:
            gemm(False, False, <int> running, hidden, hidden,
                 <floating> 1, &H[prev_slab * hidden], hidden, W_s, hidden,
                 <floating> 1, &H[slab * hidden], hidden)
        _activate(&H[slab * hidden], running * hidden, activation)
        # Sequences whose last step is t: keep their final state.
        p = running - 1
        while p >= 0 and seq_len[p] == t + 1:
            memcpy(&H_last[p * hidden], &H[(slab + p) * hidden],
                   hidden * sizeof(floating))
            p -= 1
        prev_slab = slab
        slab += running

    # Output layer: out = H_last @ W_y + b_y.
    for p in range(n_seq):
        memcpy(&out[p * n_outputs], b_y, n_outputs * sizeof(floating))
    gemm(False, False, <int> n_seq, n_outputs, hidden,
         <floating> 1, H_last, hidden, W_y, n_outputs,
         <floating> 1, out, n_outputs)


def elman_backward(
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    const floating[:, ::1] W_s,
    const floating[:, ::1] W_y,
    int activation,
    const floating[:, ::1] X,
    const floating[:, ::1] H,
    const floating[:, ::1] H_last,
    const floating[:, ::1] d_out,
    floating[:, ::1] G,
    floating[:, ::1] D,
    floating[:, ::1] D_next,
    const Py_ssize_t[::1] param_offset,
    floating[:, ::1] chunk_grad,
    floating[::1] grad,
    int n_threads,
):
    """BPTT over a mini-batch after ``elman_forward``; writes the gradient.

    Parameters
    ----------
    seq_len, chunk_row_start, chunk_size, activation :
        As given to ``elman_forward``.
    W_s, W_y : arrays
        Recurrent and output weights.
    X, H, H_last : arrays
        As written by ``elman_forward``.
    d_out : (n_seq, n_outputs) array
        Gradient of the loss with respect to ``out``.
    G : (n_seq, hidden_size) array, work
        Gradient of the loss with respect to each running sequence's h_t.
    D : (n_rows, hidden_size) array, work
        Gradient with respect to the pre-activation at every row (delta_t).
    D_next : (n_rows, hidden_size) array, work
        delta_{t+1} of the same sequence at the row of step t (zero at each
        sequence's last step), so that dW_s is one GEMM: H^T @ D_next.
    param_offset : (5,) array
        Offsets of W_x, W_s, b, W_y, b_y in the flat parameter vector.
    chunk_grad : (n_chunks, n_params) array, work
        One gradient per chunk.
    grad : (n_params,) array, written
        The gradient, summed over chunks in chunk order.
    n_threads : int
        OpenMP threads.
    """
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef Py_ssize_t n_params = grad.shape[0]
    cdef Py_ssize_t c, first, i
    cdef floating total

    for c in prange(n_chunks, nogil=True, schedule="dynamic", num_threads=n_threads):
        first = c * chunk_size
        _backward_chunk(
            &seq_len[first], min(chunk_size, n_seq - first),
            chunk_row_start[c], chunk_row_start[c + 1],
            X.shape[1], W_s.shape[0], W_y.shape[1],
            &W_s[0, 0], &W_y[0, 0], activation,
            &X[0, 0], &H[0, 0], &H_last[first, 0], &d_out[first, 0],
            &G[first, 0], &D[0, 0], &D_next[0, 0],
            &param_offset[0], &chunk_grad[c, 0],
        )

    # Sum the chunks' gradients in chunk order: the same sum for any threads.
    for i in prange(n_params, nogil=True, schedule="static", num_threads=n_threads):
        total = 0
        for c in range(n_chunks):
            total = total + chunk_grad[c, i]
        grad[i] = total


cdef void _backward_chunk(
    const Py_ssize_t *seq_len,
    Py_ssize_t n_seq,
    Py_ssize_t row0,
    Py_ssize_t row1,
    int n_features,
    int hidden,
    int n_outputs,
    const floating *W_s,
    const floating *W_y,
    int activation,
    const floating *X,
    const floating *H,
    const floating *H_last,
    const floating *d_out,
    floating *G,
    floating *D,
    floating *D_next,
    const Py_ssize_t *param_offset,
    floating *grad,
) noexcept nogil:
    cdef Py_ssize_t n_steps = seq_len[0]
    cdef Py_ssize_t n_rows = row1 - row0
    cdef Py_ssize_t t, p, k, slab, slab_end, prev_running
    cdef Py_ssize_t running = 0, running_next = 0
    cdef floating *g_W_x = grad + param_offset[0]
    cdef floating *g_W_s = grad + param_offset[1]
    cdef floating *g_b = grad + param_offset[2]
    cdef floating *g_W_y = grad + param_offset[3]
    cdef floating *g_b_y = grad + param_offset[4]

    # Output layer: dW_y = H_last^T @ d_out, db_y = sum(d_out), and the
    # gradient reaching each sequence's final state, dH_last = d_out @ W_y^T.
    gemm(True, False, hidden, n_outputs, <int> n_seq,
         <floating> 1, H_last, hidden, d_out, n_outputs,
         <floating> 0, g_W_y, n_outputs)
    _column_sums(d_out, n_seq, n_outputs, g_b_y)
    gemm(False, True, <int> n_seq, hidden, n_outputs,
         <floating> 1, d_out, n_outputs, W_y, n_outputs,
         <floating> 0, G, hidden)

    # Walk back in time. Rows of G belonging to sequences not yet started
    # (counting backwards) still hold dH_last, which is exactly their
    # gradient at their last step.
    slab_end = row1
    for t in range(n_steps - 1, -1, -1):
        running = _n_running(seq_len, n_seq, t)
        slab = slab_end - running
        for p in range(running):
            for k in range(hidden):
                D[(slab + p) * hidden + k] = (
                    G[p * hidden + k]
                    * _activation_grad(H[(slab + p) * hidden + k], activation)
                )
        # Sequences ending at t have no delta_{t+1}.
        if running > running_next:
            memset(&D_next[(slab + running_next) * hidden], 0,
                   (running - running_next) * hidden * sizeof(floating))
        if t > 0:
            prev_running = _n_running(seq_len, n_seq, t - 1)
            memcpy(&D_next[(slab - prev_running) * hidden], &D[slab * hidden],
                   running * hidden * sizeof(floating))
            # dL/dh_{t-1} = delta_t @ W_s^T
            gemm(False, True, <int> running, hidden, hidden,
                 <floating> 1, &D[slab * hidden], hidden, W_s, hidden,
                 <floating> 0, G, hidden)
        running_next = running
        slab_end = slab

    # Weight gradients, each one GEMM over all the chunk's rows.
    gemm(True, False, n_features, hidden, <int> n_rows,
         <floating> 1, &X[row0 * n_features], n_features, &D[row0 * hidden], hidden,
         <floating> 0, g_W_x, hidden)
    gemm(True, False, hidden, hidden, <int> n_rows,
         <floating> 1, &H[row0 * hidden], hidden, &D_next[row0 * hidden], hidden,
         <floating> 0, g_W_s, hidden)
    _column_sums(&D[row0 * hidden], n_rows, hidden, g_b)


cdef void _column_sums(
    const floating *a, Py_ssize_t n_rows, Py_ssize_t n_cols, floating *sums,
) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(n_cols):
        sums[j] = 0
    for i in range(n_rows):
        for j in range(n_cols):
            sums[j] += a[i * n_cols + j]
