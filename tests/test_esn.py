"""Echo State Networks: the reservoir kernel against the equation, the
weights as asked, the closed-form readout, streaming, threads, washout,
generation, and the errors users get."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import (
    ESNClassifier, ESNRegressor, ESNStepClassifier, ESNStepRegressor, Reservoir,
)
from skrnn import _reservoir as reservoir_module
from skrnn._reservoir import ARPACK_TOL, DENSE_EIGENVALUES_UP_TO, make_reservoir
from skrnn._sequences import check_sequences

# The reservoir's states lie in (-1, 1). float64: measured 3e-16 from the
# reference, which rounds differently only in tanh (3 ulp) and the order of
# the products' sums; the leaky update is a contraction, so errors do not
# grow along a sequence. float32: measured 1.7e-7, a few float32 ulp of 1.
STATE_TOLERANCE = {np.float64: 1e-13, np.float32: 1e-6}


def reference_states(weights, X, initial=None):
    """The equation, one step at a time in float64:
    x_t = (1 - a) x_{t-1} + a tanh(u_t W_in + x_{t-1} W + b)."""
    W = weights.W.toarray().astype(np.float64)
    W_in, b, a = weights.W_in.astype(np.float64), weights.bias.astype(np.float64), \
        weights.leak_rate
    runs = []
    for i, x in enumerate(X):
        state = np.zeros(W.shape[0]) if initial is None else initial[i].astype(float)
        steps = []
        for u in x.astype(np.float64):
            state = (1 - a) * state + a * np.tanh(u @ W_in + state @ W + b)
            steps.append(state)
        runs.append(np.array(steps))
    return runs


def _reservoir(n_features=3, n_units=40, dtype=np.float64, connectivity=0.1, seed=0,
               leak_rate=0.3, bias_scaling=0.5):
    return make_reservoir(
        n_features, n_units=n_units, spectral_radius=0.9, leak_rate=leak_rate,
        input_scaling=1.0, bias_scaling=bias_scaling, connectivity=connectivity,
        input_connectivity=0.5, random_state=np.random.RandomState(seed), dtype=dtype)


def _ragged(n_sequences=37, n_features=3, dtype=np.float64, seed=0, low=3, high=30):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(n, n_features)).astype(dtype)
            for n in rng.randint(low, high, size=n_sequences)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_kernel_matches_the_equation(dtype, sparse, pooling):
    # 37 ragged sequences make three chunks, the last one partial, with
    # sequences ending at many different steps within each.
    weights = _reservoir(dtype=dtype).with_product(sparse)
    assert weights.uses_sparse_product(len(_ragged())) == sparse
    X = _ragged(dtype=dtype)
    sequences, _ = check_sequences(X)
    store_from = 2
    states, pooled, final, finite = weights.run(
        sequences, store_from=store_from, pooling=pooling, n_threads=2)
    reference = reference_states(weights, X)
    tolerance = STATE_TOLERANCE[dtype]
    assert finite
    assert states.dtype == dtype and pooled.dtype == dtype
    np.testing.assert_allclose(states, np.concatenate([r[store_from:] for r in reference]),
                               rtol=0, atol=tolerance)
    np.testing.assert_allclose(final, [r[-1] for r in reference], rtol=0, atol=tolerance)
    pool = {"last": lambda r: r[-1], "mean": lambda r: r.mean(axis=0),
            "max": lambda r: r.max(axis=0)}[pooling]
    np.testing.assert_allclose(pooled, [pool(r[store_from:]) for r in reference],
                               rtol=0, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_from_given_states_and_generation(dtype):
    weights = _reservoir(n_features=2, dtype=dtype)
    X = _ragged(n_sequences=20, n_features=2, dtype=dtype)
    initial = np.random.RandomState(1).uniform(-1, 1, (20, weights.n_units)).astype(dtype)
    sequences, _ = check_sequences(X)
    states, _, final, _ = weights.run(sequences, initial=initial, n_threads=2)
    reference = reference_states(weights, X, initial)
    np.testing.assert_allclose(states, np.concatenate(reference), rtol=0,
                               atol=STATE_TOLERANCE[dtype])

    # Closed loop: emit y = x W_out + b_out, feed it back as the next input.
    rng = np.random.RandomState(2)
    W_out, b_out = rng.normal(size=(weights.n_units, 2)) * 0.1, rng.normal(size=2)
    generated = weights.generate(final, W_out, b_out, n_steps=6, n_threads=2)
    W = weights.W.toarray().astype(float)
    for q in range(len(X)):
        state = final[q].astype(float)
        for k in range(6):
            y = state @ W_out + b_out
            np.testing.assert_allclose(generated[q, k], y, rtol=0,
                                       atol=100 * STATE_TOLERANCE[dtype])
            state = (1 - weights.leak_rate) * state + weights.leak_rate * np.tanh(
                y @ weights.W_in.astype(float) + state @ W + weights.bias)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_steps_cut_by_columns_give_the_states_of_one_thread(dtype, sparse):
    """Fewer chunks than threads and a reservoir of 400 units or more: each
    step's columns are shared among the threads (_reservoir.pyx). 420
    units (a partial last panel) over one long series and over a few ragged
    ones: bitwise the states, pooling and generation of one thread, and the
    equation's."""
    weights = _reservoir(n_features=2, n_units=420, dtype=dtype).with_product(sparse)
    rng = np.random.RandomState(4)
    W_out, b_out = rng.normal(size=(420, 2)) * 0.05, rng.normal(size=2)
    for X in ([rng.normal(size=(120, 2)).astype(dtype)],
              _ragged(n_sequences=5, n_features=2, dtype=dtype, seed=5)):
        sequences, _ = check_sequences(X)
        runs = [weights.run(sequences, store_from=1, pooling="mean", n_threads=n)
                for n in (1, 2)]
        for one, two in zip(runs[0][:3], runs[1][:3]):
            np.testing.assert_array_equal(one, two)
        reference = reference_states(weights, X)
        np.testing.assert_allclose(runs[1][0], np.concatenate([r[1:] for r in reference]),
                                   rtol=0, atol=STATE_TOLERANCE[dtype])
        generated = [weights.generate(runs[0][2], W_out, b_out, n_steps=20, n_threads=n)
                     for n in (1, 2)]
        np.testing.assert_array_equal(generated[0], generated[1])


def test_kernel_reports_non_finite_inputs():
    weights = _reservoir()
    X = np.random.RandomState(0).normal(size=(20, 10, 3))
    X[17, 4, 1] = np.inf
    sequences, _ = check_sequences(X, ensure_all_finite=False)
    assert not weights.run(sequences, n_threads=2)[3]


@pytest.mark.parametrize("n_units", [50, 400])
def test_weights_as_asked(n_units):
    # 50 units take all eigenvalues (LAPACK); 400, ARPACK's largest.
    weights = make_reservoir(
        2, n_units=n_units, spectral_radius=1.25, leak_rate=1.0, input_scaling=0.5,
        bias_scaling=0.2, connectivity=0.05, input_connectivity=0.3,
        random_state=np.random.RandomState(0), dtype=np.float64)
    radius = np.max(np.abs(np.linalg.eigvals(weights.W.toarray())))
    # LAPACK's eigenvalues are exact to rounding; ARPACK's largest is asked
    # for to a relative accuracy of ARPACK_TOL.
    rtol = 1e-9 if n_units <= DENSE_EIGENVALUES_UP_TO else ARPACK_TOL
    np.testing.assert_allclose(radius, 1.25, rtol=rtol)
    assert weights.W.nnz == round(0.05 * n_units * n_units)
    assert np.count_nonzero(weights.W_in) == round(0.3 * 2 * n_units)
    assert set(np.unique(np.abs(weights.W_in))) == {0.0, 0.5}
    np.testing.assert_array_equal(np.abs(weights.bias), 0.2)
    # One series: sparse below the density threshold, dense above it. Many
    # sequences: dense for reservoirs small enough for its blocks to stay
    # in cache.
    assert weights.is_sparse
    assert not _reservoir(connectivity=0.5).is_sparse
    assert weights.uses_sparse_product(100) == (n_units > 1024)
    assert make_reservoir(
        1, n_units=1200, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
        bias_scaling=0.0, connectivity=0.01, input_connectivity=1.0,
        random_state=np.random.RandomState(0), dtype=np.float32,
    ).uses_sparse_product(100)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_units", [50, 300])
def test_a_reservoir_drawn_again_is_the_same_reservoir(n_units, dtype, monkeypatch):
    # The recurrent weights of a seed are kept between fits (a grid search
    # refits one reservoir many times): a fit that finds them must equal,
    # bitwise, one that draws them afresh, generator state included, and
    # nothing a fit exposes may be the kept array.
    monkeypatch.setattr(reservoir_module, "_RECENT_DRAWS", type(
        reservoir_module._RECENT_DRAWS)())
    radii = []
    solve = reservoir_module.spectral_radius_of
    monkeypatch.setattr(reservoir_module, "spectral_radius_of",
                        lambda W, rng: radii.append(W.shape) or solve(W, rng))
    X = _ragged(n_sequences=20, seed=1, dtype=dtype)
    y = np.random.RandomState(1).normal(size=20)
    first = ESNRegressor(n_units, spectral_radius=0.9, random_state=3).fit(X, y)
    assert len(reservoir_module._RECENT_DRAWS) == 1 and len(radii) == 1
    first.reservoir_weights_.data[:] = 0  # must not reach the kept draw
    again = ESNRegressor(n_units, spectral_radius=1.1, random_state=3).fit(X, y)
    assert len(radii) == 1  # found, not drawn
    # Another connectivity is another reservoir.
    ESNRegressor(n_units, connectivity=0.2, random_state=3).fit(X, y)
    assert len(radii) == 2 and len(reservoir_module._RECENT_DRAWS) == 2
    reservoir_module._RECENT_DRAWS.clear()
    fresh = ESNRegressor(n_units, spectral_radius=1.1, random_state=3).fit(X, y)
    assert len(radii) == 3
    for name in ("input_weights_", "bias_", "coef_", "intercept_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name))
    np.testing.assert_array_equal(again.reservoir_weights_.toarray(),
                                  fresh.reservoir_weights_.toarray())
    np.testing.assert_array_equal(again.predict(X), fresh.predict(X))


def test_kept_draws_are_bounded(monkeypatch):
    monkeypatch.setattr(reservoir_module, "_RECENT_DRAWS", type(
        reservoir_module._RECENT_DRAWS)())
    monkeypatch.setattr(reservoir_module, "RECENT_DRAWS_MAX_NONZEROS", 1000)
    int32_max = np.iinfo(np.int32).max
    for seed in range(12):  # 160 stored values each: at most 6 fit in 1000
        _reservoir(n_units=40, seed=seed)
    kept = reservoir_module._RECENT_DRAWS
    last_six = [np.random.RandomState(seed).randint(int32_max) for seed in range(6, 12)]
    assert [key[0] for key in kept] == last_six
    _reservoir(n_units=40, seed=6)  # found: now the most recently drawn
    assert [key[0] for key in kept] == last_six[1:] + last_six[:1]
    _reservoir(n_units=120, seed=0)  # 1,440 values: never kept, evicts nothing
    assert [key[0] for key in kept] == last_six[1:] + last_six[:1]
    monkeypatch.setattr(reservoir_module, "RECENT_DRAWS_MAX_NONZEROS", 10**9)
    for seed in range(20):
        _reservoir(n_units=40, seed=100 + seed)
    assert len(kept) == reservoir_module.RECENT_DRAWS_KEPT


def test_dense_and_sparse_products_agree():
    weights = _reservoir(n_units=120, connectivity=0.15)
    sequences, _ = check_sequences(_ragged())
    dense = weights.with_product(False).run(sequences, n_threads=1)[0]
    sparse = weights.with_product(True).run(sequences, n_threads=1)[0]
    np.testing.assert_allclose(dense, sparse, rtol=0, atol=1e-13)


@pytest.mark.parametrize("Estimator", [ESNClassifier, ESNRegressor, ESNStepClassifier,
                                       ESNStepRegressor])
def test_results_do_not_depend_on_the_thread_count(Estimator):
    X = _ragged(n_sequences=70, seed=3)
    y = _targets(Estimator, X)
    fits = [Estimator(60, washout=2, random_state=0, n_threads=n).fit(X, y)
            for n in (1, 2)]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    raw = [_raw(fit, X) for fit in fits]
    np.testing.assert_array_equal(raw[0], raw[1])


def _raw(estimator, X):
    if hasattr(estimator, "decision_function"):
        out = estimator.decision_function(X)
    else:
        out = estimator.predict(X)
    return np.concatenate(out) if isinstance(out, list) else out


def _targets(Estimator, X, seed=0):
    rng = np.random.RandomState(seed)
    if Estimator is ESNClassifier:
        return np.array([x[:, 0].sum() > 0 for x in X]).astype(int) + rng.randint(0, 2, len(X)) * 2
    if Estimator is ESNRegressor:
        return np.array([x[:, :2].mean(axis=0) for x in X])
    if Estimator is ESNStepClassifier:
        return [np.where(x[:, 0] > 0.5, "high", np.where(x[:, 0] < -0.5, "low", "mid"))
                for x in X]
    return [np.cumsum(x[:, 0]) / 10 for x in X]


@pytest.mark.parametrize("Estimator", [ESNClassifier, ESNRegressor, ESNStepClassifier,
                                       ESNStepRegressor])
def test_partial_fit_gives_the_readout_of_fit(Estimator):
    X = _ragged(n_sequences=90, seed=4)
    y = _targets(Estimator, X)
    full = Estimator(80, washout=1, alpha=1e-4, random_state=0).fit(X, y)
    stream = Estimator(80, washout=1, alpha=1e-4, random_state=0)
    extra = {}
    if "Classifier" in Estimator.__name__:
        extra["classes"] = full.classes_
    for chunk in np.array_split(np.arange(90), 4):
        stream.partial_fit([X[i] for i in chunk], [y[i] for i in chunk] if isinstance(
            y, list) else y[chunk], **extra)
    # The same normal equations, summed in another order: equal to rounding.
    np.testing.assert_allclose(stream.coef_, full.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(_raw(stream, X), _raw(full, X), rtol=1e-7, atol=1e-9)


def test_readout_is_ridge_on_the_pooled_states():
    X = _ragged(n_sequences=60, seed=5)
    y = np.array([x[:, 0].mean() for x in X])
    weights = np.random.RandomState(0).uniform(0.5, 2, size=60)
    esn = ESNRegressor(30, pooling="mean", washout=2, alpha=0.1, random_state=0)
    esn.fit(X, y, sample_weight=weights)
    states = Reservoir(30, pooling="mean", washout=2, random_state=0).fit(X).transform(X)
    ridge = Ridge(alpha=0.1).fit(states, y, sample_weight=weights)
    np.testing.assert_allclose(esn.coef_, ridge.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(esn.intercept_, ridge.intercept_, rtol=1e-8)


def test_washout_is_left_out_of_the_readout():
    X = _ragged(n_sequences=40, seed=6, low=8)
    y = [np.cumsum(x[:, 0]) for x in X]
    junk = [t.copy() for t in y]
    for t in junk:
        t[:5] = 1e6
    clean = ESNStepRegressor(40, washout=5, random_state=0).fit(X, y)
    dirty = ESNStepRegressor(40, washout=5, random_state=0).fit(X, junk)
    np.testing.assert_array_equal(clean.coef_, dirty.coef_)
    # Prediction still answers at every step, washout included.
    assert [len(p) for p in clean.predict(X)] == [len(x) for x in X]
    # The per-sequence estimators pool the steps after the washout only.
    res = Reservoir(40, washout=5, pooling="mean", random_state=0).fit(X)
    reference = reference_states(res._reservoir, X)
    np.testing.assert_allclose(res.transform(X), [r[5:].mean(axis=0) for r in reference],
                               atol=1e-13)


def test_generate_continues_the_series():
    t = np.arange(700)
    series = (np.sin(0.21 * t) + 0.5 * np.sin(0.05 * t))[:, None]
    esn = ESNStepRegressor(300, spectral_radius=1.0, leak_rate=0.3, bias_scaling=0.2,
                           washout=50, alpha=1e-8, random_state=0)
    esn.fit([series[:600]], [series[1:601]])
    generated = esn.generate([series[:600]], n_steps=100)
    assert generated.shape == (1, 100, 1)
    # (measured: 8e-4 at most over the 100 steps)
    np.testing.assert_allclose(generated[0, :, 0], series[600:700, 0], rtol=0, atol=0.01)
    # Step k is the prediction after k fed-back inputs.
    extended = np.concatenate([series[:600], generated[0, :3]])
    np.testing.assert_allclose(esn.predict([extended])[0][599:602, 0], generated[0, :3, 0],
                               rtol=0, atol=1e-12)


def test_generate_needs_as_many_outputs_as_inputs():
    X = np.random.RandomState(0).normal(size=(5, 20, 2))
    esn = ESNStepRegressor(20, random_state=0).fit(X, X[:, :, 0])
    with pytest.raises(ValueError, match="1 outputs and 2 features"):
        esn.generate(X, 5)
    esn = ESNStepRegressor(20, random_state=0).fit(X, X)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_steps must be a positive integer"):
            esn.generate(X, bad)
    assert esn.generate(X, 4).shape == (5, 4, 2)


def test_classifiers_predict_labels_of_every_form():
    rng = np.random.RandomState(0)
    freq = rng.choice([0.1, 0.25, 0.4], size=150)
    X = np.sin(freq[:, None] * np.arange(30) + rng.uniform(0, 6, (150, 1)))[:, :, None]
    labels = np.array(["slow", "mid", "fast"])[np.searchsorted([0.2, 0.3], freq)]
    clf = ESNClassifier(100, bias_scaling=1.0, pooling="mean", random_state=0)
    clf.fit(X[:100], labels[:100])
    assert set(clf.classes_) == {"fast", "mid", "slow"}
    assert clf.decision_function(X[:3]).shape == (3, 3)
    assert clf.score(X[100:], labels[100:]) > 0.9

    step = ESNStepClassifier(50, random_state=0)
    y = [(x[:, 0] > 0).astype(int) for x in X]
    step.fit(list(X), y)
    assert step.decision_function(list(X[:2]))[0].shape == (30,)
    assert step.score(list(X), y) > 0.95


def test_grid_search_over_the_reservoir_and_readout():
    X = _ragged(n_sequences=60, seed=7)
    y = np.array([x[:, 0].mean() for x in X])
    grid = GridSearchCV(
        ESNRegressor(30, pooling="mean", random_state=0),
        {"spectral_radius": [0.5, 1.1], "leak_rate": [0.3, 1.0], "alpha": [1e-6, 1.0]},
        cv=3).fit(X, y)
    assert set(grid.best_params_) == {"spectral_radius", "leak_rate", "alpha"}
    assert clone(grid.best_estimator_).get_params()["n_units"] == 30


def test_float32_input_runs_in_float32():
    X = [x.astype(np.float32) for x in _ragged(seed=8)]
    res = Reservoir(20, random_state=0).fit(X)
    assert res.transform(X).dtype == np.float32
    assert res.input_weights_.dtype == np.float32
    # float64 input to a float32 reservoir is cast, not refused.
    assert res.transform([x.astype(np.float64) for x in X]).dtype == np.float32


def test_inputs_are_not_modified():
    X = _ragged(n_sequences=20, seed=9)
    y = [np.cumsum(x[:, 0]) for x in X]
    copies = [x.copy() for x in X], [t.copy() for t in y]
    esn = ESNStepRegressor(20, washout=1, random_state=0).fit(X, y)
    esn.predict(X)
    for before, after in zip(copies, (X, y)):
        for a, b in zip(before, after):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("params", [
    {"leak_rate": 0}, {"leak_rate": 1.5}, {"n_units": 0}, {"spectral_radius": -1},
    {"connectivity": 0}, {"connectivity": 1.2}, {"input_connectivity": 0},
    {"washout": -1}, {"alpha": -1e-3}, {"pooling": "first"}, {"n_threads": 0},
])
def test_bad_hyperparameters_are_named(params):
    X = _ragged(n_sequences=10)
    name = next(iter(params))
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        ESNRegressor(**params).fit(X, np.zeros(10))


def test_bad_inputs_get_clear_errors():
    X = _ragged(n_sequences=10, low=3, high=8)
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="washout=8 leaves sequence"):
        ESNClassifier(10, washout=8).fit(X, y)
    with pytest.raises(ValueError, match="washout=20 leaves no step to fit"):
        ESNStepRegressor(10, washout=20).fit(X, [x[:, 0] for x in X])
    with pytest.raises(ValueError, match="NaN"):
        bad = [x.copy() for x in X]
        bad[3][1, 0] = np.nan
        ESNClassifier(10).fit(bad, y)
    clf = ESNClassifier(10, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="3 features per time step"):
        clf.predict([x[:, :2] for x in X])
    with pytest.raises(ValueError, match="classes must be passed"):
        ESNClassifier(10).partial_fit(X, y)
    stream = ESNClassifier(10, random_state=0).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not among the classes"):
        stream.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="10 sequences"):
        ESNRegressor(10).fit(X, np.zeros(9))


def test_failed_partial_fit_leaves_the_model_as_it_was():
    X = _ragged(n_sequences=10)
    y = np.arange(10) % 2
    clf = ESNClassifier(10, random_state=0).partial_fit(X, y, classes=[0, 1])
    coef = clf.coef_.copy()
    with pytest.raises(ValueError):
        clf.partial_fit(X, y + 5)
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(clf._readout.gram,
                                  ESNClassifier(10, random_state=0).partial_fit(
                                      X, y, classes=[0, 1])._readout.gram)
