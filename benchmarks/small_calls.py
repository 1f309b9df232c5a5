"""Time skrnn's small calls against PyTorch's on the CPU: what online
inference and streaming training cost per call.

Two calls, for each cell, dtype and thread count, in one process:

* ``predict-one``: the class of one sequence (by default 50 steps of 16
  features, 64 units, 10 classes). skrnn: ``RNNClassifier.predict`` on a
  (1, steps, features) array. PyTorch: ``torch.from_numpy``, the forward
  pass of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` + ``nn.Linear`` under
  ``torch.inference_mode()``, ``argmax`` and ``.numpy()``.
* ``partial-fit-16``: one training step on 16 such sequences. skrnn:
  ``RNNClassifier.partial_fit`` with ``batch_size=16`` (one mini-batch).
  PyTorch: the same network's forward pass, cross-entropy, ``backward``,
  ``clip_grad_norm_`` and ``Adam.step`` (``bench_vs_torch.TorchPeer``, one
  mini-batch of 16).

Each figure is the mean time of one call over a loop of calls lasting at
least ``--seconds``, the best of ``--repeats`` loops; the libraries take
turns. The ratio is PyTorch's time over skrnn's: above 1, skrnn is faster.

Run it from the repository root, on an otherwise idle machine::

    python benchmarks/small_calls.py
    python benchmarks/small_calls.py --cells lstm --threads 1 2 --json small.json
    python benchmarks/targets.py small.json

The PyTorch peer needs ``pip install torch==2.13.0``; without it the
script prints skrnn's figures alone.
"""

import argparse
import gc
import json
import platform
import sys
import time
import warnings

import numpy as np

import skrnn
from bench_vs_torch import N_CLASSES, SEED, TorchPeer, make_skrnn, setup_frozen
from machine import cpu_model, torch_kernels, vector_isa
from skrnn._kernels._dense import instruction_set
from threadpoolctl import threadpool_limits

try:
    import torch
except ImportError:  # the benchmark still reports skrnn alone
    torch = None

CALLS = ("predict-one", "partial-fit-16")
BATCH = 16


def per_call_seconds(func, seconds, repeats):
    """The best, over ``repeats`` loops of at least ``seconds``, of the mean
    time of one call of ``func()``."""
    func()  # warm-up: caches, lazily built state
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        calls, start = 0, time.perf_counter()
        while True:
            func()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = min(best, elapsed / calls)
    return best


def torch_predict_one(peer):
    def call(x):
        with torch.inference_mode():
            return peer.forward(torch.from_numpy(x)).argmax(dim=1).numpy()
    return call


def bench(cell, dtype, n_threads, args):
    rng = np.random.RandomState(SEED)
    X = rng.normal(size=(BATCH, args.steps, args.features)).astype(dtype)
    y = rng.randint(0, N_CLASSES, size=BATCH)
    one = X[:1].copy()
    model = make_skrnn(cell, args.hidden, BATCH, n_threads)
    # A stream's first call names the classes; the timed calls are the next.
    model.partial_fit(X, y, classes=np.arange(N_CLASSES))
    skrnn_calls = {
        "predict-one": lambda: model.predict(one),
        "partial-fit-16": lambda: model.partial_fit(X, y),
    }
    torch_calls = {}
    if torch is not None:
        torch.set_num_threads(n_threads)
        peer = TorchPeer(cell, args.features, args.hidden, N_CLASSES, dtype, BATCH)
        X_torch, y_torch = torch.from_numpy(X), torch.from_numpy(y)
        predict = torch_predict_one(peer)
        torch_calls = {
            "predict-one": lambda: predict(one),
            "partial-fit-16": lambda: peer.train_epoch(X_torch, y_torch),
        }
    records = []
    with setup_frozen(), warnings.catch_warnings(), threadpool_limits(n_threads):
        warnings.simplefilter("ignore")
        for call in args.calls:
            skrnn_s = per_call_seconds(skrnn_calls[call], args.seconds, args.repeats)
            torch_s = (per_call_seconds(torch_calls[call], args.seconds, args.repeats)
                       if torch_calls else None)
            records.append({
                "cell": cell, "dtype": np.dtype(dtype).name, "threads": n_threads,
                "call": call, "skrnn_us": skrnn_s * 1e6,
                "torch_us": None if torch_s is None else torch_s * 1e6,
                "ratio": None if torch_s is None else torch_s / skrnn_s,
            })
    return records


def format_table(records):
    lines = ["| cell | dtype | threads | call | skrnn µs | torch µs | ratio (torch/skrnn) |",
             "|:--|:--|--:|:--|--:|--:|--:|"]
    for r in records:
        torch_us = "n/a" if r["torch_us"] is None else f"{r['torch_us']:,.0f}"
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['cell']} | {r['dtype']} | {r['threads']} | {r['call']} "
                     f"| {r['skrnn_us']:,.0f} | {torch_us} | {ratio} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"],
                        choices=["rnn", "lstm", "gru"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--calls", nargs="+", default=list(CALLS), choices=CALLS)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=0.3,
                        help="least duration of each timed loop (default: 0.3)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed loops per figure; the best is kept (default: 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    env = {"skrnn": skrnn.__version__, "torch": torch.__version__ if torch else None,
           "numpy": np.__version__, "python": platform.python_version(),
           "cpu_model": cpu_model(), "isa": vector_isa(),
           "skrnn_instruction_set": instruction_set(), "torch_kernels": torch_kernels(torch),
           "steps": args.steps,
           "features": args.features, "hidden": args.hidden, "batch": BATCH}
    print(f"skrnn {env['skrnn']}, torch {env['torch']}, numpy {env['numpy']}, "
          f"Python {env['python']}")
    print(f"CPU: {env['cpu_model']}, {env['isa']} (skrnn's kernels: "
          f"{env['skrnn_instruction_set']}; PyTorch's: {env['torch_kernels']})")
    print(f"{args.steps} steps x {args.features} features, {args.hidden} units, "
          f"{N_CLASSES} classes; partial_fit on {BATCH} sequences", flush=True)
    records = []
    for cell in args.cells:
        for dtype in args.dtypes:
            for n_threads in args.threads:
                print(f"timing {cell}, {dtype}, {n_threads} thread(s) ...", file=sys.stderr,
                      flush=True)
                records += bench(cell, np.dtype(dtype).type, n_threads, args)
    print()
    print(format_table(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kind": "small_calls", "environment": env, "results": records}, f,
                      indent=1)
        print(f"\nresults written to {args.json}")


if __name__ == "__main__":
    main()
