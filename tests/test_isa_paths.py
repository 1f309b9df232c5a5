"""The kernels' instruction-set paths give bitwise the same results.

On a CPU with AVX-512 the packed products (``_kernels/_gemm.h``) run on
their AVX-512 path, unless ``SKRNN_DISABLE_AVX512`` is set, which a child
process here does: trained weights and predictions must match the parent's
bit for bit. Elsewhere both processes run the AVX2 (or baseline) path and
the comparison checks that the variable changes nothing. Every other test
of the suite runs on the path the machine selects.
"""

import hashlib
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNStepRegressor
from skrnn._kernels._dense import uses_avx512

CONFIGURATIONS = [
    # (estimator, cell, dtype, hidden_layer_sizes, bidirectional)
    ("classifier", "rnn", "float32", (40,), False),
    ("classifier", "lstm", "float64", (24, 17), True),
    ("classifier", "gru", "float32", (33,), True),
    ("step", "lstm", "float32", (20,), False),
    ("step", "gru", "float64", (19, 35), False),
]


def _fingerprints():
    """A digest of the weights and predictions of a short fit of each
    configuration: hidden sizes off the panel width (16 floats, 8 doubles)
    and a ragged batch, so that partial panels and partial row blocks run."""
    rng = np.random.RandomState(0)
    lengths = rng.randint(3, 30, size=70)
    X = [rng.normal(size=(n, 5)) for n in lengths]
    y_class = np.array([int(x[:, 0].sum() > 0) for x in X])
    y_step = [np.cumsum(x[:, :2], axis=0) for x in X]
    digests = {}
    for kind, cell, dtype, hidden, bidirectional in CONFIGURATIONS:
        Xd = [x.astype(dtype) for x in X]
        if kind == "classifier":
            est = RNNClassifier(hidden, cell=cell, bidirectional=bidirectional, max_iter=3,
                                batch_size=32, random_state=0, n_threads=2)
            est.fit(Xd, y_class)
            out = est.predict_proba(Xd)
        else:
            est = RNNStepRegressor(hidden, cell=cell, bidirectional=bidirectional,
                                   max_iter=3, batch_size=32, random_state=0, n_threads=2)
            est.fit(Xd, y_step)
            out = np.concatenate(est.predict(Xd))
        digest = hashlib.sha256(np.ascontiguousarray(est._params).tobytes())
        digest.update(np.ascontiguousarray(out).tobytes())
        digests[f"{kind}-{cell}-{dtype}"] = digest.hexdigest()
    return digests


def _cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return None
    return "avx512f" in flags and "avx512vl" in flags


def test_the_avx512_path_is_chosen_where_the_cpu_has_it():
    has = _cpu_has_avx512()
    expected = has if has is not None else uses_avx512()
    assert uses_avx512() == expected
    child = _child("from skrnn._kernels._dense import uses_avx512; print(uses_avx512())",
                   disable=True)
    assert child.strip() == "False"


def _child(code, disable):
    env = dict(os.environ)
    if disable:
        env["SKRNN_DISABLE_AVX512"] = "1"
    else:
        env.pop("SKRNN_DISABLE_AVX512", None)
    return subprocess.run([sys.executable, "-c", code], env=env, check=True,
                          capture_output=True, text=True).stdout


def test_training_and_prediction_are_bitwise_the_same_on_each_path():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        here = _fingerprints()
    code = ("import json, warnings, sys; sys.path.insert(0, %r); "
            "warnings.simplefilter('ignore'); "
            "from test_isa_paths import _fingerprints; print(json.dumps(_fingerprints()))"
            % os.path.dirname(__file__))
    assert json.loads(_child(code, disable=True).strip().splitlines()[-1]) == here
