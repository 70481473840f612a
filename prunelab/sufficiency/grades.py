"""The graded irreversibility tests and the hysteresis loops of a sufficiency study (pure
functions on stored rows; definitions in ``docs/definitions.md``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prunelab.sufficiency.psi import (
    is_retraining,
    surface_means,
    with_psi,
)

SATURATION_GAIN = 0.01


def _psi_at(means: pd.DataFrame, **match: Any) -> pd.Series:
    sel = means
    for k, v in match.items():
        sel = sel[sel[k] == v]
    return sel


def irreversibility(
    surface: pd.DataFrame, budgets: list[int], eps: float, loops: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The graded tests per (network, criterion, density) of the pruned masks.

    Columns: ``psi_best`` (best retraining protocol at the largest budget, seed mean, test split),
    ``best_protocol``, ``recovered``; test 1 ``hard_floor`` (share of seeds whose mask has an empty
    layer or no input→output path); test 2 ``b_sat`` (largest budget ≤ B_max/4), ``gain`` (Ψ of the
    best protocol from ``b_sat`` to B_max) and ``saturated`` (gain < 0.01); test 3
    ``protocols_failing`` / ``protocols`` and ``all_protocols_fail``, ``psi_controls`` (best ER or
    degree-preserving control), ``psi_dst``; test 4 ``psi_regrown`` (best regrowth rule, up sweep)
    and ``psi_down``; and ``grade``: ``recovered``, ``hard floor``, ``not saturated``,
    ``mask-specific`` (saturated, but a control, DST or regrowth reaches 1 − ε) or
    ``irreversible`` (every test fails).
    """
    b_max = max(budgets)
    b_sat = max([b for b in budgets if b <= b_max / 4] or [min(budgets)])
    level = 1.0 - eps
    means = surface_means(surface)
    rows = []
    pruned = means[(means["mask"] == "pruned") & means["protocol"].map(is_retraining)]
    for (net, crit, d), sub in pruned.groupby(["network", "criterion", "density"]):
        top = sub[sub["budget"] == b_max]
        if top.empty:
            continue
        best = top.loc[top["psi_test"].idxmax()]
        early = sub[(sub["budget"] == b_sat) & (sub["protocol"] == best["protocol"])]["psi_test"]
        gain = float(best["psi_test"] - early.iloc[0]) if len(early) else np.nan
        raw = surface[
            (surface["network"] == net)
            & (surface["criterion"] == crit)
            & (surface["density"] == d)
            & (surface["mask"] == "pruned")
            & (surface["budget"] == 0)
        ]
        floor = raw[raw["protocol"].map(is_retraining)].groupby("seed")["hard_floor"].max()
        ctrl = _psi_at(means, network=net, criterion=crit, density=d, budget=b_max)
        controls = ctrl[ctrl["mask"] != "pruned"]["psi_test"]
        dst = ctrl[(ctrl["mask"] == "pruned") & ~ctrl["protocol"].map(is_retraining)]["psi_test"]
        row = {
            "network": net,
            "criterion": crit,
            "density": d,
            "psi_best": float(best["psi_test"]),
            "best_protocol": best["protocol"],
            "recovered": bool(best["psi_test"] >= level),
            "hard_floor": float(floor.mean()) if len(floor) else np.nan,
            "b_sat": b_sat,
            "gain": gain,
            "saturated": bool(np.isfinite(gain) and gain < SATURATION_GAIN),
            "protocols": int(len(top)),
            "protocols_failing": int((top["psi_test"] < level).sum()),
            "psi_controls": float(controls.max()) if len(controls) else np.nan,
            "psi_dst": float(dst.max()) if len(dst) else np.nan,
            "psi_regrown": np.nan,
            "psi_down": np.nan,
        }
        row["all_protocols_fail"] = row["protocols_failing"] == row["protocols"]
        if (
            loops is not None and len(loops) and crit == "magnitude"
        ):  # the sweeps prune by magnitude
            at = loops[(loops["network"] == net) & np.isclose(loops["density"], d)]
            if len(at):
                row["psi_regrown"] = float(at["psi_up"].max())
                row["psi_down"] = float(at["psi_down"].iloc[0])
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    other = out[["psi_controls", "psi_dst", "psi_regrown"]].max(axis=1, skipna=True)
    out["grade"] = np.select(
        [out["recovered"], out["hard_floor"] >= 0.5, ~out["saturated"], other >= level],
        ["recovered", "hard floor", "not saturated", "mask-specific"],
        default="irreversible",
    )
    return out.sort_values(
        ["network", "criterion", "density"], ascending=[True, True, False]
    ).reset_index(drop=True)


def hysteresis(
    down: pd.DataFrame, up: pd.DataFrame, pretrain: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hysteresis loops and their areas.

    Returns
    -------
    loops : DataFrame
        ``network, rule, density, psi_down, psi_up`` (seed means, test split) and their stds; the
        bottom density is shared by both branches.
    areas : DataFrame
        Per (network, rule): ``area`` = ∫ (Ψ_down − Ψ_up) d log10 ρ over the up sweep (seed mean;
        positive when the network regrown to a density does worse than it did on the way down),
        ``area_std``, ``gap_top`` (Ψ_down − Ψ_up at the highest density), ``n_seeds``.
    """
    if down.empty or up.empty:
        return pd.DataFrame(), pd.DataFrame()
    dn = with_psi(down.rename(columns={"target_density": "density"}), pretrain)
    upp = with_psi(up.rename(columns={"target_density": "density"}), pretrain)
    per_seed, loops = [], []
    for (net, rule), u in upp.groupby(["network", "rule"]):
        for seed, us in u.groupby("seed"):
            ds = dn[(dn["network"] == net) & (dn["seed"] == seed)].sort_values("density")
            if ds.empty:
                continue
            bottom = ds.iloc[0]
            us = pd.concat(
                [
                    us[["density", "psi_test"]],
                    pd.DataFrame(
                        {"density": [bottom["density"]], "psi_test": [bottom["psi_test"]]}
                    ),
                ]
            )
            merged = (
                ds[["density", "psi_test"]]
                .merge(us, on="density", suffixes=("_down", "_up"))
                .sort_values("density")
            )
            x = np.log10(merged["density"].to_numpy())
            gap = (merged["psi_test_down"] - merged["psi_test_up"]).to_numpy()
            area = float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(x))) if len(x) > 1 else np.nan
            per_seed.append(
                {
                    "network": net,
                    "rule": rule,
                    "seed": seed,
                    "area": area,
                    "gap_top": float(gap[-1]),
                }
            )
            loops.append(merged.assign(network=net, rule=rule, seed=seed))
    if not loops:
        return pd.DataFrame(), pd.DataFrame()
    loop = pd.concat(loops, ignore_index=True)
    loop = (
        loop.groupby(["network", "rule", "density"])
        .agg(
            psi_down=("psi_test_down", "mean"),
            psi_down_std=("psi_test_down", "std"),
            psi_up=("psi_test_up", "mean"),
            psi_up_std=("psi_test_up", "std"),
            n_seeds=("seed", "nunique"),
        )
        .reset_index()
    )
    ps = pd.DataFrame(per_seed)
    areas = (
        ps.groupby(["network", "rule"])
        .agg(
            area=("area", "mean"),
            area_std=("area", "std"),
            gap_top=("gap_top", "mean"),
            n_seeds=("seed", "nunique"),
        )
        .reset_index()
    )
    return loop, areas
