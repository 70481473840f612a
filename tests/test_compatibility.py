"""Stores written by earlier versions keep working: run ids unchanged, old tables migrated in place.

``tests/data/run_ids_v0.1.json`` holds the run, sweep, trajectory and null ids that prunelab 0.1.0
(before study kinds existed) computed for the shipped configs; the current code must compute the
same ones, so a rerun of a reproduction on an old store finds every finished run.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from prunelab.core.config import config_hash
from prunelab.experiments import Store
from prunelab.studies import load_study
from prunelab.studies.phase import load_study_config

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "data" / "run_ids_v0.1.json").read_text())


@pytest.mark.parametrize("name", sorted(GOLDEN["train"]))
def test_training_run_and_sweep_ids_are_unchanged(name):
    study = load_study(ROOT / "configs" / f"{name}.yaml")
    assert [r.run_id() for r in study.runs()] == GOLDEN["train"][name]
    if name in GOLDEN["sweeps"]:
        assert study.study_id() == GOLDEN["sweeps"][name]


@pytest.mark.parametrize("config", ["pesce2026", "pesce2026_quick"])
def test_phase_trajectory_and_null_ids_are_unchanged(config):
    top = load_study_config(ROOT / "configs" / f"{config}.yaml")
    for cfg in top.studies():
        got = {f"{w}/{s}": cfg.trajectory_id(w, s) for w in cfg.widths for s in cfg.seeds}
        assert got == GOLDEN["phase"][cfg.name]
        item = {
            "width": cfg.widths[-1],
            "seed": cfg.seeds[0],
            "step": 3,
            "variant": "rewired/scratch",
            "rep": 1,
        }
        assert config_hash(cfg.null_content(item)) == GOLDEN["null"][cfg.name]


def _old_store(root: Path) -> None:
    """A store with the schema of prunelab 0.1.0 before the owner column and the studies table."""
    root.mkdir(parents=True)
    con = sqlite3.connect(root / "prunelab.sqlite")
    con.executescript("""
        CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL,
            created REAL NOT NULL, started REAL, finished REAL, seconds REAL, versions TEXT, git_revision TEXT, message TEXT);
        CREATE TABLE metrics (run_id TEXT NOT NULL, epoch INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
            PRIMARY KEY (run_id, epoch, name));
        CREATE TABLE artefacts (run_id TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
            epoch INTEGER, PRIMARY KEY (run_id, name));
        CREATE TABLE sweeps (id TEXT PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL, run_ids TEXT NOT NULL,
            created REAL NOT NULL);
        CREATE TABLE tables (run_id TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL, created REAL NOT NULL,
            PRIMARY KEY (run_id, name));
    """)
    con.execute(
        "INSERT INTO runs (id, name, config, status, created) VALUES ('aaaaaaaaaaaa', 'old/seed=0', '{}', 'finished', 1)"
    )
    con.execute(
        "INSERT INTO runs (id, name, config, status, created) VALUES ('bbbbbbbbbbbb', 'old/seed=1', '{}', 'running', 2)"
    )
    con.execute(
        "INSERT INTO sweeps VALUES ('5eed5eed5eed', 'old', '{}', '[\"aaaaaaaaaaaa\", \"bbbbbbbbbbbb\"]', 3)"
    )
    con.commit()
    con.close()


def test_an_old_store_is_migrated_in_place(tmp_path):
    root = tmp_path / "runs"
    _old_store(root)
    store = Store(root)
    # sweeps recorded before the studies table are found by name and id
    assert store.resolve("old") == ("sweep", "5eed5eed5eed", ["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    assert store.studies().set_index("id").loc["5eed5eed5eed", "kind"] == "train"
    # a finished run stays finished and is not claimed again; a running one without owner (killed
    # under the old version) is claimable, so a rerun resumes it
    assert store.claim_run("aaaaaaaaaaaa") == "finished"
    assert store.claim_run("bbbbbbbbbbbb") == "claimed"
    Store(root)  # opening twice migrates nothing twice
    assert len(store.studies()) == 1
