"""Benchmark: PGD-10 (L∞) on the 10 000 Fashion-MNIST test images for a 784-1000^3-10 network at 1%.

Target: <= 60 s with the csr backend on the 2-core reference machine. Times
:func:`prunelab.perturb.attack` (ten projected gradient steps from a random start, batches of
512, weight gradients off so the csr kernels compute the input gradient only) on the csr
backend and on the masked backend (dense weight times mask) in the same run, for the same
topology and weights, and prints both times, their ratio and the attacked accuracy of each
(equal up to float rounding: the two backends give the same input gradients).

Usage::

    .venv/bin/python benchmarks/adversarial.py [--images 10000] [--steps 10] [--eps 0.1]
        [--engine auto] [--masked-images 10000]

``--masked-images`` attacks fewer images on the masked backend and scales its time to
``--images`` (the cost is linear in the number of images) when the dense reference is too slow
for the machine at hand; the ratio line says so. The network is untrained (the weights do not
change the cost); accuracy is printed only to show both backends attacked the same network.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from prunelab.nn import SparseMLP
from prunelab.perturb import AttackSettings, attack


def load_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST test images float32 (10000, 784) in [0, 1] and labels int64 (10000,)."""
    from prunelab.data import load_dataset

    ds = load_dataset("fashion-mnist")
    return torch.from_numpy(np.asarray(ds.x_test, dtype=np.float32)), torch.from_numpy(
        np.asarray(ds.y_test)
    )


def timed_attack(
    model, x, y, eps: float, settings: AttackSettings, engine: str
) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, accuracy on the adversarial inputs) of one attack.

    The CPU time is printed beside the wall time because the machines this runs on are shared:
    on a loaded machine the wall time grows with the other jobs, the CPU time does not.
    """
    started, cpu = time.perf_counter(), time.process_time()
    adv = attack(model, x, y, eps, settings, seed=0, engine=engine)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    with torch.no_grad():
        accuracy = float((model(adv).argmax(1) == y).float().mean())
    return seconds, cpu_seconds, accuracy


def main() -> None:
    """Time PGD on both backends and print the times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument(
        "--masked-images",
        type=int,
        default=None,
        help="images for the masked reference (default --images)",
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--eps", type=float, default=0.1, help="L∞ radius in pixel units of [0, 1] inputs"
    )
    parser.add_argument("--engine", default="auto", choices=["auto", "torchattacks", "prunelab"])
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    x_all, y_all = load_test_set()
    x, y = x_all[: args.images], y_all[: args.images]
    settings = AttackSettings(norm="linf", steps=args.steps, random_start=True)
    sizes = [784, 1000, 1000, 1000, 10]
    print(
        f"PGD-{args.steps} L∞ ε={args.eps} on {len(x)} Fashion-MNIST test images, network {'-'.join(map(str, sizes))} "
        f"at 1% density (dense readout), engine {args.engine}; {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f}"
    )
    csr = SparseMLP(sizes, density=0.01, seed=0, backend="csr")
    masked = SparseMLP(sizes, density=0.01, seed=0, backend="masked")
    attack(
        csr, x[:64], y[:64], args.eps, settings, engine=args.engine
    )  # compile the numba kernels outside the timing
    t_csr, cpu_csr, acc_csr = timed_attack(csr, x, y, args.eps, settings, args.engine)
    n_masked = args.masked_images or args.images
    t_masked, cpu_masked, acc_masked = timed_attack(
        masked, x[:n_masked], y[:n_masked], args.eps, settings, args.engine
    )
    scaled = t_masked * len(x) / n_masked
    print(
        f"csr    : {t_csr:7.2f} s wall, {cpu_csr:7.2f} s CPU  ({len(x)} images, attacked accuracy {acc_csr:.4f})  "
        f"target <= 60 s: {'met' if t_csr <= 60 else 'NOT met'}"
    )
    print(
        f"masked : {t_masked:7.2f} s wall, {cpu_masked:7.2f} s CPU  ({n_masked} images, attacked accuracy {acc_masked:.4f})"
        + (f" -> {scaled:.2f} s for {len(x)} images" if n_masked != len(x) else "")
    )
    print(
        f"ratio masked / csr = {scaled / t_csr:.2f}"
        + (" (masked scaled linearly from its subset)" if n_masked != len(x) else "")
    )


if __name__ == "__main__":
    main()
