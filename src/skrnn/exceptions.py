"""Exceptions raised by skrnn."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient.

    Raised by ``fit`` and ``partial_fit`` before the offending update is
    applied, so the estimator keeps its last finite weights. Usual remedies:
    a smaller ``learning_rate_init``, a ``clip_threshold``, or scaled inputs.
    """
