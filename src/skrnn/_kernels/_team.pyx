"""The team of threads that runs the kernels' chunks (see ``_team.h``)."""

cdef extern from "_team.h":
    ctypedef void (*skrnn_team_task)(void *job, Py_ssize_t task, int worker) noexcept nogil
    int skrnn_team_available() noexcept nogil
    void skrnn_team_init() noexcept nogil
    void skrnn_team_run(int n_threads, Py_ssize_t n_tasks, skrnn_team_task task,
                        void *job) noexcept nogil


cdef void team_run(int n_threads, Py_ssize_t n_tasks, team_task task,
                   void *job) noexcept nogil:
    """Run ``task(job, t, worker)`` for every t < n_tasks on up to
    ``n_threads`` threads, the caller among them; ``worker`` < n_threads
    numbers the thread. Returns when every task is done."""
    skrnn_team_run(n_threads, n_tasks, <skrnn_team_task> task, job)


skrnn_team_init()


def team_available():
    """Whether kernels can run on several threads (pthreads and C11 atomics
    were available to the build)."""
    return bool(skrnn_team_available())

