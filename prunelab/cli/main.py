"""The ``prunelab`` command line: a thin layer over :mod:`prunelab.experiments` and friends.

Exit codes: 0 success, 1 a run failed or diverged, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from prunelab.cli.common import (
    Address,
    CheckpointDir,
    CpusPerItem,
    ExecutorName,
    RunsDir,
    Workers,
    console,
    err_console,
    executor_from,
    exit_on_failures,
    print_backup,
    print_summary,
    run_with_progress,
)
from prunelab.errors import PrunelabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="prunelab: train, prune and measure sparse neural networks.",
)
data_app = typer.Typer(
    no_args_is_help=True, help="Data sets: where they are and whether they verify."
)
app.add_typer(data_app, name="data")


def _store(runs_dir: Path):
    from prunelab.experiments import Store

    return Store(runs_dir)


@app.command()
def run(
    config: Annotated[
        Path,
        typer.Argument(
            help="YAML config of any study kind (its `kind:` key; default a training run or sweep)."
        ),
    ],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: --set train.lr=0.05")
    ] = None,
    runs_dir: RunsDir = Path("runs"),
    workers: Workers = 1,
    executor: ExecutorName = None,
    address: Address = None,
    checkpoint_dir: CheckpointDir = None,
    cpus_per_item: CpusPerItem = 1.0,
) -> None:
    """Run a study (training run, sweep, phase, robustness, ...); finished items are skipped, unfinished ones resume."""
    from prunelab.experiments import Store
    from prunelab.studies import load_study
    from prunelab.studies.base import load_executor_section

    study = load_study(config, set_ or [])
    study.check()  # (run_study checks again) bad input fails before the store is created
    store = Store(runs_dir)
    section = load_executor_section(
        config
    )  # the config's executor: section; options given here win
    pool = executor_from(
        executor or section.name,
        workers if workers != 1 else (section.workers or 1),
        address or section.address,
        checkpoint_dir or section.checkpoint_dir,
        cpus_per_item if cpus_per_item != 1.0 else (section.cpus_per_item or 1.0),
        max_retries=section.max_retries,
    )
    console.print(f"{study.kind} study [bold]{study.name}[/] ({study.study_id()}) into {runs_dir}")
    outcome = run_with_progress(study, store, pool)
    print_summary(outcome)
    print_backup(outcome)
    exit_on_failures(outcome)
    finish = getattr(study, "after_run", None)
    if finish is not None:
        finish(store, outcome, console)


@app.command("ls")
def ls(runs_dir: RunsDir = Path("runs")) -> None:
    """List runs in the store, newest first."""
    df = _store(runs_dir).runs()
    table = Table(title=f"runs in {runs_dir}")
    for col in ("id", "name", "status", "seconds", "message"):
        table.add_column(col)
    for row in df.itertuples():
        seconds = "" if pd.isna(row.seconds) else f"{row.seconds:.1f}"
        message = "" if pd.isna(row.message) else str(row.message)
        status = f"{row.status} (process gone; rerun resumes)" if row.stale else str(row.status)
        table.add_row(str(row.id), str(row.name), status, seconds, message)
    console.print(table)


@app.command("studies")
def studies(runs_dir: RunsDir = Path("runs")) -> None:
    """List the studies recorded in the store (every kind), newest first."""
    from datetime import datetime

    df = _store(runs_dir).studies()
    table = Table(title=f"studies in {runs_dir}")
    for col in ("id", "kind", "name", "runs", "recorded"):
        table.add_column(col)
    for row in df.itertuples():
        table.add_row(
            str(row.id),
            str(row.kind),
            str(row.name),
            str(row.n_runs),
            datetime.fromtimestamp(row.created).isoformat(timespec="seconds"),
        )
    console.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="Run id, id prefix, sweep id or name.")],
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Show a run's config, status, versions and last metrics."""
    import json

    store = _store(runs_dir)
    kind, ident, run_ids = store.resolve(ref)
    for run_id in run_ids:
        row = store.get_run(run_id)
        console.print(
            f"[bold]{row['id']}[/] {row['name']} — status {row['status']} {row['message'] or ''}"
        )
        console.print(
            f"  seconds: {row['seconds']}, git: {row['git_revision']}, versions: {json.dumps(row['versions'])}"
        )
        m = store.metrics([run_id], wide=True)
        if len(m):
            last = m.iloc[-1]
            shown = {
                k: round(float(v), 4) for k, v in last.items() if k not in ("run_id",) and v == v
            }
            console.print(f"  last epoch metrics: {shown}")
        if kind == "run":
            console.print_json(json.dumps(row["config"]))


class ExportFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", help="csv or parquet.")
    ] = ExportFormat.csv,
    ref: Annotated[
        str | None, typer.Option("--run", help="Only this run/sweep/name (default: all).")
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Export per-epoch metrics (long table: run_id, name, epoch, metric, value)."""
    store = _store(runs_dir)
    ids = store.resolve(ref)[2] if ref else None
    df = store.metrics(ids)
    names = store.runs().set_index("id")["name"]
    df.insert(1, "run_name", df.run_id.map(names))
    df = df.rename(columns={"name": "metric"})
    if format_ is ExportFormat.csv:
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    console.print(f"wrote {len(df)} rows to {out}")


@app.command()
def report(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="Run id, study id or name (without it: only the index of all studies)."
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default runs/reports/REF).")
    ] = None,
    single_file: Annotated[
        bool, typer.Option("--single-file", help="Embed the figures: one HTML file to mail.")
    ] = False,
) -> None:
    """Write the HTML report of a run or study, and refresh runs/reports/index.html."""
    from prunelab.report import write_index
    from prunelab.studies.reports import write_report

    store = _store(runs_dir)
    if ref is not None:
        path = write_report(store, ref, out, single_file=single_file)
        console.print(f"report: {path}")
    console.print(f"index of all reports: {write_index(store)}")


@data_app.command("list")
def data_list(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Look here first.")] = None,
) -> None:
    """Show each data set, where it was found, and whether it verified."""
    from prunelab.data import list_dataset_status

    table = Table(title="data sets")
    for col in ("name", "found at", "verified", "detail"):
        table.add_column(col)
    for st in list_dataset_status(str(data_dir) if data_dir else None):
        ver = {True: "yes", False: "NO", None: "-"}[st["verified"]]
        table.add_row(st["name"], st["found_at"] or "not found", ver, st.get("detail", ""))
    console.print(table)


def _register_plugins() -> None:
    # capability commands live in their own modules; each adds itself to the app
    from prunelab.cli import interop, phase, robustness, store

    robustness.register(app)
    phase.register(app)
    interop.register(app)
    store.register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point: one line on stderr for bad input, no traceback."""
    try:
        code = app(standalone_mode=False)
    except PrunelabError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted; rerun the same command to resume", markup=False)
        sys.exit(130)
    except typer.TyperException as err:  # usage errors (unknown option, bad value)
        show = getattr(err, "show", None)
        if show:
            show()
        else:
            err_console.print(f"error: {err}", markup=False, soft_wrap=True)
        sys.exit(getattr(err, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
