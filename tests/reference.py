"""A plain NumPy Elman RNN, one sequence at a time: the kernels' reference.

Written for clarity, not speed: no chunking, no sorting, no BLAS tricks, so
that it shares no code path with the kernels it checks.
"""

import numpy as np


def _act(a, activation):
    return np.tanh(a) if activation == "tanh" else np.maximum(a, 0)


def _act_grad_from_output(h, activation):
    return 1 - h**2 if activation == "tanh" else (h > 0).astype(h.dtype)


def forward(p, sequences, activation):
    """Raw outputs (n_seq, n_outputs) and each sequence's hidden states."""
    outs, states = [], []
    for x in sequences:
        h = np.zeros(p["W_s"].shape[0], dtype=x.dtype)
        hs = []
        for x_t in x:
            h = _act(x_t @ p["W_x"] + h @ p["W_s"] + p["b"], activation)
            hs.append(h)
        states.append(np.array(hs))
        outs.append(h @ p["W_y"] + p["b_y"])
    return np.array(outs), states


def backward(p, sequences, states, d_out, activation):
    """Gradients (dict, same keys as ``p``) given dLoss/dout by BPTT."""
    g = {name: np.zeros_like(value) for name, value in p.items()}
    for x, hs, d in zip(sequences, states, d_out):
        g["W_y"] += np.outer(hs[-1], d)
        g["b_y"] += d
        dh = p["W_y"] @ d
        for t in range(len(x) - 1, -1, -1):
            delta = dh * _act_grad_from_output(hs[t], activation)
            g["W_x"] += np.outer(x[t], delta)
            g["b"] += delta
            if t > 0:
                g["W_s"] += np.outer(hs[t - 1], delta)
            dh = p["W_s"] @ delta
    return g


# ---------------------------------------------------------------------------
# Stacked, optionally bidirectional RNN / LSTM / GRU, from PyTorch's equations
# ---------------------------------------------------------------------------
#
# Written straight from the documented equations of torch.nn.RNN, torch.nn.LSTM
# and torch.nn.GRU, with PyTorch's parameter names and shapes, one sequence and
# one time step at a time.  Column vectors as in the docs: W @ x, not x @ W.

_GATES_PER_CELL = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _rnn_step(x, h, W_ih, W_hh, b_ih, b_hh, nonlinearity):
    """h' = act(W_ih x + b_ih + W_hh h + b_hh)."""
    a = W_ih @ x + b_ih + W_hh @ h + b_hh
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)


def _lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step, gates stacked in the order i, f, g, o."""
    H = h.shape[0]
    a = W_ih @ x + b_ih + W_hh @ h + b_hh
    i = _sigmoid(a[0 * H:1 * H])
    f = _sigmoid(a[1 * H:2 * H])
    g = np.tanh(a[2 * H:3 * H])
    o = _sigmoid(a[3 * H:4 * H])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new


def _gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    """One GRU step, gates stacked in the order r, z, n."""
    H = h.shape[0]
    gi = W_ih @ x + b_ih  # W_i* x + b_i*
    gh = W_hh @ h + b_hh  # W_h* h + b_h*
    r = _sigmoid(gi[0 * H:1 * H] + gh[0 * H:1 * H])
    z = _sigmoid(gi[1 * H:2 * H] + gh[1 * H:2 * H])
    n = np.tanh(gi[2 * H:3 * H] + r * gh[2 * H:3 * H])
    return (1 - z) * n + z * h


def _run_direction(inputs, weights, cell, layer, sfx, nonlinearity, dtype):
    """Hidden states of one layer and one direction over ``inputs``.

    ``inputs`` is a list of input vectors in the order they are fed in.
    Returns the list of hidden states, in that same order, and the final one.
    """
    W_ih = weights[f"weight_ih_l{layer}{sfx}"].astype(dtype)
    W_hh = weights[f"weight_hh_l{layer}{sfx}"].astype(dtype)
    b_ih = weights[f"bias_ih_l{layer}{sfx}"].astype(dtype)
    b_hh = weights[f"bias_hh_l{layer}{sfx}"].astype(dtype)
    H = W_hh.shape[1]
    assert W_ih.shape[0] == W_hh.shape[0] == _GATES_PER_CELL[cell] * H

    h = np.zeros(H, dtype=dtype)
    c = np.zeros(H, dtype=dtype)
    if f"initial_h_l{layer}{sfx}" in weights:
        h = weights[f"initial_h_l{layer}{sfx}"].astype(dtype).copy()
    if cell == "lstm" and f"initial_c_l{layer}{sfx}" in weights:
        c = weights[f"initial_c_l{layer}{sfx}"].astype(dtype).copy()

    states = []
    for x in inputs:
        if cell == "rnn":
            h = _rnn_step(x, h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
        elif cell == "lstm":
            h, c = _lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)
        elif cell == "gru":
            h = _gru_step(x, h, W_ih, W_hh, b_ih, b_hh)
        else:
            raise ValueError(f"unknown cell {cell!r}")
        states.append(h)
    return states, h


def torch_equations_forward(weights, sequences, cell, n_layers, bidirectional,
                            nonlinearity="tanh"):
    """Raw outputs (n_seq, n_outputs) of the network given PyTorch-named weights."""
    if cell not in _GATES_PER_CELL:
        raise ValueError(f"unknown cell {cell!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
    dtype = sequences[0].dtype if len(sequences) else np.float64
    W_out = weights["output.weight"].astype(dtype)
    b_out = weights["output.bias"].astype(dtype)

    outs = []
    for seq in sequences:
        # The input of layer 0 at step t is the sequence's row t.
        layer_inputs = [np.asarray(x_t, dtype=dtype) for x_t in seq]
        for layer in range(n_layers):
            # Forward direction: steps 0, 1, ..., T-1.
            fwd_states, fwd_final = _run_direction(
                layer_inputs, weights, cell, layer, "", nonlinearity, dtype)
            if bidirectional:
                # Backward direction: steps T-1, ..., 0; put its states back
                # in time order so that step t pairs with forward step t.
                bwd_states, bwd_final = _run_direction(
                    layer_inputs[::-1], weights, cell, layer, "_reverse",
                    nonlinearity, dtype)
                bwd_states = bwd_states[::-1]
                layer_inputs = [np.concatenate([f, b])
                                for f, b in zip(fwd_states, bwd_states)]
                final = np.concatenate([fwd_final, bwd_final])
            else:
                layer_inputs = fwd_states
                final = fwd_final
        outs.append(W_out @ final + b_out)

    if not outs:
        return np.zeros((0, W_out.shape[0]), dtype=dtype)
    return np.array(outs, dtype=dtype)
