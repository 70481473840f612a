"""The Sulyok et al. (2026) reproduction page: figures and tables from a stored DST sweep.

``python -m prunelab.report.sulyok2026 --runs-dir DIR --out docs/reproductions`` writes
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
from prunelab.perturb.study import run_group  # noqa: E402

#: Published reference (CHTs paper; hidden width 1568, 99% sparse, 100 epochs), % test accuracy.
PUBLISHED_FASHION_MNIST = {"SET": 89.00, "RigL": 89.91, "CHT": 88.70, "CHTs": 90.93, "dense": 90.88}


def method_table(store: Store, run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-epoch metrics (wide) with a ``method`` column, and the runs with their method."""
    runs = pd.DataFrame([{"run_id": r, "method": run_group(store.get_run(r)["config"]),
                          "status": store.get_run(r)["status"], "seed": store.get_run(r)["config"]["train"]["seed"]}
                         for r in run_ids])
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


def summarise(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per method: runs, epochs, final accuracy (median, IQR), epochs to plateau, update time."""
    stage_cols = [c for c in wide.columns if c.startswith("dst/") and c.endswith("_seconds")]
    rows = []
    for method, sub in wide.groupby("method"):
        finals, plateaus, upd = [], [], []
        for _, run in sub.groupby("run_id"):
            run = run.sort_values("epoch")
            acc = run.test_accuracy.to_numpy()
            finals.append(100 * float(np.mean(acc[-5:])))
            plateaus.append(epochs_to_plateau(acc))
            upd.append(float(run[stage_cols].sum(axis=1).median()) if stage_cols else np.nan)
        rows.append({
            "method": method, "runs": len(finals), "epochs": int(sub.epoch.max()),
            "final test accuracy, median (%)": round(float(np.median(finals)), 2),
            "min–max (%)": f"{min(finals):.2f}–{max(finals):.2f}",
            "epochs to plateau (median)": float(np.median(plateaus)),
            "topology update (s, median)": round(float(np.median(upd)), 4),
        })
    return pd.DataFrame(rows)


def figure_accuracy(wide: pd.DataFrame, path: Path) -> Path:
    """Test accuracy vs epoch (log axis), median and 40–60th percentile band per method."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, sub in wide.groupby("method"):
        table = sub.pivot_table(index="epoch", columns="run_id", values="test_accuracy") * 100
        line = ax.plot(table.index, table.median(axis=1), label=f"{method} (n={table.shape[1]})")[0]
        ax.fill_between(table.index, table.quantile(0.4, axis=1), table.quantile(0.6, axis=1),
                        color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set(xscale="log", xlabel="epoch", ylabel="test accuracy (%)",
           title="Fashion-MNIST, 784-1000-1000-1000-10 at 1% density")
    lo = float(np.nanpercentile(wide.test_accuracy * 100, 5))
    ax.set_ylim(max(lo - 2, 0), None)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def figure_update_time(wide: pd.DataFrame, path: Path) -> Path:
    """Stacked bars: median seconds per topology update (three layers) by stage and method."""
    stage_cols = sorted(c for c in wide.columns if c.startswith("dst/") and c.endswith("_seconds"))
    med = wide.groupby("method")[stage_cols].median()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    left = np.zeros(len(med))
    for col in stage_cols:
        ax.barh(med.index, med[col], left=left, label=col.removeprefix("dst/").removesuffix("_seconds"))
        left += med[col].to_numpy()
    ax.set(xlabel="seconds per topology update (median over epochs and runs)", title="Topology-update time")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--sweep", default="sulyok2026")
    parser.add_argument("--out", default="docs/reproductions")
    args = parser.parse_args(argv)
    store = Store(args.runs_dir)
    _, sweep, run_ids = store.resolve(args.sweep)
    out = Path(args.out)
    figs = out / "figures" / "sulyok2026"
    figs.mkdir(parents=True, exist_ok=True)
    wide, runs = method_table(store, run_ids)
    summary = summarise(wide)
    figure_accuracy(wide, figs / "accuracy_vs_epoch.png")
    figure_update_time(wide, figs / "update_time.png")
    summary.to_csv(figs / "summary.csv", index=False)
    print(summary.to_markdown(index=False) if hasattr(summary, "to_markdown") else summary.to_string(index=False))


if __name__ == "__main__":
    main()
