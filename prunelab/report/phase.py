"""Report of a pruning phase-transition study (Pesce, He & Caldarelli 2026, arXiv:2602.15224):
figures, CSV tables, ``summary.md`` and ``index.html`` from the study's analysed tables.

Nothing here trains: :meth:`prunelab.studies.phase.PhaseStudy.report` analyses the store and calls
:func:`phase_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the columns of a finite-size collapse fit: ρ_c, ν and the amplitude a with 95% intervals, and S
FIT_COLUMNS = [
    "rho_c",
    "rho_c_lo",
    "rho_c_hi",
    "nu",
    "nu_lo",
    "nu_hi",
    "a",
    "a_lo",
    "a_hi",
    "quality",
]


def _markdown_table(df) -> str:
    if df is None or len(df) == 0:
        return "(none)\n"
    return df.to_markdown(index=False, floatfmt=".4g") + "\n"


def write_report(
    out_dir: Path,
    title: str,
    sections: list[tuple[str, str, Any, list[Path]]],
    notes: list[str],
    header: str,
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``index.html``; ``sections`` = (heading, text, table or None, figures).

    The HTML page is a :class:`~prunelab.report.page.Page` (contents, folding sections, print
    CSS, offline); each figure's caption is its section's text.
    """
    from prunelab.report.page import Page

    md = [f"# {title}\n", header + "\n"]
    page = Page(title, header)
    for heading, text, table, figs in sections:
        md.append(f"## {heading}\n")
        sec = page.section(heading)
        if text:
            md.append(text + "\n")
            sec.text(text)
        if table is not None:
            md.append(_markdown_table(table))
            sec.table(table)
        for f in figs:
            rel = Path(f).name
            md.append(f"![{rel}]({rel})\n")
            sec.figure(f, Path(f).stem.replace("_", " "), text or heading)
    if notes:
        md.append("## Notes\n")
        md.extend(f"- {n}" for n in notes)
        page.section("Notes").items(notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path = out_dir / "summary.md"
    md_path.write_text("\n".join(md) + "\n")
    return md_path, page.write(out_dir / "index.html")


def phase_report(
    study, tables: dict[str, dict[str, Any]], out_dir: Path, notes: list[str], header: str
) -> dict[str, Any]:
    """Figures, CSV tables, ``summary.md`` and ``index.html`` of a phase study from its analysed tables.

    Parameters
    ----------
    study : PhaseStudy
        The study (its sub-studies give the protocol text of each section).
    tables : dict
        Per sub-study name: ``table`` (tidy trajectories), the analysis tables of
        :func:`prunelab.phase.analysis.analyse_study` and ``null`` (or None).
    out_dir : Path
    notes : list of str
        Explanations of skipped parts, printed at the end.
    header : str
        First paragraph of the page.

    Returns
    -------
    dict
        ``out_dir``, ``summary`` (summary.md path), ``html`` (index.html path), ``exponents``
        (best collapse per study), ``notes``.
    """
    import pandas as pd

    from prunelab.phase import figures
    from prunelab.phase.analysis import critical_summary, null_summary

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections, exponents, notes = [], [], list(notes)
    for cfg in study.studies():
        res = tables[cfg.name]
        df = res["table"]
        notes.extend(f"{cfg.name}: {n_}" for n_ in res["notes"])
        prefix = f"{cfg.name}_"
        figs = [
            figures.plot_order_parameter(df, out_dir, "m", prefix),
            figures.plot_entropies(df, out_dir, prefix),
            figures.plot_connectivity(df, out_dir, prefix),
            figures.plot_susceptibility(df, out_dir, res["critical"], "m", prefix),
            figures.plot_susceptibility(df, out_dir, res["critical"], "path_fraction", prefix),
        ]
        for control, cres in res["collapses"].items():
            figs.append(figures.plot_collapse(df, cres, out_dir, control, "m", prefix))
        null, null_table = res.get("null"), None
        if null is not None and len(null):
            null_table = null_summary(null)
            figs.append(figures.plot_null(null, out_dir, "accuracy", prefix))
            null.to_csv(out_dir / f"{prefix}null.csv", index=False)
        df.to_csv(out_dir / f"{prefix}trajectories.csv", index=False)
        res["means"].to_csv(out_dir / f"{prefix}means.csv", index=False)
        crit = res["critical"]
        crit.to_csv(out_dir / f"{prefix}critical.csv", index=False)
        if len(res["collapse"]):
            res["collapse"].to_csv(out_dir / f"{prefix}collapse.csv", index=False)
        if len(res["exponents"]):
            exponents.append(res["exponents"])
        text = (
            f"{cfg.family.upper()} on {cfg.data.name}; widths {cfg.widths}; seeds {cfg.seeds}; "
            f"{len(cfg.densities())} densities from {cfg.densities()[0]:.3g} to {cfg.densities()[-1]:.3g}; "
            f"{cfg.method} pruning ({cfg.scope}), pretrain {cfg.pretrain_epochs} epochs, fine-tune "
            f"{cfg.finetune_epochs} epoch(s) per step, rewind {cfg.rewind}."
        )
        sections.append((f"{cfg.name}: curves", text, None, figs[:3]))
        cs = critical_summary(crit)
        sections.append(
            (
                f"{cfg.name}: critical densities (χ peak and inflection; m vs path fraction)",
                "Per width, in remaining density; lo/hi are bootstrap intervals over seeds.",
                cs,
                figs[3:5],
            )
        )
        links = res.get("threshold_links")
        if links is not None and len(links) and "links" in df.columns:
            links.to_csv(out_dir / f"{prefix}threshold_links.csv", index=False)
            spread = float(links.links_c.max() / links.links_c.min())
            sections.append(
                (
                    f"{cfg.name}: the transition counted in surviving links",
                    "Surviving links (all prunable layers) at the inflection of m vs log10(links), per width, "
                    f"with bootstrap intervals over seeds. Largest/smallest across widths: {spread:.2f}x, while the "
                    f"possible links grow {links.possible_links.max() / links.possible_links.min():.0f}x. A constant "
                    "links_c means the collapse is set by how many links are left, not by the density.",
                    links,
                    [figures.plot_vs_links(df, out_dir, "m", prefix, links)],
                )
            )
        col = res["collapse"]
        if len(col):
            col = col[["control", *FIT_COLUMNS, "n_points", "xc_at_edge", "best"]]
        sections.append(
            (
                f"{cfg.name}: finite-size collapse of m",
                "Both controls are fitted; 'best' = lower quality S.",
                col if len(col) else None,
                figs[5 : 5 + len(res["collapses"])],
            )
        )
        if null_table is not None:
            sections.append(
                (
                    f"{cfg.name}: degree-preserving null",
                    "Retrained with the mask fixed; 'trajectory' is the iteratively fine-tuned value at that step.",
                    null_table,
                    figs[-1:],
                )
            )
    exp = pd.concat(exponents, ignore_index=True) if exponents else pd.DataFrame()
    if len(exp):
        exp = exp[["study", "dataset", "family", "control", *FIT_COLUMNS, "xc_at_edge", "sizes"]]
        exp.to_csv(out_dir / "exponents.csv", index=False)
    sections.insert(
        0,
        (
            "Exponents across studies (universality)",
            "Best collapse of m per study; intervals are bootstrap percentiles.",
            exp if len(exp) else None,
            [],
        ),
    )
    md, page = write_report(
        out_dir, f"Pruning phase transitions: {study.name}", sections, notes, header
    )
    return {"out_dir": out_dir, "summary": md, "html": page, "exponents": exp, "notes": notes}
