"""A damaged results database: one line from every command, no writes into it, check, backup, restore.

Every bad input damages a copy of a store with one finished run (and the backup its study wrote),
then: ``prunelab ls`` and ``prunelab run`` end with one line naming the file, what is wrong and
how to recover (exit 2, no traceback), and leave the database byte for byte as it was;
``prunelab store check`` fails; ``prunelab store restore`` brings the backup back, after which
the run is found finished again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

from faults.faultlib import sweep
from prunelab.cli.main import main
from prunelab.errors import DiskError, StoreError
from prunelab.experiments import Store
from prunelab.experiments.integrity import FAILED_CHECK, backups, check_store, restore_store
from prunelab.experiments.store import translate_sqlite_error

RAW = sweep([0], epochs=2)


def cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the command line in this process: (exit code, stdout, stderr); an uncaught exception fails the test."""
    monkeypatch.setattr(sys, "argv", ["prunelab", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        main()
    except SystemExit as ex:
        code = ex.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, Path]:
    """(config file, runs directory) of a store with one finished run and a backup."""
    folder = tmp_path_factory.mktemp("good")
    config = folder / "sweep.yaml"
    config.write_text(yaml.safe_dump(RAW))
    from faults.faultlib import run

    outcome = run(RAW, folder / "runs")
    assert [r["status"] for r in outcome.results] == ["finished"] and outcome.backup is not None
    return config, folder / "runs"


def _page(db: Path, k: int, data: bytes | None = None) -> None:
    """Overwrite page ``k`` (0-based) of ``db`` with ``data`` (default random bytes), after the header."""
    raw = bytearray(db.read_bytes())
    size = int.from_bytes(raw[16:18], "big") or 65536
    start = k * size + (100 if k == 0 else 0)
    end = (k + 1) * size
    raw[start:end] = data if data is not None else os.urandom(end - start)
    db.write_bytes(bytes(raw))


def _last_page(db: Path) -> None:
    size = int.from_bytes(db.read_bytes()[16:18], "big") or 65536
    _page(db, db.stat().st_size // size - 1)


#: bad input -> damage done to the database file
BAD = {
    "truncated to half": lambda db: db.write_bytes(db.read_bytes()[: db.stat().st_size // 2]),
    "truncated in the header": lambda db: db.write_bytes(db.read_bytes()[:60]),
    "random bytes": lambda db: db.write_bytes(os.urandom(db.stat().st_size)),
    "a text file": lambda db: db.write_text("these are not the results you are looking for\n"),
    "schema page garbage": lambda db: _page(db, 0),
    "last page garbage": _last_page,
    "last page zeroed": lambda db: _page(db, db.stat().st_size // 4096 - 1, b"\x00" * 4096),
    "emptied (zero bytes)": lambda db: db.write_bytes(b""),
    "deleted": lambda db: db.unlink(),
    "a directory in its place": lambda db: (db.unlink(), db.mkdir()),
}


#: damage that listing the runs may not meet (a study's integrity check does)
LS_MAY_WORK = {"last page garbage", "last page zeroed"}


def _damaged(good: tuple[Path, Path], tmp_path: Path, bad: str) -> tuple[Path, Path]:
    config, src = good
    root = tmp_path / "runs"
    shutil.copytree(src, root)
    BAD[bad](root / "prunelab.sqlite")
    return config, root


def _fingerprint(root: Path) -> str:
    db = root / "prunelab.sqlite"
    if not db.is_file():
        return "absent" if not db.exists() else "not a file"
    return hashlib.sha256(db.read_bytes()).hexdigest()


def _one_error_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "sqlite3." not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("bad", list(BAD))
def test_a_damaged_database_gives_one_line_and_is_never_written(
    bad, good, tmp_path, monkeypatch, capsys
):
    config, root = _damaged(good, tmp_path, bad)
    before = _fingerprint(root)
    db = str(root / "prunelab.sqlite")
    code, out, err = cli(monkeypatch, capsys, "ls", "--runs-dir", root)
    if bad in LS_MAY_WORK and code == 0:
        assert "sweep-0" in out  # reading the runs table does not meet the damage
    else:
        assert code == 2, out + err
        _one_error_line(err, db, "prunelab store restore")
    code, out, err = cli(monkeypatch, capsys, "run", config, "--runs-dir", root)
    assert code == 2, out + err
    _one_error_line(err, db)
    assert _fingerprint(root) == before  # nothing was written into it
    code, out, err = cli(monkeypatch, capsys, "store", "check", "--runs-dir", root)
    assert code == 1 and "damaged" in err and "Traceback" not in err
    code, out, err = cli(monkeypatch, capsys, "store", "restore", "--runs-dir", root)
    assert code == 0, err
    assert "restored" in out
    code, out, err = cli(monkeypatch, capsys, "run", config, "--runs-dir", root)
    assert code == 0 and "skipped" in out, out + err  # the run is known finished again
    assert check_store(root).ok


@pytest.mark.parametrize(
    "command",
    [
        ["show", "sweep-0"],
        ["export", "--out", "m.csv"],
        ["report", "sweep-0"],
        ["robustness", "sweep-0"],
        ["phase", "configs/pesce2026_quick.yaml"],
    ],
)
def test_every_command_gives_one_line_on_a_damaged_store(
    command, good, tmp_path, monkeypatch, capsys
):
    _, root = _damaged(good, tmp_path, "truncated to half")
    args = [str(tmp_path / a) if a == "m.csv" else a for a in command]
    if command[0] == "phase":
        args[1] = str(Path(__file__).parents[2] / args[1])
    code, out, err = cli(monkeypatch, capsys, *args, "--runs-dir", root)
    assert code == 2, out + err
    _one_error_line(err, str(root / "prunelab.sqlite"))


def test_a_damaged_index_is_caught_before_a_study_writes(good, tmp_path, monkeypatch, capsys):
    # damage that reading the runs table does not meet: only the integrity check sees it
    config, root = _damaged(good, tmp_path, "last page garbage")
    with sqlite3.connect(root / "prunelab.sqlite") as con:
        assert con.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    before = _fingerprint(root)
    code, _, err = cli(monkeypatch, capsys, "run", config, "--runs-dir", root)
    assert code == 2 and _fingerprint(root) == before
    assert (root / FAILED_CHECK).exists()


def test_a_garbage_wal_file_is_ignored(good, tmp_path, monkeypatch, capsys):
    # SQLite checks the frames of the write-ahead log: garbage there is not applied
    config, root = _damaged(good, tmp_path, "deleted")
    shutil.copy(good[1] / "prunelab.sqlite", root / "prunelab.sqlite")
    (root / "prunelab.sqlite-wal").write_bytes(os.urandom(8192))
    code, out, err = cli(monkeypatch, capsys, "run", config, "--runs-dir", root)
    assert code == 0 and "skipped" in out, err
    assert check_store(root).ok


def test_store_check_reports_missing_artefacts_orphans_and_leftovers(
    good, tmp_path, monkeypatch, capsys
):
    _, root = _damaged(good, tmp_path, "truncated to half")
    shutil.copy(good[1] / "prunelab.sqlite", root / "prunelab.sqlite")
    code, out, _ = cli(monkeypatch, capsys, "store", "check", "--runs-dir", root)
    assert code == 0 and "integrity ok" in out
    (run_id,) = Store(root).runs().id
    (root / run_id / "topology" / "layer0.npz").unlink()
    (root / "0123456789ab").mkdir()  # a run folder without a row
    (root / run_id / ".checkpoint.pt.tmp-999999999").write_bytes(
        b"half"
    )  # of a process that is gone
    code, out, _ = cli(monkeypatch, capsys, "store", "check", "--runs-dir", root)
    assert code == 1
    assert "missing artefacts: 1" in out and "topology/layer0" in out
    assert "orphan run folders: 1" in out and "0123456789ab" in out
    assert "leftover temporary files: 1" in out


def test_backups_are_sound_rotated_and_restorable(good, tmp_path):
    _, root = _damaged(good, tmp_path, "truncated to half")
    shutil.copy(good[1] / "prunelab.sqlite", root / "prunelab.sqlite")
    store = Store(root)
    made = [store.backup(keep=2) for _ in range(3)]
    assert backups(root) == made[1:]  # the oldest was rotated out
    for path in made[1:]:
        with sqlite3.connect(path) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    with pytest.raises(StoreError, match="passes its check"):
        restore_store(root)  # a sound database is not replaced without --force
    (made[-1]).write_bytes(b"garbage")  # the newest backup is damaged: the one before is used
    _page(root / "prunelab.sqlite", 0)
    out = restore_store(root)
    assert out["restored"] == made[1] and out["skipped"] == [str(made[2])]
    assert (
        out["moved"] / "prunelab.sqlite"
    ).exists()  # the damaged database is kept, never deleted
    assert len(Store(root).runs()) == 1


def test_sqlite_failures_become_one_line_errors(tmp_path):
    db = tmp_path / "full.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x BLOB)")
    con.execute("PRAGMA max_page_count = 3")  # SQLite's own "database or disk is full"
    with pytest.raises(sqlite3.OperationalError) as full:
        for _ in range(10):
            con.execute("INSERT INTO t VALUES (?)", (os.urandom(4000),))
    con.close()
    err = translate_sqlite_error(full.value, db)
    assert (
        isinstance(err, DiskError) and "no space left on device" in str(err) and str(db) in str(err)
    )
    assert (
        translate_sqlite_error(sqlite3.ProgrammingError("bug"), db) is None
    )  # a bug stays a traceback


def test_store_commands_on_a_missing_or_empty_runs_directory(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere"
    for command in ("check", "backup", "restore"):
        code, out, err = cli(monkeypatch, capsys, "store", command, "--runs-dir", missing)
        assert code == 2, out + err
        _one_error_line(err, str(missing))
    assert not missing.exists()  # nothing was created
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = cli(monkeypatch, capsys, "store", "check", "--runs-dir", empty)
    assert code == 0 and "nothing to check" in out
    for command, needle in (("backup", "no results database"), ("restore", "no backups")):
        code, out, err = cli(monkeypatch, capsys, "store", command, "--runs-dir", empty)
        assert code == 2, out + err
        _one_error_line(err, needle)
    assert list(empty.iterdir()) == []
