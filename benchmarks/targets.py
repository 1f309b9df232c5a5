"""Which of the performance targets a run of ``bench_vs_torch.py`` meets.

Reads the JSON of ``bench_vs_torch.py --json`` (with ``--memory`` for the
memory target) and prints, as a markdown table, every target of the
standard workload with the configurations that meet it and those that miss
it, each with its figure:

* at 2 threads, skrnn / PyTorch: hidden 32 >= 4x training and >= 3x
  prediction; hidden 128 >= 2x both; hidden 256 >= 1.3x both;
* hidden 256 training (2 threads) >= 70% of numpy.matmul's GFLOP/s;
* at 1 thread, never slower than PyTorch;
* 2 threads >= 1.6x 1 thread (skrnn) at hidden 128 and 256;
* the peak memory of a fit no more than PyTorch's.

or, from ``small_calls.py --json``, the small calls' targets: predicting
one sequence >= 3x PyTorch, a partial_fit on 16 sequences >= 2x, for
every cell, dtype and thread count of the run.

    python benchmarks/targets.py after.json
    python benchmarks/targets.py small.json
"""

import argparse
import json
from collections import defaultdict

# (hidden, phase) -> the least ratio skrnn / torch at 2 threads.
RATIO_TARGETS = {
    (32, "train"): 4.0, (32, "predict"): 3.0,
    (128, "train"): 2.0, (128, "predict"): 2.0,
    (256, "train"): 1.3, (256, "predict"): 1.3,
}
MATMUL_SHARE_TARGET = 70.0  # percent, hidden 256 training at 2 threads
# small_calls.py's call -> the least ratio PyTorch time / skrnn time.
SMALL_CALL_TARGETS = {"predict-one": 3.0, "partial-fit-16": 2.0}
THREAD_SCALING_TARGET = 1.6
SCALING_HIDDEN = (128, 256)


def _name(record, phase=True):
    parts = [record["cell"], record["dtype"]]
    if "hidden" in record:
        parts.append(f"h{record['hidden']}")
    if phase and "phase" in record:
        parts.append(record["phase"])
    return " ".join(parts)


def evaluate(run):
    """Every target's verdicts.

    Returns
    -------
    verdicts : dict
        Target description -> ``(met, missed)``, two lists of
        ``(configuration, figure)``. A configuration without the figures a
        target needs (no torch, or no thread count to compare) is left out.
    """
    results = run["results"]
    verdicts = defaultdict(lambda: ([], []))

    def judge(target, passed, name, figure):
        verdicts[target][0 if passed else 1].append((name, figure))

    if run.get("kind") == "small_calls":
        for r in results:
            least = SMALL_CALL_TARGETS.get(r["call"])
            if least is not None and r.get("ratio") is not None:
                judge(f"{r['call']}: >= {least:g}x PyTorch", r["ratio"] >= least,
                      f"{r['cell']} {r['dtype']} {r['threads']}T", f"{r['ratio']:.2f}")
        return dict(verdicts)

    for r in results:
        if r["threads"] == 2 and r.get("ratio") is not None:
            least = RATIO_TARGETS.get((r["hidden"], r["phase"]))
            if least is not None:
                target = f"hidden {r['hidden']} {r['phase']}: >= {least:g}x PyTorch (2 threads)"
                judge(target, r["ratio"] >= least, _name(r), f"{r['ratio']:.2f}")
        if r["threads"] == 1 and r.get("ratio") is not None:
            judge("1 thread: never slower than PyTorch", r["ratio"] >= 1.0,
                  _name(r), f"{r['ratio']:.2f}")
        if (r["threads"] == 2 and r["hidden"] == 256 and r["phase"] == "train"
                and r.get("skrnn_percent_of_matmul") is not None):
            share = r["skrnn_percent_of_matmul"]
            judge(f"hidden 256 training: >= {MATMUL_SHARE_TARGET:g}% of numpy.matmul",
                  share >= MATMUL_SHARE_TARGET, _name(r), f"{share:.0f}%")

    by_threads = {(r["cell"], r["dtype"], r["hidden"], r["phase"], r["threads"]): r
                  for r in results}
    for (cell, dtype, hidden, phase, threads), r in by_threads.items():
        one = by_threads.get((cell, dtype, hidden, phase, 1))
        if threads != 2 or hidden not in SCALING_HIDDEN or one is None:
            continue
        speedup = r["skrnn_seq_per_s"] / one["skrnn_seq_per_s"]
        judge(f"2 threads >= {THREAD_SCALING_TARGET:g}x 1 thread (hidden 128, 256)",
              speedup >= THREAD_SCALING_TARGET, _name(r), f"{speedup:.2f}")

    for m in run.get("memory") or []:
        if m.get("torch_mib"):
            share = m["skrnn_mib"] / m["torch_mib"]
            judge("peak memory of a fit <= PyTorch's", share <= 1.0,
                  _name(m, phase=False), f"{share:.2f}")
    return dict(verdicts)


def format_verdicts(verdicts):
    """The verdicts as a markdown table: target, met, not met."""
    def cell(entries):
        return ", ".join(f"{name} ({figure})" for name, figure in entries) or "-"

    lines = ["| target | met | not met |", "|:--|:--|:--|"]
    for target, (met, missed) in verdicts.items():
        lines.append(f"| {target} | {len(met)} of {len(met) + len(missed)} | {cell(missed)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="JSON file written by bench_vs_torch.py --json "
                                    "or small_calls.py --json")
    args = parser.parse_args(argv)
    with open(args.run) as f:
        run = json.load(f)
    print(format_verdicts(evaluate(run)))


if __name__ == "__main__":
    main()
