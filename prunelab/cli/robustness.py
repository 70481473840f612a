"""``prunelab robustness``: perturb trained runs without retraining (Sulyok et al. 2026, section 2.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``robustness`` command to ``app``."""

    @app.command()
    def robustness(
        ref: Annotated[str, typer.Argument(help="Run id, sweep id or name (finished runs are analysed).")],
        kinds: Annotated[list[str] | None, typer.Option("--kinds", help="Perturbation kinds (repeat or comma-separate); default all five.")] = None,
        strengths: Annotated[str | None, typer.Option("--strengths", help="Comma-separated strengths for every kind (default: a grid per kind).")] = None,
        draws: Annotated[int, typer.Option("--draws", min=1, help="Random draws per network.")] = 1,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the perturbations.")] = 0,
        runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Results store directory.")] = Path("runs"),
    ) -> None:
        """Accuracy vs pruning fraction, shuffling bin width and noise; results into the store and the report."""
        from rich.console import Console
        from rich.table import Table

        from prunelab.errors import ConfigError
        from prunelab.experiments import Store
        from prunelab.perturb import KINDS, curve_summary
        from prunelab.perturb.study import run_robustness

        console = Console()
        chosen = [k.strip() for item in (kinds or list(KINDS)) for k in item.split(",") if k.strip()]
        grid = None
        if strengths:
            try:
                grid = [float(v) for v in strengths.split(",")]
            except ValueError:
                raise ConfigError(f"--strengths must be comma-separated numbers, got {strengths!r}") from None
        store = Store(runs_dir)
        _, _, run_ids = store.resolve(ref)
        with console.status("robustness curves") as status:
            table = run_robustness(store, run_ids, chosen, grid, n_draws=draws, seed=seed,
                                   progress=lambda run, kind: status.update(f"run {run}: {kind}"))
        summary = curve_summary(table, n_boot=500, seed=seed)
        out = Table(title="robustness (mean curve over networks; 95% bootstrap intervals)")
        cols = [c for c in summary.columns if c not in ("n_networks",)]
        for c in cols:
            out.add_column(c)
        for row in summary.itertuples(index=False):
            out.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row if True][: len(cols)])
        console.print(out)
        console.print(f"curves stored for {table.run_id.nunique()} run(s); figures: `prunelab report {ref}`")
