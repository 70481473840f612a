"""``runs/reports/index.html``: every study of a runs directory with its status and its report.

The index is rewritten whenever ``prunelab report`` writes a page (and by ``prunelab report``
without a reference). It lists the studies of :meth:`Store.studies` newest first (kind, name,
id, runs, the status of their runs, when created) with a relative link to the study's page when
one has been written (``reports/<name>/index.html`` or ``reports/<id>/index.html``), so the
reports folder can be copied elsewhere as a whole.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

import pandas as pd

from prunelab.experiments.store import Store
from prunelab.report.page import Page


def study_status(statuses: list[str]) -> str:
    """One word for a study from its runs' statuses (``finished``, ``running``, ``failed``, ...)
    and the counts, e.g. ``"running (3/12 finished)"``."""
    if not statuses:
        return "empty"
    counts = pd.Series(statuses).value_counts()
    done = int(counts.get("finished", 0))
    for state in ("running", "failed", "diverged", "interrupted", "pending"):
        if counts.get(state, 0):
            return f"{state} ({done}/{len(statuses)} finished)"
    return "finished"


def report_link(reports: Path, name: str, ident: str) -> str | None:
    """Relative link (from ``reports/``) to the study's page, or None when none was written."""
    for folder in (name.replace("/", "_"), ident):
        if (reports / folder / "index.html").is_file():
            return f"{folder}/index.html"
    return None


def write_index(store: Store, reports_dir: str | Path | None = None) -> Path:
    """Write ``<reports_dir>/index.html`` (default ``<runs>/reports/``) listing every study.

    Returns
    -------
    Path
        The index page.
    """
    reports = Path(reports_dir) if reports_dir else store.root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    run_status = store.runs().set_index("id")["status"].to_dict()
    rows, links = [], []
    for study in store.studies().itertuples():
        row = store.get_study(study.id) or {"run_ids": []}
        link = report_link(reports, study.name, study.id)
        rows.append(
            {
                "kind": study.kind,
                "name": study.name,
                "id": study.id,
                "runs": study.n_runs,
                "status": study_status([run_status.get(r, "missing") for r in row["run_ids"]]),
                "created": datetime.fromtimestamp(study.created).isoformat(
                    sep=" ", timespec="minutes"
                ),
            }
        )
        links.append(link)
    page = Page("prunelab reports", f"every study in the results store {store.root}")
    page.what_was_run(extra={"studies": len(rows), "runs": len(run_status)})
    sec = page.section("Studies")
    if not rows:
        sec.text(
            "No studies yet: run one with `prunelab run CONFIG`, or import a network with `prunelab import FILE`."
        )
    else:
        sec.html(_table(rows, links))
        sec.text("A study without a link has no report yet: write it with `prunelab report NAME`.")
    return page.write(reports / "index.html")


def _table(rows: list[dict], links: list[str | None]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [*rows[0], "report"])
    body = []
    for row, link in zip(rows, links, strict=True):
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values())
        ref = f"<a href='{html.escape(link)}'>open</a>" if link else "not written"
        body.append(f"<tr>{cells}<td>{ref}</td></tr>")
    return f"<div class='table'><table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
