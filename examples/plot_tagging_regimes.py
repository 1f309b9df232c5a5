"""
Tagging every step of ragged sequences
======================================

``RNNStepClassifier`` gives a class at every step of every sequence.
Sequences of different lengths go in as a list, and the predictions come
back as a list of arrays of the same lengths; no padding is needed.

Each sequence here is a noisy signal from a hidden switch that flips between
two regimes now and then; the regime shifts the signal's mean. Each step's
tag is the regime it is in. Judged one step at a time the noise hides it
(the sign of the step is right about 73% of the time), but neighbouring
steps tell: the regime lasts about 17 steps. A forward network reads the
steps before each one; with ``bidirectional=True`` each step's tag sees the
whole sequence, the steps after it included, which suits tagging a finished
recording (and not forecasting).
"""

# %%
# Ragged sequences with a tag per step
# ------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNStepClassifier

# The fits below run a fixed number of epochs; that they stop before the loss
# has settled is intended, not worth a warning.
warnings.filterwarnings("ignore", category=ConvergenceWarning)


def regime_sequences(n_sequences, rng, flip_probability=0.06):
    X, tags = [], []
    for length in rng.randint(20, 120, size=n_sequences):
        flips = rng.uniform(size=length) < flip_probability
        regime = (np.cumsum(flips) + rng.randint(2)) % 2
        signal = regime - 0.5 + 0.8 * rng.normal(size=length)
        X.append(signal[:, np.newaxis])  # (n_timesteps_i, 1 feature)
        tags.append(regime)              # (n_timesteps_i,)
    return X, tags


rng = np.random.RandomState(0)
X_train, y_train = regime_sequences(300, rng)
X_test, y_test = regime_sequences(200, rng)
print("lengths of the first test sequences:", [len(x) for x in X_test[:5]])

# %%
# One step at a time, forwards, both ways
# ---------------------------------------
# ``score`` is the accuracy over every step of every test sequence.
sign_accuracy = np.mean(np.concatenate(
    [(x[:, 0] > 0) == tags for x, tags in zip(X_test, y_test)]))
print(f"the sign of each step: {sign_accuracy:.3f}")

taggers = {}
for bidirectional in (False, True):
    clf = RNNStepClassifier(16, cell="gru", bidirectional=bidirectional,
                            learning_rate_init=0.02, max_iter=20,
                            random_state=0)
    clf.fit(X_train, y_train)
    name = "bidirectional GRU" if bidirectional else "forward GRU"
    taggers[name] = clf
    print(f"{name}: {clf.score(X_test, y_test):.3f}")

# %%
# Predictions in the form the input came in
# -----------------------------------------
# A list of sequences gets a list of per-step arrays back:
# ``predict_proba`` gives each step's probability of each class.
probabilities = {name: clf.predict_proba(X_test[:3])
                 for name, clf in taggers.items()}
[p.shape for p in probabilities["forward GRU"]]

# %%
# Three test sequences: the signal, its regime (shaded) and each network's
# probability of the upper regime at every step.
fig, axes = plt.subplots(3, 1, figsize=(10, 7), layout="constrained")
for i, ax in enumerate(axes):
    steps = np.arange(len(X_test[i]))
    ax.fill_between(steps, -2, 3, where=y_test[i] == 1, step="mid",
                    color="tab:green", alpha=0.15, label="upper regime")
    ax.plot(steps, X_test[i][:, 0], ".", color="gray", label="signal")
    for name, proba in probabilities.items():
        ax.plot(steps, proba[i][:, 1], label=f"P(upper), {name}")
    ax.set(xlim=(0, 120), ylim=(-2, 3), ylabel=f"sequence {i}")
axes[0].legend(loc="upper center", ncol=4)
axes[-1].set_xlabel("step")
plt.show()
