"""What a reproduction page says about the grid it ran: differences from the default config, rerun lines, work done.

Shared by the page builders of ``reproductions/``; reads studies (their configs) and the store only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prunelab.experiments import Store
from prunelab.studies import load_study


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def grid_cut(study: Any, default_config: Path) -> list[tuple[str, Any, Any]]:
    """Where a study differs from a default config file: ``[(dotted key, value run, default)]``.

    The study's ``name`` is not compared; an absent config file gives ``[]``.
    """
    if not default_config.is_file():
        return []
    default = _flat(load_study(default_config).model_dump(mode="json"))
    ran = _flat(study.model_dump(mode="json"))
    return [
        (k, ran.get(k), default[k])
        for k in sorted(default)
        if k != "name" and ran.get(k) != default[k]
    ]


def rerun_command(config: str, cut: list[tuple[str, Any, Any]]) -> str:
    """The ``prunelab run CONFIG --set key=value ...`` line that rebuilds the study of ``cut``."""
    sets = " ".join(f"--set {k}={json.dumps(v, separators=(',', ':'))}" for k, v, _ in cut)
    return f"prunelab run {config} {sets}".rstrip()


def compute_time(store: Store, study: Any) -> tuple[int, int, float]:
    """Items of a study: (finished, planned, summed wall seconds of the finished ones)."""
    runs = store.runs().set_index("id")
    ids = [item.run_id for batch in study.plan(store) for item in batch]
    done = runs.loc[[i for i in ids if i in runs.index]]
    done = done[done.status == "finished"]
    return len(done), len(ids), float(done.seconds.fillna(0).sum())
