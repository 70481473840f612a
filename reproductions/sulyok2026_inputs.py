"""The input-robustness page of the Sulyok et al. (2026) networks, from the store only.

``python reproductions/sulyok2026_inputs.py --runs-dir DIR --out docs/reproductions`` writes
``sulyok2026_inputs.md`` and its figures from the runs of ``configs/sulyok2026_inputs*.yaml``
and the curves of ``configs/sulyok2026_inputs_robustness.yaml``: FGSM/PGD and shift curves of
the DST networks against dense and magnitude-pruned controls, AUC and ε½ with bootstrap
intervals, and the differences to the controls with intervals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from prunelab.core.config import read_yaml
from prunelab.errors import PrunelabError
from prunelab.experiments.store import Store
from prunelab.perturb import KINDS, curve_auc, curve_summary, f_half
from prunelab.perturb.plots import plot_input_curves
from prunelab.report.robustness import load_robustness, run_group
from prunelab.studies.robustness import RobustnessStudy

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "configs" / "sulyok2026_inputs_robustness.yaml"
ATTACKS = ("fgsm", "pgd", "pgd_l2", "transfer_pgd")
SHIFTS = ("gaussian_noise", "blur", "contrast", "rotation", "shift")
CONTROLS = ("dense", "magnitude-pruned")
N_BOOT = 2000


def runs_table(store: Store, sweeps: list[str]) -> pd.DataFrame:
    """One row per run of the sweeps: id, group, seed, status, epochs done, final clean test accuracy."""
    rows = []
    for sweep in sweeps:
        try:
            ids = store.resolve(sweep)[2]
        except Exception:  # noqa: BLE001 - a sweep not started yet is reported as missing
            continue
        metrics = store.metrics(ids, wide=True) if ids else pd.DataFrame()
        for run_id in ids:
            row = store.get_run(run_id)
            if row is None:
                continue
            own = (
                metrics[metrics.run_id == run_id].sort_values("epoch") if len(metrics) else metrics
            )
            train = row["config"].get("train") or {}  # an imported run was not trained here
            rows.append(
                {
                    "run_id": run_id,
                    "group": run_group(row["config"]),
                    "seed": train.get("seed"),
                    "status": row["status"],
                    "epochs": int(own.epoch.max()) if len(own) else 0,
                    "planned epochs": train.get("epochs"),
                    "train images": train.get("train_subset") or "all",
                    "test accuracy": float(own.test_accuracy.iloc[-1]) if len(own) else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _units(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strengths (S,), curves (U, S), baselines (U,)): units are networks, or draws for one network."""
    unit = "network" if frame.network.nunique() > 1 else "draw"
    curves = frame.pivot_table(index=unit, columns="strength", values="accuracy", aggfunc="mean")
    base = frame.groupby(unit).baseline_accuracy.mean().reindex(curves.index).to_numpy()
    return curves.columns.to_numpy(float), curves.to_numpy(float), base


def difference(
    curves: pd.DataFrame, kind: str, group: str, control: str, seed: int = 0
) -> dict[str, float]:
    """AUC and ε½ of ``group`` minus ``control`` for ``kind``, with 95% bootstrap intervals.

    Units (networks, or draws when a group has one network) are resampled within each group
    independently; the statistic is that of the resampled mean curves, as in ``curve_summary``.
    """
    rng = np.random.default_rng(seed)
    a = curves[(curves.kind == kind) & (curves.group == group)]
    b = curves[(curves.kind == kind) & (curves.group == control)]
    chance = float(a.chance.iloc[0])
    (s, ca, ba), (_, cb, bb) = _units(a), _units(b)
    ia = rng.integers(0, len(ca), size=(N_BOOT, len(ca)))
    ib = rng.integers(0, len(cb), size=(N_BOOT, len(cb)))
    auc = curve_auc(s, ca[ia].mean(1)) - curve_auc(s, cb[ib].mean(1))
    half = f_half(s, ca[ia].mean(1), chance, ba[ia].mean(1)) - f_half(
        s, cb[ib].mean(1), chance, bb[ib].mean(1)
    )
    point_auc = float(curve_auc(s, ca.mean(0)) - curve_auc(s, cb.mean(0)))
    point_half = float(
        f_half(s, ca.mean(0), chance, ba.mean()) - f_half(s, cb.mean(0), chance, bb.mean())
    )
    finite = half[np.isfinite(half)]
    return {
        "d_auc": point_auc,
        "d_auc_lo": float(np.quantile(auc, 0.025)),
        "d_auc_hi": float(np.quantile(auc, 0.975)),
        "control_auc": float(curve_auc(s, cb.mean(0))),
        "d_half": point_half,
        "d_half_lo": float(np.quantile(finite, 0.025)) if finite.size else np.nan,
        "d_half_hi": float(np.quantile(finite, 0.975)) if finite.size else np.nan,
    }


def _fmt(v: float, lo: float, hi: float, digits: int = 3) -> str:
    if not np.isfinite(v):
        return "—"
    return (
        f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
        if np.isfinite(lo)
        else f"{v:.{digits}f}"
    )


def verdict(d: dict[str, float]) -> str:
    """'more fragile' / 'more robust' when the AUC interval excludes 0, else 'indistinguishable'."""
    if d["d_auc_hi"] < 0:
        return "more fragile"
    if d["d_auc_lo"] > 0:
        return "more robust"
    return "indistinguishable"


def planned_runs(sweeps: list[str]) -> int | None:
    """Runs the sweeps' config files (``configs/<sweep>.yaml``) define, None when one is missing."""
    from prunelab.experiments.sweep import expand_sweep

    paths = [ROOT / "configs" / f"{name}.yaml" for name in sweeps]
    return (
        sum(len(expand_sweep(read_yaml(p))) for p in paths)
        if all(p.exists() for p in paths)
        else None
    )


def write_page(store: Store, out: Path, study_path: Path = STUDY) -> Path:
    """Write ``sulyok2026_inputs.md`` and its figures into ``out``; returns the page's path.

    ``study_path`` is the robustness study config whose runs, kinds and options the page reports.
    """
    study = read_yaml(study_path)
    sweeps = [study["runs"]] if isinstance(study["runs"], str) else list(study["runs"])
    runs = runs_table(store, sweeps)
    finished = runs[runs.status == "finished"] if len(runs) else runs
    curves, _ = load_robustness(
        store, list(finished.run_id) if len(finished) else [], seed=int(study.get("seed", 0))
    )
    curves = curves[curves.kind.isin(study["kinds"])] if len(curves) else curves
    try:  # the study's own resolution of transfer_source (a run id or a run name)
        source = RobustnessStudy(**study).source_run(store)
    except PrunelabError:  # the source is not trained yet: there are no transfer curves
        source = None
    if len(
        curves
    ):  # the transfer source attacked with its own gradients is white-box, not transfer
        curves = curves[~((curves.kind == "transfer_pgd") & (curves.run_id == source))]
    figures = out / "figures"
    lines = [
        "# Sulyok et al. (2026) networks under input attacks and distribution shift",
        "",
        "Generated by `reproductions/sulyok2026_inputs.py` from the store only (definitions: "
        "[robustness](../robustness.md), [definitions](../definitions.md#input-space-robustness)). "
        "FGSM (Goodfellow et al. 2015, arXiv:1412.6572) and PGD (Madry et al. 2018, arXiv:1706.06083) "
        "attacks and corruptions after Hendrycks & Dietterich (2019, arXiv:1903.12261) on the dynamic "
        "sparse training networks of Sulyok et al. (2026), against dense and magnitude-pruned "
        "networks of the same layer sizes, without retraining.",
        "",
        "## Budget",
        "",
    ]
    planned = planned_runs(sweeps) or len(runs)
    lines += [budget_text(store, runs, sweeps, planned, study), ""]
    if len(runs):
        table = runs.assign(**{"test accuracy": (100 * runs["test accuracy"]).round(2)}).drop(
            columns=["run_id"]
        )
        lines += ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        lines += [
            "| " + " | ".join(str(v) for v in r) + " |" for r in table.itertuples(index=False)
        ]
        lines.append("")
    missing = runs[runs.status != "finished"] if len(runs) else runs
    if len(missing) or len(runs) < planned:
        parts = [f"{g} seed {s} (stopped)" for g, s in zip(missing.group, missing.seed)]
        if planned > len(runs):
            parts.append(f"{planned - len(runs)} not started")
        lines += [
            f"Not finished within the session's budget: {planned - len(finished)} network(s) "
            f"({'; '.join(parts)}).",
            "",
        ]
    if curves.empty:
        lines += [
            "No robustness curves in the store yet: run `prunelab run configs/sulyok2026_inputs_robustness.yaml`.",
            "",
        ]
    else:
        present_attacks = [k for k in ATTACKS if k in set(curves.kind)]
        present_shifts = [k for k in SHIFTS if k in set(curves.kind)]
        if present_attacks:
            plot_input_curves(
                curves[curves.kind.isin(present_attacks)],
                figures / "sulyok2026_inputs_attacks.png",
                kinds=present_attacks,
                ncols=2,
            )
            lines += [
                "## Curves",
                "",
                "![attacks](figures/sulyok2026_inputs_attacks.png)",
                "",
                "Accuracy vs attack radius ε (pixel units of [0, 1] inputs); mean over networks and draws, "
                "band 10–90th percentile.",
                "",
            ]
        if present_shifts:
            plot_input_curves(
                curves[curves.kind.isin(present_shifts)],
                figures / "sulyok2026_inputs_shift.png",
                kinds=present_shifts,
                ncols=3,
            )
            lines += [
                "![distribution shift](figures/sulyok2026_inputs_shift.png)",
                "",
                "Accuracy vs noise σ and corruption severity.",
                "",
            ]
        summary = curve_summary(curves, by=("group", "kind"), n_boot=N_BOOT, seed=0)
        lines += [
            "## AUC and ε½ per group",
            "",
            "AUC: mean accuracy over the strength grid; ε½ (f½): the strength at which accuracy has fallen "
            "halfway from the clean value to chance. 95% bootstrap intervals over networks (over draws "
            "where a group has one network).",
            "",
            "| kind | group | units (networks, or draws of one) | clean accuracy (attacked images) | AUC | ε½ / severity½ |",
            "|---|---|---|---|---|---|",
        ]
        for r in summary.sort_values(["kind", "group"]).itertuples(index=False):
            lines.append(
                f"| {r.kind} | {r.group} | {r.n_units} | {100 * r.baseline_accuracy:.1f}% | "
                f"{_fmt(r.auc, r.auc_lo, r.auc_hi)} | {_fmt(r.f_half, r.f_half_lo, r.f_half_hi, 4)} |"
            )
        lines.append("")
        groups = [g for g in dict.fromkeys(curves.group) if g not in CONTROLS]
        lines += [
            "## More or less fragile than the controls",
            "",
            "ΔAUC = AUC(group) − AUC(control) and Δε½ with 95% bootstrap intervals (units resampled within each "
            "group); 'more fragile' when the whole ΔAUC interval is below 0, 'more robust' when above, "
            "else indistinguishable at this budget.",
            "",
            "| kind | group | control | ΔAUC | ΔAUC / control AUC | Δε½ | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        verdicts = []
        for kind in [k for k in study["kinds"] if k in set(curves.kind)]:
            for group in groups:
                for control in CONTROLS:
                    have = set(curves[curves.kind == kind].group)
                    if group not in have or control not in have:
                        continue
                    d = difference(curves, kind, group, control)
                    v = verdict(d)
                    verdicts.append((kind, group, control, v, d))
                    lines.append(
                        f"| {kind} | {group} | {control} | {_fmt(d['d_auc'], d['d_auc_lo'], d['d_auc_hi'])} | "
                        f"{100 * d['d_auc'] / d['control_auc']:+.0f}% | "
                        f"{_fmt(d['d_half'], d['d_half_lo'], d['d_half_hi'], 4)} | {v} |"
                    )
        lines += ["", "## Findings", ""] + findings(verdicts) + [""]
        single = sorted(g for g, n in curves.groupby("group").network.nunique().items() if n == 1)
        if single:
            lines += [
                f"One network in {', '.join(single)}: the intervals of these groups are over the attack's "
                "random draws only, not over training seeds, so they understate the spread between "
                "networks; a verdict needs more seeds to carry over to the method.",
                "",
            ]
        clean = (
            finished.groupby("group")["test accuracy"].mean()
            if len(finished)
            else pd.Series(dtype=float)
        )
        if len(clean) and float(clean.max() - clean.min()) > 0.05:
            lines += [
                "Clean test accuracy differs between the groups (mean over their networks, all test "
                "images: "
                + ", ".join(f"{g} {100 * a:.1f}%" for g, a in clean.items())
                + "): a ΔAUC "
                "against a control of other clean accuracy mixes accuracy with robustness; compare "
                "the ε½ columns (measured from each network's own clean accuracy) as well.",
                "",
            ]
        options = sorted({o for o in curves.get("options", pd.Series(dtype=str)).dropna().unique()})
        lines += [
            "Curve options as stored (cache keys): "
            + "; ".join(f"`{json.dumps(json.loads(o))}`" for o in options),
            "",
        ]
    page = out / "sulyok2026_inputs.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines))
    return page


def budget_text(
    store: Store, runs: pd.DataFrame, sweeps: list[str], planned: int, study: dict
) -> str:
    """The page's budget paragraph, from the stored configs of the runs and the study options."""
    finished = runs[runs.status == "finished"] if len(runs) else runs
    configs = [store.get_run(r)["config"] for r in finished.run_id] if len(finished) else []
    text = (
        f"{len(finished)} of {planned} planned networks finished ("
        + ", ".join(f"`configs/{s}.yaml`" for s in sweeps)
        + "); each network's epochs and training images are in the table."
    )
    if configs:
        model, train = configs[0].get("model") or {}, configs[0].get("train") or {}
        sizes = "-".join(str(n) for n in model.get("sizes", []))
        text += (
            f" Layer sizes {sizes}, SGD lr {train.get('lr')}, momentum {train.get('momentum')}, "
            f"batch {train.get('batch_size')}."
        )
    dst = [c for c in configs if c.get("dst")]
    if dst:
        d, m = dst[0]["dst"], dst[0]["model"]
        text += (
            f" The DST networks are {100 * m['density']:g}% dense per sparse layer, "
            f"{100 * d['zeta']:g}% of each layer's links replaced per epoch."
        )
    pruned = [c["prune"] for c in configs if c.get("prune")]
    if pruned:
        text += (
            f" The magnitude-pruned networks were trained dense for {pruned[0]['at_epoch']} epochs, "
            f"pruned once to {100 * pruned[0]['density']:g}% per sparse layer by |w| and fine-tuned "
            "for the remaining epochs."
        )
    steps = study.get("steps")
    return text + (
        f" Attacks and corruptions: the first {study.get('test_inputs') or 'all'} test images, "
        f"{study.get('draws')} draws, PGD with {steps} steps of 2.5ε/{steps} from a random start; "
        f"the transfer attack is PGD crafted on `{study.get('transfer_source')}` (that network "
        "itself is left out of the transfer curves)."
    )


def findings(verdicts: list[tuple]) -> list[str]:
    """One bullet per (kind, control): which DST groups are more fragile or robust, by how much."""
    out = []
    by: dict[tuple[str, str], list] = {}
    for kind, group, control, v, d in verdicts:
        by.setdefault((kind, control), []).append((group, v, d))
    for (kind, control), items in by.items():
        parts = [
            f"{g} {v} (ΔAUC {d['d_auc']:+.3f} [{d['d_auc_lo']:+.3f}, {d['d_auc_hi']:+.3f}], "
            f"{100 * d['d_auc'] / d['control_auc']:+.0f}%)"
            for g, v, d in items
        ]
        out.append(f"- {KINDS[kind].description} — against {control}: " + "; ".join(parts) + ".")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reproductions")
    args = parser.parse_args()
    print(write_page(Store(args.runs_dir), args.out))


if __name__ == "__main__":
    main()
