"""Ψ of a sufficiency study's stored rows: the normalised accuracy against the same seed's dense
network, seed means over the surface, and the best retraining protocol per density."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunelab.phase.order import normalized_accuracy
from prunelab.sufficiency.retrain import PROTOCOLS

SPLITS = ("test", "train")
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
    dense = pretrain[
        ["network", "seed", "acc_test", "acc_train", "n_classes", "possible_links"]
    ].rename(columns={"acc_test": "dense_test", "acc_train": "dense_train"})
    out = df.merge(dense, on=["network", "seed"], how="inner")
    for split in SPLITS:
        out[f"psi_{split}"] = [
            normalized_accuracy(a, d, int(c)) if np.isfinite(a) else np.nan
            for a, d, c in zip(
                out[f"acc_{split}"], out[f"dense_{split}"], out["n_classes"], strict=True
            )
        ]
    return out


def is_retraining(protocol: str) -> bool:
    """Whether a protocol retrains the pruned mask (and so competes for the best protocol)."""
    return PROTOCOLS.get(protocol).retraining if protocol in PROTOCOLS else True


def surface_means(surface: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count of Ψ (test, train) per (network, criterion, mask, protocol, density, budget)."""
    g = surface.groupby([*GROUP, "density", "budget"], sort=True)
    out = g.agg(
        psi_test=("psi_test", "mean"),
        psi_test_std=("psi_test", "std"),
        psi_train=("psi_train", "mean"),
        psi_train_std=("psi_train", "std"),
        acc_test=("acc_test", "mean"),
        n_seeds=("seed", "nunique"),
    )
    return out.reset_index()


def best_rows(surface: pd.DataFrame, budget: int, split: str = "test") -> pd.DataFrame:
    """Per-seed rows at ``budget`` of the protocol that is best (seed mean) at each density.

    Only pruned masks and retraining protocols compete; one block per (network, criterion).
    """
    part = surface[
        (surface["budget"] == budget)
        & (surface["mask"] == "pruned")
        & surface["protocol"].map(is_retraining)
    ]
    if part.empty:
        return part
    means = (
        part.groupby(["network", "criterion", "density", "protocol"])[f"psi_{split}"]
        .mean()
        .reset_index()
    )
    means = means.sort_values(f"psi_{split}", ascending=False, kind="stable")
    best = means.groupby(["network", "criterion", "density"]).head(1)[
        ["network", "criterion", "density", "protocol"]
    ]
    return part.merge(best, on=["network", "criterion", "density", "protocol"])
