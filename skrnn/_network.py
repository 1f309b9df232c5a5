"""The Elman network as a function of its flat parameter vector.

This module is the only caller of the kernels: it sorts a mini-batch by
length, cuts it into chunks, allocates every work array and calls the
forward and BPTT kernels. Estimators see plain arrays.
"""

import numpy as np

from ._kernels._elman import ACTIVATIONS, elman_backward, elman_forward
from ._params import elman_layout

# Sequences per chunk, the unit of parallel work. It must not depend on the
# thread count: the chunks decide the order in which gradients are summed,
# and so the bits of the result.
CHUNK_SIZE = 32


class ElmanNetwork:
    """One-layer Elman RNN with a dense output layer on the last state.

    Parameters
    ----------
    n_features : int
        Features per time step.
    hidden_size : int
    n_outputs : int
    activation : {'tanh', 'relu'}
    dtype : {np.float32, np.float64}
    """

    def __init__(self, n_features, hidden_size, n_outputs, activation, dtype):
        self.n_features = n_features
        self.hidden_size = hidden_size
        self.n_outputs = n_outputs
        self.activation = activation
        self.dtype = np.dtype(dtype)
        self.layout = elman_layout(n_features, hidden_size, n_outputs)
        self._param_offsets = np.array(
            [self.layout.offsets[name] for name in ("W_x", "W_s", "b", "W_y", "b_y")],
            dtype=np.intp,
        )

    def forward(self, params, sequences, n_threads):
        """Raw outputs for every sequence, plus what ``backward`` needs.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        sequences : Sequences
            Its ``data`` must have this network's dtype.
        n_threads : int

        Returns
        -------
        out : ndarray of shape (n_sequences, n_outputs)
        cache : dict
            The sorted batch and the forward pass's work arrays.
        """
        # Longest first (stable, so equal lengths keep their order), so that
        # the sequences running at any step are a prefix of each chunk.
        order = np.argsort(-sequences.lengths, kind="stable")
        seq_start = sequences.starts[order]
        seq_len = sequences.lengths[order]
        chunk_row_start = np.zeros((len(order) + CHUNK_SIZE - 1) // CHUNK_SIZE + 1, np.intp)
        np.cumsum(np.add.reduceat(seq_len, np.arange(0, len(order), CHUNK_SIZE)),
                  out=chunk_row_start[1:])
        n_rows = int(chunk_row_start[-1])
        n_seq = len(order)

        w = self.layout.views(params)
        X = np.empty((n_rows, self.n_features), self.dtype)
        H = np.empty((n_rows, self.hidden_size), self.dtype)
        H_last = np.empty((n_seq, self.hidden_size), self.dtype)
        out_sorted = np.empty((n_seq, self.n_outputs), self.dtype)
        elman_forward(
            sequences.data, seq_start, seq_len, chunk_row_start, CHUNK_SIZE,
            w["W_x"], w["W_s"], w["b"], w["W_y"], w["b_y"],
            ACTIVATIONS[self.activation],
            X, H, H_last, out_sorted, n_threads,
        )
        out = np.empty_like(out_sorted)
        out[order] = out_sorted
        cache = dict(order=order, seq_len=seq_len, chunk_row_start=chunk_row_start,
                     X=X, H=H, H_last=H_last)
        return out, cache

    def backward(self, params, cache, d_out, n_threads):
        """Gradient of the loss with respect to ``params`` by BPTT.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        cache : dict
            From the ``forward`` call on the same batch and parameters.
        d_out : ndarray of shape (n_sequences, n_outputs)
            Gradient of the loss with respect to ``out``, in batch order.
        n_threads : int

        Returns
        -------
        grad : ndarray of shape (n_params,)
        """
        order = cache["order"]
        chunk_row_start = cache["chunk_row_start"]
        H = cache["H"]
        n_chunks = chunk_row_start.shape[0] - 1
        w = self.layout.views(params)
        grad = np.empty(self.layout.n_params, self.dtype)
        elman_backward(
            cache["seq_len"], chunk_row_start, CHUNK_SIZE,
            w["W_s"], w["W_y"], ACTIVATIONS[self.activation],
            cache["X"], H, cache["H_last"],
            np.ascontiguousarray(d_out[order], dtype=self.dtype),
            np.empty((len(order), self.hidden_size), self.dtype),
            np.empty_like(H), np.empty_like(H),
            self._param_offsets,
            np.empty((n_chunks, self.layout.n_params), self.dtype),
            grad, n_threads,
        )
        return grad

    def predict_raw(self, params, sequences, n_threads, max_rows=1 << 18):
        """Raw outputs, computed in slices that bound the work memory."""
        n_seq = len(sequences)
        out = np.empty((n_seq, self.n_outputs), self.dtype)
        # Cut into slices of about max_rows time steps each.
        cum_rows = np.cumsum(sequences.lengths)
        start = 0
        while start < n_seq:
            base = cum_rows[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(cum_rows, base + max_rows, "right")))
            batch = sequences.take(slice(start, stop))
            out[start:stop], _ = self.forward(params, batch, n_threads)
            start = stop
        return out
