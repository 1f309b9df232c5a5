"""GradientClippingWarning: a fit whose gradient was clipped on nearly every
update says so, once, and names the remedies."""

import warnings

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skrnn import GradientClippingWarning, RNNRegressor, RNNStepRegressor

# 300 sequences in mini-batches of 50: 6 updates an epoch.
N, BATCH = 300, 50


def _running_mean(scale):
    """Learn the running mean of a sequence, the targets times ``scale``."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(N, 8, 1))
    return X, scale * X[:, :, 0].mean(axis=1)


def _clipping_warnings(fit):
    """The GradientClippingWarnings that ``fit()`` issues."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w for w in caught if w.category is GradientClippingWarning]


def test_unscaled_targets_warn_once_per_fit():
    """Targets of a few tens: every one of the 5 epochs' 30 updates is
    clipped, and one warning says so, with the remedies."""
    X, y = _running_mean(100.0)
    reg = RNNRegressor(16, max_iter=5, batch_size=BATCH, random_state=0)
    for _ in range(2):  # a second fit warns again, once
        caught = _clipping_warnings(lambda: reg.fit(X, y))
        assert len(caught) == 1
        assert reg.n_clipped_steps_ == 30
    message = str(caught[0].message)
    assert "rescaled 30 of the 30 updates of this fit (clip_threshold=1.0)" in message
    for remedy in ("skrnn.preprocessing.SequenceScaler", "TransformedTargetRegressor",
                   "lower learning_rate_init", "raise clip_threshold"):
        assert remedy in message


def test_scaled_targets_do_not_warn():
    """The same targets standardised, the remedy the warning names: few
    updates are clipped, and no warning."""
    X, y = _running_mean(100.0)
    reg = TransformedTargetRegressor(
        RNNRegressor(16, max_iter=5, batch_size=BATCH, random_state=0),
        transformer=StandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", GradientClippingWarning)
        reg.fit(X, y)
    assert reg.regressor_.n_clipped_steps_ < 0.9 * 30


def test_a_fit_of_one_update_an_epoch_is_judged_over_its_epochs():
    """One series, one update an epoch (the case of a forecaster on a
    single long series): 9 clipped updates are too few to tell, 10 warn."""
    rng = np.random.RandomState(0)
    x = rng.normal(size=(200, 1))
    y = 50 * np.cumsum(x[:, 0]) / np.sqrt(np.arange(1, 201))
    for max_iter, n_warnings in [(9, 0), (10, 1)]:
        reg = RNNStepRegressor(8, max_iter=max_iter, random_state=0)
        assert len(_clipping_warnings(lambda: reg.fit([x], [y]))) == n_warnings
        assert reg.n_clipped_steps_ == max_iter


@pytest.mark.parametrize("n_clipped, n_updates, warns", [
    (9, 10, True), (8, 10, False), (9, 9, False), (90, 100, True), (89, 100, False),
])
def test_the_rule_is_nine_tenths_of_at_least_ten_updates(n_clipped, n_updates, warns):
    reg = RNNRegressor(clip_threshold=0.5)
    caught = _clipping_warnings(lambda: reg._warn_if_always_clipped(n_clipped, n_updates))
    assert len(caught) == int(warns)
    if warns:
        assert f"{n_clipped} of the {n_updates} updates" in str(caught[0].message)
        assert "clip_threshold=0.5" in str(caught[0].message)


def test_partial_fit_judges_each_call_alone():
    X, y = _running_mean(100.0)
    reg = RNNRegressor(16, batch_size=25, random_state=0)  # 12 updates a call
    for n_calls in (1, 2):
        assert len(_clipping_warnings(lambda: reg.partial_fit(X, y))) == 1
        assert reg.n_clipped_steps_ == 12 * n_calls


def test_it_is_a_convergence_warning_and_filtered_as_one():
    X, y = _running_mean(100.0)
    reg = RNNRegressor(16, max_iter=2, batch_size=BATCH, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.n_clipped_steps_ == 12
    assert caught == []
