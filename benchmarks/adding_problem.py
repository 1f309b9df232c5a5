"""Learning curves of the three cells on the adding problem.

The adding problem (Hochreiter & Schmidhuber, 1997): every step of a
sequence holds a value drawn from U(0, 1) and a marker; two steps are
marked, one in each half, and the target is the sum of their two values.
Predicting the mean scores a mean squared error of 1/6 (about 0.167); to do
better, a network must carry the first marked value across at least half
the sequence. The gated cells (LSTM, GRU) learn it; the Elman cell, whose
gradient vanishes over that many steps, does not.

For each sequence length, this trains an RNN, an LSTM and a GRU of the same
size with the same settings, one epoch at a time (``partial_fit``), and
records the held-out mean squared error after every epoch. It prints a table
of the final errors, writes all the curves as JSON, and, if matplotlib is
installed, plots them.

Run it from the repository root::

    python benchmarks/adding_problem.py                    # lengths 50 100 200
    python benchmarks/adding_problem.py --lengths 100 --epochs 10

It takes a few minutes on two cores. ``doc/long_range.md`` shows the result.
"""

import argparse
import json
import time

import numpy as np

from skrnn import RNNRegressor

CELLS = ("rnn", "lstm", "gru")
MEAN_PREDICTOR_MSE = 1 / 6


def adding_problem(n_samples, n_steps, seed):
    """Sequences (n_samples, n_steps, 2) of [value, marker], and targets."""
    rng = np.random.RandomState(seed)
    values = rng.uniform(size=(n_samples, n_steps))
    markers = np.zeros((n_samples, n_steps))
    rows = np.arange(n_samples)
    first = rng.randint(n_steps // 2, size=n_samples)
    second = rng.randint(n_steps // 2, n_steps, size=n_samples)
    markers[rows, first] = 1
    markers[rows, second] = 1
    X = np.stack([values, markers], axis=2)
    return X, values[rows, first] + values[rows, second]


def learning_curve(cell, n_steps, args):
    """Held-out MSE after each epoch, and the seconds the training took."""
    X, y = adding_problem(args.n_train, n_steps, seed=0)
    X_test, y_test = adding_problem(args.n_test, n_steps, seed=1)
    reg = RNNRegressor(args.hidden, cell=cell, learning_rate_init=args.learning_rate,
                       batch_size=args.batch_size, shuffle=True, random_state=args.seed)
    curve, seconds = [], 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        reg.partial_fit(X, y)  # one epoch over the training set
        seconds += time.perf_counter() - start
        curve.append(float(np.mean((reg.predict(X_test) - y_test) ** 2)))
    return curve, seconds


def plot(results, lengths, path):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lengths), figsize=(4.2 * len(lengths), 3.6),
                             sharey=True, squeeze=False)
    for ax, n_steps in zip(axes[0], lengths):
        for cell in CELLS:
            curve = results[str(n_steps)][cell]["test_mse"]
            ax.plot(np.arange(1, len(curve) + 1), curve, label=cell)
        ax.axhline(MEAN_PREDICTOR_MSE, color="grey", linestyle=":", label="predict the mean")
        ax.set_yscale("log")
        ax.set_title(f"adding problem, {n_steps} steps")
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("held-out mean squared error")
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="benchmarks/results/adding_problem.json")
    parser.add_argument("--plot", default="doc/images/adding_problem.png")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    results = {}
    for n_steps in args.lengths:
        results[str(n_steps)] = {}
        for cell in CELLS:
            curve, seconds = learning_curve(cell, n_steps, args)
            results[str(n_steps)][cell] = {"test_mse": curve, "train_seconds": seconds}
            print(f"{n_steps:4d} steps  {cell:4s}  final MSE {curve[-1]:.4f}  "
                  f"best {min(curve):.4f}  ({seconds:.1f} s)", flush=True)

    print()
    print("| steps | " + " | ".join(CELLS) + " |")
    print("|--:|" + "--:|" * len(CELLS))
    for n_steps in args.lengths:
        row = [f"{results[str(n_steps)][cell]['test_mse'][-1]:.4f}" for cell in CELLS]
        print(f"| {n_steps} | " + " | ".join(row) + " |")
    print(f"(held-out MSE after {args.epochs} epochs; predicting the mean gives "
          f"{MEAN_PREDICTOR_MSE:.3f})")

    if args.json:
        import os

        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": results}, f, indent=2)
        print(f"curves written to {args.json}")
    if args.plot:
        plot(results, args.lengths, args.plot)


if __name__ == "__main__":
    main()
