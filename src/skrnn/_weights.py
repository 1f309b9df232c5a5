"""The public weight mapping: PyTorch's parameter names and shapes.

A fitted network's weights are exposed as a dict keyed like the state dicts
of ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, with the suffix
``_reverse`` for the backward direction) plus ``output.weight`` and
``output.bias`` for the ``torch.nn.Linear`` output layer, and
``initial_h_l{k}`` / ``initial_c_l{k}`` for learned initial states. This
module converts between that dict and the flat parameter vector
(``skrnn._params``): it transposes the weight matrices and splits or folds
the biases.

PyTorch keeps two biases per gate where one would do, because they are
simply added. skrnn keeps their sum, so reading gives the whole sum in
``bias_ih`` and zeros in ``bias_hh`` -- except the GRU's n gate, whose
recurrent bias sits inside ``r * (W_hn h + b_hn)`` and is kept apart. The
outputs are the same either way.
"""

import numpy as np

_TORCH_INITIAL_STATE = "initial_{}"  # initial_h, initial_c


def torch_shapes(spec):
    """Dict of PyTorch-style name -> shape for a network spec."""
    shapes = {}
    for k, tag, n_in, hidden in spec.layers():
        suffix = tag  # "_l{k}" or "_l{k}_reverse", PyTorch's own suffixes
        width = spec.n_gates * hidden
        shapes["weight_ih" + suffix] = (width, n_in)
        shapes["weight_hh" + suffix] = (width, hidden)
        shapes["bias_ih" + suffix] = (width,)
        shapes["bias_hh" + suffix] = (width,)
        if spec.learn_initial_state:
            for state in spec.cell_type.states:
                shapes[_TORCH_INITIAL_STATE.format(state) + suffix] = (hidden,)
    n_final = len(spec.directions) * spec.hidden_sizes[-1]
    shapes["output.weight"] = (spec.n_outputs, n_final)
    shapes["output.bias"] = (spec.n_outputs,)
    return shapes


def to_torch_names(spec, views):
    """PyTorch-named copies of the parameters in ``views`` (flat-layout names)."""
    cell = spec.cell_type
    weights = {}
    for _, tag, _, hidden in spec.layers():
        weights["weight_ih" + tag] = views["W_ih" + tag].T.copy()
        weights["weight_hh" + tag] = views["W_hh" + tag].T.copy()
        weights["bias_ih" + tag] = views["b" + tag].copy()
        bias_hh = np.zeros_like(views["b" + tag])
        for gate, name in cell.separate_biases():
            bias_hh[cell.gate_slice(gate, hidden)] = views[name + tag]
        weights["bias_hh" + tag] = bias_hh
        if spec.learn_initial_state:
            for state, name in zip(cell.states, cell.initial_state_names()):
                weights[_TORCH_INITIAL_STATE.format(state) + tag] = views[name + tag].copy()
    weights["output.weight"] = views["W_y"].T.copy()
    weights["output.bias"] = views["b_y"].copy()
    return weights


def from_torch_names(spec, weights, views):
    """Write PyTorch-named ``weights`` into ``views``, after checking them.

    Raises
    ------
    ValueError
        If a name is missing or unknown, or an array has the wrong shape, is
        not real, holds NaN or infinity, or holds values (or, for biases kept
        as one sum, values whose sum) beyond the range of the views' dtype.
        Nothing is written then.
    """
    expected = torch_shapes(spec)
    missing = [name for name in expected if name not in weights]
    unknown = [name for name in weights if name not in expected]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if unknown:
            problems.append(f"unknown {unknown}")
        raise ValueError(
            "The weights do not match this network "
            f"({spec.cell}, hidden_layer_sizes={spec.hidden_sizes}, "
            f"bidirectional={spec.bidirectional}, "
            f"learn_initial_state={spec.learn_initial_state}): "
            + "; ".join(problems) + "."
        )
    dtype = views["W_y"].dtype
    arrays = {}
    for name, shape in expected.items():
        value = np.asarray(weights[name])
        if np.iscomplexobj(value):
            raise ValueError(f"Weight {name!r} is complex; weights must be real.")
        try:
            value = value.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Weight {name!r} is not numeric: {exc}") from exc
        if value.shape != shape:
            raise ValueError(
                f"Weight {name!r} has shape {value.shape}; this network needs {shape}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"Weight {name!r} contains NaN or infinity.")
        _check_in_range(value, dtype, f"Weight {name!r}")
        arrays[name] = value

    cell = spec.cell_type
    biases = {}
    for _, tag, _, hidden in spec.layers():
        bias = arrays["bias_ih" + tag] + arrays["bias_hh" + tag]
        for gate, _ in cell.separate_biases():
            apart = cell.gate_slice(gate, hidden)
            bias[apart] = arrays["bias_ih" + tag][apart]
        _check_in_range(bias, dtype, f"The sum of 'bias_ih{tag}' and 'bias_hh{tag}'")
        biases[tag] = bias

    for _, tag, _, hidden in spec.layers():
        views["W_ih" + tag][...] = arrays["weight_ih" + tag].T
        views["W_hh" + tag][...] = arrays["weight_hh" + tag].T
        for gate, name in cell.separate_biases():
            views[name + tag][...] = arrays["bias_hh" + tag][cell.gate_slice(gate, hidden)]
        views["b" + tag][...] = biases[tag]
        if spec.learn_initial_state:
            for state, name in zip(cell.states, cell.initial_state_names()):
                views[name + tag][...] = arrays[_TORCH_INITIAL_STATE.format(state) + tag]
    views["W_y"][...] = arrays["output.weight"].T
    views["b_y"][...] = arrays["output.bias"]


def _check_in_range(value, dtype, what):
    """Raise if a finite float64 ``value`` would overflow ``dtype``."""
    if value.size and np.max(np.abs(value)) > np.finfo(dtype).max:
        raise ValueError(
            f"{what} has values beyond the range of {np.dtype(dtype).name}, the "
            f"dtype of this model (largest {np.finfo(dtype).max:.3g})."
        )
