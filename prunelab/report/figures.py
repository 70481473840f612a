"""Figures of a training report. Each figure function takes a :class:`ReportData` and returns zero
or more ``(title, caption, png_path)``; capabilities register theirs with :func:`figure`.

Figures are drawn in the package style (:mod:`prunelab.core.style`): one colour per group or
method on every page. Captions say what is plotted, in which units and over how many seeds or
networks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.core import style  # noqa: E402
from prunelab.core.registry import Registry  # noqa: E402
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
    cache : dict
        Tables shared between figure functions and the page (e.g. robustness curves).
    """

    store: Store
    run_ids: list[str]
    runs: pd.DataFrame
    metrics: pd.DataFrame
    out_dir: Path
    cache: dict[str, Any] = field(default_factory=dict)


Figure = tuple[str, str, Path]
FigureFn = Callable[[ReportData], list[Figure]]
#: figure functions of the training report, in page order; ``FIGURES.get(name).section`` is the
#: page section their figures go in
FIGURES: Registry[FigureFn] = Registry("report figure")


def figure(fn: FigureFn | None = None, *, section: str = "Figures", name: str | None = None) -> Any:
    """Register a figure function (decorator, bare or with ``section=``); figures appear in
    registration order, in the page section ``section``."""

    def add(f: FigureFn) -> FigureFn:
        f.section = section  # type: ignore[attr-defined]
        FIGURES.register(name or f.__name__, f)
        return f

    return add(fn) if fn is not None else add


def group_colors(data: ReportData) -> dict[str, str]:
    """Colour of each group: its method's fixed colour (:func:`prunelab.core.style.color_for` of
    its DST rule, e.g. ``RLR``) when every group is one distinct method, so a method has the same
    colour here as in the robustness figures; else distinct palette colours in name order."""
    if "group_colors" not in data.cache:
        groups = sorted(data.runs.group.unique()) if not data.runs.empty else []
        methods = data.runs.groupby("group").method.unique() if "method" in data.runs else {}
        labels = {g: m[0] for g, m in dict(methods).items() if len(m) == 1}
        if groups and len(labels) == len(groups) and len(set(labels.values())) == len(groups):
            data.cache["group_colors"] = {g: style.color_for(labels[g]) for g in groups}
            data.cache["group_labels"] = labels  # legends say "RLR", not the long run name
        else:
            data.cache["group_colors"] = {
                g: style.LINE_COLORS[k % len(style.LINE_COLORS)] for k, g in enumerate(groups)
            }
            data.cache["group_labels"] = {g: g for g in groups}
    return data.cache["group_colors"]


def group_label(data: ReportData, group: str) -> str:
    """Legend label of a group: its method when every group is one distinct method, else its name."""
    group_colors(data)
    return data.cache["group_labels"].get(group, group)


def n_runs_text(n: int, noun: str = "seed") -> str:
    """``"1 seed"`` / ``"3 seeds"`` for captions."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def group_of(name: str) -> str:
    """A run's group: its name without the ``seed=N`` part (runs differing only by seed)."""
    return re.sub(r"(,?seed=\d+)$", "", name).rstrip("/,") or name


def band_plot(ax, df: pd.DataFrame, x: str, y: str, label: str, color=None) -> None:
    """Median over runs of ``y`` vs ``x`` with a 40–60th percentile band (min–max for < 3 runs)."""
    table = df.pivot_table(index=x, columns="run_id", values=y)
    med = table.median(axis=1)
    line = ax.plot(med.index, med.values, label=label, color=color or style.color_for(label))[0]
    if table.shape[1] > 1:
        lo_q, hi_q = (0.4, 0.6) if table.shape[1] >= 3 else (0.0, 1.0)
        ax.fill_between(
            table.index,
            table.quantile(lo_q, axis=1),
            table.quantile(hi_q, axis=1),
            color=line.get_color(),
            alpha=0.25,
            linewidth=0,
        )


def _metric_frame(data: ReportData, names: list[str]) -> pd.DataFrame:
    m = data.metrics[data.metrics.name.isin(names)]
    return m.pivot_table(
        index=["run_id", "group", "epoch"], columns="name", values="value"
    ).reset_index()


def _save(fig, data: ReportData, stem: str) -> Path:
    return style.save(fig, data.out_dir / f"{stem}.png")


def _seeds_per_group(frame: pd.DataFrame) -> str:
    counts = frame.groupby("group").run_id.nunique()
    lo, hi = int(counts.min()), int(counts.max())
    return n_runs_text(lo) if lo == hi else f"{lo}–{hi} seeds"


@figure(section="Training")
def accuracy_and_loss(data: ReportData) -> list[Figure]:
    """Train/test accuracy (%) and loss (nats) vs epoch, per group."""
    names = ["train_accuracy", "test_accuracy", "train_loss", "test_loss"]
    wide = _metric_frame(data, names)
    if wide.empty:
        return []
    fig, axes = plt.subplots(1, 2, figsize=style.WIDE)
    for g, sub in wide.groupby("group"):
        color = group_colors(data).get(
            g
        )  # one colour per group (its method's); test solid, train dashed
        for split, ls in (("test", "-"), ("train", "--")):
            if f"{split}_accuracy" in sub:
                sub = sub.assign(**{f"{split}_pct": 100 * sub[f"{split}_accuracy"]})
                band_plot(
                    axes[0],
                    sub,
                    "epoch",
                    f"{split}_pct",
                    f"{group_label(data, g)} ({split})",
                    color=color,
                )
                axes[0].lines[-1].set_linestyle(ls)
            if f"{split}_loss" in sub:
                band_plot(
                    axes[1],
                    sub,
                    "epoch",
                    f"{split}_loss",
                    f"{group_label(data, g)} ({split})",
                    color=color,
                )
                axes[1].lines[-1].set_linestyle(ls)
    axes[0].set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    axes[1].set(
        xlabel="epoch", ylabel="cross-entropy loss (nats/sample)", title="Loss", yscale="log"
    )
    axes[0].legend()
    caption = (
        f"Left: accuracy (% correct) on the test (solid) and training (dashed) split vs epoch; right: mean "
        f"cross-entropy (nats per sample, log axis). Median over {_seeds_per_group(wide)} per group; band: "
        "40–60th percentile over seeds (min–max with fewer than 3)."
    )
    return [("Accuracy and loss vs epoch", caption, _save(fig, data, "accuracy_loss"))]


@figure(section="Training")
def density_per_layer(data: ReportData) -> list[Figure]:
    """Density (% of possible links) of each sparse layer vs epoch."""
    m = data.metrics[data.metrics.name.str.startswith("density/")]
    if m.empty:
        return []
    fig, ax = plt.subplots(figsize=style.SINGLE)
    for k, ((g, layer), sub) in enumerate(m.groupby(["group", "name"])):
        band_plot(
            ax,
            sub.assign(pct=100 * sub.value),
            "epoch",
            "pct",
            f"{group_label(data, g)} {layer.split('/', 1)[1]}",
            color=group_colors(data).get(g),
        )
        ax.lines[-1].set_linestyle(style.LINE_STYLES[k % len(style.LINE_STYLES)])
    ax.set(xlabel="epoch", ylabel="density (% of possible links)", title="Density per sparse layer")
    ax.legend()
    caption = (
        f"Links present as % of the possible links of each sparse layer vs epoch; median over "
        f"{_seeds_per_group(m)} per group."
    )
    return [("Density per layer", caption, _save(fig, data, "density"))]


def final_table(data: ReportData) -> pd.DataFrame:
    """One row per group: runs, final test accuracy (%) median and IQR, epochs."""
    m = data.metrics
    if m.empty:
        return pd.DataFrame()
    last = m[m.name == "test_accuracy"].sort_values("epoch").groupby("run_id").tail(1)
    rows = []
    for g, sub in last.groupby("group"):
        acc = 100 * sub.value.to_numpy()
        rows.append(
            {
                "group": g,
                "runs": len(acc),
                "epochs": int(sub.epoch.max()),
                "final test accuracy median (%)": round(float(np.median(acc)), 2),
                "25th pct (%)": round(float(np.percentile(acc, 25)), 2),
                "75th pct (%)": round(float(np.percentile(acc, 75)), 2),
            }
        )
    return pd.DataFrame(rows)


@figure(section="Dynamic sparse training")
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
        fig, axes = plt.subplots(1, 2, figsize=style.WIDE)
        for ax, frame, scale in ((axes[0], overlap, 100.0), (axes[1], active, 1.0)):
            for k, ((g, layer), sub) in enumerate(frame.groupby(["group", "name"])):
                band_plot(
                    ax,
                    sub.assign(v=scale * sub.value),
                    "epoch",
                    "v",
                    f"{group_label(data, g)} {layer.split('/', 1)[1]}",
                    color=group_colors(data).get(g),
                )
                ax.lines[-1].set_linestyle(style.LINE_STYLES[k % len(style.LINE_STYLES)])
            ax.legend(fontsize=6)
        axes[0].set(
            xlabel="epoch",
            ylabel="regrown links that were just removed (%)",
            title="Topology overlap",
        )
        axes[1].set(
            xlabel="epoch", ylabel="active neurons (count)", title="Active neurons per layer"
        )
        caption = (
            "Left: % of the links regrown at a topology update that had been removed at that update; right: "
            f"neurons on an input-output path per sparse layer (count). Median over {_seeds_per_group(overlap)} "
            "per group; band: 40–60th percentile over seeds."
        )
        out.append(("Topology dynamics", caption, _save(fig, data, "dst_topology")))
    if not times.empty:
        table, totals = update_time_table(times)
        labels = [group_label(data, g) for g in table.index]
        fig, ax = plt.subplots(figsize=(style.SINGLE[0] * 1.3, 0.6 * len(table) + 2))
        left = np.zeros(len(table))
        for k, stage in enumerate(table.columns):
            label = stage.removeprefix("dst/").removesuffix("_seconds")
            ax.barh(
                labels,
                table[stage].to_numpy(),
                left=left,
                label=label,
                color=style.LINE_COLORS[k % len(style.LINE_COLORS)],
            )
            left += table[stage].to_numpy()
        if totals is not None:
            ax.scatter(
                totals.reindex(table.index).to_numpy(),
                labels,
                marker="|",
                s=200,
                color="k",
                label="total (measured)",
            )
        ax.set(
            xlabel="seconds per topology update (median over updates, then over runs)",
            title="Topology-update time",
        )
        ax.legend()
        caption = (
            "Wall time (s) of one topology update of all sparse layers, stacked by stage; the black tick is the "
            "measured total of an update. Median over the updates of each run (the first update, which includes "
            f"numba's one-time compilation, is left out), then over {_seeds_per_group(times)} per group."
        )
        out.append(
            ("Topology-update time per method", caption, _save(fig, data, "dst_update_time"))
        )
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


def robustness_tables(data: ReportData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cached robustness curves and weight-density tables of the report's runs (read once)."""
    if "robustness" not in data.cache:
        from prunelab.report.robustness import load_robustness

        data.cache["robustness"] = load_robustness(data.store, data.run_ids)
    return data.cache["robustness"]


def _networks_text(curves: pd.DataFrame) -> str:
    n, draws = curves.network.nunique(), curves.draw.nunique()
    return f"{n_runs_text(n, 'network')}, {n_runs_text(draws, 'draw')} each"


@figure(section="Robustness")
def robustness(data: ReportData) -> list[Figure]:
    """Robustness curves and weight-magnitude densities cached by ``prunelab robustness``."""
    from prunelab.perturb import INPUT_KINDS, KINDS, REMOVAL_KINDS, WEIGHT_KINDS
    from prunelab.perturb.plots import (
        plot_input_curves,
        plot_removal_curves,
        plot_weight_densities,
        plot_weight_perturbation_curves,
    )

    curves, dens = robustness_tables(data)
    out: list[Figure] = []
    with style.context():
        if not curves.empty:
            present = set(curves.kind)
            band = f"band: 10–90th percentile over {_networks_text(curves)}"
            removal = [k for k in REMOVAL_KINDS if k in present]
            if removal:
                out.append(
                    (
                        "Pruning without fine-tuning",
                        "Test accuracy (fraction correct) vs fraction of links removed from every sparse layer, without "
                        f"retraining; line: mean, {band}. Colour: removal order; line style: group.",
                        plot_removal_curves(
                            curves[curves.kind.isin(removal)],
                            data.out_dir / "robustness_pruning.png",
                            kinds=removal,
                        ),
                    )
                )
            weights = [k for k in WEIGHT_KINDS if k in present]
            if weights:
                out.append(
                    (
                        "Weight shuffling and noise",
                        "Test accuracy (fraction correct) vs shuffling bin width p "
                        f"(fraction of the weight range) and noise m_p (multiples of mean |w|); line: mean, {band}. "
                        + "; ".join(f"{k}: {KINDS[k].description}" for k in weights),
                        plot_weight_perturbation_curves(
                            curves[curves.kind.isin(weights)],
                            data.out_dir / "robustness_weights.png",
                            kinds=weights,
                        ),
                    )
                )
            inputs = [k for k in INPUT_KINDS if k in present]
            if inputs:
                out.append(
                    (
                        "Attacks and distribution shift",
                        "Test accuracy (fraction correct) vs attack radius ε (pixel "
                        "units of [0, 1] inputs) or corruption severity, without retraining; line: mean, "
                        f"{band}. " + "; ".join(f"{k}: {KINDS[k].description}" for k in inputs),
                        plot_input_curves(
                            curves[curves.kind.isin(inputs)],
                            data.out_dir / "robustness_inputs.png",
                            kinds=inputs,
                        ),
                    )
                )
        if not dens.empty:
            out.append(
                (
                    "Weight-magnitude densities",
                    "Probability density of |w| (per weight unit) in each sparse layer, log "
                    f"|w| axis; line: mean, band: 10–90th percentile over {n_runs_text(dens.network.nunique(), 'network')}.",
                    plot_weight_densities(dens, data.out_dir / "weight_densities.png"),
                )
            )
    return out
