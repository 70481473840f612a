"""Seconds per Fashion-MNIST epoch of the source paper's network for csr, masked and sparselab.

Usage::

    python benchmarks/epoch_time.py                # full 60k-sample epochs, 3 repetitions
    python benchmarks/epoch_time.py --quick        # 15% of an epoch per repetition
    python benchmarks/epoch_time.py --epochs-fraction 0.25 --repeats 5 --threads 2

Network: 784-1000-1000-1000-10, three 1%-dense Erdős–Rényi hidden layers and a dense readout,
ReLU, batch 128, plain SGD (lr 0.01), cross-entropy. Each implementation is timed by the same
loop (``benchmarks/_common.py:time_steps``) in the same process; repetitions are interleaved
(csr, masked, sparselab, csr at 0.1%, csr, masked, ...) so machine load hits all of them alike.
Ratios are taken within each repetition and the median over repetitions counts (the best
repetition is printed too). Seconds per epoch = seconds per step x ceil(60000 / batch).

Also measured: the fixed cost of a csr step (the same network at 0.1% density, where the link
arithmetic is a tenth of that at 1%), and, in fresh processes, the first training step against
later ones, once with the numba cache as ``make setup`` leaves it and once with an empty cache
(what a first run pays without ``make setup``), and the first CH3-L3 topology update.

Targets: csr <= 0.6 x sparselab (aim 0.5), masked >= 6 x csr, fixed cost at 0.1%
<= 1.5 ms per step. The last line is a one-line verdict.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    benchmark_model,
    fastest_step,
    load_fashion_mnist,
    machine_info,
    sparselab_available,
    time_steps,
)

SIZES = [784, 1000, 1000, 1000, 10]
DENSITY = 0.01
FIXED_COST_DENSITY = 0.001
N_TRAIN = 60_000


FIRST_CALL_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, torch
sys.path.insert(0, {bench_dir!r})
from _common import benchmark_model, load_fashion_mnist
from prunelab.dst import DSTConfig, update_topology
x, y = load_fashion_mnist()
model = benchmark_model("csr", {sizes!r}, {density!r})
opt = torch.optim.SGD(model.parameters(), lr=0.01)  # its first construction imports torch._dynamo
ready = time.perf_counter() - t0
steps = []
for s in range(12):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x[s * 128:(s + 1) * 128]), y[s * 128:(s + 1) * 128]).backward()
    opt.step()
    steps.append(time.perf_counter() - t)
updates = []
for s in range(2):
    t = time.perf_counter()
    update_topology(model, DSTConfig(regrowth="ch3l3", chain_removal=True), np.random.default_rng(s))
    updates.append(time.perf_counter() - t)
print(json.dumps({{"ready": ready, "first_step": steps[0], "later_step": float(np.median(steps[2:])),
                  "first_ch3l3": updates[0], "later_ch3l3": updates[1]}}))
"""


def first_calls(cold: bool, threads: int) -> dict[str, float]:
    """Seconds of the first and later csr steps / CH3-L3 updates in a fresh process.

    ``cold``: with an empty temporary ``NUMBA_CACHE_DIR``, so every kernel compiles; otherwise
    with the cache in place (as ``make setup`` / ``python -m prunelab.cli.warm`` leaves it).
    """
    script = FIRST_CALL_SCRIPT.format(
        bench_dir=str(Path(__file__).resolve().parent), sizes=SIZES, density=DENSITY
    )
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=1800
        )
    if proc.returncode != 0:
        raise RuntimeError(f"first-call measurement failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--epochs-fraction",
        type=float,
        default=1.0,
        help="part of a 60k-sample epoch to time per repetition",
    )
    parser.add_argument("--quick", action="store_true", help="shortcut for --epochs-fraction 0.15")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved repetitions; ratios are their medians"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    parser.add_argument(
        "--kinds",
        default="csr,masked,sparselab",
        help="comma-separated subset of csr,masked,sparselab",
    )
    parser.add_argument(
        "--no-first-call", action="store_true", help="skip the fresh-process first-call measurement"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results to this JSON file"
    )
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
    fixed = "csr@0.1%"
    if "csr" in kinds:
        kinds.append(fixed)
    print(machine_info())
    print(
        f"network {SIZES}, density {DENSITY}, batch {args.batch_size}, {n_steps} steps per repetition "
        f"({fraction:g} epoch), {args.repeats} interleaved repetitions"
    )

    x, y = load_fashion_mnist()
    models = {
        kind: benchmark_model("csr", SIZES, FIXED_COST_DENSITY, seed=0)
        if kind == fixed
        else benchmark_model(kind, SIZES, DENSITY, seed=0)
        for kind in kinds
    }
    for model in models.values():  # warm-up: JIT/cache load, allocator, thread pools
        time_steps(model, x, y, n_steps=10, batch_size=args.batch_size)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu_times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for rep in range(args.repeats):
        for kind in kinds:
            wall, cpu = time_steps(models[kind], x, y, n_steps, args.batch_size, seed=rep)
            times[kind].append(wall)
            cpu_times[kind].append(cpu)
        print(
            f"  repetition {rep + 1} (load {os.getloadavg()[0]:.1f}): "
            + ", ".join(f"{k} {times[k][-1] * steps_per_epoch:.2f} s/epoch" for k in kinds)
        )

    best = {kind: min(t) * steps_per_epoch for kind, t in times.items()}
    med = {kind: median(t) * steps_per_epoch for kind, t in times.items()}
    best_cpu = {kind: min(t) * steps_per_epoch for kind, t in cpu_times.items()}
    print()
    print(
        "| implementation | s / epoch (median) | s / epoch (best) | CPU s / epoch (best) | relative to csr (median of paired ratios) |"
    )
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        rel = (
            median([a / b for a, b in zip(times[kind], times["csr"])])
            if "csr" in times
            else float("nan")
        )
        print(
            f"| {kind} | {med[kind]:.3f} | {best[kind]:.3f} | {best_cpu[kind]:.3f} | {rel:.2f} x |"
        )
    print()
    result = {
        "median_seconds_per_epoch": med,
        "best_seconds_per_epoch": best,
        "best_cpu_seconds_per_epoch": best_cpu,
        "all_seconds_per_step": times,
        "all_cpu_seconds_per_step": cpu_times,
        "n_steps": n_steps,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "machine": machine_info(),
    }
    verdict = []
    if "csr" in times and "masked" in times:
        speedup = median([m / c for m, c in zip(times["masked"], times["csr"])])
        result["masked_over_csr"] = speedup
        ok = speedup >= 6
        print(f"masked / csr    = {speedup:.2f}   (target >= 6)    {'PASS' if ok else 'FAIL'}")
        verdict.append(f"masked/csr {speedup:.2f} (>= 6 {'PASS' if ok else 'FAIL'})")
    if "csr" in times and "sparselab" in times:
        ratio = median([c / s for c, s in zip(times["csr"], times["sparselab"])])
        result["csr_over_sparselab"] = ratio
        ok = ratio <= 0.6
        print(
            f"csr / sparselab = {ratio:.2f}   (target <= 0.6, aim 0.5)   {'PASS' if ok else 'FAIL'}{' (aim met)' if ratio <= 0.5 else ''}"
        )
        verdict.append(
            f"csr/sparselab {ratio:.2f} (<= 0.6 {'PASS' if ok else 'FAIL'}{', aim 0.5 met' if ratio <= 0.5 else ''})"
        )
    if fixed in times:
        step_ms = median(times[fixed]) * 1e3
        fastest = {
            k: fastest_step(models[k], x, y, 200, args.batch_size) * 1e3
            for k in kinds
            if k != "masked"
        }
        result["fixed_cost_ms_per_step"] = step_ms
        result["fastest_step_ms"] = fastest
        ok = step_ms <= 1.5
        print(
            f"fixed cost      = {step_ms:.2f} ms per step at 0.1% density (median)   (target <= 1.5 ms)   {'PASS' if ok else 'FAIL'}"
        )
        print(
            "fastest of 200 single steps (ms; what an undisturbed step costs): "
            + ", ".join(f"{k} {v:.2f}" for k, v in fastest.items())
        )
        verdict.append(
            f"fixed cost {step_ms:.2f} ms/step at 0.1% (<= 1.5 {'PASS' if ok else 'FAIL'}; "
            f"fastest step {fastest[fixed]:.2f} ms)"
        )
    if not args.no_first_call and "csr" in times:
        threads = torch.get_num_threads()
        warm, cold = first_calls(False, threads), first_calls(True, threads)
        result["first_calls"] = {"cache": warm, "empty_cache": cold}
        print()
        print(
            "| fresh process | import + data + model (s) | first step (s) | later steps (ms) | first CH3-L3 update (s) | later (s) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for label, r in (("numba cache in place (make setup)", warm), ("empty numba cache", cold)):
            print(
                f"| {label} | {r['ready']:.2f} | {r['first_step']:.2f} | {r['later_step'] * 1e3:.1f} | "
                f"{r['first_ch3l3']:.2f} | {r['later_ch3l3']:.3f} |"
            )
        verdict.append(
            f"first step {warm['first_step']:.2f} s with the cache ({cold['first_step']:.1f} s without) vs "
            f"{warm['later_step'] * 1e3:.1f} ms later"
        )
    load = os.getloadavg()[0]
    line = "VERDICT: " + "; ".join(verdict) + f"; load average {load:.1f} on {os.cpu_count()} cores"
    print()
    print(line)
    result["verdict"] = line
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
