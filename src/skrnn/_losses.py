"""Losses of the network's raw output and their gradients.

Each loss returns the mean loss over the batch and writes the gradient with
respect to the raw output (already divided by the batch size, so that it is
the gradient of the mean). Given a weight per row, the mean is weighted:
the sum of each row's loss times its weight, over the sum of the weights. The link functions (logistic, softmax) live here
too so that prediction and training use the same ones. ``code`` names the
same loss in the fused output-layer kernel (``_kernels/_output.pyx``),
which training runs; the functions here serve truncated BPTT, whose
windows take their outputs' gradients apart.
"""

import numpy as np
from scipy.special import expit, log_expit, softmax

from ._kernels._output import OutputLoss


def _weighted_mean(row_losses, residuals, weights):
    """The weighted mean loss and its gradient, from each row's loss and
    the gradient of each row's loss (``residuals``)."""
    total = weights.sum()
    return (float(np.dot(weights, row_losses) / total),
            residuals * (weights / total)[:, np.newaxis])


class SquaredLoss:
    """Half the squared error, summed over outputs, averaged over samples."""

    code = OutputLoss.SQUARED_ERROR

    @staticmethod
    def link(raw):
        return raw

    @staticmethod
    def loss_and_gradient(raw, y, weights=None):
        diff = raw - y
        if weights is not None:
            return _weighted_mean(0.5 * np.einsum("ij,ij->i", diff, diff), diff, weights)
        n_samples = raw.shape[0]
        loss = 0.5 * np.einsum("ij,ij->", diff, diff) / n_samples
        return float(loss), diff / n_samples


class BinaryLogLoss:
    """Log loss of a single logistic output; ``y`` is 0/1 in one column."""

    code = OutputLoss.BINARY_LOG_LOSS

    @staticmethod
    def link(raw):
        proba = expit(raw)
        return np.hstack([1 - proba, proba])

    @staticmethod
    def loss_and_gradient(raw, y, weights=None):
        if weights is not None:
            row_losses = -(y * log_expit(raw) + (1 - y) * log_expit(-raw))[:, 0]
            return _weighted_mean(row_losses, expit(raw) - y, weights)
        n_samples = raw.shape[0]
        # -[y log p + (1-y) log(1-p)] with p = expit(raw), computed stably.
        loss = -(y * log_expit(raw) + (1 - y) * log_expit(-raw)).sum() / n_samples
        return float(loss), (expit(raw) - y) / n_samples


class MultinomialLogLoss:
    """Cross-entropy of a softmax output; ``y`` is one-hot."""

    code = OutputLoss.MULTINOMIAL_LOG_LOSS

    @staticmethod
    def link(raw):
        return softmax(raw, axis=1)

    @staticmethod
    def loss_and_gradient(raw, y, weights=None):
        n_samples = raw.shape[0]
        # log softmax, shifted by each row's maximum so that exp cannot
        # overflow; written out rather than with scipy.special, whose
        # array-API dispatch cost more than the arithmetic once per
        # mini-batch (a third of an Elman h32 training step's Python).
        shifted = raw - raw.max(axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        sums = exp_shifted.sum(axis=1, keepdims=True)
        log_proba = shifted - np.log(sums)
        if weights is not None:
            return _weighted_mean(-np.einsum("ij,ij->i", y, log_proba),
                                  exp_shifted / sums - y, weights)
        loss = -np.einsum("ij,ij->", y, log_proba) / n_samples
        return float(loss), (exp_shifted / sums - y) / n_samples
