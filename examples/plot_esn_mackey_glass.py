"""
Generating the Mackey–Glass series with an Echo State Network
=============================================================

The Mackey–Glass delay equation (τ = 17) is chaotic: two series that start
a hair apart part ways after a few hundred steps. An Echo State Network
fitted to predict it one step ahead can then be run in closed loop, each
prediction fed back as the next input, and generate the series on its own.

The settings are reservoirpy's for this series: 500 units, spectral radius
1.25, leak rate 0.3, ridge 1e-5, a washout of 100 steps.
"""

# %%
# One step ahead
# --------------
import matplotlib.pyplot as plt
import numpy as np

from skrnn import ESNStepRegressor
from skrnn.datasets import mackey_glass

# The series as it is, between about 0.4 and 1.3. Centring it would hurt
# here: a reservoir without a bias is odd (inputs -u give states -x), and
# the positive offset is what breaks that symmetry.
scaled = mackey_glass(2600)
n_train = 2000
X_train, y_train = scaled[:n_train, None], scaled[1 : n_train + 1]

esn = ESNStepRegressor(500, spectral_radius=1.25, leak_rate=0.3, washout=100,
                       alpha=1e-5, random_state=0)
esn.fit([X_train], [y_train])
one_step = esn.predict([scaled[:-1, None]])[0]
rmse = np.sqrt(np.mean((one_step[n_train:] - scaled[n_train + 1 :]) ** 2))
print(f"one-step-ahead RMSE on the held-out steps: {rmse:.2e}")

# %%
# Closed loop
# -----------
# Warm the reservoir up on the training steps, then let it run on its own
# for 500 steps. Step k of ``generate`` is its prediction of step
# ``n_train + k`` of the series.
n_steps = 500
generated = esn.generate([scaled[:n_train, None]], n_steps)[0, :, 0]
true = scaled[n_train : n_train + n_steps]
# The first step at which the generated series leaves the true one by more
# than 10% of the series' range.
off = np.abs(generated - true) > 0.1 * (scaled.max() - scaled.min())
within = int(np.argmax(off)) if off.any() else n_steps
print(f"the generated series stays within 10% of the true one for {within} steps")
# (How long depends on the reservoir drawn: from under 200 steps to all 500
# over random_state 0 to 5.)

fig, ax = plt.subplots(figsize=(9, 3.5))
steps = np.arange(n_train, n_train + n_steps)
ax.plot(steps, true, color="black", lw=1.5, label="true series")
ax.plot(steps, generated, color="tab:orange", lw=1.2, ls="--", label="generated")
ax.axvline(n_train + within, color="grey", lw=0.8)
ax.set_xlabel("step")
ax.set_ylabel("x(t)")
ax.set_title(f"Closed-loop generation: within 10% for {within} steps")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()
