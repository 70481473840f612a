"""Where robustness results live in the store, and how reports find them.

Each (run, perturbation kind, seed) curve is a Parquet table of the trained run:
``robustness/<kind>`` for seed 0 (the default, and the only name stores written before seeds
were part of the key use) and ``robustness/<kind>/seed=<s>`` otherwise; the run's weight-magnitude
density is ``weights/density``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from prunelab.experiments.store import Store
from prunelab.perturb.kinds import KINDS


def table_name(kind: str, seed: int = 0) -> str:
    """Store table name of a robustness curve of ``kind`` drawn with ``seed``."""
    return f"robustness/{kind}" if int(seed) == 0 else f"robustness/{kind}/seed={int(seed)}"


def run_group(config: dict[str, Any]) -> str:
    """Label of a run for plots: its DST rule (e.g. ``"CH3-L3 + chain"``), ``"imported"``, ``"magnitude-pruned"``
    (a ``prune:`` section), ``"dense"`` (density 1, no DST) or ``"static"`` (a fixed sparse topology)."""
    if config.get("imported"):
        return "imported"
    dst = config.get("dst")
    if not dst:
        if config.get("prune"):
            return f"{config['prune'].get('method', 'magnitude')}-pruned"
        density = config.get("model", {}).get("density")
        dense = (
            all(float(d) == 1.0 for d in density) if isinstance(density, list) else density == 1.0
        )
        return "dense" if dense else "static"
    label = {"random": "RLR", "ch3l3": "CH3-L3", "l3": "L3", "rigl": "RigL"}.get(
        dst.get("regrowth"), str(dst.get("regrowth"))
    )
    return label + (" + chain" if dst.get("chain_removal") else "")


def load_robustness(
    store: Store, run_ids: Sequence[str], seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All stored robustness curves (drawn with ``seed``) and weight-density tables of ``run_ids``."""
    curves, dens = [], []
    for run_id in run_ids:
        for kind in KINDS.names():
            t = store.load_table(run_id, table_name(kind, seed))
            if t is not None:
                curves.append(t)
        d = store.load_table(run_id, "weights/density")
        if d is not None:
            dens.append(d)
    cat = lambda ts: pd.concat(ts, ignore_index=True) if ts else pd.DataFrame()  # noqa: E731
    return cat(curves), cat(dens)
