"""``prunelab phase``: the pruning phase-transition study (Pesce, He & Caldarelli 2026, arXiv:2602.15224).

A thin alias of ``prunelab run`` for configs of kind ``phase`` (``--quick`` picks the config's
quick variant, ``--out`` the report folder). Registered with ``phase.register(app)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from prunelab.cli.common import (
    Address,
    CheckpointDir,
    CpusPerItem,
    ExecutorName,
    executor_from,
    print_backup,
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4g}"
    return str(v)


def register(app: typer.Typer) -> None:
    """Add the ``phase`` command to ``app``."""

    @app.command()
    def phase(
        config: Annotated[
            Path, typer.Argument(help="Phase-study YAML config (e.g. configs/pesce2026.yaml).")
        ],
        quick: Annotated[
            bool, typer.Option("--quick", help="Run the config's quick variant (minutes).")
        ] = False,
        runs_dir: Annotated[
            Path, typer.Option("--runs-dir", help="Results store directory.")
        ] = Path("runs"),
        workers: Annotated[
            int,
            typer.Option("--workers", min=1, help="Parallel trajectories (local process pool)."),
        ] = 1,
        out: Annotated[
            Path | None, typer.Option("--out", help="Output folder (default runs/reports/<name>/).")
        ] = None,
        executor: ExecutorName = None,
        address: Address = None,
        checkpoint_dir: CheckpointDir = None,
        cpus_per_item: CpusPerItem = 1.0,
    ) -> None:
        """Prune networks along a density schedule, measure order parameters, locate the transition,
        fit the finite-size collapse and test the degree-preserving null; resumable."""
        from rich.console import Console
        from rich.table import Table

        console = Console()
        from prunelab.studies.phase.study import run_phase

        result = run_phase(
            config,
            quick,
            runs_dir,
            workers,
            out,
            console,
            executor_from(executor, workers, address, checkpoint_dir, cpus_per_item),
        )
        for name, t in result["tables"].items():
            crit = t["critical"]
            if len(crit):
                table = Table(title=f"{name}: critical densities")
                for c in ("observable", "width", "method", "rho_c", "95% interval"):
                    table.add_column(c)
                for r in crit.itertuples():
                    table.add_row(
                        r.observable,
                        str(r.width),
                        r.method,
                        _fmt(float(r.xc)),
                        f"[{_fmt(float(r.lo))}, {_fmt(float(r.hi))}]",
                    )
                console.print(table)
        exp = result["exponents"]
        if len(exp):
            table = Table(title="exponents (best collapse of m)")
            for c in ("study", "control", "rho_c", "nu", "a", "quality"):
                table.add_column(c)
            for r in exp.itertuples():
                table.add_row(
                    r.study,
                    r.control,
                    f"{r.rho_c:.4g} [{r.rho_c_lo:.3g}, {r.rho_c_hi:.3g}]",
                    f"{r.nu:.3g} [{r.nu_lo:.3g}, {r.nu_hi:.3g}]",
                    f"{r.a:.3g} [{r.a_lo:.3g}, {r.a_hi:.3g}]",
                    f"{r.quality:.3g}",
                )
            console.print(table)
        for n in result["notes"]:
            console.print(f"note: {n}", markup=False)
        console.print(
            f"report: {result['html']} (summary {result['summary']}); {result['seconds']:.0f} s",
            soft_wrap=True,  # paths broken over lines cannot be copied
        )
        print_backup(result["outcome"])
