"""The analysis of a sufficiency study: pure functions from stored rows to result tables.

Input (:func:`analyse`): the long tables the study collects from the store, one row per item and
budget (``retrain``, ``equivalent``) or step (``down``, ``up``), and one per (network, seed) for
``pretrain`` with the dense accuracies. Ψ is the normalised accuracy of
:func:`prunelab.phase.order.normalized_accuracy` against the dense network of the same network and
seed, on the test and on the training split; it is not clipped (a retrained sparse network may
beat its dense parent, Ψ > 1).

The graded irreversibility tests of ``docs/definitions.md`` are computed per (network, criterion,
density) by :func:`~prunelab.sufficiency.grades.irreversibility`; hysteresis loops and their areas by
:func:`~prunelab.sufficiency.grades.hysteresis` (both re-exported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError
from prunelab.sufficiency.fmin import bootstrap_threshold, f_min_table
from prunelab.sufficiency.grades import SATURATION_GAIN, hysteresis, irreversibility
from prunelab.sufficiency.psi import (
    GROUP,
    SPLITS,
    best_rows,
    is_retraining,
    surface_means,
    with_psi,
)
from prunelab.sufficiency.rosenfeld import fit_with_intervals

#: the analysis functions, and the Ψ helpers and graded tests they build on (re-exported)
__all__ = [
    "GROUP",
    "SATURATION_GAIN",
    "SPLITS",
    "analyse",
    "best_rows",
    "collapse",
    "equivalents",
    "fmin",
    "hysteresis",
    "irreversibility",
    "is_retraining",
    "principle",
    "rosenfeld",
    "spectra",
    "surface_means",
    "with_psi",
]


def fmin(
    surface: pd.DataFrame, eps: float, budget: int, n_boot: int = 200, confidence: float = 0.95
) -> pd.DataFrame:
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
        blocks += [
            ((n, c, "pruned", "best"), sub)
            for (n, c), sub in at[
                (at["mask"] == "pruned") & at["protocol"].map(is_retraining)
            ].groupby(["network", "criterion"])
        ]
        for key, sub in blocks:
            possible = float(sub["possible_links"].iloc[0])
            r = f_min_table(
                sub.rename(columns={f"psi_{split}": "psi"}),
                eps,
                "psi",
                "protocol",
                n_boot,
                confidence,
                seed=0,
                possible_links=possible,
            )
            rows.append(
                {
                    **dict(zip(GROUP, key, strict=True)),
                    "split": split,
                    "fmin": r["value"],
                    "lo": r["lo"],
                    "hi": r["hi"],
                    "status": r["status"],
                    "above": r["above"],
                    "below": r["below"],
                    "links": r["links"],
                    "links_lo": r["links_lo"],
                    "links_hi": r["links_hi"],
                    "n_seeds": r["n_seeds"],
                    "possible_links": possible,
                }
            )
    return pd.DataFrame(rows)


def collapse(
    surface: pd.DataFrame,
    budget: int,
    level: float = 0.5,
    n_boot: int = 200,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Where Ψ of the best retraining protocol falls below ``level`` (default ½), per (network,
    criterion), with a bootstrap interval over seeds: the collapse density ρ_c, to compare with
    F_min (how sharp the loss is)."""
    rows = []
    at = surface[
        (surface["budget"] == budget)
        & (surface["mask"] == "pruned")
        & surface["protocol"].map(is_retraining)
    ]
    for (net, crit), sub in at.groupby(["network", "criterion"]):
        r = bootstrap_threshold(
            sub.rename(columns={"psi_test": "psi"}), level, "psi", "protocol", n_boot, confidence
        )
        possible = float(sub["possible_links"].iloc[0])
        rows.append(
            {
                "network": net,
                "criterion": crit,
                "level": level,
                "rho_c": r["value"],
                "lo": r["lo"],
                "hi": r["hi"],
                "status": r["status"],
                "links": r["value"] * possible,
                "possible_links": possible,
            }
        )
    return pd.DataFrame(rows)


def rosenfeld(
    surface: pd.DataFrame,
    pretrain: pd.DataFrame,
    budget: int,
    eps: float,
    kappa: Any,
    eps_up: str,
    n_boot: int = 200,
    confidence: float = 0.95,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """The Rosenfeld et al. fit of test error vs density (best protocol at ``budget``), per
    (network, criterion), with the dense network as the point at density 1."""
    rows = []
    best = best_rows(surface, budget)
    for (net, crit), sub in best.groupby(["network", "criterion"]):
        dense = pretrain[pretrain["network"] == net]
        table = pd.concat(
            [sub[["seed", "density", "acc_test"]], dense[["seed", "acc_test"]].assign(density=1.0)],
            ignore_index=True,
        )
        table["error"] = 1.0 - table["acc_test"]
        n_classes = int(dense["n_classes"].iloc[0])
        span = float(dense["acc_test"].mean()) - 1.0 / n_classes
        try:
            fit = fit_with_intervals(
                table,
                kappa=None if kappa == "matched" else float(kappa),
                eps_up=1.0 - 1.0 / n_classes if eps_up == "chance" else None,
                n_boot=n_boot,
                confidence=confidence,
                kappa_from=(eps, span) if kappa == "matched" else None,
            )
        except ConfigError as err:
            if notes is not None:
                notes.append(f"Rosenfeld fit of {net}/{crit} skipped: {err}")
            continue
        # a parameter at the edge of its search range: the data do not pin the law down
        at_bound = bool(not 0.051 < fit["gamma"] < 19.9 or not 1.01e-7 < fit["p"] < 9.9)
        rows.append(
            {
                "network": net,
                "criterion": crit,
                **fit,
                "at_bound": at_bound,
                "possible_links": float(sub["possible_links"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def spectra(surface: pd.DataFrame) -> pd.DataFrame:
    """Seed means of the spectral measures per (network, criterion, mask, protocol, density, budget)."""
    cols = [
        c
        for c in surface.columns
        if c in ("overlap_min", "overlap_mean", "retained_min")
        or (
            c.startswith("spec/")
            and c.rsplit("/", 1)[-1]
            in ("overlap", "effective_rank", "modes90", "modes_above_null", "retained", "sigma_max")
        )
    ]
    part = surface.dropna(subset=["overlap_min"]) if "overlap_min" in surface else surface.iloc[0:0]
    if part.empty:
        return pd.DataFrame()
    return part.groupby([*GROUP, "density", "budget"])[cols].mean().reset_index()


def principle(
    surface: pd.DataFrame, fmins: pd.DataFrame, n_boot: int = 200, confidence: float = 0.95
) -> pd.DataFrame:
    """Does the density where the dominant modes are lost coincide with F_min?

    Per (network, criterion): ``rho_half`` = lowest density at which the least overlap over
    layers (``overlap_min``, right after pruning, B = 0, trained weights) is ≥ ½ there and at
    every higher density, with a bootstrap interval over seeds; next to the best protocol's
    F_min (test split), their ratio and whether the intervals overlap.
    """
    rows = []
    part = surface[
        (surface["budget"] == 0)
        & (surface["mask"] == "pruned")
        & (surface["protocol"].isin(["finetune", "lr-rewind"]))
    ]
    if "overlap_min" not in part or part["overlap_min"].isna().all():
        return pd.DataFrame()
    part = (
        part.dropna(subset=["overlap_min"])
        .groupby(["network", "criterion", "seed", "density"])["overlap_min"]
        .mean()
        .reset_index()
    )
    for (net, crit), sub in part.groupby(["network", "criterion"]):
        r = bootstrap_threshold(sub, 0.5, "overlap_min", None, n_boot, confidence)
        f = fmins[
            (fmins["network"] == net)
            & (fmins["criterion"] == crit)
            & (fmins["protocol"] == "best")
            & (fmins["split"] == "test")
            & (fmins["mask"] == "pruned")
        ]
        fv = f.iloc[0] if len(f) else None
        row = {
            "network": net,
            "criterion": crit,
            "rho_half": r["value"],
            "rho_half_lo": r["lo"],
            "rho_half_hi": r["hi"],
            "rho_half_status": r["status"],
            "fmin": fv["fmin"] if fv is not None else np.nan,
            "fmin_lo": fv["lo"] if fv is not None else np.nan,
            "fmin_hi": fv["hi"] if fv is not None else np.nan,
        }
        row["ratio"] = row["rho_half"] / row["fmin"] if row["fmin"] else np.nan
        row["intervals_overlap"] = bool(
            max(row["rho_half_lo"], row["fmin_lo"]) <= min(row["rho_half_hi"], row["fmin_hi"])
        )
        rows.append(row)
    return pd.DataFrame(rows)


def equivalents(
    equivalent: pd.DataFrame, surface: pd.DataFrame, pretrain: pd.DataFrame, budget: int
) -> pd.DataFrame:
    """Dense networks with the same number of weights vs the sparse network at each density (largest budget)."""
    if equivalent.empty:
        return pd.DataFrame()
    eq = with_psi(equivalent[equivalent["budget"] == budget], pretrain)
    eq = (
        eq.groupby(["network", "density"])
        .agg(psi_dense_equivalent=("psi_test", "mean"), equivalent_links=("links", "mean"))
        .reset_index()
    )
    best = best_rows(surface[surface["criterion"] == "magnitude"], budget)
    sparse = (
        best.groupby(["network", "density"])
        .agg(
            psi_sparse=("psi_test", "mean"),
            sparse_links=("links", "mean"),
            protocol=("protocol", "first"),
        )
        .reset_index()
    )
    return eq.merge(sparse, on=["network", "density"], how="left").sort_values(
        ["network", "density"], ascending=[True, False]
    )


def analyse(
    raw: dict[str, pd.DataFrame],
    eps: float = 0.01,
    kappa: Any = "matched",
    eps_up: str = "chance",
    n_boot: int = 200,
    confidence: float = 0.95,
    budgets: list[int] | None = None,
) -> dict[str, Any]:
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
    out: dict[str, Any] = {
        "pretrain": pre,
        "notes": notes,
        "eps": eps,
        "budgets": sorted(budgets or []),
    }
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
