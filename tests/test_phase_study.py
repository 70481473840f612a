"""The phase-transition study pipeline: trajectories, resume, analysis, null, figures, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from prunelab.errors import ConfigError
from prunelab.experiments import Store
from prunelab.phase import figures
from prunelab.phase.analysis import analyse_study
from prunelab.phase.null import rewire_masks
from prunelab.studies.phase import (
    load_masks,
    load_study_config,
    parse_study_config,
    run_null,
    run_study,
    run_trajectory,
    study_table,
)

TINY = {
    "name": "tiny",
    "data": {"name": "digits"},
    "family": "fc",
    "widths": [8, 16, 24],
    "seeds": [0, 1],
    "schedule": {"start": 1.0, "stop": 2e-3, "n_steps": 6},
    "pretrain_epochs": 3,
    "finetune_epochs": 1,
    "train": {"lr": 0.05, "batch_size": 64},
    "null": {
        "n_rewired": 1,
        "densities": "auto",
        "n_auto": 1,
        "widths": [24],
        "seeds": [0],
        "epochs": 2,
    },
    "analysis": {"n_boot": 20, "n_boot_collapse": 0},
}


@pytest.fixture(autouse=True)
def _one_thread():
    # one thread: on a shared 2-core machine two spinning threads can be 10-50x slower
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("phase") / "runs"
    cfg = parse_study_config(TINY)
    store = Store(root)
    df = run_study(cfg, store)
    return cfg, store, df


def test_study_runs_end_to_end(tiny_study):
    cfg, store, df = tiny_study
    sched = cfg.densities()
    assert len(df) == len(cfg.widths) * len(cfg.seeds) * len(sched)
    for (w, s), part in df.groupby(["width", "seed"]):
        part = part.sort_values("step")
        np.testing.assert_allclose(part.density.to_numpy(), sched)
        # the measured density follows the schedule up to rounding to whole links
        possible = sum(m.size for m in load_masks(store, cfg.trajectory_id(w, s), 0))
        np.testing.assert_array_less(
            np.abs(part.measured_density.to_numpy() - sched) * possible, 0.5 + 1e-6
        )
        assert part.m.iloc[0] == pytest.approx(1.0)
    low = df[df.step == df.step.max()]
    assert low.m.mean() < 0.5
    for col in (
        "accuracy",
        "prediction_entropy",
        "outcome_entropy",
        "path_fraction",
        "lcc_fraction",
        "log_paths",
        "w_mean_abs",
        "acc_dense",
    ):
        assert col in df.columns
    # masks of every step are stored as artefacts
    rid = cfg.trajectory_id(8, 0)
    masks = load_masks(store, rid, len(sched) - 1)
    assert sum(int(m.sum()) for m in masks) == pytest.approx(
        df[(df.run_id == rid) & (df.step == len(sched) - 1)].measured_density.iloc[0]
        * sum(m.size for m in masks)
    )
    assert len(store.artefacts(rid)) == len(sched)


def test_rerun_skips_finished(tiny_study):
    cfg, store, df = tiny_study
    res = run_trajectory(cfg, 8, 0, store)
    assert res["status"] == "skipped"
    again = run_study(cfg, store)
    pd.testing.assert_frame_equal(again, df)


def test_kill_and_resume_gives_the_same_table(tiny_study, tmp_path):
    cfg, _, full = tiny_study
    store = Store(tmp_path / "runs")

    class Kill(Exception):
        pass

    def kill_at_3(info):
        if info["step"] == 3:
            raise Kill

    with pytest.raises(Kill):
        run_trajectory(cfg, 16, 1, store, progress=kill_at_3)
    rid = cfg.trajectory_id(16, 1)
    assert store.get_run(rid)["status"] == "interrupted"
    assert sorted(store.metrics([rid]).epoch.unique()) == [0, 1, 2, 3]
    res = run_trajectory(cfg, 16, 1, store)
    assert res["status"] == "finished" and res["resumed_at"] == 4
    got = study_table(cfg, store).drop(columns=["step_seconds"]).reset_index(drop=True)
    want = full[full.run_id == rid].drop(columns=["step_seconds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_exact=False, rtol=1e-6, atol=1e-9)


def test_analysis_and_figures(tiny_study, tmp_path):
    cfg, store, df = tiny_study
    res = analyse_study(df, n_boot=20, n_boot_collapse=0)
    crit = res["critical"]
    assert set(crit.observable) == {"m", "path_fraction"} and set(crit.method) == {
        "chi",
        "inflection",
    }
    assert crit.xc.between(cfg.densities()[-1], 1.0).all()
    assert len(res["collapse"]) == 2 and res["collapse"].best.sum() == 1
    paths = [
        figures.plot_order_parameter(df, tmp_path),
        figures.plot_entropies(df, tmp_path),
        figures.plot_connectivity(df, tmp_path),
        figures.plot_susceptibility(df, tmp_path, crit),
        figures.plot_vs_links(df, tmp_path, "m", "", res["threshold_links"]),
    ]
    # surviving links: the stored weight count; global pruning keeps rho x possible links
    links = res["threshold_links"]
    assert list(links.width) == cfg.widths
    last = df[df.step == df.step.max()]
    np.testing.assert_allclose(
        last.links,
        np.round(
            last.density * (links.set_index("width").possible_links.loc[last.width].to_numpy())
        ),
        atol=1,
    )
    assert (
        links.links_c > 0
    ).all() and links.links_c_lo.isna().all()  # 2 seeds: no bootstrap interval
    np.testing.assert_allclose(links.rho_c, links.links_c / links.possible_links)
    with pytest.raises(ConfigError, match="missing column"):
        figures.plot_vs_links(df.drop(columns=["links"]), tmp_path)
    for control, cres in res["collapses"].items():
        paths.append(figures.plot_collapse(df, cres, tmp_path, control))
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000


def test_null_comparison(tiny_study, tmp_path):
    cfg, store, df = tiny_study
    res = analyse_study(df, n_boot=0, n_boot_collapse=0)
    null = run_null(cfg, store, critical=res["critical"])
    assert {"pruned", "rewired/same-init", "rewired/scratch", "er", "trajectory"} <= set(
        null.variant
    )
    assert null.accuracy.between(0, 1).all()
    # the rewired masks keep the link count; rerunning reuses the stored runs
    assert len(run_null(cfg, store, critical=res["critical"])) == len(null)
    assert figures.plot_null(null, tmp_path).exists()


def test_rewire_masks_keeps_degrees_and_rejects_unrewirable():
    rng = np.random.default_rng(0)
    masks = [rng.random((12, 10)) < 0.3, np.ones((10, 3), dtype=bool)]
    out = rewire_masks(masks, 0)
    np.testing.assert_array_equal(out[0].sum(0), masks[0].sum(0))
    np.testing.assert_array_equal(out[0].sum(1), masks[0].sum(1))
    np.testing.assert_array_equal(out[1], masks[1])
    with pytest.raises(ConfigError, match="can be rewired") as err:
        rewire_masks([np.ones((4, 4), dtype=bool), np.tril(np.ones((4, 4), dtype=bool))], 0)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "override, match",
    [
        ({"schedule": {"densities": [1.0, 0.1, 0.2]}}, "strictly decrease"),
        ({"schedule": {"start": 1.0, "stop": 1e-7, "n_steps": 6}}, "leaves 0 links"),
        ({"rewind": "epoch:99"}, "rewind epoch"),
        ({"scheduel": {}}, "did you mean 'schedule'"),
        ({"null": {"form": ["scratch"]}}, "unknown key 'null.form'"),
    ],
)
def test_bad_input_is_one_line(override, match, tmp_path):
    raw = {**TINY, **override}
    with pytest.raises(ConfigError, match=match) as err:
        cfg = parse_study_config(raw)
        run_study(cfg, Store(tmp_path / "runs"))
    assert "\n" not in str(err.value)


def test_analysis_needs_columns_and_three_sizes(tiny_study):
    _, _, df = tiny_study
    with pytest.raises(ConfigError, match="missing column"):
        analyse_study(df.drop(columns=["m"]))
    res = analyse_study(df[df.width != 24], n_boot=0, n_boot_collapse=0)
    assert res["collapse"].empty and any("at least 3" in n for n in res["notes"])


def test_cli_quick_writes_report(tmp_path):
    import typer
    from typer.testing import CliRunner

    from prunelab.cli import phase as phase_cli

    app = typer.Typer()
    phase_cli.register(app)

    @app.command()
    def _noop() -> None:  # a second command keeps typer from collapsing the app into one command
        pass

    cfg_path = tmp_path / "study.yaml"
    import yaml

    raw = {**TINY, "widths": [8, 16, 24], "seeds": [0, 1], "null": {"enabled": False}}
    cfg_path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["phase", str(cfg_path), "--runs-dir", str(tmp_path / "runs"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "index.html").exists() and (out / "summary.md").exists()
    assert (out / "tiny_m_vs_density.png").exists()
    assert "report:" in result.output
    # like `prunelab run`, the command says where the database was backed up, and the file is there
    backup = [ln for ln in result.output.splitlines() if ln.startswith("database backed up to ")]
    assert len(backup) == 1, result.output
    assert Path(backup[0].removeprefix("database backed up to ").strip()).is_file()


@pytest.mark.parametrize("quick", [False, True])
def test_shipped_study_configs_leave_links_at_every_width(quick):
    load_study_config(
        Path(__file__).parent.parent / "configs" / "pesce2026.yaml", quick=quick
    ).check()


def test_null_densities_off_the_schedule_fail_before_training(tmp_path):
    from prunelab.studies.phase.study import run_phase

    raw = {**TINY, "null": {**TINY["null"], "densities": [0.05]}}
    cfg_path = tmp_path / "study.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ConfigError,
        match="study tiny: null density 0.05 is not in the schedule; use one of 1, 0.2885",
    ) as err:
        run_phase(cfg_path, False, tmp_path / "runs", 1, tmp_path / "out")
    assert "\n" not in str(err.value)
    # the printed 4-digit values are accepted
    ok = {**TINY, "null": {**TINY["null"], "densities": [0.2885]}}
    from prunelab.studies.phase.null import study_null_densities

    assert study_null_densities(parse_study_config(ok), None, 24) == [
        pytest.approx(0.2885, rel=1e-3)
    ]


def test_a_variant_schedule_leaving_no_links_fails_before_training(tmp_path):
    from prunelab.studies.phase.study import run_phase

    raw = {
        **TINY,
        "variants": [
            {
                "name": "tiny-v",
                "widths": [8, 16, 24],
                "schedule": {"start": 1.0, "stop": 1e-6, "n_steps": 6},
            }
        ],
    }
    cfg_path = tmp_path / "study.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="study tiny-v, width 8: .*leaves 0 links") as err:
        run_phase(cfg_path, False, tmp_path / "runs", 1, tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "runs" / "prunelab.sqlite").exists()  # not even an empty store


def test_sparse_init_scales_each_layer_by_its_density():
    from prunelab.pruning import make_fc, prunable_layers, prune_model, scale_to_sparse_init

    model = make_fc(20, 4, 16, depth=3, seed=0)
    prune_model(model, 0.1, scope="global", method="random", rng=np.random.default_rng(0))
    before = [(layer.link_values().clone(), layer.density) for layer in prunable_layers(model)]
    assert len({round(d, 3) for _, d in before}) > 1  # global pruning: layers differ in density
    scale_to_sparse_init(model)
    for (values, density), layer in zip(before, prunable_layers(model), strict=True):
        torch.testing.assert_close(layer.link_values(), values / np.sqrt(density))


def test_null_init_option_changes_only_new_null_ids():
    item = {"width": 24, "seed": 0, "step": 3, "variant": "pruned", "rep": 0}
    dense = parse_study_config(TINY)
    swi = parse_study_config({**TINY, "null": {**TINY["null"], "init": "swi"}})
    assert "init" not in dense.null_content(item)  # ids of null runs stored before the option
    assert swi.null_content(item)["init"] == "swi"
    with pytest.raises(ConfigError):
        parse_study_config({**TINY, "null": {**TINY["null"], "init": "xavier"}})
