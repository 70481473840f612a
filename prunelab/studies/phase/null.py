"""The degree-preserving null of a phase study: retrain stored pruned masks, their rewirings and
Erdős–Rényi masks with the mask fixed, one run per subnetwork (reused when stored)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from prunelab.core.config import config_hash
from prunelab.core.faults import fault_point
from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.phase.measure import measure
from prunelab.phase.null import NULL_INITS, NULL_VARIANTS, er_masks, null_densities, rewire_masks
from prunelab.pruning import apply_masks
from prunelab.studies.base import Item
from prunelab.studies.phase.config import PhaseStudyConfig, _unset_train
from prunelab.studies.phase.trajectory import load_data, load_masks, study_model, study_table
from prunelab.training import Trainer

NULL_COLUMNS = [
    "width",
    "seed",
    "density",
    "step",
    "variant",
    "rep",
    "run_id",
    "accuracy",
    "m",
    "prediction_entropy",
    "outcome_entropy",
    "path_fraction",
    "lcc_fraction",
    "measured_density",
]


def study_null_densities(
    cfg: PhaseStudyConfig, critical: pd.DataFrame | None, width: int
) -> list[float]:
    """The schedule densities of the null at ``width`` (:func:`prunelab.phase.null.null_densities`)."""
    return null_densities(cfg.densities(), cfg.null.densities, critical, width, cfg.null.n_auto)


def null_items(cfg: PhaseStudyConfig, critical: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Every subnetwork of the null: width, seed, density, step, variant, rep."""
    widths = cfg.null.widths or [max(cfg.widths)]
    seeds = cfg.null.seeds or cfg.seeds
    sched = cfg.densities()
    items = []
    for w in widths:
        if w not in cfg.widths:
            raise ConfigError(f"null width {w} is not one of the study widths {cfg.widths}")
        for d in study_null_densities(cfg, critical, w):
            step = int(np.argmin(np.abs(sched - d)))
            for s in seeds:
                variants = [("pruned", 0)]
                for frm in cfg.null.from_:
                    variants += [(f"rewired/{frm}", r) for r in range(cfg.null.n_rewired)]
                if cfg.null.er:
                    variants += [("er", r) for r in range(max(cfg.null.n_rewired, 1))]
                for variant, rep in variants:
                    items.append(
                        {
                            "width": int(w),
                            "seed": int(s),
                            "density": float(d),
                            "step": step,
                            "variant": variant,
                            "rep": int(rep),
                        }
                    )
    return items


#: the name segment that marks a null run: the study name, this segment, then width, seed, variant and repeat
NULL_SEGMENT = "null"


def null_name(cfg: PhaseStudyConfig, item: dict[str, Any]) -> str:
    """Human label of a null run."""
    tail = f"w{item['width']}/s{item['seed']}/{item['variant']}#{item['rep']}"
    return f"{cfg.name}/{NULL_SEGMENT}/{tail}"


def is_null_name(name: str) -> bool:
    """Whether ``name`` (a result's ``name``) is the label :func:`null_name` gives a null run."""
    return NULL_SEGMENT in name.split("/")[1:]


def run_null_item(cfg: PhaseStudyConfig, store: Store, item: dict[str, Any]) -> dict[str, Any]:
    """Train one null subnetwork (skipped when stored); returns its row."""
    content = cfg.null_content(item)
    run_id = config_hash(content)
    run = RunLifecycle(store, run_id, null_name(cfg, item), content)
    if run.claim() != "claimed":
        m = store.metrics([run_id], wide=True)
        row = {k: v for k, v in m.iloc[0].items() if k not in ("run_id", "epoch")} if len(m) else {}
        return {**item, "run_id": run_id, "status": run.outcome(), **row}
    try:
        out = _train_null(cfg, store, item)
    except BaseException as err:
        run.abort(err)
        raise
    if out is None:
        run.finish("diverged", "retraining did not finish")
        return {**item, "run_id": run_id, "status": "diverged", "accuracy": np.nan}
    fault_point("phase.null")
    store.log_metrics(run_id, 0, out)
    run.finish("finished")
    return {**item, "run_id": run_id, "status": "finished", **out}


def _train_null(
    cfg: PhaseStudyConfig, store: Store, item: dict[str, Any]
) -> dict[str, float] | None:
    traj = cfg.trajectory_id(item["width"], item["seed"])
    masks = load_masks(store, traj, item["step"])
    tm = store.metrics([traj], wide=True)
    if tm.empty:
        raise ConfigError(f"trajectory {traj} has no stored steps; run the study first")
    acc_dense = float(tm.acc_dense.iloc[0])
    seed, variant, rep = item["seed"], item["variant"], item["rep"]
    rng = as_generator([seed, item["step"], rep, NULL_VARIANTS.index(variant)])
    if variant.startswith("rewired"):
        masks = rewire_masks(masks, rng, cfg.null.method)
    elif variant == "er":
        masks = er_masks(masks, rng)
    init_seed = seed if variant != "rewired/scratch" else 100_000 + 1000 * seed + rep
    data = load_data(cfg)
    torch.manual_seed(init_seed)
    model = study_model(cfg, data, item["width"], init_seed)
    apply_masks(model, masks)
    NULL_INITS.get(cfg.null.init)(model)
    trainer = Trainer(model, data, cfg.train_config(seed, cfg.null.epochs or cfg.pretrain_epochs))
    if trainer.fit().status != "finished":
        return None
    out = measure(model, data, acc_dense, cfg.observables)
    out["density"] = item["density"]
    return out


def null_table(cfg: PhaseStudyConfig, store: Store, items: list[dict[str, Any]]) -> pd.DataFrame:
    """The null's results from the store, with the trajectory's own value at each tested step.

    Returns
    -------
    pandas.DataFrame
        One row per retrained subnetwork (columns :data:`NULL_COLUMNS` and ``study``), plus the
        trajectory's iteratively fine-tuned value at that step as variant ``trajectory``.
    """
    rows = []
    for it in items:
        run_id = config_hash(cfg.null_content(it))
        m = store.metrics([run_id], wide=True)
        row = (
            {k: v for k, v in m.iloc[0].items() if k not in ("run_id", "epoch")}
            if len(m)
            else {"accuracy": np.nan}
        )
        rows.append({**it, "run_id": run_id, **row})
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=[*NULL_COLUMNS, "study"])
    table = study_table(cfg, store)
    ref = []
    for (w, s, d), _ in df.groupby(["width", "seed", "density"]):
        sel = table[(table.width == w) & (table.seed == s) & np.isclose(table.density, d)]
        if len(sel):
            r = sel.iloc[0]
            ref.append(
                {
                    "width": w,
                    "seed": s,
                    "density": d,
                    "step": int(r.step),
                    "variant": "trajectory",
                    "rep": 0,
                    "run_id": r.run_id,
                    **{k: r[k] for k in ("accuracy", "m", "path_fraction") if k in r},
                }
            )
    df = pd.concat([df, pd.DataFrame(ref)], ignore_index=True)
    df = df[[c for c in NULL_COLUMNS if c in df.columns]].sort_values(
        ["width", "density", "variant", "seed", "rep"], ascending=[True, False, True, True, True]
    )
    df = df.reset_index(drop=True)
    df["study"] = cfg.name
    return df


def null_stage(
    cfg: PhaseStudyConfig, critical: pd.DataFrame | None, study_index: int = 0
) -> list[Item]:
    """The items of the null of one (sub-)study: one per retrained subnetwork."""
    return [
        Item(
            run_id=config_hash(cfg.null_content(it)),
            name=null_name(cfg, it),
            content=cfg.null_content(it),
            params={"part": "null", "study": study_index, "null": it},
        )
        for it in null_items(cfg, critical)
    ]


def run_null(
    cfg: PhaseStudyConfig, store: Store, critical: pd.DataFrame | None = None, executor=None
) -> pd.DataFrame:
    """Degree-preserving null at a few densities near the transition (trains what is not stored).

    For every chosen (width, density, seed) the stored pruned masks are retrained with the mask
    fixed for ``null.epochs`` from the trajectory's initialisation (``pruned``); rewired copies
    (Curveball per layer, degrees of every unit kept) from the same initialisation
    (``rewired/same-init``) and from a fresh one (``rewired/scratch``); and Erdős–Rényi masks with
    the same link count per layer from the same initialisation (``er``).

    Parameters
    ----------
    cfg : PhaseStudyConfig
        One study (its variants are not run).
    critical : DataFrame, optional
        Critical points of the study, for ``null.densities: auto``.
    executor : Executor, optional
        Where the retrainings run (default serial).

    Returns
    -------
    pandas.DataFrame
        :func:`null_table`; also stored as table ``phase/null`` of the study's first trajectory run.
    """
    from prunelab.studies.base import run_items
    from prunelab.studies.phase.study import PhaseStudy

    dump = {**cfg.model_dump(mode="json", by_alias=True), "variants": [], "quick_config": None}
    single = PhaseStudy.model_validate(_unset_train(dump, cfg.train))
    stage = null_stage(single, critical)
    run_items(single, stage, store, executor)
    table = null_table(single, store, [it.params["null"] for it in stage])
    store.save_table(cfg.trajectory_id(cfg.widths[0], cfg.seeds[0]), "phase/null", table)
    return table
