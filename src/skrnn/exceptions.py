"""Exceptions and warnings raised by skrnn."""

from sklearn.exceptions import ConvergenceWarning


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient.

    Raised by ``fit`` and ``partial_fit`` before the offending update is
    applied, so the estimator keeps its last finite weights. Usual remedies:
    a smaller ``learning_rate_init``, a ``clip_threshold``, or scaled inputs.
    """


class GradientClippingWarning(ConvergenceWarning):
    """Gradient clipping rescaled nearly every update of a fit.

    Issued once by a call of ``fit`` or ``partial_fit`` when
    ``clip_threshold`` rescaled at least 90% of the call's updates, and
    there were at least 10 of them. The gradient is then above the
    threshold nearly all the time; the usual cause is data on a scale far
    from 1, above all the targets of a regressor, which the network's
    outputs take many updates to reach. Scale them (``X`` with
    ``skrnn.preprocessing.SequenceScaler``, ``y`` with
    ``sklearn.compose.TransformedTargetRegressor``); else lower
    ``learning_rate_init`` (large gradients may come from an unstable fit),
    or raise ``clip_threshold``.

    A ``ConvergenceWarning``, as the warning of an exploding loss is: it
    tells of a fit that is not converging as it should, and the filters
    set for those apply to it.
    """
