"""GRU layer: forward pass and backpropagation through time (BPTT).

One layer, one direction, over a sorted and chunked mini-batch (layout in
``_chunks.pxd``): the GRU cell's steps, run by the driver of every cell
(``_driver.pxd``), and its ``Cell``, exported as ``CELL`` for the entry
points (``_layer.pyx``). With PyTorch's
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

from cpython.pycapsule cimport PyCapsule_New
from cython cimport floating
from libc.string cimport memcpy, memset

from ._packed cimport (
    pack_stacked_weight, pack_weight, packed_gemm, packed_gemm_bias, packed_gemm_continue,
)
from ._chunks cimport (
    ChunkJob, copy_chunk_rows, column_sums, given_initial_state_gradients,
    initial_state_gradients, initial_state_rows_gradient, project_inputs,
    weight_gradients,
)
from ._driver cimport (
    BACKWARD_BEGIN, BACKWARD_STEP, Cell, FORWARD_BEGIN, FORWARD_STEP, PREDICT_STEP,
    Slab, StepPart,
)


cdef extern from "_gru_step.h" nogil:
    void skrnn_gru_forward_step_float(
        Py_ssize_t running, Py_ssize_t hidden, float *gates, const float *HN,
        const float *H_prev, Py_ssize_t h_prev_stride, float *H, Py_ssize_t h_stride)
    void skrnn_gru_forward_step_double(
        Py_ssize_t running, Py_ssize_t hidden, double *gates, const double *HN,
        const double *H_prev, Py_ssize_t h_prev_stride, double *H,
        Py_ssize_t h_stride)


# -- the cell's steps, run by the driver (_driver.pxd) --------------------------

cdef Cell _GRU
_GRU.step_float = _step_part[float]
_GRU.step_double = _step_part[double]
_GRU.pack_forward = _pack_forward
_GRU.n_gates = 3
_GRU.c_width, _GRU.a_width, _GRU.hn_width = 0, 3, 1
_GRU.carries_cell_state = False
_GRU.has_recurrent_bias = _GRU.shifts_next_deltas = True
# G and step 0's recurrent-side deltas per sequence (for initial states
# given per sequence, or their gradient); delta0_sum.
_GRU.backward_scratch = 4
_GRU.backward_scratch_shared = 3
# A prediction step's gates (3H) and h W_hn + b_hn (H) per sequence.
_GRU.predict_scratch = 4


# The cell, as ``skrnn._kernels._layer`` takes it.
CELL = PyCapsule_New(<void *> &_GRU, b"skrnn.Cell", NULL)


cdef int _pack_forward(ChunkJob *job, bint stacked) except -1:
    if job.is_double:
        _pack_forward_t(job, stacked, <double *> NULL)
    else:
        _pack_forward_t(job, stacked, <float *> NULL)
    return 0


cdef inline void _pack_forward_t(ChunkJob *job, bint stacked, floating *dtype) except *:
    """W_ih for the input projections (of a whole chunk when training, or of
    many steps projected ahead; else of step 0 from a zero h0); W_hh in two
    parts: h W_hn apart, for r to multiply, and the rest, which a
    prediction's products over [x_t | h_{t-1}] stack below W_ih's part of
    the same gates (see ``_predict_step``), with W_in apart."""
    cdef int n_in = job.n_in
    cdef int hidden = job.hidden
    cdef int width = 3 * hidden
    cdef const floating *W_ih = <const floating *> job.W_ih
    cdef const floating *W_hh = <const floating *> job.W_hh
    job.packed[0] = pack_weight(n_in, width, W_ih, width, False)
    job.packed[3] = pack_weight(hidden, hidden, &W_hh[2 * hidden], width, False)
    if stacked:
        job.packed[1] = pack_stacked_weight(n_in, hidden, 2 * hidden, W_ih, width, W_hh,
                                            width)
        job.packed[2] = pack_weight(n_in, hidden, &W_ih[2 * hidden], width, False)
    else:
        job.packed[1] = pack_weight(hidden, 2 * hidden, W_hh, width, False)


cdef void _step_part(
    StepPart part, const ChunkJob *j, Slab *s, floating *dtype,
) noexcept nogil:
    """One part of a chunk's pass; ``dtype`` only selects the type."""
    cdef Py_ssize_t k
    cdef floating *delta0_sum
    cdef floating *g_h0
    if part == FORWARD_BEGIN:
        # Every step's input projection, into the gates' rows.
        project_inputs(<const floating *> j.X, <const floating *> j.packed[0],
                       <const floating *> j.b, s.row0, s.row1, j.n_in, 3 * j.hidden,
                       <floating *> j.A)
    elif part == FORWARD_STEP:
        _forward_step(j, s, dtype)
    elif part == PREDICT_STEP:
        _predict_step(j, s, dtype)
    elif part == BACKWARD_BEGIN:
        # Step 0's recurrent-side deltas are summed into delta0_sum, and a
        # learned h0's direct-path gradient into g_h0, as the loop goes.
        delta0_sum = <floating *> s.work + s.n_seq * j.hidden
        for k in range(3 * j.hidden):
            delta0_sum[k] = 0
        if j.has_initial_state:
            g_h0 = <floating *> s.grad + (j.n_in + j.hidden + 1) * 3 * j.hidden + j.hidden
            for k in range(j.hidden):
                g_h0[k] = 0
    elif part == BACKWARD_STEP:
        _backward_step(j, s, dtype)
    else:
        _backward_end(j, s, dtype)


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


cdef inline void _forward_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of a training pass: every step's gates, states and h W_hn +
    b_hn are kept for BPTT, in the slab's rows of ``A``, ``H`` and ``HN``."""
    cdef int hidden = j.hidden
    cdef int width = 3 * hidden
    cdef Py_ssize_t p
    cdef floating *states = <floating *> j.H + s.slab * hidden
    cdef floating *gates = <floating *> j.A + s.slab * width
    cdef floating *hns = <floating *> j.HN + s.slab * hidden
    # At t = 0 the sequences start from h0 (a shared row: stride 0).
    cdef const floating *h_prev = (<const floating *> j.H + s.prev_slab * hidden if s.t > 0
                                   else <const floating *> j.h0 + s.first * j.h0_stride)
    cdef Py_ssize_t prev_stride = hidden if s.t > 0 else j.h0_stride
    # The recurrent terms: h_{t-1} W_hr and h_{t-1} W_hz added to the
    # gates in place, and hn = h_{t-1} W_hn + b_hn apart, for r to
    # multiply; none from a zero initial state.
    if s.t > 0 or j.has_initial_state:
        packed_gemm(<int> s.running, 2 * hidden, hidden, h_prev, prev_stride,
                    <const floating *> j.packed[1], gates, width, True)
        packed_gemm_bias(<int> s.running, hidden, hidden, h_prev, prev_stride,
                         <const floating *> j.packed[3], <const floating *> j.b_hn, hns,
                         hidden)
    else:
        for p in range(s.running):
            memcpy(&hns[p * hidden], j.b_hn, hidden * sizeof(floating))
    _step(s.running, hidden, gates, hns, h_prev, prev_stride, states, hidden)


cdef inline void _predict_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of a prediction pass: one step of gates and of h W_hn + b_hn
    lives in the scratch. The r and z gates' two products are one,
    [x_t | h_{t-1}] @ [W_ir W_iz; W_hr W_hz], with no pass to add one
    product to the other and no short product over the inputs alone; or,
    with the inputs projected ahead, the same sums continued from x_t W_ih
    (``packed_gemm_continue``)."""
    cdef int hidden = j.hidden
    cdef int width = 3 * hidden
    cdef int n_in = j.n_in
    cdef int ld = <int> s.ld
    cdef Py_ssize_t p, prev_stride
    cdef const floating *xh = <const floating *> s.xh
    cdef const floating *b = <const floating *> j.b
    cdef floating *gates = <floating *> s.work              # row stride ``width``
    cdef floating *hns = gates + s.n_seq * width            # row stride ``hidden``
    cdef const floating *h_prev
    cdef bint recurrent = s.t > 0 or j.has_initial_state
    if recurrent:
        h_prev, prev_stride = &xh[n_in], ld
    else:
        h_prev, prev_stride = <const floating *> j.h0 + s.first * j.h0_stride, 0
    if s.projected != NULL:
        gates = <floating *> s.projected
        # r and z: x_t W_i + h_{t-1} W_h + b; n: x_t W_in + b_in.
        packed_gemm_continue(<int> s.running, 2 * hidden, hidden if recurrent else 0,
                             h_prev, ld, <const floating *> j.packed[1], b, gates, width)
        packed_gemm_continue(<int> s.running, hidden, 0, h_prev, ld,
                             <const floating *> j.packed[1], &b[2 * hidden],
                             &gates[2 * hidden], width)
    elif recurrent:
        packed_gemm_bias(<int> s.running, 2 * hidden, ld, xh, ld,
                         <const floating *> j.packed[1], b, gates, width)
        packed_gemm_bias(<int> s.running, hidden, n_in, xh, ld,
                         <const floating *> j.packed[2], &b[2 * hidden], &gates[2 * hidden],
                         width)
    else:
        # From a zero h0: the input projection alone.
        packed_gemm_bias(<int> s.running, width, n_in, xh, ld,
                         <const floating *> j.packed[0], b, gates, width)
    # h_{t-1} W_hn + b_hn, which r multiplies: b_hn alone from a zero h0.
    if recurrent:
        packed_gemm_bias(<int> s.running, hidden, hidden, h_prev, ld,
                         <const floating *> j.packed[3], <const floating *> j.b_hn, hns,
                         hidden)
    else:
        for p in range(s.running):
            memcpy(&hns[p * hidden], j.b_hn, hidden * sizeof(floating))
    _step(s.running, hidden, gates, hns, h_prev, prev_stride, <floating *> s.states, ld)


cdef inline void _backward_step(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """Step t of BPTT: the gates' deltas, the recurrent-side deltas at the
    row of step t - 1 (for dW_hh = H^T D_next), and dLoss/dh_{t-1} through
    the direct path and the recurrent products."""
    cdef int hidden = j.hidden
    cdef int width = 3 * hidden
    cdef Py_ssize_t running = s.running
    cdef Py_ssize_t slab = s.slab
    cdef Py_ssize_t prev_slab = s.prev_slab
    cdef Py_ssize_t t = s.t
    cdef Py_ssize_t p, k, r
    cdef const floating *A = <const floating *> j.A
    cdef const floating *H = <const floating *> j.H
    cdef const floating *HN = <const floating *> j.HN
    cdef const floating *dH = <const floating *> j.dH
    cdef const floating *h0 = <const floating *> j.h0 + s.first * j.h0_stride
    cdef floating *D = <floating *> j.D
    cdef floating *D_next = <floating *> j.shifted
    cdef const floating *a
    cdef floating *d
    cdef floating *d_rec
    cdef const floating *h_prev
    cdef floating dh, d_n, rg, z, n
    # G[p]: dLoss/dh_t of the chunk's sequence p through step t+1.
    # delta0_sum: the recurrent-side deltas of step 0, summed over sequences.
    cdef floating *G = <floating *> s.work
    cdef floating *delta0_sum = G + s.n_seq * hidden
    # Step 0's recurrent-side deltas of each sequence, kept only where the
    # initial states are per sequence or their gradient is asked for.
    cdef floating *delta0 = (delta0_sum + width
                             if j.given_initial_state or j.d_initial != NULL else NULL)
    cdef floating *g_h0 = <floating *> s.grad + (j.n_in + hidden + 1) * width + hidden
    # Sequences whose last step is t get nothing from step t + 1.
    if running > s.next_running:
        memset(&G[s.next_running * hidden], 0,
               (running - s.next_running) * hidden * sizeof(floating))
    for p in range(running):
        r = slab + p
        a = &A[r * width]
        d = &D[r * width]
        d_rec = &D_next[(prev_slab + p) * width] if t > 0 else delta0_sum
        h_prev = &H[(prev_slab + p) * hidden] if t > 0 else &h0[p * j.h0_stride]
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
                if j.has_initial_state:
                    g_h0[k] += dh * z
                if delta0 != NULL:
                    delta0[p * width + k] = d[k]
                    delta0[p * width + hidden + k] = d[hidden + k]
                    delta0[p * width + 2 * hidden + k] = d_n * rg
            # The direct path h_{t-1} -> h_t.
            G[p * hidden + k] = dh * z
    # Sequences ending at t have no step t+1.
    if running > s.next_running:
        memset(&D_next[(slab + s.next_running) * width], 0,
               (running - s.next_running) * width * sizeof(floating))
    if t > 0:
        # dLoss/dh_{t-1} = dh_t * z + (recurrent deltas) @ W_hh^T
        packed_gemm(<int> running, hidden, width, &D_next[prev_slab * width],
                    width, <const floating *> j.packed[0], G, hidden, True)


cdef inline void _backward_end(const ChunkJob *j, Slab *s, floating *dtype) noexcept nogil:
    """The chunk's weight gradients, each one GEMM over its rows, b_hn's and
    the initial states'."""
    cdef int hidden = j.hidden
    cdef int n_in = j.n_in
    cdef int width = 3 * hidden
    cdef Py_ssize_t k
    cdef const floating *h0 = <const floating *> j.h0 + s.first * j.h0_stride
    cdef floating *G = <floating *> s.work
    cdef floating *delta0_sum = G + s.n_seq * hidden
    cdef floating *delta0 = (delta0_sum + width
                             if j.given_initial_state or j.d_initial != NULL else NULL)
    cdef floating *d_initial = (<floating *> j.d_initial + s.first * hidden
                                if j.d_initial != NULL else NULL)
    cdef floating *g_W_ih = <floating *> s.grad
    cdef floating *g_W_hh = g_W_ih + n_in * width
    cdef floating *g_b = g_W_hh + hidden * width
    cdef floating *g_b_hn = g_b + width
    cdef floating *g_h0 = g_b_hn + hidden
    weight_gradients(<const floating *> j.X, <const floating *> j.H,
                     <const floating *> j.D, <const floating *> j.shifted,
                     <const floating *> j.W_ih, s.row0, s.row1, n_in, hidden, width,
                     g_W_ih, g_W_hh, g_b, <floating *> j.dX)
    # b_hn sits on the recurrent side: its deltas are D_next's n block, plus
    # step 0's.
    column_sums(<const floating *> j.shifted + s.row0 * width + 2 * hidden,
                s.row1 - s.row0, hidden, width, g_b_hn)
    for k in range(hidden):
        g_b_hn[k] += delta0_sum[2 * hidden + k]
    if j.has_initial_state:
        # g_h0 already holds the direct path's sum of dh * z.
        initial_state_gradients(h0, delta0_sum, <const floating *> j.W_hh, hidden, width,
                                g_W_hh, 1, g_h0)
    if j.given_initial_state:
        given_initial_state_gradients(h0, delta0, s.running, hidden, width, g_W_hh)
    if d_initial != NULL:
        # The direct path's dh * z, left in G by step 0, plus the recurrent side.
        copy_chunk_rows(G, s.running, hidden, d_initial)
        initial_state_rows_gradient(delta0, s.running, <const floating *> j.W_hh, hidden,
                                    width, 1, d_initial)
