"""Time skrnn on 1 and 2 threads, on a quiet machine and beside one other
busy process.

Users run skrnn next to other work (GridSearchCV workers, notebooks). This
script times two jobs on 1 and on 2 threads, each alone and with one
competing CPU-bound process (a busy loop in a child process) running:

* ``main job``: the fit of ``python -m skrnn`` (an Elman RNN of 128 units on
  scikit-learn's digits, read row by row; about 40 epochs);
* ``lstm epoch``: one training epoch (``partial_fit``) of the standard
  workload of ``bench_vs_torch.py`` for the float32 LSTM at hidden 128
  (2,048 sequences of 64 steps of 16 features, batches of 64).

Each figure is the median of ``--repeats`` runs in fresh child processes,
so that one run's threads cannot outlive it; the table gives seconds and
the 2-thread time over the 1-thread time under the same conditions (below
1: the second thread pays off). Run it from the repository root on an
otherwise idle machine::

    python benchmarks/shared_machine.py
    python benchmarks/shared_machine.py --repeats 5 --json out.json
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

from machine import cpu_description

JOBS = ("main job", "lstm epoch")

_CHILD = r"""
import sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from skrnn import RNNClassifier
job, n_threads = sys.argv[1], int(sys.argv[2])
if job == "main job":
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    images, labels = load_digits(return_X_y=True)
    X = (images / 16.0).reshape(-1, 8, 8)
    X, _, y, _ = train_test_split(X, labels, test_size=0.25, random_state=0,
                                  stratify=labels)
    model = RNNClassifier(128, batch_size=64, learning_rate_init=0.003,
                          n_threads=n_threads, random_state=0)
    start = time.perf_counter()
    model.fit(X, y)
else:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2048, 64, 16)).astype(np.float32)
    y = rng.randint(0, 10, size=2048)
    model = RNNClassifier(128, cell="lstm", batch_size=64, n_threads=n_threads,
                          random_state=0)
    model.partial_fit(X[:128], y[:128], classes=np.arange(10))  # warm-up
    start = time.perf_counter()
    model.partial_fit(X, y)
print(time.perf_counter() - start)
"""

_BUSY_LOOP = "while True: pass"


def time_job(job, n_threads):
    result = subprocess.run([sys.executable, "-c", _CHILD, job, str(n_threads)],
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def measure(jobs, repeats):
    """{(job, load, n_threads): [seconds, ...]}; the runs of each condition
    interleaved, so that a drift of the machine touches them all alike."""
    times = {}
    for load in ("quiet", "busy"):
        busy = (subprocess.Popen([sys.executable, "-c", _BUSY_LOOP])
                if load == "busy" else None)
        try:
            if busy is not None:
                time.sleep(1.0)  # let it take its core
            for _ in range(repeats):
                for job in jobs:
                    for n_threads in (1, 2):
                        times.setdefault((job, load, n_threads), []).append(
                            time_job(job, n_threads))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return times


def format_table(times, jobs):
    lines = ["| job | load | 1 thread (s) | 2 threads (s) | 2 / 1 |",
             "|:--|:--|--:|--:|--:|"]
    for job in jobs:
        for load in ("quiet", "busy"):
            one = statistics.median(times[job, load, 1])
            two = statistics.median(times[job, load, 2])
            label = "alone" if load == "quiet" else "1 busy process"
            lines.append(f"| {job} | {label} | {one:.2f} | {two:.2f} | {two / one:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", nargs="+", choices=JOBS, default=list(JOBS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="also write the times here")
    args = parser.parse_args(argv)
    print(cpu_description())
    times = measure(args.jobs, args.repeats)
    print(format_table(times, args.jobs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(),
                       "times": [{"job": j, "load": l, "n_threads": n, "seconds": s}
                                 for (j, l, n), s in times.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
