"""Report pages of training runs, sweeps and imported networks, and the one entry point
:func:`build_report` that writes the page of any run or study.

Every page is a :class:`~prunelab.report.page.Page`. Which writer makes the page of a kind is
looked up in :data:`REPORT_KINDS` (``run``, ``sweep``, ``imported``); a study kind without an
entry there writes its page through its own :meth:`~prunelab.studies.Study.report`
(:func:`prunelab.studies.reports.write_report` picks the one or the other).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from prunelab.core import style
from prunelab.core.registry import Registry
from prunelab.errors import PrunelabError
from prunelab.experiments.store import Store
from prunelab.report.figures import FIGURES, ReportData, final_table, group_of, robustness_tables
from prunelab.report.page import Page

PageWriter = Callable[[Store, str, str, list[str], Path, bool], Path]

#: page writers by the kind :meth:`Store.resolve` reports: ``writer(store, kind, ident, run_ids, out_dir, single_file)``
REPORT_KINDS: Registry[PageWriter] = Registry("report kind")


def collect(
    store: Store, ref: str, out_dir: Path, resolved: tuple[str, str, list[str]] | None = None
) -> ReportData:
    """Gather runs and metrics of ``ref`` (run, sweep, or name) for the figure functions."""
    kind, ident, run_ids = resolved or store.resolve(ref)
    rows = [store.get_run(r) for r in run_ids]
    from prunelab.report.robustness import run_group

    runs = pd.DataFrame(
        [
            {
                "run_id": r["id"],
                "name": r["name"],
                "group": group_of(r["name"]),
                "method": run_group(r["config"]),
                "status": r["status"],
                "seconds": r["seconds"],
            }
            for r in rows
            if r
        ]
    )
    metrics = store.metrics(run_ids)
    if not runs.empty:
        metrics = metrics.merge(runs[["run_id", "group"]], on="run_id", how="left")
    else:
        metrics["group"] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    return ReportData(store, run_ids, runs, metrics, out_dir)


def header_of(page: Page, store: Store, run_ids: list[str], config: dict | None) -> None:
    """The "What was run" header from the store: config, first run's versions and revision, summed wall time."""
    rows = [r for r in (store.get_run(i) for i in run_ids) if r]
    first = rows[0] if rows else {}
    seconds = [r["seconds"] for r in rows if r.get("seconds") is not None]
    page.what_was_run(
        config=config if config is not None else first.get("config"),
        versions=first.get("versions"),
        git_revision=first.get("git_revision") or ("unknown" if rows else None),
        wall_seconds=sum(seconds) if seconds else None,
        runs=len(rows),
        extra={"results store": str(store.root)},
    )


def layer_table(store: Store, run_id: str) -> pd.DataFrame:
    """Per sparse layer of a run: inputs, outputs, links, density (%), largest in-degree, from its stored topology."""
    rows = []
    arts = store.artefacts(run_id)
    for art in arts[arts.kind == "links"].itertuples():
        path = store.root / art.path
        if not path.is_file():
            continue
        with np.load(path) as z:
            n_in, n_out = (int(s) for s in z["shape"])
            cols = z["cols"]
        rows.append(
            {
                "layer": art.name.split("/", 1)[-1],
                "inputs": n_in,
                "outputs": n_out,
                "links": int(cols.size),
                "density (%)": 100 * cols.size / (n_in * n_out),
                "max in-degree": int(np.bincount(cols, minlength=n_out).max()) if cols.size else 0,
            }
        )
    return pd.DataFrame(rows)


def train_page(
    store: Store, kind: str, ident: str, run_ids: list[str], out: Path, single_file: bool
) -> Path:
    """The page of a training run, a sweep or an imported network; returns ``out/index.html``."""
    study = store.get_study(ident) if kind != "run" else None
    name = study["name"] if study else (store.get_run(ident) or {}).get("name", ident)
    data = collect(store, ident, out, (kind, ident, run_ids))
    first = store.get_run(run_ids[0]) if run_ids else None
    subtitle = {"sweep": f"training sweep of {len(run_ids)} runs", "run": "training run"}.get(
        kind, ""
    )
    if kind == "imported" and first:
        src = first["config"]["imported"]
        subtitle = f"network trained elsewhere, imported from {Path(src['file']).name} ({src['format']} format)"
    page = Page(f"prunelab report: {name}", subtitle)
    header_of(page, store, run_ids, study["config"] if study and kind == "sweep" else None)
    with style.context():
        figures = [
            (FIGURES.get(fn).section, f) for fn in FIGURES.names() for f in FIGURES.get(fn)(data)
        ]
    runs = page.section("Runs", open=len(run_ids) <= 24)
    runs.table(
        data.runs.rename(columns={"seconds": "wall time (s)"}) if not data.runs.empty else None,
        "One row per run: its group (name without the seed), status and wall time (s).",
    )
    table = final_table(data)
    if not table.empty:
        page.section("Final test accuracy").table(
            table,
            "Test accuracy (%) at the last epoch: median and quartiles over the runs of each group.",
        )
    if len(run_ids) == 1:
        net = page.section("Network")
        if first and first["config"].get("imported"):
            src = first["config"]["imported"]
            net.items(
                [
                    f"file: {src['file']}",
                    f"format: {src['format']}",
                    f"sha256: {src['sha256']}",
                    f"activation: {src['activation']}; zeros read as missing links: {src['zeros_as_missing']}",
                    "layers (input first): "
                    + ", ".join(
                        f"{a}→{b} {'sparse' if s else 'dense'}"
                        for a, b, s in zip(src["sizes"][:-1], src["sizes"][1:], src["sparse"])
                    ),
                ]
            )
        net.table(
            layer_table(store, run_ids[0]),
            "Sparse layers of the stored network: units, links, density "
            "(% of possible links) and the largest number of links into one output unit.",
        )
    sections: dict[str, object] = {}
    for section, (title, caption, path) in figures:
        if section not in sections:
            sections[section] = page.section(section)
        sections[section].figure(path, title, caption)
    curves, _ = robustness_tables(data)
    if not curves.empty and "Robustness" in sections:
        from prunelab.perturb import curve_summary

        summary = curve_summary(curves, n_boot=200, seed=0)
        cols = [
            c
            for c in (
                "group",
                "kind",
                "auc",
                "auc_lo",
                "auc_hi",
                "f_half",
                "f_half_lo",
                "f_half_hi",
            )
            if c in summary
        ]
        sections["Robustness"].table(
            summary[cols],
            "AUC: mean test accuracy over the strength range; f_half: strength "
            "at which accuracy falls halfway to chance; lo/hi: 95% bootstrap intervals over "
            "networks (200 resamples).",
        )
    return page.write(out / "index.html", single_file)


for _kind in ("run", "sweep", "imported"):
    REPORT_KINDS.register(_kind, train_page, help="training runs, sweeps and imported networks")


def default_out(store: Store, ref: str) -> Path:
    """``<runs>/reports/<ref>/`` (slashes in ``ref`` replaced)."""
    return store.root / "reports" / ref.replace("/", "_")


def build_report(
    store: Store, ref: str, out_dir: str | Path | None = None, single_file: bool = False
) -> Path:
    """Write the report page of a run or study; returns the HTML path.

    Parameters
    ----------
    store : Store
    ref : str
        Run id, study id, id prefix or name (:meth:`Store.resolve`).
    out_dir : path, optional
        Default ``<runs>/reports/<ref>/``; the page is ``index.html`` there, figures beside it.
    single_file : bool
        Embed the figures in the HTML (one file to mail).
    """
    out = Path(out_dir) if out_dir else default_out(store, ref)
    kind, ident, run_ids = store.resolve(ref)
    if kind not in REPORT_KINDS:
        # pages of other study kinds are written by the kind itself (Study.report), a layer above
        raise PrunelabError(
            f"{ref!r} is a {kind!r} study; write its page with `prunelab report {ref}`"
        )
    return REPORT_KINDS.get(kind)(store, kind, ident, run_ids, out, single_file)
