"""The report of a sufficiency study: figures, CSV tables and a short ``summary.md``.

:func:`write_summary` is what ``Study.report`` writes; the reproduction page builder reuses
:func:`write_figures`, :func:`md_table` and :func:`interval`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunelab.sufficiency import plots
from prunelab.sufficiency.tables import best_rows

CSV_TABLES = (
    "pretrain",
    "surface_means",
    "fmin",
    "collapse",
    "rosenfeld",
    "irreversibility",
    "loops",
    "areas",
    "spectra",
    "principle",
    "equivalent",
)


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a page: ``–`` when missing, whole thousands as ``12 345``, else ``digits``
    significant digits."""
    if x is None or (isinstance(x, (float, np.floating)) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, float, np.integer, np.floating)) and abs(float(x)) >= 1000:
        return f"{float(x):,.0f}".replace(",", " ")
    return f"{float(x):.{digits}g}"


def md_table(df: pd.DataFrame, columns: Mapping[str, str], digits: int = 3) -> str:
    """A markdown table of ``df``'s ``columns`` (name -> header); floats with ``digits`` significant digits."""
    if df is None or df.empty:
        return "_(no data)_\n"
    cols = [c for c in columns if c in df.columns]
    lines = ["| " + " | ".join(columns[c] for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df[cols].iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, (bool, np.bool_)):
                cells.append("yes" if v else "no")
            elif isinstance(v, (float, np.floating)):
                cells.append(fmt(v, digits))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def interval(value: float, lo: float, hi: float, digits: int = 3) -> str:
    """``value [lo, hi]`` with significant digits, ``–`` for missing parts."""
    return f"{fmt(value, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def write_figures(t: Mapping[str, Any], fig_dir: Path) -> dict[str, Path]:
    """Every figure of :mod:`prunelab.sufficiency.plots` that the tables support; name -> path."""
    fig_dir = Path(fig_dir)
    out: dict[str, Path | None] = {}
    if "surface_means" not in t:
        return {}
    eps, b_max = t["eps"], max(t["budgets"])
    means, fmin = t["surface_means"], t["fmin"]
    for net in dict.fromkeys(means.network):
        out[f"heatmap_{net}"] = plots.psi_heatmaps(
            means, net, fig_dir / f"psi_heatmap_{net}.png", fmin=fmin
        )
    out["psi_curves"] = plots.psi_curves(means, fig_dir / "psi_vs_density.png", b_max, eps)
    out["fmin"] = plots.fmin_vs_size(fmin, fig_dir / "fmin_vs_network.png")
    out["rosenfeld"] = plots.rosenfeld_fits(
        best_rows(t["surface"], b_max),
        t["pretrain"],
        t["rosenfeld"],
        fig_dir / "rosenfeld_fits.png",
        fmin,
    )
    out["hysteresis"] = plots.hysteresis_loops(t.get("loops"), fig_dir / "hysteresis.png", eps)
    out["spectra"] = plots.spectral_vs_density(
        t.get("spectra"), fig_dir / "spectral_vs_density.png", fmin
    )
    out["criteria"] = plots.criteria_curves(means, fig_dir / "criteria.png", b_max, eps)
    out["equivalent"] = plots.equivalent_plot(
        t.get("equivalent"), fig_dir / "dense_equivalent.png", eps
    )
    return {k: v for k, v in out.items() if v is not None}


def write_tables(t: Mapping[str, Any], out_dir: Path) -> None:
    """The tables as CSV files next to the figures."""
    for name in CSV_TABLES:
        df = t.get(name)
        if isinstance(df, pd.DataFrame) and len(df):
            df.to_csv(Path(out_dir) / f"{name}.csv", index=False)


FMIN_COLUMNS = {
    "network": "network",
    "criterion": "criterion",
    "mask": "mask",
    "protocol": "protocol",
    "fmin": "F_min",
    "lo": "lo",
    "hi": "hi",
    "status": "status",
    "links": "links",
    "links_lo": "links lo",
    "links_hi": "links hi",
    "n_seeds": "seeds",
}
IRREV_COLUMNS = {
    "network": "network",
    "criterion": "criterion",
    "density": "ρ",
    "psi_best": "Ψ best",
    "best_protocol": "best",
    "hard_floor": "1: hard floor",
    "gain": "2: gain B/4→B",
    "saturated": "saturated",
    "protocols_failing": "3: protocols failing",
    "psi_controls": "controls Ψ",
    "psi_dst": "DST Ψ",
    "psi_down": "4: Ψ down",
    "psi_regrown": "Ψ regrown",
    "grade": "grade",
}


def write_summary(
    t: Mapping[str, Any],
    out_dir: Path,
    title: str = "sufficiency",
    figs: Mapping[str, Path] | None = None,
) -> Path:
    """``summary.md`` (F_min, Rosenfeld fits, graded tests, the figures) in ``out_dir``; without
    ``figs`` the figures and CSV tables are written first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if figs is None:
        figs = write_figures(t, out_dir)
        write_tables(t, out_dir)
    parts = [f"# {title}: minimal structural sufficiency\n"]
    parts += [f"- {n}\n" for n in t.get("notes", [])]
    if "fmin" in t:
        best = t["fmin"][(t["fmin"].split == "test")]
        parts += ["\n## F_min (test split, largest budget)\n\n", md_table(best, FMIN_COLUMNS)]
        parts += [
            "\n## Rosenfeld et al. fit\n\n",
            md_table(
                t["rosenfeld"],
                {
                    "network": "network",
                    "criterion": "criterion",
                    "eps_np": "ε_np",
                    "eps_up": "ε↑",
                    "p": "p",
                    "gamma": "γ",
                    "gamma_lo": "γ lo",
                    "gamma_hi": "γ hi",
                    "kappa": "κ",
                    "d_kappa": "d_κ",
                    "d_kappa_lo": "lo",
                    "d_kappa_hi": "hi",
                },
            ),
        ]
        parts += [
            "\n## Graded irreversibility tests\n\n",
            md_table(t["irreversibility"], IRREV_COLUMNS),
        ]
    parts += ["\n## Figures\n\n"] + [f"![{k}]({p.name})\n\n" for k, p in figs.items()]
    path = out_dir / "summary.md"
    path.write_text("".join(parts))
    return path
