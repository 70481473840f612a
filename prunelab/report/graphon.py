"""Figures and tables of the ``graphon`` and ``ntk`` studies (used by their reports and by the
reproduction page of Pham et al. 2025, arXiv:2510.17515).

Every figure function takes analysis tables (from ``Study.analyse(store)``) and a folder, writes
one PNG and returns its path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.core import style  # noqa: E402

METHOD_LABELS = {
    "random": "Random",
    "magnitude": "Magnitude",
    "snip": "SNIP",
    "grasp": "GraSP",
    "synflow": "SynFlow",
    "dense": "dense",
}


def label(method: str) -> str:
    """Display name of a PaI method."""
    return METHOD_LABELS.get(method, method)


def color(method: str) -> str:
    """The package colour of a method (:func:`prunelab.core.style.color_for` of its display name)."""
    return style.color_for(label(method))


def _styled(fn: Callable[..., Path]) -> Callable[..., Path]:
    """Draw in the package style (:func:`prunelab.core.style.context`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        with style.context():
            return fn(*args, **kwargs)

    return wrapper


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    return style.save(fig, path)


@_styled
def heatmaps(
    means: dict,
    methods: list[str],
    sparsities: list[float],
    layers: list[str],
    width: int,
    path: Path,
) -> Path:
    """Grid of mean graphon estimates: one row per method, one column per (layer, sparsity).

    Colour scales are per panel (0 to the panel's maximum) because densities differ by 30x
    across sparsities; each panel title gives the scale.
    """
    cols = [(layer, s) for layer in layers for s in sparsities]
    fig, axes = plt.subplots(
        len(methods),
        len(cols),
        figsize=(1.9 * len(cols) + 0.5, 1.9 * len(methods) + 0.4),
        squeeze=False,
    )
    for i, m in enumerate(methods):
        for j, (layer, s) in enumerate(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            g = means.get((m, s, layer, width))
            if g is None:
                ax.set_axis_off()
                continue
            g = g[~np.all(np.isnan(g), axis=1)][:, ~np.all(np.isnan(g), axis=0)]
            top = float(np.nanmax(g)) or 1.0
            ax.imshow(g, vmin=0, vmax=top, cmap="viridis", aspect="auto", interpolation="nearest")
            ax.set_title(f"{layer} {100 * s:g}% (max {top:.2g})", fontsize=7)
            if j == 0:
                ax.set_ylabel(label(m), fontsize=9)
    fig.suptitle(
        f"mean graphon estimates at width {width} (rows: inputs by out-degree, columns: outputs by in-degree)",
        fontsize=9,
    )
    return _save(fig, path)


@_styled
def convergence_plot(conv: pd.DataFrame, methods: list[str], path: Path) -> Path:
    """Distance to the widest estimate against width (log-log), one panel per sparsity.

    Lines: bias-corrected distances with basic-bootstrap intervals; crosses: plug-in distances.
    """
    sparsities = sorted(conv.sparsity.unique())
    fig, axes = plt.subplots(
        1, len(sparsities), figsize=(3.4 * len(sparsities), 3.2), squeeze=False
    )
    for ax, s in zip(axes[0], sparsities):
        for m in methods:
            for layer, ls in zip(sorted(conv.layer.unique()), style.LINE_STYLES):
                d = conv[
                    (conv.method == m) & (conv.sparsity == s) & (conv.layer == layer)
                ].sort_values("width")
                if not len(d):
                    continue
                c = color(m)
                err = [np.maximum(d.distance_bc - d.lo, 0), np.maximum(d.hi - d.distance_bc, 0)]
                line = ax.errorbar(
                    d.width,
                    d.distance_bc,
                    yerr=err,
                    ls=ls,
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"{label(m)} {layer}",
                )
                line[0].set_color(c)
                for bar in line[2]:
                    bar.set_color(c)
                ax.plot(d.width, d.distance, ls="none", marker="x", ms=3, color=c, alpha=0.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"sparsity {100 * s:g}%", fontsize=9)
        ax.set_xlabel("width n")
    axes[0][0].set_ylabel("distance to the widest estimate")
    axes[0][-1].legend(fontsize=6, ncol=1)
    return _save(fig, path)


@_styled
def empty_units_plot(
    units: pd.DataFrame, methods: list[str], layers: list[str], width: int, path: Path
) -> Path:
    """Fraction of emptied units (no link left) against sparsity at one width."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, col, what in zip(
        axes,
        ("empty_inputs", "empty_outputs"),
        ("inputs without out-links", "outputs without in-links"),
    ):
        for m in methods:
            d = units[(units.method == m) & (units.width == width) & units.layer.isin(layers)]
            d = d.groupby("sparsity")[col].mean()
            ax.plot(100 * d.index, d.values, marker="o", label=label(m))
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel(f"fraction of {what}")
        ax.set_title(f"hidden layers, width {width}", fontsize=9)
    axes[0].legend(fontsize=7)
    return _save(fig, path)


@_styled
def ntk_metrics_plot(spectra: pd.DataFrame, methods: list[str], path: Path) -> Path:
    """NTK metrics against sparsity: empirical (solid) and Graphon NTK (dashed); dense as a grey line."""
    names = (
        ("alpha", "power-law exponent α"),
        ("effective_rank", "effective rank tr/λ₁"),
        ("gap", "gap λ₁/λ₂"),
        ("top5_energy", "top-5 energy"),
    )
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    dense = spectra[spectra.method == "dense"]
    for ax, (key, title) in zip(axes, names):
        for m in methods:
            d = spectra[spectra.method == m].sort_values("sparsity")
            for kind, ls in (("emp", "-"), ("gntk", "--")):
                if f"{kind}/{key}" in d:
                    ax.plot(
                        100 * d.sparsity,
                        d[f"{kind}/{key}"],
                        ls,
                        marker="o",
                        ms=3,
                        color=color(m),
                        label=f"{label(m)} ({'empirical' if kind == 'emp' else 'Graphon NTK'})",
                    )
        for kind, ls in (("emp", "-"), ("gntk", "--")):
            if len(dense) and f"{kind}/{key}" in dense:
                ax.axhline(float(dense[f"{kind}/{key}"].iloc[0]), color=style.GREY, ls=ls, lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("sparsity (%)")
    axes[0].legend(fontsize=6)
    return _save(fig, path)


@_styled
def loss_curves_plot(loss: pd.DataFrame, methods: list[str], path: Path) -> Path:
    """Training loss over the first steps, mean over seeds (band: min-max), one panel per sparsity."""
    sparsities = sorted(loss.sparsity.unique())
    fig, axes = plt.subplots(
        1, len(sparsities), figsize=(3.0 * len(sparsities), 3.0), squeeze=False, sharey=True
    )
    for ax, s in zip(axes[0], sparsities):
        for m in methods:
            d = loss[(loss.method == m) & (loss.sparsity == s)].pivot_table(
                index="step", columns="seed", values="loss"
            )
            if not d.shape[1]:
                continue
            smooth = d.rolling(10, min_periods=1).mean()
            ax.plot(smooth.index, smooth.mean(axis=1), color=color(m), label=label(m))
            ax.fill_between(
                smooth.index,
                smooth.min(axis=1),
                smooth.max(axis=1),
                color=color(m),
                alpha=0.2,
                lw=0,
            )
        ax.set_title(f"sparsity {100 * s:g}%", fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("training loss (nats, 10-step mean)")
    axes[0][-1].legend(fontsize=7)
    return _save(fig, path)


@_styled
def spectra_plot(eig: pd.DataFrame, methods: list[str], sparsity: float, path: Path) -> Path:
    """Eigenvalues λ_k against k (log-log) at one sparsity, with the dense network's."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, kind, title in zip(axes, ("emp", "gntk"), ("empirical NTK", "Graphon NTK")):
        for m in ["dense", *methods]:
            d = eig[(eig.method == m) & ((eig.sparsity == sparsity) | (eig.method == "dense"))]
            if not len(d):
                continue
            lam = d.sort_values("k")[kind].to_numpy()
            lam = lam / lam[0]
            ax.loglog(
                np.arange(1, lam.size + 1)[lam > 0],
                lam[lam > 0],
                label=label(m),
                color=style.GREY if m == "dense" else color(m),
            )
        ax.set_title(f"{title}, sparsity {100 * sparsity:g}% (λ_k / λ₁)", fontsize=9)
        ax.set_xlabel("k")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def write_tables(tables: dict[str, Any], out: Path, prefix: str) -> list[Path]:
    """Every DataFrame of ``tables`` as ``<prefix>_<name>.csv`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        if isinstance(df, pd.DataFrame) and len(df):
            path = out / f"{prefix}_{name}.csv"
            df.to_csv(path, index=False, float_format="%.6g")
            paths.append(path)
    return paths


def write_graphon_report(study: Any, tables: dict[str, Any], out: Path) -> Path:
    """CSV tables and figures of a ``graphon`` study, with a short ``summary.md``; returns its path."""
    write_tables(tables, out, "graphon")
    widest = max(study.widths)
    figs = [
        heatmaps(
            tables["means"],
            study.methods,
            study.sparsities,
            study.hidden_layers()[:1],
            widest,
            out / "graphon_heatmaps.png",
        )
    ]
    if len(tables["convergence"]):
        figs.append(
            convergence_plot(tables["convergence"], study.methods, out / "graphon_convergence.png")
        )
    if len(tables["units"]):
        figs.append(
            empty_units_plot(
                tables["units"],
                study.methods,
                study.hidden_layers(),
                widest,
                out / "graphon_empty_units.png",
            )
        )
    lines = [f"# {study.name}: graphon estimates of PaI masks", ""]
    if len(tables["rates"]):
        lines += [
            "Fitted rates (distance ∝ n^−r):",
            "",
            tables["rates"].to_markdown(index=False, floatfmt=".3g"),
            "",
        ]
    lines += [f"![{p.stem}]({p.name})" for p in figs]
    page = out / "summary.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def write_ntk_report(study: Any, tables: dict[str, Any], out: Path) -> Path:
    """CSV tables and figures of an ``ntk`` study, with a short ``summary.md``; returns its path."""
    write_tables(tables, out, "ntk")
    figs = []
    if len(tables["spectra"]):
        figs.append(ntk_metrics_plot(tables["spectra"], study.methods, out / "ntk_metrics.png"))
    if len(tables["eigenvalues"]):
        figs.append(
            spectra_plot(
                tables["eigenvalues"], study.methods, max(study.sparsities), out / "ntk_spectra.png"
            )
        )
    if len(tables["loss"]):
        figs.append(loss_curves_plot(tables["loss"], study.methods, out / "ntk_loss.png"))
    lines = [f"# {study.name}: NTK spectra and early training of PaI networks", ""]
    if len(tables["training"]):
        lines += [tables["training"].to_markdown(index=False, floatfmt=".4g"), ""]
    lines += [f"![{p.stem}]({p.name})" for p in figs]
    page = out / "summary.md"
    page.write_text("\n".join(lines) + "\n")
    return page
