"""
Pooling the states of long series
=================================

``RNNClassifier`` reads by default the state after each sequence's last step
(``pooling='last'``). On a long series the network must then carry what
matters to the end, through every later step, and learn it by a gradient
that travels back the same way. ``pooling='mean'`` and ``pooling='max'``
read every step's state instead, the mean or the element-wise maximum over
each sequence's own steps, so that every step speaks for the sequence.

Each series here is 160 steps of noise; in half of them a short oscillation
of 12 steps starts at a random step, and the class tells whether it is
there.
"""

# %%
# Series with a burst somewhere
# -----------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier

# The fits below run a fixed number of epochs; that they stop before the loss
# has settled is intended, not worth a warning.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

LENGTH, WIDTH = 160, 12


def series_with_bursts(n_series, rng):
    X = rng.normal(scale=0.5, size=(n_series, LENGTH, 1))
    y = rng.randint(2, size=n_series)
    burst_start = rng.randint(0, LENGTH - WIDTH, size=n_series)
    for i in np.flatnonzero(y):
        X[i, burst_start[i] : burst_start[i] + WIDTH, 0] += 1.5 * np.sin(
            np.arange(WIDTH) * np.pi / 2)
    return X, y, burst_start


rng = np.random.RandomState(0)
X_train, y_train, _ = series_with_bursts(400, rng)
X_test, y_test, burst_start = series_with_bursts(600, rng)

# %%
# The same GRU with each pooling
# ------------------------------
classifiers = {}
for pooling in ("last", "mean", "max"):
    clf = RNNClassifier(16, cell="gru", pooling=pooling, max_iter=15,
                        learning_rate_init=0.01, batch_size=32, random_state=0)
    classifiers[pooling] = clf.fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    print(f"pooling={pooling!r}: test accuracy {accuracy:.3f}")

# %%
# Where the burst is
# ------------------
# For each position of the burst, the balanced accuracy of telling those
# series from the series without a burst (0.5 is chance). From the last
# state, the GRU does no better than chance anywhere: over 160 steps it
# never learns what to keep. The maximum finds the burst wherever it is.
# The mean finds it too, except near the end, where too few states after
# the burst carry its trace to move the mean.
bins = np.arange(0, LENGTH - WIDTH + 1, 16)
centres = bins[:-1] + 8
without_burst = y_test == 0
fig, (ax_series, ax_accuracy) = plt.subplots(
    1, 2, figsize=(11, 4), layout="constrained", width_ratios=[1.2, 1])
example = np.flatnonzero(y_test == 1)[0]
ax_series.plot(X_test[np.flatnonzero(without_burst)[0], :, 0], color="gray",
               linewidth=1, label="class 0")
ax_series.plot(X_test[example, :, 0] + 4, color="tab:blue", linewidth=1,
               label="class 1")
ax_series.axvspan(burst_start[example], burst_start[example] + WIDTH,
                  color="tab:blue", alpha=0.15)
ax_series.set(xlabel="step", yticks=[],
              title="A series of each class (shifted)")
ax_series.legend(loc="upper right")

for pooling, clf in classifiers.items():
    predicted = clf.predict(X_test)
    specificity = np.mean(predicted[without_burst] == 0)
    sensitivity = [
        np.mean(predicted[(y_test == 1) & (burst_start >= lo)
                          & (burst_start < hi)] == 1)
        for lo, hi in zip(bins[:-1], bins[1:])
    ]
    ax_accuracy.plot(centres, (np.array(sensitivity) + specificity) / 2, "o-",
                     label=f"pooling={pooling!r}")
ax_accuracy.axhline(0.5, color="gray", linestyle="--", linewidth=1)
ax_accuracy.set(xlabel="first step of the burst", ylabel="balanced accuracy",
                ylim=(0.4, 1.02),
                title="Test series, by where the burst starts")
ax_accuracy.legend(loc="center left")
plt.show()
