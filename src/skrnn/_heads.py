"""Output heads: what the dense output layer reads from the top layer.

A head turns the top recurrent layer's states into the rows the output layer
multiplies, and, in BPTT, turns the gradient with respect to those rows into
dLoss/dh at every row of the top layer, the seed of the backward pass:

* ``last``: each sequence's final state (the forward direction's after its
  last step, the backward direction's after step 0), one row per sequence;
* ``mean`` and ``max``: the mean or the element-wise maximum of the states
  over each sequence's own steps, one row per sequence;
* ``step``: the state at every step, one row per step (many-to-many).

With two directions, a row holds the forward direction's values next to the
backward direction's, and a ``step`` row pairs both directions' states at
the same time step.

States arrive as the kernels write them: one array per direction, in the
batch's work-row order (``skrnn._network.BatchLayout``), where the backward
direction's row of step t holds the sequence's step L - 1 - t. A sequence's
rows are the same set in both directions, so mean and max read every
direction through the forward direction's row map.
"""

import numpy as np

HEADS = ("last", "mean", "max", "step")


def make_head(name):
    """The head called ``name`` (one of ``HEADS``)."""
    if name == "last":
        return LastState()
    if name == "step":
        return EveryStep()
    return Pooling(name)


class Head:
    """What every head provides; see the module docstring.

    ``reads_final_only``: whether a prediction pass needs only each
    sequence's final state of the top layer (its kernels then keep no other
    state); ``per_step``: whether there is one output row per step rather
    than per sequence; ``pools_over_steps``: whether a row reads all of a
    sequence's steps (so that truncated BPTT needs the whole pool before any
    gradient, see ``skrnn._truncation``).
    """

    name = None
    reads_final_only = False
    per_step = False
    pools_over_steps = False

    def read(self, states, finals, batch, for_backward):
        """The output layer's input rows, in sorted-sequence (or work-row)
        order.

        Parameters
        ----------
        states : list of ndarray of shape (n_rows, hidden) or None
            The top layer's state at every work row, per direction; None for
            a prediction pass of a head that ``reads_final_only``.
        finals : list of ndarray of shape (n_seq, hidden) or None
            Each sorted sequence's final state per direction, if the
            prediction pass wrote them.
        batch : BatchLayout
        for_backward : bool
            Whether ``seed`` will be called (training).

        Returns
        -------
        rows : ndarray of shape (n_out_rows, n_directions * hidden)
        context : object
            What ``seed`` needs besides the gradient.
        """
        raise NotImplementedError

    def seed(self, d_rows, context, batch, hidden, n_dir, workspace):
        """dLoss/dh at every work row of the top layer, per direction,
        from dLoss/d(rows) of ``read`` (arrays from ``workspace`` where
        that saves an allocation per batch)."""
        raise NotImplementedError

    def output_rows(self, batch, out_starts):
        """Row of the returned output held by each row of ``read``'s
        result, or None if those rows are in sorted-sequence order (the
        network then puts them back in batch order)."""
        return None


class LastState(Head):
    name = "last"
    reads_final_only = True

    def read(self, states, finals, batch, for_backward):
        if finals is None:
            finals = [H[batch.last_rows] for H in states]
        return _side_by_side(finals), None

    def seed(self, d_rows, context, batch, hidden, n_dir, workspace):
        dH = []
        for d in range(n_dir):
            dH_dir = workspace.zeros(f"dH{d}", (batch.n_rows, hidden), d_rows.dtype)
            dH_dir[batch.last_rows] = d_rows[:, d * hidden : (d + 1) * hidden]
            dH.append(dH_dir)
        return dH


class Pooling(Head):
    """Mean or maximum over each sequence's own steps (never padding: the
    layout holds real steps only)."""

    pools_over_steps = True

    def __init__(self, name):
        self.name = name

    def read(self, states, finals, batch, for_backward):
        rows, seq_starts = batch.sequence_rows()
        pooled, argmax = [], []
        for H in states:
            # Each sequence's rows made consecutive, so that one reduceat
            # pools them.
            by_sequence = np.empty_like(H)
            by_sequence[rows] = H
            if self.name == "mean":
                sums = np.add.reduceat(by_sequence, seq_starts, axis=0)
                pooled.append(sums / batch.seq_len[:, np.newaxis].astype(H.dtype))
            else:
                maxima = np.maximum.reduceat(by_sequence, seq_starts, axis=0)
                pooled.append(maxima)
                if for_backward:
                    argmax.append(
                        _first_maximum(by_sequence, maxima, seq_starts, batch.seq_len))
        return _side_by_side(pooled), argmax

    def seed(self, d_rows, context, batch, hidden, n_dir, workspace):
        rows, _ = batch.sequence_rows()
        sequence_of_row = np.repeat(np.arange(len(batch.seq_len)), batch.seq_len)[rows]
        dH = []
        for d in range(n_dir):
            d_pooled = d_rows[:, d * hidden : (d + 1) * hidden]
            if self.name == "mean":
                d_pooled = d_pooled / batch.seq_len[:, np.newaxis].astype(d_rows.dtype)
                dH.append(np.ascontiguousarray(d_pooled[sequence_of_row]))
            else:
                # The gradient goes to the step that gave the maximum.
                winners = context[d][rows]
                dH.append(np.where(winners, d_pooled[sequence_of_row], 0).astype(d_rows.dtype))
        return dH


class EveryStep(Head):
    name = "step"
    per_step = True

    def read(self, states, finals, batch, for_backward):
        if len(states) == 1:
            return states[0], None
        # The backward direction's state at the same step as each forward row.
        H_forward, H_backward = states
        return np.concatenate([H_forward, H_backward[batch.mirrored_rows()]], axis=1), None

    def seed(self, d_rows, context, batch, hidden, n_dir, workspace):
        dH = [np.ascontiguousarray(d_rows[:, :hidden])]
        if n_dir == 2:
            dH.append(np.ascontiguousarray(d_rows[batch.mirrored_rows(), hidden:]))
        return dH

    def output_rows(self, batch, out_starts):
        # Sequence q's step t goes to row out_starts[q] + t of the output.
        return batch.rows_of(np.ascontiguousarray(out_starts[batch.order]), 1)


def _side_by_side(arrays):
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=1)


def _first_maximum(by_sequence, maxima, seq_starts, seq_len):
    """Boolean mask of ``by_sequence``'s rows: True where a row holds its
    sequence's maximum of a column for the first time, in step order (one
    winner per sequence and column, so that ties share no gradient)."""
    sequence_of_row = np.repeat(np.arange(len(seq_len)), seq_len)
    is_max = by_sequence == maxima[sequence_of_row]
    count = np.cumsum(is_max, axis=0)
    before = np.zeros_like(maxima, dtype=count.dtype)
    before[1:] = count[seq_starts[1:] - 1]
    return is_max & (count - before[sequence_of_row] == 1)
