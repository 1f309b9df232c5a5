"""The Echo State Network's reservoir: its random weights, and its runs over
``Sequences`` through the kernel of ``skrnn._kernels._reservoir``.

The weights follow reservoirpy's defaults, so that the same hyperparameters
mean the same reservoir: W holds normal values at a fraction
``connectivity`` of its entries, rescaled to the spectral radius asked for;
W_in holds +-1 at a fraction ``input_connectivity`` of its entries, times
``input_scaling``; the bias is +-1 times ``bias_scaling``.
"""

import numpy as np
import scipy.sparse
from scipy.sparse.linalg import ArpackNoConvergence, eigs

from ._kernels._reservoir import Pooling, reservoir_generate, reservoir_states
from ._threads import effective_n_threads

POOLING_CODES = {"last": Pooling.POOL_LAST, "mean": Pooling.POOL_MEAN,
                 "max": Pooling.POOL_MAX}

# Sequences per chunk, the unit of parallel work: fixed, so that the states
# never depend on the thread count; small enough that a few hundred short
# sequences keep two threads busy, large enough for the products to block
# well.
CHUNK_SIZE = 16

# Below this fraction of nonzero entries, W's product runs sparse (per row,
# over the stored entries) rather than dense (the packed product, which
# does all n_units**2 multiply-adds but many times faster per entry).
SPARSE_BELOW_DENSITY = 0.2

# Reservoirs up to this size take their spectral radius from all of W's
# eigenvalues (LAPACK); larger ones from ARPACK's few largest.
DENSE_EIGENVALUES_UP_TO = 256


class ReservoirWeights:
    """The fixed weights of a reservoir, in the form the kernel reads.

    Parameters
    ----------
    W_in : ndarray of shape (n_features, n_units)
    bias : ndarray of shape (n_units,)
    W : scipy.sparse.csc_array of shape (n_units, n_units)
        Recurrent weights, ``x_{t-1} @ W``.
    leak_rate : float
    dtype : numpy dtype
        float32 or float64: that of every array the kernel reads.
    """

    def __init__(self, W_in, bias, W, leak_rate, dtype):
        self.dtype = np.dtype(dtype)
        self.W_in = np.ascontiguousarray(W_in, dtype=self.dtype)
        self.bias = np.ascontiguousarray(bias, dtype=self.dtype)
        self.leak_rate = float(leak_rate)
        W = scipy.sparse.csc_array(W, dtype=self.dtype)
        W.sort_indices()
        self.W = W
        n_units = W.shape[0]
        if W.nnz < SPARSE_BELOW_DENSITY * n_units * n_units:
            self._dense = np.zeros((0, 0), self.dtype)
            self._col_ptr = W.indptr.astype(np.intc)
            self._row_index = W.indices.astype(np.intc)
            self._values = np.ascontiguousarray(W.data)
        else:
            self._dense = np.ascontiguousarray(W.toarray())
            self._col_ptr = np.zeros(0, np.intc)
            self._row_index = np.zeros(0, np.intc)
            self._values = np.zeros(0, self.dtype)

    @property
    def n_units(self):
        return self.W_in.shape[1]

    @property
    def is_sparse(self):
        """Whether the kernel multiplies by W sparse (by its stored entries)."""
        return self._dense.shape[0] == 0

    def with_product(self, sparse):
        """These weights with W's product forced dense or sparse (for tests)."""
        copy = ReservoirWeights.__new__(ReservoirWeights)
        copy.__dict__.update(self.__dict__)
        if sparse:
            copy._dense = np.zeros((0, 0), self.dtype)
            copy._col_ptr = self.W.indptr.astype(np.intc)
            copy._row_index = self.W.indices.astype(np.intc)
            copy._values = np.ascontiguousarray(self.W.data)
        else:
            copy._dense = np.ascontiguousarray(self.W.toarray())
            copy._col_ptr = np.zeros(0, np.intc)
            copy._row_index = np.zeros(0, np.intc)
            copy._values = np.zeros(0, self.dtype)
        return copy

    def _kernel_weights(self):
        return (self.W_in, self.bias, self._dense, self._col_ptr, self._row_index,
                self._values, self.leak_rate)

    def run(self, sequences, *, store_from=0, keep_states=True, pooling=None,
            initial=None, n_threads=None):
        """Run the reservoir over ``sequences``.

        Parameters
        ----------
        sequences : Sequences
            Of this reservoir's dtype.
        store_from : int
            The first step of each sequence kept in ``states`` and pooled.
        keep_states : bool
            Whether to return every kept step's state.
        pooling : {'last', 'mean', 'max'} or None
            What to return per sequence over its kept steps.
        initial : ndarray of shape (n_sequences, n_units), optional
            Each sequence's state before its first step; zero if None.
        n_threads : int or None

        Returns
        -------
        states : ndarray of shape (n_kept_steps, n_units) or None
            The kept steps of every sequence, one sequence after another.
        pooled : ndarray of shape (n_sequences, n_units) or None
        final : ndarray of shape (n_sequences, n_units)
            Each sequence's last state.
        inputs_finite : bool
            Whether every input value was finite.
        """
        lengths = sequences.lengths
        n_seq, n_units = len(lengths), self.n_units
        order = np.argsort(-lengths, kind="stable").astype(np.intp)
        kept = np.maximum(lengths - store_from, 0)
        if keep_states:
            out_start = np.zeros(n_seq, np.intp)
            np.cumsum(kept[:-1], out=out_start[1:])
            states = np.empty((int(kept.sum()), n_units), self.dtype)
            out_start = np.ascontiguousarray(out_start[order])
        else:
            out_start = np.zeros(0, np.intp)
            states = np.empty((0, n_units), self.dtype)
        code = Pooling.NO_POOLING if pooling is None else POOLING_CODES[pooling]
        pooled = np.empty((n_seq if pooling else 0, n_units), self.dtype)
        final = np.empty((n_seq, n_units), self.dtype)
        if initial is None:
            initial = np.empty((0, n_units), self.dtype)
        inputs_finite = reservoir_states(
            sequences.data, np.ascontiguousarray(sequences.starts[order]),
            np.ascontiguousarray(lengths[order]), order,
            *self._kernel_weights(), np.ascontiguousarray(initial, dtype=self.dtype),
            store_from, out_start, states, code, pooled, final, CHUNK_SIZE,
            effective_n_threads(n_threads),
        )
        return (states if keep_states else None, pooled if pooling else None, final,
                inputs_finite)

    def generate(self, start, W_out, b_out, n_steps, n_threads=None):
        """Closed loop: from states ``start`` (n_sequences, n_units), emit the
        readout ``x @ W_out + b_out`` and feed it back as the next input,
        ``n_steps`` times. Returns (n_sequences, n_steps, n_outputs)."""
        W_out = np.ascontiguousarray(W_out, dtype=self.dtype)
        generated = np.empty((start.shape[0], n_steps, W_out.shape[1]), self.dtype)
        reservoir_generate(
            np.ascontiguousarray(start, dtype=self.dtype), *self._kernel_weights(),
            W_out, np.ascontiguousarray(b_out, dtype=self.dtype), generated,
            CHUNK_SIZE, effective_n_threads(n_threads),
        )
        return generated


def make_reservoir(n_features, *, n_units, spectral_radius, leak_rate, input_scaling,
                   bias_scaling, connectivity, input_connectivity, random_state, dtype):
    """Draw a reservoir's weights (reservoirpy's distributions, see the
    module docstring) from ``random_state`` (a RandomState)."""
    W = _sparse_random((n_units, n_units), connectivity, random_state,
                       lambda size: random_state.standard_normal(size))
    radius = spectral_radius_of(W, random_state)
    if radius > 0:
        W = W * (spectral_radius / radius)
    W_in = _sparse_random((n_features, n_units), input_connectivity, random_state,
                          lambda size: random_state.choice([-1.0, 1.0], size=size))
    W_in = W_in.toarray() * input_scaling
    bias = random_state.choice([-1.0, 1.0], size=n_units) * bias_scaling
    return ReservoirWeights(W_in, bias, W, leak_rate, dtype)


def _sparse_random(shape, density, random_state, sample):
    """A sparse array of ``shape`` with round(density * size) entries drawn
    by ``sample(size)`` at distinct random places."""
    size = shape[0] * shape[1]
    nnz = int(round(density * size))
    places = random_state.choice(size, size=nnz, replace=False) if nnz < size else (
        np.arange(size))
    rows, cols = np.divmod(places, shape[1])
    return scipy.sparse.csc_array((sample(nnz), (rows, cols)), shape=shape)


def spectral_radius_of(W, random_state):
    """The largest absolute eigenvalue of the square sparse array ``W``."""
    n = W.shape[0]
    if W.nnz == 0:
        return 0.0
    if n <= DENSE_EIGENVALUES_UP_TO:
        return float(np.max(np.abs(np.linalg.eigvals(W.toarray()))))
    # A start vector from random_state keeps ARPACK's answer reproducible.
    start = random_state.uniform(-1, 1, size=n)
    try:
        values = eigs(W.astype(np.float64), k=1, which="LM", v0=start,
                      maxiter=20 * n, return_eigenvectors=False)
    except ArpackNoConvergence as error:
        if len(error.eigenvalues) == 0:
            return float(np.max(np.abs(np.linalg.eigvals(W.toarray()))))
        values = error.eigenvalues
    return float(np.max(np.abs(values)))
