"""Thread settings around kernel calls.

A fit holds BLAS to one thread, so that the products NumPy makes between
the kernels' passes start no BLAS threads to spin against the kernels'
own. threadpoolctl's ``threadpool_limits``
finds the BLAS libraries by scanning every loaded library, which costs
milliseconds; the controller is therefore built once and reused, so that
``predict`` on one sequence or a ``partial_fit`` on a small chunk does not pay
that scan each time.
"""

from functools import lru_cache

from threadpoolctl import ThreadpoolController

from ._kernels._openmp import effective_n_threads  # noqa: F401  (re-exported)


@lru_cache(maxsize=1)
def _controller():
    # Built after the kernels are imported, so it sees the BLAS they call
    # (scipy's, loaded by scipy.linalg.cython_blas).
    return ThreadpoolController()


def single_threaded_blas():
    """Context manager: BLAS libraries limited to one thread inside it."""
    return _controller().limit(limits=1, user_api="blas")
