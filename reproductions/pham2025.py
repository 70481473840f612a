"""Build ``docs/reproductions/pham2025.md`` from the store: the graphon-limit reproduction.

Pham, Ta, Jacobs, Burkholz & Tran-Thanh (2025), "The Graphon Limit Hypothesis: Understanding
Neural Network Pruning via Infinite Width Analysis", arXiv:2510.17515 (NeurIPS 2025).

Reads only the store: the ``graphon`` study (``configs/pham2025_convergence.yaml``) and the
``ntk`` study (``configs/pham2025_ntk.yaml``) are found by name, rebuilt from the configs stored
with them, and analysed; every number on the page comes from those tables. Usage::

    prunelab run configs/pham2025_convergence.yaml
    prunelab run configs/pham2025_ntk.yaml
    python reproductions/pham2025.py --runs-dir runs --out docs/reproductions
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunelab.experiments import Store
from prunelab.report.graphon import (
    convergence_plot,
    empty_units_plot,
    heatmaps,
    label,
    loss_curves_plot,
    ntk_metrics_plot,
    spectra_plot,
    write_tables,
)
from prunelab.studies import parse_study

try:
    from reproductions import grid
except ImportError:  # run as a script (python reproductions/pham2025.py): its folder is on sys.path
    import grid  # type: ignore[no-redef]

PAGE = "pham2025.md"
FIGURES = Path("figures") / "pham2025"
#: the default configs (the paper's full grids) that a stored study is compared with
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULTS = {"graphon": "pham2025_convergence.yaml", "ntk": "pham2025_ntk.yaml"}


def stored_study(store: Store, name: str) -> Any:
    """The study recorded in the store under ``name`` (its stored config), or None."""
    try:
        kind, ident, _ = store.resolve(name)
    except Exception:  # noqa: BLE001 - a missing study is reported on the page, not raised
        return None
    row = store.get_study(ident)
    return parse_study(row["config"]) if row else None


def grid_cut(study: Any) -> list[tuple[str, Any, Any]]:
    """Where a stored study differs from its default config: ``[(key, value run, default)]``."""
    return grid.grid_cut(study, CONFIGS / DEFAULTS.get(study.kind, "-"))


def rerun_command(study: Any, cut: list[tuple[str, Any, Any]]) -> str:
    """The ``prunelab run`` line that reproduces a stored study from its default config."""
    return grid.rerun_command(f"configs/{DEFAULTS[study.kind]}", cut)


def _md(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt) if len(df) else "(no data)"


def _mean_hidden(df: pd.DataFrame, layers: list[str], cols: list[str]) -> pd.DataFrame:
    return df[df.layer.isin(layers)].groupby(["method", "sparsity"], as_index=False)[cols].mean()


def graphon_section(
    study: Any, t: dict[str, Any], figs: Path, rel: Path
) -> tuple[list[str], list[str]]:
    """Markdown of the convergence study and its verdict lines."""
    hidden = study.hidden_layers()
    widest = int(t["completed"].width.max()) if len(t["completed"]) else max(study.widths)
    heatmaps(
        t["means"],
        study.methods,
        study.sparsities,
        hidden[:1],
        widest,
        figs / "heatmaps_hidden.png",
    )
    heatmaps(
        t["means"],
        study.methods,
        [s for s in study.sparsities if s >= 0.9][:1] or study.sparsities[-1:],
        ["layer0", f"layer{study.depth - 1}"],
        widest,
        figs / "heatmaps_io.png",
    )
    write_tables(t, figs, "convergence")
    out = ["## 1. Graphon limits of PaI masks", ""]
    done = t["completed"]
    trials = done.trials.min() if len(done) else 0
    out += [
        f"Grid run: methods {', '.join(label(m) for m in study.methods)}; sparsities "
        f"{', '.join(f'{100 * s:g}%' for s in study.sparsities)}; widths {', '.join(map(str, study.widths))} of "
        f"the MLP {study_input(study)} → n → n → n → classes ({study.depth} weight layers); K = {study.k}; "
        f"{study.trials} trials configured, at least {trials} finished for every (method, width) "
        f"(`{FIGURES}/convergence_completed.csv`). Scoring data: {study.pai.samples_per_class} "
        f"samples per class of {study.data.name}; SynFlow {study.pai.rounds or 100} rounds, "
        f"{study.pai.schedule} schedule, {study.pai.scope} ranking.",
        "",
    ]
    out += [
        f"![graphon estimates of the first hidden → hidden layer]({rel / 'heatmaps_hidden.png'})",
        "",
        f"*Mean estimates of `layer1` (hidden → hidden) at width {widest}, rows: input units by decreasing "
        "out-degree, columns: output units by decreasing in-degree; colour scale per panel.*",
        "",
        f"![input and output layers]({rel / 'heatmaps_io.png'})",
        "",
        "*The input layer (784 pixels → n) and the output layer (n → 10; only 10 columns exist) at the "
        "same width, shown separately as in the paper.*",
        "",
    ]
    verdicts = []
    shapes = _mean_hidden(
        t["shapes"], hidden, ["flatness", "zero_blocks", "row_trend", "col_trend"]
    )
    units = t["units"]
    u = _mean_hidden(
        units[units.width == widest], hidden, ["density", "empty_inputs", "empty_outputs"]
    )
    shape_tab = shapes.merge(u, on=["method", "sparsity"])
    rnd = shape_tab[shape_tab.method == "random"].set_index("sparsity").flatness
    shape_tab["flatness / Random"] = [
        r.flatness / rnd.get(r.sparsity, np.nan) for r in shape_tab.itertuples()
    ]
    out += [
        "Shape of the hidden-layer graphons at the largest width (mean of the hidden → hidden layers): "
        "`flatness` is the distance to the constant graphon of the layer's density (Random's value is the "
        "finite-size floor: sampling noise plus the degree sort); `zero_blocks` the fraction of blocks "
        "below 1% of the density; `row_trend`/`col_trend` the Spearman correlation of block means with "
        "degree rank (−1: density falls steadily from high- to low-degree units); `empty_*` the fraction "
        "of units left without links.",
        "",
        _md(shape_tab),
        "",
    ]
    # claim 1: Random and Magnitude flat
    flat = shape_tab[shape_tab.method.isin(["random", "magnitude"])]
    if len(flat):
        worst = float(flat["flatness / Random"].max())
        verdicts.append(
            f"Random and Magnitude estimates are flat at the density: **{'agrees' if worst < 1.5 else 'does not agree'}** "
            f"(Magnitude's flatness is at most {worst:.2f}× Random's finite-size floor; criterion < 1.5×)."
        )
    # claim 2: SNIP and GraSP smooth gradients favouring high-degree units
    sg = shape_tab[shape_tab.method.isin(["snip", "grasp"])]
    if len(sg):
        trend = float(sg[["row_trend", "col_trend"]].max().max())
        excess = float(sg["flatness / Random"].min())
        ok = trend < -0.8 and excess > 2
        verdicts.append(
            f"SNIP and GraSP show smooth gradients favouring high-degree units: **{'agrees' if ok else 'partly'}** "
            f"(block means fall with degree rank, Spearman ≤ {trend:.2f}; flatness ≥ {excess:.1f}× Random's; "
            "criteria: ≤ −0.8 and > 2×)."
        )
    # claim 3: SynFlow block-like, empties whole units at 90%
    sf = shape_tab[(shape_tab.method == "synflow") & (np.isclose(shape_tab.sparsity, 0.9))]
    if len(sf):
        r = sf.iloc[0]
        emptied = max(r.empty_inputs, r.empty_outputs)
        verdicts.append(
            f"SynFlow is block-like and empties whole units at 90% sparsity: **{'agrees' if emptied > 0.05 else 'does not agree'}** "
            f"({100 * r.empty_inputs:.1f}% of hidden input units and {100 * r.empty_outputs:.1f}% of output "
            f"units without links, {100 * r.zero_blocks:.0f}% of blocks empty; criterion > 5% of units)."
        )
    out += [f"![emptied units]({rel / 'empty_units.png'})", ""]
    empty_units_plot(units, study.methods, hidden, widest, figs / "empty_units.png")
    conv, rates = t["convergence"], t["rates"]
    if len(conv):
        convergence_plot(conv, study.methods, figs / "convergence.png")
        out += [
            f"![distance to the widest estimate]({rel / 'convergence.png'})",
            "",
            f"*Distance (L2 of step functions) of the trial-mean estimate at width n to the one at width {widest}, "
            "hidden → hidden layers. Lines: bootstrap bias-corrected distances with 95% basic-bootstrap "
            "intervals (trials resampled at both widths); crosses: plug-in distances. Trial noise adds to a "
            "plug-in distance, so part of its fall with width is the noise shrinking; the corrected distance "
            "estimates how far the limits themselves are apart.*",
            "",
            "Fitted rates, distance ∝ n^−r over the widths below the largest: `rate` of the plug-in distances "
            "(95% basic-bootstrap interval `lo`–`hi`), `rate_bc` of the bias-corrected ones (NaN when fewer than "
            "two are above 0); `monotone`: the plug-in distance falls at every step in width.",
            "",
            _md(rates),
            "",
            "Distances (plug-in `distance`, corrected `distance_bc`, interval `lo`–`hi`):",
            "",
            _md(
                conv[
                    [
                        "method",
                        "sparsity",
                        "layer",
                        "width",
                        "distance",
                        "distance_bc",
                        "lo",
                        "hi",
                        "trials",
                    ]
                ]
            ),
            "",
        ]
        mono = float(rates.monotone.mean())
        verdicts.append(
            f"Distances to the widest estimate fall monotonically with width: **{'agrees' if mono == 1 else 'partly'}** "
            f"({int(rates.monotone.sum())} of {len(rates)} (method, sparsity, layer) curves of plug-in distances "
            f"are monotone; rates r from {rates.rate.min():.2f} to {rates.rate.max():.2f}; bias-corrected "
            f"rates {_range(rates.rate_bc)})."
        )
    return out, verdicts


def _range(values: pd.Series) -> str:
    v = values.dropna()
    return (
        f"from {v.min():.2f} to {v.max():.2f} where defined ({len(v)} of {len(values)})"
        if len(v)
        else "undefined"
    )


def study_input(study: Any) -> str:
    """The input size the study's data set gives (784 for the MNIST family)."""
    return {"fashion-mnist": "784", "mnist": "784", "digits": "64"}.get(study.data.name, "d")


def ntk_section(
    study: Any, t: dict[str, Any], figs: Path, rel: Path
) -> tuple[list[str], list[str]]:
    """Markdown of the spectral study and its verdict lines."""
    out = ["## 2. The Graphon NTK and early training", ""]
    verdicts: list[str] = []
    spectra, training, loss = t["spectra"], t["training"], t["loss"]
    write_tables({k: v for k, v in t.items() if k != "eigenvalues"}, figs, "ntk")
    out += [
        f"Network: bias-free ReLU MLP {study_input(study)} → {study.width} × {study.hidden} → classes, every layer "
        f"pruned ({', '.join(label(m) for m in study.methods)} at "
        f"{', '.join(f'{100 * s:g}%' for s in study.sparsities)}). Kernels on {study.samples} training inputs of "
        f"{study.data.name}, logit {study.output}: the empirical NTK of the pruned network at initialisation (NTK "
        f"parametrisation) and the Graphon NTK of its masks' chained block graphons (K = {study.k}). Power-law "
        "fit over k = 2 … n/4. Training: "
        f"{study.train.steps} {study.train.optimizer} steps, lr {study.train.lr:g}, batch {study.train.batch_size}, "
        f"seeds {study.train.seeds}.",
        "",
    ]
    if len(spectra):
        ntk_metrics_plot(spectra, study.methods, figs / "ntk_metrics.png")
        out += [
            f"![NTK metrics against sparsity]({rel / 'ntk_metrics.png'})",
            "",
            "*Solid: empirical NTK; dashed: Graphon NTK; grey: the dense network.*",
            "",
        ]
        cols = [
            "method",
            "sparsity",
            "emp/alpha",
            "emp/effective_rank",
            "emp/gap",
            "emp/top5_energy",
            "gntk/alpha",
            "gntk/effective_rank",
            "gntk/gap",
            "gntk/top5_energy",
        ]
        out += [_md(spectra[[c for c in cols if c in spectra]]), ""]
        rnd = spectra[spectra.method == "random"]
        if len(rnd) and "gntk/ratio_dense" in rnd:
            sc = rnd[
                [
                    "sparsity",
                    "density_product",
                    "gntk/ratio_dense",
                    "gntk/residual_dense",
                    "emp/ratio_dense",
                    "emp/residual_dense",
                ]
            ]
            out += [
                "Random pruning against the dense network: least-squares ratio of the kernels and the relative "
                "residual; a constant graphon c_l on every layer predicts the ratio Π_l c_l (c^(L+1) with the "
                "readout pruned too).",
                "",
                _md(sc),
                "",
            ]
            rel_err = float(np.max(np.abs(sc["gntk/ratio_dense"] / sc.density_product - 1)))
            verdicts.append(
                f"Random's NTK is c^L × dense: **{'agrees' if rel_err < 0.1 else 'does not agree'}** for the "
                f"Graphon NTK (ratio within {100 * rel_err:.1f}% of Π c_l, residual ≤ "
                f"{sc['gntk/residual_dense'].max():.3f}); the empirical NTK of one finite network gives ratios "
                f"{', '.join(f'{v:.3g}' for v in sc['emp/ratio_dense'])} against "
                f"{', '.join(f'{v:.3g}' for v in sc.density_product)}."
            )
        for kind, what in (("emp", "empirical NTK"), ("gntk", "Graphon NTK")):
            key = f"{kind}/top5_energy"
            if key not in spectra:
                continue
            rows = []
            for m in ("snip", "synflow"):
                d = spectra[spectra.method == m].sort_values("sparsity")
                r = spectra[spectra.method == "random"].set_index("sparsity")[key]
                if len(d) > 1 and len(r):
                    v = d[key].to_numpy()
                    # "rises": > 1% higher at the largest sparsity than at the smallest, no step down > 1%
                    tol = 0.01 * abs(v[0])
                    rising = bool(v[-1] - v[0] > tol and np.all(np.diff(v) > -tol))
                    above = float(np.mean([x > r.get(s, np.inf) for s, x in zip(d.sparsity, v)]))
                    peak = int(np.argmax(v))
                    rows.append((m, rising, above, v, d.sparsity.to_numpy(), peak))
            if rows:
                score = [rising + (above >= 0.5) for _, rising, above, *_ in rows]
                word = (
                    "agrees"
                    if min(score) == 2
                    else ("does not agree" if max(score) == 0 else "partly")
                )
                detail = "; ".join(
                    f"{label(m)}: top-5 energy {v[0]:.3f} at {100 * sp[0]:g}% → {v[-1]:.3f} at "
                    f"{100 * sp[-1]:g}% (peak {v[peak]:.3f} at {100 * sp[peak]:g}%; "
                    f"{'rises' if rising else 'does not rise steadily'}), above Random's at "
                    f"{100 * above:.0f}% of sparsities"
                    for m, rising, above, v, sp, peak in rows
                )
                verdicts.append(
                    f"SNIP and SynFlow concentrate NTK energy in the top eigenvalues as sparsity grows "
                    f"({what}): **{word}** ({detail}; criteria: a rise of more than 1% from the "
                    "smallest to the largest sparsity with no step down of more than 1%, and above Random's at "
                    "half the sparsities or more)."
                )
    eig = t["eigenvalues"]
    if len(eig):
        spectra_plot(eig, study.methods, max(study.sparsities), figs / "ntk_spectra.png")
        out += [f"![eigenvalue spectra]({rel / 'ntk_spectra.png'})", ""]
    if len(loss):
        loss_curves_plot(loss, study.methods, figs / "ntk_loss.png")
        out += [
            f"![training loss]({rel / 'ntk_loss.png'})",
            "",
            "Mean training loss over the steps (nats; mean ± std over seeds), the last 10 steps, and test accuracy:",
            "",
            _md(training, ".4g"),
            "",
        ]
        faster = []
        for m in ("snip", "synflow"):
            for s in study.sparsities:
                a = training[(training.method == m) & (training.sparsity == s)]
                b = training[(training.method == "random") & (training.sparsity == s)]
                if len(a) and len(b):
                    faster.append((m, s, float(a.mean_loss.iloc[0]) < float(b.mean_loss.iloc[0])))
        if faster:
            share = np.mean([f for *_, f in faster])
            detail = ", ".join(
                f"{label(m)} {100 * s:g}% {'yes' if f else 'no'}" for m, s, f in faster
            )
            verdicts.append(
                f"SNIP and SynFlow train faster than Random at equal sparsity (lower mean loss over the first "
                f"{study.train.steps} steps): **{'agrees' if share == 1 else ('partly' if share >= 0.5 else 'does not agree')}** "
                f"({detail})."
            )
            verdicts += _scale_note(spectra, max(study.sparsities))
    return out, verdicts


def _scale_note(spectra: pd.DataFrame, sparsity: float) -> list[str]:
    """How far the kernels' scales differ at one sparsity (pruned networks are not rescaled)."""
    cols = ("emp/ratio_dense", "gntk/ratio_dense")
    at = spectra[np.isclose(spectra.sparsity, sparsity)].set_index("method")
    if not all(c in at for c in cols) or not {"random", "snip", "synflow"} <= set(at.index):
        return []
    ratios = {
        c: ", ".join(f"{label(m)} {at.loc[m, c]:.2g}" for m in ("random", "snip", "synflow"))
        for c in cols
    }
    return [
        f"Scale, not only shape: the pruned networks are not rescaled, and at {100 * sparsity:g}% sparsity "
        f"the least-squares ratio of each kernel to the dense network's is {ratios['emp/ratio_dense']} "
        f"(empirical NTK) and {ratios['gntk/ratio_dense']} (Graphon NTK). Part of Random's slower start "
        "is its far smaller kernel; and the Graphon NTK, whose weights are independent of the mask, "
        "does not see that SNIP and SynFlow keep the larger weights."
    ]


def write_page(
    store: Store,
    out: Path = Path("docs/reproductions"),
    convergence: str = "pham2025-convergence",
    ntk: str = "pham2025-ntk",
    note: str = "",
) -> Path:
    """Write the reproduction page and its figures from the studies stored under the given names."""
    figs = out / FIGURES
    figs.mkdir(parents=True, exist_ok=True)
    parts, verdicts = [], []
    conv_study, ntk_study = stored_study(store, convergence), stored_study(store, ntk)
    if conv_study is not None:
        text, v = graphon_section(conv_study, conv_study.analyse(store), figs, FIGURES)
        parts += text
        verdicts += v
    else:
        parts += [
            "## 1. Graphon limits of PaI masks",
            "",
            f"No study named `{convergence}` in the store.",
            "",
        ]
    if ntk_study is not None:
        text, v = ntk_section(ntk_study, ntk_study.analyse(store), figs, FIGURES)
        parts += text
        verdicts += v
    else:
        parts += [
            "## 2. The Graphon NTK and early training",
            "",
            f"No study named `{ntk}` in the store.",
            "",
        ]
    head = [
        "# Reproduction: the graphon limit hypothesis (Pham et al. 2025)",
        "",
        "Pham, Ta, Jacobs, Burkholz, Tran-Thanh, *The Graphon Limit Hypothesis: Understanding Neural Network "
        "Pruning via Infinite Width Analysis*, arXiv:2510.17515 (NeurIPS 2025). The paper reports figures only, "
        "no tables, and no code is public; masks follow the Synaptic-Flow reference code (Tanaka et al. 2020, "
        'arXiv:2006.05467) and what the paper leaves open is defined in `docs/definitions.md` ("Pruning at '
        'initialisation and graphon limits"). Generated by `reproductions/pham2025.py` from the store.',
        "",
    ]
    cuts = [
        (what, st, grid_cut(st))
        for what, st in (("convergence", conv_study), ("spectral", ntk_study))
        if st is not None
    ]
    if any(c for *_, c in cuts):
        differences = "; ".join(
            f"{what} study: {', '.join(f'`{k}` {v} (default {d})' for k, v, d in c)}"
            for what, _, c in cuts
            if c
        )
        commands = " and ".join(f"`{rerun_command(st, c)}`" for _, st, c in cuts if c)
        head += [
            "**Reduced grid.** The default configs (`configs/pham2025_convergence.yaml`, "
            "`configs/pham2025_ntk.yaml`) hold the paper's full grids; this page comes from studies "
            f"run with these differences: {differences}. This grid is rerun by {commands}; "
            "`make reproduce-pham2025` runs the full grids and rebuilds the page.",
            "",
        ]
    if note:
        head += [note, ""]
    head += ["## What the data show", "", *[f"- {v}" for v in verdicts], ""]
    tail = [
        "## Machine",
        "",
        f"Generated on {platform.machine()} / {platform.system()} with Python "
        f"{platform.python_version()}; run times are in the store (`prunelab ls`).",
        "",
    ]
    for what, st in (("convergence", conv_study), ("spectral", ntk_study)):
        if st is not None:
            done, planned, seconds = grid.compute_time(store, st)
            tail += [
                f"- {what} study `{st.name}` ({st.study_id()}): {done} of {planned} items finished, "
                f"{seconds / 60:.0f} min of summed item wall time.",
            ]
    tail += [""]
    page = out / PAGE
    page.write_text("\n".join(head + parts + tail) + "\n")
    return page


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python reproductions/pham2025.py --runs-dir runs --out docs/reproductions``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--out", default="docs/reproductions")
    ap.add_argument("--convergence", default="pham2025-convergence")
    ap.add_argument("--ntk", default="pham2025-ntk")
    ap.add_argument(
        "--note", default="", help="a paragraph shown under the introduction (e.g. the grid cut)"
    )
    args = ap.parse_args(argv)
    print(write_page(Store(args.runs_dir), Path(args.out), args.convergence, args.ntk, args.note))


if __name__ == "__main__":
    main()
