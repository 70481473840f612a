"""The ``phase`` study kind: trajectories of every (sub-)study, then their degree-preserving nulls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import PrivateAttr

from prunelab.errors import ConfigError, PrunelabError
from prunelab.experiments.executors import Emit
from prunelab.experiments.store import Store
from prunelab.phase.analysis import analyse_study
from prunelab.studies.base import Item, item_result
from prunelab.studies.phase.config import PhaseStudyConfig, load_phase_config, parse_phase_config
from prunelab.studies.phase.null import (
    is_null_name,
    null_stage,
    null_table,
    run_null_item,
    study_null_densities,
)
from prunelab.studies.phase.trajectory import (
    check_schedule_links,
    load_data,
    run_trajectory,
    study_model,
    study_table,
)


class PhaseStudy(PhaseStudyConfig):
    """A pruning phase-transition study and its variants (see :class:`PhaseStudyConfig`)."""

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (("steps", "steps"), ("m", "m"))

    _analysis: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _null_items: dict[str, list[dict[str, Any]]] = PrivateAttr(default_factory=dict)
    _notes: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> PhaseStudy:
        """Validate a mapping (one-line errors)."""
        return parse_phase_config(raw, cls)

    # --- verbs -------------------------------------------------------------------------------
    def check(self) -> None:
        """Every study's schedule leaves links at every width; explicit null densities are on the schedule."""
        for cfg in self.studies():
            if cfg.null.enabled and cfg.null.densities != "auto":
                try:
                    study_null_densities(cfg, None, 0)
                except ConfigError as err:
                    raise ConfigError(f"study {cfg.name}: {err}") from None
            data = load_data(cfg)
            for width in cfg.widths:
                try:
                    check_schedule_links(cfg, study_model(cfg, data, width, 0))
                except ConfigError as err:
                    raise ConfigError(f"study {cfg.name}, width {width}: {err}") from None

    def plan(self, store: Store) -> Iterator[list[Item]]:
        studies = self.studies()
        yield [
            Item(
                run_id=cfg.trajectory_id(w, s),
                name=f"{cfg.name}/w{w}/s{s}",
                content=cfg.trajectory_content(w, s),
                params={"part": "trajectory", "study": k, "width": w, "seed": s},
            )
            for k, cfg in enumerate(studies)
            for w in cfg.widths
            for s in cfg.seeds
        ]
        stage: list[Item] = []
        for k, cfg in enumerate(studies):
            if not (cfg.null.enabled and (cfg.null.n_rewired > 0 or cfg.null.er)):
                continue
            try:
                items = null_stage(cfg, self.analysis_of(store, k)["critical"], k)
            except PrunelabError as err:
                self._notes.append(f"{cfg.name}: null skipped: {err}")
                continue
            self._null_items[cfg.name] = [it.params["null"] for it in items]
            stage += items
        if stage:
            yield stage

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        cfg = self.studies()[item.params["study"]]
        if item.params["part"] == "null":
            row = run_null_item(cfg, store, item.params["null"])
            return item_result(item, row["status"], m=row.get("m"), steps=1)
        n_steps = len(cfg.densities())

        def progress(info: dict[str, Any]) -> None:
            emit(
                {
                    "run_id": item.run_id,
                    "name": item.name,
                    "event": "epoch",
                    "done": info["step"] + 1,
                    "total": n_steps,
                    "info": f"density {info['density']:.3g}: m {info['m']:.2f}",
                }
            )

        emit(
            {
                "run_id": item.run_id,
                "name": item.name,
                "event": "start",
                "done": 0,
                "total": n_steps,
            }
        )
        res = run_trajectory(cfg, item.params["width"], item.params["seed"], store, progress)
        last = store.metrics([item.run_id], wide=True)
        m = float(last.m.iloc[-1]) if len(last) and "m" in last else None
        return item_result(item, res["status"], res["message"], steps=res["steps"], m=m)

    # --- analysis ----------------------------------------------------------------------------
    def analysis_of(self, store: Store, k: int) -> dict[str, Any]:
        """Table and analysis of sub-study ``k`` (cached for this object)."""
        cfg = self.studies()[k]
        if cfg.name not in self._analysis:
            df = study_table(cfg, store)
            if df.empty:
                raise PrunelabError(
                    f"study {cfg.name} has no stored trajectories; run it first with `prunelab run`"
                )
            res = analyse_study(
                df,
                n_boot=cfg.analysis.n_boot,
                n_boot_collapse=cfg.analysis.n_boot_collapse,
                confidence=cfg.analysis.confidence,
            )
            self._analysis[cfg.name] = {"table": df, **res}
        return self._analysis[cfg.name]

    def null_tables(self, store: Store) -> dict[str, pd.DataFrame]:
        """The null table of every sub-study whose null ran (stored as table ``phase/null``)."""
        out = {}
        for cfg in self.studies():
            items = self._null_items.get(cfg.name)
            if items:
                out[cfg.name] = null_table(cfg, store, items)
                store.save_table(
                    cfg.trajectory_id(cfg.widths[0], cfg.seeds[0]), "phase/null", out[cfg.name]
                )
        return out

    def analyse(self, store: Store) -> dict[str, Any]:
        """Per sub-study: ``table`` (tidy trajectories), the analysis of :func:`analyse_study`, ``null``."""
        nulls = self.null_tables(store)
        out = {}
        for k, cfg in enumerate(self.studies()):
            out[cfg.name] = {**self.analysis_of(store, k), "null": nulls.get(cfg.name)}
        return out

    def notes(self) -> list[str]:
        """One-line explanations of skipped parts (e.g. a null that could not run)."""
        return list(self._notes)

    def report(self, store: Store, out_dir: Path | None = None, header: str = "") -> Path:
        from prunelab.report.phase import phase_report

        started = time.time()
        tables = self.analyse(store)
        out = Path(out_dir) if out_dir else self.default_report_dir(store)
        return phase_report(
            self,
            tables,
            out,
            self.notes(),
            header
            or f"Study {self.name}; report written in "
            f"{time.time() - started:.0f} s from {store.root}.",
        )["html"]


def load_study_config(path: str | Path, quick: bool = False) -> PhaseStudy:
    """Read a phase-study YAML file (``quick``: its quick variant)."""
    return load_phase_config(path, quick, PhaseStudy)


def parse_study_config(raw: dict[str, Any]) -> PhaseStudy:
    """Validate a mapping into a :class:`PhaseStudy` (one-line :class:`ConfigError`)."""
    return parse_phase_config(raw, PhaseStudy)


def run_study(cfg: PhaseStudyConfig, store: Store, executor=None) -> pd.DataFrame:
    """Run (or resume, or skip) every (width, seed) trajectory of one study; returns its tidy table.

    Only the trajectories of ``cfg`` itself (not its variants, not the null) run here; the study
    kind's :meth:`PhaseStudy.plan` runs everything.
    """
    from prunelab.studies.base import run_items

    study = (
        cfg
        if isinstance(cfg, PhaseStudy)
        else parse_study_config(cfg.model_dump(mode="json", by_alias=True))
    )
    study.check()
    first = next(iter(study.plan(store)))
    results = run_items(study, [it for it in first if it.params["study"] == 0], store, executor)
    bad = [r for r in results if r["status"] not in ("finished", "skipped")]
    if bad and len(bad) == len(results):
        raise PrunelabError(
            f"every trajectory failed; first: {bad[0]['name']}: {bad[0]['message']}"
        )
    return study_table(study.studies()[0], store)


def run_phase(
    config: Path,
    quick: bool,
    runs_dir: Path,
    workers: int = 1,
    out: Path | None = None,
    console=None,
    executor=None,
) -> dict[str, Any]:
    """Run a phase study end to end: trajectories, null, analysis, figures, tables and summary.

    Parameters
    ----------
    config : path
        Phase-study YAML (e.g. ``configs/pesce2026.yaml``); its ``variants`` run as further studies.
    quick : bool
        Run the config's quick variant instead.
    runs_dir : path
        Results store; finished trajectories and null networks are reused, unfinished ones resume.
    workers : int
        Parallel items (local process pool when > 1) unless ``executor`` is given.
    out : path or None
        Report folder (default ``runs_dir/reports/<name>/``).
    console : rich Console, optional
        Progress lines go here.

    Returns
    -------
    dict
        ``out_dir``, ``summary``, ``html``, ``exponents``, ``tables`` (per study), ``seconds``
        (wall time of this call, s), ``notes``, ``outcome`` (the :class:`StudyRun`: item
        results and the database backup written after the study).
    """
    from prunelab.experiments.executors import make_executor
    from prunelab.report.phase import phase_report
    from prunelab.studies.base import run_study as run_any

    started = time.time()
    study = load_study_config(config, quick=quick)
    study.check()  # (run_study checks again) bad input fails before the store is created
    store = Store(runs_dir)
    out_dir = Path(out) if out else study.default_report_dir(store)

    def on_result(res: dict[str, Any]) -> None:
        if console is not None:
            console.print(
                f"  {res['name']}: {res['status']}  {time.time() - started:.0f}s",
                markup=False,
                highlight=False,
            )

    outcome = run_any(study, store, executor or make_executor(None, workers), on_result=on_result)
    trajectories = [r for r in outcome.results if not is_null_name(r["name"])]
    bad = [r for r in trajectories if r["status"] not in ("finished", "skipped")]
    if trajectories and len(bad) == len(trajectories):
        raise PrunelabError(
            f"every trajectory failed; first: {bad[0]['name']}: {bad[0]['message']}"
        )
    tables = study.analyse(store)
    seconds = time.time() - started
    header = (
        f"Config {config}{' (--quick)' if quick else ''}; wall time of this invocation {seconds:.0f} s "
        f"(finished trajectories are reused from {runs_dir})."
    )
    result = phase_report(study, tables, out_dir, study.notes(), header)
    return {**result, "tables": tables, "seconds": seconds, "outcome": outcome}
