"""The page of any run or study: what ``prunelab report REF`` calls.

Runs, sweeps and imported networks have page writers in :data:`prunelab.report.REPORT_KINDS`; every
other study kind writes its page through its own :meth:`~prunelab.studies.Study.report`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from prunelab.errors import ConfigError, PrunelabError
from prunelab.experiments.store import Store
from prunelab.report import REPORT_KINDS, build_report
from prunelab.studies.base import STUDY_KINDS, parse_study


def write_report(
    store: Store, ref: str, out_dir: str | Path | None = None, single_file: bool = False
) -> Path:
    """Write the report page of the run or study ``ref``; returns the HTML path.

    Parameters
    ----------
    store : Store
    ref : str
        Run id, study id, id prefix or name.
    out_dir : path, optional
        Default ``<runs>/reports/<ref>/`` for runs and sweeps, the study's
        :meth:`~prunelab.studies.Study.default_report_dir` (``<runs>/reports/<name>/``) otherwise.
    single_file : bool
        Embed the figures; kinds whose ``report()`` has no ``single_file`` parameter write
        their usual page.

    Raises
    ------
    PrunelabError
        A study whose kind is not registered or writes no page.
    """
    kind, ident, _ = store.resolve(ref)
    if kind in REPORT_KINDS:
        return build_report(store, ref, out_dir, single_file=single_file)
    row = store.get_study(ident)
    try:
        study = parse_study(row["config"], STUDY_KINDS.check(kind))
    except ConfigError as err:
        raise PrunelabError(f"cannot write the page of {ref!r}: {err}") from None
    out = (
        Path(out_dir) if out_dir else study.default_report_dir(store)
    )  # its own folder, where the index looks
    takes_single = (
        "single_file" in inspect.signature(study.report).parameters
    )  # kinds that predate single-file pages
    path = (
        study.report(store, out, single_file=single_file)
        if takes_single
        else study.report(store, out)
    )
    if path is None:
        raise PrunelabError(f"{kind!r} studies have no report page")
    return Path(path)
