"""The Echo State Network's readout: ridge regression in closed form, from
normal equations that grow chunk by chunk.

For features F (one row per reservoir state) and targets Y, with an
intercept that is not penalised (as ``sklearn.linear_model.Ridge`` leaves
it), the readout solves

    ([F 1]^T D [F 1] + alpha * diag(1, ..., 1, 0)) [W; b] = [F 1]^T D Y

where D holds the rows' weights. Both sides are sums over rows, so a stream
of chunks (``partial_fit``) accumulates the same sums that one ``fit`` over
all the rows forms, and solves the same system. They are kept in float64
whatever the reservoir's dtype: a float32 sum over many thousands of
states would lose the digits that a small ``alpha`` leaves to the solve.
"""

import numpy as np
import scipy.linalg

from ._kernels._dense import product
from ._threads import single_threaded_blas


class RidgeReadout:
    """Normal equations of a ridge readout, and their solution.

    Parameters
    ----------
    n_features : int
        Reservoir units (columns of F).
    n_outputs : int
        Columns of Y.
    """

    def __init__(self, n_features, n_outputs):
        self.gram = np.zeros((n_features + 1, n_features + 1))
        self.moments = np.zeros((n_features + 1, n_outputs))
        self.total_weight = 0.0

    @property
    def n_outputs(self):
        return self.moments.shape[1]

    def copy(self):
        """An independent copy, to add rows to without changing this one."""
        copy = RidgeReadout.__new__(RidgeReadout)
        copy.gram, copy.moments = self.gram.copy(), self.moments.copy()
        copy.total_weight = self.total_weight
        return copy

    def add(self, F, Y, weights=None, n_threads=1):
        """Add the rows F (n, n_features) with targets Y (n, n_outputs) and
        optional weights (n,), the products on ``n_threads`` threads.

        The products run on the kernels' own (``skrnn._kernels._dense.product``)
        rather than BLAS: BLAS's threads spin for a while after each call,
        against the reservoir kernel's threads of the next run, and the
        solve below holds BLAS to one thread for the same reason."""
        F1 = np.empty((F.shape[0], F.shape[1] + 1))
        F1[:, :-1] = F
        F1[:, -1] = 1.0
        weighted = F1 if weights is None else F1 * np.asarray(weights, float)[:, None]
        product(weighted, F1, self.gram, trans_a=True, accumulate=True, n_threads=n_threads)
        product(weighted, np.ascontiguousarray(Y, dtype=np.float64), self.moments,
                trans_a=True, accumulate=True, n_threads=n_threads)
        self.total_weight += F.shape[0] if weights is None else float(np.sum(weights))

    def solve(self, alpha):
        """The readout (coef of shape (n_outputs, n_features), intercept of
        shape (n_outputs,)) of the rows added so far."""
        if self.total_weight <= 0:
            raise ValueError("The readout has no rows of positive weight to fit.")
        system = self.gram.copy()
        n = system.shape[0] - 1
        system[np.arange(n), np.arange(n)] += alpha
        with single_threaded_blas():
            return self._solve(system)

    def _solve(self, system):
        """The solution of ``system`` (the penalised normal equations) for
        the moments."""
        try:
            # Cholesky: the system is symmetric positive definite for alpha > 0.
            factor = scipy.linalg.cho_factor(system, check_finite=False)
            solution = scipy.linalg.cho_solve(factor, self.moments, check_finite=False)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            solution = None
        if solution is None or not np.all(np.isfinite(solution)):
            # Singular (alpha=0 with collinear states, or too few rows): the
            # least-norm solution, as Ridge gives it through lstsq.
            solution = scipy.linalg.lstsq(system, self.moments, check_finite=False)[0]
        return solution[:-1].T.copy(), solution[-1].copy()
