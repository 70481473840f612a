"""Tables and figures of the ``game`` study, computed from the store only.

:func:`analyse_game` returns:

- ``game``: one row per game run — configuration, benefit, seed, status, β, γ, soft-gated and
  hard-pruned test accuracy (fractions), hidden units kept (total and per layer), fraction pruned,
  equilibrium-check and solver summaries, re-entries, the growth of the mean ‖θ_i‖ over training;
- ``summary``: per (configuration, benefit): seeds and mean with a 95% t interval of those numbers;
- ``baselines``: one row per baseline run (method, seed, per-layer counts, accuracy after and,
  for pruning, before fine-tuning);
- ``frontier``: per (method, counts): mean accuracy with a 95% t interval;
- ``comparison``: every game configuration against every baseline at its own (median) per-layer
  counts, with the difference of means, a Welch 95% interval and a verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from prunelab.experiments.store import Store

METRICS = {
    "soft_accuracy": "test_accuracy",
    "hard_accuracy": "game/hard_test_accuracy",
    "kept": "game/kept",
    "pruned_fraction": "game/pruned_fraction",
    "eq_within_tol": "game/eq/within_tol",
    "eq_dominated": "game/eq/dominated",
    "eq_dominated_at0": "game/eq/dominated_at0",
    "eq_frac_at0": "game/eq/frac_at0",
    "eq_frac_at1": "game/eq/frac_at1",
    "eq_frac_between": "game/eq/frac_between",
    "eq_max_gain": "game/eq/max_gain",
    "eq_kappa": "game/eq/kappa",
    "br_converged": "game/br/converged",
    "br_iterations": "game/br/iterations",
    "br_agree": "game/br/agree",
    "br_alive": "game/br/alive",
}


def interval(values: Any, level: float = 0.95) -> tuple[float, float, float, int]:
    """``(mean, low, high, n)`` of a t interval over finite values (low = high = mean for n = 1)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(v.mean())
    if v.size == 1:
        return m, m, m, 1
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half, int(v.size)


def verdict(a: Any, b: Any, tie: float = 0.01) -> tuple[float, float, float, str]:
    """Difference of means ``a − b`` with a Welch 95% interval and ``better|worse|tie``.

    With fewer than two values on a side there is no interval; then ``|diff| < tie`` is a tie and
    the verdict carries ``(1 seed)``.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan"), float("nan"), "n/a"
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        word = "tie" if abs(diff) < tie else ("better" if diff > 0 else "worse")
        return diff, float("nan"), float("nan"), f"{word} (1 seed)"
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    if se == 0:
        return diff, diff, diff, "tie" if diff == 0 else ("better" if diff > 0 else "worse")
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.975, dof) * se)
    word = "better" if diff - half > 0 else ("worse" if diff + half < 0 else "tie")
    return diff, diff - half, diff + half, word


def _last_rows(store: Store, run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    wide = store.metrics(run_ids, wide=True)
    if not len(wide):
        return wide, wide
    return wide, wide.sort_values("epoch").groupby("run_id").last()


def game_table(study: Any, store: Store) -> pd.DataFrame:
    """One row per game run (see the module docstring)."""
    runs = study.game_runs()
    wide, last = _last_rows(store, [cfg.run_id() for *_, cfg in runs])
    n_layers = len(study.widths())
    rows = []
    for conf, benefit, seed, cfg in runs:
        rid = cfg.run_id()
        meta = store.get_run(rid) or {}
        row: dict[str, Any] = {
            "configuration": conf,
            "benefit": benefit,
            "seed": seed,
            "run_id": rid,
            "status": meta.get("status", "missing"),
            "beta": cfg.game.beta,
            "gamma": cfg.game.gamma,
            "seconds": meta.get("seconds"),
        }
        if meta.get("status") == "finished" and rid in last.index:
            rec = last.loc[rid]
            row.update({k: float(rec[m]) if m in rec else float("nan") for k, m in METRICS.items()})
            for k in range(n_layers):
                row[f"kept_layer{k}"] = float(rec.get(f"game/kept/layer{k}", np.nan))
                mine = wide[wide.run_id == rid].sort_values("epoch")[f"game/theta_norm/layer{k}"]
                row[f"theta_growth_layer{k}"] = (
                    float(mine.iloc[-1] / mine.iloc[0]) if len(mine) else float("nan")
                )
            row["reentries"] = float(wide.loc[wide.run_id == rid, "game/reentries"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(game: pd.DataFrame) -> pd.DataFrame:
    """Per (configuration, benefit): seeds finished and t intervals of the main numbers."""
    rows = []
    for (conf, benefit), g in game.groupby(["configuration", "benefit"], sort=False):
        done = g[g.status == "finished"]
        row: dict[str, Any] = {
            "configuration": conf,
            "benefit": benefit,
            "beta": g.beta.iloc[0],
            "gamma": g.gamma.iloc[0],
            "seeds": len(done),
        }
        for key in (
            "hard_accuracy",
            "soft_accuracy",
            "kept",
            "pruned_fraction",
            "eq_within_tol",
            "eq_dominated",
            "br_agree",
        ):
            m, lo, hi, _ = interval(done[key]) if key in done else (np.nan,) * 4
            row.update({key: m, f"{key}_low": lo, f"{key}_high": hi})
        for col in sorted(c for c in game if c.startswith("kept_layer")):
            row[col] = float(np.median(done[col])) if len(done) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_table(study: Any, store: Store) -> pd.DataFrame:
    """One row per baseline run (stage 2 of the plan, with the budgets the store implies now)."""
    if study.baselines is None:
        return pd.DataFrame()
    items = list(study.plan(store))
    later = items[1] if len(items) > 1 else []
    _, last = _last_rows(store, [it.run_id for it in later])
    rows = []
    for it in later:
        if it.params.get("kind") == "finetune":
            method, counts, seed = (
                it.content["method"],
                tuple(it.content["kept"]),
                it.params["seed"],
            )
        else:
            method, seed = "scratch", it.params["config"]["train"]["seed"]
            counts = tuple(it.params["config"]["model"]["sizes"][1:-1])
        meta = store.get_run(it.run_id) or {}
        row = {
            "method": method,
            "seed": seed,
            "counts": "+".join(map(str, counts)),
            "kept": int(sum(counts)),
            "run_id": it.run_id,
            "status": meta.get("status", "missing"),
            "accuracy": float("nan"),
            "accuracy_before_ft": float("nan"),
        }
        if meta.get("status") == "finished" and it.run_id in last.index:
            row["accuracy"] = float(last.loc[it.run_id, "test_accuracy"])
            if method != "scratch":
                first = store.metrics([it.run_id])
                first = first[(first.epoch == 0) & (first.name == "test_accuracy")]
                row["accuracy_before_ft"] = (
                    float(first.value.iloc[0]) if len(first) else float("nan")
                )
        rows.append(row)
    return pd.DataFrame(rows)


def frontier_table(baselines: pd.DataFrame) -> pd.DataFrame:
    """Per (method, counts): mean accuracy and its 95% t interval over seeds."""
    rows = []
    if not len(baselines):
        return pd.DataFrame(columns=["method", "counts", "kept", "mean", "low", "high", "seeds"])
    for (method, counts), g in baselines.groupby(["method", "counts"], sort=False):
        m, lo, hi, n = interval(g.accuracy)
        rows.append(
            {
                "method": method,
                "counts": counts,
                "kept": int(g.kept.iloc[0]),
                "mean": m,
                "low": lo,
                "high": hi,
                "seeds": n,
            }
        )
    return pd.DataFrame(rows).sort_values(["method", "kept"]).reset_index(drop=True)


def comparison_table(
    game: pd.DataFrame, summary: pd.DataFrame, baselines: pd.DataFrame
) -> pd.DataFrame:
    """Each game configuration against each baseline at the game's own median per-layer counts."""
    rows = []
    layer_cols = sorted(c for c in summary if c.startswith("kept_layer"))
    for rec in summary.itertuples(index=False):
        counts = [getattr(rec, c) for c in layer_cols]
        if not len(baselines) or any(not np.isfinite(c) or c < 1 for c in counts):
            continue
        label = "+".join(str(int(c)) for c in counts)
        mine = game[
            (game.configuration == rec.configuration)
            & (game.benefit == rec.benefit)
            & (game.status == "finished")
        ]
        for method, g in baselines[baselines.counts == label].groupby("method"):
            diff, lo, hi, word = verdict(mine.hard_accuracy, g.accuracy)
            rows.append(
                {
                    "configuration": rec.configuration,
                    "benefit": rec.benefit,
                    "counts": label,
                    "method": method,
                    "game": float(mine.hard_accuracy.mean()),
                    "baseline": float(g.accuracy.mean()),
                    "difference": diff,
                    "low": lo,
                    "high": hi,
                    "verdict": word,
                }
            )
    return pd.DataFrame(rows)


def analyse_game(study: Any, store: Store) -> dict[str, pd.DataFrame]:
    """All tables of the study (see the module docstring)."""
    game = game_table(study, store)
    summary = summary_table(game)
    baselines = baseline_table(study, store)
    return {
        "game": game,
        "summary": summary,
        "baselines": baselines,
        "frontier": frontier_table(baselines),
        "comparison": comparison_table(game, summary, baselines),
    }


def figures(
    study: Any,
    store: Store,
    out_dir: Path,
    benefit: str,
    tables: dict[str, pd.DataFrame],
    prefix: str = "",
) -> dict[str, Path]:
    """The study's figures for one benefit sign (first seed): trajectories, histograms, norms, frontier.

    File names start with ``prefix`` (several studies may share one folder).
    """
    from prunelab.game.plots import plot_frontier, plot_histograms, plot_norms, plot_trajectories

    out_dir = Path(out_dir)
    seed = study.seeds[0]
    traj, hist, norms = {}, {}, {}
    for conf, b, s, cfg in study.game_runs():
        if b != benefit or s != seed:
            continue
        rid = cfg.run_id()
        trace, players = store.load_table(rid, "game/trace"), store.load_table(rid, "game/players")
        wide = store.metrics([rid], wide=True)
        if trace is None or players is None or not len(wide):
            continue
        traj[conf], hist[conf], norms[conf] = (trace, wide), players, wide
    out: dict[str, Path] = {}
    eps = study.game.epsilon
    if traj:
        out["trajectories"] = plot_trajectories(
            traj, out_dir / f"{prefix}trajectories_{benefit}.png", eps
        )
        out["histograms"] = plot_histograms(
            hist, out_dir / f"{prefix}histograms_{benefit}.png", eps
        )
        out["norms"] = plot_norms(norms, out_dir / f"{prefix}norms_{benefit}.png")
    done = tables["game"][tables["game"].status == "finished"]
    if len(done):
        out["frontier"] = plot_frontier(done, tables["frontier"], out_dir / f"{prefix}frontier.png")
    return out


def _md(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt) if len(df) else "(no rows yet)"


def write_summary(study: Any, store: Store, out_dir: Path) -> Path:
    """``summary.md`` with the study's tables and figures in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = analyse_game(study, store)
    figs = figures(study, store, out_dir, study.benefits[0], tables)
    for name, df in tables.items():
        df.to_csv(out_dir / f"{name}.csv", index=False)
    lines = [
        f"# Game study {study.name}",
        "",
        "## Per configuration and benefit sign (mean, 95% t interval over seeds)",
        "",
        _md(tables["summary"]),
        "",
        "## Baselines: frontier",
        "",
        _md(tables["frontier"]),
        "",
        "## Game against baselines at matched survivor counts",
        "",
        _md(tables["comparison"]),
        "",
    ]
    lines += [f"![{name}]({path.name})" for name, path in figs.items()]
    page = out_dir / "summary.md"
    page.write_text("\n".join(lines) + "\n")
    return page
