"""The analysis of a sufficiency study: pure functions from stored rows to result tables.

Input (:func:`analyse`): the long tables the study collects from the store, one row per item and
budget (``retrain``, ``equivalent``) or step (``down``, ``up``), and one per (network, seed) for
``pretrain`` with the dense accuracies. Ψ is the normalised accuracy of
:func:`prunelab.phase.order.normalized_accuracy` against the dense network of the same network and
seed, on the test and on the training split; it is not clipped (a retrained sparse network may
beat its dense parent, Ψ > 1).

The graded irreversibility tests of ``docs/definitions.md`` are computed per (network, criterion,
density) by :func:`irreversibility`; hysteresis loops and their areas by :func:`hysteresis`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError
from prunelab.phase.order import normalized_accuracy
from prunelab.sufficiency.fmin import bootstrap_threshold, f_min_table
from prunelab.sufficiency.retrain import PROTOCOLS
from prunelab.sufficiency.rosenfeld import fit_with_intervals

SPLITS = ("test", "train")
SATURATION_GAIN = 0.01
GROUP = ["network", "criterion", "mask", "protocol"]


def with_psi(df: pd.DataFrame, pretrain: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the dense accuracies of its (network, seed) and ``psi_test``, ``psi_train``.

    Parameters
    ----------
    df : DataFrame
        ``network``, ``seed``, ``acc_test``, ``acc_train`` (fractions).
    pretrain : DataFrame
        One row per (network, seed): ``acc_test``, ``acc_train``, ``n_classes``, ``possible_links``.
    """
    if df.empty:
        return df.assign(psi_test=pd.Series(dtype=float), psi_train=pd.Series(dtype=float))
    dense = pretrain[["network", "seed", "acc_test", "acc_train", "n_classes", "possible_links"]].rename(
        columns={"acc_test": "dense_test", "acc_train": "dense_train"})
    out = df.merge(dense, on=["network", "seed"], how="inner")
    for split in SPLITS:
        out[f"psi_{split}"] = [normalized_accuracy(a, d, int(c)) if np.isfinite(a) else np.nan
                               for a, d, c in zip(out[f"acc_{split}"], out[f"dense_{split}"], out["n_classes"], strict=True)]
    return out


def is_retraining(protocol: str) -> bool:
    """Whether a protocol retrains the pruned mask (and so competes for the best protocol)."""
    return PROTOCOLS.get(protocol).retraining if protocol in PROTOCOLS else True


def surface_means(surface: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count of Ψ (test, train) per (network, criterion, mask, protocol, density, budget)."""
    g = surface.groupby([*GROUP, "density", "budget"], sort=True)
    out = g.agg(psi_test=("psi_test", "mean"), psi_test_std=("psi_test", "std"), psi_train=("psi_train", "mean"),
                psi_train_std=("psi_train", "std"), acc_test=("acc_test", "mean"), n_seeds=("seed", "nunique"))
    return out.reset_index()


def best_rows(surface: pd.DataFrame, budget: int, split: str = "test") -> pd.DataFrame:
    """Per-seed rows at ``budget`` of the protocol that is best (seed mean) at each density.

    Only pruned masks and retraining protocols compete; one block per (network, criterion).
    """
    part = surface[(surface["budget"] == budget) & (surface["mask"] == "pruned")
                   & surface["protocol"].map(is_retraining)]
    if part.empty:
        return part
    means = part.groupby(["network", "criterion", "density", "protocol"])[f"psi_{split}"].mean().reset_index()
    means = means.sort_values(f"psi_{split}", ascending=False, kind="stable")
    best = means.groupby(["network", "criterion", "density"]).head(1)[["network", "criterion", "density", "protocol"]]
    return part.merge(best, on=["network", "criterion", "density", "protocol"])


def fmin(surface: pd.DataFrame, eps: float, budget: int, n_boot: int = 200, confidence: float = 0.95) -> pd.DataFrame:
    """F_min per (network, criterion, mask, protocol) and for the best protocol, on both splits.

    Returns
    -------
    DataFrame
        ``network, criterion, mask, protocol`` (``"best"`` for the best retraining protocol),
        ``split``, ``fmin``, ``lo``, ``hi`` (densities), ``status``, ``above``, ``below``,
        ``links``, ``links_lo``, ``links_hi`` (surviving links), ``n_seeds``.
    """
    rows = []
    at = surface[surface["budget"] == budget]
    for split in SPLITS:
        blocks = [(key, sub) for key, sub in at.groupby(GROUP)]
        blocks += [((n, c, "pruned", "best"), sub) for (n, c), sub in
                   at[(at["mask"] == "pruned") & at["protocol"].map(is_retraining)].groupby(["network", "criterion"])]
        for key, sub in blocks:
            possible = float(sub["possible_links"].iloc[0])
            r = f_min_table(sub.rename(columns={f"psi_{split}": "psi"}), eps, "psi", "protocol", n_boot, confidence,
                            seed=0, possible_links=possible)
            rows.append({**dict(zip(GROUP, key, strict=True)), "split": split, "fmin": r["value"], "lo": r["lo"],
                         "hi": r["hi"], "status": r["status"], "above": r["above"], "below": r["below"],
                         "links": r["links"], "links_lo": r["links_lo"], "links_hi": r["links_hi"],
                         "n_seeds": r["n_seeds"], "possible_links": possible})
    return pd.DataFrame(rows)


def collapse(surface: pd.DataFrame, budget: int, level: float = 0.5, n_boot: int = 200,
             confidence: float = 0.95) -> pd.DataFrame:
    """Where Ψ of the best retraining protocol falls below ``level`` (default ½), per (network,
    criterion), with a bootstrap interval over seeds: the collapse density ρ_c, to compare with
    F_min (how sharp the loss is)."""
    rows = []
    at = surface[(surface["budget"] == budget) & (surface["mask"] == "pruned") & surface["protocol"].map(is_retraining)]
    for (net, crit), sub in at.groupby(["network", "criterion"]):
        r = bootstrap_threshold(sub.rename(columns={"psi_test": "psi"}), level, "psi", "protocol", n_boot, confidence)
        possible = float(sub["possible_links"].iloc[0])
        rows.append({"network": net, "criterion": crit, "level": level, "rho_c": r["value"], "lo": r["lo"], "hi": r["hi"],
                     "status": r["status"], "links": r["value"] * possible, "possible_links": possible})
    return pd.DataFrame(rows)


def rosenfeld(surface: pd.DataFrame, pretrain: pd.DataFrame, budget: int, eps: float, kappa: Any, eps_up: str,
              n_boot: int = 200, confidence: float = 0.95, notes: list[str] | None = None) -> pd.DataFrame:
    """The Rosenfeld et al. fit of test error vs density (best protocol at ``budget``), per
    (network, criterion), with the dense network as the point at density 1."""
    rows = []
    best = best_rows(surface, budget)
    for (net, crit), sub in best.groupby(["network", "criterion"]):
        dense = pretrain[pretrain["network"] == net]
        table = pd.concat([sub[["seed", "density", "acc_test"]],
                           dense[["seed", "acc_test"]].assign(density=1.0)], ignore_index=True)
        table["error"] = 1.0 - table["acc_test"]
        n_classes = int(dense["n_classes"].iloc[0])
        span = float(dense["acc_test"].mean()) - 1.0 / n_classes
        try:
            fit = fit_with_intervals(table, kappa=None if kappa == "matched" else float(kappa),
                                     eps_up=1.0 - 1.0 / n_classes if eps_up == "chance" else None,
                                     n_boot=n_boot, confidence=confidence, kappa_from=(eps, span) if kappa == "matched" else None)
        except ConfigError as err:
            if notes is not None:
                notes.append(f"Rosenfeld fit of {net}/{crit} skipped: {err}")
            continue
        # a parameter at the edge of its search range: the data do not pin the law down
        at_bound = bool(not 0.051 < fit["gamma"] < 19.9 or not 1.01e-7 < fit["p"] < 9.9)
        rows.append({"network": net, "criterion": crit, **fit, "at_bound": at_bound,
                     "possible_links": float(sub["possible_links"].iloc[0])})
    return pd.DataFrame(rows)


def _psi_at(means: pd.DataFrame, **match: Any) -> pd.Series:
    sel = means
    for k, v in match.items():
        sel = sel[sel[k] == v]
    return sel


def irreversibility(surface: pd.DataFrame, budgets: list[int], eps: float, loops: pd.DataFrame | None = None) -> pd.DataFrame:
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
        raw = surface[(surface["network"] == net) & (surface["criterion"] == crit) & (surface["density"] == d)
                      & (surface["mask"] == "pruned") & (surface["budget"] == 0)]
        floor = raw[raw["protocol"].map(is_retraining)].groupby("seed")["hard_floor"].max()
        ctrl = _psi_at(means, network=net, criterion=crit, density=d, budget=b_max)
        controls = ctrl[ctrl["mask"] != "pruned"]["psi_test"]
        dst = ctrl[(ctrl["mask"] == "pruned") & ~ctrl["protocol"].map(is_retraining)]["psi_test"]
        row = {"network": net, "criterion": crit, "density": d, "psi_best": float(best["psi_test"]),
               "best_protocol": best["protocol"], "recovered": bool(best["psi_test"] >= level),
               "hard_floor": float(floor.mean()) if len(floor) else np.nan, "b_sat": b_sat, "gain": gain,
               "saturated": bool(np.isfinite(gain) and gain < SATURATION_GAIN),
               "protocols": int(len(top)), "protocols_failing": int((top["psi_test"] < level).sum()),
               "psi_controls": float(controls.max()) if len(controls) else np.nan,
               "psi_dst": float(dst.max()) if len(dst) else np.nan, "psi_regrown": np.nan, "psi_down": np.nan}
        row["all_protocols_fail"] = row["protocols_failing"] == row["protocols"]
        if loops is not None and len(loops) and crit == "magnitude":  # the sweeps prune by magnitude
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
        ["recovered", "hard floor", "not saturated", "mask-specific"], default="irreversible")
    return out.sort_values(["network", "criterion", "density"], ascending=[True, True, False]).reset_index(drop=True)


def hysteresis(down: pd.DataFrame, up: pd.DataFrame, pretrain: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
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
            us = pd.concat([us[["density", "psi_test"]], pd.DataFrame({"density": [bottom["density"]], "psi_test": [bottom["psi_test"]]})])
            merged = ds[["density", "psi_test"]].merge(us, on="density", suffixes=("_down", "_up")).sort_values("density")
            x = np.log10(merged["density"].to_numpy())
            gap = (merged["psi_test_down"] - merged["psi_test_up"]).to_numpy()
            area = float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(x))) if len(x) > 1 else np.nan
            per_seed.append({"network": net, "rule": rule, "seed": seed, "area": area, "gap_top": float(gap[-1])})
            loops.append(merged.assign(network=net, rule=rule, seed=seed))
    if not loops:
        return pd.DataFrame(), pd.DataFrame()
    loop = pd.concat(loops, ignore_index=True)
    loop = loop.groupby(["network", "rule", "density"]).agg(
        psi_down=("psi_test_down", "mean"), psi_down_std=("psi_test_down", "std"),
        psi_up=("psi_test_up", "mean"), psi_up_std=("psi_test_up", "std"), n_seeds=("seed", "nunique")).reset_index()
    ps = pd.DataFrame(per_seed)
    areas = ps.groupby(["network", "rule"]).agg(area=("area", "mean"), area_std=("area", "std"),
                                                 gap_top=("gap_top", "mean"), n_seeds=("seed", "nunique")).reset_index()
    return loop, areas


def spectra(surface: pd.DataFrame) -> pd.DataFrame:
    """Seed means of the spectral measures per (network, criterion, mask, protocol, density, budget)."""
    cols = [c for c in surface.columns if c in ("overlap_min", "overlap_mean", "retained_min") or
            (c.startswith("spec/") and c.rsplit("/", 1)[-1] in ("overlap", "effective_rank", "modes90",
                                                                  "modes_above_null", "retained", "sigma_max"))]
    part = surface.dropna(subset=["overlap_min"]) if "overlap_min" in surface else surface.iloc[0:0]
    if part.empty:
        return pd.DataFrame()
    return part.groupby([*GROUP, "density", "budget"])[cols].mean().reset_index()


def principle(surface: pd.DataFrame, fmins: pd.DataFrame, n_boot: int = 200, confidence: float = 0.95) -> pd.DataFrame:
    """Does the density where the dominant modes are lost coincide with F_min?

    Per (network, criterion): ``rho_half`` = lowest density at which the least overlap over
    layers (``overlap_min``, right after pruning, B = 0, trained weights) is ≥ ½ there and at
    every higher density, with a bootstrap interval over seeds; next to the best protocol's
    F_min (test split), their ratio and whether the intervals overlap.
    """
    rows = []
    part = surface[(surface["budget"] == 0) & (surface["mask"] == "pruned") & (surface["protocol"].isin(["finetune", "lr-rewind"]))]
    if "overlap_min" not in part or part["overlap_min"].isna().all():
        return pd.DataFrame()
    part = part.dropna(subset=["overlap_min"]).groupby(["network", "criterion", "seed", "density"])["overlap_min"].mean().reset_index()
    for (net, crit), sub in part.groupby(["network", "criterion"]):
        r = bootstrap_threshold(sub, 0.5, "overlap_min", None, n_boot, confidence)
        f = fmins[(fmins["network"] == net) & (fmins["criterion"] == crit) & (fmins["protocol"] == "best")
                  & (fmins["split"] == "test") & (fmins["mask"] == "pruned")]
        fv = f.iloc[0] if len(f) else None
        row = {"network": net, "criterion": crit, "rho_half": r["value"], "rho_half_lo": r["lo"], "rho_half_hi": r["hi"],
               "rho_half_status": r["status"], "fmin": fv["fmin"] if fv is not None else np.nan,
               "fmin_lo": fv["lo"] if fv is not None else np.nan, "fmin_hi": fv["hi"] if fv is not None else np.nan}
        row["ratio"] = row["rho_half"] / row["fmin"] if row["fmin"] else np.nan
        row["intervals_overlap"] = bool(max(row["rho_half_lo"], row["fmin_lo"]) <= min(row["rho_half_hi"], row["fmin_hi"]))
        rows.append(row)
    return pd.DataFrame(rows)


def equivalents(equivalent: pd.DataFrame, surface: pd.DataFrame, pretrain: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Dense networks with the same number of weights vs the sparse network at each density (largest budget)."""
    if equivalent.empty:
        return pd.DataFrame()
    eq = with_psi(equivalent[equivalent["budget"] == budget], pretrain)
    eq = eq.groupby(["network", "density"]).agg(psi_dense_equivalent=("psi_test", "mean"),
                                                equivalent_links=("links", "mean")).reset_index()
    best = best_rows(surface[surface["criterion"] == "magnitude"], budget)
    sparse = best.groupby(["network", "density"]).agg(psi_sparse=("psi_test", "mean"), sparse_links=("links", "mean"),
                                                      protocol=("protocol", "first")).reset_index()
    return eq.merge(sparse, on=["network", "density"], how="left").sort_values(["network", "density"], ascending=[True, False])


def analyse(raw: dict[str, pd.DataFrame], eps: float = 0.01, kappa: Any = "matched", eps_up: str = "chance",
            n_boot: int = 200, confidence: float = 0.95, budgets: list[int] | None = None) -> dict[str, Any]:
    """Every table of the study from its raw tables (see the module docstring).

    Returns
    -------
    dict
        ``pretrain`` (dense networks), ``surface`` (per seed), ``surface_means``, ``fmin``,
        ``collapse`` (where Ψ falls below ½), ``rosenfeld``, ``irreversibility``, ``loops``, ``areas``, ``spectra``, ``principle``,
        ``equivalent``, ``eps``, ``budgets`` and ``notes`` (list of str: parts skipped and why).
    """
    notes: list[str] = []
    pre = raw.get("pretrain", pd.DataFrame())
    retrain = raw.get("retrain", pd.DataFrame())
    out: dict[str, Any] = {"pretrain": pre, "notes": notes, "eps": eps, "budgets": sorted(budgets or [])}
    if pre.empty or retrain.empty or "acc_test" not in retrain:
        notes.append("no finished retraining runs in the store yet; run the study first")
        return out
    budgets = sorted(budgets or retrain["budget"].unique().tolist())
    out["budgets"] = budgets
    b_max = int(max(budgets))
    surface = with_psi(retrain, pre)
    surface = surface[surface["budget"].isin(budgets)]
    out["surface"] = surface
    out["surface_means"] = surface_means(surface)
    out["fmin"] = fmin(surface, eps, b_max, n_boot, confidence)
    out["collapse"] = collapse(surface, b_max, 0.5, n_boot, confidence)
    out["rosenfeld"] = rosenfeld(surface, pre, b_max, eps, kappa, eps_up, n_boot, confidence, notes)
    loops, areas = hysteresis(raw.get("down", pd.DataFrame()), raw.get("up", pd.DataFrame()), pre)
    out["loops"], out["areas"] = loops, areas
    out["irreversibility"] = irreversibility(surface, budgets, eps, loops)
    out["spectra"] = spectra(surface)
    out["principle"] = principle(surface, out["fmin"], n_boot, confidence)
    out["equivalent"] = equivalents(raw.get("equivalent", pd.DataFrame()), surface, pre, b_max)
    return out
