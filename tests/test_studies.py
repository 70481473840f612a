"""The studies layer: any kind through `prunelab run`, one executor path, progress events, the studies record."""

from __future__ import annotations

import yaml
from test_cli import DIGITS_YAML, cli

from prunelab.experiments import Store, make_executor
from prunelab.studies import load_study, run_study


def test_run_chooses_the_kind_from_the_config(monkeypatch, capsys, tmp_path):
    runs = tmp_path / "runs"
    train = tmp_path / "net.yaml"
    train.write_text(DIGITS_YAML.replace("epochs: 5", "epochs: 2"))
    assert cli(monkeypatch, capsys, "run", train, "--runs-dir", runs)[0] == 0
    rob = tmp_path / "rob.yaml"
    rob.write_text(
        yaml.safe_dump(
            {
                "kind": "robustness",
                "runs": "net",
                "kinds": ["random_pruning", "weight_noise"],
                "strengths": [0.0, 0.5, 1.0],
            }
        )
    )
    code, out, err = cli(monkeypatch, capsys, "run", rob, "--runs-dir", runs)
    assert code == 0, err
    assert "robustness study" in out and "net: random_pruning" in out
    code, out, _ = cli(monkeypatch, capsys, "studies", "--runs-dir", runs)
    assert code == 0 and "robustness" in out and "train" in out
    # the second run reuses the cached curves
    code, out, _ = cli(monkeypatch, capsys, "run", rob, "--runs-dir", runs)
    assert code == 0 and "skipped" in out


def test_unknown_kind_is_one_line(monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text("kind: phaze\nwidths: [8]\n")
    code, _, err = cli(monkeypatch, capsys, "run", cfg, "--runs-dir", tmp_path / "runs")
    assert (
        code == 2
        and "unknown study kind 'phaze'; did you mean 'phase'" in err
        and len(err.strip().splitlines()) == 1
    )


def test_serial_and_local_pool_give_the_same_numbers_and_events(tmp_path):
    raw = yaml.safe_load(DIGITS_YAML.replace("epochs: 5", "epochs: 2"))
    raw["sweep"] = {"grid": {"train.lr": [0.05, 0.1]}, "seeds": [0]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    study = load_study(tmp_path / "s.yaml")
    metrics = {}
    for name, workers in (("serial", 1), ("local", 2)):
        events = []
        store = Store(tmp_path / name)
        outcome = run_study(study, store, make_executor(name, workers), on_event=events.append)
        assert {r["status"] for r in outcome.results} == {"finished"}
        assert {e["event"] for e in events} >= {
            "start",
            "epoch",
        }  # progress reaches the driver from workers too
        m = store.metrics(wide=True).sort_values(["run_id", "epoch"])
        metrics[name] = m[["run_id", "epoch", "test_accuracy", "train_loss"]].reset_index(drop=True)
        assert store.resolve(study.name)[0] == "sweep"
    assert metrics["serial"].equals(metrics["local"])
