"""Figures of the robustness analysis (Sulyok et al. 2026, figs. 4-6) as PNG files.

Every function takes tidy tables (:func:`robustness_curve`, :func:`weight_density_table`;
several groups concatenated, told apart by the ``group`` column), writes one PNG with the Agg
backend and returns its path. Colours follow the paper: reverse weight order red, random green,
weight order grey, shuffling purple, noise light blue; groups differ by line style (pruning
figure) or colour (weight figures). Colours, sizes and fonts are the package style
(:mod:`prunelab.core.style`): a group has the same colour here as on every other page. Bands are percentile bands over networks and draws
(``band="percentile"``) or mean +- one standard deviation (``band="std"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.core import style  # noqa: E402
from prunelab.errors import ConfigError  # noqa: E402
from prunelab.perturb.ensemble import summarize_curves  # noqa: E402
from prunelab.perturb.kinds import KINDS, REMOVAL_KINDS, WEIGHT_KINDS  # noqa: E402

KIND_COLORS = style.KIND_COLORS
GROUP_STYLES = style.LINE_STYLES
BANDS = ("percentile", "std", "none")


def _groups(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["group"]))


def _with_group(table: pd.DataFrame) -> pd.DataFrame:
    return table if "group" in table.columns else table.assign(group="all")


def _band(summary: pd.DataFrame, band: str) -> tuple[np.ndarray, np.ndarray]:
    if band == "std":
        return (summary["mean"] - summary["std"]).to_numpy(), (
            summary["mean"] + summary["std"]
        ).to_numpy()
    return summary["lo"].to_numpy(), summary["hi"].to_numpy()


def _draw_curves(ax, summary: pd.DataFrame, color, linestyle: str, label: str, band: str) -> None:
    summary = summary.sort_values("strength")
    x = summary["strength"].to_numpy()
    ax.plot(x, summary["mean"].to_numpy(), color=color, linestyle=linestyle, label=label)
    if band != "none":
        lo, hi = _band(summary, band)
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)


def _check(table: pd.DataFrame, kinds: Sequence[str], band: str) -> pd.DataFrame:
    if band not in BANDS:
        raise ConfigError(f"unknown band {band!r}; choose one of {', '.join(BANDS)}")
    if "kind" not in table.columns:
        raise ConfigError(
            "curve table has no 'kind' column; pass the table returned by robustness_curve"
        )
    present = _with_group(table)[table["kind"].isin(kinds)]
    if present.empty:
        raise ConfigError(
            f"curve table has no rows of kinds {list(kinds)}; run robustness_curve for them first"
        )
    return present


def _save(fig, path: str | Path) -> Path:
    return style.save(fig, path)


def _chance_line(ax, table: pd.DataFrame) -> None:
    if "chance" in table.columns:
        ax.axhline(
            float(table["chance"].iloc[0]),
            color="black",
            linewidth=0.6,
            linestyle=":",
            label="chance",
        )


def plot_removal_curves(
    table: pd.DataFrame,
    path: str | Path,
    kinds: Sequence[str] = REMOVAL_KINDS,
    band: str = "percentile",
    percentiles: tuple[float, float] = (10.0, 90.0),
    title: str | None = None,
) -> Path:
    """Accuracy vs fraction of links removed for the pruning orders (paper fig. 4).

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`robustness_curve` for the removal kinds, any number of groups.
    path : str or Path
        PNG file to write (parent folders are created).
    kinds : sequence of str
        Removal kinds to draw (colour per kind).
    band : {"percentile", "std", "none"}
    percentiles : (float, float)
        Band limits for ``band="percentile"``.
    title : str, optional

    Returns
    -------
    Path of the PNG.
    """
    data = _check(table, kinds, band)
    summary = summarize_curves(data, percentiles=percentiles)
    fig, ax = plt.subplots(figsize=style.SINGLE)
    for g_index, group in enumerate(_groups(data)):
        for kind in kinds:
            part = summary[(summary["kind"] == kind) & (summary["group"] == group)]
            if not part.empty:
                _draw_curves(
                    ax,
                    part,
                    KIND_COLORS.get(kind),
                    GROUP_STYLES[g_index % len(GROUP_STYLES)],
                    f"{kind.replace('_', ' ')} ({group})",
                    band,
                )
    _chance_line(ax, data)
    ax.set_xlabel(KINDS[kinds[0]].strength_label)
    ax.set_ylabel("test accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_weight_perturbation_curves(
    table: pd.DataFrame,
    path: str | Path,
    kinds: Sequence[str] = WEIGHT_KINDS,
    band: str = "percentile",
    percentiles: tuple[float, float] = (10.0, 90.0),
    title: str | None = None,
) -> Path:
    """Accuracy vs shuffling bin width p and vs noise m_p, one panel each (paper fig. 5).

    Parameters are those of :func:`plot_removal_curves`; one curve and band per group.

    Returns
    -------
    Path of the PNG.
    """
    return _kind_panels(table, path, kinds, band, percentiles, title, ncols=None)


def plot_input_curves(
    table: pd.DataFrame,
    path: str | Path,
    kinds: Sequence[str] | None = None,
    band: str = "percentile",
    percentiles: tuple[float, float] = (10.0, 90.0),
    title: str | None = None,
    ncols: int = 3,
) -> Path:
    """Accuracy vs ε (attacks) or severity (corruptions), one panel per input kind.

    Parameters are those of :func:`plot_removal_curves` (``kinds`` default: the input kinds
    present in ``table``); one curve and band per group, ``ncols`` panels per row.

    Returns
    -------
    Path of the PNG.
    """
    from prunelab.perturb.input_kinds import INPUT_KINDS

    chosen = [k for k in (kinds or INPUT_KINDS) if k in set(table.get("kind", ()))]
    return _kind_panels(
        table, path, chosen or list(kinds or INPUT_KINDS), band, percentiles, title, ncols
    )


def _kind_panels(table, path, kinds, band, percentiles, title, ncols: int | None) -> Path:
    """One panel per kind (``ncols`` per row; None: one row), one curve and band per group."""
    data = _check(table, kinds, band)
    kinds = [k for k in kinds if (data["kind"] == k).any()]
    summary = summarize_curves(data, percentiles=percentiles)
    cols = len(kinds) if ncols is None else min(ncols, len(kinds))
    rows = -(-len(kinds) // cols)
    width, height = style.panels(cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height * rows), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        for group in _groups(data):
            part = summary[(summary["kind"] == kind) & (summary["group"] == group)]
            if not part.empty:
                _draw_curves(ax, part, style.color_for(group), "-", str(group), band)
        _chance_line(ax, data)
        ax.set_xlabel(KINDS[kind].strength_label)
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.set_title(kind.replace("_", " "))
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(kinds) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()  # rows of panels: a title must not cover the x label above it
    return _save(fig, path)


def plot_weight_densities(
    densities: pd.DataFrame,
    path: str | Path,
    band: str = "percentile",
    percentiles: tuple[float, float] = (10.0, 90.0),
    log_x: bool = True,
    log_y: bool = False,
    title: str | None = None,
) -> Path:
    """Density of ``|w|`` per layer (one panel each), one curve and band per group (paper fig. 6).

    Parameters
    ----------
    densities : DataFrame
        Rows of :func:`weight_density_table` (``group``, ``network``, ``layer``, ``magnitude``,
        ``density``), several groups concatenated.
    path : str or Path
    band : {"percentile", "std", "none"}
        Spread over networks.
    percentiles : (float, float)
    log_x, log_y : bool
        Logarithmic axes.
    title : str, optional

    Returns
    -------
    Path of the PNG.
    """
    needed = {"layer", "magnitude", "density"}
    if not needed <= set(densities.columns):
        raise ConfigError(
            f"density table lacks columns {sorted(needed - set(densities.columns))}; pass weight_density_table(...)"
        )
    if band not in BANDS:
        raise ConfigError(f"unknown band {band!r}; choose one of {', '.join(BANDS)}")
    densities = _with_group(densities)
    layers = list(dict.fromkeys(densities["layer"]))
    fig, axes = plt.subplots(
        1, len(layers), figsize=style.panels(len(layers)), squeeze=False, sharey=True
    )
    # summarize_curves wants a 'strength' column: reuse it with the magnitude as abscissa.
    as_curves = densities.rename(columns={"magnitude": "strength", "density": "value"})
    for ax, layer in zip(axes[0], layers, strict=True):
        layer_rows = as_curves[as_curves["layer"] == layer]
        summary = summarize_curves(
            layer_rows, value="value", by=("group",), percentiles=percentiles
        )
        for group in _groups(layer_rows):
            part = summary[summary["group"] == group]
            _draw_curves(ax, part, style.color_for(group), "-", str(group), band)
        ax.set_xscale("log" if log_x else "linear")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("|w|")
        ax.set_title(str(layer))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("density")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
