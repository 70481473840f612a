"""Build ``docs/reproductions/shah2025.md`` (Shah & Khan 2025, "Pruning as a Game") from the store.

Usage::

    python reproductions/shah2025.py --runs-dir RUNS [--config configs/shah2025.yaml]
        [--set OVERRIDE ...] [--digits-runs-dir DIGITS_RUNS] [--calibration-runs CALIB_RUNS]
        [--out docs/reproductions]

Reads only stored results: the ``game`` study of ``--config`` (run it first with
``prunelab run configs/shah2025.yaml``), once per data set that has finished runs (MNIST when its
files were present, Fashion-MNIST otherwise), and optionally a store of calibration runs (runs
named ``calib-*``). Writes the page and its figures under ``<out>/figures/shah2025/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunelab.experiments.store import Store
from prunelab.studies import load_study
from prunelab.studies.game_tables import analyse_game, figures

ROOT = Path(__file__).resolve().parents[1]

#: Table 2 of the paper (MNIST): β, γ, test accuracy (%), hidden neurons pruned (%), neurons kept
PAPER = {
    "Very High Beta": (0.1, 0.0, 96.64, 0.0, 768),
    "Extreme Beta": (0.5, 0.0, 91.15, 95.18, 37),
    "L1 Sparsity Strong": (0.001, 0.1, 89.57, 98.31, 13),
    "L1+L2 Combined": (0.05, 0.05, 91.54, 98.05, 15),
}
#: the paper's network
PAPER_SIZES = [784, 512, 256, 10]
DATA_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "digits": "digits"}

#: further variants of the calibrated protocol shown when the store has their runs: (title, slug, overrides)
VARIANTS = [
    (
        "the benefit from the summed loss (`loss_reduction: sum`)",
        "sum",
        ["game.loss_reduction=sum", "baselines=null"],
    ),
]


def pct(m: float, lo: float | None = None, hi: float | None = None, n: int | None = None) -> str:
    """``m`` (a fraction) as a percentage with its interval when there is one."""
    if m is None or not np.isfinite(m):
        return "–"
    text = f"{100 * m:.2f}"
    if lo is not None and hi is not None and np.isfinite(lo) and hi > lo:
        text += f" [{100 * lo:.2f}, {100 * hi:.2f}]"
    return text


def num(m: float, lo: float | None = None, hi: float | None = None) -> str:
    """A count with its interval."""
    if m is None or not np.isfinite(m):
        return "–"
    text = f"{m:.1f}"
    if lo is not None and hi is not None and np.isfinite(lo) and hi > lo:
        text += f" [{lo:.1f}, {hi:.1f}]"
    return text


def dense_accuracy(study: Any, store: Store) -> float:
    """Mean final test accuracy of the study's dense runs (the magnitude baseline's parents), or NaN."""
    accs = []
    for seed in study.seeds:
        rid = study.dense_run(seed).run_id()
        row = store.get_run(rid) or {}
        m = store.metrics([rid])
        m = m[m.name == "test_accuracy"].sort_values("epoch")
        if row.get("status") == "finished" and len(m):
            accs.append(float(m.value.iloc[-1]))
    return float(np.mean(accs)) if accs else float("nan")


def sign_distances(summary: pd.DataFrame, dense: float, n_classes: int) -> pd.DataFrame:
    """Per benefit sign: how far its pruning and accuracy are from the paper's rows.

    A sign *reproduces the table* when on every one of the paper's rows its fraction of hidden
    neurons pruned is within 10 points of the paper's and its hard-pruned network keeps a normalised
    accuracy m = (acc − 1/C)/(acc_dense − 1/C) of at least 0.8 (the paper's rows have m ≈ 0.9 or
    more against a dense MLP near 98% on MNIST): pruning to chance does not count.
    """
    rows = []
    chance = 1.0 / n_classes
    for benefit, g in summary.groupby("benefit", sort=False):
        g = g[g.configuration.isin(PAPER) & (g.seeds > 0)]
        if not len(g):
            continue
        d_pruned = [
            abs(100 * r.pruned_fraction - PAPER[r.configuration][3]) for r in g.itertuples()
        ]
        m = [
            (r.hard_accuracy - chance) / (dense - chance) if np.isfinite(dense) else np.nan
            for r in g.itertuples()
        ]
        ok = (
            len(g) == len(PAPER)
            and max(d_pruned) <= 10
            and all(np.isfinite(v) and v >= 0.8 for v in m)
        )
        rows.append(
            {
                "benefit": benefit,
                "rows": len(g),
                "mean |Δ pruned| (pp)": float(np.mean(d_pruned)),
                "max |Δ pruned| (pp)": max(d_pruned),
                "lowest m": float(np.nanmin(m)) if np.isfinite(m).any() else np.nan,
                "rows collapsed (m < 0.8)": int(sum(1 for v in m if np.isfinite(v) and v < 0.8)),
                "reproduces the table": "yes" if ok else "no",
            }
        )
    return pd.DataFrame(rows)


def frontier_pivot(frontier: pd.DataFrame) -> pd.DataFrame:
    """Counts as rows, one column per baseline: mean accuracy (%) [95% interval]."""
    if not len(frontier):
        return frontier
    frontier = frontier.assign(
        cell=[
            pct(r.mean, r.low, r.high) + (f" ({r.seeds})" if r.seeds else "")
            for r in frontier.itertuples()
        ]
    )
    out = frontier.pivot_table(
        index=["kept", "counts"], columns="method", values="cell", aggfunc="first"
    ).reset_index()
    out.columns.name = None
    return out.rename(columns={"kept": "neurons kept", "counts": "per layer"})


def comparison_pivot(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per game (configuration, sign): its accuracy and, per baseline, difference (verdict)."""
    if not len(comparison):
        return comparison
    comparison = comparison.assign(
        cell=[
            ("–" if not np.isfinite(r.difference) else f"{100 * r.difference:+.2f} pp")
            + f" ({r.verdict})"
            for r in comparison.itertuples()
        ]
    )
    out = comparison.pivot_table(
        index=["configuration", "benefit", "counts", "game"],
        columns="method",
        values="cell",
        aggfunc="first",
    ).reset_index()
    out.columns.name = None
    out["game"] = [pct(v) for v in out.game]
    return out.rename(columns={"counts": "per layer", "game": "game acc. (%)"})


def verdict_line(comparison: pd.DataFrame) -> str:
    """How often the game is better, tied or worse than a baseline at matched counts."""
    if not len(comparison):
        return "No matched comparison finished yet."
    words = comparison.verdict.str.split(" ").str[0]
    words = words[words != "n/a"]
    if not len(words):
        return "No matched comparison finished yet."
    counts = words.value_counts()
    parts = [f"{int(counts.get(k, 0))} {k}" for k in ("better", "tie", "worse")]
    return (
        f"Of {len(words)} game-versus-baseline comparisons at matched counts the game is "
        + ", ".join(parts)
        + "."
    )


def table_rows(summary: pd.DataFrame) -> list[str]:
    """Markdown rows: paper next to ours for every (configuration, sign)."""
    out = [
        "| configuration | β | γ | benefit | seeds | test acc. (%) hard-pruned | soft-gated | hidden neurons pruned (%) "
        "| kept | paper acc. (%) | paper pruned (%) | paper kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        paper = PAPER.get(r.configuration)
        p = f"{paper[2]:.2f} | {paper[3]:.2f} | {paper[4]}" if paper else "– | – | –"
        out.append(
            f"| {r.configuration} | {r.beta:g} | {r.gamma:g} | {r.benefit} | {r.seeds} | "
            f"{pct(r.hard_accuracy, r.hard_accuracy_low, r.hard_accuracy_high)} | "
            f"{pct(r.soft_accuracy, r.soft_accuracy_low, r.soft_accuracy_high)} | "
            f"{pct(r.pruned_fraction, r.pruned_fraction_low, r.pruned_fraction_high)} | "
            f"{num(r.kept, r.kept_low, r.kept_high)} | {p} |"
        )
    return out


def equilibrium_rows(game: pd.DataFrame) -> list[str]:
    """Markdown rows of the equilibrium analysis per (configuration, sign), means over seeds."""
    done = game[game.status == "finished"]
    cols = [
        "eq_within_tol",
        "eq_frac_at0",
        "eq_frac_between",
        "eq_frac_at1",
        "eq_dominated",
        "eq_dominated_at0",
        "br_agree",
        "br_converged",
        "reentries",
        "theta_growth_layer0",
        "theta_growth_layer1",
    ]
    cols = [c for c in cols if c in done]
    if not len(done):
        return ["(no finished runs yet)"]
    out = [
        "| configuration | benefit | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for (conf, benefit), g in done.groupby(["configuration", "benefit"], sort=False):
        out.append(
            f"| {conf} | {benefit} | " + " | ".join(f"{g[c].mean():.3g}" for c in cols) + " |"
        )
    return out


def md(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A DataFrame as a markdown table."""
    return df.to_markdown(index=False, floatfmt=floatfmt) if len(df) else "(no finished runs yet)"


def calibration_table(path: Path | None) -> pd.DataFrame:
    """Last values of the calibration runs (names ``calib-*``) of another store."""
    if path is None or not (Path(path) / "prunelab.sqlite").exists():
        return pd.DataFrame()
    store = Store(path)
    runs = store.runs()
    runs = runs[runs.name.str.startswith("calib")]
    rows = []
    for r in runs.itertuples():
        wide = store.metrics([r.id], wide=True).sort_values("epoch")
        if not len(wide):
            continue
        last, cfg = wide.iloc[-1], store.get_run(r.id)["config"]
        rows.append(
            {
                "run": r.name,
                "init": cfg["model"]["init"],
                "θ optimiser": f"{cfg['train']['optimizer']} {cfg['train']['lr']:g}",
                "benefit": cfg["game"]["benefit"],
                "β": cfg["game"]["beta"],
                "epochs done": int(last.epoch),
                "test acc. (%)": 100 * last.test_accuracy,
                "alive": int(last["game/alive"]),
                "mean s": last["game/s_mean"],
                "‖θ‖ growth layer0": last["game/theta_norm/layer0"]
                / wide["game/theta_norm/layer0"].iloc[0],
                "status": r.status,
            }
        )
    return pd.DataFrame(rows)


def section(
    study: Any, store: Store, fig_dir: Path, rel: str, title: str | None = None, prefix: str = ""
) -> tuple[list[str], dict[str, Any]]:
    """The results section of one study (a data set or a variant); returns markdown lines and headline facts."""
    tables = analyse_game(study, store)
    game, summary = tables["game"], tables["summary"]
    dense = dense_accuracy(study, store)
    dense_text = f"Dense network (same training, no gates): {pct(dense)}% test accuracy."
    if not np.isfinite(dense) and (game.status == "finished").any():
        # no dense run stored (a grid without baselines): the best game run stands in as the reference of m
        dense = float(game[game.status == "finished"].hard_accuracy.max())
        dense_text = (
            f"No dense run in this store (the grid ran without baselines); m below uses the best game run's "
            f"hard-pruned accuracy, {pct(dense)}%, as the reference."
        )
    dist = sign_distances(summary, dense, study.model.sizes[-1])
    # the closest sign: most rows run, fewest collapsed, then the smallest pruning distance
    ranked = dist.assign(neg_rows=-dist["rows"]) if len(dist) else dist
    best = (
        ranked.sort_values(
            ["neg_rows", "rows collapsed (m < 0.8)", "mean |Δ pruned| (pp)"]
        ).benefit.iloc[0]
        if len(dist)
        else study.benefits[0]
    )
    figs = figures(study, store, fig_dir, best, tables, prefix)
    finished = int((game.status == "finished").sum())
    seeds_done = sorted(game[game.status == "finished"].seed.unique().tolist())
    name = DATA_NAMES.get(study.data.name, study.data.name)
    lines = [
        f"## {title or f'Results on {name}'}",
        "",
        f"{finished} of {len(game)} game runs finished (seeds {seeds_done or 'none'} of {study.seeds}); "
        f"intervals are 95% t intervals over seeds (none with one seed). *Hard-pruned*: the smaller network "
        f"after removing every neuron with s < ε = {study.game.epsilon:g}; *soft-gated*: the gated network "
        "at the end of training. The paper's numbers are on MNIST.",
        "",
        *table_rows(summary),
        "",
        dense_text,
        "",
        "### Which benefit sign reproduces the table",
        "",
        "A sign reproduces the table when on every row its fraction of hidden neurons pruned is within 10 points "
        "of the paper's and the hard-pruned network keeps a normalised accuracy m = (acc − 1/C)/(acc_dense − 1/C) "
        "≥ 0.8 (pruning to chance does not count).",
        "",
        md(dist, ".2f"),
        "",
    ]
    facts = {
        "best": best,
        "finished": finished,
        "runs": len(game),
        "seeds": seeds_done,
        "dist": dist,
        "tables": tables,
    }
    lines += [
        "### Equilibrium of the final state",
        "",
        "For the final θ, with the benefit coefficients measured on the first "
        f"{study.game.check_samples} training images: the fraction of players whose best unilateral deviation "
        f"gains at most {study.game.tolerance:g} (`eq_within_tol`), the fractions at 0 (s < ε), in between and "
        "at 1, the fraction of dominated players (U(0) beats every s > 0) and how many of them are at 0, and "
        "the agreement (pruned or kept) between the training path and the best-response solver started "
        "from it (`br_agree`). With η = 0 the best-response map does not couple players (κ = 0, a "
        "contraction). `theta_growth`: final over initial mean ‖θ_i‖ (the network offsetting s by θ); "
        "`reentries`: players that came back above ε (0 by construction with the raw gradient).",
        "",
        *equilibrium_rows(game),
        "",
    ]
    if study.baselines is None:
        lines += [
            f"![{t}]({rel}/{figs[k].name})"
            for k, t in (
                ("trajectories", f"Participation trajectories ({best})"),
                ("histograms", f"Final participations ({best})"),
            )
            if k in figs
        ]
        return [*lines, ""], {**facts, "verdict": ""}
    lines += [
        "### Sparsity–accuracy frontier",
        "",
        "Baselines at the same per-layer numbers of surviving neurons (the game's own counts, median over "
        "seeds, and fixed budgets split 2:1 like the layer widths): magnitude (L2 norm of incoming weights) "
        "and network-slimming gates (L1 on per-neuron gates), both fine-tuned, and a dense network of the "
        "surviving width trained from scratch. Mean test accuracy (%) [95% t interval] (seeds).",
        "",
        md(frontier_pivot(tables["frontier"])),
        "",
        "Game (hard-pruned) against each baseline at the game's own counts: difference of mean accuracies with "
        "a Welch 95% interval; *better* / *worse* when the interval excludes 0. "
        + verdict_line(tables["comparison"]),
        "",
        md(comparison_pivot(tables["comparison"])),
        "",
    ]
    facts["verdict"] = verdict_line(tables["comparison"])
    for key, title in (
        ("frontier", "Accuracy against neurons kept"),
        ("trajectories", f"Participation trajectories ({best})"),
        ("histograms", f"Final participations ({best})"),
        ("norms", f"‖θ_i‖ and s_i‖θ_i‖ ({best})"),
    ):
        if key in figs:
            lines += [f"![{title}]({rel}/{figs[key].name})", ""]
    return lines, facts


def compute_line(store: Store, name: str) -> str:
    """One bullet with the compute the study ``name`` took in ``store``: its finished runs, their
    summed run time (worker minutes), the median game run (s) and the span from the first start to
    the last finish (wall minutes; the whole study when it ran in one go)."""
    runs = store.runs()
    runs = runs[runs["name"].str.startswith(f"{name}/") & (runs["status"] == "finished")]
    if runs.empty:
        return "- Compute: no finished run of this study in the store."
    game = runs[runs["name"].str.contains("/(?:paper|descent|abs)/seed=", regex=True)]
    span = (runs["finished"].max() - runs["started"].min()) / 60
    return (
        f"- Compute: {len(runs)} finished runs took {runs['seconds'].sum() / 60:.0f} worker-minutes "
        f"in all (a game run {game['seconds'].median():.0f} s, median of {len(game)}); from the first "
        f"start to the last finish {span:.0f} min of wall time."
    )


def write_page(
    store: Store,
    config: Path,
    out: Path,
    calibration: Path | None = None,
    overrides: list[str] | None = None,
    also: list[tuple[Store, Path, list[str]]] | None = None,
) -> Path:
    """Write the reproduction page from ``store``; returns its path.

    ``overrides`` are ``--set``-style assignments applied to ``config`` (e.g. a reduced grid).
    ``also`` adds one section per further ``(store, config, overrides)`` study, e.g. the digits grid
    (figure and table files prefixed by its data set's name).
    """
    overrides = list(overrides or [])
    out = Path(out)
    fig_dir = out / "figures" / "shah2025"
    fig_dir.mkdir(parents=True, exist_ok=True)
    base = load_study(config, overrides)
    sections, headline, shown = [], [], []
    names = list(dict.fromkeys(["mnist", base.data.name]))
    for data_name in names:
        study = load_study(config, [*overrides, f"data.name={data_name}"])
        lines, facts = section(study, store, fig_dir, "figures/shah2025")
        if facts["finished"] == 0 and data_name != base.data.name:
            continue
        sections += lines
        shown.append(data_name)
        if facts["finished"]:
            d = facts["dist"]
            repro = d[d["reproduces the table"] == "yes"].benefit.tolist() if len(d) else []
            headline.append(
                f"On {DATA_NAMES.get(data_name, data_name)} ({facts['finished']}/{facts['runs']} game runs): "
                + (
                    f"the {', '.join(repro)} sign reproduces the table"
                    if repro
                    else f"no benefit sign reproduces the table (closest: {facts['best']})"
                )
                + (". " + facts["verdict"]).rstrip()
            )
        for name, df in facts["tables"].items():
            df.to_csv(
                fig_dir / f"{DATA_NAMES.get(data_name, data_name).lower()}_{name}.csv", index=False
            )
        for title, slug, extra in VARIANTS:
            variant = load_study(config, [*overrides, f"data.name={data_name}", *extra])
            v_lines, v_facts = section(
                variant,
                store,
                fig_dir,
                "figures/shah2025",
                f"Variant on {DATA_NAMES.get(data_name, data_name)}: {title}",
                f"{slug}_",
            )
            if v_facts["finished"]:
                sections += v_lines
                d = v_facts["dist"]
                repro = d[d["reproduces the table"] == "yes"].benefit.tolist() if len(d) else []
                headline.append(
                    f"With {title} ({v_facts['finished']} runs): "
                    + (
                        f"the {', '.join(repro)} sign reproduces the table."
                        if repro
                        else f"no sign reproduces the table (closest: {v_facts['best']})."
                    )
                )
    for extra_store, extra_config, extra_overrides in also or []:
        extra = load_study(extra_config, list(extra_overrides))
        name = DATA_NAMES.get(extra.data.name, extra.data.name)
        e_lines, e_facts = section(
            extra,
            extra_store,
            fig_dir,
            "figures/shah2025",
            f"Also on {name}: the smaller network {list(extra.model.sizes)}",
            f"{extra.data.name}_",
        )
        if not e_facts["finished"]:
            continue
        sections += e_lines
        d = e_facts["dist"]
        repro = d[d["reproduces the table"] == "yes"].benefit.tolist() if len(d) else []
        headline.append(
            f"On {name} with {list(extra.model.sizes)} ({e_facts['finished']}/{e_facts['runs']} game runs): "
            + (
                f"the {', '.join(repro)} sign reproduces the table's pattern"
                if repro
                else f"no benefit sign reproduces the table's pattern (closest: {e_facts['best']})"
            )
            + (". " + e_facts["verdict"]).rstrip()
        )
        for key, df in e_facts["tables"].items():
            df.to_csv(fig_dir / f"{name.lower()}_{key}.csv", index=False)
    mnist_note = (
        "MNIST runs are in the store and are reported first."
        if "mnist" in shown
        else "MNIST's files are not present on the machine this ran on, so the reproduction runs on "
        f"{DATA_NAMES.get(base.data.name, base.data.name)} "
        + (
            "(same network and protocol); its absolute accuracies are lower than MNIST's, so compare the "
            "pruning pattern more than the accuracies."
            if list(base.model.sizes) == PAPER_SIZES
            else f"with a smaller network {list(base.model.sizes)} instead of the paper's {PAPER_SIZES}, so "
            "only the pruning pattern and the ranking of the benefit signs carry over, not the numbers."
        )
    )
    calib = calibration_table(calibration)
    page = out / "shah2025.md"
    lines = [
        "# Pruning as a Game (Shah & Khan 2025)",
        "",
        "Source: M. Shah, A. Khan, *Pruning as a Game: Equilibrium-Driven Sparsification of Neural Networks*, "
        "arXiv:2512.22106 (2025). No code is public. Players are the 768 hidden neurons of the MLP 784-512-256-10, "
        "each with a participation s_i ∈ [0, 1]; the network uses s_i θ_i; every step θ takes a gradient step and "
        "s a projected ascent step on U_i = α s_i ⟨∇L, θ_i⟩ − β‖θ_i‖² s_i² − γ|s_i| − η s_i Σ_j s_j⟨θ_i, θ_j⟩; "
        "neurons with s < 0.01 are pruned after 20 epochs.",
        "",
        "**In short:** " + (" ".join(headline) if headline else "no finished runs yet."),
        "",
        mnist_note,
        "",
        "## How to run",
        "",
        "```bash",
        f"prunelab run {config.relative_to(ROOT) if config.is_relative_to(ROOT) else config} --workers 2   # the grid, baselines, frontier (resumable)",
        "prunelab run configs/shah2025.yaml --set 'seeds=[0]' --workers 2   # a first pass with one seed",
        "prunelab run configs/shah2025_digits.yaml --workers 2 --runs-dir runs_digits   # the digits grid",
        "python reproductions/shah2025.py --runs-dir runs --digits-runs-dir runs_digits   # this page",
        "```",
        "",
        "## Protocol and the choices the paper leaves open",
        "",
        f"- Data {base.data.name}, network {base.model.sizes} (masked backend at density 1, so a gate is one "
        "elementwise product), init `"
        + base.model.init
        + f"`, θ by {base.train.optimizer} (lr {base.train.lr:g}"
        + (f", momentum {base.train.momentum:g}" if base.train.optimizer == "sgd" else "")
        + f"), {base.train.epochs} epochs, batch {base.train.batch_size}, α = {base.game.alpha:g}, η = {base.game.eta:g}, "
        f"lr_s = {base.game.lr_s:g}, ε = {base.game.epsilon:g}.",
        f"- Benefit gradient `{base.game.gradient}`, loss reduction `{base.game.loss_reduction}`, s optimiser "
        f"`{base.game.s_optimizer}` every {base.game.update_every} step(s), group `{base.game.group}`; gates sit after "
        "the ReLU (the same network; see `docs/definitions.md`, *Pruning as a game*).",
        "- Calibration on the Very High Beta row (nothing pruned, accuracy close to the dense network). With the "
        "mean-reduced loss the benefit is tiny next to the L2 cost, so s decays like exp(−2β‖θ_i‖² lr_s t), and the "
        "initialisation and the θ optimiser set that pace: ‖θ_i‖² ≈ 2 under Kaiming initialisation, ≈ 1/3 under "
        "PyTorch's default; SGD grows θ slowly, while Adam grows it fast to offset the shrinking s, which raises the "
        "cost further. In earlier calibration runs ("
        + ("table below" if len(calib) else "not in this store")
        + ") only PyTorch's default initialisation with SGD kept every neuron at β = 0.1; a Kaiming + Adam run "
        "had mean s 0.18 after 6 epochs and was falling by a third per epoch.",
        "- Step budget of the L1 cost: a plain projected step moves s_i by at most lr_s γ per step from the L1 "
        "term, so under the paper's protocol (20 epochs of 469 steps, lr_s = 0.001) γ = 0.1 alone lowers s_i by "
        "at most 0.938 < 1 − ε = 0.99; the L1 Sparsity Strong row (β = 0.001) can only prune with help from a "
        "negative benefit or a larger step (e.g. the summed loss, or an Adam step on s).",
        "",
    ]
    if len(calib):
        lines += [
            "Calibration runs (Very High Beta, benefit as written, seed 0; stopped once the outcome was clear):",
            "",
            md(calib, ".3g"),
            "",
        ]
    lines += sections
    lines += [
        "## Not done, and deviations",
        "",
        *(
            [
                f"- A reduced grid: this page was built with `{' '.join(overrides)}` on `{config.name}`."
            ]
            if overrides
            else []
        ),
        *(
            [
                "- MNIST: not run here (files absent); `--set data.name=mnist` runs it where they are."
            ]
            if "mnist" not in shown
            else []
        ),
        *(
            [
                f"- The paper's network {PAPER_SIZES} was not run for this page; `configs/shah2025.yaml` runs it."
            ]
            if list(base.model.sizes) != PAPER_SIZES
            else []
        ),
        compute_line(store, base.name),
        "- The equilibrium check holds θ fixed and measures the benefit on a subset of the training set; the "
        "paper's analysis treats the benefit as a constant coefficient too.",
        "",
    ]
    page.write_text("\n".join(lines) + "\n")
    return page


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "shah2025.yaml")
    parser.add_argument("--calibration-runs", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reproductions")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="a --set-style override of --config (repeatable), e.g. 'seeds=[0]'",
    )
    parser.add_argument(
        "--digits-runs-dir",
        type=Path,
        default=None,
        help="store of configs/shah2025_digits.yaml, shown as a further section",
    )
    args = parser.parse_args(argv)
    also = (
        [(Store(args.digits_runs_dir), ROOT / "configs" / "shah2025_digits.yaml", [])]
        if args.digits_runs_dir is not None
        else []
    )
    page = write_page(
        Store(args.runs_dir),
        args.config.resolve(),
        args.out,
        args.calibration_runs,
        args.overrides,
        also,
    )
    print(page)
    return page


if __name__ == "__main__":
    main()
