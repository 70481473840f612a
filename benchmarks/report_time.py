"""Benchmark: wall time of the report of the full Sulyok et al. (2026) sweep with robustness.

Target: <= 30 s for ``prunelab report sulyok2026`` on the 2-core reference machine. The store is
built synthetically with the shapes of the real one (``configs/sulyok2026.yaml``): 12 runs (RLR,
CH3-L3, each with and without chain removal, 3 seeds), 100 epochs of every metric a DST run logs
(accuracy, loss, per-layer density, overlap of regrown with removed links, active neurons, the
stages of each topology update), and the robustness tables of ``prunelab robustness sulyok2026
--draws 5`` (the five perturbations on their default strength grids, 5 draws, plus the weight
densities of the three sparse layers). Building the store is not timed; the report is built
``--repeats`` times and the best and median wall times are printed (the machine is shared).

Usage::

    .venv/bin/python benchmarks/report_time.py [--repeats 3] [--single-file] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prunelab.experiments import Store
from prunelab.report import build_report
from prunelab.report.robustness import run_group, table_name
from prunelab.studies.robustness import DEFAULT_STRENGTHS

METHODS = [("random", False), ("random", True), ("ch3l3", False), ("ch3l3", True)]
SEEDS = (0, 1, 2)
EPOCHS = 100
DRAWS = 5
LAYERS = ("layer0", "layer1", "layer2")


def run_config(regrowth: str, chain: bool, seed: int) -> dict:
    return {
        "data": {"name": "fashion-mnist"},
        "model": {"sizes": [784, 1000, 1000, 1000, 10], "density": 0.01},
        "train": {"epochs": EPOCHS, "seed": seed},
        "dst": {"regrowth": regrowth, "chain_removal": chain, "zeta": 0.3},
    }


def metrics(rng: np.random.Generator, k: int) -> list[dict]:
    rows = []
    for epoch in range(1, EPOCHS + 1):
        acc = 0.9 - 0.5 * np.exp(-epoch / (8 + k)) + 0.003 * rng.normal()
        m = {
            "train_accuracy": acc + 0.02,
            "test_accuracy": acc,
            "train_loss": 1.5 * np.exp(-epoch / 20) + 0.2,
            "test_loss": 1.5 * np.exp(-epoch / 20) + 0.3,
        }
        for layer in LAYERS:
            m[f"density/{layer}"] = 0.01
            m[f"regrown_was_removed/{layer}"] = 0.1 + 0.05 * rng.random()
            m[f"active_neurons/{layer}"] = 900 - 2 * epoch + 10 * rng.random()
        for stage in ("removal", "regrowth", "apply"):
            m[f"dst/{stage}_seconds"] = 0.05 * (1 + k) * (1 + 0.1 * rng.random())
        m["dst/total_seconds"] = sum(
            m[f"dst/{s}_seconds"] for s in ("removal", "regrowth", "apply")
        )
        rows.append((epoch, m))
    return rows


def curves(run_id: str, group: str, kind: str, rng: np.random.Generator) -> pd.DataFrame:
    grid = DEFAULT_STRENGTHS[kind]
    rows = []
    for draw in range(DRAWS):
        for s in grid:
            acc = 0.1 + 0.8 / (1 + np.exp((s - 0.5) / 0.08)) + 0.01 * rng.normal()
            rows.append(
                {
                    "group": group,
                    "network": run_id,
                    "kind": kind,
                    "draw": draw,
                    "strength": float(s),
                    "accuracy": acc,
                    "loss": 2.3 - 2 * acc,
                    "removed_fraction": float(min(s, 1.0)),
                    "baseline_accuracy": 0.9,
                    "baseline_loss": 0.3,
                    "chance": 0.1,
                }
            )
    out = pd.DataFrame(rows)
    out.insert(0, "run_id", run_id)
    return out


def densities(run_id: str, group: str, rng: np.random.Generator) -> pd.DataFrame:
    mag = np.geomspace(1e-4, 10, 80)
    frames = [
        pd.DataFrame(
            {
                "group": group,
                "network": run_id,
                "layer": layer,
                "magnitude": mag,
                "density": np.exp(-((np.log10(mag) + 1) ** 2)) * (1 + 0.05 * rng.random(80)),
            }
        )
        for layer in LAYERS
    ]
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "run_id", run_id)
    return out


def build_store(root: Path) -> Store:
    """A runs directory shaped like the real Sulyok sweep after ``prunelab robustness --draws 5``."""
    store = Store(root)
    rng = np.random.default_rng(0)
    ids = []
    for seed in SEEDS:
        for k, (regrowth, chain) in enumerate(METHODS):
            cfg = run_config(regrowth, chain, seed)
            run_id = f"run{seed}{k}".ljust(12, "0")
            name = f"sulyok2026/dst.regrowth={regrowth},dst.chain_removal={str(chain).lower()},seed={seed}"
            store.register_run(run_id, name, cfg)
            store.set_status(
                run_id,
                "finished",
                seconds=3600.0,
                versions={"prunelab": "0.1.0"},
                git_revision="synthetic",
            )
            for epoch, m in metrics(rng, k):
                store.log_metrics(run_id, epoch, m)
            group = run_group(cfg)
            for kind in DEFAULT_STRENGTHS:
                store.save_table(run_id, table_name(kind), curves(run_id, group, kind, rng))
            store.save_table(run_id, "weights/density", densities(run_id, group, rng))
            ids.append(run_id)
    store.register_study(
        "sulyok2026sweep", "train", "sulyok2026", {"name": "sulyok2026", "sweep": "synthetic"}, ids
    )
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--single-file", action="store_true", help="Embed the figures (one HTML file)."
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Build the store here and keep it (default: a temporary folder).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "runs"
        started = time.perf_counter()
        store = build_store(root)
        print(
            f"synthetic store: 12 runs, {EPOCHS} epochs, robustness with {DRAWS} draws, built in {time.perf_counter() - started:.1f} s"
        )
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            page = build_report(store, "sulyok2026", single_file=args.single_file)
            times.append(time.perf_counter() - t0)
        n_figures = page.read_text().count("<figure>")
        best, median = min(times), statistics.median(times)
        print(
            f"report of the 12-run sweep with robustness ({n_figures} figures): best {best:.2f} s, median {median:.2f} s "
            f"over {args.repeats} builds; target <= 30 s: {'PASS' if best <= 30 else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
