"""Row indices of the chunked mini-batch layout (see ``_chunks.pxd``).

A batch sorted by length, longest first, and cut into chunks is stored
chunk by chunk, step by step, sequence by sequence. This module tells, for
every row of that layout, which input row it holds; for every sequence,
which row holds its last step; and, for bidirectional layers, which row holds
the same sequence at the mirrored step L - 1 - t.
"""


def chunk_layout(
    const Py_ssize_t[::1] seq_start,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    Py_ssize_t[::1] data_rows,
    Py_ssize_t[::1] last_rows,
    Py_ssize_t[::1] reverse_rows,
):
    """Fill the layout's row indices.

    Parameters
    ----------
    seq_start, seq_len : (n_seq,) arrays
        Row in the data of each sequence's first step, and its length; sorted
        by length, longest first.
    chunk_row_start : (n_chunks + 1,) array
        First row of each chunk.
    chunk_size : int
        Sequences per chunk.
    data_rows : (n_rows,) array, written
        Data row held by each layout row.
    last_rows : (n_seq,) array, written
        Layout row of each sequence's last step.
    reverse_rows : (n_rows,) or (0,) array, written if it has rows
        Layout row of the same sequence at step L - 1 - t. Applying it twice
        is the identity.
    """
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef bint want_reverse = reverse_rows.shape[0] > 0
    cdef Py_ssize_t c, first, last, q, t, row
    with nogil:
        for c in range(n_chunks):
            first = c * chunk_size
            last = min(first + chunk_size, n_seq)
            row = chunk_row_start[c]
            for t in range(seq_len[first]):
                q = first
                while q < last and seq_len[q] > t:
                    data_rows[row] = seq_start[q] + t
                    if want_reverse:
                        reverse_rows[row] = _row_of(
                            seq_len, first, last, chunk_row_start[c], q,
                            seq_len[q] - 1 - t)
                    row += 1
                    q += 1
            for q in range(first, last):
                last_rows[q] = _row_of(
                    seq_len, first, last, chunk_row_start[c], q, seq_len[q] - 1)


cdef inline Py_ssize_t _row_of(
    const Py_ssize_t[::1] seq_len, Py_ssize_t first, Py_ssize_t last,
    Py_ssize_t row0, Py_ssize_t q, Py_ssize_t t,
) noexcept nogil:
    # Steps before t fill sum over the chunk of min(L, t) rows; then the
    # sequences ahead of q in the chunk (all still running at t).
    cdef Py_ssize_t row = row0 + q - first
    cdef Py_ssize_t p
    for p in range(first, last):
        row += min(seq_len[p], t)
    return row
