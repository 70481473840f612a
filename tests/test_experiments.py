"""Configs, run ids, the SQLite store, sweeps, resume and crash safety."""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml
from conftest import DIGITS_CONFIG

from prunelab.errors import ConfigError, StoreError
from prunelab.experiments import (
    Store,
    apply_override,
    expand_sweep,
    load_config,
    parse_config,
    run_experiment,
    sweep_id,
)


def test_run_id_is_content_hash_independent_of_name_and_key_order():
    a = parse_config(DIGITS_CONFIG)
    b = parse_config(
        {"name": "other", **{k: DIGITS_CONFIG[k] for k in reversed(list(DIGITS_CONFIG))}}
    )
    assert a.run_id() == b.run_id()
    c = copy.deepcopy(DIGITS_CONFIG)
    c["train"]["lr"] = 0.051
    assert parse_config(c).run_id() != a.run_id()
    assert len(a.run_id()) == 12


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"trian": {}}, "did you mean 'train'"),
        ({"model": {"sizes": [64, 10], "densty": 0.1}}, "did you mean 'model.density'"),
        ({"model": {"sizes": [64, 10], "density": 1.5}}, r"\(0, 1\]"),
        ({"model": {"sizes": [64, 10], "density": 0}}, r"\(0, 1\]"),
        ({"model": {"sizes": [64]}}, "at least two"),
        ({"train": {"lr": "fast"}}, "train.lr"),
        ({"train": {"optimizer": "sgdd"}}, "'sgd', 'adam' or 'adamw'"),
        ({"model": {"sizes": [64, 10], "backend": "gpu"}}, "model.backend"),
    ],
)
def test_bad_configs_give_one_line(patch, match):
    raw = {**copy.deepcopy(DIGITS_CONFIG), **patch}
    with pytest.raises(ConfigError, match=match) as info:
        parse_config(raw)
    assert "\n" not in str(info.value)


def test_set_override_and_unknown_key():
    raw = copy.deepcopy(DIGITS_CONFIG)
    apply_override(raw, "train.lr=0.2")
    apply_override(raw, "model.sizes=[64, 32, 10]")
    cfg = parse_config(raw)
    assert cfg.train.lr == 0.2 and cfg.model.sizes == [64, 32, 10]
    with pytest.raises(ConfigError, match="did you mean 'train.epochs'"):
        apply_override(raw, "train.epoch=3")
    with pytest.raises(ConfigError, match="key=value"):
        apply_override(raw, "train.lr")


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {sizes: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_sweep_expansion_grid_times_seeds():
    raw = {
        **copy.deepcopy(DIGITS_CONFIG),
        "name": "s",
        "sweep": {"grid": {"model.density": [0.1, 0.2], "train.lr": [0.05]}, "seeds": [0, 1, 2]},
    }
    runs = expand_sweep(raw)
    assert len(runs) == 6
    assert {(r.model.density, r.train.seed) for r in runs} == {
        (d, s) for d in (0.1, 0.2) for s in (0, 1, 2)
    }
    assert len({r.run_id() for r in runs}) == 6
    assert runs[0].name == "s/model.density=0.1,train.lr=0.05,seed=0"
    assert sweep_id(raw) == sweep_id(copy.deepcopy(raw))
    bad = copy.deepcopy(raw)
    bad["sweep"]["grid"] = {"model.densty": [0.1]}
    with pytest.raises(ConfigError, match="model.density"):
        expand_sweep(bad)


def test_unwritable_runs_dir(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    if os.access(target, os.W_OK):  # root ignores permissions: use a path under a file instead
        blocker = tmp_path / "file"
        blocker.write_text("")
        target = blocker / "runs"
    with pytest.raises(StoreError, match="not writable"):
        Store(target / "sub")


def test_metrics_round_trip_and_export(runs_dir):
    store = Store(runs_dir)
    store.register_run("abc", "n", {"x": 1})
    store.log_metrics("abc", 1, {"test_accuracy": 0.5, "train_loss": 1.0})
    store.log_metrics("abc", 1, {"test_accuracy": 0.6})  # a resumed epoch overwrites
    store.log_metrics("abc", 2, {"test_accuracy": 0.7})
    df = store.metrics(["abc"])
    assert len(df) == 3
    wide = store.metrics(wide=True)
    assert wide.set_index("epoch").test_accuracy.to_dict() == {1: 0.6, 2: 0.7}
    store.drop_metrics_after("abc", 1)
    assert store.metrics().epoch.max() == 1
    assert store.resolve("ab")[1] == "abc"
    with pytest.raises(StoreError, match="prunelab ls"):
        store.resolve("zzz")


def _writer(args):
    root, k = args
    store = Store(root)
    store.register_run(f"r{k}", "w", {})
    for epoch in range(1, 31):
        store.log_metrics(f"r{k}", epoch, {"a": epoch, "b": k})
    return k


def test_concurrent_writers_lose_no_rows(runs_dir):
    Store(runs_dir)
    with mp.get_context("spawn").Pool(4) as pool:
        pool.map(_writer, [(str(runs_dir), k) for k in range(4)])
    df = Store(runs_dir).metrics()
    assert len(df) == 4 * 30 * 2
    with sqlite3.connect(runs_dir / "prunelab.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_run_finishes_then_rerun_is_skipped(runs_dir):
    store = Store(runs_dir)
    cfg = parse_config(DIGITS_CONFIG)
    res = run_experiment(cfg, store)
    assert res["status"] == "finished" and res["epochs"] == 5
    assert res["test_accuracy"] > 0.5  # a 10%-dense MLP learns digits well above chance (0.1)
    row = store.get_run(cfg.run_id())
    assert row["status"] == "finished" and row["versions"]["torch"]
    assert set(store.metrics([cfg.run_id()]).name) >= {
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "epoch_seconds",
        "links/layer0",
        "density/layer1",
    }
    assert (runs_dir / cfg.run_id() / "topology" / "layer0.npz").exists()
    again = run_experiment(cfg, store)
    assert again["status"] == "skipped"


def test_resume_after_interruption_gives_identical_numbers(runs_dir, tmp_path):
    cfg = parse_config(DIGITS_CONFIG)
    full = run_experiment(cfg, Store(tmp_path / "full"))
    ref = Store(tmp_path / "full").metrics([cfg.run_id()], wide=True)
    # run 2 of 5 epochs, then resume to 5
    short = copy.deepcopy(DIGITS_CONFIG)
    store = Store(runs_dir)
    from prunelab.experiments.runner import build_data, model_of
    from prunelab.training import Trainer

    data = build_data(cfg)
    model = model_of(cfg.model, cfg.train.seed)
    ckpt = store.run_dir(cfg.run_id()) / "checkpoint.pt"
    store.register_run(cfg.run_id(), "x", cfg.run_config())
    # a checkpoint is only resumed when the store holds the metrics of the epochs it covers
    trainer = Trainer(
        model,
        data,
        cfg.train.model_copy(update={"epochs": 2}),
        checkpoint_path=ckpt,
        on_epoch=lambda epoch, m: store.log_metrics(cfg.run_id(), epoch, {"marker": 1.0, **m}),
    )
    trainer.fit()
    res = run_experiment(parse_config(short), store)
    assert res["status"] == "finished"
    got = store.metrics([cfg.run_id()], wide=True)
    assert list(got.epoch) == [1, 2, 3, 4, 5]
    assert (
        got.marker.tolist()[:2] == [1.0, 1.0] and got.marker.isna().tolist()[2:] == [True] * 3
    )  # 3-5 retrained
    for col in ("test_accuracy", "test_loss", "train_loss"):
        assert got[got.epoch >= 3][col].tolist() == pytest.approx(
            ref[ref.epoch >= 3][col].tolist(), rel=1e-6
        )
    assert full["test_accuracy"] == pytest.approx(res["test_accuracy"])


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_resumes(tmp_path):
    cfg_path = tmp_path / "c.yaml"
    raw = copy.deepcopy(DIGITS_CONFIG)
    # long enough that the kill lands mid-run on a fast, quiet machine (a digits epoch takes ~30 ms)
    epochs = 400
    raw["train"]["epochs"] = epochs
    cfg_path.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "prunelab.cli.main", "run", str(cfg_path), "--runs-dir", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = runs / parse_config(raw).run_id() / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(runs)
    with sqlite3.connect(runs / "prunelab.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done_before = store.metrics(wide=True).epoch.max()
    assert done_before < epochs
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    df = store.metrics(wide=True)
    assert list(df.epoch) == list(range(1, epochs + 1))
    assert store.runs().status.tolist() == ["finished"]


def test_memory_only_keys_do_not_change_the_run_id():
    a = copy.deepcopy(DIGITS_CONFIG)
    b = copy.deepcopy(DIGITS_CONFIG)
    b["train"]["eval_batch_size"] = 17
    assert parse_config(a).run_id() == parse_config(b).run_id()


def test_running_run_of_a_dead_process_is_marked_stale(tmp_path):
    store = Store(tmp_path / "runs")
    store.register_run("alive", "a", {})
    store.register_run("dead", "d", {})
    store.register_run("done", "f", {})
    store.set_status("alive", "running")  # this process: alive
    code = (
        "import sys; from prunelab.experiments.store import Store; "
        f"Store({str(tmp_path / 'runs')!r}).set_status('dead', 'running')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # its process exits at once
    store.set_status("done", "running")
    store.set_status("done", "finished")
    runs = store.runs().set_index("id")
    assert (
        not runs.loc["alive", "stale"]
        and runs.loc["dead", "stale"]
        and not runs.loc["done", "stale"]
    )
    import socket

    assert runs.loc["alive", "owner"] == f"{socket.gethostname()}:{os.getpid()}"
    assert runs.loc["dead", "owner"] != runs.loc["alive", "owner"]


def test_store_of_an_older_schema_gains_the_owner_column(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    with sqlite3.connect(
        root / "prunelab.sqlite"
    ) as con:  # the runs table as prunelab 0.1 wrote it
        con.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, "
            "created REAL NOT NULL, started REAL, finished REAL, seconds REAL, versions TEXT, git_revision TEXT, message TEXT)"
        )
        con.execute(
            "INSERT INTO runs (id, name, config, status, created) VALUES ('old', 'o', '{}', 'running', 0)"
        )
    store = Store(root)
    runs = store.runs()
    assert "owner" in runs.columns and runs.stale.tolist() == [
        False
    ]  # no owner recorded: not judged
    store.set_status("old", "running")
    assert store.runs().owner.iloc[0].endswith(f":{os.getpid()}")
