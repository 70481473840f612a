"""Shared pieces of the training-speed benchmarks: data, models, and one timing loop.

Every model is timed by :func:`time_steps` (the same loop, optimizer and batches), so the ratios
printed by ``epoch_time.py`` and ``scaling.py`` compare kernels, not harnesses.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def load_fashion_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST training set: x float32 (60000, 784) in [0, 1], y int64 (60000,).

    Read through ``prunelab.data.load_dataset("fashion-mnist")`` (the Debian package's IDX files,
    a local data directory, or the standard download), so the benchmark times the data users get.
    """
    from prunelab.data import load_dataset

    data = load_dataset("fashion-mnist")
    x = torch.as_tensor(np.asarray(data.x_train, dtype=np.float32))
    return x, torch.as_tensor(np.asarray(data.y_train), dtype=torch.int64)


def benchmark_model(kind: str, sizes: list[int], density: float, seed: int = 0) -> nn.Module:
    """A ReLU MLP with sparse hidden layers and a dense readout.

    Parameters
    ----------
    kind : {"csr", "masked", "sparselab"}
        prunelab backend, or ``sparselab.SparseLinear`` (0.2.2) for the peer library.
    sizes : list of int
        Units per layer, input first.
    density : float
        Density of every sparse layer.
    """
    if kind in ("csr", "masked"):
        from prunelab.nn import SparseMLP

        return SparseMLP(sizes, density=density, seed=seed, backend=kind)
    if kind == "sparselab":
        import sparselab

        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for k in range(len(sizes) - 2):
            layers += [
                sparselab.SparseLinear(sizes[k], sizes[k + 1], sparsity=1.0 - density),
                nn.ReLU(),
            ]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        return nn.Sequential(*layers)
    raise ValueError(f"unknown benchmark model {kind!r}; choose 'csr', 'masked' or 'sparselab'")


def sparselab_available() -> bool:
    try:
        import sparselab  # noqa: F401
    except ImportError:
        return False
    return True


def time_steps(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int,
    batch_size: int = 128,
    lr: float = 0.01,
    seed: int = 0,
) -> tuple[float, float]:
    """Wall-clock and CPU seconds per SGD step (forward, cross-entropy, backward, update).

    Batches are drawn from one fixed permutation of ``x`` (wrapping around), so every model sees
    the same samples; the clocks cover the whole loop, batch gathering included (with
    ``index_select``, as :class:`prunelab.training.Trainer` gathers them). CPU time is the
    process time of all threads: on a loaded machine with one thread it is the steadier measure
    (it does not count time spent waiting for a core); with several threads it also counts
    the spin-waiting of idle worker threads.
    """
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    n = x.shape[0]
    starts = [(s * batch_size) % max(n - batch_size + 1, 1) for s in range(n_steps)]
    model.train()
    start, start_cpu = time.perf_counter(), time.process_time()
    for s in starts:
        idx = perm[s : s + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx))
        loss.backward()
        opt.step()
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if not torch.isfinite(loss):
        raise RuntimeError("benchmark training diverged (non-finite loss)")
    return elapsed / n_steps, elapsed_cpu / n_steps


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()  # known once a parallel kernel has run
    except ValueError:
        return f"{numba.config.THREADING_LAYER}, not started yet"


def fastest_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_steps: int, batch_size: int = 128
) -> float:
    """Seconds of the fastest of ``n_steps`` single SGD steps, each timed on its own.

    On a loaded machine most steps are interrupted by other processes; the fastest of many short
    steps is the one that ran undisturbed, so it estimates the cost of a step on a quiet machine
    (a lower bound of the mean). Used for the fixed cost of a step, which is an absolute target.
    """
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    model.train()
    best = float("inf")
    for s in range(n_steps):
        lo = (s * batch_size) % (x.shape[0] - batch_size)
        idx = perm[lo : lo + batch_size]
        start = time.perf_counter()  # the same step as time_steps, batch gathering included
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx)).backward()
        opt.step()
        best = min(best, time.perf_counter() - start)
    return best


def machine_info() -> str:
    """One line: CPU model, cores, torch threads, library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numba
    import scipy

    parts = [
        f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} ({torch.get_num_threads()} threads)",
        f"numba {numba.__version__} ({_threading_layer()} threading layer)",
        f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}",
    ]
    if sparselab_available():
        import sparselab

        parts.append(f"sparselab {sparselab.__version__}")
    try:
        load = os.getloadavg()
        parts.append(f"load average at start {load[0]:.2f}")
    except OSError:
        pass
    return "; ".join(parts)
