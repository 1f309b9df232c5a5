"""
Forecasting one long series with truncated BPTT
===============================================

A single long series trains as one sequence: an ``RNNStepRegressor`` reads
the series step by step and predicts, at every step, the next value. With
``bptt_truncate=k`` the gradient is computed in windows of ``k`` steps, and
the state passes from each window to the next, so memory follows ``k`` and
not the length of the series.

The series is the yearly mean sunspot number from 1700 to 2008, which ships
with statsmodels (``pip install ".[examples]"``). The network trains on the
first 80% of the years; the forecast for each of the remaining years is made
from all the years before it, and is compared with the simplest forecast
there is: next year as this year.
"""

# %%
# The series
# ----------
import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import sunspots

from skrnn import RNNStepRegressor

data = sunspots.load_pandas().data
years = data["YEAR"].to_numpy().astype(int)
activity = data["SUNACTIVITY"].to_numpy()
n_train = int(0.8 * len(activity))
print(f"{len(activity)} years, training on {years[0]}-{years[n_train - 1]}")

# %%
# Training on one sequence
# ------------------------
# The values are standardized with the training years' mean and standard
# deviation, and the series becomes one sequence of one feature. The target
# at step t is the value at step t + 1. Windows of 22 years hold about two
# solar cycles.
mean, std = activity[:n_train].mean(), activity[:n_train].std()
z = ((activity - mean) / std)[:, np.newaxis]  # (n_years, 1 feature)

model = RNNStepRegressor(16, cell="gru", bptt_truncate=22, max_iter=300,
                         learning_rate_init=0.01, random_state=0)
model.fit([z[: n_train - 1]], [z[1:n_train, 0]])

# %%
# Forecasting the test years
# --------------------------
# Predicting over the whole series lets the test years start from the state
# that the training years left. The forecast made at year t is for year
# t + 1.
forecast = model.predict([z[:-1]])[0] * std + mean
actual, last_value = activity[1:], activity[:-1]
test = slice(n_train - 1, None)


def rmse(predicted):
    return np.sqrt(np.mean((predicted[test] - actual[test]) ** 2))


print(f"RMSE over {len(actual[test])} test years: GRU {rmse(forecast):.1f}, "
      f"last value {rmse(last_value):.1f}")

# %%
# The forecasts
# -------------
fig, (ax_all, ax_test) = plt.subplots(2, 1, figsize=(10, 6.5),
                                     layout="constrained")
ax_all.plot(years, activity, color="black", linewidth=1)
ax_all.axvspan(years[n_train], years[-1], color="tab:orange", alpha=0.15,
               label="test years")
ax_all.set(ylabel="sunspot number", title="Yearly sunspot number, 1700-2008")
ax_all.legend(loc="upper left")

test_years = years[1:][test]
ax_test.plot(test_years, actual[test], "o-", color="black", markersize=3,
             linewidth=1, label="actual")
ax_test.plot(test_years, forecast[test],
             label=f"GRU (RMSE {rmse(forecast):.1f})")
ax_test.plot(test_years, last_value[test], linestyle="--",
             label=f"last value (RMSE {rmse(last_value):.1f})")
ax_test.set(xlabel="year", ylabel="sunspot number",
            title="One year ahead, over the test years")
ax_test.legend(loc="upper right")
plt.show()
