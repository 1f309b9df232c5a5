"""Two runs of ``bench_vs_torch.py --json``, side by side: before and after.

For every configuration present in both files it prints, as a markdown
table, skrnn's speed ratio to PyTorch before and after, skrnn's sequences
per second before and after, and skrnn's GFLOP/s before and after as a share
of numpy.matmul's (measured by the "after" run; the flops of the "before"
run are counted the same way if it did not store them).

    python benchmarks/compare.py before.json after.json
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vs_torch import flops_per_sequence  # noqa: E402

KEY = ("cell", "dtype", "threads", "hidden", "phase")


def load(path):
    with open(path) as f:
        run = json.load(f)
    return run, {tuple(r[k] for k in KEY): r for r in run["results"]}


def gflops(record, env):
    """skrnn's GFLOP/s of a record, computed if the run did not store it."""
    if "skrnn_gflops" in record:
        return record["skrnn_gflops"]
    flops = flops_per_sequence(record["cell"], env["features"], record["hidden"],
                               env["steps"], env["n_classes"], record["phase"])
    return record["skrnn_seq_per_s"] * flops / 1e9


def ratio(value):
    return "n/a" if value is None else f"{value:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args(argv)
    before_run, before = load(args.before)
    after_run, after = load(args.after)
    matmul = after_run.get("matmul_gflops", [])
    peak = {(m["dtype"], m["threads"]): m["gflops"] for m in matmul}
    print("| cell | dtype | thr | hidden | phase | ratio before | ratio after "
          "| skrnn seq/s before | after | GFLOP/s before | after | % matmul before | after |")
    print("|:--|:--|--:|--:|:--|--:|--:|--:|--:|--:|--:|--:|--:|")
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            continue
        old_gflops = gflops(old, before_run["environment"])
        new_gflops = gflops(new, after_run["environment"])
        limit = peak.get((new["dtype"], new["threads"]))
        shares = ["n/a", "n/a"] if limit is None else [
            f"{100 * g / limit:.0f}%" for g in (old_gflops, new_gflops)]
        print(f"| {' | '.join(str(k) for k in key)} | {ratio(old['ratio'])} | "
              f"{ratio(new['ratio'])} | {old['skrnn_seq_per_s']:,.0f} | "
              f"{new['skrnn_seq_per_s']:,.0f} | {old_gflops:.1f} | {new_gflops:.1f} | "
              f"{shares[0]} | {shares[1]} |")
    if matmul:
        print()
        print("numpy.matmul (2048 x 2048): " + ", ".join(
            f"{m['dtype']} {m['threads']} thread(s) {m['gflops']:.1f} GFLOP/s" for m in matmul))


if __name__ == "__main__":
    main()
