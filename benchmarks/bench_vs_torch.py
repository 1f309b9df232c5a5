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

keeps the best (shortest) of ``--repeats`` runs (more for phases of a few
milliseconds, see ``MIN_TIMED_SECONDS``), and prints sequences per
second for both libraries and their ratio as a markdown table. Beside them:

* ``GFLOP/s``: the multiply-adds of the matrix products of the pass
  (forward for ``predict``; forward and backward for ``train``, see
  ``flops_per_sequence``), counted as two flops each, per second;
* ``% matmul``: that rate as a share of what ``numpy.matmul`` reaches on a
  large square product (2048 x 2048) with the same dtype and thread count,
  the best of its measurements at the start and at the end of the run (one
  alone can be hit by a passing load): how close each library is to the
  machine's limit for dense products;
* with ``--memory``, the peak memory of a fit (one epoch from scratch) of
  each library, measured in a fresh child process per library and
  configuration as the growth of its peak resident set.

Run it from the repository root::

    python benchmarks/bench_vs_torch.py               # the full grid
    python benchmarks/bench_vs_torch.py --quick       # a smoke test, seconds
    python benchmarks/bench_vs_torch.py --hidden 128 --threads 1 --json out.json
    python benchmarks/bench_vs_torch.py --cells lstm gru

The PyTorch peer needs ``pip install torch==2.13.0`` (the CPU build is
enough). Without torch the script still prints skrnn's figures, with "n/a"
in the torch columns.

Run it on an otherwise idle machine: PyTorch's OpenMP threads wait for each
other at every parallel region, so another busy process makes its
multi-threaded figures collapse, and skrnn's fall back to one thread's.

The ratio is skrnn's sequences per second divided by torch's: above 1 skrnn is
faster, below 1 torch is. The two do the same arithmetic but not bitwise the
same (weight initialisation and Adam's epsilon placement differ), which
does not matter for timing: the cost of an epoch does not depend on the
values of the weights.
"""

import argparse
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

import skrnn
from skrnn import RNNClassifier, RNNStepClassifier
from machine import cpu_model, peak_memory_growth_mib, torch_kernels, vector_isa
from skrnn._kernels._dense import instruction_set
from threadpoolctl import threadpool_limits

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

# Each phase runs at least --repeats times per library, and more (up to
# MAX_REPEATS) until each library has been timed for MIN_TIMED_SECONDS.
MIN_TIMED_SECONDS = 1.0
MAX_REPEATS = 20

# The small configuration of --quick; flags given explicitly still win.
QUICK_DEFAULTS = dict(n_samples=256, steps=16, hidden=[32], repeats=1)

DTYPES = {"float32": np.float32, "float64": np.float64}

# skrnn's cell names and the torch modules that compute the same equations.
TORCH_CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
TORCH_CELLS = (
    {cell: getattr(nn, name) for cell, name in TORCH_CELL_NAMES.items()} if torch else {}
)
N_GATES = {"rnn": 1, "lstm": 4, "gru": 3}

# Side of the square product that measures numpy.matmul's GFLOP/s.
MATMUL_SIZE = 2048


# -- the machine's limit -------------------------------------------------------


def flops_per_sequence(cell, n_features, hidden, n_steps, n_classes, phase,
                       per_step=False):
    """Flops of the matrix products of one sequence (two per multiply-add).

    Per step, with G gates: the input projection (F x GH) and the recurrent
    product (H x GH) forward; backward, their weight gradients and the
    product carrying the gradient back a step (H x GH). The first layer
    needs no gradient of its input. The dense output layer adds H x K
    forward and twice that backward, once per sequence or, ``per_step``,
    at every step. Element-wise work is not counted.
    """
    gh = N_GATES[cell] * hidden
    n_outputs = n_steps if per_step else 1
    forward = n_steps * (n_features + hidden) * gh + n_outputs * hidden * n_classes
    if phase == "predict":
        return 2 * forward
    backward = n_steps * (n_features + 2 * hidden) * gh + 2 * n_outputs * hidden * n_classes
    return 2 * (forward + backward)


def matmul_gflops(dtype, n_threads, size=MATMUL_SIZE, repeats=5):
    """GFLOP/s of numpy.matmul on a (size x size) product, best of repeats."""
    rng = np.random.RandomState(SEED)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty_like(a)
    with threadpool_limits(limits=n_threads, user_api="blas"):
        np.matmul(a, b, out=out)  # warm-up
        best = min(time_call(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


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


def step_labels(X, n_classes=N_CLASSES, seed=SEED):
    """A label at every step, for ``--outputs step``: the largest of
    ``n_classes`` random projections of the step's input.

    Returns
    -------
    y : ndarray of shape (n_samples, n_steps), int64
    """
    projection = np.random.RandomState(seed + 1).standard_normal((X.shape[2], n_classes))
    return (X @ projection).argmax(axis=2).astype(np.int64)


def make_benchmark_data(args):
    """The inputs, and the labels ``--outputs`` asks for."""
    X, y = make_data(args.n_samples, args.steps, args.features)
    return X, (step_labels(X) if args.outputs == "step" else y)


def time_call(func):
    """Wall-clock seconds of one call of ``func()``."""
    # Collect the garbage of the previous run now, not inside the timing
    # (see ``setup_frozen`` for what this collection visits).
    gc.collect()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


@contextlib.contextmanager
def setup_frozen(enabled=True):
    """Within, garbage collections skip every object that exists on entry.

    ``time_call`` collects before each timed call. A full collection visits
    every object the process holds, some 370,000 once torch is imported,
    takes about 90 ms, and leaves the next call of either library slower
    than the same call without it, by up to 1.4 ms (the call after that is
    not: it is a cost of the collection, not of the library). At hidden 32
    that is 5-25% of a skrnn prediction. ``gc.freeze`` moves the objects of
    the setup (modules, data, models) out of the collector's reach, so that
    the collection before each timed call visits only the previous call's
    garbage; on exit they are handed back. ``--full-gc`` times the old way.
    """
    if not enabled:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# -- skrnn --------------------------------------------------------------------


def make_skrnn(cell, hidden, batch_size, n_threads, per_step=False):
    """An RNNClassifier (an RNNStepClassifier, ``per_step``) set up like the
    torch peer."""
    estimator = RNNStepClassifier if per_step else RNNClassifier
    return estimator(
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
    per_step : bool
        The output layer on every step's state (many-to-many), the loss
        averaged over every step, as ``RNNStepClassifier`` averages it.
    """

    def __init__(self, cell, n_features, hidden, n_classes, dtype, batch_size,
                 per_step=False):
        torch.manual_seed(SEED)
        self.cell = cell
        self.per_step = per_step
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
        """Logits read from the last hidden state (many-to-one), or from
        every step's, flattened to (batch * steps, classes)."""
        states, h_last = self.rnn(X)  # h_last: (1, batch, hidden)
        if self.per_step:
            return self.linear(states).reshape(-1, self.linear.out_features)
        if self.cell == "lstm":
            h_last = h_last[0]  # (h_n, c_n)
        return self.linear(h_last[0])

    def train_epoch(self, X, y):
        """One epoch of shuffled mini-batches: Adam with clipped gradients."""
        order = torch.randperm(X.shape[0], generator=self.generator)
        for start in range(0, X.shape[0], self.batch_size):
            batch = order[start:start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.forward(X[batch]), y[batch].reshape(-1))
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


def bench_config(X, y, X_torch, y_torch, cell, hidden, n_threads, batch_size, repeats,
                 freeze_setup=True, per_step=False):
    """Best times of skrnn and torch for one (cell, dtype, threads, hidden).

    ``X`` already has the dtype under test; ``X_torch`` is None without torch.
    ``freeze_setup``: time within ``setup_frozen``; ``per_step``: the
    many-to-many networks, ``y`` holding a label per step.

    Returns
    -------
    times : dict
        ``times[phase][library]``: the best of ``repeats`` times in seconds
        (None for torch when it is missing).
    """
    skrnn_model = make_skrnn(cell, hidden, batch_size, n_threads, per_step)
    # Warm-up: the first partial_fit also initialises the weights and the
    # optimizer, and the first calls fill caches and start the thread pools.
    skrnn_train_epoch(skrnn_model, X, y)
    skrnn_predict(skrnn_model, X)
    peer = None
    if X_torch is not None:
        peer = TorchPeer(cell, X.shape[2], hidden, N_CLASSES, X.dtype.type, batch_size,
                         per_step)
        peer.train_epoch(X_torch, y_torch)
        peer.predict(X_torch)

    calls = {
        "train": (lambda: skrnn_train_epoch(skrnn_model, X, y),
                  peer and (lambda: peer.train_epoch(X_torch, y_torch))),
        "predict": (lambda: skrnn_predict(skrnn_model, X),
                    peer and (lambda: peer.predict(X_torch))),
    }
    runs = {phase: {"skrnn": [], "torch": []} for phase in calls}
    with setup_frozen(freeze_setup):
        for phase, (skrnn_call, torch_call) in calls.items():
            # The libraries take turns within each repeat, so that a slow
            # spell of the machine hits both instead of one. A phase of a few
            # milliseconds (prediction at small sizes) is repeated beyond
            # ``repeats`` until each library has run MIN_TIMED_SECONDS, so
            # that its best time is not one noisy sample of three.
            times = runs[phase]
            while len(times["skrnn"]) < repeats or (
                len(times["skrnn"]) < MAX_REPEATS
                and min(sum(times["skrnn"]),
                        sum(times["torch"]) if torch_call else np.inf)
                < MIN_TIMED_SECONDS
            ):
                times["skrnn"].append(time_call(skrnn_call))
                if torch_call:
                    times["torch"].append(time_call(torch_call))
    return {
        phase: {lib: (min(t) if t else None) for lib, t in by_lib.items()}
        for phase, by_lib in runs.items()
    }


def run_benchmark(args):
    """Time every configuration.

    Returns
    -------
    results : list of dict
        One record per table row.
    matmul : dict
        numpy.matmul's GFLOP/s by (dtype name, thread count).
    """
    X64, y = make_benchmark_data(args)
    matmul = measure_matmul(args, {})
    results = []
    for cell in args.cells:
        for dtype_name in args.dtypes:
            results += _run_cell_dtype(args, cell, dtype_name, X64, y)
    # Measured again at the end, the best kept: the percentages are computed
    # against it.
    matmul = measure_matmul(args, matmul)
    for r in results:
        r["matmul_gflops"] = matmul[r["dtype"], r["threads"]]
        r["skrnn_percent_of_matmul"] = 100 * r["skrnn_gflops"] / r["matmul_gflops"]
    return results, matmul


def measure_matmul(args, best):
    """numpy.matmul's GFLOP/s for every dtype and thread count, or the best of
    that and ``best``."""
    measured = {}
    for dtype_name in args.dtypes:
        for n_threads in args.threads:
            print(f"timing numpy.matmul, {dtype_name}, {n_threads} thread(s) ...",
                  file=sys.stderr, flush=True)
            gflops = matmul_gflops(DTYPES[dtype_name], n_threads)
            measured[dtype_name, n_threads] = max(gflops, best.get((dtype_name, n_threads), 0))
    return measured


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
                                 args.batch_size, args.repeats,
                                 freeze_setup=not args.full_gc,
                                 per_step=args.outputs == "step")
            for phase, best in times.items():
                flops = flops_per_sequence(cell, args.features, hidden, args.steps,
                                           N_CLASSES, phase, args.outputs == "step")
                results.append(make_record(cell, dtype_name, n_threads, hidden, phase,
                                           best, args.n_samples, flops))
    return results


def make_record(cell, dtype_name, n_threads, hidden, phase, best, n_samples, flops):
    """One table row: sequences per second of each library, their ratio, and
    their GFLOP/s (``run_benchmark`` adds the share of numpy.matmul's)."""
    skrnn_rate = n_samples / best["skrnn"]
    torch_rate = n_samples / best["torch"] if best["torch"] is not None else None
    skrnn_gflops = skrnn_rate * flops / 1e9
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
        "flops_per_sequence": flops,
        "skrnn_gflops": skrnn_gflops,
        "torch_gflops": torch_rate * flops / 1e9 if torch_rate is not None else None,
    }


# -- peak memory of a fit -------------------------------------------------------


def memory_child(args):
    """In a fresh process: fit once, print how far the fit raised the peak
    resident memory above what the process held before it (MiB)."""
    import warnings

    library, cell, dtype_name, hidden = args.memory_child
    hidden = int(hidden)
    n_threads = max(args.threads)
    X64, y = make_benchmark_data(args)
    X = X64.astype(DTYPES[dtype_name])
    del X64
    per_step = args.outputs == "step"
    if library == "torch":
        torch.set_num_threads(n_threads)
        peer = TorchPeer(cell, args.features, hidden, N_CLASSES, X.dtype.type,
                         args.batch_size, per_step)
        X_torch, y_torch = torch.from_numpy(X), torch.from_numpy(y)
        fit = lambda: peer.train_epoch(X_torch, y_torch)  # noqa: E731
    else:
        model = make_skrnn(cell, hidden, args.batch_size, n_threads,
                           per_step).set_params(max_iter=1)

        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning of max_iter=1
                model.fit(X, y)
    gc.collect()
    print(peak_memory_growth_mib(fit))


def peak_fit_memory(args, library, cell, dtype_name, hidden):
    """Peak memory (MiB) one fit adds, measured in a child process; None
    where /proc cannot tell."""
    command = [
        sys.executable, os.path.abspath(__file__),
        "--memory-child", library, cell, dtype_name, str(hidden),
        "--n-samples", str(args.n_samples), "--steps", str(args.steps),
        "--features", str(args.features), "--batch-size", str(args.batch_size),
        "--threads", str(max(args.threads)), "--outputs", args.outputs,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    value = float(out.strip().splitlines()[-1])
    return None if np.isnan(value) else value


def run_memory(args):
    """Peak memory of a fit for every cell, dtype and hidden size."""
    libraries = ["skrnn"] + (["torch"] if torch is not None else [])
    records = []
    for cell in args.cells:
        for dtype_name in args.dtypes:
            for hidden in args.hidden:
                print(f"measuring the memory of a fit: {cell}, {dtype_name}, "
                      f"hidden {hidden} ...", file=sys.stderr, flush=True)
                peak = {lib: peak_fit_memory(args, lib, cell, dtype_name, hidden)
                        for lib in libraries}
                records.append({
                    "cell": cell, "dtype": dtype_name, "hidden": hidden,
                    "skrnn_mib": peak["skrnn"], "torch_mib": peak.get("torch"),
                })
    return records


def format_memory_table(records):
    """Peak memory of a fit as a markdown table."""
    def mib(value):
        return "n/a" if value is None else f"{value:,.1f}"

    lines = ["| cell | dtype | hidden | skrnn MiB | torch MiB | skrnn / torch |",
             "|:--|:--|--:|--:|--:|--:|"]
    for r in records:
        ratio = ("n/a" if r["skrnn_mib"] is None or not r["torch_mib"]
                 else f"{r['skrnn_mib'] / r['torch_mib']:.2f}")
        lines.append(f"| {r['cell']} | {r['dtype']} | {r['hidden']} | "
                     f"{mib(r['skrnn_mib'])} | {mib(r['torch_mib'])} | {ratio} |")
    return "\n".join(lines)


# -- output -------------------------------------------------------------------


def format_table(results):
    """The results as a markdown table."""
    header = ["cell", "dtype", "threads", "hidden", "phase", "skrnn seq/s", "torch seq/s",
              "ratio (skrnn/torch)", "skrnn GFLOP/s", "torch GFLOP/s", "skrnn % matmul"]
    rows = []
    for r in results:
        rows.append([
            r["cell"], r["dtype"], str(r["threads"]), str(r["hidden"]), r["phase"],
            f"{r['skrnn_seq_per_s']:,.0f}",
            "n/a" if r["torch_seq_per_s"] is None else f"{r['torch_seq_per_s']:,.0f}",
            "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}",
            f"{r['skrnn_gflops']:.1f}",
            "n/a" if r["torch_gflops"] is None else f"{r['torch_gflops']:.1f}",
            f"{r['skrnn_percent_of_matmul']:.0f}%",
        ])
    widths = [max(len(line[i]) for line in [header] + rows) for i in range(len(header))]
    # Text columns left-aligned, numbers right-aligned.
    numeric = [False, False, True, True, False] + [True] * 6

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
    # When another process takes a core, PyTorch's multi-threaded figures
    # fall by orders of magnitude (its OpenMP threads wait for each other)
    # and skrnn's to one thread's: say so rather than print misleading numbers.
    others = other_running_processes()
    if others:
        print(f"warning: {others} other process(es) running; the figures are only "
              "meaningful on an idle machine", file=sys.stderr)


# glibc's mallopt parameters (malloc.h) and the values the timing process pins.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_BYTES = 1 << 30


def pin_glibc_malloc():
    """Serve every allocation from glibc's heap, and never give it back.

    By default glibc maps each allocation above a threshold (128 KiB at
    first) with fresh pages, which the kernel must fault in and zero on
    first use, and it raises that threshold as such blocks are freed. A
    library that allocates its large tensors anew at every step (PyTorch)
    therefore runs slower early in a process than later on: its float32
    LSTM at hidden 256 trained at about 860 sequences/s in a fresh process
    and at about 1,170 after other configurations had run, or with the
    thresholds pinned as here. Blocks above 32 MiB, such as the outputs of
    its predictions at hidden 128 and 256, are mapped afresh at every call
    whatever ran before, and pinned its predictions there ran 40% faster.
    Pinned, both libraries are timed in the same allocator state, at their
    best, whatever ran before (skrnn reuses its work arrays and is hardly
    affected); ``--default-malloc`` times them with glibc's defaults.

    Returns whether the thresholds were pinned: False off glibc.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, _HEAP_BYTES))


def environment(args):
    """Versions and settings, to print and to store with the results."""
    return {
        "skrnn": skrnn.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "isa": vector_isa(),
        "skrnn_instruction_set": instruction_set(),
        "torch_kernels": torch_kernels(torch),
        "cpu_count": os.cpu_count(),
        "n_samples": args.n_samples,
        "steps": args.steps,
        "features": args.features,
        "n_classes": N_CLASSES,
        "outputs": args.outputs,
        "batch_size": args.batch_size,
        "learning_rate": LEARNING_RATE,
        "clip_threshold": CLIP_THRESHOLD,
        "repeats": args.repeats,
        "glibc_malloc_pinned": args.malloc_pinned,
        "setup_frozen_from_gc": not args.full_gc,
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
    parser.add_argument("--outputs", choices=["sequence", "step"], default="sequence",
                        help="a label per sequence (RNNClassifier against nn.Linear on "
                             "the last state; the default) or per step "
                             "(RNNStepClassifier against nn.Linear on every step)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the results as JSON to PATH")
    parser.add_argument("--memory", action="store_true",
                        help="also measure the peak memory of a fit of each library "
                             "(a child process per measurement; Linux only)")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS,
                        metavar=("LIBRARY", "CELL", "DTYPE", "HIDDEN"))
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc thresholds at their defaults "
                             "(see pin_glibc_malloc)")
    parser.add_argument("--full-gc", action="store_true",
                        help="let the collection before each timed call visit every "
                             "object (see setup_frozen)")
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
    if args.memory_child:
        memory_child(args)
        return
    # The memory children measure each library's own allocation behaviour,
    # so only the timing process pins the allocator.
    args.malloc_pinned = not args.default_malloc and pin_glibc_malloc()
    # Random labels and unscaled data clip most updates, the same in both
    # libraries: that is the workload, not a fault to warn of.
    warnings.filterwarnings("ignore", category=skrnn.GradientClippingWarning)
    env = environment(args)
    print(f"skrnn {env['skrnn']}, torch {env['torch'] or 'not installed'}, "
          f"numpy {env['numpy']}, Python {env['python']}, {env['cpu_count']} CPUs")
    print(f"CPU: {env['cpu_model']}, {env['isa']} (skrnn's kernels: "
          f"{env['skrnn_instruction_set']}; PyTorch's: {env['torch_kernels']})")
    print(f"{args.n_samples} sequences x {args.steps} steps x {args.features} "
          f"features, {N_CLASSES} classes per {args.outputs}, batch {args.batch_size}, "
          f"best of {args.repeats}")
    if torch is None:
        print("torch is not installed (pip install torch==2.13.0): "
              "torch columns show n/a")
    if max(args.threads) > (os.cpu_count() or 1):
        print(f"warning: more threads than the {os.cpu_count()} CPUs", file=sys.stderr)
    warn_if_busy()

    results, matmul = run_benchmark(args)
    memory = run_memory(args) if args.memory else []
    warn_if_busy()
    print()
    print("numpy.matmul, " + ", ".join(
        f"{dtype} {threads} thread(s): {gflops:.1f} GFLOP/s"
        for (dtype, threads), gflops in matmul.items()))
    print()
    print(format_table(results))
    print()
    print("ratio = skrnn seq/s / torch seq/s: > 1 means skrnn is faster. "
          "% matmul = skrnn's GFLOP/s / numpy.matmul's at the same dtype and threads.")
    if memory:
        print()
        print(f"Peak memory of a fit (one epoch from scratch, {max(args.threads)} "
              "thread(s)), above what the process held before it:")
        print()
        print(format_memory_table(memory))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "environment": env,
                "matmul_gflops": [{"dtype": d, "threads": t, "gflops": g}
                                  for (d, t), g in matmul.items()],
                "results": results,
                "memory": memory,
            }, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
