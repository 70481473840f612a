"""Figures of the pruning game, from plain tables (no store access here).

- :func:`plot_trajectories`: participations over training — sampled players and the q10–q90 band;
- :func:`plot_histograms`: final participations (the paper's bimodality at 0 and 1);
- :func:`plot_frontier`: test accuracy against hidden units kept, the game against baselines;
- :func:`plot_norms`: mean ‖θ_i‖ and mean s_i‖θ_i‖ over training (the network offsetting s by θ).

Each function writes one PNG and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {
    "paper": "tab:red",
    "descent": "tab:blue",
    "abs": "tab:green",
    "magnitude": "tab:orange",
    "slimming": "tab:purple",
    "scratch": "tab:gray",
}
MARKERS = ["o", "s", "^", "D", "v", "P"]


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_trajectories(
    runs: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], path: Path, epsilon: float = 0.01
) -> Path:
    """Participation trajectories, one row of panels per run and one column per layer.

    Parameters
    ----------
    runs : mapping of label to (trace, wide)
        ``trace``: columns epoch, layer, player, s (sampled players, epoch 0 = start);
        ``wide``: per-epoch metrics with ``game/s_q10|q50|q90/<layer>`` columns.
    path : Path
        Output PNG.
    epsilon : float
        Pruning threshold, drawn as a dashed line (log-scaled y axis).
    """
    labels = list(runs)
    layers = sorted({layer for trace, _ in runs.values() for layer in trace.layer.unique()})
    fig, axes = plt.subplots(
        len(labels),
        max(len(layers), 1),
        figsize=(4.2 * max(len(layers), 1), 2.6 * len(labels)),
        squeeze=False,
        sharey=True,
    )
    for r, label in enumerate(labels):
        trace, wide = runs[label]
        for c, layer in enumerate(layers):
            ax = axes[r][c]
            for _, g in trace[trace.layer == layer].groupby("player"):
                ax.plot(g.epoch, np.maximum(g.s, 1e-6), color="0.6", lw=0.7)
            q = [f"game/s_q{k}/{layer}" for k in (10, 50, 90)]
            if all(col in wide for col in q):
                ax.fill_between(
                    wide.epoch,
                    np.maximum(wide[q[0]], 1e-6),
                    np.maximum(wide[q[2]], 1e-6),
                    color="tab:blue",
                    alpha=0.25,
                    label="q10–q90",
                )
                ax.plot(
                    wide.epoch,
                    np.maximum(wide[q[1]], 1e-6),
                    color="tab:blue",
                    lw=1.5,
                    label="median",
                )
            ax.axhline(epsilon, color="k", ls="--", lw=0.8)
            ax.set_yscale("log")
            ax.set_ylim(1e-6, 1.5)
            ax.set_title(f"{label} — {layer}", fontsize=8)
            ax.set_xlabel("epoch")
            if c == 0:
                ax.set_ylabel("participation s")
    axes[0][0].legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def plot_histograms(players: Mapping[str, pd.DataFrame], path: Path, epsilon: float = 0.01) -> Path:
    """Histograms of the final participations (log-spaced bins from 1e-6 to 1), one panel per label.

    ``players[label]`` has a column ``s`` (one row per player).
    """
    labels = list(players)
    cols = min(4, max(len(labels), 1))
    rows = int(np.ceil(len(labels) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    bins = np.concatenate([[0.0], np.logspace(-6, 0, 25)])
    for k, label in enumerate(labels):
        ax = axes[k // cols][k % cols]
        s = np.clip(players[label].s.to_numpy(), 1e-6, 1.0)
        ax.hist(s, bins=bins[1:], color="tab:blue")
        ax.axvline(epsilon, color="k", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("final s (clipped at 1e-6)")
    for k in range(len(labels), rows * cols):
        axes[k // cols][k % cols].axis("off")
    return _save(fig, path)


def plot_frontier(
    game: pd.DataFrame, frontier: pd.DataFrame, path: Path, chance: float | None = None
) -> Path:
    """Test accuracy against hidden units kept: game runs (points) and baselines (mean ± interval).

    Parameters
    ----------
    game : DataFrame
        One row per game run: ``configuration``, ``benefit``, ``kept``, ``hard_accuracy`` (fraction).
    frontier : DataFrame
        One row per (method, budget): ``method``, ``kept``, ``mean``, ``low``, ``high`` (fractions).
    chance : float, optional
        Accuracy of guessing (drawn as a dotted line).
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for method, g in frontier.groupby("method"):
        g = g.sort_values("kept")
        ax.plot(g.kept, 100 * g["mean"], "-", color=COLORS.get(method, None), label=method, lw=1.5)
        ax.fill_between(
            g.kept, 100 * g["low"], 100 * g["high"], color=COLORS.get(method, None), alpha=0.15
        )
    configs = list(dict.fromkeys(game.configuration))
    for k, conf in enumerate(configs):
        for benefit, g in game[game.configuration == conf].groupby("benefit"):
            ax.scatter(
                np.maximum(g.kept, 0.8),
                100 * g.hard_accuracy,
                marker=MARKERS[k % len(MARKERS)],
                color=COLORS.get(benefit, None),
                s=28,
                alpha=0.85,
                edgecolor="k",
                lw=0.4,
                label=f"game: {conf} ({benefit})",
            )
    if chance is not None:
        ax.axhline(100 * chance, color="k", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("hidden units kept (log; 0 drawn at 0.8)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    return _save(fig, path)


def plot_norms(runs: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Mean ‖θ_i‖ (solid) and mean s_i‖θ_i‖ (dashed) per layer over epochs, one panel per run.

    ``runs[label]`` is a wide per-epoch metrics table with ``game/theta_norm/<layer>`` and
    ``game/eff_norm/<layer>`` columns.
    """
    labels = list(runs)
    fig, axes = plt.subplots(
        1, max(len(labels), 1), figsize=(3.6 * max(len(labels), 1), 3.0), squeeze=False
    )
    for k, label in enumerate(labels):
        ax, wide = axes[0][k], runs[label]
        for col in sorted(c for c in wide if c.startswith("game/theta_norm/")):
            layer = col.rsplit("/", 1)[-1]
            line = ax.plot(wide.epoch, wide[col], label=f"‖θ‖ {layer}")[0]
            eff = f"game/eff_norm/{layer}"
            if eff in wide:
                ax.plot(
                    wide.epoch, wide[eff], ls="--", color=line.get_color(), label=f"s‖θ‖ {layer}"
                )
        ax.set_yscale("log")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=6)
    return _save(fig, path)
