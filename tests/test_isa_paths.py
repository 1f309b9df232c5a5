"""Every instruction-set path of the kernels.

With GCC on x86-64 each loop of the kernels is compiled for AVX-512, for
AVX2 with FMA and for the baseline, and the widest the CPU has runs, unless
the environment variable ``SKRNN_ISA`` names a narrower one
(``src/skrnn/_kernels/_isa.h``). One machine runs them all here, each in a
child process with ``SKRNN_ISA`` set:

- the path chosen is the CPU's widest, capped by ``SKRNN_ISA``;
- the AVX2 path gives bitwise the weights and predictions of the CPU's own
  (AVX-512 where the CPU has it): RNN, LSTM and GRU, per sequence and per
  step, on ragged batches, and the reservoir's dense and sparse products;
- on the AVX2 and the baseline paths, the gradient checks, the NumPy
  reference of the cells and of the reservoir, the output kernel's accuracy,
  the products against NumPy's and the thread-count invariance tests pass, as the rest of the suite
  checks them on the CPU's own path. (On a CPU without AVX-512 the AVX2
  child repeats the CPU's own path.)
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from skrnn import ESNStepRegressor, RNNClassifier, RNNStepRegressor
from skrnn._kernels._dense import instruction_set

TESTS = os.path.dirname(os.path.abspath(__file__))

CONFIGURATIONS = [
    # (estimator, cell, dtype, hidden_layer_sizes, bidirectional)
    ("classifier", "rnn", "float32", (40,), False),
    ("classifier", "lstm", "float64", (24, 17), True),
    ("classifier", "gru", "float32", (33,), True),
    ("step", "lstm", "float32", (20,), False),
    ("step", "gru", "float64", (19, 35), False),
]

# The modules whose tests every path must pass.
PATH_TESTS = ["test_gradients.py", "test_cells.py", "test_threads.py", "test_output_loss.py",
              "test_products.py", "test_optimizers.py", "test_esn.py", "test_truncation.py"]

LEVELS = ["baseline", "avx2", "avx512"]


def _fingerprints():
    """A digest of the weights and predictions of a short fit of each
    configuration: hidden sizes off the panel width (16 floats, 8 doubles)
    and a ragged batch, so that partial panels and partial row blocks run;
    and of a reservoir's states through its sparse product (one sequence)
    and its dense one (many), and a closed-loop generation."""
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
    series = np.sin(np.arange(300) / 7.0).reshape(1, -1, 1)
    windows = [x[:, :1] for x in X[:40]]
    for dtype in ("float32", "float64"):
        s = series.astype(dtype)
        esn = ESNStepRegressor(n_units=70, bias_scaling=0.5, random_state=0, n_threads=2)
        esn.fit(s[:, :-1], s[:, 1:])  # one sequence: the sparse product
        # Many sequences at once: the dense product.
        many = esn.predict([w.astype(dtype) for w in windows])
        outputs = [esn.predict(s), *many, esn.generate(s[:, :50], 30)]
        digest = hashlib.sha256()
        for out in outputs:
            digest.update(np.ascontiguousarray(out).tobytes())
        digests[f"esn-{dtype}"] = digest.hexdigest()
    return digests


def _child(code, level):
    env = dict(os.environ, SKRNN_ISA=level)
    return subprocess.run([sys.executable, "-c", code], env=env, check=True,
                          capture_output=True, text=True, cwd=TESTS).stdout


def _cpu_level():
    """The widest level this CPU has, from /proc/cpuinfo, or None."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split())
    except (OSError, StopIteration):
        return None
    if not {"avx2", "fma", "bmi2"} <= flags:
        return "baseline"
    avx512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
    return "avx512" if avx512 <= flags else "avx2"


def _capped(level, cap):
    return LEVELS[min(LEVELS.index(level), LEVELS.index(cap))]


def test_the_widest_path_the_cpu_has_is_chosen_unless_capped():
    native = _cpu_level() or instruction_set()
    # This process may itself run under a cap (the suite run with SKRNN_ISA).
    assert instruction_set() == _capped(native, os.environ.get("SKRNN_ISA", "avx512"))
    code = "from skrnn._kernels._dense import instruction_set; print(instruction_set())"
    for cap in LEVELS:
        assert _child(code, cap).strip() == _capped(native, cap)


def test_the_avx2_path_gives_bitwise_the_results_of_the_cpus_own():
    code = ("import json, warnings; warnings.simplefilter('ignore'); "
            "from test_isa_paths import _fingerprints; print(json.dumps(_fingerprints()))")
    own, avx2 = (json.loads(_child(code, level).strip().splitlines()[-1])
                 for level in ("avx512", "avx2"))
    assert avx2 == own


@pytest.mark.parametrize("level", ["avx2", "baseline"])
def test_the_numerical_tests_pass_on_each_path(level):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PATH_TESTS],
        env=dict(os.environ, SKRNN_ISA=level), cwd=TESTS, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
