"""``python -m skrnn``, the main job."""

import subprocess
import sys

from skrnn.__main__ import main


def test_main_job_reaches_target_accuracy(capsys):
    accuracy = main(["--seed", "0"])
    out = capsys.readouterr().out
    assert accuracy >= 0.95
    assert "Iteration 1, loss = " in out  # progress while it trains
    assert "held-out accuracy: " in out
    assert "trained " in out and " s (gradient clipped in " in out


def test_main_runs_as_a_module(tmp_path):
    # From a temporary directory: the README's own command, run from the
    # clone's root, is what .ci/run checks.
    result = subprocess.run(
        [sys.executable, "-m", "skrnn", "--max-iter", "2", "--quiet", "--hidden-size", "8"],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
    )
    assert "held-out accuracy: " in result.stdout
    assert "Iteration" not in result.stdout
