"""``python -m prunelab.cli.warm``: after it, a new process compiles no numba kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from prunelab.cli import warm

WORKLOAD = textwrap.dedent(
    """
    import numpy as np, torch
    from prunelab.cli import warm
    from prunelab.dst import DSTConfig, update_topology
    from prunelab.nn import SparseMLP
    from prunelab.nn.inference import InferencePlan
    from prunelab.graph.rewire import rewire
    # other sizes, batch and seeds than the warm-up: numba specialises on types, not shapes
    model = SparseMLP([40, 30, 30, 30, 5], density=0.3, seed=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.rand(33, 40), torch.randint(0, 5, (33,))
    for _ in range(3):
        opt.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); opt.step()
    for rule, soft in (("ch3l3", False), ("ch3l3", True), ("random", False), ("l3", False)):
        update_topology(model, DSTConfig(regrowth=rule, soft=soft, chain_removal=True), np.random.default_rng(1), optimizer=opt)
    plan = InferencePlan(model)
    plan.evaluate(plan.prepare_inputs(x, 16), y)
    rewire(np.random.default_rng(2).random((9, 9)) < 0.5, seed=1)
    misses = {n: sum(k.stats.cache_misses.values()) for n, k in warm.kernels().items()}
    print([n for n, m in misses.items() if m])
    """
)


def test_kernels_are_found_in_every_kernel_module():
    names = warm.kernels()
    for module in warm.KERNEL_MODULES:
        assert any(name.startswith(module + ".") for name in names)
    assert "prunelab.nn.backends._csr_kernels.spmm_backward" in names


@pytest.mark.slow
def test_after_warm_up_a_new_process_compiles_nothing(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    first = subprocess.run(
        [sys.executable, "-m", "prunelab.cli.warm", "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert first.returncode == 0, first.stderr
    assert "specialisations compiled" in first.stdout
    second = subprocess.run(
        [sys.executable, "-c", WORKLOAD], env=env, capture_output=True, text=True, timeout=900
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "[]"
