"""Benchmark: a 50-point robustness curve of a 784-1000^3-10 sparse MLP on the Fashion-MNIST test set.

Target: <= 5 s with the csr backend on the 2-core reference machine. Compares
:func:`prunelab.perturb.robustness_curve` (an :class:`prunelab.nn.inference.InferencePlan`:
batch-contiguous activations, fused bias + ReLU, removed links skipped; one removal order per
draw, batches of 512), the same function with ``compiled=False`` (a working copy of the model
evaluated with ``model(x)``, removed links set to weight 0) and a naive loop that, for every point,
copies the model, draws a fresh removal, rebuilds the layers with ``update_topology`` and
evaluates in batches of 1 000 under ``no_grad``. The naive loop is timed on ``--naive-points``
points and extrapolated to the full curve.

Usage::

    .venv/bin/python benchmarks/robustness_curve.py [--kind random_pruning] [--points 50]
        [--backend csr masked] [--naive-points 5]

The network is untrained (Kaiming init, 1% density): evaluation cost does not depend on the
weights' values.
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch

from prunelab.nn import BACKENDS, SparseMLP
from prunelab.perturb import KINDS, evaluate, robustness_curve, select_layers


def load_test_set() -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST test images (10000, 784) float32 in [0, 1] and labels int64 (``load_dataset``)."""
    from prunelab.data import load_dataset

    ds = load_dataset("fashion-mnist")
    x = np.asarray(ds.x_test, dtype=np.float32).reshape(len(ds.x_test), -1)
    return x, np.asarray(ds.y_test, dtype=np.int64), "Fashion-MNIST test set"


def naive_point(
    model: SparseMLP, kind: str, strength: float, x: torch.Tensor, y: torch.Tensor, rng
) -> float:
    """One curve point the slow way: copy, rebuild the perturbed layers, evaluate in small batches."""
    work = copy.deepcopy(model)
    spec = KINDS[kind]
    for target in select_layers(work):
        values = target.values()
        perturbed = spec.prepare([values], rng)(strength).values[0]
        if spec.removes_links:
            target.module.update_topology(keep=torch.as_tensor((perturbed != 0) | (values == 0)))
        else:
            target.set_values(perturbed)
    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], 1000):
            correct += int(
                (work(x[start : start + 1000]).argmax(1) == y[start : start + 1000]).sum()
            )
    return correct / x.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="random_pruning", choices=list(KINDS))
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument(
        "--backend", nargs="+", default=[b for b in ("csr", "masked") if b in BACKENDS]
    )
    parser.add_argument("--naive-points", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x_np, y_np, source = load_test_set()
    print(f"data: {source}; {x_np.shape[0]} test images; kind {args.kind}; {args.points} points")
    high = 1.0 if math.isfinite(KINDS[args.kind].high) else 2.0
    strengths = np.linspace(0.0, high, args.points)
    x, y = torch.as_tensor(x_np), torch.as_tensor(y_np)
    for backend in args.backend:
        if backend not in BACKENDS:
            print(f"{backend}: not available (registered: {', '.join(sorted(BACKENDS))})")
            continue
        model = SparseMLP([784, 1000, 1000, 1000, 10], density=0.01, seed=0, backend=backend).eval()
        evaluate(model, x[:1000], y[:1000])  # warm-up (kernel compilation, allocator)
        start = time.perf_counter()
        table = robustness_curve(model, (x_np, y_np), args.kind, strengths, n_draws=1, seed=0)
        fast = time.perf_counter() - start
        start = time.perf_counter()
        robustness_curve(
            model, (x_np, y_np), args.kind, strengths, n_draws=1, seed=0, compiled=False
        )
        uncompiled = time.perf_counter() - start

        rng = np.random.default_rng(0)
        chosen = strengths[np.linspace(1, len(strengths) - 1, args.naive_points).astype(int)]
        start = time.perf_counter()
        for s in chosen:
            naive_point(model, args.kind, float(s), x, y, rng)
        naive = (time.perf_counter() - start) / len(chosen) * len(strengths)
        print(
            f"{backend:>6}: robustness_curve {fast:7.2f} s for {len(table)} points "
            f"({fast / len(table) * 1000:.0f} ms/point); compiled=False {uncompiled:6.2f} s (x{uncompiled / fast:.1f}); naive loop {naive:7.2f} s (extrapolated from "
            f"{len(chosen)} points); speed-up x{naive / fast:.1f}; target <= 5 s: {'met' if fast <= 5 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
