"""``prunelab store check|backup|restore``: the health of a results store.

These commands work on a damaged store (they never open it through
:class:`~prunelab.experiments.Store`, which refuses one). Registered with ``store.register(app)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prunelab.cli.common import RunsDir, console, err_console

_SHOWN = 10  # items listed per kind of problem


def _listing(title: str, items: list, fix: str) -> None:
    console.print(f"{title}: {len(items)} ({fix})", markup=False, highlight=False)
    for item in items[:_SHOWN]:
        console.print(f"  {item}", markup=False, highlight=False)
    if len(items) > _SHOWN:
        console.print(f"  ... and {len(items) - _SHOWN} more", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to ``app``."""
    store_app = typer.Typer(
        no_args_is_help=True, help="The results store: check, back up, restore."
    )
    app.add_typer(store_app, name="store")

    @store_app.command("check")
    def check(runs_dir: RunsDir = Path("runs")) -> None:
        """SQLite integrity check, then rows versus files: missing artefacts, orphan run folders,
        leftover temporary files, runs whose process is gone. Exit 1 when something is wrong."""
        from prunelab.experiments.integrity import DB_NAME, check_store, restore_hint

        report = check_store(runs_dir)
        db = runs_dir / DB_NAME
        if not db.exists() and not report.damaged:
            console.print(
                f"no results database in {runs_dir} yet: nothing to check",
                markup=False,
                highlight=False,
            )
            return
        if report.damaged:
            err_console.print(
                f"error: results database {db} is damaged ({'; '.join(report.integrity)[:300]}); "
                f"no command writes into it; {restore_hint(runs_dir)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        counts = ", ".join(
            f"{n} {t}" for t, n in report.counts.items() if t in ("runs", "metrics", "studies")
        )
        console.print(
            f"database {db}: integrity ok ({counts or 'empty'})", markup=False, highlight=False
        )
        if report.cleared:
            console.print(
                "  the mark of an earlier failed check was removed: commands write into it again",
                markup=False,
            )
        if report.missing:
            _listing(
                "missing artefacts",
                report.missing,
                "rows whose file is gone: restore the files, or rerun those "
                "runs in a fresh --runs-dir",
            )
        if report.orphans:
            _listing(
                "orphan run folders",
                report.orphans,
                "folders without a row, e.g. after a restore: rerunning their "
                "study recomputes them; else delete them",
            )
        if report.leftovers:
            _listing(
                "leftover temporary files",
                [str(p) for p in report.leftovers],
                "from killed processes; harmless, safe to delete",
            )
        if report.stale:
            _listing("runs whose process is gone", report.stale, "rerun their study to resume them")
        if report.backups:
            console.print(
                f"backups: {len(report.backups)}, newest {report.backups[-1]}",
                markup=False,
                highlight=False,
            )
        else:
            console.print("backups: none yet (one is written after every study)", markup=False)
        if not report.ok:
            raise typer.Exit(1)

    @store_app.command("backup")
    def backup(runs_dir: RunsDir = Path("runs")) -> None:
        """Copy the database now with SQLite's online backup API (also done after every study)."""
        from prunelab.experiments.integrity import backup_store

        console.print(f"backup: {backup_store(runs_dir)}", markup=False, highlight=False)

    @store_app.command("restore")
    def restore(
        runs_dir: RunsDir = Path("runs"),
        source: Annotated[
            Path | None,
            typer.Option("--from", help="Backup file (default: the newest that passes its check)."),
        ] = None,
        force: Annotated[
            bool,
            typer.Option("--force", help="Restore even over a database that passes its check."),
        ] = False,
    ) -> None:
        """Put a backup in place of a damaged database (the damaged files are moved aside, not deleted)."""
        from prunelab.experiments.integrity import restore_store

        out = restore_store(runs_dir, source, force)
        for skipped in out["skipped"]:
            console.print(
                f"skipped backup {skipped}: it fails its check", markup=False, highlight=False
            )
        console.print(
            f"restored {runs_dir / 'prunelab.sqlite'} from {out['restored']}",
            markup=False,
            highlight=False,
        )
        if out["moved"] is not None:
            console.print(
                f"the replaced files are in {out['moved']}", markup=False, highlight=False
            )
        console.print(
            "work recorded after that backup is redone when you rerun its studies", markup=False
        )
