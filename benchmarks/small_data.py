"""Default mini-batch sizes on small data sets: accuracy, epochs and time.

``batch_size='auto'`` picks the mini-batch size from the number of training
sequences n. This trains the estimators with their other defaults on a few
small public data sets, for each of several rules for that size, and prints
the held-out score (accuracy, or RMSE for the regression), the epochs run
before stopping and the seconds of the fit, each the median over the seeds:

- scikit-learn's digits (``load_digits``), each 8x8 image read as 8 steps of
  8 pixels, all of it (1,347 training images) and 100 of them;
- the yearly sunspot numbers (statsmodels), windows of 11 years to forecast
  the next one, the first 80% of the years to train on;
- four UCR/UEA sets that aeon ships in its wheel (optional: ``pip install
  aeon``; skipped without it): GunPoint, ItalyPowerDemand, ArrowHead and
  BasicMotions, on their own train/test splits.

Every model reads its sequences through ``skrnn.preprocessing.SequenceScaler``
(the regressor's targets are standardised too), with one kernel thread and
the Elman cell (``--cell`` for another).

Run it from the repository root::

    python benchmarks/small_data.py                     # every set, 3 seeds
    python benchmarks/small_data.py --sets gunpoint --seeds 1
    python benchmarks/small_data.py --cell gru

It takes a minute or two of one core with the Elman cell, three times that
with the GRU. ``doc/performance.md`` shows the result.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from machine import cpu_description
from skrnn import RNNClassifier, RNNRegressor, from_channels_first
from skrnn.preprocessing import SequenceScaler

# The rules compared, each the mini-batch size for n training sequences.
RULES = {
    "min(200, n)": lambda n: min(200, n),
    "min(32, n)": lambda n: min(32, n),
    "n // 10 in [16, 200]": lambda n: min(n, int(np.clip(n // 10, 16, 200))),
}


def digits(n_train=None):
    images, labels = load_digits(return_X_y=True)
    X = images.reshape(-1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, labels, test_size=0.25, random_state=0, stratify=labels)
    if n_train is not None:
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=n_train, random_state=0, stratify=y_train)
    return X_train, y_train, X_test, y_test


def sunspot_windows(window=11):
    from statsmodels.datasets import sunspots

    series = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], window)[:, :, np.newaxis]
    y = series[window:]
    n_train = int(0.8 * len(y))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def ucr(name):
    from aeon.datasets import load_classification

    X_train, y_train = load_classification(name, split="train")
    X_test, y_test = load_classification(name, split="test")
    return from_channels_first(X_train), y_train, from_channels_first(X_test), y_test


# name: (loader, is a regression)
SETS = {
    "digits": (digits, False),
    "digits-100": (lambda: digits(100), False),
    "sunspots": (sunspot_windows, True),
    "gunpoint": (lambda: ucr("GunPoint"), False),
    "italypower": (lambda: ucr("ItalyPowerDemand"), False),
    "arrowhead": (lambda: ucr("ArrowHead"), False),
    "basicmotions": (lambda: ucr("BasicMotions"), False),
}


def run(X_train, y_train, X_test, y_test, regression, batch_size, seed, args):
    """Held-out score, epochs and fit seconds of one model."""
    params = dict(cell=args.cell, batch_size=batch_size, random_state=seed,
                  n_threads=args.threads)
    if regression:
        model = make_pipeline(SequenceScaler(), TransformedTargetRegressor(
            RNNRegressor(**params), transformer=StandardScaler()))
    else:
        model = make_pipeline(SequenceScaler(), RNNClassifier(**params))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    network = model[-1].regressor_ if regression else model[-1]
    predicted = model.predict(X_test)
    if regression:
        score = float(np.sqrt(np.mean((predicted - y_test) ** 2)))
    else:
        score = float(np.mean(predicted == y_test))
    return score, network.n_iter_, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--rules", nargs="+", choices=list(RULES), default=list(RULES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="rnn")
    args = parser.parse_args(argv)

    print(f"CPU: {cpu_description()}; cell={args.cell!r}, {args.threads} kernel "
          f"thread(s), median of {args.seeds} seed(s)\n")
    print("| data set | n train | rule | batch | updates/epoch | score | epochs | fit s |")
    print("|---|--:|---|--:|--:|--:|--:|--:|")
    for name in args.sets:
        loader, regression = SETS[name]
        try:
            data = loader()
        except ImportError as exc:
            print(f"| {name} | skipped: {exc} | | | | | | |")
            continue
        n = len(data[0])
        for rule in args.rules:
            batch = RULES[rule](n)
            runs = [run(*data, regression, batch, seed, args)
                    for seed in range(args.seeds)]
            score, epochs, seconds = (float(np.median(column)) for column in zip(*runs))
            metric = f"RMSE {score:.1f}" if regression else f"{score:.3f}"
            print(f"| {name} | {n} | {rule} | {batch} | {-(-n // batch)} | {metric} "
                  f"| {epochs:.0f} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
