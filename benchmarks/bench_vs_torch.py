"""Time skrnn against PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` +
``nn.Linear`` on the CPU.

For each cell, both libraries train the same many-to-one network (one
recurrent layer, a dense output layer on the last hidden state, softmax
cross-entropy) with Adam,
the same learning rate and the same global-norm gradient clipping, on the same
synthetic data and in the same process. For every combination of cell, dtype,
thread count and hidden size the script times

* ``train``: one epoch of mini-batch training (after one warm-up epoch);
* ``predict``: the class of every sequence (after one warm-up call),

keeps the best (shortest) of ``--repeats`` runs, and prints sequences per
second for both libraries and their ratio as a markdown table.

Run it from the repository root::

    python benchmarks/bench_vs_torch.py               # the full grid
    python benchmarks/bench_vs_torch.py --quick       # a smoke test, seconds
    python benchmarks/bench_vs_torch.py --hidden 128 --threads 1 --json out.json
    python benchmarks/bench_vs_torch.py --cells lstm gru

The PyTorch peer needs ``pip install torch==2.13.0`` (the CPU build is
enough). Without torch the script still prints skrnn's figures, with "n/a"
in the torch columns.

Run it on an otherwise idle machine: OpenMP threads synchronise at every
time step, so another busy process makes the multi-threaded figures of both
libraries collapse.

The ratio is skrnn's sequences per second divided by torch's: above 1 skrnn is
faster, below 1 torch is. The two do the same arithmetic but not bitwise the
same (weight initialisation and Adam's epsilon placement differ), which
does not matter for timing: the cost of an epoch does not depend on the
values of the weights.
"""

import argparse
import gc
import json
import os
import platform
import sys
import time

import numpy as np

import skrnn
from skrnn import RNNClassifier

# skrnn's kernels and torch both link libgomp.so.1; the dynamic loader keeps
# the first one loaded, so on Linux both libraries share one OpenMP runtime
# and no idle thread pool of one spins against the other's threads.
try:
    import torch
    from torch import nn
except ImportError:  # the benchmark still reports skrnn alone
    torch = None

N_CLASSES = 10
LEARNING_RATE = 1e-3
CLIP_THRESHOLD = 1.0
SEED = 0

# skrnn's predict runs the forward pass over slices of at most this many time
# steps (bounded by the work memory, see ``RecurrentNetwork.predict_raw``);
# the torch peer predicts in slices of at most this many steps too.
PREDICT_ROWS = 1 << 18

# The small configuration of --quick; flags given explicitly still win.
QUICK_DEFAULTS = dict(n_samples=256, steps=16, hidden=[32], repeats=1)

DTYPES = {"float32": np.float32, "float64": np.float64}

# skrnn's cell names and the torch modules that compute the same equations.
TORCH_CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
TORCH_CELLS = (
    {cell: getattr(nn, name) for cell, name in TORCH_CELL_NAMES.items()} if torch else {}
)


# -- data ---------------------------------------------------------------------


def make_data(n_samples, n_steps, n_features, n_classes=N_CLASSES, seed=SEED):
    """Synthetic sequences and labels, the same for both libraries.

    The label is the largest of ``n_classes`` random projections of the time
    average, so there is something to learn, though timing does not need it.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps, n_features), float64
    y : ndarray of shape (n_samples,), int64
    """
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_steps, n_features))
    projection = rng.standard_normal((n_features, n_classes))
    y = (X.mean(axis=1) @ projection).argmax(axis=1).astype(np.int64)
    return X, y


def time_call(func):
    """Wall-clock seconds of one call of ``func()``."""
    # Collect the garbage of the previous run now, not inside the timing.
    gc.collect()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


# -- skrnn --------------------------------------------------------------------


def make_skrnn(cell, hidden, batch_size, n_threads):
    """An RNNClassifier set up like the torch peer."""
    return RNNClassifier(
        hidden_layer_sizes=hidden,
        cell=cell,
        activation="tanh",
        solver="adam",
        alpha=0.0,  # torch's Adam has no weight decay by default
        learning_rate_init=LEARNING_RATE,
        batch_size=batch_size,
        clip_threshold=CLIP_THRESHOLD,
        shuffle=True,
        n_threads=n_threads,
        random_state=SEED,
    )


def skrnn_train_epoch(model, X, y):
    """One training epoch: ``partial_fit`` runs exactly one pass over X."""
    # The input validation of partial_fit is timed too: it is what a user pays
    # per epoch, and it is cheap next to the epoch (no copy of C-ordered X).
    model.partial_fit(X, y, classes=np.arange(N_CLASSES))


def skrnn_predict(model, X):
    """Predicted labels of all of X."""
    return model.predict(X)


# -- torch --------------------------------------------------------------------


class TorchPeer:
    """PyTorch's version of the network, its optimizer and training loop.

    Parameters
    ----------
    cell : {'rnn', 'lstm', 'gru'}
    n_features, hidden, n_classes : int
    dtype : {np.float32, np.float64}
    batch_size : int
    """

    def __init__(self, cell, n_features, hidden, n_classes, dtype, batch_size):
        torch.manual_seed(SEED)
        self.cell = cell
        self.rnn = TORCH_CELLS[cell](n_features, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, n_classes)
        self.model = nn.ModuleList([self.rnn, self.linear])
        if dtype == np.float64:
            self.model.double()
        # Adam's defaults (betas 0.9/0.999, eps 1e-8) are skrnn's too. The
        # default implementation is kept, as a user would, rather than
        # fused=True.
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)
        self.loss_fn = nn.CrossEntropyLoss()  # mean over the batch, like skrnn
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(SEED)

    def forward(self, X):
        """Logits read from the last hidden state (many-to-one)."""
        _, h_last = self.rnn(X)  # h_last: (1, batch, hidden)
        if self.cell == "lstm":
            h_last = h_last[0]  # (h_n, c_n)
        return self.linear(h_last[0])

    def train_epoch(self, X, y):
        """One epoch of shuffled mini-batches: Adam with clipped gradients."""
        order = torch.randperm(X.shape[0], generator=self.generator)
        for start in range(0, X.shape[0], self.batch_size):
            batch = order[start:start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.forward(X[batch]), y[batch])
            loss.backward()
            # The same global L2-norm clipping as skrnn's clip_threshold.
            nn.utils.clip_grad_norm_(self.model.parameters(), CLIP_THRESHOLD)
            self.optimizer.step()

    def predict(self, X):
        """Predicted labels of all of X, as a numpy array like skrnn's."""
        slice_size = max(1, PREDICT_ROWS // X.shape[1])
        with torch.no_grad():
            labels = [
                self.forward(X[start:start + slice_size]).argmax(dim=1)
                for start in range(0, X.shape[0], slice_size)
            ]
        return torch.cat(labels).numpy()


# -- one configuration --------------------------------------------------------


def bench_config(X, y, X_torch, y_torch, cell, hidden, n_threads, batch_size, repeats):
    """Best times of skrnn and torch for one (cell, dtype, threads, hidden).

    ``X`` already has the dtype under test; ``X_torch`` is None without torch.

    Returns
    -------
    times : dict
        ``times[phase][library]``: the best of ``repeats`` times in seconds
        (None for torch when it is missing).
    """
    skrnn_model = make_skrnn(cell, hidden, batch_size, n_threads)
    # Warm-up: the first partial_fit also initialises the weights and the
    # optimizer, and the first calls fill caches and start the thread pools.
    skrnn_train_epoch(skrnn_model, X, y)
    skrnn_predict(skrnn_model, X)
    peer = None
    if X_torch is not None:
        peer = TorchPeer(cell, X.shape[2], hidden, N_CLASSES, X.dtype.type, batch_size)
        peer.train_epoch(X_torch, y_torch)
        peer.predict(X_torch)

    runs = {phase: {"skrnn": [], "torch": []} for phase in ("train", "predict")}
    # The libraries take turns within each repeat, so that a slow spell of the
    # machine hits both instead of one.
    for _ in range(repeats):
        runs["train"]["skrnn"].append(time_call(lambda: skrnn_train_epoch(skrnn_model, X, y)))
        if peer is not None:
            runs["train"]["torch"].append(time_call(lambda: peer.train_epoch(X_torch, y_torch)))
    for _ in range(repeats):
        runs["predict"]["skrnn"].append(time_call(lambda: skrnn_predict(skrnn_model, X)))
        if peer is not None:
            runs["predict"]["torch"].append(time_call(lambda: peer.predict(X_torch)))
    return {
        phase: {lib: (min(t) if t else None) for lib, t in by_lib.items()}
        for phase, by_lib in runs.items()
    }


def run_benchmark(args):
    """Time every configuration; return one result record per table row."""
    X64, y = make_data(args.n_samples, args.steps, args.features)
    results = []
    for cell in args.cells:
        for dtype_name in args.dtypes:
            results += _run_cell_dtype(args, cell, dtype_name, X64, y)
    return results


def _run_cell_dtype(args, cell, dtype_name, X64, y):
    """Records of one cell and dtype, over every thread count and size."""
    results = []
    X = X64.astype(DTYPES[dtype_name])
    # from_numpy shares X's memory: both libraries read the same array.
    X_torch = torch.from_numpy(X) if torch is not None else None
    y_torch = torch.from_numpy(y) if torch is not None else None
    for n_threads in args.threads:
        # The same thread count for both: torch's intra-op pool here, skrnn's
        # OpenMP kernels through n_threads (skrnn keeps BLAS to one thread
        # inside its kernels by itself).
        if torch is not None:
            torch.set_num_threads(n_threads)
        for hidden in args.hidden:
            print(f"timing {cell}, {dtype_name}, {n_threads} thread(s), "
                  f"hidden {hidden} ...", file=sys.stderr, flush=True)
            times = bench_config(X, y, X_torch, y_torch, cell, hidden, n_threads,
                                 args.batch_size, args.repeats)
            for phase, best in times.items():
                results.append(make_record(cell, dtype_name, n_threads, hidden, phase,
                                           best, args.n_samples))
    return results


def make_record(cell, dtype_name, n_threads, hidden, phase, best, n_samples):
    """One table row: sequences per second of each library and their ratio."""
    skrnn_rate = n_samples / best["skrnn"]
    torch_rate = n_samples / best["torch"] if best["torch"] is not None else None
    return {
        "cell": cell,
        "dtype": dtype_name,
        "threads": n_threads,
        "hidden": hidden,
        "phase": phase,
        "skrnn_seq_per_s": skrnn_rate,
        "torch_seq_per_s": torch_rate,
        # > 1: skrnn is faster.
        "ratio": skrnn_rate / torch_rate if torch_rate is not None else None,
        "skrnn_best_s": best["skrnn"],
        "torch_best_s": best["torch"],
    }


# -- output -------------------------------------------------------------------


def format_table(results):
    """The results as a markdown table."""
    header = ["cell", "dtype", "threads", "hidden", "phase", "skrnn seq/s", "torch seq/s",
              "ratio (skrnn/torch)"]
    rows = []
    for r in results:
        rows.append([
            r["cell"], r["dtype"], str(r["threads"]), str(r["hidden"]), r["phase"],
            f"{r['skrnn_seq_per_s']:,.0f}",
            "n/a" if r["torch_seq_per_s"] is None else f"{r['torch_seq_per_s']:,.0f}",
            "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}",
        ])
    widths = [max(len(line[i]) for line in [header] + rows) for i in range(len(header))]
    # Text columns left-aligned, numbers right-aligned.
    numeric = [False, False, True, True, False, True, True, True]

    def line(cells):
        padded = [c.rjust(w) if num else c.ljust(w)
                  for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        "-" * (w + 1) + ":" if num else ":" + "-" * (w + 1)
        for w, num in zip(widths, numeric)
    ) + "|"
    return "\n".join([line(header), rule] + [line(cells) for cells in rows])


def other_running_processes(samples=5, interval=0.1):
    """Processes of others running now, or None where /proc cannot tell.

    The 4th field of /proc/loadavg counts the runnable threads, this one
    included; the least of a few samples ignores short blips. The load
    average itself would also count this script's previous runs.
    """
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        time.sleep(interval)
    return min(counts)


def warn_if_busy():
    """Warn when other processes compete for the CPUs."""
    # OpenMP threads wait for each other at every time step: when another
    # process takes a core, the multi-threaded figures of both libraries fall
    # by orders of magnitude, so say so rather than print misleading numbers.
    others = other_running_processes()
    if others:
        print(f"warning: {others} other process(es) running; the figures are only "
              "meaningful on an idle machine", file=sys.stderr)


def environment(args):
    """Versions and settings, to print and to store with the results."""
    return {
        "skrnn": skrnn.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "n_samples": args.n_samples,
        "steps": args.steps,
        "features": args.features,
        "n_classes": N_CLASSES,
        "batch_size": args.batch_size,
        "learning_rate": LEARNING_RATE,
        "clip_threshold": CLIP_THRESHOLD,
        "repeats": args.repeats,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Time skrnn against PyTorch's nn.RNN / nn.LSTM / nn.GRU + "
                    "nn.Linear (sequences per second, train and predict).")
    parser.add_argument("--cells", nargs="+", choices=sorted(TORCH_CELL_NAMES),
                        default=["rnn", "lstm", "gru"],
                        help="recurrent cells (default: rnn lstm gru)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 256],
                        help="hidden sizes (default: 32 128 256)")
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES),
                        default=["float32", "float64"],
                        help="dtypes (default: float32 float64)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts (default: 1 2)")
    parser.add_argument("--n-samples", type=int, default=2048,
                        help="sequences (default: 2048)")
    parser.add_argument("--steps", type=int, default=64,
                        help="time steps per sequence (default: 64)")
    parser.add_argument("--features", type=int, default=16,
                        help="features per time step (default: 16)")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="training mini-batch size (default: 64)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per measurement; the best is kept (default: 3)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the results as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke-test configuration (256 sequences of 16 "
                             "steps, hidden 32, 1 repeat); explicit flags win")
    args = parser.parse_args(argv)
    if args.quick:
        # Re-parse with the quick values as defaults, so explicit flags win.
        parser.set_defaults(**QUICK_DEFAULTS)
        args = parser.parse_args(argv)
    for name in ("hidden", "threads"):
        if min(getattr(args, name)) < 1:
            parser.error(f"--{name} values must be positive")
    for name in ("n_samples", "steps", "features", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    env = environment(args)
    print(f"skrnn {env['skrnn']}, torch {env['torch'] or 'not installed'}, "
          f"numpy {env['numpy']}, Python {env['python']}, {env['cpu_count']} CPUs")
    print(f"{args.n_samples} sequences x {args.steps} steps x {args.features} "
          f"features, {N_CLASSES} classes, batch {args.batch_size}, "
          f"best of {args.repeats}")
    if torch is None:
        print("torch is not installed (pip install torch==2.13.0): "
              "torch columns show n/a")
    if max(args.threads) > (os.cpu_count() or 1):
        print(f"warning: more threads than the {os.cpu_count()} CPUs", file=sys.stderr)
    warn_if_busy()

    results = run_benchmark(args)
    warn_if_busy()
    print()
    print(format_table(results))
    print()
    print("ratio = skrnn seq/s / torch seq/s: > 1 means skrnn is faster.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "results": results}, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
