"""The HTML page of a ``sufficiency`` study: F_min, Ψ surfaces, the graded tests, spectra.

Built from the tables of :func:`prunelab.sufficiency.tables.analyse` with the figures of
:mod:`prunelab.sufficiency.plots`, on the one page machinery (:class:`~prunelab.report.page.Page`);
``summary.md`` and the CSV tables are written next to ``index.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prunelab.experiments.store import Store
from prunelab.report.html import header_of
from prunelab.report.page import Page
from prunelab.sufficiency.summary import (
    FMIN_COLUMNS,
    IRREV_COLUMNS,
    write_figures,
    write_summary,
    write_tables,
)

#: figure name -> (title, caption) of the page; captions say what is plotted, units and seeds
CAPTIONS = {
    "psi_curves": (
        "Ψ against density",
        "Ψ (normalised test accuracy: 1 = the dense network, 0 = chance) after the "
        "largest budget against the remaining density, mean ± std over seeds, per protocol; dashed: 1 − ε.",
    ),
    "fmin": (
        "F_min per network",
        "F_min (density) and surviving links at F_min with 95% bootstrap intervals over seeds, "
        "for the best protocol and each protocol.",
    ),
    "rosenfeld": (
        "Error–density law",
        "Test error of the best protocol (seed means ± std) against density, log–log, the "
        "fitted Rosenfeld et al. law, its plateau exit d_κ (dotted) and F_min (dashed).",
    ),
    "hysteresis": (
        "Hysteresis",
        "Ψ along the prune-down sweep and the regrow-up sweeps (one per rule), mean ± std over seeds.",
    ),
    "spectra": (
        "Dominant modes",
        "Least and mean top-k subspace overlap over layers with the dense network, retained share of "
        "the top-k singular values and effective rank per layer against density; B = 0 solid, largest budget "
        "dotted; seed means; dashed: F_min.",
    ),
    "criteria": (
        "Pruning criteria",
        "Ψ after the largest budget against density for each criterion at equal density "
        "(LR rewinding), mean ± std over seeds.",
    ),
    "equivalent": (
        "Dense same-weights control",
        "Ψ of the pruned network (best protocol) and of a dense network with as many "
        "weights, against the number of weights; seed means.",
    ),
}


def sufficiency_report(
    study: Any, store: Store, tables: dict[str, Any], out_dir: Path, single_file: bool = False
) -> Path:
    """Write ``index.html`` (and ``summary.md``, figures, CSVs) of a sufficiency study.

    Parameters
    ----------
    study : SufficiencyStudy
    store : Store
        Where its runs are (for the "What was run" header).
    tables : dict
        :meth:`SufficiencyStudy.analyse`.
    out_dir : Path
    single_file : bool
        Embed the figures in the HTML.

    Returns
    -------
    Path
        The HTML page.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figs = write_figures(tables, out_dir)
    write_tables(tables, out_dir)
    write_summary(tables, out_dir, study.name, figs)
    page = Page(
        f"prunelab report: {study.name}",
        "minimal structural sufficiency: recoverability after pruning",
    )
    rec = store.get_study(study.study_id()) or {}
    header_of(page, store, rec.get("run_ids", []), study.raw())
    if tables.get("notes"):
        page.section("Notes").items(tables["notes"])
    if "fmin" not in tables:
        return page.write(out_dir / "index.html", single_file=single_file)
    eps = tables["eps"]
    sec = page.section("F_min")
    sec.text(
        f"Lowest density from which Ψ ≥ 1 − ε = {1 - eps:g} holds at every higher density tested, for the best "
        "protocol (and each protocol) at the largest budget, interpolated in log density; 95% bootstrap intervals over seeds."
    )
    sec.table(
        tables["fmin"][tables["fmin"].split == "test"][list(FMIN_COLUMNS)].rename(
            columns=FMIN_COLUMNS
        ),
        "F_min, test split",
    )
    for key in ("fmin", "psi_curves"):
        if key in figs:
            sec.figure(figs[key], *CAPTIONS[key])
    sec = page.section("Recoverability surface Ψ(ρ, B)")
    for key in [k for k in figs if k.startswith("heatmap_")]:
        sec.figure(
            figs[key],
            f"Ψ(ρ, B), {key[8:]}",
            "Ψ (test split, seed mean) over log10 density and budget (epochs of "
            "retraining) per protocol, magnitude pruning; dashed: F_min.",
        )
    sec = page.section("Error–density law (Rosenfeld et al. 2021)")
    sec.table(
        tables["rosenfeld"], "fitted parameters with bootstrap intervals; d_kappa = plateau exit"
    )
    if "rosenfeld" in figs:
        sec.figure(figs["rosenfeld"], *CAPTIONS["rosenfeld"])
    sec = page.section("Graded irreversibility tests")
    sec.table(
        tables["irreversibility"][
            [c for c in IRREV_COLUMNS if c in tables["irreversibility"]]
        ].rename(columns=IRREV_COLUMNS),
        "1 hard floor, 2 budget saturation, 3 protocols and controls, 4 hysteresis; grade per density",
    )
    if len(tables.get("areas", [])):
        sec.table(tables["areas"], "hysteresis loop areas (Ψ per decade of density)")
    for key in ("hysteresis", "equivalent"):
        if key in figs:
            sec.figure(figs[key], *CAPTIONS[key])
    sec = page.section("Dominant spectral modes")
    sec.table(
        tables.get("principle"), "density where the least top-k overlap falls below ½ vs F_min"
    )
    for key in ("spectra", "criteria"):
        if key in figs:
            sec.figure(figs[key], *CAPTIONS[key])
    return page.write(out_dir / "index.html", single_file=single_file)
