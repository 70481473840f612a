"""The Sulyok et al. (2026) reproduction page: figures and tables from a stored DST sweep.

``python reproductions/sulyok2026.py --runs-dir DIR --out docs/reproductions`` writes
``sulyok2026.md`` and its figures from the sweep of ``configs/sulyok2026.yaml`` (and the
robustness tables of ``prunelab robustness sulyok2026``, when present).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunelab.experiments.store import Store  # noqa: E402
from prunelab.report.robustness import load_robustness, run_group  # noqa: E402

#: Published reference (CHTs paper; hidden width 1568, 99% sparse, 100 epochs), % test accuracy.
PUBLISHED_FASHION_MNIST = {"SET": 89.00, "RigL": 89.91, "CHT": 88.70, "CHTs": 90.93, "dense": 90.88}


def method_table(store: Store, run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-epoch metrics (wide) with a ``method`` column, and the runs with their method."""
    rows = [
        row for row in (store.get_run(r) for r in run_ids) if row is not None
    ]  # not yet started: absent
    runs = pd.DataFrame(
        [
            {
                "run_id": row["id"],
                "method": run_group(row["config"]),
                "status": row["status"],
                "seed": row["config"]["train"]["seed"],
            }
            for row in rows
        ]
    )
    wide = store.metrics(run_ids, wide=True).merge(runs[["run_id", "method"]], on="run_id")
    return wide, runs


def epochs_to_plateau(acc: np.ndarray, tolerance: float = 0.005, tail: int = 5) -> int:
    """First epoch (1-based) from which accuracy stays within ``tolerance`` (fraction) of the final level.

    The final level is the mean of the last ``tail`` epochs; "stays" means every later epoch's
    running maximum is within the tolerance, i.e. the first epoch whose accuracy reaches
    ``final - tolerance``.
    """
    final = float(np.mean(acc[-tail:]))
    hits = np.nonzero(acc >= final - tolerance)[0]
    return int(hits[0]) + 1 if hits.size else len(acc)


def _last_update(run: pd.DataFrame, prefix: str) -> pd.Series:
    """Per-layer values (columns ``prefix + layer``) of the last epoch that logged them.

    DST metrics are logged by topology updates, and no update follows the final epoch, so the
    last rows of a run have none; empty (all NaN) when the run never logged them.
    """
    cols = [c for c in run.columns if c.startswith(prefix)]
    logged = run[cols].dropna(how="all")
    return logged.iloc[-1].astype(float) if len(logged) else pd.Series(dtype=float)


def summarise(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per method: runs, epochs, final accuracy (median, IQR), epochs to plateau, update time."""
    rows = []
    for method, sub in wide.groupby("method"):
        finals, plateaus, upd, active, max_deg = [], [], [], [], []
        for _, run in sub.groupby("run_id"):
            run = run.sort_values("epoch")
            acc = run.test_accuracy.to_numpy()
            finals.append(100 * float(np.mean(acc[-5:])))
            plateaus.append(epochs_to_plateau(acc))
            upd.append(
                float(run["dst/total_seconds"].median()) if "dst/total_seconds" in run else np.nan
            )
            active.append(_last_update(run, "active_neurons/").sum(min_count=1))
            max_deg.append(_last_update(run, "max_in_degree/").max())
        rows.append(
            {
                "method": method,
                "runs": len(finals),
                "epochs": int(sub.epoch.max()),
                "final test accuracy, median (%)": round(float(np.median(finals)), 2),
                "final min (%)": round(min(finals), 2),
                "final max (%)": round(max(finals), 2),
                "epochs to plateau (median)": float(np.median(plateaus)),
                "topology update (s, median)": round(float(np.median(upd)), 4),
                "active hidden neurons (median)": float(np.median(active)),
                "max in-degree (median)": float(np.median(max_deg)),
            }
        )
    return pd.DataFrame(rows)


def compare_methods(by: pd.DataFrame, rlr: str, ch: str) -> list[str]:
    """Markdown bullets checking the paper's three DST findings for one RLR / CH3-L3 pair of rows of ``by``."""
    p_rlr, p_ch = (
        by.loc[rlr, "epochs to plateau (median)"],
        by.loc[ch, "epochs to plateau (median)"],
    )
    f_rlr, f_ch = (
        by.loc[rlr, "final test accuracy, median (%)"],
        by.loc[ch, "final test accuracy, median (%)"],
    )
    lo_rlr, hi_rlr = by.loc[rlr, "final min (%)"], by.loc[rlr, "final max (%)"]
    lo_ch, hi_ch = by.loc[ch, "final min (%)"], by.loc[ch, "final max (%)"]
    t_rlr, t_ch = (
        by.loc[rlr, "topology update (s, median)"],
        by.loc[ch, "topology update (s, median)"],
    )
    overlap = lo_rlr <= hi_ch and lo_ch <= hi_rlr
    return [
        f"- Convergence ({ch} vs {rlr}): plateau after {p_ch:.0f} vs {p_rlr:.0f} epochs (median) — the paper's claim "
        f"(CH3-L3 converges in fewer epochs) {'is supported' if p_ch < p_rlr else 'is not supported'} at this budget.",
        f"- Final accuracy: {rlr} {f_rlr:.2f}% (seeds {lo_rlr:.2f}–{hi_rlr:.2f}), {ch} {f_ch:.2f}% ({lo_ch:.2f}–{hi_ch:.2f}): "
        + (
            "the seed ranges overlap, i.e. they agree within seed noise (the paper's finding)."
            if overlap
            else f"the seed ranges do not overlap ({ch if f_ch > f_rlr else rlr} is higher), unlike the paper's "
            "finding that they agree within noise."
        ),
        f"- Update time: {rlr} {t_rlr:.3f} s vs {ch} {t_ch:.3f} s per update of the three layers, "
        f"ratio {rlr}/{ch} = {t_rlr / t_ch:.2f} (paper: about 0.5).",
        f"- Active hidden neurons at the end (on an input→output path, of all hidden units): {rlr} "
        f"{by.loc[rlr, 'active hidden neurons (median)']:.0f}, {ch} {by.loc[ch, 'active hidden neurons (median)']:.0f}; "
        f"largest in-degree of a sparse layer {by.loc[rlr, 'max in-degree (median)']:.0f} vs {by.loc[ch, 'max in-degree (median)']:.0f}. "
        "CH3-L3 regrows links among already well-connected units, so its links concentrate on fewer "
        "neurons with higher degrees; the number of length-3 paths it scores grows with those degrees, "
        "which is why its update here is slower than on the uniform random layers of "
        "`benchmarks/topology_update.py`.",
    ]


def figure_accuracy(wide: pd.DataFrame, path: Path) -> Path:
    """Test accuracy vs epoch (log axis), median and 40–60th percentile band per method."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, sub in wide.groupby("method"):
        table = sub.pivot_table(index="epoch", columns="run_id", values="test_accuracy") * 100
        line = ax.plot(table.index, table.median(axis=1), label=f"{method} (n={table.shape[1]})")[0]
        ax.fill_between(
            table.index,
            table.quantile(0.4, axis=1),
            table.quantile(0.6, axis=1),
            color=line.get_color(),
            alpha=0.25,
            linewidth=0,
        )
    ax.set(
        xscale="log",
        xlabel="epoch",
        ylabel="test accuracy (%)",
        title="Fashion-MNIST, 784-1000-1000-1000-10 at 1% density",
    )
    lo = float(np.nanpercentile(wide.test_accuracy * 100, 5))
    ax.set_ylim(max(lo - 2, 0), None)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def stage_columns(wide: pd.DataFrame) -> list[str]:
    """The per-stage topology-update timings (``dst/<stage>_seconds``), without their total."""
    return sorted(
        c
        for c in wide.columns
        if c.startswith("dst/") and c.endswith("_seconds") and c != "dst/total_seconds"
    )


def figure_update_time(wide: pd.DataFrame, path: Path) -> Path:
    """Stacked bars: median seconds per topology update (three layers) by stage and method."""
    stage_cols = stage_columns(wide)
    med = wide.groupby("method")[stage_cols].median()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    left = np.zeros(len(med))
    for col in stage_cols:
        ax.barh(
            med.index, med[col], left=left, label=col.removeprefix("dst/").removesuffix("_seconds")
        )
        left += med[col].to_numpy()
    ax.set(
        xlabel="seconds per topology update (median over epochs and runs)",
        title="Topology-update time",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def robustness_section(store: Store, run_ids: list[str], figs: Path) -> list[str]:
    """Markdown of the robustness part (figures, AUC/f-half table, the paper's orderings checked)."""
    from prunelab.perturb import REMOVAL_KINDS, WEIGHT_KINDS, curve_summary
    from prunelab.perturb.plots import (
        plot_removal_curves,
        plot_weight_densities,
        plot_weight_perturbation_curves,
    )

    curves, dens = load_robustness(store, run_ids)
    if curves.empty:
        return [
            "",
            "## Robustness",
            "",
            "No robustness curves in the store yet: run "
            "`prunelab robustness sulyok2026 --runs-dir DIR` and rebuild this page.",
        ]
    lines = [
        "",
        "## Robustness (no fine-tuning)",
        "",
        f"All five perturbations on every trained network ({curves.network.nunique()} networks; "
        f"{curves.draw.nunique()} draw(s) each), per sparse layer; mean over networks, 10–90th percentile band.",
        "",
    ]
    removal = [k for k in REMOVAL_KINDS if k in set(curves.kind)]
    weights = [k for k in WEIGHT_KINDS if k in set(curves.kind)]
    if removal:
        plot_removal_curves(
            curves[curves.kind.isin(removal)], figs / "robustness_pruning.png", kinds=removal
        )
        lines += ["![pruning](figures/sulyok2026/robustness_pruning.png)", ""]
    if weights:
        plot_weight_perturbation_curves(
            curves[curves.kind.isin(weights)], figs / "robustness_weights.png", kinds=weights
        )
        lines += ["![shuffling and noise](figures/sulyok2026/robustness_weights.png)", ""]
    if not dens.empty:
        plot_weight_densities(dens, figs / "weight_densities.png")
        lines += ["![weight magnitudes](figures/sulyok2026/weight_densities.png)", ""]
    final = (
        store.metrics(run_ids, wide=True)
        .sort_values("epoch")
        .groupby("run_id")
        .test_accuracy.last()
    )
    base = curves.groupby("network").baseline_accuracy.first()
    gap = (100 * (final.reindex(base.index) - base)).abs()
    if gap.max() > 0.5:
        lines += [
            f"Note: the unperturbed accuracy of the stored networks differs from their last evaluated test "
            f"accuracy by up to {gap.max():.1f} percentage points. These runs predate the rule that no topology "
            "update follows the last epoch, so each stored network carries one final, untrained regrowth; the "
            "curves below start from that network.",
            "",
        ]
    summary = curve_summary(curves, n_boot=1000, seed=0)
    summary.to_csv(figs / "robustness_summary.csv", index=False)
    show = summary[
        ["group", "kind", "auc", "auc_lo", "auc_hi", "f_half", "f_half_lo", "f_half_hi"]
    ].round(3)
    lines += [
        "AUC = mean accuracy over the strength range; f½ = strength at which accuracy falls halfway to "
        "chance (95% bootstrap intervals over networks).",
        "",
        show.to_markdown(index=False),
        "",
    ]

    def fh(group: str, kind: str) -> float:
        row = summary[(summary.group == group) & (summary.kind == kind)]
        return float(row.f_half.iloc[0]) if len(row) else float("nan")

    groups = sorted(summary.group.unique())
    checks = []
    for g in groups:
        w, r, rev = (
            fh(g, "weight_order_pruning"),
            fh(g, "random_pruning"),
            fh(g, "reverse_weight_order_pruning"),
        )
        checks.append(
            f"- {g}: f½ weight-order = {w:.3f}, random = {r:.3f}, reverse = {rev:.3f} "
            f"(paper's ordering weight-order < random < reverse: {'holds' if w < r < rev else 'does not hold'})."
        )
    ranges = {
        k: [fh(g, k) for g in groups]
        for k in ("weight_order_pruning", "random_pruning", "reverse_weight_order_pruning")
    }
    if all(np.isfinite(v).all() for v in ranges.values()):
        pct = {k: f"{100 * min(v):.1f}–{100 * max(v):.1f}%" for k, v in ranges.items()}
        checks.append(
            f"- Accuracy falls halfway to chance after removing {pct['weight_order_pruning']} of the links by "
            f"weight order (the paper: collapse within a few percent), {pct['random_pruning']} at random "
            f"(gradual decline) and {pct['reverse_weight_order_pruning']} in reverse weight order (holds to "
            "high fractions), over the methods above."
        )
    if {"RLR", "CH3-L3"} <= set(groups):
        a, b = (
            fh("RLR", "reverse_weight_order_pruning"),
            fh("CH3-L3", "reverse_weight_order_pruning"),
        )
        checks.append(
            f"- Reverse-order pruning f½: RLR {a:.3f} vs CH3-L3 {b:.3f} — the paper finds RLR more "
            f"compressible; here {'RLR is more compressible' if a > b else 'RLR is not more compressible'} "
            "(compare the intervals above before reading much into a small difference)."
        )
    return lines + ["What the data show:", "", *checks]


def write_page(store: Store, sweep_ref: str, out: Path) -> Path:
    """Write ``out/sulyok2026.md`` and its figures; returns the page path."""
    _, sweep, run_ids = store.resolve(sweep_ref)
    figs = out / "figures" / "sulyok2026"
    figs.mkdir(parents=True, exist_ok=True)
    wide, runs = method_table(store, run_ids)
    wide = wide[wide.run_id.isin(runs[runs.status == "finished"].run_id)]
    summary = summarise(wide)
    figure_accuracy(wide, figs / "accuracy_vs_epoch.png")
    figure_update_time(wide, figs / "update_time.png")
    summary.to_csv(figs / "summary.csv", index=False)
    cfg = store.get_run(run_ids[0])["config"]
    versions = store.get_run(run_ids[0])["versions"]
    epochs = int(wide.epoch.max())
    seeds = sorted(int(v) for v in runs.seed.unique())
    by = summary.set_index("method")
    lines = [
        "# Reproduction: Sulyok et al. (2026), robustness of sparse networks with adaptive topology",
        "",
        "Made by `make reproduce-sulyok2026` (runs `configs/sulyok2026.yaml`, the robustness study and this page).",
        "Every number and figure below is generated from the results store by `prunelab.report.sulyok2026`.",
        "",
        "## Setup",
        "",
        f"- Data: {cfg['data']['name']} (60k train / 10k test). Network {cfg['model']['sizes']}, sparse layers at "
        f"density {cfg['model']['density']}, dense readout, ReLU.",
        f"- Training: SGD lr {cfg['train']['lr']}, momentum {cfg['train']['momentum']}, batch {cfg['train']['batch_size']}, "
        f"**{epochs} epochs, seeds {seeds}** (the paper: 1000 epochs, 10 seeds; the budget here is two CPU cores).",
        f"- Topology update every epoch: remove ζ = {cfg['dst']['zeta']} of each sparse layer's links by smallest |w|, "
        "optional chain removal, regrow as many by RLR or CH3-L3.",
        f"- Initialisation: `{cfg['model']['init']}` for the initial links and `{cfg['dst']['init']}` for regrown ones "
        "(CHT's N(0, 2/(density·fan_in))). The paper's N(0, 2/fan_in) with the dense fan-in leaves plain SGD at chance "
        "for several epochs at 1% density; both are available (`model.init`, `dst.init`).",
        f"- Versions: {versions.get('prunelab')}, torch {versions.get('torch')}, numpy {versions.get('numpy')}.",
        "",
        f"- Methods in this sweep: {', '.join(sorted(runs.method.unique()))}; runs finished: "
        f"{int((runs.status == 'finished').sum())} of {len(run_ids)}.",
        "- Times are wall-clock seconds measured inside the runs; with several runs sharing the machine they include "
        "contention (the clean measurement is `benchmarks/topology_update.py`).",
        "",
        "## Test accuracy",
        "",
        "![accuracy vs epoch](figures/sulyok2026/accuracy_vs_epoch.png)",
        "",
        "Median over seeds with the 40–60th percentile band. Final accuracy = mean of the last 5 epochs of a run; "
        "epochs to plateau = first epoch within 0.5 percentage points of that final level.",
        "",
        summary.to_markdown(index=False),
        "",
        "Published reference values (CHTs paper: hidden width 1568, 99% sparse, 100 epochs, Fashion-MNIST; a different "
        "width and schedule from this network): "
        + ", ".join(f"{k} {v:.2f}%" for k, v in PUBLISHED_FASHION_MNIST.items())
        + ".",
        "",
        "## Topology-update time",
        "",
        "![update time](figures/sulyok2026/update_time.png)",
        "",
    ]
    findings = []
    for rlr, ch in (("RLR", "CH3-L3"), ("RLR + chain", "CH3-L3 + chain")):
        if {rlr, ch} <= set(by.index):
            findings += compare_methods(by, rlr, ch)
    for method in ("RLR", "CH3-L3"):
        if {method, method + " + chain"} <= set(by.index):
            a, b = by.loc[method], by.loc[method + " + chain"]
            findings.append(
                f"- Chain removal with {method}: final accuracy {b['final test accuracy, median (%)']:.2f}% with vs "
                f"{a['final test accuracy, median (%)']:.2f}% without; active hidden neurons at the end "
                f"{b['active hidden neurons (median)']:.0f} vs {a['active hidden neurons (median)']:.0f} (of 3000)."
            )
    lines += ["## What the data show", "", *findings]
    lines += robustness_section(store, run_ids, figs)
    path = out / "sulyok2026.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--sweep", default="sulyok2026")
    parser.add_argument("--out", default="docs/reproductions")
    args = parser.parse_args(argv)
    print(write_page(Store(args.runs_dir), args.sweep, Path(args.out)))


if __name__ == "__main__":
    main()
