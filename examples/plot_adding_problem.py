"""
LSTM and GRU against the Elman cell on the adding problem
=========================================================

The adding problem (Hochreiter & Schmidhuber, 1997) asks a network to carry
a value across many steps. Each step of a sequence holds a random value in
[0, 1) and a marker; exactly two steps are marked, one in each half, and the
target is the sum of their values. Always answering 1, the mean of the
target, scores a mean squared error of 1/6.

The Elman cell's gradient shrinks geometrically on its way back through the
steps, so over 40 steps it never learns which inputs matter. The gates of
the LSTM and the GRU let state and gradient pass through many steps, and
they learn the task. :doc:`/long_range` runs the same comparison on longer
sequences.
"""

# %%
# The data
# --------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNRegressor

# The fits below run a fixed number of epochs; that they stop before the loss
# has settled is intended, not worth a warning.
warnings.filterwarnings("ignore", category=ConvergenceWarning)


def adding_sequences(n_sequences, length, rng):
    """X of shape (n_sequences, length, 2): [value, marker] at each step."""
    values = rng.uniform(size=(n_sequences, length))
    half = length // 2
    marked = np.column_stack([rng.randint(0, half, n_sequences),
                              rng.randint(half, length, n_sequences)])
    markers = np.zeros_like(values)
    np.put_along_axis(markers, marked, 1.0, axis=1)
    target = np.take_along_axis(values, marked, axis=1).sum(axis=1)
    return np.dstack([values, markers]), target


rng = np.random.RandomState(0)
X_train, y_train = adding_sequences(1000, 40, rng)
X_test, y_test = adding_sequences(300, 40, rng)

# %%
# The same network with each cell
# -------------------------------
# 16 units, one layer, Adam at a learning rate of 0.01, 20 epochs.
predictions, curves = {}, {}
for cell in ("rnn", "lstm", "gru"):
    reg = RNNRegressor(16, cell=cell, learning_rate_init=0.01, batch_size=32,
                       max_iter=20, n_iter_no_change=20, random_state=0)
    reg.fit(X_train, y_train)
    predictions[cell] = reg.predict(X_test)
    curves[cell] = reg.loss_curve_
    mse = np.mean((predictions[cell] - y_test) ** 2)
    print(f"{cell:>4}: held-out MSE {mse:.4f}")

# %%
# What each cell learned
# ----------------------
# On the left, the training loss per epoch (half the squared error, so the
# mean's 1/6 is 1/12 there). On the right, the held-out predictions against
# the targets: the Elman network answers about 1 whatever the marked values,
# the gated cells add them.
fig, (ax_curve, ax_scatter) = plt.subplots(1, 2, figsize=(10, 4.2),
                                          layout="constrained")
for cell, curve in curves.items():
    ax_curve.plot(np.arange(1, len(curve) + 1), curve, label=cell)
    ax_scatter.plot(y_test, predictions[cell], ".", alpha=0.5, label=cell)
ax_curve.axhline(1 / 12, color="gray", linestyle="--", label="the mean")
ax_curve.set(xlabel="epoch", ylabel="training loss", yscale="log",
             title="Training loss")
ax_curve.legend()
ax_scatter.plot([0, 2], [0, 2], color="gray", linewidth=1)
ax_scatter.set(xlabel="target: the sum of the marked values",
               ylabel="prediction", title="Held-out sequences", aspect="equal")
ax_scatter.legend(markerscale=2)
plt.show()
