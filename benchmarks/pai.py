"""Time pruning at initialisation on the 784-1000-1000-1000-10 MLP (every layer prunable).

Usage::

    python benchmarks/pai.py [--repeats 1] [--threads 2]

Prints wall-clock and CPU seconds of SynFlow with 100 rounds (exponential schedule to 1%
density, data-free) and of single-round SNIP and GraSP on the reference's scoring data (100
Fashion-MNIST training samples, one batch of 256 at most), with the ratio to the targets
(SynFlow <= 30 s, SNIP/GraSP <= 5 s on 2 cores). CPU time counts every thread; on a loaded
machine it is the steadier number, and the load average is printed with the machine line.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import load_fashion_mnist, machine_info

from prunelab.pai import prune, scoring_batches
from prunelab.pruning import make_fc

TARGETS = {"synflow": 30.0, "snip": 5.0, "grasp": 5.0}


def time_method(method: str, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of one ``prune`` call, model construction excluded."""
    x, y = load_fashion_mnist()
    batches = scoring_batches(x, y, np.random.default_rng(0))
    walls, cpus = [], []
    for seed in range(repeats):
        model = make_fc(784, 10, 1000, depth=4, seed=seed)
        start, start_cpu = time.perf_counter(), time.process_time()
        masks = prune(model, method, 0.01, None if method == "synflow" else batches, seed=seed)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        kept = sum(int(m.sum()) for m in masks.values())
        assert kept <= 0.01 * sum(m.size for m in masks.values()) + 1
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_info())
    print(
        f"{'method':<8} {'rounds':>6} {'wall s':>8} {'cpu s':>8} {'target s':>9} {'wall/target':>12}"
    )
    for method in ("synflow", "snip", "grasp"):
        wall, cpu = time_method(method, args.repeats)
        rounds = 100 if method == "synflow" else 1
        print(
            f"{method:<8} {rounds:>6} {wall:>8.2f} {cpu:>8.2f} {TARGETS[method]:>9.0f} {wall / TARGETS[method]:>12.2f}"
        )


if __name__ == "__main__":
    main()
