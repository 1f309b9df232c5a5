# Shape assertions at the kernels' boundary.
#
# Kernels do not validate user input (skrnn's Python layer does), but they
# index raw pointers by the shapes and row indices they are handed, so each
# public kernel function first asserts that those agree: a mistake anywhere
# above then raises a ValueError naming the argument instead of reading or
# writing out of bounds. The checks cost O(n_sequences) per call, nothing
# per step.

cdef inline int require_shape(
    str name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t want_rows,
    Py_ssize_t want_cols,
) except -1:
    """Raise unless a 2-D argument is (want_rows, want_cols); a want of -1
    accepts any size."""
    if (want_rows >= 0 and rows != want_rows) or (want_cols >= 0 and cols != want_cols):
        raise ValueError(
            f"kernel argument {name} has shape ({rows}, {cols}); the batch "
            f"layout needs ({'any' if want_rows < 0 else want_rows}, "
            f"{'any' if want_cols < 0 else want_cols})")
    return 0


cdef inline int require_length(str name, Py_ssize_t length, Py_ssize_t want) except -1:
    """Raise unless a 1-D argument has ``want`` entries."""
    if length != want:
        raise ValueError(
            f"kernel argument {name} has {length} entries; the batch layout needs {want}")
    return 0


cdef inline int require_at_least(
    str name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t min_rows,
    Py_ssize_t min_cols,
) except -1:
    """Raise unless a 2-D work array has at least (min_rows, min_cols)."""
    if rows < min_rows or cols < min_cols:
        raise ValueError(
            f"kernel work array {name} has shape ({rows}, {cols}); it needs at "
            f"least ({min_rows}, {min_cols})")
    return 0


cdef inline Py_ssize_t check_chunked_batch(
    const Py_ssize_t[::1] seq_len, const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
) except -1:
    """Assert the layout of ``_chunks.pxd``: lengths of at least 1, sorted
    longest first, cut into chunks of ``chunk_size`` whose row blocks follow
    one another from row 0. Returns the number of rows."""
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef Py_ssize_t c, q, rows
    if chunk_size < 1:
        raise ValueError(f"kernel argument chunk_size is {chunk_size}; it must be >= 1")
    if n_chunks != (n_seq + chunk_size - 1) // chunk_size or chunk_row_start[0] != 0:
        raise ValueError(
            f"kernel argument chunk_row_start ({n_chunks + 1} entries from "
            f"{chunk_row_start[0] if n_chunks >= 0 else 0}) does not describe "
            f"{n_seq} sequences in chunks of {chunk_size} from row 0")
    for q in range(n_seq):
        if seq_len[q] < 1 or (q > 0 and seq_len[q] > seq_len[q - 1]):
            raise ValueError(
                "kernel argument seq_len must hold lengths >= 1 sorted longest "
                f"first; entry {q} is {seq_len[q]}")
    for c in range(n_chunks):
        rows = 0
        for q in range(c * chunk_size, min((c + 1) * chunk_size, n_seq)):
            rows += seq_len[q]
        if chunk_row_start[c + 1] - chunk_row_start[c] != rows:
            raise ValueError(
                f"kernel argument chunk_row_start gives chunk {c} "
                f"{chunk_row_start[c + 1] - chunk_row_start[c]} rows; its "
                f"sequences have {rows} steps")
    return chunk_row_start[n_chunks]


cdef inline int check_input_rows(
    const Py_ssize_t[::1] input_start, Py_ssize_t input_step,
    const Py_ssize_t[::1] seq_len, Py_ssize_t n_rows,
) except -1:
    """Assert that every row a prediction pass reads, ``input_start[q] +
    t * input_step`` for t < seq_len[q], is a row of X (``n_rows`` rows)."""
    cdef Py_ssize_t q, first_row, last_row
    if input_step != 1 and input_step != -1:
        raise ValueError(f"kernel argument input_step is {input_step}; it must be 1 or -1")
    for q in range(seq_len.shape[0]):
        first_row = input_start[q]
        last_row = first_row + (seq_len[q] - 1) * input_step
        if min(first_row, last_row) < 0 or max(first_row, last_row) >= n_rows:
            raise ValueError(
                f"kernel argument input_start makes sequence {q} read rows "
                f"{first_row} to {last_row} of an X of {n_rows} rows")
    return 0


cdef inline int check_cell_weights(
    Py_ssize_t n_in, Py_ssize_t hidden, Py_ssize_t n_gates,
    Py_ssize_t ih_rows, Py_ssize_t ih_cols, Py_ssize_t hh_rows, Py_ssize_t hh_cols,
    Py_ssize_t b_length,
) except -1:
    """Assert W_ih (n_in, G*H), W_hh (H, G*H) and b (G*H,)."""
    require_shape("W_ih", ih_rows, ih_cols, n_in, n_gates * hidden)
    require_shape("W_hh", hh_rows, hh_cols, hidden, n_gates * hidden)
    require_length("b", b_length, n_gates * hidden)
    if hidden < 1 or n_in < 1:
        raise ValueError(f"kernel arguments give {n_in} inputs and {hidden} hidden units")
    return 0


cdef inline int check_thread_count(int n_threads) except -1:
    if n_threads < 1:
        raise ValueError(f"kernel argument n_threads is {n_threads}; it must be >= 1")
    return 0


cdef inline int check_initial_states(
    str name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t n_seq, Py_ssize_t hidden,
) except -1:
    """Assert an initial state: one row shared by every sequence, or one
    row per sequence."""
    if cols != hidden or (rows != 1 and rows != n_seq):
        raise ValueError(
            f"kernel argument {name} has shape ({rows}, {cols}); expected (1, {hidden}) "
            f"or ({n_seq}, {hidden})")
    return 0


cdef inline int check_initial_gradient(
    str name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t n_seq, Py_ssize_t hidden,
) except -1:
    """Assert an optional per-sequence gradient: no rows, or one per sequence."""
    if rows > 0:
        require_shape(name, rows, cols, n_seq, hidden)
    return 0


cdef inline Py_ssize_t check_forward_pass(
    const Py_ssize_t[::1] seq_len, const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size, const Py_ssize_t[::1] input_start, Py_ssize_t input_step,
    Py_ssize_t x_rows, Py_ssize_t x_cols, Py_ssize_t n_gates,
    Py_ssize_t ih_rows, Py_ssize_t ih_cols, Py_ssize_t hh_rows, Py_ssize_t hh_cols,
    Py_ssize_t b_length, Py_ssize_t h0_rows, Py_ssize_t h0_cols,
    Py_ssize_t h_rows, Py_ssize_t h_cols, Py_ssize_t final_rows, Py_ssize_t final_cols, Py_ssize_t work_rows,
    Py_ssize_t work_cols, Py_ssize_t work_size, int n_threads,
) except -1:
    """The arguments every cell's forward pass shares (see ``_layer.forward``).
    Returns the number of rows of the batch layout."""
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t hidden = hh_rows
    cdef bint predicting = input_start.shape[0] > 0
    cdef Py_ssize_t n_rows = check_chunked_batch(seq_len, chunk_row_start, chunk_size)
    check_thread_count(n_threads)
    check_cell_weights(x_cols, hidden, n_gates, ih_rows, ih_cols, hh_rows, hh_cols,
                       b_length)
    check_initial_states("h0", h0_rows, h0_cols, n_seq, hidden)
    if predicting:
        require_length("input_start", input_start.shape[0], n_seq)
        check_input_rows(input_start, input_step, seq_len, x_rows)
        require_at_least("work", work_rows, work_cols, n_threads, work_size)
    else:
        require_shape("X", x_rows, x_cols, n_rows, x_cols)
    if final_rows > 0:
        if not predicting:
            raise ValueError("kernel argument final: only a prediction pass "
                             "writes final states alone")
        require_shape("final", final_rows, final_cols, n_seq, hidden)
    else:
        require_shape("H", h_rows, h_cols, n_rows, hidden)
    return n_rows


cdef inline Py_ssize_t check_backward_pass(
    const Py_ssize_t[::1] seq_len, const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size, Py_ssize_t x_rows, Py_ssize_t x_cols, Py_ssize_t n_gates,
    Py_ssize_t ih_rows, Py_ssize_t ih_cols, Py_ssize_t hh_rows, Py_ssize_t hh_cols,
    Py_ssize_t h0_rows, Py_ssize_t h0_cols, bint has_initial_state,
    bint given_initial_state, Py_ssize_t n_extra, Py_ssize_t d_initial_rows,
    Py_ssize_t d_initial_cols, Py_ssize_t h_rows, Py_ssize_t h_cols, Py_ssize_t dh_rows, Py_ssize_t dh_cols,
    Py_ssize_t d_rows, Py_ssize_t d_cols, Py_ssize_t dx_rows, Py_ssize_t dx_cols,
    Py_ssize_t work_rows, Py_ssize_t work_cols, Py_ssize_t work_size,
    Py_ssize_t chunk_grad_rows, Py_ssize_t chunk_grad_cols, Py_ssize_t grad_length,
    int n_threads,
) except -1:
    """The arguments every cell's backward pass shares (see
    ``_layer.backward``). ``n_extra`` counts the gradient's entries after
    [W_ih, W_hh, b] besides a learned h0 (the GRU's b_hn, the LSTM's c0).
    Returns the number of rows of the batch layout."""
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t hidden = hh_rows
    cdef Py_ssize_t width = n_gates * hidden
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef Py_ssize_t n_rows = check_chunked_batch(seq_len, chunk_row_start, chunk_size)
    cdef Py_ssize_t n_local = (x_cols + hidden + 1) * width + n_extra + (
        hidden if has_initial_state else 0)
    check_thread_count(n_threads)
    check_cell_weights(x_cols, hidden, n_gates, ih_rows, ih_cols, hh_rows, hh_cols, width)
    check_initial_states("h0", h0_rows, h0_cols, n_seq, hidden)
    if given_initial_state:
        if has_initial_state:
            raise ValueError("kernel arguments: an initial state is either learned "
                             "or given per sequence, not both")
        require_shape("h0", h0_rows, h0_cols, n_seq, hidden)
    check_initial_gradient("d_initial", d_initial_rows, d_initial_cols, n_seq, hidden)
    require_shape("X", x_rows, x_cols, n_rows, x_cols)
    require_shape("H", h_rows, h_cols, n_rows, hidden)
    require_shape("dH", dh_rows, dh_cols, n_rows, hidden)
    require_shape("D", d_rows, d_cols, n_rows, width)
    if dx_rows > 0:
        require_shape("dX", dx_rows, dx_cols, n_rows, x_cols)
    require_at_least("work", work_rows, work_cols, n_chunks, work_size)
    # (Every row of chunk_grad is summed into grad.)
    require_shape("chunk_grad", chunk_grad_rows, chunk_grad_cols, n_chunks, n_local)
    require_length("grad", grad_length, n_local)
    return n_rows
