"""One topology update of every sparse layer of a model: removal, chain removal, regrowth, init.

:func:`update_topology` works from each layer's link list (``link_index``/``link_values``), never
from a dense ``n_in x n_out`` array, and changes each layer once through
``SparseLinear.update_topology`` (optimizer state follows the links). Both the training hook and
the benchmark call it.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from prunelab.core.faults import fault_point
from prunelab.core.links import Links
from prunelab.dst.chain import chain_removal, on_path_units
from prunelab.dst.config import DSTConfig
from prunelab.dst.gradients import GradProvider
from prunelab.dst.regrowth import regrow
from prunelab.dst.removal import check_zeta, removal_keep
from prunelab.errors import ConfigError
from prunelab.nn.init import init_link_values
from prunelab.nn.protocol import sparse_layers

STAGES = ("gradients", "read", "removal", "chain", "regrowth", "apply")


def _degree_stats(
    name: str, rows: np.ndarray, cols: np.ndarray, n_in: int, n_out: int
) -> dict[str, float]:
    in_deg = np.bincount(cols, minlength=n_out)
    out_deg = np.bincount(rows, minlength=n_in)
    stats = {}
    for label, deg in (("in", in_deg), ("out", out_deg)):
        connected = deg[deg > 0]
        stats[f"mean_{label}_degree/{name}"] = float(connected.mean()) if connected.size else 0.0
        stats[f"max_{label}_degree/{name}"] = float(deg.max(initial=0))
    return stats


def update_topology(
    model: nn.Module,
    config: DSTConfig,
    rng: np.random.Generator,
    optimizer: torch.optim.Optimizer | None = None,
    grad_provider: GradProvider | None = None,
    zeta: float | None = None,
) -> dict[str, float]:
    """Remove and regrow links in every sparse layer of ``model`` (one DST update).

    Parameters
    ----------
    model : nn.Module
        A model with :class:`~prunelab.nn.SparseLinear` layers (``named_sparse_layers()`` if it
        has it, input side first; chain removal treats them as a feed-forward chain).
    config : DSTConfig
    rng : numpy.random.Generator
        All random choices (ties, random regrowth, new weights).
    optimizer : torch.optim.Optimizer, optional
        Its state of removed links is dropped, that of new links starts at zero.
    grad_provider : callable, optional
        ``() -> {layer name: (inputs (batch, n_in), grad_outputs (batch, n_out))}``; required
        by gradient rules (see :func:`prunelab.dst.gradients.batch_grad_provider`).
    zeta : float, optional
        Removal fraction of this update (default ``config.zeta``; the hook passes the scheduled value).

    Returns
    -------
    dict of str to float
        Metrics named as logged: per layer ``links/``, ``removed/``, ``regrown/``,
        ``regrown_was_removed/`` (fraction of regrown links that were just removed),
        ``random_fill/`` (links drawn at random for lack of positive scores),
        ``active_neurons/`` (output units on an input→output path after the update),
        ``mean_in_degree/``, ``max_in_degree/``, ``mean_out_degree/``, ``max_out_degree/``
        (means over units with at least one link), each followed by the layer name; and
        ``dst/<stage>_seconds`` for stages gradients, read (link lists from the layers), removal,
        chain, regrowth, apply (new values and the layers' own update), plus
        ``dst/total_seconds`` and ``dst/zeta``.

    Raises
    ------
    ConfigError
        Bad zeta, a gradient rule without ``grad_provider``, layers that do not chain (with chain
        removal), or a layer where the requested links cannot be placed.
    """
    zeta = check_zeta(config.zeta if zeta is None else zeta)
    layers = sparse_layers(model)
    if not layers:
        raise ConfigError("dynamic sparse training needs a model with sparse layers (SparseLinear)")
    chained = all(a.n_out == b.n_in for (_, a), (_, b) in zip(layers, layers[1:], strict=False))
    if config.chain_removal and not chained:
        raise ConfigError(
            "chain_removal needs sparse layers that form a chain (n_out of each = n_in of the next); disable chain_removal"
        )
    seconds = dict.fromkeys(STAGES, 0.0)
    started = time.perf_counter()

    grads = None
    if config.needs_gradients:
        if grad_provider is None:
            raise ConfigError(
                f"regrowth {config.regrowth!r} needs gradients; pass grad_provider (DSTHook builds one from the training batches)"
            )
        t = time.perf_counter()
        grads = grad_provider()
        seconds["gradients"] = time.perf_counter() - t

    t = time.perf_counter()
    links = [layer.links() for _, layer in layers]
    values = [layer.link_values().detach().cpu().numpy() for _, layer in layers]
    seconds["read"] = time.perf_counter() - t

    t = time.perf_counter()
    keeps = [removal_keep(v, zeta, config.removal, rng) for v in values]
    seconds["removal"] = time.perf_counter() - t

    t = time.perf_counter()
    on_path = None
    if config.chain_removal or not config.regrow_dead:
        kept = [layer_links.subset(k) for layer_links, k in zip(links, keeps, strict=True)]
        if config.chain_removal:
            chain_keep, on_path = chain_removal(kept)
            for k, ck in zip(keeps, chain_keep, strict=True):
                k[np.flatnonzero(k)[~ck]] = False
        elif chained:
            on_path = on_path_units(kept)
    seconds["chain"] = time.perf_counter() - t

    t = time.perf_counter()
    growth = []
    for idx, (name, _layer) in enumerate(layers):
        keep = keeps[idx]
        allowed_in = allowed_out = None
        if not config.regrow_dead and on_path is not None:
            # inputs of the network are always sources and the last level always sinks
            allowed_in = on_path[idx] if idx > 0 else None
            allowed_out = on_path[idx + 1] if idx + 1 < len(layers) else None
        grad = grads.get(name) if grads is not None else None
        if config.needs_gradients and grad is None:
            raise ConfigError(f"grad_provider returned no gradient for sparse layer {name!r}")
        growth.append(
            regrow(
                config.regrowth,
                links[idx].subset(keep),
                int((~keep).sum()),
                rng,
                soft=config.soft,
                grad=grad,
                allowed_in=allowed_in,
                allowed_out=allowed_out,
                name=name,
            )
        )
    seconds["regrowth"] = time.perf_counter() - t

    t = time.perf_counter()
    stats: dict[str, float] = {}
    new_links = []
    for idx, (name, layer) in enumerate(layers):
        rows, cols = links[idx].rows, links[idx].cols
        keep, g = keeps[idx], growth[idx]
        n_out = layer.n_out
        removed_lin = rows[~keep] * n_out + cols[~keep]
        grown_lin = g.rows * n_out + g.cols
        # both are sets of distinct links, so the set test needs no deduplication
        was_removed = np.isin(grown_lin, removed_lin, assume_unique=True)
        final_keep = keep.copy()
        add_rows, add_cols = g.rows, g.cols
        if config.reinstate_weights and was_removed.any():
            order = np.argsort(removed_lin)
            removed_pos = np.flatnonzero(~keep)[order]
            final_keep[removed_pos[np.searchsorted(removed_lin[order], grown_lin[was_removed])]] = (
                True
            )
            add_rows, add_cols = g.rows[~was_removed], g.cols[~was_removed]
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        values = init_link_values(config.init, add_rows.size, layer.n_in, layer.density, gen)
        layer.update_topology(
            keep=torch.from_numpy(final_keep),
            add_rows=torch.from_numpy(add_rows),
            add_cols=torch.from_numpy(add_cols),
            add_values=values,
            optimizer=optimizer,
        )
        fault_point("dst.apply")  # once per layer and update (never per minibatch step)
        new_rows = np.concatenate([rows[final_keep], add_rows])
        new_cols = np.concatenate([cols[final_keep], add_cols])
        new_links.append(Links.trusted(new_rows, new_cols, (layer.n_in, layer.n_out)))
        n_grown = g.rows.size
        stats[f"links/{name}"] = float(layer.n_links)
        stats[f"removed/{name}"] = float((~keep).sum())
        stats[f"regrown/{name}"] = float(n_grown)
        stats[f"regrown_was_removed/{name}"] = float(was_removed.mean()) if n_grown else 0.0
        stats[f"random_fill/{name}"] = float(g.n_random_fill)
        stats.update(_degree_stats(name, new_rows, new_cols, layer.n_in, layer.n_out))
    seconds["apply"] = time.perf_counter() - t
    total = time.perf_counter() - started

    if chained:
        alive = on_path_units(new_links)
        for idx, (name, _) in enumerate(layers):
            stats[f"active_neurons/{name}"] = float(alive[idx + 1].sum())
    else:
        for (name, _layer), layer_links in zip(layers, new_links, strict=True):
            stats[f"active_neurons/{name}"] = float(np.unique(layer_links.cols).size)
    for stage in STAGES:
        stats[f"dst/{stage}_seconds"] = seconds[stage]
    stats["dst/total_seconds"] = total
    stats["dst/zeta"] = zeta
    return stats
