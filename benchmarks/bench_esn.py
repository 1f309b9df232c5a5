"""skrnn's Echo State Networks against reservoirpy's, side by side in one
process: accuracy and seconds on the Mackey-Glass series.

Both libraries get the same reservoir hyperparameters (spectral radius
1.25, leak rate 0.3, input scaling 1, no bias, 10% of the recurrent and of
the input weights nonzero), the same ridge penalty (1e-5, the intercept not
penalised in either) and the same data, from ``skrnn.datasets.mackey_glass``
(tau = 17, 2,100 values, ``random_state=0``; at these settings it is
reservoirpy's own series to the last bit). Their reservoirs come from the
same distributions (reservoirpy's: normal recurrent weights rescaled to the
spectral radius, input weights +-1) but from different random generators,
so the two never share a draw, and an error is a property of the draw as
much as of the library: each error below is the median over the
``--repeats`` fits, fit ``r`` drawing its reservoir from seed ``r`` in each
library, and each time is the best (shortest) of those fits. Three parts:

``one-step``
    One-step-ahead prediction, for each of ``--units``: ``ESNStepRegressor``
    against ``Reservoir >> Ridge``, fitted on the inputs ``s[0:1600]`` and
    the targets ``s[1:1601]`` (one sequence, the first 100 steps a washout,
    reservoirpy's ``warmup=100``), then run from a zero state over the
    inputs ``s[0:1999]``; the RMSE is over the 399 steps 1600 ... 1998
    (targets ``s[1601:2000]``), which the fit did not see. ``fit s`` is the
    whole fit (drawing the reservoir, running it, solving the readout),
    ``predict s`` the run over the 1,999 inputs.

``sequences``
    Many short sequences at once, for each of ``--units``: ``--sequences``
    (default 400) windows of ``--steps`` (default 50) steps of the series
    with noise (standard deviation 0.01), at random places in its first
    7,000 steps; 100 more windows from steps 7,500 on to test. Two tasks:
    ``sequence`` (one target per window, the series 10 steps after the
    window's last: ``ESNRegressor(pooling='last')``; reservoirpy learns it
    from targets that are NaN at every step but the last, which its fit
    drops) and ``step`` (the next value at every step, the first 10 steps
    of each window a washout: ``ESNStepRegressor``). skrnn runs on
    ``--threads`` threads; reservoirpy is timed with ``workers=1`` and with
    ``workers=--threads`` (joblib: processes for the fit, threads for the
    run), and the ratio is against its faster setting.

``generation``
    Closed loop, at ``--generate-units`` (default 500) units: after the
    one-step fit, the model warms up on ``s[0:1600]`` and generates 500
    steps, each prediction fed back as the next input (skrnn's
    ``generate``; reservoirpy has no generator, so a Python loop of
    ``Model.step``). ``valid steps`` counts the generated steps before the
    first whose error exceeds 10% of the range of the training series,
    ``|gen[k] - s[1600 + k]| > 0.1 (max - min of s[0:1600])`` (about 0.09).
    The reservoir computing literature's "valid prediction time" counts
    steps the same way, up to the first error above a few tenths of the
    series' scale (its standard deviation or RMS); 10% of the range is
    about 0.4 standard deviations of this series. ``generate s`` is the
    warm-up and the 500 steps.

reservoirpy runs its reservoir in Python, one sparse product per step;
skrnn in compiled kernels. Run it from the repository root, on an otherwise
idle machine::

    python benchmarks/bench_esn.py                     # 100, 500, 2000 units, 7 repeats
    python benchmarks/bench_esn.py --units 100 --repeats 1 --parts one-step
    python benchmarks/bench_esn.py --threads 1 --json esn.json

reservoirpy is optional (``pip install reservoirpy==0.4.2``): without it the
script prints skrnn's figures, with "n/a" in reservoirpy's columns. The
fits of reservoirpy at 2,000 units take seconds each, the whole default run
a few minutes.
"""

import argparse
import gc
import json
import os
import platform
import sys
import time

import numpy as np

from machine import cpu_model, vector_isa

try:  # --help and the import of this module work without a built skrnn
    import skrnn
    from skrnn import ESNRegressor, ESNStepRegressor
    from skrnn.datasets import mackey_glass
    SKRNN_ERROR = None
except ImportError as error:
    skrnn = None
    SKRNN_ERROR = error

try:
    import reservoirpy
    from reservoirpy.nodes import Reservoir, Ridge
except ImportError:  # the benchmark still reports skrnn alone
    reservoirpy = None

# The reservoir and readout, the same in both libraries.
SPECTRAL_RADIUS = 1.25
LEAK_RATE = 0.3
INPUT_SCALING = 1.0
CONNECTIVITY = 0.1
INPUT_CONNECTIVITY = 0.1
ALPHA = 1e-5

# The series and the one-step protocol.
DATA_SEED = 0
N_SERIES = 2000          # the one-step part reads s[0:N_SERIES]
N_TRAIN = 1600           # inputs s[0:N_TRAIN], targets s[1:N_TRAIN + 1]
WASHOUT = 100
GENERATE_STEPS = 500     # generated after s[0:N_TRAIN]: needs s up to 2099
TOLERANCE = 0.1          # of the training series' range

# The many-sequences part.
N_TEST_SEQUENCES = 100
NOISE = 0.01
HORIZON = 10             # the per-sequence target: 10 steps after the last input
STEP_WASHOUT = 10
LONG_SERIES = 10_000
TRAIN_REGION = 7_000     # training windows start before this step
TEST_REGION = 7_500      # test windows start from this step

PARTS = ("one-step", "sequences", "generation")


# -- timing and scores -----------------------------------------------------------


# OpenBLAS's threads spin for some tens of milliseconds after each call
# before they sleep, and meanwhile take cores from whatever runs next;
# reservoirpy's readout calls BLAS, so each timed call waits for them first.
BLAS_SETTLE_SECONDS = 0.2


def time_call(func):
    """Wall-clock seconds of one call of ``func()``, and what it returned."""
    gc.collect()  # the previous run's garbage, collected outside the timing
    time.sleep(BLAS_SETTLE_SECONDS)
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def rmse(predicted, target):
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(target)) ** 2)))


def valid_steps(generated, true, tolerance):
    """Generated steps before the first farther than ``tolerance`` from the truth."""
    far = np.nonzero(np.abs(np.asarray(generated) - np.asarray(true)) > tolerance)[0]
    return int(far[0]) if len(far) else len(generated)


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


# -- data ------------------------------------------------------------------------


def the_series():
    """The Mackey-Glass series of the one-step and generation parts."""
    return mackey_glass(N_TRAIN + GENERATE_STEPS, random_state=DATA_SEED)


def sequence_data(n_sequences, n_steps, seed=DATA_SEED):
    """Noisy windows of a long Mackey-Glass series, to train and to test.

    Returns
    -------
    dict of X_train, X_test : ndarray (n, n_steps, 1); y_train, y_test :
    ndarray (n,), the series HORIZON steps after each window's last input;
    Y_train, Y_test : ndarray (n, n_steps), the next value at every step.
    """
    series = mackey_glass(LONG_SERIES, random_state=seed)
    rng = np.random.RandomState(seed)
    last_start = LONG_SERIES - n_steps - HORIZON
    if TRAIN_REGION > TEST_REGION - n_steps - HORIZON or TEST_REGION >= last_start:
        raise ValueError(f"--steps {n_steps} is too long for the series' "
                         f"{LONG_SERIES} steps")
    data = {}
    for name, n, low, high in (("train", n_sequences, 0, TRAIN_REGION),
                               ("test", N_TEST_SEQUENCES, TEST_REGION, last_start)):
        starts = rng.randint(low, high, size=n)
        windows = np.stack([series[a:a + n_steps] for a in starts])
        data[f"X_{name}"] = (windows + NOISE * rng.standard_normal(windows.shape))[:, :, None]
        data[f"y_{name}"] = series[starts + n_steps - 1 + HORIZON]
        data[f"Y_{name}"] = np.stack([series[a + 1:a + n_steps + 1] for a in starts])
    return data


# -- the two libraries -------------------------------------------------------------


def skrnn_model(estimator, n_units, seed, n_threads, **params):
    return estimator(
        n_units=n_units, spectral_radius=SPECTRAL_RADIUS, leak_rate=LEAK_RATE,
        input_scaling=INPUT_SCALING, bias_scaling=0.0, connectivity=CONNECTIVITY,
        input_connectivity=INPUT_CONNECTIVITY, alpha=ALPHA, random_state=seed,
        n_threads=n_threads, **params)


def reservoirpy_model(n_units, seed):
    """``Reservoir >> Ridge`` with skrnn's hyperparameters."""
    reservoir = Reservoir(
        n_units, lr=LEAK_RATE, sr=SPECTRAL_RADIUS, input_scaling=INPUT_SCALING,
        input_connectivity=INPUT_CONNECTIVITY, rc_connectivity=CONNECTIVITY,
        bias=0.0, seed=seed)
    return reservoir >> Ridge(ridge=ALPHA)


def reservoirpy_run(model, X, workers=1):
    """reservoirpy's outputs over X, every sequence from a zero state.

    A reservoirpy model keeps its state between calls (after ``fit``, the
    state at the end of the training data) and starts every sequence of a
    run from it, so it is reset first, as skrnn starts every sequence
    from zeros.
    """
    model.reset()
    return model.run(X, workers=workers)


def reservoirpy_generate(model, warmup, n_steps):
    """Warm up on ``warmup``, then feed each prediction back, step by step.

    ``out[k]`` predicts the step k after the warm-up's last, as skrnn's
    ``generate`` orders them.
    """
    x = reservoirpy_run(model, warmup)[-1]
    generated = np.empty((n_steps, x.shape[-1]))
    generated[0] = x
    for k in range(1, n_steps):
        x = model.step(x)
        generated[k] = x
    return generated


# -- part (a): one step ahead --------------------------------------------------------


def one_step_skrnn(s, n_units, seed, n_threads):
    """Fit and predict seconds, the test RMSE and the fitted model."""
    model = skrnn_model(ESNStepRegressor, n_units, seed, n_threads, washout=WASHOUT)
    X_train, y_train = [s[0:N_TRAIN, None]], [s[1:N_TRAIN + 1]]
    fit_s, _ = time_call(lambda: model.fit(X_train, y_train))
    predict_s, predicted = time_call(lambda: model.predict([s[0:N_SERIES - 1, None]]))
    predicted = np.asarray(predicted[0]).reshape(-1)
    return fit_s, predict_s, rmse(predicted[N_TRAIN:], s[N_TRAIN + 1:N_SERIES]), model


def one_step_reservoirpy(s, n_units, seed):
    model = reservoirpy_model(n_units, seed)
    X_train, y_train = s[0:N_TRAIN, None], s[1:N_TRAIN + 1, None]
    fit_s, _ = time_call(lambda: model.fit(X_train, y_train, warmup=WASHOUT))
    predict_s, predicted = time_call(
        lambda: reservoirpy_run(model, s[0:N_SERIES - 1, None]))
    predicted = predicted[:, 0]
    return fit_s, predict_s, rmse(predicted[N_TRAIN:], s[N_TRAIN + 1:N_SERIES]), model


def run_one_step(args, s):
    records = []
    for n_units in args.units:
        print(f"one-step, {n_units} units ...", file=sys.stderr, flush=True)
        runs = {"skrnn": [], "reservoirpy": []}
        for seed in range(args.repeats):
            runs["skrnn"].append(one_step_skrnn(s, n_units, seed, args.threads)[:3])
            if reservoirpy is not None:
                runs["reservoirpy"].append(one_step_reservoirpy(s, n_units, seed)[:3])
        record = {"n_units": n_units}
        for library, results in runs.items():
            record.update(summarise(library, results, ("fit_s", "predict_s", "rmse")))
        record["rmse_ratio"] = ratio(record["skrnn_rmse"], record["reservoirpy_rmse"])
        record["fit_speedup"] = ratio(record["reservoirpy_fit_s"], record["skrnn_fit_s"])
        record["predict_speedup"] = ratio(record["reservoirpy_predict_s"],
                                          record["skrnn_predict_s"])
        records.append(record)
    return records


def summarise(library, results, names):
    """The best of each ``*_s`` time and the median of each score over the
    repeats, and every repeat's score; None for a library that did not run."""
    record = {}
    columns = list(zip(*results)) if results else [None] * len(names)
    for name, values in zip(names, columns):
        if values is None:
            record[f"{library}_{name}"] = None
        elif name.endswith("_s"):
            record[f"{library}_{name}"] = float(min(values))
        else:
            record[f"{library}_{name}"] = float(np.median(values))
            record[f"{library}_{name}_per_seed"] = [float(v) for v in values]
    return record


# -- part (b): many sequences ------------------------------------------------------------


def sequences_skrnn(data, task, n_units, seed, n_threads):
    if task == "sequence":
        model = skrnn_model(ESNRegressor, n_units, seed, n_threads, pooling="last")
        fit_s, _ = time_call(lambda: model.fit(data["X_train"], data["y_train"]))
        predict_s, predicted = time_call(lambda: model.predict(data["X_test"]))
        error = rmse(predicted, data["y_test"])
    else:
        model = skrnn_model(ESNStepRegressor, n_units, seed, n_threads,
                            washout=STEP_WASHOUT)
        fit_s, _ = time_call(lambda: model.fit(data["X_train"], data["Y_train"]))
        predict_s, predicted = time_call(lambda: model.predict(data["X_test"]))
        error = rmse(np.asarray(predicted)[:, STEP_WASHOUT:],
                     data["Y_test"][:, STEP_WASHOUT:])
    return fit_s, predict_s, error


def sequences_reservoirpy(data, task, n_units, seed, workers):
    model = reservoirpy_model(n_units, seed)
    if task == "sequence":
        # reservoirpy's readout fits one target per step; its fit drops the
        # steps whose target is NaN, which leaves each sequence's last.
        targets = np.full(data["X_train"].shape, np.nan)
        targets[:, -1, 0] = data["y_train"]
        warmup = 0
    else:
        targets = data["Y_train"][:, :, None]
        warmup = STEP_WASHOUT
    fit_s, _ = time_call(lambda: model.fit(data["X_train"], targets, warmup=warmup,
                                           workers=workers))
    predict_s, predicted = time_call(
        lambda: reservoirpy_run(model, data["X_test"], workers=workers))
    predicted = np.asarray(predicted)[:, :, 0]
    if task == "sequence":
        error = rmse(predicted[:, -1], data["y_test"])
    else:
        error = rmse(predicted[:, STEP_WASHOUT:], data["Y_test"][:, STEP_WASHOUT:])
    return fit_s, predict_s, error


def run_sequences(args):
    data = sequence_data(args.sequences, args.steps)
    worker_counts = sorted({1, args.threads})
    names = ("fit_s", "predict_s", "rmse")
    records = []
    for n_units in args.units:
        for task in ("sequence", "step"):
            print(f"sequences ({task}), {n_units} units ...", file=sys.stderr, flush=True)
            skrnn_runs = [sequences_skrnn(data, task, n_units, seed, args.threads)
                          for seed in range(args.repeats)]
            record = {"task": task, "n_units": n_units, "n_sequences": args.sequences,
                      "n_steps": args.steps, **summarise("skrnn", skrnn_runs, names)}
            for workers in worker_counts:
                runs = ([sequences_reservoirpy(data, task, n_units, seed, workers)
                         for seed in range(args.repeats)] if reservoirpy is not None else [])
                # The results do not depend on the workers: one RMSE, from workers=1.
                record.update(summarise(f"reservoirpy_w{workers}", runs, names))
            for name in ("fit_s", "predict_s"):
                times = [record[f"reservoirpy_w{w}_{name}"] for w in worker_counts]
                best = None if times[0] is None else min(times)
                record[f"reservoirpy_{name}"] = best
                record[f"{name[:-2]}_speedup"] = ratio(best, record[f"skrnn_{name}"])
            record["reservoirpy_rmse"] = record.get("reservoirpy_w1_rmse")
            record["rmse_ratio"] = ratio(record["skrnn_rmse"], record["reservoirpy_rmse"])
            records.append(record)
    return records, worker_counts


# -- part (c): closed-loop generation ---------------------------------------------------------


def run_generation(args, s):
    n_units = args.generate_units
    print(f"generation, {n_units} units ...", file=sys.stderr, flush=True)
    tolerance = TOLERANCE * float(np.ptp(s[0:N_TRAIN]))
    true = s[N_TRAIN:N_TRAIN + GENERATE_STEPS]
    warmup = s[0:N_TRAIN, None]
    runs = {"skrnn": [], "reservoirpy": []}
    for seed in range(args.repeats):
        model = one_step_skrnn(s, n_units, seed, args.threads)[3]
        seconds, generated = time_call(lambda: model.generate([warmup], GENERATE_STEPS))
        generated = np.asarray(generated[0]).reshape(-1)
        runs["skrnn"].append((seconds, valid_steps(generated, true, tolerance),
                              rmse(generated[:100], true[:100])))
        if reservoirpy is not None:
            model = one_step_reservoirpy(s, n_units, seed)[3]
            seconds, generated = time_call(
                lambda: reservoirpy_generate(model, warmup, GENERATE_STEPS))
            generated = generated[:, 0]
            runs["reservoirpy"].append((seconds, valid_steps(generated, true, tolerance),
                                        rmse(generated[:100], true[:100])))
    record = {"n_units": n_units, "n_steps": GENERATE_STEPS, "tolerance": tolerance}
    for library, results in runs.items():
        record.update(summarise(library, results,
                                ("generate_s", "valid_steps", "rmse_first_100")))
    record["generate_speedup"] = ratio(record["reservoirpy_generate_s"],
                                       record["skrnn_generate_s"])
    return record


# -- output -------------------------------------------------------------------------


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def markdown(header, rows, numeric):
    """A markdown table, text columns left-aligned and numbers right-aligned."""
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w)
                                 for c, w, num in zip(cells, widths, numeric)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if num else ":" + "-" * (w + 1)
                          for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


def one_step_table(records):
    header = ["units", "skrnn RMSE", "rpy RMSE", "RMSE skrnn/rpy", "skrnn fit s",
              "rpy fit s", "fit rpy/skrnn", "skrnn predict s", "rpy predict s",
              "predict rpy/skrnn"]
    rows = [[str(r["n_units"]), fmt(r["skrnn_rmse"], ".2e"), fmt(r["reservoirpy_rmse"], ".2e"),
             fmt(r["rmse_ratio"], ".2f"), fmt(r["skrnn_fit_s"], ".4f"),
             fmt(r["reservoirpy_fit_s"], ".4f"), fmt(r["fit_speedup"], ".1f"),
             fmt(r["skrnn_predict_s"], ".4f"), fmt(r["reservoirpy_predict_s"], ".4f"),
             fmt(r["predict_speedup"], ".1f")] for r in records]
    return markdown(header, rows, [True] * len(header))


def sequences_table(records, worker_counts):
    header = ["task", "units", "skrnn RMSE", "rpy RMSE", "RMSE skrnn/rpy", "skrnn fit s"]
    header += [f"rpy fit s (w={w})" for w in worker_counts]
    header += ["fit rpy/skrnn", "skrnn predict s"]
    header += [f"rpy predict s (w={w})" for w in worker_counts]
    header += ["predict rpy/skrnn"]
    rows = []
    for r in records:
        rows.append(
            [r["task"], str(r["n_units"]), fmt(r["skrnn_rmse"], ".2e"),
             fmt(r["reservoirpy_rmse"], ".2e"), fmt(r["rmse_ratio"], ".2f"),
             fmt(r["skrnn_fit_s"], ".4f")]
            + [fmt(r[f"reservoirpy_w{w}_fit_s"], ".4f") for w in worker_counts]
            + [fmt(r["fit_speedup"], ".1f"), fmt(r["skrnn_predict_s"], ".4f")]
            + [fmt(r[f"reservoirpy_w{w}_predict_s"], ".4f") for w in worker_counts]
            + [fmt(r["predict_speedup"], ".1f")])
    return markdown(header, rows, [False] + [True] * (len(header) - 1))


def generation_table(record):
    header = ["units", "skrnn valid steps", "rpy valid steps", "skrnn RMSE 100",
              "rpy RMSE 100", "skrnn generate s", "rpy generate s", "generate rpy/skrnn"]
    r = record
    rows = [[str(r["n_units"]), fmt(r["skrnn_valid_steps"], ".0f"),
             fmt(r["reservoirpy_valid_steps"], ".0f"), fmt(r["skrnn_rmse_first_100"], ".2e"),
             fmt(r["reservoirpy_rmse_first_100"], ".2e"), fmt(r["skrnn_generate_s"], ".4f"),
             fmt(r["reservoirpy_generate_s"], ".4f"), fmt(r["generate_speedup"], ".1f")]]
    return markdown(header, rows, [True] * len(header))


def environment(args):
    """Versions and settings, to print and to store with the results."""
    import scipy

    return {
        "skrnn": skrnn.__version__,
        "reservoirpy": reservoirpy.__version__ if reservoirpy is not None else None,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "isa": vector_isa(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "repeats": args.repeats,
        "units": args.units,
        "generate_units": args.generate_units,
        "sequences": args.sequences,
        "steps": args.steps,
        "parts": args.parts,
        "spectral_radius": SPECTRAL_RADIUS,
        "leak_rate": LEAK_RATE,
        "input_scaling": INPUT_SCALING,
        "connectivity": CONNECTIVITY,
        "input_connectivity": INPUT_CONNECTIVITY,
        "alpha": ALPHA,
        "washout": WASHOUT,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="skrnn's Echo State Networks against reservoirpy's on the "
                    "Mackey-Glass series: one-step-ahead RMSE and fit seconds, many "
                    "short sequences at once, and closed-loop generation.")
    parser.add_argument("--units", type=int, nargs="+", default=[100, 500, 2000],
                        help="reservoir sizes of the one-step and sequences parts "
                             "(default: 100 500 2000)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="fits per measurement, fit r drawing its reservoir from "
                             "seed r: the best time and the median error are kept "
                             "(default: 7)")
    parser.add_argument("--threads", type=int, default=2,
                        help="skrnn's threads, BLAS's threads, and reservoirpy's "
                             "workers beside 1 (default: 2)")
    parser.add_argument("--sequences", type=int, default=400,
                        help="training sequences of the sequences part (default: 400)")
    parser.add_argument("--steps", type=int, default=50,
                        help="steps per sequence of the sequences part (default: 50)")
    parser.add_argument("--generate-units", type=int, default=500,
                        help="reservoir size of the generation part (default: 500)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="parts to run (default: all)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the results as JSON to FILE")
    args = parser.parse_args(argv)
    if min(args.units) < 1:
        parser.error("--units values must be positive")
    for name in ("repeats", "threads", "sequences", "generate_units"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.steps <= STEP_WASHOUT:
        parser.error(f"--steps must exceed the washout of the step task ({STEP_WASHOUT})")
    return args


def main(argv=None):
    args = parse_args(argv)
    if skrnn is None:
        sys.exit(f"bench_esn.py needs skrnn installed (pip install -e .): {SKRNN_ERROR}")
    from threadpoolctl import threadpool_limits

    env = environment(args)
    print(f"skrnn {env['skrnn']}, reservoirpy {env['reservoirpy'] or 'not installed'}, "
          f"numpy {env['numpy']}, scipy {env['scipy']}, Python {env['python']}")
    print(f"CPU: {env['cpu_model']}, {env['isa']}, {env['cpu_count']} logical CPUs; "
          f"{args.threads} thread(s), best of {args.repeats}")
    if reservoirpy is None:
        print("reservoirpy is not installed (pip install reservoirpy==0.4.2): "
              "its columns show n/a")
    if args.threads > (os.cpu_count() or 1):
        print(f"warning: more threads than the {os.cpu_count()} CPUs", file=sys.stderr)

    results = {}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        s = the_series()
        if "one-step" in args.parts:
            results["one_step"] = run_one_step(args, s)
        if "sequences" in args.parts:
            results["sequences"], worker_counts = run_sequences(args)
        if "generation" in args.parts:
            results["generation"] = run_generation(args, s)

    if "one_step" in results:
        print()
        print(f"One step ahead: fit on s[0:{N_TRAIN}] (washout {WASHOUT}), RMSE over "
              f"s[{N_TRAIN + 1}:{N_SERIES}] (median of {args.repeats} reservoirs):")
        print()
        print(one_step_table(results["one_step"]))
    if "sequences" in results:
        print()
        print(f"{args.sequences} sequences of {args.steps} steps (test: "
              f"{N_TEST_SEQUENCES}); 'sequence': the value {HORIZON} steps after each, "
              f"'step': the next value at every step after {STEP_WASHOUT}; "
              "w = reservoirpy's workers:")
        print()
        print(sequences_table(results["sequences"], worker_counts))
    if "generation" in results:
        r = results["generation"]
        print()
        print(f"Closed loop, {GENERATE_STEPS} steps after s[0:{N_TRAIN}]: valid steps "
              f"before an error > {TOLERANCE:.0%} of the training range "
              f"({r['tolerance']:.3f}); RMSE of the first 100 generated steps:")
        print()
        print(generation_table(r))
    print()
    print("rpy = reservoirpy. Ratios of times are reservoirpy's over skrnn's (> 1: "
          "skrnn is faster); RMSE skrnn/rpy < 1: skrnn is more accurate.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, **results}, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
