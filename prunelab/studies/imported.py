"""Register a network trained elsewhere as a finished run of the results store.

:func:`import_network` is what ``prunelab import FILE`` calls. The run it creates is like any
trained run to every analysis: ``load_run_model`` rebuilds it from the stored config (an
``imported:`` section: provenance and the architecture of the ``imported`` model family) and
its checkpoint, so ``prunelab robustness``, the observables, graph measures and reports work on
it unchanged.

Nothing is half-written: the file is read and converted, the run's folder is written under a
temporary name, the stored model is rebuilt and checked against the imported one, the folder is
renamed into place and only then the run, its artefacts and a one-run study of kind
``imported`` are recorded in one transaction.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from prunelab.errors import ConfigError
from prunelab.experiments.config import DataConfig, ExperimentConfig, ImportedConfig
from prunelab.experiments.provenance import git_revision, package_versions
from prunelab.experiments.runner import CHECKPOINT, model_for, save_topology
from prunelab.experiments.store import Store
from prunelab.interop import assemble, read_specs
from prunelab.nn import SparseLinear, sparse_layers

#: the study kind recorded for an import (one run; its report is the run report)
KIND = "imported"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_data_fits(data: str, sizes: list[int]) -> None:
    """ConfigError when data set ``data`` does not have ``sizes[0]`` features and ``sizes[-1]`` classes.

    File data sets are checked from their registered shapes (nothing is loaded or downloaded);
    generated ones are built (they are small).
    """
    from prunelab.data.registry import get_spec

    spec = get_spec(data)
    if hasattr(spec, "image_shape"):
        h, w = spec.image_shape[:2]
        n_features, n_classes = int(h * w), int(spec.n_classes)
    else:
        ds = spec.load()
        n_features, n_classes = int(ds.n_features), int(ds.n_classes)
    if (sizes[0], sizes[-1]) != (n_features, n_classes):
        raise ConfigError(
            f"the network maps {sizes[0]} inputs to {sizes[-1]} outputs but data set {data!r} has "
            f"{n_features} features and {n_classes} classes; pass the data set it was trained on with --data"
        )


def _name_taken(store: Store, name: str) -> bool:
    runs, studies = store.runs(), store.studies()
    return bool((runs["name"] == name).any() or (studies["name"] == name).any())


def import_network(
    store: Store,
    path: str | Path,
    format: str | None = None,
    name: str | None = None,
    data: str = "fashion-mnist",
    activation: str = "relu",
    zeros_as_missing: bool = False,
) -> dict[str, Any]:
    """Import the network in ``path`` as a finished run named ``name``.

    Parameters
    ----------
    store : Store
    path : str or Path
        A ``.pt`` state dict or ``.npz`` file (see :mod:`prunelab.interop.files`).
    format : {"torch", "sparselab", "npz"} or None
        None: guessed from the suffix and content.
    name : str, optional
        The run's (and its one-run study's) name; default the file's stem. Must be unused.
    data : str
        The data set the network was trained on (its inputs and classes are checked); the
        analyses evaluate on its test split.
    activation : {"relu", "tanh", "gelu", "silu"}
        Between layers (a state dict does not record it).
    zeros_as_missing : bool
        Exact zeros of unmasked layers are missing links.

    Returns
    -------
    dict
        ``run_id``, ``name``, ``format``, ``layers`` (list of per-layer dicts: name, n_in, n_out,
        sparse, links) and ``seconds`` (wall time of the import, s).

    Raises
    ------
    ConfigError
        Bad file or layers (see :func:`prunelab.interop.load_file`), a name or a file already
        imported, a data set that does not fit. The store is unchanged then.
    """
    started = time.time()
    path = Path(path)
    name = name or path.stem
    if _name_taken(store, name):
        raise ConfigError(
            f"a run or study named {name!r} already exists in {str(store.root)!r}; choose another --name"
        )
    specs, chosen = read_specs(path, format, zeros_as_missing)
    model = assemble(specs, activation)
    model.eval()
    sizes = list(model.sizes)
    check_data_fits(data, sizes)
    cfg = ExperimentConfig(
        name=name,
        data=DataConfig(name=data),
        imported=ImportedConfig(
            format=chosen,
            file=str(path.resolve()),
            sha256=_sha256(path),
            zeros_as_missing=zeros_as_missing,
            sizes=sizes,
            sparse=[isinstance(m, SparseLinear) for m in model.layers],
            bias=[m.bias is not None for m in model.layers],
            activation=activation,
        ),
    )
    run_id = cfg.run_id()
    existing = store.get_run(run_id)
    if existing is not None:
        raise ConfigError(
            f"this network is already in the store as run {run_id} ({existing['name']!r}); "
            f"analyse that run, e.g. `prunelab robustness {run_id}`"
        )
    final = store.root / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".import-{run_id}-", dir=store.root))
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg.run_config(), sort_keys=False))
        torch.save({"model": model.state_dict()}, tmp / CHECKPOINT)
        save_topology(model, tmp / "topology")
        _check_rebuild(cfg, tmp / CHECKPOINT, model)
        if (
            final.exists()
        ):  # a folder without a run row: left by an import that died before recording
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    artefacts = [("checkpoint", final / CHECKPOINT, "checkpoint")]
    artefacts += [
        (f"topology/{n}", final / "topology" / f"{n}.npz", "links") for n, _ in sparse_layers(model)
    ]
    seconds = time.time() - started
    try:
        store.insert_finished_run(
            run_id,
            name,
            cfg.run_config(),
            artefacts,
            KIND,
            seconds=seconds,
            versions=package_versions(),
            git_revision=git_revision(),
            message=f"imported from {path.name} ({chosen})",
        )
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    layers = [
        {
            "layer": f"layer{k}",
            "n_in": s.n_in,
            "n_out": s.n_out,
            "sparse": s.mask is not None,
            "links": int(s.mask.sum()) if s.mask is not None else s.n_in * s.n_out,
        }
        for k, s in enumerate(specs)
    ]
    return {"run_id": run_id, "name": name, "format": chosen, "layers": layers, "seconds": seconds}


def _check_rebuild(cfg: ExperimentConfig, checkpoint: Path, model: torch.nn.Module) -> None:
    """The stored config + checkpoint must give back the imported function exactly (as
    :func:`~prunelab.experiments.runner.load_run_model` will rebuild it)."""
    rebuilt = model_for(cfg)
    rebuilt.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    rebuilt.eval()
    x = torch.randn(8, cfg.imported.sizes[0], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if not torch.allclose(rebuilt(x), model(x), rtol=1e-5, atol=1e-6):
            raise ConfigError(
                "the stored network does not reproduce the imported one; this is a prunelab bug, please report it"
            )
