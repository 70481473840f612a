"""What every study command shares: options, the executor, live progress and the summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Results store directory.")]
Workers = Annotated[
    int,
    typer.Option(
        "--workers", min=1, help="Items run in parallel (default executor: local pool when > 1)."
    ),
]
ExecutorName = Annotated[
    str | None,
    typer.Option(
        "--executor", help="serial, local or ray (default: serial for 1 worker, else local)."
    ),
]
Address = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster address HOST:PORT (with --executor ray)."),
]
CheckpointDir = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint-dir",
        help="With --executor ray: where workers write checkpoints (default the runs directory; "
        "shared storage for mid-item resume across nodes).",
    ),
]
CpusPerItem = Annotated[
    float,
    typer.Option("--cpus-per-item", help="With --executor ray: CPUs (and torch threads) per item."),
]


def make_progress() -> Progress:
    """The progress display of every long command."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class StudyProgress:
    """Turns item events into progress bars: one for the study, one per running item (and its steps)."""

    def __init__(self, progress: Progress, n_items: int, noun: str = "run") -> None:
        self.progress = progress
        self.total = progress.add_task(f"{noun}s", total=max(n_items, 1), info="")
        self.items: dict[str, TaskID] = {}
        self.steps: dict[str, TaskID] = {}

    def on_event(self, event: dict[str, Any]) -> None:
        """Update the bars from one event (``start``, ``epoch`` or ``step``)."""
        run_id, kind = event.get("run_id"), event.get("event")
        if run_id is None:
            return
        if run_id not in self.items:
            self.items[run_id] = self.progress.add_task(
                str(event.get("name", run_id)), total=event.get("total") or 1, info=""
            )
        task = self.items[run_id]
        if kind == "step":
            if run_id not in self.steps:
                self.steps[run_id] = self.progress.add_task(
                    "  steps", total=event.get("total") or 1, info=""
                )
            self.progress.update(
                self.steps[run_id], completed=event.get("done", 0), total=event.get("total") or 1
            )
            return
        self.progress.update(
            task,
            completed=event.get("done", 0),
            total=event.get("total") or 1,
            info=event.get("info", ""),
        )

    def on_result(self, result: dict[str, Any]) -> None:
        """An item finished: drop its bars, advance the study bar."""
        for table in (self.steps, self.items):
            task = table.pop(result["run_id"], None)
            if task is not None:
                self.progress.remove_task(task)
        self.progress.update(self.total, advance=1, info=f"{result['name']}: {result['status']}")


def executor_from(
    name: str | None,
    workers: int,
    address: str | None = None,
    checkpoint_dir: Path | None = None,
    cpus_per_item: float = 1.0,
    max_retries: int | None = None,
):
    """The executor the options name (``--executor``, ``--workers``, ``--address``, ...).

    Options that only a cluster executor understands are refused with one line for the others,
    so that ``--address`` without ``--executor ray`` is not silently ignored.
    """
    from prunelab.errors import ConfigError
    from prunelab.experiments.executors import make_executor

    options: dict[str, Any] = {}
    if address:
        options["address"] = address
    if checkpoint_dir is not None:
        options["checkpoint_dir"] = checkpoint_dir
    if cpus_per_item != 1.0:
        options["cpus_per_item"] = cpus_per_item
    if max_retries is not None:
        options["max_retries"] = max_retries
    if options and name != "ray":
        flags = ", ".join("--" + k.replace("_", "-") for k in options)
        raise ConfigError(f"{flags} only apply with --executor ray")
    return make_executor(name, workers, **options)


def run_with_progress(study, store, executor) -> Any:
    """Run a study with live progress bars; returns its :class:`~prunelab.studies.StudyRun`."""
    from prunelab.studies import run_study

    with make_progress() as progress:
        display = StudyProgress(progress, 0, study.item_noun)
        planned: list[int] = []

        def on_stage(items: list) -> None:
            planned.append(len(items))
            progress.update(display.total, total=max(sum(planned), 1))

        return run_study(
            study,
            store,
            executor,
            on_event=display.on_event,
            on_result=display.on_result,
            on_stage=on_stage,
        )


def print_summary(outcome, title: str = "runs") -> None:
    """The summary table of a study run: one row per item, the kind's own columns, then messages."""
    cols = list(outcome.study.summary_columns)
    table = Table(title=title)
    for header in ("run", "name", "status", *(h for _, h in cols), "message"):
        table.add_column(header)
    for res in outcome.results:
        cells = []
        for key, header in cols:
            value = res.get(key)
            if value is None:
                cells.append("")
            elif "(%)" in header and isinstance(value, float):
                cells.append(f"{100 * value:.2f}")
            elif isinstance(value, float):
                cells.append(f"{value:.4g}")
            else:
                cells.append(str(value))
        table.add_row(res["run_id"], res["name"], res["status"], *cells, res.get("message") or "")
    console.print(table)


def print_backup(outcome) -> None:
    """One line: where the database was backed up after the study, or why it could not be."""
    if getattr(outcome, "backup", None) is not None:
        console.print(
            f"database backed up to {outcome.backup}",
            markup=False,
            highlight=False,
            style="dim",
            soft_wrap=True,  # a path broken over lines cannot be copied
        )
    elif getattr(outcome, "backup_error", ""):
        err_console.print(
            f"warning: no backup written: {outcome.backup_error}", markup=False, soft_wrap=True
        )


def exit_on_failures(outcome) -> None:
    """Print one line per failed item and exit 1 (or the single item's own exit code)."""
    bad = outcome.bad
    for r in bad:
        err_console.print(
            f"run {r['run_id']} {r['status']}: {r['message']}", markup=False, soft_wrap=True
        )
    if bad:
        code = bad[0].get("exit_code", 1) if len(outcome.results) == 1 else 1
        raise typer.Exit(code)
