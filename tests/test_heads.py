"""Output heads (``skrnn._heads``): what the output layer reads from the top
layer, and the gradient BPTT seeds from it."""

import numpy as np
import pytest
from finite_differences import central_differences

from skrnn._heads import HEADS
from skrnn._network import CHUNK_SIZE, RecurrentNetwork
from skrnn._params import NetworkSpec
from skrnn._sequences import check_sequences

N_FEATURES = 3
# More than one training chunk, ties, and length-1 sequences.
LENGTHS = [int(n) for n in np.random.RandomState(0).randint(1, 8, size=CHUNK_SIZE + 7)]


def _network_and_batch(head, cell, bidirectional, learn_initial_state, dtype=np.float64,
                       hidden=(4, 3), seed=0):
    rng = np.random.RandomState(seed)
    spec = NetworkSpec(N_FEATURES, 2, cell, hidden, bidirectional, learn_initial_state)
    network = RecurrentNetwork(spec, dtype, head)
    params = rng.normal(scale=0.6, size=network.layout.n_params).astype(dtype)
    X = [rng.normal(size=(n, N_FEATURES)).astype(dtype) for n in LENGTHS]
    return network, params, check_sequences(X)[0], X


def _linear_objective(network, sequences, weights):
    """sum(out * weights) and its gradient: any loss's gradient with respect
    to ``params`` is this with ``weights`` = dLoss/dout."""
    def value(params):
        out, _ = network.forward(params, sequences, n_threads=2)
        return float(np.sum(out * weights))

    def gradient(params):
        _, cache = network.forward(params, sequences, n_threads=2)
        return network.backward(params, cache, weights, n_threads=2)

    return value, gradient


@pytest.mark.parametrize("learn_initial_state", [False, True], ids=["h0=0", "h0=learned"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("head", HEADS)
def test_head_gradient_matches_finite_differences(head, cell, bidirectional,
                                                  learn_initial_state):
    """Every head, cell and direction count, through two stacked layers of
    different sizes, on a ragged batch of more than one chunk.

    The max head's objective has kinks where two steps tie for a maximum; with
    random float64 states none lies within eps of the point probed."""
    network, params, sequences, _ = _network_and_batch(head, cell, bidirectional,
                                                       learn_initial_state)
    out, _ = network.forward(params, sequences, n_threads=2)
    n_rows = sum(LENGTHS) if head == "step" else len(LENGTHS)
    assert out.shape == (n_rows, 2)
    # Scaled as a mean loss is, so that the objective is of order 1 and the
    # finite differences' rounding error stays near 1e-10.
    weights = np.random.RandomState(1).normal(size=out.shape) / n_rows
    value, gradient = _linear_objective(network, sequences, weights)
    grad = gradient(params)
    fd = central_differences(value, params)
    assert np.linalg.norm(grad) > 1e-3
    assert np.linalg.norm(grad - fd) / np.linalg.norm(fd) < 1e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def _states_by_sequence(network, params, X):
    """The top layer's states of each sequence, from the network run on one
    sequence at a time through the 'step' head with an identity output
    layer: an independent way to the states every head reads."""
    spec = network.spec
    hidden = spec.hidden_sizes[-1] * len(spec.directions)
    probe_spec = NetworkSpec(spec.n_features, hidden, spec.cell, spec.hidden_sizes,
                             spec.bidirectional, spec.learn_initial_state)
    probe = RecurrentNetwork(probe_spec, network.dtype, "step")
    probe_params = np.zeros(probe.layout.n_params, network.dtype)
    views, probe_views = network.layout.views(params), probe.layout.views(probe_params)
    for name, value in views.items():
        if name not in ("W_y", "b_y"):
            probe_views[name][...] = value
    probe_views["W_y"][...] = np.eye(hidden)
    return [probe.forward(probe_params, check_sequences([x])[0], 1)[0] for x in X]


@pytest.mark.parametrize("for_backward", [True, False], ids=["training", "prediction"])
@pytest.mark.parametrize("head", HEADS)
def test_head_reads_each_sequence_own_steps(head, for_backward):
    """Each head's output equals the output layer applied, sequence by
    sequence, to the last state, the mean, the maximum or every state of
    that sequence alone: a ragged batch pools over real steps only."""
    network, params, sequences, X = _network_and_batch(head, "gru", True, True)
    out, _ = network.forward(params, sequences, n_threads=2, for_backward=for_backward)
    views = network.layout.views(params)
    read = {"last": lambda s: s[-1:], "mean": lambda s: s.mean(axis=0, keepdims=True),
            "max": lambda s: s.max(axis=0, keepdims=True), "step": lambda s: s}[head]
    states = _states_by_sequence(network, params, X)
    if head == "last":
        # The backward direction's final state is its state after step 0.
        half = network.spec.hidden_sizes[-1]
        rows = [np.concatenate([s[-1:, :half], s[:1, half:]], axis=1) for s in states]
    else:
        rows = [read(s) for s in states]
    expected = np.concatenate(rows) @ views["W_y"] + views["b_y"]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("head", HEADS)
def test_head_is_bitwise_independent_of_thread_count(head):
    network, params, sequences, _ = _network_and_batch(head, "lstm", True, False,
                                                       dtype=np.float32)
    results = []
    for n_threads in (1, 2):
        out, cache = network.forward(params, sequences, n_threads)
        d_out = np.random.RandomState(2).normal(size=out.shape).astype(np.float32)
        grad = network.backward(params, cache, d_out, n_threads)
        predicted, _ = network.predict_raw(params, sequences, n_threads)
        results.append((out, grad, predicted))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
