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
