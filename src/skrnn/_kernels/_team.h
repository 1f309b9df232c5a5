/* A team of threads that runs the tasks of one job (the chunks of a
 * mini-batch) and never waits for a thread that has not started.
 *
 * Why not an OpenMP parallel region: a region ends at a barrier that every
 * thread of the team must reach. On a core shared with another busy
 * process, a thread that is not scheduled (or that spins, competing with
 * that process for the core) holds every other thread at the barrier for
 * whole time slices, and two threads end up slower than one. Here the
 * caller claims tasks like any worker and returns once every task is done:
 * a worker that wakes late finds no task left and goes back to waiting, so
 * the worst case is the caller running the whole job alone.
 *
 * Tasks are claimed from a shared counter, so which thread runs a task
 * varies from run to run; the kernels make each task write only its own
 * outputs, and give each thread its own scratch row by its worker number,
 * so results do not depend on it.
 *
 * Workers spin for a while after a job (during training the next one
 * usually comes within a millisecond, and waking a sleeping thread costs
 * tens of microseconds), then sleep on a condition variable.
 *
 * The machine may be shared: when other processes keep so many cores busy
 * that the team would not have a core for each of its threads (Linux: the
 * runnable count of /proc/loadavg, less this process's own runnable
 * threads, at three looks in a row 10 ms apart, so that a process busy for
 * a moment does not count), the caller runs the job alone and the workers
 * do not spin. A thread that gets a core only part
 * of the time makes every job wait for the chunk it holds, and a spinning
 * one takes its time from the caller or the other processes: on a crowded
 * machine one thread is faster. One job runs at a time: a call made while
 * another is running
 * (from another Python thread) runs its tasks alone, on the calling thread.
 * After fork() the child starts new workers (the parent's do not exist
 * there).
 */
#ifndef SKRNN_TEAM_H
#define SKRNN_TEAM_H

#include <stddef.h>
#include <Python.h>   /* Py_ssize_t */

typedef void (*skrnn_team_task)(void *job, Py_ssize_t task, int worker);

#if defined(_WIN32) || !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L \
    || defined(__STDC_NO_ATOMICS__)

/* No pthreads or C11 atomics: every job runs on the calling thread. */
static int skrnn_team_available(void) { return 0; }
static void skrnn_team_init(void) {}
static void skrnn_team_run(int n_threads, Py_ssize_t n_tasks,
                           skrnn_team_task task, void *job) {
    Py_ssize_t t;
    (void) n_threads;
    for (t = 0; t < n_tasks; t++) task(job, t, 0);
}

#else

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>
#ifdef __linux__
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SKRNN_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SKRNN_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SKRNN_CPU_RELAX() ((void) 0)
#endif

/* Workers kept at most; more threads than this are never started. */
#define SKRNN_TEAM_MAX_WORKERS 255
/* How long an idle worker spins before it sleeps, in nanoseconds. */
#define SKRNN_TEAM_SPIN_NS 1000000
/* How often the caller looks again whether the machine is crowded, and
 * how many looks in a row must find it so. */
#define SKRNN_TEAM_LOAD_CHECK_NS 10000000
#define SKRNN_TEAM_CROWDED_LOOKS 3

typedef struct {
    skrnn_team_task task;
    void *job;
    Py_ssize_t n_tasks;
    int n_threads;              /* workers numbered below this take part */
    _Alignas(64) atomic_ptrdiff_t next;  /* next task to claim */
    _Alignas(64) atomic_ptrdiff_t done;  /* tasks finished */
} skrnn_team_job;

static struct {
    pthread_mutex_t run_lock;   /* held by the caller of the running job */
    pthread_mutex_t mutex;      /* guards sleepers, caller_waiting */
    pthread_cond_t wake;        /* a new job was published */
    pthread_cond_t finished;    /* the last task of a job is done */
    int n_workers;              /* workers started (caller only) */
    int sleepers;
    int caller_waiting;
    int atfork_registered;
    int grow_failed;            /* pthread_create failed (caller only) */
    int64_t next_load_check;    /* caller only, under run_lock */
    int crowded_looks;          /* looks in a row that found it crowded (idem) */
    atomic_int crowded;         /* the last look found the machine crowded */
    _Atomic(skrnn_team_job *) current;
    atomic_int active;          /* workers inside a job */
    /* Read over and over by spinning workers: on a cache line of its own,
     * so that writes to the fields above do not disturb them. */
    _Alignas(64) atomic_uint generation;  /* bumped for every job published */
    char padding[64 - sizeof(atomic_uint)];
} skrnn_team = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
    0, 0, 0, 0, 0, 0, 0, 0, NULL, 0, 0, {0},
};

static int skrnn_team_available(void) { return 1; }

static int64_t skrnn_team_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void skrnn_team_claim_tasks(skrnn_team_job *job, int worker) {
    for (;;) {
        Py_ssize_t t = (Py_ssize_t) atomic_fetch_add(&job->next, 1);
        if (t >= job->n_tasks) return;
        job->task(job->job, t, worker);
        if (atomic_fetch_add(&job->done, 1) + 1 == job->n_tasks) {
            pthread_mutex_lock(&skrnn_team.mutex);
            if (skrnn_team.caller_waiting) pthread_cond_signal(&skrnn_team.finished);
            pthread_mutex_unlock(&skrnn_team.mutex);
        }
    }
}

/* Threads runnable on the machine now (this one included), or -1 where
 * that cannot be read. */
static long skrnn_team_runnable_threads(void) {
#ifdef __linux__
    char text[128];
    ssize_t n;
    const char *p = text;
    int fd = open("/proc/loadavg", O_RDONLY);
    if (fd < 0) return -1;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    /* "0.52 0.58 0.59 3/467 12345": the fourth field is runnable/total. */
    for (int field = 0; field < 3 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL) p++;
    }
    return p == NULL ? -1 : strtol(p, NULL, 10);
#else
    return -1;
#endif
}

#ifdef __linux__
/* Threads of this process that are runnable now (state R), or -1. Other
 * libraries' thread pools in this process (BLAS, another OpenMP runtime)
 * are the user's own work, and spin only for a moment after it. */
static long skrnn_team_own_runnable_threads(void) {
    char path[300], text[512];
    long running = 0;
    struct dirent *entry;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    while ((entry = readdir(tasks)) != NULL) {
        ssize_t n;
        int fd;
        const char *state;
        if (entry->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", entry->d_name);
        fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n <= 0) continue;
        text[n] = 0;
        /* "tid (name) S ...": the state follows the last ')'. */
        state = strrchr(text, ')');
        if (state != NULL && state[1] == ' ' && state[2] == 'R') running++;
    }
    closedir(tasks);
    return running;
}
#endif

/* Whether other processes' runnable threads and a team of n_threads would
 * be more than the machine's CPUs (all counted machine-wide). */
static int skrnn_team_is_crowded(int n_threads) {
#ifdef __linux__
    long runnable = skrnn_team_runnable_threads();
    long own = skrnn_team_own_runnable_threads();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long others = runnable - own;
    if (runnable < 0 || own < 0 || cpus < 1) return 0;
    return others > 0 && others + n_threads > cpus;
#else
    (void) n_threads;
    return 0;
#endif
}

/* Spin until a job newer than `seen` is published or the spin time is
 * over; returns the generation last read. */
static unsigned skrnn_team_spin(unsigned seen) {
    unsigned generation;
    int64_t until = skrnn_team_now_ns() + SKRNN_TEAM_SPIN_NS;
    int spins = 0;
    while ((generation = atomic_load_explicit(&skrnn_team.generation,
                                              memory_order_acquire)) == seen) {
        SKRNN_CPU_RELAX();
        if (++spins % 64 == 0 && skrnn_team_now_ns() > until) break;
    }
    return generation;
}

/* A worker's argument: its number, and the generation it starts after. */
#define SKRNN_TEAM_WORKER_BITS 16

static void *skrnn_team_worker(void *arg) {
    uintptr_t packed = (uintptr_t) arg;
    int worker = (int) (packed & ((1u << SKRNN_TEAM_WORKER_BITS) - 1));
    /* The generation before the job this worker was started for, so that
     * it takes part in that job too. */
    unsigned seen = (unsigned) (packed >> SKRNN_TEAM_WORKER_BITS);
    for (;;) {
        unsigned generation = atomic_load_explicit(&skrnn_team.generation,
                                                   memory_order_acquire);
        if (generation == seen && !atomic_load(&skrnn_team.crowded))
            generation = skrnn_team_spin(seen);
        if (generation == seen) {
            pthread_mutex_lock(&skrnn_team.mutex);
            while ((generation = atomic_load(&skrnn_team.generation)) == seen) {
                skrnn_team.sleepers++;
                pthread_cond_wait(&skrnn_team.wake, &skrnn_team.mutex);
                skrnn_team.sleepers--;
            }
            pthread_mutex_unlock(&skrnn_team.mutex);
        }
        seen = generation;
        /* With `current` read after `active` is raised (both sequentially
         * consistent), the caller, which clears `current` and then waits
         * for `active` to fall to 0, never returns (ending the job's
         * lifetime) while this worker may still touch the job. */
        atomic_fetch_add(&skrnn_team.active, 1);
        skrnn_team_job *job = atomic_load(&skrnn_team.current);
        if (job != NULL && worker < job->n_threads) skrnn_team_claim_tasks(job, worker);
        atomic_fetch_sub(&skrnn_team.active, 1);
    }
    return NULL;
}

static void skrnn_team_after_fork_in_child(void) {
    /* Only the forking thread exists in the child: no workers, no job. */
    pthread_mutex_init(&skrnn_team.run_lock, NULL);
    pthread_mutex_init(&skrnn_team.mutex, NULL);
    pthread_cond_init(&skrnn_team.wake, NULL);
    pthread_cond_init(&skrnn_team.finished, NULL);
    skrnn_team.n_workers = 0;
    skrnn_team.sleepers = 0;
    skrnn_team.caller_waiting = 0;
    skrnn_team.next_load_check = 0;
    skrnn_team.grow_failed = 0;
    skrnn_team.crowded_looks = 0;
    atomic_store(&skrnn_team.crowded, 0);
    atomic_store(&skrnn_team.current, NULL);
    atomic_store(&skrnn_team.active, 0);
}

/* Register the fork handler: once, when the module is loaded. */
static void skrnn_team_init(void) {
    if (!skrnn_team.atfork_registered) {
        pthread_atfork(NULL, NULL, skrnn_team_after_fork_in_child);
        skrnn_team.atfork_registered = 1;
    }
}

/* Start workers until there are n - 1 (or as many as can be started; once
 * pthread_create has failed, no more are tried until a fork). */
static void skrnn_team_grow(int n) {
    sigset_t all, previous;
    unsigned generation = atomic_load(&skrnn_team.generation);
    if (skrnn_team.n_workers >= n - 1 || skrnn_team.grow_failed) return;
    /* Workers block every signal, so that signals go to the caller's
     * threads (Python handles them on its main thread). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    while (skrnn_team.n_workers < n - 1
           && skrnn_team.n_workers < SKRNN_TEAM_MAX_WORKERS) {
        pthread_t thread;
        pthread_attr_t attr;
        uintptr_t arg = ((uintptr_t) generation << SKRNN_TEAM_WORKER_BITS)
                        | (uintptr_t) (skrnn_team.n_workers + 1);
        int failed;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        failed = pthread_create(&thread, &attr, skrnn_team_worker, (void *) arg);
        pthread_attr_destroy(&attr);
        if (failed) {
            skrnn_team.grow_failed = 1;
            break;
        }
        skrnn_team.n_workers++;
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}

/* Run task(job, t, worker) for t in [0, n_tasks) on up to n_threads
 * threads, the caller among them (worker 0); return when all are done.
 * Worker numbers are below n_threads. */
static void skrnn_team_run(int n_threads, Py_ssize_t n_tasks,
                           skrnn_team_task task, void *job_arg) {
    skrnn_team_job job;
    Py_ssize_t t;
    if (n_threads <= 1 || n_tasks <= 1
            || pthread_mutex_trylock(&skrnn_team.run_lock) != 0) {
        for (t = 0; t < n_tasks; t++) task(job_arg, t, 0);
        return;
    }
    {
        int64_t now = skrnn_team_now_ns();
        if (now >= skrnn_team.next_load_check) {
            skrnn_team.crowded_looks = skrnn_team_is_crowded(n_threads)
                ? skrnn_team.crowded_looks + 1 : 0;
            atomic_store(&skrnn_team.crowded,
                         skrnn_team.crowded_looks >= SKRNN_TEAM_CROWDED_LOOKS);
            skrnn_team.next_load_check = now + SKRNN_TEAM_LOAD_CHECK_NS;
        }
    }
    if (atomic_load(&skrnn_team.crowded)) {
        pthread_mutex_unlock(&skrnn_team.run_lock);
        for (t = 0; t < n_tasks; t++) task(job_arg, t, 0);
        return;
    }
    skrnn_team_grow(n_threads);
    job.task = task;
    job.job = job_arg;
    job.n_tasks = n_tasks;
    job.n_threads = n_threads;
    atomic_init(&job.next, 0);
    atomic_init(&job.done, 0);
    atomic_store(&skrnn_team.current, &job);
    pthread_mutex_lock(&skrnn_team.mutex);
    atomic_fetch_add_explicit(&skrnn_team.generation, 1, memory_order_release);
    if (skrnn_team.sleepers > 0) pthread_cond_broadcast(&skrnn_team.wake);
    pthread_mutex_unlock(&skrnn_team.mutex);

    skrnn_team_claim_tasks(&job, 0);

    if (atomic_load(&job.done) != n_tasks) {
        /* Workers are finishing their last tasks: spin a little, then sleep. */
        int64_t until = skrnn_team_now_ns() + SKRNN_TEAM_SPIN_NS;
        int spins = 0;
        while (atomic_load_explicit(&job.done, memory_order_acquire) != n_tasks) {
            SKRNN_CPU_RELAX();
            if (++spins % 64 == 0 && skrnn_team_now_ns() > until) break;
        }
        pthread_mutex_lock(&skrnn_team.mutex);
        skrnn_team.caller_waiting = 1;
        while (atomic_load(&job.done) != n_tasks)
            pthread_cond_wait(&skrnn_team.finished, &skrnn_team.mutex);
        skrnn_team.caller_waiting = 0;
        pthread_mutex_unlock(&skrnn_team.mutex);
    }
    atomic_store(&skrnn_team.current, NULL);
    /* Workers that took the job up late leave at once: no task is left.
     * One may have lost its core just then: yield it back. */
    for (int spins = 0; atomic_load(&skrnn_team.active) != 0; spins++) {
        if (spins < 1000) SKRNN_CPU_RELAX();
        else sched_yield();
    }
    pthread_mutex_unlock(&skrnn_team.run_lock);
}

#endif
#endif
