"""Report of a pruning phase-transition study: runs the study, then writes figures, CSV tables,
``summary.md`` and ``index.html`` (Pesce, He & Caldarelli 2026; issue 7).

:func:`run_phase` is what ``prunelab phase`` calls; the CLI only parses options and prints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def _markdown_table(df) -> str:
    if df is None or len(df) == 0:
        return "(none)\n"
    return df.to_markdown(index=False, floatfmt=".4g") + "\n"


def write_report(out_dir: Path, title: str, sections: list[tuple[str, str, Any, list[Path]]], notes: list[str],
                 header: str) -> tuple[Path, Path]:
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


def check_schedules(top) -> None:
    """ConfigError (one line) when any study's schedule leaves 0 links at any of its widths, or
    lists null densities that are not on its schedule.

    Checked for the main study and every variant before anything is trained.
    """
    from prunelab.errors import ConfigError
    from prunelab.phase.study import _null_densities, build_model, check_schedule_links, load_data

    for cfg in top.studies():
        if cfg.null.enabled and cfg.null.densities != "auto":
            try:
                _null_densities(cfg, None, 0)
            except ConfigError as err:
                raise ConfigError(f"study {cfg.name}: {err}") from None
        data = load_data(cfg)
        for width in cfg.widths:
            try:
                check_schedule_links(cfg, build_model(cfg, data, width, 0))
            except ConfigError as err:
                raise ConfigError(f"study {cfg.name}, width {width}: {err}") from None


def run_phase(config: Path, quick: bool, runs_dir: Path, workers: int, out: Path | None, console=None) -> dict[str, Any]:
    """Run a phase study end to end: trajectories, analysis, null, figures, tables and summary.

    Parameters
    ----------
    config : path
        Phase-study YAML (e.g. ``configs/pesce2026.yaml``); its ``variants`` run as further studies.
    quick : bool
        Run the config's quick variant instead.
    runs_dir : path
        Results store; finished trajectories and null networks are reused, unfinished ones resume.
    workers : int
        Parallel trajectories (local process pool).
    out : path or None
        Report folder (default ``runs_dir/reports/<name>/``).
    console : rich Console, optional
        Progress lines go here.

    Returns
    -------
    dict
        ``out_dir``, ``summary`` (summary.md path), ``html`` (index.html path), ``exponents``
        (DataFrame, best collapse per study), ``tables`` (per study: trajectory table, analysis,
        null summary), ``seconds`` (wall time of this call, s), ``notes`` (list of str).
    """
    import pandas as pd

    from prunelab.experiments import Store
    from prunelab.phase import figures
    from prunelab.phase.study import (
        analyse_study,
        critical_summary,
        load_study_config,
        null_summary,
        run_null,
        run_study,
    )

    def say(msg: str) -> None:
        if console is not None:
            console.print(msg, markup=False, highlight=False)

    top = load_study_config(config, quick=quick)
    store = Store(runs_dir)
    out_dir = Path(out) if out else runs_dir / "reports" / top.name
    started = time.time()
    check_schedules(top)  # fail in seconds, not after the first study's hour
    sections, notes, exponents, tables = [], [], [], {}
    for cfg in top.studies():
        n = len(cfg.widths) * len(cfg.seeds)
        say(f"study {cfg.name}: {cfg.family} on {cfg.data.name}, widths {cfg.widths}, {len(cfg.seeds)} seeds, "
            f"{len(cfg.densities())} densities ({n} trajectories)")
        done = {"n": 0}

        def progress(info: dict[str, Any], n=n, done=done, name=cfg.name) -> None:
            if "step" not in info or info["step"] == info.get("n_steps", 0) - 1:
                done["n"] += 1
                say(f"  [{name}] trajectory {done['n']}/{n} (width {info['width']}, seed {info['seed']}): "
                    f"{info.get('status', 'finished')}  {time.time() - started:.0f}s")

        df = run_study(cfg, store, workers=workers, progress=progress)
        res = analyse_study(df, n_boot=cfg.analysis.n_boot, n_boot_collapse=cfg.analysis.n_boot_collapse,
                            confidence=cfg.analysis.confidence)
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
        null_table = None
        if cfg.null.enabled and (cfg.null.n_rewired > 0 or cfg.null.er):
            say(f"  [{cfg.name}] degree-preserving null")
            try:
                null = run_null(cfg, store, critical=res["critical"], workers=workers)
                null_table = null_summary(null)
                figs.append(figures.plot_null(null, out_dir, "accuracy", prefix))
                null.to_csv(out_dir / f"{prefix}null.csv", index=False)
            except Exception as err:  # noqa: BLE001 - report the reason, keep the rest of the study
                from prunelab.errors import PrunelabError

                if not isinstance(err, PrunelabError):
                    raise
                notes.append(f"{cfg.name}: null skipped: {err}")
        out_dir.mkdir(parents=True, exist_ok=True)
        df.to_csv(out_dir / f"{prefix}trajectories.csv", index=False)
        res["means"].to_csv(out_dir / f"{prefix}means.csv", index=False)
        crit = res["critical"]
        crit.to_csv(out_dir / f"{prefix}critical.csv", index=False)
        if len(res["collapse"]):
            res["collapse"].to_csv(out_dir / f"{prefix}collapse.csv", index=False)
        if len(res["exponents"]):
            exponents.append(res["exponents"])
        tables[cfg.name] = {"table": df, "analysis": res, "null": null_table}
        text = (f"{cfg.family.upper()} on {cfg.data.name}; widths {cfg.widths}; seeds {cfg.seeds}; "
                f"{len(cfg.densities())} densities from {cfg.densities()[0]:.3g} to {cfg.densities()[-1]:.3g}; "
                f"{cfg.method} pruning ({cfg.scope}), pretrain {cfg.pretrain_epochs} epochs, fine-tune "
                f"{cfg.finetune_epochs} epoch(s) per step, rewind {cfg.rewind}.")
        sections.append((f"{cfg.name}: curves", text, None, figs[:3]))
        cs = critical_summary(crit)
        sections.append((f"{cfg.name}: critical densities (χ peak and inflection; m vs path fraction)",
                         "Per width, in remaining density; lo/hi are bootstrap intervals over seeds.", cs, figs[3:5]))
        links = res.get("threshold_links")
        if links is not None and len(links) and "links" in df.columns:
            links.to_csv(out_dir / f"{prefix}threshold_links.csv", index=False)
            spread = float(links.links_c.max() / links.links_c.min())
            sections.append((f"{cfg.name}: the transition counted in surviving links",
                             "Surviving links (all prunable layers) at the inflection of m vs log10(links), per width, "
                             f"with bootstrap intervals over seeds. Largest/smallest across widths: {spread:.2f}x, while the "
                             f"possible links grow {links.possible_links.max() / links.possible_links.min():.0f}x. A constant "
                             "links_c means the collapse is set by how many links are left, not by the density.",
                             links, [figures.plot_vs_links(df, out_dir, "m", prefix, links)]))
        col = res["collapse"]
        if len(col):
            col = col[["control", "rho_c", "rho_c_lo", "rho_c_hi", "nu", "nu_lo", "nu_hi", "a", "a_lo", "a_hi",
                       "quality", "n_points", "xc_at_edge", "best"]]
        sections.append((f"{cfg.name}: finite-size collapse of m", "Both controls are fitted; 'best' = lower quality S.",
                         col if len(col) else None, figs[5:5 + len(res["collapses"])]))
        if null_table is not None:
            sections.append((f"{cfg.name}: degree-preserving null",
                             "Retrained with the mask fixed; 'trajectory' is the iteratively fine-tuned value at that step.",
                             null_table, figs[-1:]))
    exp = pd.concat(exponents, ignore_index=True) if exponents else pd.DataFrame()
    if len(exp):
        exp = exp[["study", "dataset", "family", "control", "rho_c", "rho_c_lo", "rho_c_hi", "nu", "nu_lo", "nu_hi",
                   "a", "a_lo", "a_hi", "quality", "xc_at_edge", "sizes"]]
        exp.to_csv(out_dir / "exponents.csv", index=False)
    sections.insert(0, ("Exponents across studies (universality)",
                        "Best collapse of m per study; intervals are bootstrap percentiles.", exp if len(exp) else None, []))
    seconds = time.time() - started
    md, page = write_report(out_dir, f"Pruning phase transitions: {top.name}", sections, notes,
                            f"Config {config}{' (--quick)' if quick else ''}; wall time of this invocation {seconds:.0f} s "
                            f"(finished trajectories are reused from {runs_dir}).")
    return {"out_dir": out_dir, "summary": md, "html": page, "exponents": exp, "tables": tables, "seconds": seconds,
            "notes": notes}
