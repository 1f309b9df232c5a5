"""Echo State Network against a trained GRU on UCR/UEA classification sets.

An ``ESNClassifier`` trains only its ridge read-out, on the pooled states of
a fixed random reservoir; an ``RNNClassifier`` learns every weight by
backpropagation through time. This fits both on the official train/test
split of a UCR/UEA set and prints the test accuracy and the seconds of the
fit of each, the median over the seeds:

- the ESN with its defaults (500 units, spectral radius 0.9, no leak);
- the ESN tuned: a grid search (``GridSearchCV``, 3-fold stratified CV on
  the training set, seed 0) over the spectral radius, the leak rate and the
  read-out's ridge ``alpha``; the table gives the refit of the best
  configuration on the whole training set, and the search's own seconds;
- a GRU of 64 units reading its last state, Adam, mini-batches of 32,
  early stopping on 10% of the training set.

Every model reads its sequences through ``skrnn.preprocessing.SequenceScaler``
(each channel standardised over all steps of the training sequences), with
one kernel thread. The ESN's read-out reads the mean of the states over each
sequence (``--pooling``): a fixed reservoir's last state forgets the early
steps, whereas the GRU learns what its last state keeps (on JapaneseVowels
it scores some 2 points better with 'last' than with 'mean').

The sets come from sktime, which ships them in its wheel (``pip install
"skrnn[esn-benchmarks]"``); aeon (the ``small-data`` extra) is read too when
sktime is missing. JapaneseVowels (270 training and 370 test utterances of
7 to 29 steps, 12 cepstral coefficients, 9 speakers) is the classic ESN
benchmark: Jaeger, Lukosevicius, Popovici and Siewert (2007), "Optimization
and applications of echo state networks with leaky-integrator neurons".

Run it from the repository root::

    python benchmarks/esn_classification.py                  # JapaneseVowels, 3 seeds
    python benchmarks/esn_classification.py --sets japanesevowels basicmotions gunpoint
    python benchmarks/esn_classification.py --seeds 1 --json esn.json
"""

import argparse
import importlib.metadata
import importlib.util
import json
import sys
import time
import warnings

import numpy as np

from machine import cpu_description

# name: (the loader's name in sktime.datasets and in aeon.datasets, the set's name)
SETS = {
    "japanesevowels": ("load_japanese_vowels", "JapaneseVowels"),
    "basicmotions": ("load_basic_motions", "BasicMotions"),
    "gunpoint": ("load_gunpoint", "GunPoint"),
    "italypower": ("load_italy_power_demand", "ItalyPowerDemand"),
    "arrowhead": ("load_arrow_head", "ArrowHead"),
    "osuleaf": ("load_osuleaf", "OSULeaf"),
}

# The ESN's grid, searched with cross-validation on the training set.
GRID = {
    "spectral_radius": [0.5, 0.9, 1.2],
    "leak_rate": [0.1, 0.3, 1.0],
    "alpha": [1e-6, 1e-3, 1.0],
}

# The GRU's fixed configuration (with the seed and threads).
RNN_PARAMS = dict(hidden_layer_sizes=64, cell="gru", pooling="last", solver="adam",
                  learning_rate_init=0.003, batch_size=32, max_iter=200,
                  early_stopping=True, validation_fraction=0.1,
                  n_iter_no_change=10)

MISSING_DATA = (
    "esn_classification.py reads its UCR/UEA sets from sktime, which ships "
    "them in its wheel: install the extra with\n\n"
    '    pip install ".[esn-benchmarks]"        # from the repository root, or: pip install sktime\n\n'
    "(aeon, from the small-data extra, works too). Nothing was run."
)


def data_source():
    """The installed package that ships the sets: 'sktime', 'aeon' or None."""
    for package in ("sktime", "aeon"):
        if importlib.util.find_spec(package) is not None:
            return package
    return None


def load(name, source):
    """The set's official split, each sequence time steps first (a 3-D array
    where the lengths are equal, else a list of 2-D arrays)."""
    from skrnn import from_channels_first

    loader = getattr(__import__(f"{source}.datasets", fromlist=["datasets"]), SETS[name][0])

    def split(part):
        if source == "sktime":
            # One DataFrame (n_timesteps_i, n_channels) per series, ragged or not.
            X, y = loader(split=part, return_X_y=True, return_type="df-list")
            X = [frame.to_numpy(dtype=np.float64) for frame in X]
        else:
            # A 3-D array (n, n_channels, n_timesteps), or a list of 2-D ones.
            X, y = loader(split=part)
            X = from_channels_first(X)
        if isinstance(X, list) and len({len(seq) for seq in X}) == 1:
            X = np.stack(X)
        return X, np.asarray(y)

    return (*split("train"), *split("test"))


def describe(X_train, y_train, X_test):
    lengths = [len(seq) for seq in X_train] + [len(seq) for seq in X_test]
    steps = (f"{min(lengths)}-{max(lengths)} steps" if min(lengths) != max(lengths)
             else f"{lengths[0]} steps")
    return (f"{len(X_train)} train / {len(X_test)} test sequences, {steps}, "
            f"{np.shape(X_train[0])[1]} channel(s), {len(np.unique(y_train))} classes")


def timed_fit(model, X, y):
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return time.perf_counter() - start


def esn(args, seed, **params):
    from sklearn.pipeline import make_pipeline

    from skrnn import ESNClassifier
    from skrnn.preprocessing import SequenceScaler

    return make_pipeline(SequenceScaler(), ESNClassifier(
        n_units=args.units, pooling=args.pooling, random_state=seed,
        n_threads=args.threads, **params))


def gru(args, seed):
    from sklearn.pipeline import make_pipeline

    from skrnn import RNNClassifier
    from skrnn.preprocessing import SequenceScaler

    return make_pipeline(SequenceScaler(), RNNClassifier(
        **RNN_PARAMS, random_state=seed, n_threads=args.threads))


def search_esn(X_train, y_train, args):
    """The grid search on the training set: the best parameters, their mean
    CV accuracy and the seconds of the whole search."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    search = GridSearchCV(
        esn(args, 0), {f"esnclassifier__{key}": values for key, values in GRID.items()},
        cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=1)
    seconds = timed_fit(search, X_train, y_train)
    best = {key.split("__", 1)[1]: value for key, value in search.best_params_.items()}
    return best, float(search.best_score_), seconds


def evaluate(make, X_train, y_train, X_test, y_test, seeds):
    """Test accuracy, fit seconds and epochs (None for an ESN) per seed."""
    runs = []
    for seed in range(seeds):
        model = make(seed)
        seconds = timed_fit(model, X_train, y_train)
        accuracy = float(np.mean(model.predict(X_test) == y_test))
        runs.append({"seed": seed, "accuracy": accuracy, "fit_seconds": seconds,
                     "epochs": getattr(model[-1], "n_iter_", None)})
    return runs


def median(runs, key):
    values = [run[key] for run in runs if run[key] is not None]
    return float(np.median(values)) if values else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=["japanesevowels"])
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds of each model's test runs (the grid search uses seed 0)")
    parser.add_argument("--units", type=int, default=500, help="reservoir units of the ESN")
    parser.add_argument("--pooling", choices=["last", "mean", "max"], default="mean",
                        help="what the ESN's read-out reads of the states")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)

    source = data_source()
    if source is None:
        print(MISSING_DATA)
        return
    try:
        from skrnn import ESNClassifier  # noqa: F401
    except ImportError as exc:
        sys.exit(f"this skrnn has no ESNClassifier ({exc}): install the current "
                 "tree (pip install .) and run it again.")

    grid = ", ".join(f"{key} {values}" for key, values in GRID.items())
    n_candidates = int(np.prod([len(values) for values in GRID.values()]))
    print(f"CPU: {cpu_description()}; {args.threads} kernel thread(s), median of "
          f"{args.seeds} seed(s); data from {source} {importlib.metadata.version(source)}")
    print(f"ESN: {args.units} units, pooling={args.pooling!r}; tuned = GridSearchCV over {grid} "
          f"({n_candidates} candidates x 3 stratified folds of the training set, seed 0)")
    print("GRU: " + ", ".join(f"{key}={value}" for key, value in RNN_PARAMS.items()) + "\n")

    results = []
    for name in args.sets:
        X_train, y_train, X_test, y_test = load(name, source)
        print(f"{SETS[name][1]}: {describe(X_train, y_train, X_test)}")
        best, cv_score, search_seconds = search_esn(X_train, y_train, args)
        print(f"  best ESN on 3-fold CV: {best} (CV accuracy {cv_score:.3f}), "
              f"search {search_seconds:.1f} s\n")
        models = [
            ("ESN, defaults", {}, lambda seed: esn(args, seed)),
            ("ESN, tuned", best, lambda seed: esn(args, seed, **best)),
            ("GRU 64", RNN_PARAMS, lambda seed: gru(args, seed)),
        ]
        print("| data set | model | test accuracy | fit s | epochs |")
        print("|---|---|--:|--:|--:|")
        for label, params, make in models:
            runs = evaluate(make, X_train, y_train, X_test, y_test, args.seeds)
            epochs = median(runs, "epochs")
            print(f"| {SETS[name][1]} | {label} | {median(runs, 'accuracy'):.3f} "
                  f"| {median(runs, 'fit_seconds'):.2f} "
                  f"| {'-' if epochs is None else f'{epochs:.0f}'} |", flush=True)
            results.append({"set": SETS[name][1], "model": label, "params": params,
                            "runs": runs})
        results[-2]["search"] = {"grid": GRID, "cv": 3, "best_params": best,
                                 "cv_accuracy": cv_score, "seconds": search_seconds}
        print()

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(), "settings": vars(args),
                       "data_source": f"{source} {importlib.metadata.version(source)}",
                       "results": results}, f, indent=1, default=str)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
