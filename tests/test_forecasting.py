"""Next-step forecasting of real series, each trained as one long
sequence: the documented examples (doc/user_guide.md, "Forecasting one long
series", with truncated BPTT, and "Gradient clipping")."""

import warnings

import numpy as np
import pytest

from skrnn import RNNStepRegressor

# The series ships with statsmodels (the test extra installs it); the
# example needs it, skrnn does not.
co2 = pytest.importorskip("statsmodels.datasets.co2",
                          reason='needs statsmodels: pip install ".[test]"')


def test_forecast_of_co2_beats_the_last_value():
    """Mauna Loa CO2, weekly 1958-2001 (2,284 weeks). A GRU reads the weekly
    change and predicts the next one, trained on the first 80% as a single
    sequence in windows of 104 weeks; on the last 20% its forecast of the
    next week's level has a lower RMSE than repeating the last value."""
    level = co2.load_pandas().data["co2"].interpolate().to_numpy()
    change = np.diff(level)
    n_train = int(0.8 * len(change))
    scale = change[:n_train].std()
    x = (change / scale)[:, np.newaxis]
    model = RNNStepRegressor(32, cell="gru", bptt_truncate=104, max_iter=200,
                             learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
        model.fit([x[: n_train - 1]], [x[1:n_train, 0]])
    # Run over the whole series, so that the test weeks start from the state
    # the training weeks left.
    next_change = model.predict([x[:-1]])[0] * scale
    forecast = level[1:-1] + next_change
    actual, last_value = level[2:], level[1:-1]
    test = slice(n_train - 1, None)

    def rmse(predicted):
        return float(np.sqrt(np.mean((predicted[test] - actual[test]) ** 2)))

    # Measured: 0.39 ppm against 0.51 ppm.
    assert rmse(forecast) < 0.85 * rmse(last_value)


def test_unscaled_sunspots_are_clipped_on_every_update_and_warn():
    """The yearly sunspot numbers, 1700-2008 (309 years, values up to 190),
    forecast a year ahead by a GRU trained on the first 80% as one sequence
    (so one update an epoch). Unscaled, the gradient is clipped on every
    update, the fit warns, and the forecast is worse than repeating the
    last value; standardised, nothing is clipped, no warning, and the
    forecast is better (doc/user_guide.md, "Gradient clipping")."""
    from statsmodels.datasets import sunspots

    from skrnn import GradientClippingWarning

    series = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    n_train = int(0.8 * len(series))
    actual, last_value = series[n_train:], series[n_train - 1:-1]

    def forecast(mean, scale):
        x = ((series - mean) / scale)[:, np.newaxis]
        model = RNNStepRegressor(32, cell="gru", max_iter=400, learning_rate_init=0.01,
                                 random_state=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit([x[: n_train - 1]], [x[1:n_train, 0]])
        predicted = model.predict([x[:-1]])[0][n_train - 1:] * scale + mean
        clipping = [w for w in caught if w.category is GradientClippingWarning]
        return rmse(predicted), model, clipping

    def rmse(predicted):
        return float(np.sqrt(np.mean((predicted - actual) ** 2)))

    # Measured: 38.8 against 33.3 for the last value, every update clipped
    # (400 of 400 on one CPU; on another, whose BLAS rounds the weight
    # gradients otherwise, 334 of 334, the loss having stopped improving).
    unscaled, model, clipping = forecast(0.0, 1.0)
    assert model.n_clipped_steps_ == model.n_iter_ > 100
    assert len(clipping) == 1
    assert unscaled > rmse(last_value)
    # Measured: 19.6, after 91 epochs.
    scaled, model, clipping = forecast(series[:n_train].mean(), series[:n_train].std())
    assert model.n_clipped_steps_ == 0 and clipping == []
    assert scaled < 0.75 * rmse(last_value)
