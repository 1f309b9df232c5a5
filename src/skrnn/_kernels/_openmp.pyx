"""How many OpenMP threads the kernels may use.

The rule is scikit-learn's (``sklearn.utils._openmp_helpers``): honour
``OMP_NUM_THREADS`` and any threadpoolctl limit on OpenMP (both show up in
``omp_get_max_threads``), otherwise use the physical cores, and read a
negative request the joblib way (-1: all, -2: all but one, ...).

One exception: a process forked after the kernels ran on several threads
runs them on one. GNU OpenMP's thread pool does not survive ``fork`` (the
child would wait forever for threads that were not copied), and a team of
one never uses the pool.
"""

import os
from functools import lru_cache

from joblib import cpu_count

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int skrnn_openmp_enabled(void) { return 1; }
    static int skrnn_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int skrnn_openmp_enabled(void) { return 0; }
    static int skrnn_omp_max_threads(void) { return 1; }
    #endif
    """
    int skrnn_openmp_enabled() noexcept nogil
    int skrnn_omp_max_threads() noexcept nogil


def openmp_enabled():
    """Whether the kernels were compiled with OpenMP."""
    return bool(skrnn_openmp_enabled())


def effective_n_threads(n_threads=None):
    """Number of threads a kernel should use for a requested ``n_threads``.

    Parameters
    ----------
    n_threads : int or None
        ``None``: as many as allowed (``OMP_NUM_THREADS``, threadpoolctl
        limits, else the number of physical cores). A positive int is used
        as given; a negative one counts back from the allowed maximum.

    Returns
    -------
    int
        At least 1; always 1 when OpenMP is not available.
    """
    global _threads_started
    if n_threads == 0:
        raise ValueError("n_threads == 0 is not allowed; use None for all threads.")
    if not skrnn_openmp_enabled() or _forked_after_threads:
        return 1
    if n_threads is not None and n_threads > 0:
        n = int(n_threads)
    else:
        if os.getenv("OMP_NUM_THREADS"):
            max_threads = skrnn_omp_max_threads()
        else:
            max_threads = min(skrnn_omp_max_threads(), _physical_cores())
        n = max_threads if n_threads is None else max(1, max_threads + n_threads + 1)
    # The kernels are about to start a team of n (see the module docstring).
    _threads_started |= n > 1
    return n


_threads_started = False
_forked_after_threads = False


def _after_fork_in_child():
    global _forked_after_threads
    _forked_after_threads = _threads_started


os.register_at_fork(after_in_child=_after_fork_in_child)


@lru_cache(maxsize=1)
def _physical_cores():
    # joblib reads /proc and the cgroup files each time (about 0.25 ms, paid
    # by every fit and predict call); the answer does not change.
    return cpu_count(only_physical_cores=True)
