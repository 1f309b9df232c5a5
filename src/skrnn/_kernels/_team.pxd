# The team of threads that runs a kernel's chunks (_team.h says how, and why
# not an OpenMP parallel region).
#
# A kernel puts its arguments in a struct of its own (the job), writes a
# task function that runs one chunk of that job, and calls ``team_run``.

ctypedef void (*team_task)(void *job, Py_ssize_t task, int worker) noexcept nogil

cdef void team_run(int n_threads, Py_ssize_t n_tasks, team_task task,
                   void *job) noexcept nogil
