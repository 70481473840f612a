"""``prunelab robustness``: perturb trained runs without retraining (Sulyok et al. 2026, section 2.2).

A thin alias of a ``robustness`` study (:mod:`prunelab.studies.robustness`) built from the options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prunelab.cli.common import (
    Address,
    CheckpointDir,
    CpusPerItem,
    ExecutorName,
    Workers,
    console,
    executor_from,
    print_backup,
    run_with_progress,
)


def register(app: typer.Typer) -> None:
    """Add the ``robustness`` command to ``app``."""

    @app.command()
    def robustness(
        ref: Annotated[
            str, typer.Argument(help="Run id, sweep id or name (finished runs are analysed).")
        ],
        kinds: Annotated[
            list[str] | None,
            typer.Option(
                "--kinds", help="Perturbation kinds (repeat or comma-separate); default all."
            ),
        ] = None,
        strengths: Annotated[
            str | None,
            typer.Option(
                "--strengths",
                help="Comma-separated strengths for every kind (default: a grid per kind).",
            ),
        ] = None,
        draws: Annotated[int, typer.Option("--draws", min=1, help="Random draws per network.")] = 1,
        seed: Annotated[
            int,
            typer.Option(
                "--seed", min=0, help="Seed of the perturbations (part of the cache key)."
            ),
        ] = 0,
        steps: Annotated[
            int | None, typer.Option("--steps", help="PGD steps (default 10).")
        ] = None,
        step_size: Annotated[
            float | None,
            typer.Option("--step-size", help="PGD step as a fraction of ε (default 2.5/steps)."),
        ] = None,
        random_start: Annotated[
            bool | None,
            typer.Option(
                "--random-start/--no-random-start",
                help="PGD from a random point of the ε-ball (default on).",
            ),
        ] = None,
        transfer_source: Annotated[
            str | None,
            typer.Option("--transfer-source", help="Run id the transfer attacks are crafted on."),
        ] = None,
        test_inputs: Annotated[
            int | None,
            typer.Option("--test-inputs", help="Evaluate input kinds on the first N test images."),
        ] = None,
        runs_dir: Annotated[
            Path, typer.Option("--runs-dir", help="Results store directory.")
        ] = Path("runs"),
        workers: Workers = 1,
        executor: ExecutorName = None,
        address: Address = None,
        checkpoint_dir: CheckpointDir = None,
        cpus_per_item: CpusPerItem = 1.0,
    ) -> None:
        """Accuracy vs pruning fraction, shuffling, weight noise, attack ε or corruption severity; into the store and the report."""
        from rich.table import Table

        from prunelab.errors import ConfigError
        from prunelab.experiments import Store
        from prunelab.perturb import kinds_of
        from prunelab.studies.robustness import RobustnessStudy

        chosen = [
            k.strip()
            for item in (kinds or list(kinds_of("weights")))
            for k in item.split(",")
            if k.strip()
        ]
        grid = None
        if strengths:
            try:
                grid = [float(v) for v in strengths.split(",")]
            except ValueError:
                raise ConfigError(
                    f"--strengths must be comma-separated numbers, got {strengths!r}"
                ) from None
        from prunelab.core.config import parse_model

        study = parse_model(
            RobustnessStudy,
            {
                "name": f"{ref}/robustness",
                "runs": ref,
                "kinds": chosen,
                "strengths": grid,
                "draws": draws,
                "seed": seed,
                "steps": steps,
                "step_size": step_size,
                "random_start": random_start,
                "transfer_source": transfer_source,
                "test_inputs": test_inputs,
            },
            "robustness option",
        )
        store = Store(runs_dir)
        outcome = run_with_progress(
            study, store, executor_from(executor, workers, address, checkpoint_dir, cpus_per_item)
        )
        summary = study.analyse(store)["summary"]
        out = Table(title="robustness (mean curve over networks; 95% bootstrap intervals)")
        cols = [c for c in summary.columns if c not in ("n_networks",)]
        for c in cols:
            out.add_column(c)
        for row in summary.itertuples(index=False):
            out.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row][: len(cols)])
        console.print(out)
        n_runs = len(study.finished_runs(store))
        console.print(f"curves stored for {n_runs} run(s); figures: `prunelab report {ref}`")
        print_backup(outcome)
