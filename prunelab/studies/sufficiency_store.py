"""Reading a sufficiency study's rows back from the results store (no data set needed)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from prunelab.experiments.store import Store

KINDS = ("pretrain", "retrain", "equivalent", "down", "up")


def collect(study: Any, store: Store) -> dict[str, pd.DataFrame]:
    """The stored rows of every planned item as long tables: ``pretrain`` (one row per network
    and seed), ``retrain`` (per item and budget), ``equivalent``, ``down`` and ``up`` (per step)."""
    rec = store.get_study(study.study_id())
    for rid in (rec or {}).get("run_ids", []):
        cfg = (store.get_run(rid) or {}).get("config", {})
        if cfg.get("kind") == "sufficiency/pretrain":  # the data's shape, without loading the data
            study.use_shape(int(cfg["sizes"][0]), int(cfg["sizes"][-1]))
            break
    items = [it for stage in study.plan(store) for it in stage]
    wide = store.metrics([it.run_id for it in items], wide=True).rename(columns={"epoch": "step"})
    keys: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for it in items:
        c, p = it.content, it.params
        kind = c["kind"].partition("/")[2]
        if kind == "equivalent":
            continue
        key = {"run_id": it.run_id, "network": p.get("network"), "seed": p.get("seed")}
        if kind == "retrain":
            key.update({k: c[k] for k in ("criterion", "mask", "protocol", "density")})
        elif kind == "up":
            key["rule"] = c["rule"]
        keys[kind].append(key)
    keys["equivalent"] = [
        {"run_id": it.run_id, "network": n, "seed": s, "density": d}
        for n, s, d, it in study.equivalent_map()
    ]
    out = {}
    for kind, rows in keys.items():
        frame = pd.DataFrame(rows, columns=["run_id", "network", "seed"] if not rows else None)
        out[kind] = (
            frame.merge(wide, on="run_id", how="inner").dropna(axis=1, how="all")
            if len(frame)
            else frame
        )
    pre = out["pretrain"]
    if len(pre):  # the per-epoch pretraining curve is stored too: keep the final row
        pre = pre[pre["step"] == pre.groupby("run_id")["step"].transform("max")]
    out["pretrain"] = pre.drop(columns="step", errors="ignore").reset_index(drop=True)
    for kind in ("retrain", "equivalent"):
        out[kind] = out[kind].rename(columns={"step": "budget"})
    return out
