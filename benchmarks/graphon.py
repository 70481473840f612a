"""Time graphon estimation, the Graphon NTK and the empirical NTK at the sizes of the reproduction.

Usage::

    python benchmarks/graphon.py [--threads 2] [--skip-empirical] [--runs-dir runs]

Prints, in one run:

- ``estimate`` of a 2000 x 2000 mask at 10% density (median of 5; target <= 0.1 s);
- ``graphon_ntk`` for 1024 Fashion-MNIST inputs, K = 64, 4 hidden layers: wall and CPU seconds
  and the peak memory of its numpy arrays (tracemalloc; targets <= 60 s, <= 4 GB);
- ``empirical_ntk`` of a 784-1024x4-10 network, every layer randomly pruned to 50% (the
  costliest density: the link sums are min(links, missing links) long), on 1024 inputs
  (target <= 5 min);
- with ``--runs-dir``, the convergence study's default grid time (target <= 30 min) from the
  per-item seconds that a run of ``configs/pham2025_convergence.yaml`` recorded in that store:
  measured sums where items exist, and for missing widths an extrapolation proportional to the
  number of weights (stated as such).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from _common import load_fashion_mnist, machine_info

from prunelab.graphon import chain_graphons, empirical_ntk, estimate, graphon_ntk


def bench_estimate() -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``estimate`` on a 2000 x 2000 mask at 10% density."""
    mask = np.random.default_rng(0).random((2000, 2000)) < 0.1
    estimate(mask)  # warm-up
    walls, cpus = [], []
    for _ in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        estimate(mask)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def _network(width: int = 1024, hidden: int = 4, density: float = 0.5):
    from prunelab.nn import SparseMLP
    from prunelab.pai import apply_masks, prune

    model = SparseMLP(
        [784] + [width] * hidden + [10],
        density=1.0,
        seed=0,
        backend="masked",
        sparse_readout=True,
        bias=False,
    )
    apply_masks(model, prune(model, "random", density, seed=0))
    return model


def bench_graphon_ntk(x: np.ndarray, masks: list[np.ndarray]) -> tuple[float, float, float]:
    graphons = chain_graphons(masks, 64)
    tracemalloc.start()
    start, start_cpu = time.perf_counter(), time.process_time()
    graphon_ntk(x, graphons)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return wall, cpu, peak / 2**30


def bench_empirical(model, x: np.ndarray) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    empirical_ntk(model, x, output=0, parametrization="ntk")
    return time.perf_counter() - start, time.process_time() - start_cpu


def grid_minutes(runs_dir: str) -> None:
    """Default-grid time of the convergence study from stored per-item seconds."""
    from prunelab.experiments import Store
    from prunelab.studies import load_study
    from prunelab.studies.base import Item

    study = load_study(
        Path(__file__).resolve().parents[1] / "configs" / "pham2025_convergence.yaml"
    )
    store = Store(runs_dir)
    per = {}
    for m in study.methods:
        for w in study.widths:
            secs = [
                store.get_run(Item.of("", study.item_content(m, w, t)).run_id)
                for t in range(study.trials)
            ]
            secs = [
                r["seconds"]
                for r in secs
                if r and r.get("status") == "finished" and r.get("seconds")
            ]
            per[(m, w)] = statistics.median(secs) if secs else None
    total, notes = 0.0, []
    for m in study.methods:
        known = {w: s for (mm, w), s in per.items() if mm == m and s is not None}
        for w in study.widths:
            s = per[(m, w)]
            if s is None and known:
                ref = max(known)
                s = (
                    known[ref]
                    * (784 * w + 2 * w * w + 10 * w)
                    / (784 * ref + 2 * ref * ref + 10 * ref)
                )
                notes.append(f"{m}@{w} extrapolated from {ref}")
            total += (s or 0.0) * study.trials
    print(
        f"convergence default grid ({len(study.methods)} methods x {len(study.widths)} widths x {study.trials} trials, "
        f"serial): {total / 60:.1f} min (target 30 min, ratio {total / 1800:.2f})"
        + (f"; {'; '.join(notes)}" if notes else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--skip-empirical", action="store_true")
    ap.add_argument("--runs-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_info())
    t, c = bench_estimate()
    print(
        f"estimate 2000x2000, k=64: {t:.3f} s wall, {c:.3f} s CPU (target 0.1 s, ratio {t / 0.1:.2f} wall, "
        f"{c / 0.1:.2f} CPU)"
    )
    xs, _ = load_fashion_mnist()
    x = xs[:1024].numpy().astype(np.float64)
    model = _network()
    masks = [layer.mask().numpy() for _, layer in model.named_sparse_layers()]
    wall, cpu, peak = bench_graphon_ntk(x, masks)
    print(
        f"graphon_ntk 1024 samples, K=64, 4 hidden: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:.2f} GB "
        f"(targets 60 s, 4 GB; ratio {wall / 60:.2f})"
    )
    if not args.skip_empirical:
        wall, cpu = bench_empirical(model, x.astype(np.float32))
        print(
            f"empirical_ntk 784-1024x4-10 at 50% density, 1024 samples: {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"(target 300 s, ratio {wall / 300:.2f})"
        )
    if args.runs_dir:
        grid_minutes(args.runs_dir)


if __name__ == "__main__":
    main()
