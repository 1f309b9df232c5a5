"""Truncated backpropagation through time: a mini-batch run in windows.

Each sequence is cut into consecutive windows of k steps, starting at its
first step: steps 0 to k-1, k to 2k-1, and so on, the last window holding
what remains (1 to k steps). The windows run in order, each starting from
the state (every layer's, and the LSTM's cell state) that the previous one
ended in; BPTT runs within a window only, the state it starts from being a
constant: PyTorch's ``h = h.detach()`` at every window boundary. The
gradients of all windows are summed into one gradient, for one update per
mini-batch. The outputs, and so the loss, are those of the untruncated
network: only the gradient is cut.

Only one window's activations exist at a time, so memory follows k, not the
length of the sequences. A head that reads each window on its own (each
sequence's final state, or every step) needs one forward and one backward
pass per window. A pooling over all of a sequence's steps needs the whole
pool before any gradient: a first pass runs every window forward, keeping
the state each window starts from and the pool so far; a second pass runs
each window again, forward and backward, seeded with its share of the
pool's gradient.
"""

import numpy as np


def truncated_loss_and_gradient(network, params, sequences, targets, target_rows, loss,
                                window, n_threads, workspace, weights=None):
    """Mean loss of a mini-batch and its gradient, cut every ``window`` steps.

    Parameters
    ----------
    network : RecurrentNetwork
        Of one direction.
    params : ndarray of shape (n_params,)
    sequences : Sequences
    targets : ndarray of shape (n_sequences, n_outputs) or StepTargets
        As the estimator keeps them; ``target_rows`` turns them into the
        rows the network outputs.
    target_rows : callable
    loss : object with ``loss_and_gradient(raw, y)``
    window : int
        Steps per window, at least 1.
    n_threads : int
    workspace : Workspace
    weights : ndarray of shape (n_sequences,) or StepTargets, optional
        Each output's weight in the loss, stored as ``targets`` are; the
        mean is then weighted.

    Returns
    -------
    loss : float
        Mean over what the loss counts (sequences, or steps).
    grad : ndarray of shape (n_params,)
    """
    windows = _Windows(sequences.lengths, window)
    if network.head.pools_over_steps:
        return _pooled(network, params, sequences, targets, loss, windows, n_threads,
                       workspace, weights)
    return _window_by_window(network, params, sequences, targets, target_rows, loss,
                             windows, n_threads, workspace, weights)


class _Windows:
    """Where the windows of a batch's sequences lie."""

    def __init__(self, lengths, size):
        self.lengths = lengths
        self.size = size
        self.count = -(-int(lengths.max()) // size)

    def active(self, j):
        """Batch index of each sequence that has a window ``j``."""
        return np.flatnonzero(self.lengths > j * self.size)

    def cut(self, sequences, active, j):
        """Window ``j`` of the ``active`` sequences (or of their per-step
        targets), sharing ``data``."""
        offset = j * self.size
        return type(sequences)(sequences.data, sequences.starts[active] + offset,
                               np.minimum(sequences.lengths[active] - offset, self.size))


def _carried(finals, active, next_active):
    """The states the next window's sequences start from: ``finals`` holds
    the final states of the ``active`` sequences, in that order, and the
    sequences of the next window are some of them (``next_active``)."""
    rows = np.searchsorted(active, next_active)
    return {tag: tuple(part[rows] for part in value) if isinstance(value, tuple)
            else value[rows] for tag, value in finals.items()}


def _window_by_window(network, params, sequences, targets, target_rows, loss, windows,
                      n_threads, workspace, weights):
    """Heads whose outputs each lie in one window: a window's outputs, loss
    and gradient are complete once it has run."""
    per_step = network.head.per_step
    # What the loss averages over: every step, or every sequence (whose
    # output is read in the window that holds its last step).
    if weights is not None:
        n_terms = float(target_rows(weights).sum())
    else:
        n_terms = int(windows.lengths.sum()) if per_step else len(windows.lengths)
    total_loss = 0.0
    grad = np.zeros_like(params)
    states = None
    for j in range(windows.count):
        active = windows.active(j)
        part = windows.cut(sequences, active, j)
        if per_step:
            # Every output of the window counts: the output layer and loss
            # run in one kernel, as untruncated (``RecurrentNetwork.forward_loss``).
            part_weights = (None if weights is None
                            else target_rows(windows.cut(weights, active, j))[:, 0])
            part_loss, cache = network.forward_loss(
                params, part, target_rows(windows.cut(targets, active, j)), loss, n_terms,
                n_threads, workspace, initial_states=states, row_weights=part_weights)
            d_out = None
        else:
            out, cache = network.forward(params, part, n_threads, workspace=workspace,
                                         initial_states=states)
        if j + 1 < windows.count:
            states = _carried(network.final_states(cache), active, windows.active(j + 1))
        if not per_step:
            counted = part.lengths + j * windows.size == windows.lengths[active]
            if not counted.any():
                continue
            expected = targets[active[counted]]
            if weights is None:
                part_loss, d_counted = loss.loss_and_gradient(out[counted], expected)
                share = len(expected) / n_terms
            else:
                counted_weights = weights[active[counted]]
                if not counted_weights.any():
                    continue
                part_loss, d_counted = loss.loss_and_gradient(out[counted], expected,
                                                              counted_weights)
                share = float(counted_weights.sum()) / n_terms
            part_loss *= share
            d_out = np.zeros_like(out)
            d_out[counted] = d_counted * share
        total_loss += part_loss
        grad += network.backward(params, cache, d_out, n_threads, workspace=workspace)
    return total_loss, grad


def _pooled(network, params, sequences, targets, loss, windows, n_threads, workspace,
            weights):
    """Mean or max over every step: the pool from a forward pass over all
    windows, then each window again, forward and backward."""
    is_mean = network.head.name == "mean"
    start_states = [None]
    pooled = winner = None
    for j in range(windows.count):
        active = windows.active(j)
        part = windows.cut(sequences, active, j)
        _, cache = network.forward(params, part, n_threads, workspace=workspace,
                                   initial_states=start_states[j])
        if j + 1 < windows.count:
            start_states.append(
                _carried(network.final_states(cache), active, windows.active(j + 1)))
        window_pool = _window_pool(cache)
        if pooled is None:
            pooled = np.zeros_like(window_pool) if is_mean else window_pool.copy()
            winner = np.zeros(window_pool.shape, np.intp)
        if is_mean:
            pooled[active] += window_pool * part.lengths[:, np.newaxis]
        else:
            # Strictly greater: the first window to reach the maximum has it,
            # as the untruncated head gives it to the first step.
            better = window_pool > pooled[active]
            pooled[active] = np.where(better, window_pool, pooled[active])
            winner[active] = np.where(better, j, winner[active])
    if is_mean:
        pooled /= windows.lengths[:, np.newaxis].astype(pooled.dtype)

    w = network.layout.views(params)
    out = pooled @ w["W_y"] + w["b_y"]
    total_loss, d_out = loss.loss_and_gradient(out, targets, weights)
    d_pooled = d_out @ w["W_y"].T
    grad = np.zeros_like(params)
    g = network.layout.views(grad)
    g["W_y"][...] = pooled.T @ d_out
    g["b_y"][...] = d_out.sum(axis=0)
    for j in range(windows.count):
        active = windows.active(j)
        part = windows.cut(sequences, active, j)
        _, cache = network.forward(params, part, n_threads, workspace=workspace,
                                   initial_states=start_states[j])
        if is_mean:
            # The window's mean holds n_j of the sequence's L steps.
            share = (part.lengths / windows.lengths[active]).astype(pooled.dtype)
            d_window = d_pooled[active] * share[:, np.newaxis]
        else:
            d_window = np.where(winner[active] == j, d_pooled[active], 0).astype(pooled.dtype)
        grad += network.backward(params, cache, None, n_threads, workspace=workspace,
                                 d_head=d_window)
    return total_loss, grad


def _window_pool(cache):
    """The pooled rows of a window's forward pass, in the window's batch
    order."""
    batch = cache["batch"]
    rows = np.empty_like(cache["head_rows"])
    rows[batch.order] = cache["head_rows"]
    return rows

