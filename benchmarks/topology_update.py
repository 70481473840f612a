"""Time one DST topology update: removal + chain removal + regrowth of three 1000x1000 layers at 1%.

Usage::

    python benchmarks/topology_update.py [--repeats 5] [--backend masked] [--widths 1000,3000,10000]

Prints the median seconds per full update for each regrowth rule, split into the algorithm
(removal + chain + regrowth on link lists) and the layer I/O (reading link lists, applying the
change through ``SparseLinear.update_topology``, backend-dependent); the CH3-L3/random ratio
(Sulyok et al. 2026 report about 2); and how CH3-L3 link prediction scales with width at fixed
mean degree (10 links per unit), computed without any dense width x width array.

Trained topologies are what matters: CH3-L3 regrowth grows hubs (the Sulyok runs end
with largest in-degrees of 116-191 instead of ~23, and 764-979 of the 3000 hidden neurons on
an input→output path), and the number of length-3 paths it scores grows with the degrees. The
benchmark makes such a topology without training data: 25 CH3-L3 updates (chain removal on) of
the 1%-dense network, each after a random drift of the weights standing in for the training
between updates; it prints the degrees and active neurons it reached, then times one full
update of copies of it. With ``--runs-dir DIR [--sweep sulyok2026]`` it also loads the finished
networks of a stored DST sweep (``make reproduce-sulyok2026`` trains them) and times one update
of each with its own rule and chain-removal setting, on the topology training really produced;
the verdict then uses those. Targets on trained topologies: CH3-L3 <= 0.1 s and random <= 0.02 s
for the three layers, the last line prints the verdict.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import numba
import numpy as np
import torch

from prunelab.core.links import Links
from prunelab.dst import DSTConfig, update_topology
from prunelab.dst.regrowth import regrow
from prunelab.dst.removal import removal_keep
from prunelab.errors import PrunelabError
from prunelab.nn import SparseMLP
from prunelab.nn.topology import erdos_renyi_links

ALGORITHM = ("removal", "chain", "regrowth")
IO = ("read", "apply")


def time_full_update(rule: str, backend: str, repeats: int, soft: bool = False) -> dict[str, float]:
    """Median stage times (seconds) of the first update of a fresh [1000]*4 + [10] SparseMLP at 1%.

    Each repeat starts from a new Erdős–Rényi model (seeds 0, 1, ...): repeated CH3-L3 updates of
    an untrained network concentrate links on hubs, which would make later updates slower and
    the measurement depend on the number of repeats.
    """
    config = DSTConfig(regrowth=rule, chain_removal=True, soft=soft)
    warm = SparseMLP([1000, 1000, 1000, 1000, 10], density=0.01, seed=99, backend=backend)
    update_topology(warm, config, np.random.default_rng(0))  # warm-up (numba cache load, allocator)
    runs = []
    for seed in range(repeats):
        model = SparseMLP([1000, 1000, 1000, 1000, 10], density=0.01, seed=seed, backend=backend)
        runs.append(update_topology(model, config, np.random.default_rng(seed)))
    out = {
        stage: statistics.median(r[f"dst/{stage}_seconds"] for r in runs)
        for stage in ALGORITHM + IO
    }
    out["algorithm"] = statistics.median(
        sum(r[f"dst/{s}_seconds"] for s in ALGORITHM) for r in runs
    )
    out["total"] = statistics.median(r["dst/total_seconds"] for r in runs)
    return out


def trained_like_model(
    backend: str, n_updates: int = 25, seed: int = 0
) -> tuple[SparseMLP, dict[str, float]]:
    """A [784, 1000, 1000, 1000, 10] SparseMLP whose topology went through ``n_updates`` CH3-L3 updates.

    Before each update every weight moves by N(0, (0.5 mean|w|)^2) (a stand-in for an epoch of
    training, so magnitude removal does not just undo the last regrowth). Returns the model and
    the metrics of its last update (degrees, active neurons).
    """
    model = SparseMLP(
        [784, 1000, 1000, 1000, 10], density=0.01, seed=seed, backend=backend, init="swi"
    )
    config = DSTConfig(regrowth="ch3l3", chain_removal=True, init="swi")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    stats: dict[str, float] = {}
    for _ in range(n_updates):
        for layer in model.sparse_layers():
            v = layer.link_values()
            layer.set_link_values(v + 0.5 * v.abs().mean() * torch.randn(v.shape[0], generator=gen))
        stats = update_topology(model, config, rng)
    return model, stats


def time_trained_update(model: SparseMLP, rule: str | DSTConfig, repeats: int) -> dict[str, float]:
    """Median stage times (seconds) of one update of copies of ``model`` (seeds 0, 1, ...).

    ``rule`` is a regrowth rule (with chain removal and swi initialisation) or a whole
    :class:`DSTConfig`, e.g. the one a stored run trained with.
    """
    config = (
        rule
        if isinstance(rule, DSTConfig)
        else DSTConfig(regrowth=rule, chain_removal=True, init="swi")
    )
    update_topology(copy.deepcopy(model), config, np.random.default_rng(99))  # warm-up
    runs, cpu = [], []
    for s in range(repeats):
        clone = copy.deepcopy(model)
        start = time.process_time()
        runs.append(update_topology(clone, config, np.random.default_rng(s)))
        cpu.append(time.process_time() - start)
    out = {
        stage: statistics.median(r[f"dst/{stage}_seconds"] for r in runs)
        for stage in ALGORITHM + IO
    }
    out["total"] = statistics.median(r["dst/total_seconds"] for r in runs)
    # CPU seconds of the process (all threads): with one thread, the work done, which a loaded
    # machine inflates far less than the wall-clock time
    out["cpu"] = statistics.median(cpu)
    return out


def stored_trained_models(runs_dir: str, sweep: str) -> list[tuple[str, SparseMLP, DSTConfig]]:
    """(run name, model, its DST config) of every finished run of ``sweep`` in ``runs_dir``."""
    from prunelab.experiments.config import parse_config
    from prunelab.experiments.runner import load_run_model
    from prunelab.experiments.store import Store

    store = Store(runs_dir)
    out = []
    for run_id in store.resolve(sweep)[2]:
        row = store.get_run(run_id)
        if row is None or row["status"] != "finished":
            continue
        cfg = parse_config(row["config"])
        if cfg.dst is None:
            continue
        out.append((row["name"].split("/", 1)[-1], load_run_model(store, run_id), cfg.dst))
    return out


def stored_section(runs_dir: str, sweep: str, repeats: int) -> dict[str, list[float]]:
    """Print and return the update seconds of the stored trained networks, by regrowth rule."""
    print(
        f"\n0. trained networks of sweep {sweep!r} in {runs_dir}, median of {repeats} per network"
    )
    print(f"{'run':<58}{'max in-degree per layer':>24}{'wall':>8}{'CPU':>8}  (seconds)")
    by_rule: dict[str, list[float]] = {}
    try:
        stored = stored_trained_models(runs_dir, sweep)
    except PrunelabError as err:  # no such store or sweep, a damaged checkpoint: one line
        raise SystemExit(f"error: {err}") from None
    for name, model, config in stored:
        degrees = [int(np.bincount(layer.links().cols).max()) for layer in model.sparse_layers()]
        timing = time_trained_update(model, config, repeats)
        wall, cpu = timing["total"], timing["cpu"]
        by_rule.setdefault(config.regrowth, []).append(wall)
        print(f"{name:<58}{', '.join(map(str, degrees)):>24}{wall:>8.4f}{cpu:>8.4f}")
    if not by_rule:
        raise SystemExit(f"no finished DST run of {sweep!r} in {runs_dir}: train it first")
    return by_rule


def time_width(width: int, rule: str, repeats: int, mean_degree: float = 10.0) -> float:
    """Median seconds of removal + regrowth of one width x width layer on link lists only."""
    rng = np.random.default_rng(width)
    rows, cols = erdos_renyi_links(width, width, mean_degree / width, rng)
    values = rng.standard_normal(rows.size)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        keep = removal_keep(values, 0.3, "magnitude", rng)
        regrow(rule, Links(rows[keep], cols[keep], (width, width)), int((~keep).sum()), rng)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default="csr")
    parser.add_argument("--widths", default="1000,3000,10000")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs-dir", default=None, help="a store with a trained DST sweep")
    parser.add_argument("--sweep", default="sulyok2026", help="that sweep's name")
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)  # CH3-L3 top-k runs on numba's threads; first, as
        torch.set_num_threads(args.threads)  # starting numba's OpenMP pool resets torch's count
    print(
        f"threads {torch.get_num_threads()}, load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )

    stored = stored_section(args.runs_dir, args.sweep, args.repeats) if args.runs_dir else {}
    print(
        f"\n1. trained-like topology (25 CH3-L3 updates with weight drift), backend={args.backend}, median of {args.repeats}"
    )
    model, stats = trained_like_model(args.backend)
    names = [name for name, _ in model.named_sparse_layers()]
    print(
        "   largest in-degree per layer: "
        + ", ".join(f"{stats[f'max_in_degree/{n}']:.0f}" for n in names)
        + "; active neurons per layer: "
        + ", ".join(f"{stats[f'active_neurons/{n}']:.0f}" for n in names)
    )
    print(
        f"{'rule':<12}{'removal':>9}{'chain':>8}{'regrowth':>10}{'read+apply':>12}{'total':>8}{'CPU':>8}  (seconds)"
    )
    trained = {}
    for rule in ("random", "ch3l3"):
        r = time_trained_update(model, rule, args.repeats)
        trained[rule] = r
        print(
            f"{rule:<12}{r['removal']:>9.4f}{r['chain']:>8.4f}{r['regrowth']:>10.4f}"
            f"{r['read'] + r['apply']:>12.4f}{r['total']:>8.4f}{r['cpu']:>8.4f}"
        )

    print(
        f"\n2. fresh Erdős–Rényi layers (first update), backend={args.backend}, median of {args.repeats}"
    )
    print(
        f"{'rule':<12}{'removal':>9}{'chain':>8}{'regrowth':>10}{'algorithm':>11}{'read+apply':>12}{'total':>8}  (seconds)"
    )
    results = {}
    for rule, soft in (("random", False), ("ch3l3", False), ("ch3l3", True), ("l3", False)):
        label = rule + ("-soft" if soft else "")
        r = time_full_update(rule, args.backend, args.repeats, soft)
        results[label] = r
        print(
            f"{label:<12}{r['removal']:>9.4f}{r['chain']:>8.4f}{r['regrowth']:>10.4f}{r['algorithm']:>11.4f}"
            f"{r['read'] + r['apply']:>12.4f}{r['total']:>8.4f}"
        )
    ratio_alg = results["ch3l3"]["algorithm"] / results["random"]["algorithm"]
    ratio_tot = results["ch3l3"]["total"] / results["random"]["total"]
    print(f"CH3-L3 / random: {ratio_alg:.2f} (algorithm), {ratio_tot:.2f} (total incl. layer I/O)")

    print(
        "\n3. scaling at fixed mean degree 10 (one layer, removal + regrowth on link lists, no dense arrays)"
    )
    print(f"{'width':>7}{'links':>9}{'random':>9}{'ch3l3':>9}{'ratio':>7}  (seconds)")
    for width in (int(w) for w in args.widths.split(",")):
        t_rand = time_width(width, "random", args.repeats)
        t_ch = time_width(width, "ch3l3", args.repeats)
        print(f"{width:>7}{10 * width:>9}{t_rand:>9.4f}{t_ch:>9.4f}{t_ch / t_rand:>7.1f}")

    ch, rnd = trained["ch3l3"]["total"], trained["random"]["total"]
    where = "trained-like topology"
    if stored.get("ch3l3") and stored.get("random"):
        # the slowest network of each rule: the target holds for every trained network
        ch, rnd, where = (
            max(stored["ch3l3"]),
            max(stored["random"]),
            f"stored {args.sweep} networks (slowest)",
        )
    print(
        f"\nVERDICT: {where}, three layers: CH3-L3 update {ch:.3f} s (<= 0.1 {'PASS' if ch <= 0.1 else 'FAIL'}), "
        f"random {rnd:.3f} s (<= 0.02 {'PASS' if rnd <= 0.02 else 'FAIL'}); CPU seconds "
        f"{trained['ch3l3']['cpu']:.3f} / {trained['random']['cpu']:.3f}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
