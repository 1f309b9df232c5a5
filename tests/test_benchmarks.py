"""The benchmark script runs, counts flops as documented, and writes its JSON."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks")
sys.path.insert(0, BENCHMARKS)
# Without torch the benchmark times skrnn alone, so these tests need only the
# test extra.
import bench_vs_torch  # noqa: E402


@pytest.mark.parametrize("cell, n_gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_flops_count_the_multiply_adds_of_every_product(cell, n_gates):
    F, H, T, K = 16, 8, 5, 3
    GH = n_gates * H
    forward = T * (F * GH + H * GH) + H * K  # X W_ih, h W_hh; output layer
    backward = T * (F * GH + H * GH + H * GH) + 2 * H * K  # dW_ih, dW_hh, dh; dW_y, dh_T
    assert bench_vs_torch.flops_per_sequence(cell, F, H, T, K, "predict") == 2 * forward
    assert bench_vs_torch.flops_per_sequence(cell, F, H, T, K, "train") == 2 * (
        forward + backward)


def test_quick_run_prints_the_table_and_writes_the_json(tmp_path):
    path = tmp_path / "run.json"
    command = [sys.executable, os.path.join(BENCHMARKS, "bench_vs_torch.py"), "--quick",
               "--cells", "gru", "--dtypes", "float32", "--threads", "1",
               "--n-samples", "64", "--steps", "4", "--json", str(path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "| gru  | float32 |" in out
    run = json.loads(path.read_text())
    assert [(r["phase"], r["hidden"]) for r in run["results"]] == [
        ("train", 32), ("predict", 32)]
    for record in run["results"]:
        assert record["skrnn_seq_per_s"] > 0
        assert record["skrnn_gflops"] == pytest.approx(
            record["skrnn_seq_per_s"] * record["flops_per_sequence"] / 1e9)
        assert 0 < record["skrnn_percent_of_matmul"] == pytest.approx(
            100 * record["skrnn_gflops"] / record["matmul_gflops"])
    assert {(m["dtype"], m["threads"]) for m in run["matmul_gflops"]} == {("float32", 1)}


def test_small_calls_run_prints_the_table_and_writes_the_json(tmp_path):
    path = tmp_path / "small.json"
    command = [sys.executable, os.path.join(BENCHMARKS, "small_calls.py"), "--cells", "lstm",
               "--dtypes", "float64", "--seconds", "0.01", "--repeats", "1",
               "--json", str(path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "| lstm | float64 | 1 | predict-one |" in out
    run = json.loads(path.read_text())
    assert run["kind"] == "small_calls"
    assert [r["call"] for r in run["results"]] == ["predict-one", "partial-fit-16"]
    assert all(r["skrnn_us"] > 0 for r in run["results"])


def test_gemm_candidates_agree_with_skrnn_and_write_the_json(tmp_path):
    import gemm_candidates

    path = tmp_path / "gemm.json"
    command = [sys.executable, os.path.join(BENCHMARKS, "gemm_candidates.py"),
               "--products", "fwd-step h32", "--json", str(path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "fwd-step h32       float32" in out
    run = json.loads(path.read_text())
    assert run["kind"] == "gemm_candidates"
    libraries = {r["library"] for r in run["rows"]}
    expected = {"skrnn"} | ({"openblas"} if gemm_candidates.openblas_path() else set())
    assert expected <= libraries
    k = gemm_candidates.SHAPES["fwd-step h32"][2]
    for row in run["rows"]:
        assert row["product"] == "fwd-step h32" and row["microseconds"] > 0
        # A sum of k products of values in [-0.5, 0.5), in another order:
        # each partial sum may round once, by half an ulp of the largest.
        bound = k * np.finfo(row["dtype"]).eps
        assert row["relative_difference"] <= bound, row


def _record(cell, hidden, phase, threads, ratio, seq_per_s=1000.0, percent=60.0):
    return dict(cell=cell, dtype="float32", hidden=hidden, phase=phase, threads=threads,
                ratio=ratio, skrnn_seq_per_s=seq_per_s, skrnn_percent_of_matmul=percent)


def test_targets_sort_each_configuration_into_met_or_missed():
    import targets
    run = {
        "results": [
            _record("lstm", 32, "train", 2, ratio=4.2, seq_per_s=3200.0),
            _record("gru", 32, "train", 2, ratio=3.9),
            _record("lstm", 128, "predict", 1, ratio=0.95, seq_per_s=1000.0),
            _record("lstm", 128, "predict", 2, ratio=2.5, seq_per_s=1500.0),
            _record("rnn", 256, "train", 2, ratio=1.5, percent=69.0),
        ],
        "memory": [dict(cell="rnn", dtype="float32", hidden=32, skrnn_mib=5.0, torch_mib=4.0)],
    }
    verdicts = targets.evaluate(run)
    assert verdicts["hidden 32 train: >= 4x PyTorch (2 threads)"] == (
        [("lstm float32 h32 train", "4.20")], [("gru float32 h32 train", "3.90")])
    assert verdicts["1 thread: never slower than PyTorch"] == (
        [], [("lstm float32 h128 predict", "0.95")])
    # 1500 / 1000 sequences per second: 2 threads are only 1.5x one.
    assert verdicts["2 threads >= 1.6x 1 thread (hidden 128, 256)"] == (
        [], [("lstm float32 h128 predict", "1.50")])
    assert verdicts["hidden 256 training: >= 70% of numpy.matmul"] == (
        [], [("rnn float32 h256 train", "69%")])
    assert verdicts["peak memory of a fit <= PyTorch's"] == ([], [("rnn float32 h32", "1.25")])
    table = targets.format_verdicts(verdicts)
    assert "| hidden 32 train: >= 4x PyTorch (2 threads) | 1 of 2 | gru float32 h32 train (3.90) |" in table


def test_targets_judge_the_small_calls():
    import targets
    run = {"kind": "small_calls", "results": [
        dict(cell="lstm", dtype="float32", threads=1, call="predict-one", ratio=2.9),
        dict(cell="gru", dtype="float64", threads=2, call="predict-one", ratio=3.0),
        dict(cell="rnn", dtype="float32", threads=1, call="partial-fit-16", ratio=2.1),
        dict(cell="rnn", dtype="float32", threads=1, call="partial-fit-16", ratio=None),
    ]}
    assert targets.evaluate(run) == {
        "predict-one: >= 3x PyTorch": ([("gru float64 2T", "3.00")],
                                       [("lstm float32 1T", "2.90")]),
        "partial-fit-16: >= 2x PyTorch": ([("rnn float32 1T", "2.10")], []),
    }


def test_shared_machine_table_gives_medians_and_ratios():
    import shared_machine

    times = {("main job", load, n): [3.0, 1.0, 2.0] if n == 1 else [1.5, 0.5, 1.0]
             for load in ("quiet", "busy") for n in (1, 2)}
    table = shared_machine.format_table(times, ["main job"])
    assert "| main job | alone | 2.00 | 1.00 | 0.50 |" in table
    assert "| main job | 1 busy process | 2.00 | 1.00 | 0.50 |" in table
    assert shared_machine.cpu_description().count(",") == 2
