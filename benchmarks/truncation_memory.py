"""Peak memory of a fit on one long series, with and without truncated BPTT.

An ``RNNStepRegressor`` (LSTM, 64 units by default) learns next-step
forecasting of a single synthetic series of each length, one epoch, with
``bptt_truncate`` set to the window and unset. Each fit runs in a fresh
child process, which reports how far the fit raised its peak resident
memory above what it held before (the series itself is allocated before,
so the figure is what training adds). Untruncated, BPTT keeps every step's
activations and memory grows with the length; truncated, one window's.

Run it from the repository root::

    python benchmarks/truncation_memory.py
    python benchmarks/truncation_memory.py --steps 10000 100000 --window 100 --json out.json
"""

import argparse
import json
import os
import subprocess
import sys

from machine import cpu_description, peak_memory_growth_mib


def series(n_steps, seed=0):
    """A noisy sum of two sines: the input, and the next value as target."""
    import numpy as np

    rng = np.random.RandomState(seed)
    t = np.arange(n_steps + 1)
    values = np.sin(t / 20) + 0.5 * np.sin(t / 7.3) + 0.1 * rng.standard_normal(n_steps + 1)
    return values[:-1, np.newaxis], values[1:]


def child(n_steps, window, hidden, cell):
    """In a fresh process: fit once, print the peak memory growth (MiB) and
    the seconds the fit took."""
    import time
    import warnings

    from skrnn import RNNStepRegressor

    x, target = series(n_steps)
    model = RNNStepRegressor(hidden, cell=cell, max_iter=1, bptt_truncate=window,
                             random_state=0)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning of max_iter=1
            start = time.perf_counter()
            model.fit([x], [target])
            fit.seconds = time.perf_counter() - start

    print(peak_memory_growth_mib(fit), fit.seconds)


def measure(n_steps, window, hidden, cell):
    command = [sys.executable, os.path.abspath(__file__), "--child", str(n_steps),
               str(window or 0), str(hidden), cell]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    mib, seconds = (float(v) for v in out.split())
    return {"steps": n_steps, "bptt_truncate": window, "hidden": hidden, "cell": cell,
            "peak_mib": mib, "fit_seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n_steps, window, hidden, cell = args.child
        child(int(n_steps), int(window) or None, int(hidden), cell)
        return
    print(cpu_description())
    print(f"one series, {args.cell}, {args.hidden} units, one epoch of RNNStepRegressor")
    print()
    records = [measure(n_steps, window, args.hidden, args.cell)
               for n_steps in args.steps for window in (args.window, None)]
    print("| steps | bptt_truncate | peak memory of the fit (MiB) | fit (s) |")
    print("|--:|--:|--:|--:|")
    for r in records:
        print(f"| {r['steps']:,} | {r['bptt_truncate'] or 'None'} | {r['peak_mib']:,.1f} "
              f"| {r['fit_seconds']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(), "results": records}, f, indent=2)


if __name__ == "__main__":
    main()
