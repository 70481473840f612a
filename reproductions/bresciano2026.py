"""Build ``docs/reproductions/bresciano2026.md`` from the results store.

Usage::

    python reproductions/bresciano2026.py --runs-dir runs --out docs/reproductions

Reads the newest stored ``sufficiency`` studies named ``bresciano2026`` (Fashion-MNIST),
``bresciano2026-digits`` and, when present, ``bresciano2026-mnist`` (the default config with
``--set data.name=mnist --set name=bresciano2026-mnist``), and any given with ``--study``; runs their analysis on the stored rows
only, and writes the page and its figures (``figures/bresciano2026/``). Every number on the page
comes from the store; the verdicts on the paper's claims are computed from the tables by
:func:`verdicts`. The default config (``configs/bresciano2026.yaml``) is read only to state how the
stored study differs from it (the cut made for the machine it ran on); likewise
``configs/bresciano2026_digits.yaml``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunelab.experiments.store import Store
from prunelab.studies import parse_study
from prunelab.sufficiency.summary import (
    FMIN_COLUMNS,
    IRREV_COLUMNS,
    interval,
    md_table,
    write_figures,
    write_tables,
)

ROOT = Path(__file__).resolve().parents[1]
STUDIES = (
    ("bresciano2026", "Fashion-MNIST"),
    ("bresciano2026-digits", "digits (8×8)"),
    ("bresciano2026-mnist", "MNIST"),
)
#: the config file each stored study is compared with, to state the cut it was run with
DEFAULT_CONFIGS = {
    "bresciano2026": "bresciano2026.yaml",
    "bresciano2026-digits": "bresciano2026_digits.yaml",
    "bresciano2026-mnist": "bresciano2026.yaml",
}
#: Han et al. (2015, arXiv:1506.02626), Table 1: LeNet-300-100 on MNIST, magnitude pruning with retraining
PUBLISHED_LENET = (
    "LeNet-300-100 on MNIST kept its error (1.64% → 1.59%) at 8% of the weights (12× fewer)"
)


def load(store: Store, name: str) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
    """``(study, tables, record)`` of the newest stored study called ``name``, or None."""
    studies = store.studies()
    rows = studies[(studies["name"] == name) & (studies["kind"] == "sufficiency")]
    if rows.empty:
        return None
    rec = store.get_study(rows.iloc[0]["id"])
    study = parse_study(rec["config"])
    return study, study.analyse(store), rec


def _describe(key: str, value: Any) -> str:
    """A short human form of a config value (networks by name, arms as criterion × protocols on networks)."""
    if key == "networks":
        return ", ".join(f"{n['name']} ({'-'.join(map(str, n['hidden']))})" for n in value)
    if key == "arms":
        return "; ".join(
            f"{a['criterion']}{'' if a['masks'] == ['pruned'] else ' ' + '/'.join(a['masks']) + ' masks'} × "
            f"{'/'.join(a['protocols'])} on {', '.join(a['networks']) if a['networks'] else 'all networks'}"
            for a in value
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in value.items())
    return json.dumps(value, separators=(",", ":"))


def config_cut(stored: dict[str, Any], default_path: Path) -> list[str]:
    """Where the stored study differs from the default config file, one line per key (for a
    section, only its differing entries)."""
    if not default_path.exists():
        return []
    from prunelab.core.config import read_yaml

    default = parse_study({**read_yaml(default_path), "kind": "sufficiency"}).raw()
    out = []
    for key in sorted(set(default) | set(stored)):
        a, b = stored.get(key), default.get(key)
        if key == "name" or a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            a = {k: v for k, v in a.items() if b.get(k) != v}
            b = {k: v for k, v in b.items() if k in a}
        out.append(f"`{key}`: {_describe(key, a)} (default: {_describe(key, b)})")
    return out


def _best_fmin(t: dict[str, Any], criterion: str = "magnitude") -> pd.DataFrame:
    f = t.get("fmin", pd.DataFrame())
    if f.empty:
        return f
    return f[
        (f.criterion == criterion)
        & (f.protocol == "best")
        & (f["mask"] == "pruned")
        & (f.split == "test")
    ]


def verdicts(t: dict[str, Any]) -> list[str]:
    """Plain statements, computed from the tables, on each of the paper's claims."""
    out: list[str] = []
    if "fmin" not in t:
        return ["No finished retraining runs: nothing can be said yet."]
    eps = t["eps"]
    best = _best_fmin(t)
    bracketed = best[best.status == "bracketed"]
    others = ", ".join(
        f"{r.network}: {r.status.replace('_', ' ')}"
        for r in best[best.status != "bracketed"].itertuples()
    )
    out.append(
        f"**F_min exists** (Ψ stays ≥ 1 − ε = {1 - eps:g} down to a density and not below it) for "
        f"{len(bracketed)} of {len(best)} networks (magnitude pruning, best protocol)"
        + (f"; outside the grid: {others}." if others else ".")
    )
    if len(bracketed) > 1:
        links = bracketed.links.to_numpy()
        out.append(
            f"Counted in surviving links, F_min ranges from {links.min():.0f} to {links.max():.0f} links "
            f"({links.max() / links.min():.1f}×) while the densities range from {bracketed.fmin.min():.3g} to "
            f"{bracketed.fmin.max():.3g}: "
            + (
                "the threshold is closer to a fixed number of links than to a fixed density."
                if links.max() / links.min() < bracketed.fmin.max() / bracketed.fmin.min()
                else "the threshold is closer to a fixed density than to a fixed number of links."
            )
        )
    col = t.get("collapse", pd.DataFrame())
    col = col[col.criterion == "magnitude"] if len(col) else col
    if len(col) and len(bracketed):
        both = bracketed.merge(col, on="network", suffixes=("", "_c"))
        ratios = both.fmin / both.rho_c
        out.append(
            "**How sharp is the loss?** Ψ of the best protocol falls to ½ at ρ_c = "
            + ", ".join(f"{r.network} {r.rho_c:.3g}" for r in both.itertuples())
            + f": {ratios.min():.2g}–{ratios.max():.2g}× below F_min. "
            + (
                "Between F_min and the collapse Ψ declines gradually over more than half a decade of density: F_min marks "
                "where a small loss begins, not a sudden breakdown."
                if ratios.min() > 3
                else "The collapse follows F_min within half a decade of density: the breakdown is sharp."
            )
        )
    irr = t.get("irreversibility", pd.DataFrame())
    below = []
    for r in bracketed.itertuples():
        sel = irr[
            (irr.network == r.network) & (irr.criterion == "magnitude") & (irr.density < r.fmin)
        ]
        below.append(sel)
    below = pd.concat(below) if below else pd.DataFrame()
    if len(below):
        counts = below.grade.value_counts().to_dict()
        n = len(below)
        text = ", ".join(f"{k}: {v}" for k, v in counts.items())
        irrev = counts.get("irreversible", 0) + counts.get("hard floor", 0)
        out.append(
            f"**Below F_min, is the collapse beyond retraining?** Of the {n} (network, density) points below F_min: {text}. "
            + (
                "Most are saturated and fail every protocol and control: within the tested budgets the collapse is not undone by retraining, as claimed."
                if irrev > n / 2
                else "For most of them Ψ is still rising between B_max/4 and B_max or another route (a control mask, DST, regrowth) recovers: "
                "the data do not show a collapse that retraining cannot undo."
            )
        )
    out += _supports(t, bracketed)
    eq = t.get("equivalent", pd.DataFrame())
    if len(eq) and len(bracketed):
        rows = []
        for r in bracketed.itertuples():
            sel = eq[(eq.network == r.network) & (eq.density < r.fmin)]
            if len(sel):
                rows.append((r.network, int((sel.psi_dense_equivalent >= 1 - eps).sum()), len(sel)))
        for net, ok, n in rows:
            out.append(
                f"**Capacity control ({net})**: below F_min, a dense network with as many weights reaches Ψ ≥ {1 - eps:g} at "
                f"{ok} of {n} densities. "
                + (
                    "The sparse network fails with capacity to spare: the pruned structure, not the "
                    "parameter count, is what is lost (the paper's 'whatever capacity remains')."
                    if ok > 0
                    else "The dense network of the same size fails too: at these sizes the "
                    "collapse coincides with a capacity limit, not only with a loss of structure."
                )
            )
    areas, loops = t.get("areas", pd.DataFrame()), t.get("loops", pd.DataFrame())
    if len(areas):
        parts = []
        for r in areas.itertuples():
            top = (
                loops[(loops.network == r.network) & (loops.rule == r.rule)]
                .sort_values("density")
                .iloc[-1]
            )
            parts.append(
                f"{r.rule}: area {r.area:.3g} ± {0 if not np.isfinite(r.area_std) else r.area_std:.2g} (Ψ per decade), "
                f"Ψ back at ρ = {top.density:.3g}: {top.psi_up:.3f} vs {top.psi_down:.3f} on the way down"
            )
        recovered = [
            r
            for r in areas.itertuples()
            if loops[(loops.network == r.network) & (loops.rule == r.rule)]
            .sort_values("density")
            .iloc[-1]
            .psi_up
            >= 1 - eps
        ]
        out.append(
            "**Hysteresis** (prune down past F_min, regrow back up with retraining at every step): "
            + "; ".join(parts)
            + ". "
            + (
                f"Regrowth with {', '.join(sorted({r.rule for r in recovered}))} brings Ψ back to ≥ {1 - eps:g} at the top of the "
                "sweep: the collapse is reversed once links return, so it is not irreversible in the structural sense."
                if recovered
                else f"No regrowth rule brings Ψ back to ≥ {1 - eps:g} within the sweep's retraining: the collapse "
                "leaves a trace that the up sweep does not remove at this training budget."
            )
        )
    pr = t.get("principle", pd.DataFrame())
    pr = pr[pr.criterion == "magnitude"] if len(pr) else pr
    if len(pr):
        ok = int(pr.intervals_overlap.sum())
        ratios = pr.ratio.replace([np.inf, -np.inf], np.nan).dropna()
        out.append(
            f"**Dominant modes and F_min**: the density where the least top-k subspace overlap over layers drops below ½ "
            f"(right after pruning) and F_min have overlapping intervals for {ok} of {len(pr)} networks; "
            f"ρ½ / F_min = "
            + (", ".join(f"{r.network} {r.ratio:.2g}" for r in pr.itertuples()))
            + (
                ". They coincide, as the paper's principle says."
                if ok == len(pr)
                else ". They do not coincide in general: losing half of the dominant subspace does not mark the collapse."
                if ok == 0
                else ". They coincide only for some networks."
            )
            + (f" (median ratio {ratios.median():.2g})" if len(ratios) else "")
        )
    crit = t["fmin"]
    crit = crit[
        (crit.split == "test") & (crit["mask"] == "pruned") & (crit.protocol == "lr-rewind")
    ]
    for net, g in crit.groupby("network"):
        if g.criterion.nunique() < 2 or "mode_preserving" not in set(g.criterion):
            continue
        mp, mg = g[g.criterion == "mode_preserving"].iloc[0], g[g.criterion == "magnitude"]
        if mg.empty:
            continue
        mg = mg.iloc[0]
        lower = mp.hi < mg.lo
        higher = mp.lo > mg.hi
        rnd = g[g.criterion == "random"]
        out.append(
            f"**Mode-preserving pruning ({net}, LR rewinding)**: F_min {interval(mp.fmin, mp.lo, mp.hi)} vs magnitude "
            f"{interval(mg.fmin, mg.lo, mg.hi)}"
            + (
                f" and random {interval(rnd.iloc[0].fmin, rnd.iloc[0].lo, rnd.iloc[0].hi)}"
                if len(rnd)
                else ""
            )
            + ": "
            + (
                "preserving the dominant modes lowers F_min."
                if lower
                else "preserving the dominant modes raises F_min (it is worse than magnitude)."
                if higher
                else "no significant difference from magnitude pruning."
            )
        )
    return out


def _supports(t: dict[str, Any], bracketed: pd.DataFrame) -> list[str]:
    """The 'invariant structural supports' claim: does the pruned wiring beat controls of the same
    density (its degree-preserving rewiring, an ER mask), all trained by the same protocol?"""
    means, col = t["surface_means"], t.get("collapse", pd.DataFrame())
    b_max = max(t["budgets"])
    out = []
    ctrl = means[
        (means["mask"] != "pruned") & (means.budget == b_max) & (means.criterion == "magnitude")
    ]
    for (net, proto), _ in ctrl.groupby(["network", "protocol"]):
        f = bracketed[bracketed.network == net]
        c = col[(col.network == net) & (col.criterion == "magnitude")] if len(col) else col
        if f.empty or c.empty:
            continue
        lo, hi = (
            float(c.rho_c.iloc[0]) / 2,
            float(f.fmin.iloc[0]) * 2,
        )  # the band where Ψ is lost, widened
        sel = means[
            (means.network == net)
            & (means.protocol == proto)
            & (means.budget == b_max)
            & (means.criterion == "magnitude")
            & means.density.between(lo, hi)
        ]
        avg = sel.groupby("mask").psi_test.mean()
        if "pruned" not in avg or len(avg) < 2:
            continue
        text = ", ".join(f"{m} {v:.3f}" for m, v in avg.items())
        best_ctrl = avg.drop("pruned").max()
        verdict = (
            "the pruned wiring carries more than its density and degrees: a structural support in the paper's sense"
            if avg["pruned"] - best_ctrl > 0.05
            else "the controls do as well as the pruned wiring: nothing in it beyond the density (and degrees) supports recovery"
            if abs(avg["pruned"] - best_ctrl) <= 0.05
            else "the controls do better than the pruned wiring"
        )
        out.append(
            f"**Structural supports ({net}, {proto})**: mean Ψ over the densities {lo:.3g}–{hi:.3g} (around the loss): "
            f"{text}; {verdict}."
        )
    return out


def dataset_section(
    label: str, t: dict[str, Any], rec: dict[str, Any], fig_dir: Path, rel: str, cut: list[str]
) -> str:
    """The page section of one stored study."""
    figs = write_figures(t, fig_dir)
    write_tables(t, fig_dir)
    eps = t.get("eps", 0.01)
    parts = [f"## {label} (`{rec['name']}`, study {rec['id']})\n\n"]
    if cut:
        parts.append(
            "**Cut relative to the default config** (what was run here):\n\n"
            + "".join(f"- {c}\n" for c in cut)
            + "\n"
        )
    parts += [f"- {n}\n" for n in t.get("notes", [])]
    if "fmin" not in t:
        return "".join(parts) + "\n_No finished runs yet._\n\n"
    pre = (
        t["pretrain"]
        .groupby("network")
        .agg(
            acc=("acc_test", "mean"),
            sd=("acc_test", "std"),
            seeds=("seed", "nunique"),
            links=("possible_links", "first"),
        )
        .reset_index()
    )
    pre["acc"] *= 100
    pre["sd"] *= 100
    parts += [
        "### Dense networks\n\n",
        md_table(
            pre,
            {
                "network": "network",
                "links": "possible links",
                "acc": "test accuracy (%)",
                "sd": "std",
                "seeds": "seeds",
            },
            4,
        ),
    ]
    parts.append(
        "\n### What the data say about the paper's claims\n\n"
        + "".join(f"- {v}\n" for v in verdicts(t))
    )

    def fig(key: str, caption: str) -> str:
        return f"\n![{caption}]({rel}/{figs[key].name})\n\n{caption}\n" if key in figs else ""

    parts.append("\n### Recoverability surface Ψ(ρ, B)\n")
    parts.append(
        fig(
            "psi_curves",
            f"Ψ after the largest budget against density, per protocol (mean ± std over seeds); dashed: 1 − ε = {1 - eps:g}.",
        )
    )
    for key in [k for k in figs if k.startswith("heatmap_")]:
        parts.append(
            fig(
                key,
                f"Ψ over (log ρ, B) for {key[8:]} (magnitude pruning); white dashed line: F_min.",
            )
        )
    parts += [
        "\n### F_min (test split, largest budget; 95% bootstrap intervals over seeds)\n\n",
        md_table(t["fmin"][t["fmin"].split == "test"], FMIN_COLUMNS),
    ]
    parts += [
        "\nCollapse density ρ_c, where Ψ of the best protocol falls to ½ (same interpolation and bootstrap):\n\n",
        md_table(
            t["collapse"],
            {
                "network": "network",
                "criterion": "criterion",
                "rho_c": "ρ_c",
                "lo": "lo",
                "hi": "hi",
                "status": "status",
                "links": "links",
            },
        ),
    ]
    tr = t["fmin"][(t["fmin"].split == "train") & (t["fmin"].protocol == "best")]
    parts += ["\nOn the training split (best protocol):\n\n", md_table(tr, FMIN_COLUMNS)]
    parts.append(
        fig(
            "fmin",
            "F_min per network in density and in surviving links (best protocol and each protocol).",
        )
    )
    parts += [
        "\n### Rosenfeld et al. error–density law\n\n",
        md_table(
            t["rosenfeld"],
            {
                "network": "network",
                "criterion": "criterion",
                "eps_np": "ε_np",
                "eps_np_lo": "lo",
                "eps_np_hi": "hi",
                "eps_up": "ε↑",
                "p": "p",
                "gamma": "γ",
                "gamma_lo": "lo",
                "gamma_hi": "hi",
                "kappa": "κ",
                "d_kappa": "d_κ",
                "d_kappa_lo": "lo",
                "d_kappa_hi": "hi",
                "rmse_log": "rms log residual",
                "at_bound": "parameter at a bound",
            },
        ),
    ]
    parts.append(
        fig(
            "rosenfeld",
            "Test error of the best protocol against density (log–log), the fitted law, its plateau exit d_κ (red dotted) and F_min (black dashed).",
        )
    )
    parts += [
        "\n### Graded irreversibility tests\n\nPer criterion and density (pruned masks; the hysteresis columns belong to the "
        "magnitude sweeps).\n\n",
        md_table(t["irreversibility"], IRREV_COLUMNS),
    ]
    if len(t.get("areas", [])):
        parts += [
            "\n### Hysteresis\n\n",
            md_table(
                t["areas"],
                {
                    "network": "network",
                    "rule": "regrowth",
                    "area": "area (Ψ·decade)",
                    "area_std": "std",
                    "gap_top": "Ψ_down − Ψ_up at the top",
                    "n_seeds": "seeds",
                },
            ),
        ]
        parts.append(
            fig(
                "hysteresis",
                "Ψ along the down sweep (prune + retrain) and the up sweeps (regrow + retrain).",
            )
        )
    parts.append("\n### Dominant spectral modes\n")
    parts.append(
        fig(
            "spectra",
            "Least and mean top-k subspace overlap over layers, retained share of the top-k singular values and effective ranks against density, right after pruning (solid) and after the largest budget (dotted); dashed: F_min.",
        )
    )
    if len(t.get("principle", [])):
        parts += [
            "\n",
            md_table(
                t["principle"],
                {
                    "network": "network",
                    "criterion": "criterion",
                    "rho_half": "ρ½",
                    "rho_half_lo": "lo",
                    "rho_half_hi": "hi",
                    "fmin": "F_min",
                    "fmin_lo": "lo",
                    "fmin_hi": "hi",
                    "ratio": "ρ½ / F_min",
                    "intervals_overlap": "coincide",
                },
            ),
        ]
    parts.append(
        fig(
            "criteria",
            "Mode-preserving vs magnitude vs random pruning at equal density (LR rewinding).",
        )
    )
    if len(t.get("equivalent", [])):
        parts.append(
            fig(
                "equivalent",
                "The pruned network vs a dense network with the same number of weights.",
            )
        )
    if "lenet-300-100" in set(t["pretrain"].network):
        f = _best_fmin(t)
        f = f[f.network == "lenet-300-100"]
        if len(f):
            r = f.iloc[0]
            parts.append(
                f"\n**LeNet-300-100**: F_min = {interval(r.fmin, r.lo, r.hi)} of the weights ({r.links:.0f} links) on "
                f"{label}. For comparison, Han et al. (2015, arXiv:1506.02626) report that {PUBLISHED_LENET}; "
                "that is MNIST, an easier task, and not directly comparable (MNIST is not available on this machine).\n"
            )
    return "".join(parts)


def overview(loaded: list[tuple[str, Any, dict[str, Any]]]) -> str:
    """One row per (data set, network): F_min of the best protocol with its interval, in density and
    links, d_κ, and F_min of DST-trained networks where run: how F_min depends on width, depth and
    data set at a glance."""
    rows = []
    for label, study, t in loaded:
        if "fmin" not in t:
            continue
        f = t["fmin"][(t["fmin"].split == "test") & (t["fmin"]["mask"] == "pruned")]
        ros = t["rosenfeld"].set_index(["network", "criterion"]) if len(t["rosenfeld"]) else None
        for net in study.networks:
            best = f[
                (f.network == net.name) & (f.criterion == "magnitude") & (f.protocol == "best")
            ]
            if best.empty:
                continue
            b = best.iloc[0]
            dst = f[(f.network == net.name) & (f.protocol == "dst")]
            dk = (
                ros.loc[(net.name, "magnitude")]
                if ros is not None and (net.name, "magnitude") in ros.index
                else None
            )
            col = t["collapse"][
                (t["collapse"].network == net.name) & (t["collapse"].criterion == "magnitude")
            ]
            pre = t["pretrain"][t["pretrain"].network == net.name]
            rows.append(
                {
                    "data": label,
                    "network": net.name,
                    "hidden": "-".join(map(str, net.hidden)),
                    "links": float(b.possible_links),
                    "acc": 100 * float(pre.acc_test.mean()),
                    "fmin": interval(b.fmin, b.lo, b.hi)
                    + ("" if b.status == "bracketed" else f" ({b.status.replace('_', ' ')})"),
                    "at": interval(b.links, b.links_lo, b.links_hi, 4),
                    "dk": interval(dk.d_kappa, dk.d_kappa_lo, dk.d_kappa_hi)
                    if dk is not None
                    else "–",
                    "rc": interval(col.iloc[0].rho_c, col.iloc[0].lo, col.iloc[0].hi)
                    if len(col)
                    else "–",
                    "dst": interval(dst.iloc[0].fmin, dst.iloc[0].lo, dst.iloc[0].hi)
                    if len(dst)
                    else "–",
                }
            )
    return md_table(
        pd.DataFrame(rows),
        {
            "data": "data",
            "network": "network",
            "hidden": "hidden",
            "links": "possible links",
            "acc": "dense test acc. (%)",
            "fmin": "F_min [95% CI]",
            "at": "links at F_min",
            "dk": "d_κ (Rosenfeld)",
            "rc": "ρ_c (Ψ = ½)",
            "dst": "F_min, DST-trained",
        },
        4,
    )


HEADER = """# When models stop recovering: minimal structural sufficiency (Bresciano 2026)

> Generated by `reproductions/bresciano2026.py` from the results store on {date}; every number
> below comes from the stored runs. Studies found: {found}.{missing}

Source: Bresciano (2026), "When Models Stop Recovering: Minimal Structural Sufficiency and Irreversible
Collapse in Neural Network Pruning", Zenodo, doi:10.5281/zenodo.18485476. Only the abstract is
published. Its claims: (1) below a critical density **F_min** pruning causes a collapse of operational
performance **Ψ** that **retraining cannot undo, whatever capacity remains**; (2) stability depends on
preserving **invariant structural supports** rather than on density; (3) the collapse comes when the
**dominant spectral modes** are disrupted.

Since only the abstract exists, **every definition here is prunelab's own** (`docs/definitions.md`,
section *Minimal structural sufficiency*), anchored in Rosenfeld et al. (2021, arXiv:2006.10621) for
the error–density law, Frankle et al. (2020, arXiv:1912.05671) for rewinding, Renda et al. (2020,
arXiv:2003.02389) for learning-rate rewinding and Tanaka et al. (2020, arXiv:2006.05467) for layer
collapse (the hard floor).

## How to run

```bash
prunelab run configs/bresciano2026.yaml --workers 2          # Fashion-MNIST, the default study
prunelab run configs/bresciano2026_digits.yaml --workers 2   # digits
prunelab run configs/bresciano2026_quick.yaml                # a minutes-long miniature (digits)
prunelab run configs/bresciano2026.yaml --set data.name=mnist --set name=bresciano2026-mnist  # MNIST
python reproductions/bresciano2026.py --runs-dir runs --out docs/reproductions
```

Every item (pretraining per network and seed; one retraining run per density, protocol, criterion and
mask; the hysteresis sweeps) is one run in the store with a content-hash id: rerunning skips finished
items and resumes unfinished ones from their last epoch or step, through any executor.

## Protocol

- **Networks**: fully connected, every layer (the readout too) a prunable sparse layer; pretrained dense
  (SGD, momentum 0.9, cosine schedule), one network per (network, seed).
- **Pruning** to each density ρ of the grid (remaining fraction of the dense links): global magnitude by
  default; random and mode-preserving at equal density as options (any registered link score).
- **Retraining protocols**, each one run of B_max epochs with Ψ stored after B ∈ {{budgets}} epochs:
  `finetune` (pruned weights, last pretraining learning rate), `rewind` (weights rewound to
  initialisation, pretraining schedule), `lr-rewind` (pruned weights, pretraining schedule),
  `scratch` (fresh initialisation of the mask); `dst` (dynamic sparse training from an ER mask with the
  same links per layer) as the training-method comparison.
- **Ψ** = normalised accuracy (A − 1/C)/(A_dense − 1/C) against the same network's dense accuracy, on the
  test and on the training split, not clipped.
- **F_min** = the lowest density at which Ψ ≥ 1 − ε holds there and at every higher density tested, for the
  best retraining protocol at B_max, interpolated in log ρ; 95% percentile bootstrap over seeds; also in
  surviving links. **d_κ** = the density where the fitted Rosenfeld law reaches (1 + κ)·ε_np, with κ matched
  to ε (κ = ε·(A_dense − 1/C)/ε_np) and the high plateau fixed at chance error.
- **Graded tests** per density: (1) hard floor — a layer without links or no input→output path;
  (2) budget saturation — Ψ rises by < 0.01 from B_max/4 to B_max; (3) protocol independence — every
  protocol fails, and ER / degree-preserving control masks and DST as further routes; (4) hysteresis —
  prune down past F_min in steps, regrow back up (random, CH3-L3, gradient) with retraining at each step.
- **Spectral modes** per layer (sparse-aware singular values): effective rank, modes holding 90% of
  Σσ², modes above the null edge (largest σ of the same mask with permuted weights), top-k subspace
  overlap with the dense network and retained share of the top-k singular values.

"""


def write_page(
    store: Store | Sequence[Store],
    out: Path,
    names: tuple[tuple[str, str], ...] = STUDIES,
    configs: Path = ROOT / "configs",
) -> Path:
    """Write ``<out>/bresciano2026.md`` and ``<out>/figures/bresciano2026/<study>/``; returns the page.

    ``store`` may be several stores: each study is read from the first one that holds it.
    """
    out = Path(out)
    stores = [store] if isinstance(store, Store) else list(store)
    sections, found, loaded = [], [], []
    budgets = None
    for name, label in names:
        got = next((g for g in (load(st, name) for st in stores) if g is not None), None)
        if got is None:
            continue
        study, t, rec = got
        found.append(f"`{name}`")
        budgets = budgets or study.retrain.budgets
        cut = (
            config_cut(rec["config"], configs / DEFAULT_CONFIGS[name])
            if name in DEFAULT_CONFIGS
            else []
        )
        fig_dir = out / "figures" / "bresciano2026" / name
        fig_dir.mkdir(parents=True, exist_ok=True)
        sections.append(
            dataset_section(label, t, rec, fig_dir, f"figures/bresciano2026/{name}", cut)
        )
        loaded.append((label, study, t))
    header = HEADER.replace("{{budgets}}", ", ".join(map(str, budgets or [0, 1, 2, 5, 10, 20])))
    missing = [f"`{n}`" for n, _ in names if f"`{n}`" not in found]
    missing_line = (
        (
            "\n> Not in the store, so absent from this page: "
            + ", ".join(missing)
            + " (the commands below add them)."
        )
        if missing and found
        else ""
    )
    header = header.format(
        date=dt.date.today().isoformat(), found=", ".join(found) or "none", missing=missing_line
    )
    if not sections:
        sections.append(
            "## Results\n\nNo stored `sufficiency` study named "
            + " or ".join(n for n, _ in names)
            + " yet; run the commands above first.\n"
        )
    else:
        sections.insert(
            0,
            "## F_min at a glance (magnitude pruning, best retraining protocol, test split)\n\n"
            + overview(loaded),
        )
    out.mkdir(parents=True, exist_ok=True)
    page = out / "bresciano2026.md"
    page.write_text(header + "\n".join(sections))
    return page


def main() -> None:
    """Command line: write the page from ``--runs-dir`` into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs-dir",
        action="append",
        default=None,
        help="results store (repeatable: each study is read from the first store holding it; default runs)",
    )
    parser.add_argument("--out", default="docs/reproductions", help="folder of the page")
    parser.add_argument(
        "--study",
        action="append",
        default=[],
        help="another stored study name to include (NAME=LABEL)",
    )
    args = parser.parse_args()
    names = STUDIES + tuple(tuple(s.split("=", 1)) if "=" in s else (s, s) for s in args.study)
    stores = [Store(d) for d in (args.runs_dir or ["runs"])]
    print(write_page(stores, Path(args.out), names))


if __name__ == "__main__":
    main()
