"""Row indices of the chunked mini-batch layout (see ``_chunks.pxd``).

A batch sorted by length, longest first, and cut into chunks is stored
chunk by chunk, step by step, sequence by sequence. This module tells, for
every row of that layout, which row of sequences stored another way (each
with its steps evenly spaced) it holds; for every sequence, which row holds
its last step; and, for bidirectional layers, which row holds the same
sequence at the mirrored step L - 1 - t.
"""

import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.string cimport memcpy

from ._arrays cimport Matrix, read_array
from ._boundary cimport check_chunked_batch, require_length, require_shape

cnp.import_array()


def sort_and_chunk(lengths_array, starts_array, Py_ssize_t chunk_size):
    """Sort a batch by length, longest first, and cut it into chunks.

    Parameters
    ----------
    lengths_array, starts_array : (n_seq,) intp arrays
        Each sequence's length (at least 1) and the row of its first step.
    chunk_size : int
        Sequences per chunk.

    Returns
    -------
    order : (n_seq,) array
        Batch index of each sorted sequence; a stable sort, so that equal
        lengths keep their order.
    seq_start, seq_len : (n_seq,) arrays
        ``starts`` and ``lengths`` in that order.
    chunk_row_start : (n_chunks + 1,) array
        First row of each chunk, and the number of rows last.
    """
    cdef Matrix lengths_vector, starts_vector
    read_array(lengths_array, "lengths", 1, cnp.NPY_INTP, False, &lengths_vector)
    read_array(starts_array, "starts", 1, cnp.NPY_INTP, False, &starts_vector)
    cdef const Py_ssize_t *lengths = <const Py_ssize_t *> lengths_vector.data
    cdef const Py_ssize_t *starts = <const Py_ssize_t *> starts_vector.data
    cdef Py_ssize_t n_seq = lengths_vector.rows
    cdef Py_ssize_t n_chunks = (n_seq + chunk_size - 1) // chunk_size
    cdef Py_ssize_t q, i
    cdef bint is_sorted = True
    require_length("starts", starts_vector.rows, n_seq)
    if chunk_size < 1:
        raise ValueError(f"chunk_size is {chunk_size}; it must be >= 1")
    for q in range(1, n_seq):
        if lengths[q] > lengths[q - 1]:
            is_sorted = False
            break
    # A batch of one length (every 3-D X) is its own order: no sort.
    cdef cnp.ndarray order_array = (
        np.arange(n_seq, dtype=np.intp) if is_sorted
        else np.argsort(np.negative(lengths_array), kind="stable"))
    cdef cnp.ndarray seq_start_array = np.empty(n_seq, np.intp)
    cdef cnp.ndarray seq_len_array = np.empty(n_seq, np.intp)
    cdef cnp.ndarray chunk_row_start_array = np.empty(n_chunks + 1, np.intp)
    # (New contiguous intp arrays, of the lengths the loop below writes.)
    cdef const Py_ssize_t *order = <const Py_ssize_t *> cnp.PyArray_DATA(order_array)
    cdef Py_ssize_t *seq_start = <Py_ssize_t *> cnp.PyArray_DATA(seq_start_array)
    cdef Py_ssize_t *seq_len = <Py_ssize_t *> cnp.PyArray_DATA(seq_len_array)
    cdef Py_ssize_t *chunk_row_start = <Py_ssize_t *> cnp.PyArray_DATA(chunk_row_start_array)
    chunk_row_start[0] = 0
    for q in range(n_seq):
        i = order[q]
        seq_start[q] = starts[i]
        seq_len[q] = lengths[i]
        if q % chunk_size == 0:
            chunk_row_start[q // chunk_size + 1] = chunk_row_start[q // chunk_size]
        chunk_row_start[q // chunk_size + 1] += seq_len[q]
    return order_array, seq_start_array, seq_len_array, chunk_row_start_array


def chunk_layout(
    const Py_ssize_t[::1] seq_start,
    Py_ssize_t step,
    const Py_ssize_t[::1] seq_len,
    const Py_ssize_t[::1] chunk_row_start,
    Py_ssize_t chunk_size,
    Py_ssize_t[::1] data_rows,
    Py_ssize_t[::1] last_rows,
    Py_ssize_t[::1] reverse_rows,
    Py_ssize_t[::1] slab_start,
):
    """Fill the layout's row indices.

    Parameters
    ----------
    seq_start, seq_len : (n_seq,) arrays
        Row in the data of each sequence's first step, and its length; sorted
        by length, longest first.
    step : int
        Rows of the data from one step of a sequence to the next: 1, or -1
        for sequences stored last step first (``seq_start`` then holds each
        one's last row).
    chunk_row_start : (n_chunks + 1,) array
        First row of each chunk.
    chunk_size : int
        Sequences per chunk.
    data_rows : (n_rows,) array, written
        Data row held by each layout row.
    last_rows : (n_seq,) or (0,) array, written if it has rows
        Layout row of each sequence's last step.
    reverse_rows : (n_rows,) or (0,) array, written if it has rows
        Layout row of the same sequence at step L - 1 - t. Applying it twice
        is the identity.
    slab_start : (max(seq_len) + 1,) array, work
        First row of each step's slab, chunk by chunk.
    """
    cdef Py_ssize_t n_seq = seq_len.shape[0]
    cdef Py_ssize_t n_chunks = chunk_row_start.shape[0] - 1
    cdef bint want_last = last_rows.shape[0] > 0
    cdef bint want_reverse = reverse_rows.shape[0] > 0
    cdef Py_ssize_t c, first, last, q, t, row
    cdef Py_ssize_t n_rows = check_chunked_batch(seq_len, chunk_row_start, chunk_size)
    require_length("seq_start", seq_start.shape[0], n_seq)
    require_length("data_rows", data_rows.shape[0], n_rows)
    if want_last:
        require_length("last_rows", last_rows.shape[0], n_seq)
    if want_reverse:
        require_length("reverse_rows", reverse_rows.shape[0], n_rows)
    require_length("slab_start", slab_start.shape[0], (seq_len[0] if n_seq else 0) + 1)
    with nogil:
        for c in range(n_chunks):
            first = c * chunk_size
            last = min(first + chunk_size, n_seq)
            # The sequences running at step t are first .. q-1, and their
            # rows follow slab_start[t] in that order.
            slab_start[0] = chunk_row_start[c]
            q = last
            for t in range(seq_len[first]):
                while seq_len[q - 1] <= t:
                    q -= 1
                slab_start[t + 1] = slab_start[t] + q - first
                for row in range(slab_start[t], slab_start[t + 1]):
                    data_rows[row] = seq_start[first + row - slab_start[t]] + t * step
            for q in range(first, last):
                if want_last:
                    last_rows[q] = slab_start[seq_len[q] - 1] + q - first
                if want_reverse:
                    for t in range(seq_len[q]):
                        reverse_rows[slab_start[t] + q - first] = (
                            slab_start[seq_len[q] - 1 - t] + q - first)


def gather_rows(const floating[:, ::1] src, const Py_ssize_t[::1] rows,
                floating[:, ::1] dst):
    """dst[i] = src[rows[i]] for every i: the inputs in layout order.

    Raises a ValueError, before copying anything, if a row index is not a
    row of ``src``.
    """
    cdef Py_ssize_t i
    cdef Py_ssize_t row_bytes = src.shape[1] * sizeof(floating)
    require_shape("dst", dst.shape[0], dst.shape[1], rows.shape[0], src.shape[1])
    for i in range(rows.shape[0]):
        if rows[i] < 0 or rows[i] >= src.shape[0]:
            raise ValueError(
                f"gather_rows: row index {rows[i]} at {i} is outside the "
                f"{src.shape[0]} rows of src")
    if src.shape[1] == 0:
        return
    with nogil:
        for i in range(rows.shape[0]):
            memcpy(&dst[i, 0], &src[rows[i], 0], row_bytes)
