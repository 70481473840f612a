"""Tables of a pruning phase-transition study, from its tidy table alone (pure analysis).

The input is the tidy table of a study (one row per width, seed and density, with the order
parameters of :mod:`prunelab.phase.measure`); the outputs are the tables of the report: means and
spreads, susceptibilities, critical densities of ``m`` and of path connectivity, the finite-size
collapse of ``m`` in density and in log density, and the transition counted in surviving links.
Definitions: ``docs/definitions.md`` (phase transitions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError
from prunelab.phase._tables import require_columns
from prunelab.phase.critical import compare_transitions, critical_points, susceptibility
from prunelab.phase.scaling import CollapseResult, fit_collapse

# observables averaged in the per-(width, density) table and plotted
OBSERVABLE_COLUMNS = (
    "measured_density",
    "accuracy",
    "m",
    "prediction_entropy",
    "outcome_entropy",
    "path_fraction",
    "input_path_fraction",
    "output_path_fraction",
    "lcc_fraction",
    "log_paths",
    "w_mean_abs",
    "w_rms",
    "w_kurtosis",
)


def collapse_row(res: CollapseResult, control: str, observable: str) -> dict[str, Any]:
    """One row of the collapse table: ρ_c (back in density units for a log10 control), ν, a, quality."""
    back = (lambda v: 10.0**v) if control == "log10_density" else (lambda v: v)
    return {
        "observable": observable,
        "control": control,
        "rho_c": back(res.xc),
        "rho_c_lo": back(res.ci["xc"][0]),
        "rho_c_hi": back(res.ci["xc"][1]),
        "xc": res.xc,
        "xc_lo": res.ci["xc"][0],
        "xc_hi": res.ci["xc"][1],
        "nu": res.nu,
        "nu_lo": res.ci["nu"][0],
        "nu_hi": res.ci["nu"][1],
        "a": res.a,
        "a_lo": res.ci["a"][0],
        "a_hi": res.ci["a"][1],
        "quality": res.quality,
        "n_points": res.n_points,
        "sizes": ",".join(str(int(s)) for s in res.sizes),
        "xc_at_edge": res.xc_at_edge,
    }


def analyse_study(
    df: pd.DataFrame,
    n_boot: int = 200,
    n_boot_collapse: int = 50,
    confidence: float = 0.95,
    structural: str = "path_fraction",
) -> dict[str, Any]:
    """Tables of a study's tidy table (one row per width, seed, density).

    Returns
    -------
    dict
        ``means`` (per width, density: mean and std of every observable), ``chi`` (χ of ``m``
        and of ``structural`` per width and density), ``critical`` (critical densities per width
        from the χ peak and from the inflection, for ``m`` and ``structural``, with bootstrap
        intervals; analysed in log10 density), ``collapse`` (fit_collapse of ``m`` in ``density``
        and in ``log10_density``; one row each, ``best`` marks the lower quality), ``collapses``
        (the :class:`CollapseResult` objects by control), ``exponents`` (the best collapse row
        with study, dataset, family), ``threshold_links`` (per width: surviving links at the
        inflection of m with bootstrap interval, the possible links and the implied density; a
        constant ``links_c`` across widths means the collapse is set by the absolute number of
        links left, not by the density), ``notes`` (list of one-line explanations of skipped parts).

    Raises
    ------
    ConfigError
        For a table missing the named columns.
    """
    require_columns(df, ["width", "seed", "density", "m", structural], "study table")
    df = df.copy()
    df["log10_density"] = np.log10(df["density"].astype(float))
    obs = [c for c in OBSERVABLE_COLUMNS if c in df.columns]
    g = df.groupby(["width", "density"], sort=True)[obs]
    means = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_std")).reset_index()
    means["n_seeds"] = df.groupby(["width", "density"], sort=True).size().to_numpy()
    chi = []
    for o in ("m", structural):
        s = susceptibility(df, "width", "density", o)
        s.insert(0, "observable", o)
        chi.append(s)
    out: dict[str, Any] = {"means": means, "chi": pd.concat(chi, ignore_index=True), "notes": []}
    meta = {k: df[k].iloc[0] for k in ("study", "dataset", "family") if k in df.columns}
    try:
        crit = compare_transitions(
            df,
            ("m", structural),
            size="width",
            control="density",
            seed="seed",
            log_control=True,
            n_boot=n_boot,
            confidence=confidence,
        )
        out["critical"] = crit.assign(**meta)
    except ConfigError as err:
        out["critical"] = pd.DataFrame(columns=["observable", "width", "method", "xc", "lo", "hi"])
        out["notes"].append(f"critical points skipped: {err}")
    rows, results = [], {}
    for control in ("density", "log10_density"):
        try:
            res = fit_collapse(
                df,
                size="width",
                control=control,
                observable="m",
                n_boot=n_boot_collapse,
                confidence=confidence,
                seed=0,
            )
        except ConfigError as err:
            out["notes"].append(f"collapse in {control} skipped: {err}")
            continue
        results[control] = res
        rows.append(collapse_row(res, control, "m"))
    collapse = pd.DataFrame(rows)
    if len(collapse):
        pool = collapse[~collapse.xc_at_edge] if (~collapse.xc_at_edge).any() else collapse
        collapse["best"] = collapse.index == pool["quality"].idxmin()
        if collapse.xc_at_edge.any():
            out["notes"].append(
                "collapse fit(s) with x_c at the edge of the search range: "
                + ", ".join(collapse.loc[collapse.xc_at_edge, "control"])
                + " (degenerate: the finite-size ansatz does not describe the data in this control)"
            )
        exps = collapse[collapse.best].head(1).assign(**meta)
    else:
        exps = pd.DataFrame()
    out["threshold_links"] = threshold_links(df, n_boot, confidence, out["notes"])
    out["collapse"] = collapse.assign(**meta) if len(collapse) else collapse
    out["collapses"] = results
    out["exponents"] = exps
    return out


def threshold_links(
    df: pd.DataFrame, n_boot: int, confidence: float, notes: list[str]
) -> pd.DataFrame:
    """Surviving links at the inflection of m per width (the transition counted in links, not density).

    Returns columns width, links_c (links), links_c_lo/hi (bootstrap interval over seeds),
    possible_links (links of the dense network), rho_c = links_c / possible_links. Skipped parts
    are explained in ``notes``.
    """
    cols = ["width", "links_c", "links_c_lo", "links_c_hi", "possible_links", "rho_c"]
    if "links" not in df.columns:
        return pd.DataFrame(columns=cols)
    part = df[df["links"] > 0]
    try:
        cp = critical_points(
            part,
            size="width",
            control="links",
            observable="m",
            seed="seed",
            log_control=True,
            n_boot=n_boot,
            confidence=confidence,
        )
    except ConfigError as err:
        notes.append(f"threshold in links skipped: {err}")
        return pd.DataFrame(columns=cols)
    possible = (part["links"] / part["measured_density"]).groupby(part["width"]).median()
    out = pd.DataFrame(
        {
            "width": cp["width"],
            "links_c": cp["xc_inflection"],
            "links_c_lo": cp["xc_inflection_lo"],
            "links_c_hi": cp["xc_inflection_hi"],
            "possible_links": cp["width"].map(possible).round().astype(int),
        }
    )
    out["rho_c"] = out["links_c"] / out["possible_links"]
    return out


def critical_summary(critical: pd.DataFrame) -> pd.DataFrame:
    """Wide view of :func:`compare_transitions` output: one row per width, columns per observable×method."""
    if critical is None or critical.empty:
        return pd.DataFrame()
    c = critical.copy()
    c["key"] = c["observable"] + "/" + c["method"]
    wide = c.pivot_table(index="width", columns="key", values=["xc", "lo", "hi"])
    wide.columns = [f"{k}:{v}" for v, k in wide.columns]
    return wide.reset_index()


def null_summary(null: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count of accuracy and m per (width, density, variant)."""
    if null is None or null.empty:
        return pd.DataFrame()
    g = null.groupby(["width", "density", "variant"], sort=True)
    out = g.agg(
        accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"),
        m_mean=("m", "mean"),
        m_std=("m", "std"),
        n=("accuracy", "size"),
    ).reset_index()
    return out.sort_values(
        ["width", "density", "variant"], ascending=[True, False, True]
    ).reset_index(drop=True)
