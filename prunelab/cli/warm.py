"""Compile (or load from the cache) every numba kernel of prunelab before it is needed.

Usage::

    python -m prunelab.cli.warm            # what ``make setup`` runs; prints one line
    python -m prunelab.cli.warm --check    # also list kernels that were compiled rather than loaded

numba compiles a kernel on its first call in a process that finds no cached machine code for
its argument types (``cache=True`` keeps the code in ``__pycache__`` next to the source, or in
``$NUMBA_CACHE_DIR``). On a fresh clone that is several seconds for the training kernels and
about 5 s for CH3-L3 scoring, paid inside the first timed epoch of a run. :func:`warm` runs
every kernel once on tiny inputs through the same public calls real runs make — training and
evaluation of a SparseMLP (fused csr stack, single layers), the inference plan, CH3-L3 and L3
link prediction (top-k hard and soft, all scores), DST updates with chain removal and every
regrowth rule, and degree-preserving rewiring — so each kernel is compiled for exactly the
argument types those calls use, and later processes only load the cache.

It lives with the CLI, at the top of the package layering, because it imports nn, linkpred, graph
and dst; nothing imports it.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable

import numba
import numpy as np
import torch

KERNEL_MODULES = (
    "prunelab.nn.backends._csr_kernels",
    "prunelab.linkpred._kernels",
    "prunelab.graph.rewire",
)


def kernels() -> dict[str, numba.core.dispatcher.Dispatcher]:
    """Every numba-compiled function of prunelab, by ``module.name``."""
    out = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if isinstance(obj, numba.core.dispatcher.Dispatcher):
                out[f"{name}.{attr}"] = obj
    return out


def _training() -> None:
    from prunelab.nn import SparseLinear, SparseMLP

    x, y = torch.rand(9, 12), torch.randint(0, 3, (9,))
    for sparse_readout in (False, True):
        model = SparseMLP(
            [12, 10, 8, 3], density=0.5, seed=0, backend="csr", sparse_readout=sparse_readout
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        with torch.no_grad():
            model(x)
    layer = SparseLinear(
        12, 5, density=0.5, backend="csr", seed=0
    )  # a layer on its own: sample-major
    xi = x.clone().requires_grad_(True)
    layer(xi).square().sum().backward()  # a C-contiguous incoming gradient
    layer(xi).sum().backward()  # an expanded one
    layer(x.t().contiguous().t()).sum().backward()  # an input that is a transposed view


def _inference() -> None:
    from prunelab.nn import SparseMLP
    from prunelab.nn.inference import InferencePlan

    model = SparseMLP([12, 10, 8, 3], density=0.5, seed=0, backend="csr")
    plan = InferencePlan(model)
    batches = plan.prepare_inputs(torch.rand(20, 12), batch_size=8)
    plan.evaluate(batches, torch.randint(0, 3, (20,)))
    name = next(iter(plan.stages))
    plan.set_link_values(name, np.zeros(model.sparse_layers()[0].n_links, dtype=np.float32))
    plan.evaluate(batches, torch.randint(0, 3, (20,)))


def _link_prediction() -> None:
    from prunelab.core.links import Links
    from prunelab.linkpred import scores

    mask = np.random.default_rng(0).random((15, 12)) < 0.3
    links = Links.from_mask(mask)
    for rule in ("ch3l3", "l3"):
        for soft in (False, True):
            scores.top_scored_missing_links(rule, links, 5, seed=1, soft=soft)
        scores.top_scored_missing_links(
            rule, links, 5, seed=1, allowed_in=np.ones(15, bool), allowed_out=np.ones(12, bool)
        )
    scores.ch3_l3_scores_sparse(links)
    scores.ch3_l3_scores(mask)
    scores.l3_scores(mask)


def _dst() -> None:
    from prunelab.dst import DSTConfig, update_topology
    from prunelab.nn import SparseMLP

    for regrowth in ("random", "ch3l3", "l3"):
        for chain in (True, False):
            model = SparseMLP([12, 10, 10, 10, 3], density=0.4, seed=0, backend="csr")
            update_topology(
                model, DSTConfig(regrowth=regrowth, chain_removal=chain), np.random.default_rng(0)
            )


def _rewiring() -> None:
    rewire = importlib.import_module("prunelab.graph.rewire")

    mask = np.random.default_rng(0).random((10, 8)) < 0.4
    for method in rewire.METHODS:
        rewire.rewire(mask, method=method, seed=0)
        rewire.rewire(torch.from_numpy(mask), method=method, seed=0)


AREAS: dict[str, Callable[[], None]] = {
    "training": _training,
    "inference": _inference,
    "link prediction": _link_prediction,
    "dst (removal, chain removal, regrowth)": _dst,
    "rewiring": _rewiring,
}


def warm() -> dict[str, float]:
    """Run every area's tiny workload once; seconds per area (compile or cache-load time)."""
    seconds = {}
    for area, fn in AREAS.items():
        start = time.perf_counter()
        fn()
        seconds[area] = time.perf_counter() - start
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="list kernels compiled in this process (not loaded from the cache)",
    )
    # (helpers called only from other kernels, e.g. linkpred's _score_row, are compiled into their callers)
    args = parser.parse_args(argv)
    seconds = warm()
    found = kernels()
    compiled = {name: sum(k.stats.cache_misses.values()) for name, k in found.items()}
    loaded = sum(sum(k.stats.cache_hits.values()) for k in found.values())
    n_compiled = sum(compiled.values())
    print(
        f"prunelab.cli.warm: {len(found)} numba kernels ready in {sum(seconds.values()):.1f} s "
        f"({n_compiled} specialisations compiled, {loaded} loaded from the cache): "
        + ", ".join(f"{area} {s:.1f} s" for area, s in seconds.items())
    )
    if args.check:
        for name, n in sorted(compiled.items()):
            if n:
                print(f"  compiled: {name} ({n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
