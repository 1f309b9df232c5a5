"""How many threads the kernels may use.

The rule is scikit-learn's (``sklearn.utils._openmp_helpers``): honour
``OMP_NUM_THREADS`` and any threadpoolctl limit on OpenMP (both show up in
``omp_get_max_threads``), otherwise use the physical cores, and read a
negative request the joblib way (-1: all, -2: all but one, ...). The
kernels' threads are their own (``_team.h``), but they follow the limits
users set for OpenMP, as scikit-learn's do. Built without OpenMP, skrnn
reads ``OMP_NUM_THREADS`` itself.
"""

import os
from functools import lru_cache

from joblib import cpu_count

from ._team import team_available

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
        At least 1; always 1 where the kernels cannot start threads.
    """
    if n_threads == 0:
        raise ValueError("n_threads == 0 is not allowed; use None for all threads.")
    if not team_available():
        return 1
    if n_threads is not None and n_threads > 0:
        return int(n_threads)
    max_threads = _allowed_threads()
    if n_threads is None:
        return max_threads
    return max(1, max_threads + n_threads + 1)


def _allowed_threads():
    """What OMP_NUM_THREADS and threadpoolctl allow, else the physical cores."""
    if skrnn_openmp_enabled():
        if os.getenv("OMP_NUM_THREADS"):
            return skrnn_omp_max_threads()
        return min(skrnn_omp_max_threads(), _physical_cores())
    try:
        # OpenMP's own reading: the first entry of a list like "4,2".
        return max(1, int(os.environ["OMP_NUM_THREADS"].split(",")[0]))
    except (KeyError, ValueError):
        return _physical_cores()


@lru_cache(maxsize=1)
def _physical_cores():
    # joblib reads /proc and the cgroup files each time (about 0.25 ms, paid
    # by every fit and predict call); the answer does not change.
    return cpu_count(only_physical_cores=True)
