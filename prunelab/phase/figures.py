"""PNG figures of a pruning phase-transition study (matplotlib, Agg backend).

Every function takes the tidy study table of :func:`prunelab.studies.phase.study_table` (one row per
width, seed, density) or a table derived from it, an output directory and an optional file
prefix, writes one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.core import style  # noqa: E402
from prunelab.phase._tables import require_columns  # noqa: E402
from prunelab.phase.critical import susceptibility  # noqa: E402


def _save(fig, out_dir: str | Path, name: str, prefix: str) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    return style.save(
        fig, out / f"{prefix}{name}.png"
    )  # the package's one PNG format (dpi, atomic write)


def _colors(widths) -> dict:
    cmap = plt.get_cmap("viridis")
    widths = sorted(widths)
    return {w: cmap(0.1 + 0.8 * k / max(len(widths) - 1, 1)) for k, w in enumerate(widths)}


def _curves(
    ax, df: pd.DataFrame, observable: str, style: str = "-o", label_suffix: str = ""
) -> None:
    colors = _colors(df.width.unique())
    for w, part in df.groupby("width", sort=True):
        g = part.groupby("density")[observable]
        mean, std = g.mean(), g.std(ddof=1).fillna(0.0)
        ax.plot(mean.index, mean.values, style, ms=3, color=colors[w], label=f"N={w}{label_suffix}")
        ax.fill_between(
            mean.index, (mean - std).values, (mean + std).values, color=colors[w], alpha=0.15, lw=0
        )
    ax.set_xscale("log")
    ax.set_xlabel("remaining density ρ")


def plot_vs_links(
    df: pd.DataFrame,
    out_dir: str | Path,
    observable: str = "m",
    prefix: str = "",
    threshold: pd.DataFrame | None = None,
) -> Path:
    """Two panels, mean ± std over seeds per width: ``observable`` vs density and vs surviving links.

    ``df`` needs a ``links`` column (surviving links of all prunable layers). If the curves
    coincide on the right but not on the left, the transition is set by the number of links
    left, not by the density. ``threshold`` (optional, from ``analyse_study``) adds the
    ``links_c`` of each width as vertical ticks.
    """
    require_columns(df, ["width", "density", "links", observable], "study table")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    _curves(left, df, observable)
    colors = _colors(df.width.unique())
    for w, part in df[df["links"] > 0].groupby("width", sort=True):
        g = part.groupby("density").agg(
            links=("links", "mean"), mean=(observable, "mean"), std=(observable, "std")
        )
        g = g.sort_values("links")
        right.plot(g["links"], g["mean"], "-o", ms=3, color=colors[w], label=f"N={w}")
        right.fill_between(
            g["links"],
            g["mean"] - g["std"].fillna(0),
            g["mean"] + g["std"].fillna(0),
            color=colors[w],
            alpha=0.15,
            lw=0,
        )
    if threshold is not None and len(threshold):
        for r in threshold.itertuples():
            right.axvline(r.links_c, color=colors.get(r.width, "0.5"), ls=":", lw=1)
    right.set_xscale("log")
    right.set_xlabel("surviving links (all prunable layers)")
    label = {"m": "m = (A − 1/C)/(A_dense − 1/C)"}.get(observable, observable)
    left.set_ylabel(label)
    for ax in (left, right):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3, which="both")
    right.legend(title="width", fontsize=8)
    left.set_title(f"{observable} vs density")
    right.set_title(f"{observable} vs number of surviving links")
    return _save(fig, out_dir, f"{observable}_vs_links", prefix)


def plot_order_parameter(
    df: pd.DataFrame, out_dir: str | Path, observable: str = "m", prefix: str = ""
) -> Path:
    """Mean ± std over seeds of ``observable`` (default m) vs density, one curve per width."""
    require_columns(df, ["width", "density", observable], "study table")
    fig, ax = plt.subplots(figsize=(6, 4))
    _curves(ax, df, observable)
    ax.set_ylabel({"m": "m = (A − 1/C)/(A_dense − 1/C)"}.get(observable, observable))
    ax.axhline(0, color="0.6", lw=0.8)
    ax.legend(title="width", fontsize=8)
    ax.set_title(f"{observable} vs density")
    return _save(fig, out_dir, f"{observable}_vs_density", prefix)


def plot_entropies(df: pd.DataFrame, out_dir: str | Path, prefix: str = "") -> Path:
    """Prediction entropy and outcome entropy (nats) vs density per width, with log C marked."""
    require_columns(
        df, ["width", "density", "prediction_entropy", "outcome_entropy"], "study table"
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, obs, title in zip(
        axes,
        ("prediction_entropy", "outcome_entropy"),
        (
            "prediction entropy (mean softmax entropy)",
            "outcome entropy (entropy of predicted classes)",
        ),
    ):
        _curves(ax, df, obs)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("nats")
    axes[0].legend(title="width", fontsize=8)
    return _save(fig, out_dir, "entropies_vs_density", prefix)


def plot_connectivity(df: pd.DataFrame, out_dir: str | Path, prefix: str = "") -> Path:
    """Path fraction (solid) and largest-component fraction (dashed) vs density per width, and m (right)."""
    require_columns(df, ["width", "density", "path_fraction"], "study table")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _curves(axes[0], df, "path_fraction")
    if "lcc_fraction" in df.columns:
        _curves(axes[0], df, "lcc_fraction", style="--", label_suffix=" (LCC)")
    axes[0].set_ylabel("fraction of units")
    axes[0].set_title("input/output units on a path (solid), LCC (dashed)", fontsize=10)
    axes[0].legend(fontsize=7)
    if "log_paths" in df.columns:
        finite = df.replace([np.inf, -np.inf], np.nan)
        _curves(axes[1], finite, "log_paths")
        axes[1].set_ylabel("log(number of input→output paths)")
        axes[1].set_title("log path count", fontsize=10)
    return _save(fig, out_dir, "connectivity_vs_density", prefix)


def plot_susceptibility(
    df: pd.DataFrame,
    out_dir: str | Path,
    critical: pd.DataFrame | None = None,
    observable: str = "m",
    prefix: str = "",
) -> Path:
    """χ = N · Var_seeds(observable) vs density per width; vertical lines at the χ-peak estimates."""
    require_columns(df, ["width", "density", "seed", observable], "study table")
    chi = susceptibility(df, "width", "density", observable)
    colors = _colors(chi.width.unique())
    fig, ax = plt.subplots(figsize=(6, 4))
    for w, part in chi.groupby("width", sort=True):
        ax.plot(part.density, part.chi, "-o", ms=3, color=colors[w], label=f"N={w}")
        if critical is not None and len(critical):
            sel = critical[
                (critical.observable == observable)
                & (critical.method == "chi")
                & (critical.width == w)
            ]
            for r in sel.itertuples():
                ax.axvline(r.xc, color=colors[w], ls=":", lw=1)
                if np.isfinite(r.lo) and np.isfinite(r.hi):
                    ax.axvspan(r.lo, r.hi, color=colors[w], alpha=0.08)
    ax.set_xscale("log")
    ax.set_xlabel("remaining density ρ")
    ax.set_ylabel(f"χ = N · Var_seeds({observable})")
    ax.set_title(
        f"susceptibility of {observable} (dotted: χ-peak ρc, band: bootstrap CI)", fontsize=10
    )
    ax.legend(title="width", fontsize=8)
    return _save(fig, out_dir, f"chi_{observable}", prefix)


def plot_collapse(
    df: pd.DataFrame,
    result,
    out_dir: str | Path,
    control: str = "log10_density",
    observable: str = "m",
    prefix: str = "",
) -> Path:
    """Raw curves (left) and the finite-size collapse ``N^a O`` vs ``(x − x_c) N^(1/ν)`` (right)."""
    if control == "log10_density" and control not in df.columns:
        df = df.assign(log10_density=np.log10(df["density"].astype(float)))
    require_columns(df, ["width", control, observable], "study table")
    g = df.groupby(["width", control], sort=True)[observable].mean().reset_index()
    colors = _colors(g.width.unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for w, part in g.groupby("width", sort=True):
        axes[0].plot(part[control], part[observable], "-o", ms=3, color=colors[w], label=f"N={w}")
        x, y = result.scale(
            np.full(len(part), w), part[control].to_numpy(), part[observable].to_numpy()
        )
        axes[1].plot(x, y, "o", ms=3, color=colors[w], label=f"N={w}")
    axes[0].set_xlabel(control)
    axes[0].set_ylabel(observable)
    axes[0].legend(fontsize=8)
    lo = lambda p: result.ci[p][0]  # noqa: E731
    hi = lambda p: result.ci[p][1]  # noqa: E731
    label = (
        f"x_c={result.xc:.3g} [{lo('xc'):.3g}, {hi('xc'):.3g}]\nν={result.nu:.3g} [{lo('nu'):.3g}, {hi('nu'):.3g}]\n"
        f"a={result.a:.3g} [{lo('a'):.3g}, {hi('a'):.3g}]\nS={result.quality:.3g}"
    )
    axes[1].plot([], [], " ", label=label)
    axes[1].set_xlabel(f"({control} − x_c) · N^(1/ν)")
    axes[1].set_ylabel(f"N^a · {observable}")
    axes[1].legend(fontsize=7)
    axes[1].set_title("finite-size collapse", fontsize=10)
    return _save(fig, out_dir, f"collapse_{observable}_{control}", prefix)


def plot_null(
    null: pd.DataFrame, out_dir: str | Path, value: str = "accuracy", prefix: str = ""
) -> Path:
    """Box + strip plot of ``value`` per null variant, one panel per (width, density)."""
    require_columns(null, ["width", "density", "variant", value], "null table")
    panels = list(null.groupby(["width", "density"], sort=True))
    panels.sort(key=lambda p: (p[0][0], -p[0][1]))
    fig, axes = plt.subplots(
        1, max(len(panels), 1), figsize=(3.6 * max(len(panels), 1), 4), sharey=True, squeeze=False
    )
    order = ["trajectory", "pruned", "rewired/same-init", "rewired/scratch", "er"]
    rng = np.random.default_rng(0)
    for ax, ((w, d), part) in zip(axes[0], panels):
        present = [v for v in order if v in set(part.variant)] + sorted(
            set(part.variant) - set(order)
        )
        data = [part.loc[part.variant == v, value].dropna().to_numpy() for v in present]
        ax.boxplot(data, showfliers=False)
        for k, vals in enumerate(data, start=1):
            ax.plot(k + rng.uniform(-0.15, 0.15, vals.size), vals, "o", ms=3, alpha=0.7)
        ax.set_xticks(range(1, len(present) + 1))
        ax.set_xticklabels(present, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"N={w}, ρ={d:.3g}", fontsize=10)
    axes[0][0].set_ylabel(value)
    return _save(fig, out_dir, f"null_{value}", prefix)
