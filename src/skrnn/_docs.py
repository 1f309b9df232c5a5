"""Docstring parts shared by the estimators, so that a parameter's meaning
is written once."""

NETWORK_PARAMETERS = """
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Hidden size of each recurrent layer, first to last: ``(64, 32)``
        stacks two layers, the second reading the first's hidden state at
        every step (as ``MLPClassifier`` names its layers).

    activation : {'tanh', 'relu'}, default='tanh'
        Nonlinearity of the 'rnn' cell, ``h_t = act(x_t W_ih + h_{t-1} W_hh
        + b)``. The 'lstm' and 'gru' cells use their fixed sigmoid and tanh
        gates and accept only 'tanh' here.

    cell : {'rnn', 'lstm', 'gru'}, default='rnn'
        The recurrent unit, with PyTorch's equations and gate order: an
        Elman RNN (``torch.nn.RNN``), a long short-term memory
        (``torch.nn.LSTM``; gates i, f, g, o) or a gated recurrent unit
        (``torch.nn.GRU``; gates r, z, n). The gated cells learn dependencies
        over many more steps than the Elman cell, whose gradient vanishes.

    bidirectional : bool, default=False
        Run each layer over every sequence forwards and backwards (from the
        sequence's own last step), and join the two directions: each layer
        above reads both at every step, and the output layer reads the
        forward pass's last state next to the backward pass's state after
        step 0.

    learn_initial_state : bool, default=False
        Learn the initial hidden state (and the LSTM's initial cell state) of
        every layer and direction, shared by all sequences. By default the
        recurrence starts from zero.
"""

TRAINING_PARAMETERS = """
    solver : {'adam', 'sgd'}, default='adam'
        Optimizer of the weights: 'sgd' with momentum, or Adam.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the weight matrices (not the biases),
        scaled by the batch size as in ``MLPClassifier``.

    batch_size : int or 'auto', default='auto'
        Sequences per mini-batch; 'auto' is ``min(200, n_samples)``. The
        gradient is averaged over a mini-batch, then one update is made.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule of the 'sgd' solver, as in ``MLPClassifier``.

    learning_rate_init : float, default=0.001
        Initial step size.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).

    shuffle : bool, default=True
        Whether to shuffle the sequences before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling and the early-stopping
        split. A fixed seed gives bitwise the same model whatever
        ``n_threads`` is.

    tol : float, default=1e-4
        Minimum improvement of the loss (or validation score) that counts as
        progress for stopping.

    verbose : bool, default=False
        Print the loss after each epoch.

    warm_start : bool, default=False
        Start ``fit`` from the previous solution instead of a new one.

    momentum : float, default=0.9
        Momentum of the 'sgd' solver.

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with 'sgd'.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when the
        validation score stops improving; the best weights are kept.

    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.

    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moment estimates.

    epsilon : float, default=1e-8
        Adam's numerical stabiliser.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping.

    clip_threshold : float or None, default=1.0
        Gradient clipping (Pascanu et al. 2013, Algorithm 1): when the L2
        norm of the whole gradient of a mini-batch exceeds this value, the
        gradient is rescaled to this norm. ``None`` disables clipping. A
        fit that is clipped on at least 90% of its updates (and at least
        10) warns with ``skrnn.GradientClippingWarning``: its data are
        usually on a scale far from 1.

    bptt_truncate : int or None, default=None
        Truncated backpropagation through time: run each sequence in
        consecutive windows of this many steps, starting at its first step
        (steps 0 to k-1, k to 2k-1, ...; the last window holds what remains).
        The state passes from each window to the next, the gradient does not
        (as ``h = h.detach()`` at each window boundary in PyTorch); the
        windows' gradients are summed into one update per mini-batch. Only
        one window's activations are kept, so memory follows this value
        rather than the sequences' length: a single series of any length
        trains. The outputs and the loss are the untruncated network's. It
        needs ``bidirectional=False``. ``None`` backpropagates through every
        step.

    n_threads : int or None, default=None
        Threads of the kernels. ``None`` uses what ``OMP_NUM_THREADS``
        or a threadpoolctl limit allows, else all physical cores; -1 all of
        those, -2 all but one, and so on. A batch runs on at most one thread
        per chunk of its sequences (32 in training, 64 in prediction). The
        result does not depend on it.
"""

SHARED_ATTRIBUTES = """
    loss_ : float
        Mean training loss of the last epoch (with the L2 penalty).

    best_loss_ : float or None
        Lowest ``loss_`` seen; None with ``early_stopping``.

    loss_curve_ : list of float
        ``loss_`` after each epoch.

    validation_scores_ : list of float or None
        Validation score after each epoch, with ``early_stopping``.

    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    n_iter_ : int
        Epochs run.

    t_ : int
        Training sequences seen by the optimizer.

    n_clipped_steps_ : int
        Updates whose gradient was rescaled by ``clip_threshold``.

    n_outputs_ : int
        Units of the output layer.

    n_features_in_ : int
        Features seen during fit: per time step for 3-D or list input; the
        number of columns (time steps) for 2-D input.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a 2-D DataFrame.

    weights_ : dict of str to ndarray
        The fitted weights, keyed and shaped as in PyTorch's state dicts
        (``weight_ih_l0``, ..., ``output.weight``); see ``set_weights``.
"""

INPUT_NOTE = """
    The input ``X`` may be a 3-D array ``(n_samples, n_timesteps,
    n_features)``, a list of 2-D arrays ``(n_timesteps_i, n_features)`` of
    different lengths, or a 2-D array ``(n_samples, n_timesteps)`` read as
    univariate sequences. The network reads each sequence in full and its
    output layer reads the last hidden state, or a pooling of all its
    states (``pooling``): one output per sequence (many-to-one). float32
    input trains a float32 model.
"""

POOLING_PARAMETER = """
    pooling : {'last', 'mean', 'max'}, default='last'
        What the output layer reads from the top layer: its state after each
        sequence's last step ('last'; with ``bidirectional``, the forward
        direction's last state next to the backward direction's state after
        step 0), or the mean or the element-wise maximum of its states over
        each sequence's own steps (both directions side by side). Pooling
        lets every step speak for the sequence, which helps on long
        sequences whose class shows anywhere in them; ragged batches pool
        over each sequence's real steps only.
"""


def class_weight_parameter(sample):
    """The classifiers' ``class_weight``, each ``sample`` (a sequence, or
    a step) of y being one sample."""
    return f"""
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes in the loss, ``{{label: weight}}``, as in
        scikit-learn's classifiers: every {sample}'s loss is multiplied by
        the weight of its class (classes left out weigh 1), and by its
        ``sample_weight``, so a weight of k counts each {sample} of the
        class as k copies of it. 'balanced' weighs each class inversely
        to its frequency in ``y``, ``n_samples / (n_classes *
        np.bincount(y))`` (``sklearn.utils.class_weight.compute_class_weight``),
        each {sample} a sample, counted with its ``sample_weight``. With
        ``early_stopping``, the held-out {sample}s are scored with these
        weights too. ``partial_fit`` refuses 'balanced', as
        ``SGDClassifier`` does: one chunk's frequencies are not the
        stream's; pass a dict computed from a sample of the labels
        instead.
"""
