"""Build an HTML report (plus PNG figures) for a run or a sweep from the store."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from prunelab.experiments.store import Store
from prunelab.report.figures import FIGURES, ReportData, final_table, group_of


def collect(store: Store, ref: str, out_dir: Path) -> ReportData:
    """Gather runs and metrics of ``ref`` (run, sweep, or name) for the figure functions."""
    kind, ident, run_ids = store.resolve(ref)
    rows = [store.get_run(r) for r in run_ids]
    runs = pd.DataFrame([{"run_id": r["id"], "name": r["name"], "group": group_of(r["name"]), "status": r["status"],
                          "seconds": r["seconds"]} for r in rows if r])
    metrics = store.metrics(run_ids)
    if not runs.empty:
        metrics = metrics.merge(runs[["run_id", "group"]], on="run_id", how="left")
    else:
        metrics["group"] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    return ReportData(store, run_ids, runs, metrics, out_dir)


def build_report(store: Store, ref: str, out_dir: str | Path | None = None) -> Path:
    """Write ``index.html`` and figures for ``ref``; returns the HTML path.

    Default location: ``<runs>/reports/<ref>/index.html``.
    """
    out = Path(out_dir) if out_dir else store.root / "reports" / ref.replace("/", "_")
    data = collect(store, ref, out)
    figures = [f for fn in FIGURES for f in fn(data)]
    table = final_table(data)
    first = store.get_run(data.run_ids[0]) if data.run_ids else None
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>prunelab report: "
        f"{html.escape(ref)}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>prunelab report: {html.escape(ref)}</h1>",
        f"<p>Generated {datetime.now().isoformat(timespec='seconds')} from {html.escape(str(store.root))}; "
        f"{len(data.run_ids)} run(s).</p>",
        "<h2>Runs</h2>", data.runs.to_html(index=False, float_format=lambda v: f"{v:.1f}") if not data.runs.empty else "<p>none</p>",
    ]
    if not table.empty:
        parts += ["<h2>Final test accuracy</h2>", table.to_html(index=False)]
    for title, caption, path in figures:
        parts += [f"<h2>{html.escape(title)}</h2>", f"<img src='{path.name}' alt='{html.escape(title)}'>",
                  f"<p>{html.escape(caption)}</p>"]
    if first:
        parts += ["<h2>Configuration (first run)</h2>", f"<pre>{html.escape(json.dumps(first['config'], indent=2))}</pre>",
                  "<h2>Versions</h2>", f"<pre>{html.escape(json.dumps(first['versions'], indent=2))}</pre>",
                  f"<p>git revision: {html.escape(str(first.get('git_revision')))}</p>"]
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
