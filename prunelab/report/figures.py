"""Figures of a report. Each figure function takes a :class:`ReportData` and returns zero or more
``(title, caption, png_path)``; later capabilities register theirs with :func:`figure`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.experiments.store import Store  # noqa: E402


@dataclass
class ReportData:
    """What figure functions see.

    Attributes
    ----------
    store : Store
    run_ids : list of str
    runs : DataFrame
        One row per run: run_id, name, group (name without its seed), status.
    metrics : DataFrame
        Long table run_id, epoch, name, value, group.
    out_dir : Path
        Where PNGs go.
    """

    store: Store
    run_ids: list[str]
    runs: pd.DataFrame
    metrics: pd.DataFrame
    out_dir: Path


Figure = tuple[str, str, Path]
FigureFn = Callable[[ReportData], list[Figure]]
FIGURES: list[FigureFn] = []


def figure(fn: FigureFn) -> FigureFn:
    """Register a figure function (decorator); figures appear in registration order."""
    FIGURES.append(fn)
    return fn


def group_of(name: str) -> str:
    """A run's group: its name without the ``seed=N`` part (runs differing only by seed)."""
    return re.sub(r"(,?seed=\d+)$", "", name).rstrip("/,") or name


def band_plot(ax, df: pd.DataFrame, x: str, y: str, label: str, color=None) -> None:
    """Median over runs of ``y`` vs ``x`` with a 40–60th percentile band (min–max for < 3 runs)."""
    table = df.pivot_table(index=x, columns="run_id", values=y)
    med = table.median(axis=1)
    line = ax.plot(med.index, med.values, label=label, color=color)[0]
    if table.shape[1] > 1:
        lo_q, hi_q = (0.4, 0.6) if table.shape[1] >= 3 else (0.0, 1.0)
        ax.fill_between(table.index, table.quantile(lo_q, axis=1), table.quantile(hi_q, axis=1),
                        color=line.get_color(), alpha=0.25, linewidth=0)


def _metric_frame(data: ReportData, names: list[str]) -> pd.DataFrame:
    m = data.metrics[data.metrics.name.isin(names)]
    return m.pivot_table(index=["run_id", "group", "epoch"], columns="name", values="value").reset_index()


def _save(fig, data: ReportData, stem: str) -> Path:
    path = data.out_dir / f"{stem}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@figure
def accuracy_and_loss(data: ReportData) -> list[Figure]:
    """Train/test accuracy (%) and loss (nats) vs epoch, per group."""
    names = ["train_accuracy", "test_accuracy", "train_loss", "test_loss"]
    wide = _metric_frame(data, names)
    if wide.empty:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, (g, sub) in enumerate(wide.groupby("group")):
        color = f"C{k % 10}"  # one colour per group; test solid, train dashed
        for split, style in (("test", "-"), ("train", "--")):
            if f"{split}_accuracy" in sub:
                sub = sub.assign(**{f"{split}_pct": 100 * sub[f"{split}_accuracy"]})
                band_plot(axes[0], sub, "epoch", f"{split}_pct", f"{g} ({split})", color=color)
                axes[0].lines[-1].set_linestyle(style)
            if f"{split}_loss" in sub:
                band_plot(axes[1], sub, "epoch", f"{split}_loss", f"{g} ({split})", color=color)
                axes[1].lines[-1].set_linestyle(style)
    axes[0].set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    axes[1].set(xlabel="epoch", ylabel="cross-entropy loss (nats/sample)", title="Loss", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    caption = "Median over seeds; band: 40–60th percentile (min–max with fewer than 3 seeds)."
    return [("Accuracy and loss vs epoch", caption, _save(fig, data, "accuracy_loss"))]


@figure
def density_per_layer(data: ReportData) -> list[Figure]:
    """Density (% of possible links) of each sparse layer vs epoch."""
    m = data.metrics[data.metrics.name.str.startswith("density/")]
    if m.empty:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    for (g, layer), sub in m.groupby(["group", "name"]):
        band_plot(ax, sub.assign(pct=100 * sub.value), "epoch", "pct", f"{g} {layer.split('/', 1)[1]}")
    ax.set(xlabel="epoch", ylabel="density (% of possible links)", title="Density per sparse layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return [("Density per layer", "Links present / possible links, per sparse layer.", _save(fig, data, "density"))]


def final_table(data: ReportData) -> pd.DataFrame:
    """One row per group: runs, final test accuracy (%) median and IQR, epochs."""
    m = data.metrics
    if m.empty:
        return pd.DataFrame()
    last = m[m.name == "test_accuracy"].sort_values("epoch").groupby("run_id").tail(1)
    rows = []
    for g, sub in last.groupby("group"):
        acc = 100 * sub.value.to_numpy()
        rows.append({"group": g, "runs": len(acc), "epochs": int(sub.epoch.max()),
                     "final test accuracy median (%)": round(float(np.median(acc)), 2),
                     "25th pct (%)": round(float(np.percentile(acc, 25)), 2),
                     "75th pct (%)": round(float(np.percentile(acc, 75)), 2)})
    return pd.DataFrame(rows)


@figure
def dst_topology(data: ReportData) -> list[Figure]:
    """Dynamic sparse training: overlap of regrown with removed links, active neurons, update times."""
    m = data.metrics
    overlap = m[m.name.str.startswith("regrown_was_removed/")]
    times = m[m.name.str.match(r"dst/.*_seconds")]
    if overlap.empty and times.empty:
        return []
    out: list[Figure] = []
    if not overlap.empty:
        active = m[m.name.str.startswith("active_neurons/")]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for (g, layer), sub in overlap.groupby(["group", "name"]):
            band_plot(axes[0], sub.assign(pct=100 * sub.value), "epoch", "pct", f"{g} {layer.split('/', 1)[1]}")
        axes[0].set(xlabel="epoch", ylabel="regrown links that were just removed (%)", title="Topology overlap")
        for (g, layer), sub in active.groupby(["group", "name"]):
            band_plot(axes[1], sub, "epoch", "value", f"{g} {layer.split('/', 1)[1]}")
        axes[1].set(xlabel="epoch", ylabel="active neurons (count)", title="Active neurons per layer")
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
        out.append(("Topology dynamics", "Median over seeds, 40–60th percentile band.", _save(fig, data, "dst_topology")))
    if not times.empty:
        table, totals = update_time_table(times)
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(table) + 2))
        left = np.zeros(len(table))
        for stage in table.columns:
            label = stage.removeprefix("dst/").removesuffix("_seconds")
            ax.barh(table.index, table[stage].to_numpy(), left=left, label=label)
            left += table[stage].to_numpy()
        if totals is not None:
            ax.scatter(totals.reindex(table.index).to_numpy(), table.index, marker="|", s=200, color="k", label="total (measured)")
        ax.set(xlabel="seconds per topology update (median over updates, then over runs)", title="Topology-update time")
        ax.legend(fontsize=7)
        out.append(("Topology-update time per method",
                    "Stacked by stage of the update; the black tick is the measured total of an update. Median over the "
                    "updates of each run (the first update, which includes numba's one-time compilation, is left out), "
                    "then over runs.", _save(fig, data, "dst_update_time")))
    return out


def update_time_table(times: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    """Per group: median seconds of each update stage, and of the measured total.

    ``times``: long metrics rows (group, run_id, epoch, name, value) named ``dst/<stage>_seconds``.
    Per run the median over its updates is taken, leaving out the first update (it includes the
    one-time compilation of the kernels) when the run has more than one; then the median over runs.
    The stages exclude ``dst/total_seconds``, which is returned separately (stacking it on top of
    its own stages would count every second twice).
    """
    first = times.groupby("run_id").epoch.transform("min")
    n_updates = times.groupby("run_id").epoch.transform("nunique")
    steady = times[(times.epoch > first) | (n_updates <= 1)]
    per_run = steady.groupby(["group", "run_id", "name"]).value.median().reset_index()
    table = per_run.groupby(["group", "name"]).value.median().unstack("name").fillna(0.0)
    totals = table.pop("dst/total_seconds") if "dst/total_seconds" in table.columns else None
    return table, totals


@figure
def robustness(data: ReportData) -> list[Figure]:
    """Robustness curves and weight-magnitude densities cached by ``prunelab robustness``."""
    from prunelab.perturb import INPUT_KINDS, KINDS, REMOVAL_KINDS, WEIGHT_KINDS
    from prunelab.perturb.plots import (
        plot_input_curves,
        plot_removal_curves,
        plot_weight_densities,
        plot_weight_perturbation_curves,
    )
    from prunelab.report.robustness import load_robustness

    curves, dens = load_robustness(data.store, data.run_ids)
    out: list[Figure] = []
    if not curves.empty:
        present = set(curves.kind)
        band = "percentile (10–90th over networks)"
        removal = [k for k in REMOVAL_KINDS if k in present]
        if removal:
            out.append(("Pruning without fine-tuning", f"Test accuracy vs fraction of links removed per sparse layer; mean, band {band}.",
                        plot_removal_curves(curves[curves.kind.isin(removal)], data.out_dir / "robustness_pruning.png", kinds=removal)))
        weights = [k for k in WEIGHT_KINDS if k in present]
        if weights:
            out.append(("Weight shuffling and noise", "Test accuracy vs shuffling bin width p and noise m_p; "
                        f"mean, band {band}. " + "; ".join(f"{k}: {KINDS[k].description}" for k in weights),
                        plot_weight_perturbation_curves(curves[curves.kind.isin(weights)], data.out_dir / "robustness_weights.png", kinds=weights)))
        inputs = [k for k in INPUT_KINDS if k in present]
        if inputs:
            out.append(("Attacks and distribution shift", "Test accuracy vs attack radius ε (pixel units of [0, 1] inputs) "
                        f"and corruption severity, without retraining; mean, band {band}. "
                        + "; ".join(f"{k}: {KINDS[k].description}" for k in inputs),
                        plot_input_curves(curves[curves.kind.isin(inputs)], data.out_dir / "robustness_inputs.png", kinds=inputs)))
    if not dens.empty:
        out.append(("Weight-magnitude densities", "Density of |w| per sparse layer (log axis); median over networks.",
                    plot_weight_densities(dens, data.out_dir / "weight_densities.png")))
    return out
