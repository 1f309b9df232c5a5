"""The Echo State Network's reservoir: its random weights, and its runs over
``Sequences`` through the kernel of ``skrnn._kernels._reservoir``.

The weights follow reservoirpy's defaults, so that the same hyperparameters
mean the same reservoir: W holds normal values at a fraction
``connectivity`` of its entries, rescaled to the spectral radius asked for;
W_in holds +-1 at a fraction ``input_connectivity`` of its entries, times
``input_scaling``; the bias is +-1 times ``bias_scaling``.
"""

import collections
import threading

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

# W's product runs dense (the packed product, which does all n_units**2
# multiply-adds, but many times faster per entry than the sparse loop) when
# at least this fraction of W's entries are nonzero; or when the chunks
# hold at least DENSE_FROM_ROWS sequences and the reservoir has at most
# DENSE_UP_TO_UNITS units, where the packed product shares each block of W
# among a chunk's rows while it sits in cache. Otherwise it runs sparse
# (per row, over the stored entries): one long series, or large reservoirs.
SPARSE_BELOW_DENSITY = 0.2
DENSE_FROM_ROWS = 8
DENSE_UP_TO_UNITS = 1024

# Reservoirs up to this size take their spectral radius from all of W's
# eigenvalues (LAPACK); larger ones from ARPACK's few largest, which is
# faster from about 130 units on.
DENSE_EIGENVALUES_UP_TO = 128


class ReservoirWeights:
    """The fixed weights of a reservoir, in the forms the kernel reads.

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
        self._forced = None
        self._forms = {}

    @property
    def n_units(self):
        return self.W_in.shape[1]

    def uses_sparse_product(self, n_sequences):
        """Whether a run over ``n_sequences`` sequences multiplies by W
        sparse (see SPARSE_BELOW_DENSITY)."""
        if self._forced is not None:
            return self._forced == "sparse"
        n_units = self.n_units
        if self.W.nnz >= SPARSE_BELOW_DENSITY * n_units * n_units:
            return False
        rows = min(n_sequences, CHUNK_SIZE)
        return not (rows >= DENSE_FROM_ROWS and n_units <= DENSE_UP_TO_UNITS)

    @property
    def is_sparse(self):
        """Whether the product runs sparse for one sequence."""
        return self.uses_sparse_product(1)

    def with_product(self, sparse):
        """These weights with W's product forced sparse or dense (for tests
        and benchmarks)."""
        copy = ReservoirWeights.__new__(ReservoirWeights)
        copy.__dict__.update(self.__dict__)
        copy._forced = "sparse" if sparse else "dense"
        return copy

    def _form(self, sparse):
        """W as the kernel reads it: (dense, col_ptr, row_index, values),
        the unused form empty; built once and kept."""
        if sparse not in self._forms:
            empty_index = np.zeros(0, np.intc)
            if sparse:
                self._forms[sparse] = (
                    np.zeros((0, 0), self.dtype), self.W.indptr.astype(np.intc),
                    self.W.indices.astype(np.intc), np.ascontiguousarray(self.W.data))
            else:
                self._forms[sparse] = (np.ascontiguousarray(self.W.toarray()),
                                       empty_index, empty_index,
                                       np.zeros(0, self.dtype))
        return self._forms[sparse]

    def _kernel_weights(self, n_sequences):
        return (self.W_in, self.bias, *self._form(self.uses_sparse_product(n_sequences)),
                self.leak_rate)

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
            *self._kernel_weights(n_seq), np.ascontiguousarray(initial, dtype=self.dtype),
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
            np.ascontiguousarray(start, dtype=self.dtype),
            *self._kernel_weights(start.shape[0]),
            W_out, np.ascontiguousarray(b_out, dtype=self.dtype), generated,
            CHUNK_SIZE, effective_n_threads(n_threads),
        )
        return generated


def make_reservoir(n_features, *, n_units, spectral_radius, leak_rate, input_scaling,
                   bias_scaling, connectivity, input_connectivity, random_state, dtype):
    """Draw a reservoir's weights (reservoirpy's distributions, see the
    module docstring) from ``random_state`` (a RandomState)."""
    # A Generator seeded from random_state: its choice without replacement
    # draws the nonzero places without shuffling all n_units**2 of them.
    seed = random_state.randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    W, radius = _recurrent_weights(seed, n_units, connectivity, rng)
    W = W * (spectral_radius / radius) if radius > 0 else W.copy()
    W_in = _sparse_random((n_features, n_units), input_connectivity, rng,
                          lambda size: rng.choice([-1.0, 1.0], size=size))
    W_in = W_in.toarray() * input_scaling
    bias = rng.choice([-1.0, 1.0], size=n_units) * bias_scaling
    return ReservoirWeights(W_in, bias, W, leak_rate, dtype)


# The recurrent weights drawn lately, before their rescaling, with their
# spectral radius and the generator's state after both, by the seed they
# were drawn from: a grid search over spectral_radius, leak_rate or alpha
# refits the same reservoir in every fold and candidate, and this spares it
# the eigenvalue problem each time, a large part of a fit on one series.
# The generator is left as the draw would have left it, so a fit is the
# same whether or not it was found here. At most RECENT_DRAWS_KEPT draws
# are kept, holding at most RECENT_DRAWS_MAX_NONZEROS stored values
# together (48 MB).
_RECENT_DRAWS = collections.OrderedDict()
_RECENT_DRAWS_LOCK = threading.Lock()
RECENT_DRAWS_KEPT = 8
RECENT_DRAWS_MAX_NONZEROS = 4_000_000


def _recurrent_weights(seed, n_units, connectivity, rng):
    """W (not yet rescaled) and its spectral radius, drawn from ``rng``
    (seeded with ``seed``), or as they were drawn last time; either way
    ``rng`` ends in the state the draw leaves it in. W must not be
    modified: it may be kept for the next draw."""
    key = (seed, n_units, connectivity)
    with _RECENT_DRAWS_LOCK:
        found = _RECENT_DRAWS.get(key)
        if found is not None:
            _RECENT_DRAWS.move_to_end(key)
    if found is not None:
        W, radius, state = found
        rng.bit_generator.state = state
        return W, radius
    W = _sparse_random((n_units, n_units), connectivity, rng, rng.standard_normal)
    radius = spectral_radius_of(W, rng)
    if W.nnz <= RECENT_DRAWS_MAX_NONZEROS:
        with _RECENT_DRAWS_LOCK:
            _RECENT_DRAWS[key] = (W, radius, rng.bit_generator.state)
            while len(_RECENT_DRAWS) > RECENT_DRAWS_KEPT or sum(
                    w.nnz for w, _, _ in _RECENT_DRAWS.values()) > RECENT_DRAWS_MAX_NONZEROS:
                _RECENT_DRAWS.popitem(last=False)  # the least recently drawn
    return W, radius


def _sparse_random(shape, density, rng, sample):
    """A sparse array of ``shape`` with round(density * size) entries drawn
    by ``sample(size)`` at distinct random places."""
    size = shape[0] * shape[1]
    nnz = int(round(density * size))
    places = rng.choice(size, size=nnz, replace=False, shuffle=False)
    rows, cols = np.divmod(places, shape[1])
    return scipy.sparse.csc_array((sample(nnz), (rows, cols)), shape=shape)


# ARPACK's Krylov subspace. Its default (20 vectors for one eigenvalue)
# can settle on an eigenvalue inside the spectrum of a random reservoir,
# whose eigenvalues crowd the edge of a disc; 64 found the largest in
# every case tried, in fewer iterations.
ARPACK_VECTORS = 64
# The relative accuracy asked of ARPACK's eigenvalue: the radius comes out
# within about this fraction of the true one, far finer than any choice of
# spectral_radius needs; each further digit costs ARPACK more restarts.
ARPACK_TOL = 1e-6


def spectral_radius_of(W, rng):
    """The largest absolute eigenvalue of the square sparse array ``W``."""
    n = W.shape[0]
    if W.nnz == 0:
        return 0.0
    if n <= DENSE_EIGENVALUES_UP_TO:
        return float(np.max(np.abs(np.linalg.eigvals(W.toarray()))))
    # A start vector from rng keeps ARPACK's answer reproducible.
    start = rng.uniform(-1, 1, size=n)
    try:
        values = eigs(W.astype(np.float64), k=1, which="LM", v0=start, tol=ARPACK_TOL,
                      ncv=min(n - 1, ARPACK_VECTORS), maxiter=20 * n,
                      return_eigenvectors=False)
    except ArpackNoConvergence as error:
        if len(error.eigenvalues) == 0:
            return float(np.max(np.abs(np.linalg.eigvals(W.toarray()))))
        values = error.eigenvalues
    return float(np.max(np.abs(values)))
