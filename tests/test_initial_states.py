"""Per-sequence state in and out: a layer pass starts each sequence from a
state of its own and gives back its final state; BPTT gives back
dLoss/d(initial state) of every sequence."""

import numpy as np
import pytest
from finite_differences import central_differences

from skrnn._network import CHUNK_SIZE, RecurrentNetwork
from skrnn._params import NetworkSpec
from skrnn._sequences import check_sequences

LENGTHS = [int(n) for n in np.random.RandomState(0).randint(1, 8, size=CHUNK_SIZE + 7)]


def _setup(cell, learn_initial_state, head, seed=0):
    rng = np.random.RandomState(seed)
    spec = NetworkSpec(3, 2, cell, (4, 3), False, learn_initial_state)
    network = RecurrentNetwork(spec, np.float64, head)
    params = rng.normal(scale=0.6, size=network.layout.n_params)
    X = [rng.normal(size=(n, 3)) for n in LENGTHS]
    initial = {}
    for k, hidden in enumerate(spec.hidden_sizes):
        states = [rng.normal(scale=0.5, size=(len(X), hidden))
                  for _ in range(2 if cell == "lstm" else 1)]
        initial[f"_l{k}"] = tuple(states) if cell == "lstm" else states[0]
    return network, params, check_sequences(X)[0], X, initial


def _parts(value):
    return list(value) if isinstance(value, tuple) else [value]


@pytest.mark.parametrize("head", ["last", "step"])
@pytest.mark.parametrize("learn_initial_state", [False, True], ids=["h0=0", "h0=learned"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_given_initial_states_gradients_match_finite_differences(
    cell, learn_initial_state, head
):
    """With a state given per sequence to every layer, the parameters'
    gradient (each sequence's own share of dW_hh at step 0) and the
    gradient with respect to every given state (and LSTM cell state) equal
    central differences (eps = 1e-6, objective of order 1: error ~1e-10)."""
    network, params, sequences, _, initial = _setup(cell, learn_initial_state, head)
    out, cache = network.forward(params, sequences, 2, initial_states=initial)
    weights = np.random.RandomState(1).normal(size=out.shape) / len(out)

    def value(p, states=initial):
        return float(np.sum(network.forward(p, sequences, 2, initial_states=states)[0]
                            * weights))

    grad, d_initial = network.backward(params, cache, weights, 2, initial_gradient=True)
    fd = central_differences(value, params)
    assert np.linalg.norm(grad - fd) / np.linalg.norm(fd) < 1e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    for tag, given in initial.items():
        for i, part in enumerate(_parts(given)):
            def of_state(flat, tag=tag, i=i, part=part):
                parts = _parts(initial[tag])
                parts[i] = flat.reshape(part.shape)
                states = dict(initial, **{tag: tuple(parts) if cell == "lstm" else parts[0]})
                return value(params, states)

            expected = central_differences(of_state, part.ravel().copy())
            got = _parts(d_initial[tag])[i].ravel()
            assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < 1e-6


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_initial_gradient_of_learned_state_sums_to_its_parameter_gradient(cell):
    """From a learned shared h0, the per-sequence dLoss/dh0 summed over the
    batch is the gradient of the h0 parameter."""
    network, params, sequences, _, _ = _setup(cell, True, "last")
    out, cache = network.forward(params, sequences, 2)
    weights = np.random.RandomState(1).normal(size=out.shape)
    grad, d_initial = network.backward(params, cache, weights, 2, initial_gradient=True)
    g = network.layout.views(grad)
    for tag, value in d_initial.items():
        np.testing.assert_allclose(_parts(value)[0].sum(axis=0), g["h0" + tag], rtol=1e-12,
                                   atol=1e-14)
        if cell == "lstm":
            np.testing.assert_allclose(value[1].sum(axis=0), g["c0" + tag], rtol=1e-12,
                                       atol=1e-14)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_final_states_continue_a_sequence(cell):
    """Running the first part of every sequence, then the rest from the
    final states, gives the outputs of running each sequence whole; the
    prediction pass reads given states as the training pass does."""
    network, params, _, X, _ = _setup(cell, True, "step")
    whole, _ = network.forward(params, check_sequences(X)[0], 2)
    cut = [max(1, len(x) // 2) for x in X]
    keep = [i for i, x in enumerate(X) if len(x) > 1]
    head_part = check_sequences([x[:c] for x, c in zip(X, cut)])[0]
    out_head, cache = network.forward(params, head_part, 2)
    finals = network.final_states(cache)
    rest = check_sequences([X[i][cut[i]:] for i in keep])[0]
    carried = {tag: tuple(p[keep] for p in _parts(v)) if cell == "lstm" else v[keep]
               for tag, v in finals.items()}
    out_rest, _ = network.forward(params, rest, 2, initial_states=carried)
    predicted_rest, _ = network.forward(params, rest, 2, for_backward=False,
                                        initial_states=carried)
    np.testing.assert_allclose(predicted_rest, out_rest, rtol=1e-12, atol=1e-12)
    # Reassemble per sequence: the first part's steps, then the rest's.
    starts_head = np.concatenate([[0], np.cumsum(cut)])
    rest_lengths = [len(X[i]) - cut[i] for i in keep]
    starts_rest = np.concatenate([[0], np.cumsum(rest_lengths)])
    pieces = []
    for i, x in enumerate(X):
        pieces.append(out_head[starts_head[i] : starts_head[i + 1]])
        if i in keep:
            j = keep.index(i)
            pieces.append(out_rest[starts_rest[j] : starts_rest[j + 1]])
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=1e-12, atol=1e-12)


def test_given_states_need_one_direction():
    spec = NetworkSpec(3, 2, "gru", (4,), True, False)
    network = RecurrentNetwork(spec, np.float64)
    params = np.zeros(network.layout.n_params)
    sequences = check_sequences(np.zeros((2, 3, 3)))[0]
    with pytest.raises(ValueError, match="one direction"):
        network.forward(params, sequences, 1, initial_states={"_l0": np.zeros((2, 4))})
