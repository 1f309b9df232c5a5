"""
Learning curves and early stopping
==================================

Every fitted estimator keeps its training loss after each epoch in
``loss_curve_``. With ``early_stopping=True`` it also holds back
``validation_fraction`` of the training sequences, scores them after each
epoch (accuracy for a classifier, R² for a regressor) into
``validation_scores_``, stops once the score has not improved by ``tol`` for
``n_iter_no_change`` epochs, and keeps the weights of its best epoch.

Here a GRU classifies scikit-learn's handwritten digits read as sequences:
each 8x8 image is 8 steps (its rows) of 8 features (the pixels of a row).
Two learning rates are compared; the larger one learns faster and stops
sooner.
"""

# %%
# Digits as sequences
# -------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skrnn import RNNClassifier

images, labels = load_digits(return_X_y=True)
X = (images / 16.0).reshape(-1, 8, 8)  # (n_samples, n_timesteps, n_features)
X_train, X_test, y_train, y_test = train_test_split(
    X, labels, test_size=0.25, stratify=labels, random_state=0
)
X_train.shape

# %%
# Two fits with early stopping
# ----------------------------
# ``max_iter`` is only a ceiling here: each fit stops after five epochs
# without a better validation accuracy.
fits = {}
for learning_rate in (0.003, 0.03):
    clf = RNNClassifier(
        hidden_layer_sizes=32,
        cell="gru",
        learning_rate_init=learning_rate,
        batch_size=64,
        max_iter=60,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        random_state=0,
    )
    fits[learning_rate] = clf.fit(X_train, y_train)
    print(
        f"learning_rate_init={learning_rate}: {clf.n_iter_} epochs, best "
        f"validation accuracy {clf.best_validation_score_:.3f}, "
        f"test accuracy {clf.score(X_test, y_test):.3f}"
    )

# %%
# The curves
# ----------
# The training loss keeps falling after the validation accuracy has levelled
# off; the marker shows the epoch whose weights each model kept.
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4),
                                       layout="constrained")
for learning_rate, clf in fits.items():
    epochs = np.arange(1, clf.n_iter_ + 1)
    label = f"learning_rate_init={learning_rate}"
    ax_loss.plot(epochs, clf.loss_curve_, label=label)
    (line,) = ax_score.plot(epochs, clf.validation_scores_, label=label)
    best = int(np.argmax(clf.validation_scores_))
    ax_score.plot(epochs[best], clf.validation_scores_[best], "o",
                  color=line.get_color())
ax_loss.set(xlabel="epoch", ylabel="training loss (log loss)", yscale="log",
            title="loss_curve_")
ax_score.set(xlabel="epoch", ylabel="validation accuracy",
             title="validation_scores_")
ax_loss.legend()
ax_score.legend(loc="lower right")
plt.show()
