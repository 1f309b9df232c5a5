"""How the cost of training grows with sequence length, batch size and
hidden size, for skrnn and (if installed) PyTorch.

Three sweeps around the standard workload of ``bench_vs_torch.py`` (64 steps,
batch 64, hidden 128, 16 features, Adam, clipping), one parameter at a time:

* ``length``: seconds per training epoch over a fixed number of sequences,
  against the number of steps per sequence;
* ``batch``: seconds per mini-batch (forward, backward and update), against
  the batch size;
* ``hidden``: seconds per training epoch, against the hidden size.

The first two should be straight lines through the origin: every step and
every sequence costs the same. The third grows like H^2 once the recurrent
products dominate. Each point is the best of ``--repeats`` epochs after a
warm-up epoch. The results go to a JSON file and, with matplotlib (optional),
to a plot with a least-squares line through the origin beside the first two
sweeps.

Run it from the repository root on an idle machine::

    python benchmarks/scaling.py                      # lstm, float32, 2 threads
    python benchmarks/scaling.py --cell gru --threads 1
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vs_torch import (  # noqa: E402
    DTYPES, N_CLASSES, TorchPeer, make_data, make_skrnn, pin_glibc_malloc, time_call,
    torch,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PLOT = os.path.join(HERE, "..", "doc", "images", "scaling.png")
DEFAULT_JSON = os.path.join(HERE, "results", "scaling.json")

STANDARD = dict(steps=64, batch=64, hidden=128)
SWEEPS = {
    "length": [16, 32, 64, 128, 256],
    "batch": [16, 32, 64, 128, 256, 512],
    "hidden": [32, 64, 128, 256, 512],
}


def epoch_seconds(library, cell, dtype, n_threads, steps, batch, hidden, n_samples,
                  repeats, n_features=16):
    """Best time of one training epoch over ``n_samples`` sequences."""
    X, y = make_data(n_samples, steps, n_features)
    X = X.astype(dtype)
    if library == "torch":
        torch.set_num_threads(n_threads)
        peer = TorchPeer(cell, n_features, hidden, N_CLASSES, dtype, batch)
        X_torch, y_torch = torch.from_numpy(X), torch.from_numpy(y)
        run = lambda: peer.train_epoch(X_torch, y_torch)  # noqa: E731
    else:
        model = make_skrnn(cell, hidden, batch, n_threads)
        run = lambda: model.partial_fit(X, y, classes=np.arange(N_CLASSES))  # noqa: E731
    run()  # warm-up, and the first partial_fit initialises the model
    return min(time_call(run) for _ in range(repeats))


def sweep(name, args, libraries):
    """Seconds per epoch (or per batch) of each library over one sweep."""
    points = []
    for value in SWEEPS[name]:
        config = dict(STANDARD, **{{"length": "steps"}.get(name, name): value})
        # The batch sweep times a fixed number of batches, so per-batch cost
        # is the epoch over them; the others a fixed number of sequences.
        n_batches = 8
        n_samples = config["batch"] * n_batches if name == "batch" else args.n_samples
        point = {name: value}
        for library in libraries:
            print(f"{name} = {value}: {library} ...", file=sys.stderr, flush=True)
            seconds = epoch_seconds(library, args.cell, DTYPES[args.dtype], args.threads,
                                    config["steps"], config["batch"], config["hidden"],
                                    n_samples, args.repeats)
            point[library] = seconds / n_batches if name == "batch" else seconds
        points.append(point)
    return points


def plot(results, libraries, args, path):
    """Three panels, one per sweep; lines through the origin on the first two."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"length": ("steps per sequence", "seconds per epoch"),
              "batch": ("sequences per batch", "seconds per batch"),
              "hidden": ("hidden units", "seconds per epoch")}
    colors = {"skrnn": "tab:blue", "torch": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, name in zip(axes, ("length", "batch", "hidden")):
        x = np.array([p[name] for p in results[name]], dtype=float)
        for library in libraries:
            t = np.array([p[library] for p in results[name]])
            ax.plot(x, t, "o-", color=colors[library], label=library)
            if name != "hidden":
                # Least-squares line through the origin: linear cost.
                slope = float(x @ t / (x @ x))
                ax.plot(x, slope * x, "--", color=colors[library], alpha=0.5,
                        label=f"{library}: linear fit")
        if name == "hidden":
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel(labels[name][0])
        ax.set_ylabel(labels[name][1])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Training cost, {args.cell}, {args.dtype}, {args.threads} thread(s) "
                 f"(else {STANDARD['steps']} steps, batch {STANDARD['batch']}, "
                 f"hidden {STANDARD['hidden']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-samples", type=int, default=512,
                        help="sequences per epoch in the length and hidden sweeps")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--plot", default=DEFAULT_PLOT)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc thresholds at their defaults "
                             "(see bench_vs_torch.pin_glibc_malloc)")
    args = parser.parse_args(argv)
    if not args.default_malloc:
        pin_glibc_malloc()

    libraries = ["skrnn"] + (["torch"] if torch is not None else [])
    results = {name: sweep(name, args, libraries) for name in SWEEPS}
    for name, points in results.items():
        print(f"\n{name}:")
        for p in points:
            print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in p.items()))
    with open(args.json, "w") as f:
        json.dump({"cell": args.cell, "dtype": args.dtype, "threads": args.threads,
                   "standard": STANDARD, "results": results}, f, indent=2)
    print(f"results written to {args.json}")
    try:
        plot(results, libraries, args, args.plot)
        print(f"plot written to {args.plot}")
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
