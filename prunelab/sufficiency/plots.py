"""Figures of a sufficiency study, from the tables of :func:`prunelab.sufficiency.tables.analyse`.

Every function takes tables, writes one PNG and returns its path (None when the table is empty);
all draw in the package style (:mod:`prunelab.core.style`: fonts, sizes, one colour per protocol,
criterion or regrowth rule on every page).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.core import style  # noqa: E402
from prunelab.core.style import color_for  # noqa: E402

PROTOCOL_ORDER = ("finetune", "rewind", "lr-rewind", "scratch", "dst")
#: one colour per protocol, criterion, mask control and regrowth rule (Okabe-Ito); others hashed
COLORS = {
    "finetune": "#E69F00",
    "rewind": "#009E73",
    "lr-rewind": "#0072B2",
    "scratch": "#D55E00",
    "dst": "#CC79A7",
    "magnitude": "#0072B2",
    "random": style.GREY,
    "mode_preserving": "#D55E00",
    "er": style.GREY,
    "rewired": "#56B4E9",
    "ch3l3": "#D55E00",
    "rigl": "#009E73",
    "l3": "#CC79A7",
    "best": "#000000",
}


def _color(name: str) -> str:
    """The colour of a protocol, criterion, mask control or rule (its first word decides)."""
    key = str(name).split(" ")[0].rstrip(",")
    return COLORS.get(key, color_for(name))


def _save(fig: plt.Figure, path: Path) -> Path:
    return style.save(fig, path)


def _styled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Draw ``fn``'s figure inside :func:`prunelab.core.style.context`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style.context():
            return fn(*args, **kwargs)

    return wrapper


def _panels(n: int, width: float, height: float, **kwargs) -> tuple[plt.Figure, list[plt.Axes]]:
    """One row of ``n`` panels, each ``width`` × ``height`` inches."""
    fig, axes = plt.subplots(
        1, n, figsize=(max(width, style.PANEL_WIDTH) * n, height), squeeze=False, **kwargs
    )
    return fig, list(axes[0])


def _logx(ax: plt.Axes) -> None:
    """Log density axis without minor tick labels (they overlap on short ranges)."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _fmin_of(
    fmin: pd.DataFrame | None, network: str, criterion: str = "magnitude", protocol: str = "best"
) -> float:
    if fmin is None or fmin.empty:
        return np.nan
    sel = fmin[
        (fmin.network == network)
        & (fmin.criterion == criterion)
        & (fmin.protocol == protocol)
        & (fmin["mask"] == "pruned")
        & (fmin.split == "test")
    ]
    return float(sel.fmin.iloc[0]) if len(sel) and sel.status.iloc[0] == "bracketed" else np.nan


@_styled
def psi_heatmaps(
    means: pd.DataFrame,
    network: str,
    path: Path,
    criterion: str = "magnitude",
    fmin: pd.DataFrame | None = None,
    split: str = "test",
) -> Path | None:
    """Ψ over (log10 density, budget), one panel per protocol (pruned masks), F_min dashed."""
    sub = means[
        (means.network == network) & (means.criterion == criterion) & (means["mask"] == "pruned")
    ]
    protocols = [p for p in PROTOCOL_ORDER if p in set(sub.protocol)] + sorted(
        set(sub.protocol) - set(PROTOCOL_ORDER)
    )
    if not protocols:
        return None
    fig, axes = _panels(len(protocols), 3.2, 3.0, sharey=True)
    budgets = sorted(sub.budget.unique())
    dens = np.sort(sub.density.unique())
    fm = _fmin_of(fmin, network, criterion)
    for ax, proto in zip(axes, protocols, strict=True):
        grid = (
            sub[sub.protocol == proto]
            .pivot_table(index="budget", columns="density", values=f"psi_{split}")
            .reindex(index=budgets, columns=dens)
        )
        x = np.log10(dens)
        mid = 0.5 * (x[1:] + x[:-1]) if x.size > 1 else np.array([])
        edges = np.concatenate(
            [
                [x[0] - (mid[0] - x[0] if mid.size else 0.5)],
                mid,
                [x[-1] + (x[-1] - mid[-1] if mid.size else 0.5)],
            ]
        )
        im = ax.pcolormesh(
            edges,
            np.arange(len(budgets) + 1) - 0.5,
            grid.to_numpy(),
            vmin=0.0,
            vmax=1.05,
            cmap="viridis",
        )
        if np.isfinite(fm):
            ax.axvline(np.log10(fm), color="w", ls="--", lw=1)
        ax.set_title(proto)
        ax.set_xlabel("log10 density")
        ax.set_yticks(range(len(budgets)), [str(b) for b in budgets])
    axes[0].set_ylabel("budget B (epochs)")
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"Ψ ({split})")
    fig.suptitle(f"{network}: Ψ(ρ, B), {criterion} pruning", y=1.04)
    return _save(fig, path)


@_styled
def psi_curves(
    means: pd.DataFrame, path: Path, budget: int, eps: float, criterion: str = "magnitude"
) -> Path | None:
    """Ψ at the largest budget vs density, one panel per network, one line per protocol and mask."""
    sub = means[(means.budget == budget) & (means.criterion == criterion)]
    nets = list(dict.fromkeys(sub.network))
    if not nets:
        return None
    fig, axes = _panels(len(nets), 3.6, 3.2, sharey=True)
    for ax, net in zip(axes, nets, strict=True):
        for (proto, mask), g in sub[sub.network == net].groupby(["protocol", "mask"]):
            g = g.sort_values("density")
            label = proto if mask == "pruned" else f"{mask} mask, {proto}"
            ax.errorbar(
                g.density,
                g.psi_test,
                yerr=g.psi_test_std,
                marker="o",
                ms=3,
                capsize=2,
                label=label,
                ls="-" if mask == "pruned" else ":",
                color=_color(proto if mask == "pruned" else mask),
            )
        ax.axhline(1 - eps, color="k", lw=0.8, ls="--")
        _logx(ax)
        ax.set_xlabel("density ρ")
        ax.set_title(net)
        ax.legend(fontsize=6)  # panels differ in their protocols
    axes[0].set_ylabel(f"Ψ after B = {budget} epochs (test)")
    return _save(fig, path)


@_styled
def fmin_vs_size(fmin: pd.DataFrame, path: Path, criterion: str = "magnitude") -> Path | None:
    """F_min (density, left) and surviving links at F_min (right) per network, with intervals."""
    sel = fmin[(fmin.criterion == criterion) & (fmin["mask"] == "pruned") & (fmin.split == "test")]
    if sel.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    protos = [p for p in ("best", *PROTOCOL_ORDER) if p in set(sel.protocol)]
    nets = list(sel.sort_values("possible_links").network.unique())
    x = np.arange(len(nets))
    for j, proto in enumerate(protos):
        g = sel[sel.protocol == proto].set_index("network").reindex(nets)
        off = (j - (len(protos) - 1) / 2) * 0.12
        for ax, (v, lo, hi) in zip(
            axes, (("fmin", "lo", "hi"), ("links", "links_lo", "links_hi")), strict=True
        ):
            err = np.vstack([g[v] - g[lo], g[hi] - g[v]]).clip(min=0)
            ax.errorbar(
                x + off,
                g[v],
                yerr=np.nan_to_num(err),
                marker="o" if proto == "best" else ".",
                ls="none",
                capsize=3,
                label=proto,
                ms=7 if proto == "best" else 4,
                color=_color(proto),
            )
    for ax, label in zip(axes, ("F_min (density)", "links at F_min"), strict=True):
        ax.set_yscale("log")
        ax.set_xticks(x, nets, rotation=20)
        ax.set_ylabel(label)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"F_min ({criterion} pruning), intervals: bootstrap over seeds")
    return _save(fig, path)


@_styled
def rosenfeld_fits(
    surface_best: pd.DataFrame,
    pretrain: pd.DataFrame,
    fits: pd.DataFrame,
    path: Path,
    fmin: pd.DataFrame | None = None,
    criterion: str = "magnitude",
) -> Path | None:
    """Test error vs density (best protocol, seed means) with the fitted Rosenfeld law, d_κ and F_min."""
    fits = fits[fits.criterion == criterion] if len(fits) else fits
    if fits is None or fits.empty:
        return None
    nets = list(fits.network)
    fig, axes = _panels(len(nets), 3.6, 3.2)
    for ax, net in zip(axes, nets, strict=True):
        pts = surface_best[(surface_best.network == net) & (surface_best.criterion == criterion)]
        dense = pretrain[pretrain.network == net]
        g = pts.groupby("density")["acc_test"].agg(["mean", "std"])
        ax.errorbar(
            g.index,
            1 - g["mean"],
            yerr=g["std"],
            marker="o",
            ms=3,
            ls="none",
            capsize=2,
            label="best protocol",
        )
        ax.plot([1.0], [1 - dense.acc_test.mean()], "ks", ms=4, label="dense")
        f = fits[fits.network == net].iloc[0]
        d = np.geomspace(min(g.index.min(), 1e-4), 1.0, 200)
        from prunelab.sufficiency.rosenfeld import rosenfeld_error

        ax.plot(
            d,
            rosenfeld_error(d, f.eps_np, f.eps_up, f.p, f.gamma),
            "r-",
            lw=1,
            label=f"fit γ={f.gamma:.2f}",
        )
        if np.isfinite(f.d_kappa):
            ax.axvline(f.d_kappa, color="r", ls=":", lw=1, label=f"d_κ={f.d_kappa:.3g}")
        fm = _fmin_of(fmin, net, criterion)
        if np.isfinite(fm):
            ax.axvline(fm, color="k", ls="--", lw=1, label=f"F_min={fm:.3g}")
        _logx(ax)
        ax.set_yscale("log")
        ax.set_xlabel("density")
        ax.set_title(net)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("test error")
    return _save(fig, path)


@_styled
def hysteresis_loops(loops: pd.DataFrame, path: Path, eps: float) -> Path | None:
    """Ψ on the way down (pruning) and up (regrowth, one line per rule) vs density."""
    if loops is None or loops.empty:
        return None
    nets = list(dict.fromkeys(loops.network))
    fig, axes = _panels(len(nets), 4.2, 3.3)
    for ax, net in zip(axes, nets, strict=True):
        sub = loops[loops.network == net]
        first = sub[sub.rule == sub.rule.iloc[0]].sort_values("density")
        ax.errorbar(
            first.density,
            first.psi_down,
            yerr=first.psi_down_std,
            color="k",
            marker="v",
            ms=4,
            capsize=2,
            label="down: prune + retrain",
        )
        for rule, g in sub.groupby("rule"):
            g = g.sort_values("density")
            ax.errorbar(
                g.density,
                g.psi_up,
                yerr=g.psi_up_std,
                marker="^",
                ms=4,
                capsize=2,
                label=f"up: regrow {rule}",
                color=_color(rule),
            )
        ax.axhline(1 - eps, color="gray", lw=0.8, ls="--")
        _logx(ax)
        ax.set_xlabel("density ρ")
        ax.set_title(f"{net}: hysteresis")
    axes[0].set_ylabel("Ψ (test)")
    axes[-1].legend(fontsize=7)
    return _save(fig, path)


@_styled
def spectral_vs_density(
    spectra: pd.DataFrame,
    path: Path,
    fmin: pd.DataFrame | None = None,
    criterion: str = "magnitude",
) -> Path | None:
    """Least overlap over layers, retained share and layer-0 effective rank vs density (B = 0, and
    the largest budget under LR rewinding), F_min dashed."""
    if spectra is None or spectra.empty:
        return None
    sub = spectra[
        (spectra.criterion == criterion)
        & (spectra["mask"] == "pruned")
        & spectra.protocol.isin(["lr-rewind", "finetune"])
    ]
    nets = list(dict.fromkeys(sub.network))
    if not nets:
        return None
    fig, axes = plt.subplots(
        3, len(nets), figsize=(3.6 * len(nets), 7.5), squeeze=False, sharex="col"
    )
    b_max = int(sub.budget.max())
    for j, net in enumerate(nets):
        s = sub[sub.network == net]
        for budget, ls in ((0, "-"), (b_max, ":")):
            g = s[
                (s.budget == budget)
                & (s.protocol == ("lr-rewind" if "lr-rewind" in set(s.protocol) else "finetune"))
            ]
            g = g.groupby("density").mean(numeric_only=True).sort_index()
            if g.empty:
                continue
            axes[0][j].plot(
                g.index,
                g["overlap_min"],
                ls,
                marker="o",
                ms=3,
                label=f"B={budget}: least over layers",
            )
            axes[0][j].plot(
                g.index,
                g["overlap_mean"],
                ls,
                marker=".",
                ms=3,
                alpha=0.6,
                label=f"B={budget}: mean",
            )
            axes[1][j].plot(g.index, g["retained_min"], ls, marker="o", ms=3, label=f"B={budget}")
            er = [c for c in g.columns if c.endswith("/effective_rank")]
            for c in er:
                axes[2][j].plot(
                    g.index, g[c], ls, marker=".", ms=3, label=f"B={budget} {c.split('/')[1]}"
                )
        fm = _fmin_of(fmin, net, criterion)
        for row in range(3):
            if np.isfinite(fm):
                axes[row][j].axvline(fm, color="k", ls="--", lw=1)
            _logx(axes[row][j])
        axes[0][j].axhline(0.5, color="gray", lw=0.8)
        axes[0][j].set_title(net)
        axes[2][j].set_xlabel("density ρ")
    axes[0][0].set_ylabel("top-k subspace overlap")
    axes[1][0].set_ylabel("retained share of top-k σ")
    axes[2][0].set_ylabel("effective rank")
    for row in range(3):
        axes[row][-1].legend(fontsize=6)
    return _save(fig, path)


@_styled
def criteria_curves(
    means: pd.DataFrame, path: Path, budget: int, eps: float, protocol: str = "lr-rewind"
) -> Path | None:
    """Ψ after ``budget`` epochs vs density for each pruning criterion at equal density (one protocol)."""
    sub = means[
        (means.budget == budget) & (means.protocol == protocol) & (means["mask"] == "pruned")
    ]
    nets = [n for n in dict.fromkeys(sub.network) if sub[sub.network == n].criterion.nunique() > 1]
    if not nets:
        return None
    fig, axes = _panels(len(nets), 3.8, 3.2, sharey=True)
    for ax, net in zip(axes, nets, strict=True):
        for crit, g in sub[sub.network == net].groupby("criterion"):
            g = g.sort_values("density")
            ax.errorbar(
                g.density,
                g.psi_test,
                yerr=g.psi_test_std,
                marker="o",
                ms=3,
                capsize=2,
                label=crit,
                color=_color(crit),
            )
        ax.axhline(1 - eps, color="k", lw=0.8, ls="--")
        _logx(ax)
        ax.set_xlabel("density ρ")
        ax.set_title(f"{net} ({protocol})")
    axes[0].set_ylabel(f"Ψ after B = {budget} (test)")
    axes[-1].legend(fontsize=7)
    return _save(fig, path)


@_styled
def equivalent_plot(eq: pd.DataFrame, path: Path, eps: float) -> Path | None:
    """Ψ of the sparse network and of a dense one with as many weights, vs the number of weights."""
    if eq is None or eq.empty:
        return None
    nets = list(dict.fromkeys(eq.network))
    fig, axes = _panels(len(nets), 4, 3.2)
    for ax, net in zip(axes, nets, strict=True):
        g = eq[eq.network == net].sort_values("sparse_links")
        ax.plot(g.sparse_links, g.psi_sparse, "o-", ms=3, label="pruned sparse (best protocol)")
        ax.plot(g.equivalent_links, g.psi_dense_equivalent, "s-", ms=3, label="dense, same weights")
        ax.axhline(1 - eps, color="k", lw=0.8, ls="--")
        _logx(ax)
        ax.set_xlabel("weights (links)")
        ax.set_title(net)
    axes[0].set_ylabel("Ψ (test)")
    axes[-1].legend(fontsize=7)
    return _save(fig, path)
