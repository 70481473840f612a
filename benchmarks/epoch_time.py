"""Seconds per Fashion-MNIST epoch of the source paper's network for csr, masked and sparselab.

Usage::

    python benchmarks/epoch_time.py                # full 60k-sample epochs, best of 3
    python benchmarks/epoch_time.py --quick        # 15% of an epoch, best of 3 (about a minute)
    python benchmarks/epoch_time.py --epochs-fraction 0.25 --repeats 5 --threads 2

Network: 784-1000-1000-1000-10, three 1%-dense Erdős–Rényi hidden layers and a dense readout,
ReLU, batch 128, plain SGD (lr 0.01), cross-entropy. Each implementation is timed by the same
loop (``benchmarks/_common.py:time_steps``) in the same process; repetitions are interleaved
(csr, masked, sparselab, csr, masked, ...) so machine load hits all of them alike, and the best
repetition counts. Seconds per epoch = seconds per step x ceil(60000 / batch).

Targets: csr <= 1.0 x sparselab and masked >= 5 x csr; target csr <= 0.5 x
sparselab. The script prints a table, the ratios and PASS/FAIL for each.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import build_model, load_fashion_mnist, machine_info, sparselab_available, time_steps  # noqa: E402

SIZES = [784, 1000, 1000, 1000, 10]
DENSITY = 0.01
N_TRAIN = 60_000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs-fraction", type=float, default=1.0, help="part of a 60k-sample epoch to time per repetition")
    parser.add_argument("--quick", action="store_true", help="shortcut for --epochs-fraction 0.15")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the best one counts")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--kinds", default="csr,masked,sparselab", help="comma-separated subset of csr,masked,sparselab")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    fraction = 0.15 if args.quick else args.epochs_fraction
    steps_per_epoch = math.ceil(N_TRAIN / args.batch_size)
    n_steps = max(1, round(fraction * steps_per_epoch))

    kinds = [k for k in args.kinds.split(",") if k]
    if "sparselab" in kinds and not sparselab_available():
        print("sparselab not installed (pip install 'prunelab[bench]'); skipping it")
        kinds.remove("sparselab")
    print(machine_info())
    print(f"network {SIZES}, density {DENSITY}, batch {args.batch_size}, {n_steps} steps per repetition "
          f"({fraction:g} epoch), {args.repeats} interleaved repetitions")

    x, y = load_fashion_mnist()
    models = {kind: build_model(kind, SIZES, DENSITY, seed=0) for kind in kinds}
    for model in models.values():  # warm-up: JIT/cache load, allocator, thread pools
        time_steps(model, x, y, n_steps=10, batch_size=args.batch_size)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu_times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for rep in range(args.repeats):
        for kind in kinds:
            wall, cpu = time_steps(models[kind], x, y, n_steps, args.batch_size, seed=rep)
            times[kind].append(wall)
            cpu_times[kind].append(cpu)
        print(f"  repetition {rep + 1}: " + ", ".join(f"{k} {times[k][-1] * steps_per_epoch:.2f} s/epoch" for k in kinds))

    best = {kind: min(t) * steps_per_epoch for kind, t in times.items()}
    best_cpu = {kind: min(t) * steps_per_epoch for kind, t in cpu_times.items()}
    print()
    print("| implementation | s / epoch (best) | s / epoch (median) | CPU s / epoch (best) | relative to csr |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        med = sorted(times[kind])[len(times[kind]) // 2] * steps_per_epoch
        rel = best[kind] / best["csr"] if "csr" in best else float("nan")
        print(f"| {kind} | {best[kind]:.3f} | {med:.3f} | {best_cpu[kind]:.3f} | {rel:.2f} x |")
    print()
    result = {"best_seconds_per_epoch": best, "best_cpu_seconds_per_epoch": best_cpu,
              "all_seconds_per_step": times, "all_cpu_seconds_per_step": cpu_times, "n_steps": n_steps,
              "batch_size": args.batch_size, "threads": torch.get_num_threads(), "machine": machine_info()}
    if "csr" in best and "masked" in best:
        speedup = best["masked"] / best["csr"]
        result["masked_over_csr"] = speedup
        print(f"masked / csr    = {speedup:.2f}   (required >= 5)    {'PASS' if speedup >= 5 else 'FAIL'}")
    if "csr" in best and "sparselab" in best:
        ratio = best["csr"] / best["sparselab"]
        result["csr_over_sparselab"] = ratio
        print(f"csr / sparselab = {ratio:.2f}   (required <= 1.0, target <= 0.5)   "
              f"{'PASS' if ratio <= 1.0 else 'FAIL'}{' (target met)' if ratio <= 0.5 else ''}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
