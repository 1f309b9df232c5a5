"""The output layer, its loss and their gradients in one pass over many rows.

Training runs the output layer and the loss on the rows the head read: one
per sequence, or one per step with a target at every step (the ``step``
head), where a mini-batch of 64 sequences of 64 steps has 4,096 of them.
Written as NumPy operations over all rows, the row-wise reductions of a
softmax over a handful of classes, the gathers into and out of output
order and the separate products cost as much as the recurrent layer's own
BPTT at small hidden sizes; with a row per sequence, each of a dozen
operations costs more than its arithmetic. Here each block of rows R
is one task of the kernels' team (``_team.pxd``), which computes

    Z = R @ W + b                         (the raw outputs)
    the loss of Z against the targets, and G = dLoss/dZ
    dLoss/dR = G @ W^T                    (the seed of BPTT)
    the block's share of dLoss/dW = R^T G and dLoss/db = the sum of G's rows

with the block's rows in cache. The losses are those of ``skrnn._losses``:
half the squared error, the log loss of one logistic output, and the cross
entropy of a softmax, each of a row summed over its outputs and weighted
by the row's weight (one, unless weights are given); the total is
multiplied by ``scale`` (one over what the loss averages over).

Determinism: the blocks depend on the number of rows only, and their shares
of the loss and of dLoss/dW and dLoss/db are summed in block order after
the team is done, so results are bitwise independent of the thread count.

The products are skrnn's own (``_gemm.h``), as in the cell kernels: no
BLAS runs in the team's threads.
"""

from cython cimport floating
from libc.math cimport exp, expf, log, log1p, log1pf, logf
from libc.stdlib cimport free, malloc

from ._boundary cimport check_thread_count, require_length, require_shape
from ._packed cimport free_packed, gemm, pack_weight, packed_gemm, packed_gemm_bias
from ._team cimport team_run


cdef extern from "_tanh.h":
    void skrnn_exp_nonpositive(double *a, Py_ssize_t n) noexcept nogil
    void skrnn_expf_nonpositive(float *a, Py_ssize_t n) noexcept nogil

# The losses ``output_loss`` computes (``skrnn._losses`` names its own by
# these codes).
cpdef enum OutputLoss:
    SQUARED_ERROR = 0
    BINARY_LOG_LOSS = 1
    MULTINOMIAL_LOG_LOSS = 2

# Rows per block: at least this many, so that a block's products are worth
# a task; more when the rows are so many that the blocks would exceed
# MAX_BLOCKS, which bounds the memory of the per-block gradient shares.
cdef enum:
    MIN_BLOCK_ROWS = 256
    MAX_BLOCKS = 64


cdef struct OutputJob:
    # Floating-point arrays as void *, of the type ``is_double`` says.
    bint is_double
    int loss
    double scale
    Py_ssize_t n_rows
    Py_ssize_t block_rows
    int n_in
    int n_out
    const void *rows
    const void *W
    # W packed for Z = R @ W + b, and W^T for G @ W^T (``_packed.pxd``).
    const void *packed_W
    const void *packed_W_T
    const void *b
    const void *targets
    # One weight per row, or NULL for a weight of 1 on every row.
    const void *row_weights
    void *d_rows
    # Per block: dLoss/dW (n_in * n_out values), then dLoss/db (n_out).
    void *block_grads
    double *block_losses
    # Per worker: a block's raw outputs, then their gradient, in place; then
    # two values per row of the block for the softmax (``_softmax_rows``).
    void *scratch
    Py_ssize_t scratch_per_worker


cdef Py_ssize_t _block_rows(Py_ssize_t n_rows) noexcept nogil:
    return max(MIN_BLOCK_ROWS, (n_rows + MAX_BLOCKS - 1) // MAX_BLOCKS)


def output_loss(
    const floating[:, ::1] rows,
    const floating[:, ::1] W,
    const floating[::1] b,
    const floating[:, ::1] targets,
    const floating[::1] row_weights,
    int loss,
    double scale,
    floating[:, ::1] d_rows,
    floating[:, ::1] g_W,
    floating[::1] g_b,
    int n_threads,
):
    """The loss of ``rows @ W + b`` against ``targets``, and its gradients.

    Parameters
    ----------
    rows : (n_rows, n_in) array
        What the output layer reads.
    W : (n_in, n_out) array
    b : (n_out,) array
    targets : (n_rows, n_out) array
        One-hot rows for the multinomial loss, one 0/1 column for the
        binary one.
    row_weights : (n_rows,) or (0,) array
        Each row's weight in the loss; empty for a weight of 1 on every row.
    loss : {SQUARED_ERROR, BINARY_LOG_LOSS, MULTINOMIAL_LOG_LOSS}
    scale : float
        Multiplies the summed loss and every gradient.
    d_rows : (n_rows, n_in) array, written
        dLoss/d(rows).
    g_W : (n_in, n_out) array, written
    g_b : (n_out,) array, written
    n_threads : int
        Threads of the team that runs the blocks.

    Returns
    -------
    loss : float
        ``scale`` times the sum of every row's loss (times its weight).
    """
    cdef Py_ssize_t n_rows = rows.shape[0]
    cdef int n_in = <int> rows.shape[1]
    cdef int n_out = <int> W.shape[1]
    cdef OutputJob job
    cdef Py_ssize_t n_blocks, block, i, share
    cdef floating *grads
    cdef double total = 0
    require_shape("W", W.shape[0], W.shape[1], n_in, -1)
    require_length("b", b.shape[0], n_out)
    require_shape("targets", targets.shape[0], targets.shape[1], n_rows, n_out)
    if row_weights.shape[0] != 0:
        require_length("row_weights", row_weights.shape[0], n_rows)
    require_shape("d_rows", d_rows.shape[0], d_rows.shape[1], n_rows, n_in)
    require_shape("g_W", g_W.shape[0], g_W.shape[1], n_in, n_out)
    require_length("g_b", g_b.shape[0], n_out)
    check_thread_count(n_threads)
    if loss not in (SQUARED_ERROR, BINARY_LOG_LOSS, MULTINOMIAL_LOG_LOSS):
        raise ValueError(f"kernel argument loss is {loss}; it must be a loss code")
    if loss == BINARY_LOG_LOSS and n_out != 1:
        raise ValueError(f"the binary log loss takes one output, not {n_out}")
    g_W[...] = 0
    g_b[...] = 0
    if n_rows == 0 or n_out == 0:
        d_rows[...] = 0
        return 0.0

    job.is_double = floating is double
    job.loss, job.scale = loss, scale
    job.n_rows, job.block_rows = n_rows, _block_rows(n_rows)
    job.n_in, job.n_out = n_in, n_out
    job.rows, job.W, job.b = &rows[0, 0], &W[0, 0], &b[0]
    job.targets, job.d_rows = &targets[0, 0], &d_rows[0, 0]
    job.row_weights = &row_weights[0] if row_weights.shape[0] != 0 else NULL
    n_blocks = (n_rows + job.block_rows - 1) // job.block_rows
    share = (n_in + 1) * n_out
    job.block_grads = malloc(n_blocks * share * sizeof(floating))
    job.block_losses = <double *> malloc(n_blocks * sizeof(double))
    job.scratch_per_worker = job.block_rows * (n_out + 2)
    job.scratch = malloc(n_threads * job.scratch_per_worker * sizeof(floating))
    job.packed_W = job.packed_W_T = NULL
    try:
        job.packed_W = pack_weight(n_in, n_out, &W[0, 0], n_out, False)
        job.packed_W_T = pack_weight(n_out, n_in, &W[0, 0], n_out, True)
        if job.block_grads == NULL or job.block_losses == NULL or job.scratch == NULL:
            raise MemoryError("cannot allocate the output layer's work arrays")
        with nogil:
            team_run(n_threads, n_blocks, _block_task, &job)
        grads = <floating *> job.block_grads
        for block in range(n_blocks):
            total += job.block_losses[block]
            for i in range(n_in * n_out):
                g_W[i // n_out, i % n_out] += grads[block * share + i]
            for i in range(n_out):
                g_b[i] += grads[block * share + n_in * n_out + i]
    finally:
        if job.packed_W != NULL:
            free_packed(<floating *> job.packed_W)
        if job.packed_W_T != NULL:
            free_packed(<floating *> job.packed_W_T)
        free(job.block_grads)
        free(job.block_losses)
        free(job.scratch)
    return total * scale


cdef void _block_task(void *job_, Py_ssize_t block, int worker) noexcept nogil:
    cdef OutputJob *job = <OutputJob *> job_
    if job.is_double:
        _block(job, block, worker, <double *> NULL)
    else:
        _block(job, block, worker, <float *> NULL)


cdef void _block(OutputJob *job, Py_ssize_t block, int worker, floating *dtype) noexcept nogil:
    cdef Py_ssize_t row0 = block * job.block_rows
    cdef int n = <int> min(job.block_rows, job.n_rows - row0)
    cdef int n_in = job.n_in, n_out = job.n_out
    cdef const floating *R = <const floating *> job.rows + row0 * n_in
    cdef const floating *W = <const floating *> job.W
    cdef const floating *b = <const floating *> job.b
    cdef const floating *Y = <const floating *> job.targets + row0 * n_out
    cdef floating *Z = <floating *> job.scratch + worker * job.scratch_per_worker
    cdef floating *share = <floating *> job.block_grads + block * (n_in + 1) * n_out
    cdef const floating *weights = <const floating *> job.row_weights
    cdef floating scale = <floating> job.scale
    cdef floating row_scale = scale
    cdef double block_loss = 0, row_loss
    cdef int r, j
    if weights != NULL:
        weights += row0
    packed_gemm_bias(n, n_out, n_in, R, n_in, <const floating *> job.packed_W, b, Z, n_out)
    # The loss, and G = dLoss/dZ in place of Z.
    if job.loss == MULTINOMIAL_LOG_LOSS:
        block_loss = _softmax_rows(Z, Y, n, n_out, weights, scale, Z + job.block_rows * n_out)
    else:
        for r in range(n):
            if weights != NULL:
                row_scale = scale * weights[r]
            if job.loss == BINARY_LOG_LOSS:
                row_loss = _logistic_log_loss(&Z[r], Y[r], row_scale)
            else:
                row_loss = _half_squared_error(&Z[r * n_out], &Y[r * n_out], n_out, row_scale)
            block_loss += row_loss if weights == NULL else weights[r] * row_loss
    job.block_losses[block] = block_loss
    # dLoss/dR = G @ W^T, dLoss/dW's share = R^T @ G, dLoss/db's = sum of G's rows.
    packed_gemm(n, n_in, n_out, Z, n_out, <const floating *> job.packed_W_T,
                <floating *> job.d_rows + row0 * n_in, n_in, False)
    gemm(True, False, n_in, n_out, n, R, n_in, Z, n_out, False, share, n_out)
    for j in range(n_out):
        share[n_in * n_out + j] = 0
    for r in range(n):
        for j in range(n_out):
            share[n_in * n_out + j] += Z[r * n_out + j]


cdef inline floating _exp(floating x) noexcept nogil:
    return expf(x) if floating is float else exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    return logf(x) if floating is float else log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    return log1pf(x) if floating is float else log1p(x)


cdef double _softmax_rows(
    floating *Z, const floating *Y, int n, int n_out, const floating *weights,
    floating scale, floating *row_sums,
) noexcept nogil:
    """The cross entropy -sum_j y_j log softmax(z)_j of n rows of n_out
    outputs, summed (each times its weight); each row z becomes
    scale * weight * (softmax(z) - y).

    The exponentials are of z less the row's largest, so none overflows,
    and are taken over the whole block at once: a loop over n * n_out values
    vectorises, where one over a row's few classes does not. ``row_sums``
    holds 2 n values: each row's sum of y_j and of y_j (z_j - largest)."""
    cdef floating largest, shifted, total, inverse, y_total, y_dot, row_scale = scale
    cdef floating *z
    cdef const floating *y
    cdef double loss = 0, row_loss
    cdef int r, j
    for r in range(n):
        z, y = &Z[r * n_out], &Y[r * n_out]
        largest = z[0]
        for j in range(1, n_out):
            largest = max(largest, z[j])
        y_total = y_dot = 0
        for j in range(n_out):
            shifted = z[j] - largest
            y_dot = y_dot + y[j] * shifted
            y_total = y_total + y[j]
            z[j] = shifted
        row_sums[2 * r], row_sums[2 * r + 1] = y_total, y_dot
    if floating is float:
        skrnn_expf_nonpositive(Z, <Py_ssize_t> n * n_out)
    else:
        skrnn_exp_nonpositive(Z, <Py_ssize_t> n * n_out)
    for r in range(n):
        z, y = &Z[r * n_out], &Y[r * n_out]
        if weights != NULL:
            row_scale = scale * weights[r]
        total = 0
        for j in range(n_out):
            total = total + z[j]
        inverse = 1 / total
        for j in range(n_out):
            z[j] = (z[j] * inverse - y[j]) * row_scale
        row_loss = row_sums[2 * r] * _log(total) - row_sums[2 * r + 1]
        loss += row_loss if weights == NULL else weights[r] * row_loss
    return loss


cdef inline double _logistic_log_loss(floating *z, floating y, floating scale) noexcept nogil:
    """-[y log p + (1 - y) log(1 - p)] for p = 1 / (1 + exp(-z));
    z becomes scale * (p - y). Written with exp(-|z|), which cannot
    overflow."""
    cdef floating small = _exp(-z[0] if z[0] >= 0 else z[0])
    cdef floating log_one_plus = _log1p(small)
    cdef floating p = 1 / (1 + small) if z[0] >= 0 else small / (1 + small)
    # log p = min(z, 0) - log1p(exp(-|z|)), log(1 - p) = min(-z, 0) - the same.
    cdef double loss = (log_one_plus - y * min(z[0], <floating> 0)
                        - (1 - y) * min(-z[0], <floating> 0))
    z[0] = (p - y) * scale
    return loss


cdef inline double _half_squared_error(
    floating *z, const floating *y, int n_out, floating scale,
) noexcept nogil:
    """Half the squared error of a row; z becomes scale * (z - y)."""
    cdef floating diff, total = 0
    cdef int j
    for j in range(n_out):
        diff = z[j] - y[j]
        total = total + diff * diff
        z[j] = diff * scale
    return 0.5 * total
