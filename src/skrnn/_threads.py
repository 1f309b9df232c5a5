"""Thread settings around kernel calls.

A fit holds BLAS to one thread, so that the products NumPy makes between
the kernels' passes start no BLAS threads to spin against the kernels'
own. threadpoolctl finds the BLAS libraries by scanning every loaded
library, which costs milliseconds, and its ``limit`` reads every library's
settings on entry, some ten microseconds: the BLAS libraries are therefore
found once, and ``single_threaded_blas`` sets and restores their thread
counts itself, so that ``partial_fit`` on a small chunk pays neither.
"""

from functools import lru_cache

from threadpoolctl import ThreadpoolController

from ._kernels._openmp import effective_n_threads  # noqa: F401  (re-exported)


@lru_cache(maxsize=1)
def _blas_libraries():
    # Found after the kernels are imported, so that the BLAS they call
    # (scipy's, loaded by scipy.linalg.cython_blas) is among them.
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


class single_threaded_blas:
    """Context manager: BLAS libraries limited to one thread inside it, and
    given back the thread counts they had on leaving it."""

    def __enter__(self):
        self._restore = []
        for library in _blas_libraries():
            n_threads = library.get_num_threads()
            if n_threads != 1:
                library.set_num_threads(1)
                self._restore.append((library, n_threads))
        return self

    def __exit__(self, *exc_info):
        for library, n_threads in self._restore:
            library.set_num_threads(n_threads)
        return False
