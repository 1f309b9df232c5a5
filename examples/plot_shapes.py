"""
The shapes of problem and what each estimator returns
=====================================================

skrnn's estimators differ in what their output layer reads from the
recurrent states, and so in the shape of what they predict:

- ``RNNClassifier`` and ``RNNRegressor``: one output per sequence
  (many-to-one), read from the last state or, with ``pooling``, from the
  mean or maximum of all the states;
- ``RNNStepClassifier`` and ``RNNStepRegressor``: an output at every step
  (many-to-many, aligned), read from that step's state.

Encoder-decoder (a sequence in, another of any length out) and one-to-many
(a vector in, a sequence out) have no estimator in skrnn. The :doc:`user
guide </user_guide>` draws each shape.

One task shows the difference: sequences of random steps, whose per-step
target is the running mean of the steps so far, and whose per-sequence
target is the mean of all of them (the running mean at the last step).
"""

# %%
# Sequences of any length, a list in
# ----------------------------------
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from skrnn import RNNRegressor, RNNStepRegressor

rng = np.random.RandomState(0)
X = [rng.normal(size=(n, 1)) for n in rng.randint(5, 30, size=400)]
running_means = [np.cumsum(x[:, 0]) / np.arange(1, len(x) + 1) for x in X]
sequence_means = np.array([x.mean() for x in X])

settings = dict(cell="gru", learning_rate_init=0.01, max_iter=60,
                random_state=0)
per_sequence = RNNRegressor(16, **settings).fit(X, sequence_means)
per_step = RNNStepRegressor(16, **settings).fit(X, running_means)

# %%
# What comes out
# --------------
# For a list of sequences, the per-sequence estimator returns one value per
# sequence, and the per-step estimator a list of arrays, one per sequence,
# as long as each sequence.
X_new = [rng.normal(size=(n, 1)) for n in (8, 25, 15)]
print("RNNRegressor.predict:", per_sequence.predict(X_new).shape)
print("RNNStepRegressor.predict:", [p.shape for p in per_step.predict(X_new)])

# %%
# A 3-D array in gets arrays back: ``(n_samples,)`` from the per-sequence
# estimator, ``(n_samples, n_timesteps)`` from the per-step one.
X_array = rng.normal(size=(4, 12, 1))
print("RNNRegressor.predict:", per_sequence.predict(X_array).shape)
print("RNNStepRegressor.predict:", per_step.predict(X_array).shape)

# %%
# The same three sequences through each
# -------------------------------------
# The per-step estimator follows the running mean at every step; the
# per-sequence estimator gives one number, the mean of the whole sequence,
# drawn at its last step.
step_predictions = per_step.predict(X_new)
sequence_predictions = per_sequence.predict(X_new)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained",
                         sharey=True)
for ax, x, steps_out, sequence_out in zip(axes, X_new, step_predictions,
                                          sequence_predictions):
    t = np.arange(len(x))
    ax.bar(t, x[:, 0], color="lightgray", label="x_t")
    ax.plot(t, np.cumsum(x[:, 0]) / (t + 1), color="black", linewidth=1,
            label="running mean")
    ax.plot(t, steps_out, "o-", markersize=3, label="RNNStepRegressor")
    ax.plot(t[-1], sequence_out, "*", markersize=14, label="RNNRegressor")
    ax.set(xlabel="step", title=f"a sequence of {len(x)} steps")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
axes[0].legend(loc="lower left", fontsize="small")
plt.show()
