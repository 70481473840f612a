"""Networks of the sufficiency study as portable link lists, and pruning by any link score.

A :class:`NetworkState` holds every layer of a fully sparse MLP (every layer, readout included, a
``SparseLinear``) as its link list and weights plus its bias: it is independent of the storage
backend, so a network trained dense on the ``masked`` backend is retrained at 1% on the ``csr``
backend (:func:`build_model`) without ever densifying, and it saves to one ``.pt`` file.

:func:`prune_links` prunes a model to a remaining density with any score of
:data:`prunelab.core.scoring.LINK_SCORES` (magnitude, random, the pruning-at-initialisation
scores, ``mode_preserving``) through :func:`prunelab.pruning.prune_model` (the one pruning
mechanism), optionally in several rounds that rescore the shrinking network.
:data:`MASK_CONTROLS` replaces a pruned mask by a control of the same density.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.links import Links
from prunelab.core.registry import Registry
from prunelab.core.rng import Seed, as_generator
from prunelab.core.scoring import ScoreContext
from prunelab.errors import ConfigError, check_density
from prunelab.graph import path_connectivity, rewire_network
from prunelab.nn.families import build_model as build_family
from prunelab.nn.init import init_link_values
from prunelab.nn.layer import SparseLinear
from prunelab.pruning import geometric_schedule, prune_model

#: networks sparser than this (links over possible links, all layers) train on the truly sparse
#: ``csr`` backend, denser ones on ``masked``. Measured (2-core CPU, batch 128, SGD): csr is faster
#: for 784-100-100-10 and 784-1000-1000-10 at every density from 0.1% to 30% (2x at 30% for
#: 784-1000-1000-10), also for pruned networks whose small readout stays dense; the crossover of
#: 1000-wide layers is near 38% (docs/benchmarks.md). One backend for the whole network, since
#: mixing the two costs a layout change per layer (a csr first layer with masked others was slower
#: than all-masked).
CSR_BELOW = 0.35


@dataclass
class NetworkState:
    """A fully sparse MLP as link lists.

    Attributes
    ----------
    sizes : list of int
        Units per layer, inputs first, classes last.
    activation : str
    links : list of Links
        Topology of each weight layer, input side first.
    values : list of ndarray of shape (n_links_l,), float32
        Link weights in each layer's link order (row-major).
    biases : list of ndarray of shape (n_out_l,), float32
    """

    sizes: list[int]
    activation: str
    links: list[Links]
    values: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def n_links(self) -> int:
        """Links over all layers."""
        return int(sum(lk.n_links for lk in self.links))

    @property
    def possible_links(self) -> int:
        """``Σ n_in · n_out``: the links of the dense network."""
        return int(sum(lk.n_possible for lk in self.links))

    @property
    def density(self) -> float:
        """Remaining density of the whole network."""
        return self.n_links / self.possible_links

    def masks(self) -> list[Any]:
        """Each layer's topology as a scipy CSR bool matrix (n_in, n_out) (never dense)."""
        return [lk.to_csr() for lk in self.links]

    def with_links(
        self, links: Sequence[Links], values: Sequence[np.ndarray] | None = None
    ) -> NetworkState:
        """The same network with other topologies; values default to this state's weights at the
        kept links (zero at new links)."""
        if values is None:
            values = [
                _values_at(lk, old, v)
                for lk, old, v in zip(links, self.links, self.values, strict=True)
            ]
        return NetworkState(
            list(self.sizes),
            self.activation,
            list(links),
            [np.asarray(v, dtype=np.float32) for v in values],
            [b.copy() for b in self.biases],
        )

    def save(self, path: str | Path) -> None:
        """Write the state to ``path`` atomically (``torch.save`` of plain arrays)."""
        from prunelab.training import atomic_torch_save

        atomic_torch_save(
            {
                "sizes": self.sizes,
                "activation": self.activation,
                "rows": [lk.rows for lk in self.links],
                "cols": [lk.cols for lk in self.links],
                "values": self.values,
                "biases": self.biases,
            },
            Path(path),
        )

    @classmethod
    def load(cls, path: str | Path) -> NetworkState:
        """Read a state written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise ConfigError(
                f"network state {str(path)!r} is missing; rerun the study so its pretraining item writes it"
            )
        raw = torch.load(path, weights_only=False)
        sizes = [int(s) for s in raw["sizes"]]
        links = [
            Links(r, c, (sizes[k], sizes[k + 1]))
            for k, (r, c) in enumerate(zip(raw["rows"], raw["cols"], strict=True))
        ]
        return cls(sizes, raw["activation"], links, list(raw["values"]), list(raw["biases"]))


def _values_at(new: Links, old: Links, values: np.ndarray) -> np.ndarray:
    """``values`` (aligned with ``old``) at the links of ``new``; 0 where ``new`` has a link ``old`` lacks."""
    old_lin, new_lin = old.linear(), new.linear()
    order = np.argsort(old_lin)
    pos = np.searchsorted(old_lin[order], new_lin)
    pos = np.clip(pos, 0, max(old_lin.size - 1, 0))
    out = np.zeros(new_lin.size, dtype=np.float32)
    if old_lin.size:
        hit = old_lin[order][pos] == new_lin
        out[hit] = np.asarray(values, dtype=np.float32)[order][pos[hit]]
    return out


def dense_network(sizes: Sequence[int], seed: int, activation: str = "relu") -> nn.Module:
    """A dense, fully prunable MLP (every layer a ``SparseLinear`` on the masked backend, Kaiming init)."""
    return build_family(
        "mlp",
        seed=seed,
        sizes=[int(s) for s in sizes],
        density=1.0,
        backend="masked",
        sparse_readout=True,
        activation=activation,
    )


def model_state(model: nn.Module) -> NetworkState:
    """The :class:`NetworkState` of a model built by :func:`dense_network` or :func:`build_model`."""
    layers = model.sparse_layers()
    links, values, biases = [], [], []
    for layer in layers:
        lk = (
            layer.links().sorted()
            if layer.n_links
            else Links(np.empty(0, np.int64), np.empty(0, np.int64), (layer.n_in, layer.n_out))
        )
        rows, cols = layer.link_index()
        v = layer.link_values().detach().cpu().numpy().astype(np.float32)
        lin = rows.cpu().numpy() * layer.n_out + cols.cpu().numpy()
        links.append(lk)
        values.append(v[np.argsort(lin, kind="stable")])
        biases.append(
            layer.bias.detach().cpu().numpy().astype(np.float32).copy()
            if layer.bias is not None
            else np.zeros(layer.n_out, np.float32)
        )
    return NetworkState(list(model.sizes), model.activation, links, values, biases)


def backend_for(density: float) -> str:
    """``csr`` for a network sparser than :data:`CSR_BELOW` (fraction of its possible links),
    else ``masked`` (whichever trains faster on a CPU)."""
    return "csr" if 0 < density < CSR_BELOW else "masked"


def align_numba_threads() -> None:
    """Give the ``csr`` kernels (numba) no more threads than torch has.

    An executor that splits the cores among workers sets torch's thread count; numba's parallel
    kernels would otherwise use every core in every worker, and on a shared machine their
    barriers then cost more than the kernels (a 5x slowdown measured on 2 busy cores).
    """
    try:
        import numba
    except ImportError:  # pragma: no cover - the csr backend is absent without numba
        return
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, torch.get_num_threads())))


def build_model(state: NetworkState, backend: str | None = None) -> nn.Module:
    """A trainable ``SparseMLP`` with exactly the links, weights and biases of ``state``.

    Parameters
    ----------
    state : NetworkState
    backend : {"csr", "masked"}, optional
        One backend for every layer; by default :func:`backend_for` the network's density.
    """
    from prunelab.nn.mlp import SparseMLP

    layers = []
    chosen = backend or backend_for(state.density)
    for lk, v, b in zip(state.links, state.values, state.biases, strict=True):
        order = np.argsort(lk.linear(), kind="stable")  # both backends keep links row-major
        layer = SparseLinear(
            lk.n_in, lk.n_out, backend=chosen, rows=lk.rows[order], cols=lk.cols[order]
        )
        layer.set_link_values(torch.as_tensor(np.asarray(v, dtype=np.float32)[order]))
        with torch.no_grad():
            layer.bias.copy_(torch.as_tensor(b))
        layers.append(layer)
    return SparseMLP.from_layers(layers, state.activation)


def fresh_values(state: NetworkState, seed: Seed) -> NetworkState:
    """The same topology with new Kaiming weights N(0, 2/f_in) (dense fan-in) and zero biases."""
    gen_seed = int(as_generator(seed).integers(0, 2**62))
    gen = torch.Generator().manual_seed(gen_seed)
    values = [
        init_link_values("kaiming", lk.n_links, lk.n_in, 1.0, gen).numpy() for lk in state.links
    ]
    out = state.with_links(state.links, values)
    out.biases = [np.zeros_like(b) for b in state.biases]
    return out


# --- pruning ------------------------------------------------------------------------------------


def check_first_density(sizes: Sequence[int], density: float) -> None:
    """ConfigError when ``density`` of the dense network gives some layer no link at all.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer.
    density : float
        The first (highest) density of a schedule.
    """
    for k in range(len(sizes) - 1):
        possible = int(sizes[k]) * int(sizes[k + 1])
        if round(density * possible) < 1:
            raise ConfigError(
                f"the first density {density:g} leaves layer{k} ({sizes[k]}x{sizes[k + 1]}) without links; "
                f"start the schedule at a density >= {0.5 / possible:.3g}"
            )


def prune_links(
    model: nn.Module,
    density: float,
    criterion: str = "magnitude",
    scope: str = "global",
    rounds: int = 1,
    ctx: ScoreContext | None = None,
) -> list[int]:
    """Prune a model in place to ``density`` of its dense links, in ``rounds`` rescored steps.

    Every round is :func:`prunelab.pruning.prune_model` (any link score of
    :data:`~prunelab.core.scoring.LINK_SCORES`, selection by the one top-k routine) to the next
    density of a geometric sequence from the current density to ``density``; first-order scores
    such as ``mode_preserving`` need several rounds, magnitude gives the same mask for any number.

    Parameters
    ----------
    model : nn.Module
        With ``named_sparse_layers()`` (every weight layer sparse).
    density : float
        Kept links / Σ n_in · n_out, in (0, 1], not above the current density.
    criterion : str
        A name in :data:`~prunelab.core.scoring.LINK_SCORES` (higher score = keep).
    scope : str
        A name in :data:`prunelab.pruning.PRUNING_SCOPES` (``global``, ``layer``).
    rounds : int
        Number of pruning steps (>= 1).
    ctx : ScoreContext, optional
        What the score needs besides the layers (rng, batches, options).

    Returns
    -------
    list of int
        Links kept in each layer, input side first.
    """
    density = check_density(density, "density")
    if int(rounds) < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    layers = [layer for _, layer in model.named_sparse_layers()]
    current = sum(layer.n_links for layer in layers) / sum(
        layer.n_in * layer.n_out for layer in layers
    )
    ctx = ctx if ctx is not None else ScoreContext(rng=np.random.default_rng(0))
    ctx.model = model
    targets = (
        geometric_schedule(current, density, int(rounds) + 1)[1:]
        if density < current
        else [density]
    )
    for target in targets:
        prune_model(model, float(target), scope, criterion, ctx=ctx)
    return [layer.n_links for layer in layers]


def _er(links: Sequence[Links], rng: np.random.Generator) -> list[Links]:
    out = []
    for lk in links:
        lin = (
            rng.choice(lk.n_possible, size=lk.n_links, replace=False)
            if lk.n_links
            else np.empty(0, np.int64)
        )
        out.append(Links.from_linear(np.sort(lin), lk.shape))
    return out


def _rewired(links: Sequence[Links], rng: np.random.Generator) -> list[Links]:
    return [
        Links.from_mask(m)
        for m in rewire_network([lk.to_mask() for lk in links], method="curveball", seed=rng)
    ]


MaskControl = Callable[[Sequence[Links], np.random.Generator], list[Links]]

#: what replaces a pruned mask before retraining: ``control(links, rng) -> links``
MASK_CONTROLS: Registry[MaskControl] = Registry("mask control")
MASK_CONTROLS.register("pruned", lambda links, rng: list(links), help="the pruned mask itself")
MASK_CONTROLS.register(
    "er", _er, help="uniformly random links, as many per layer as the pruned mask"
)
MASK_CONTROLS.register(
    "rewired", _rewired, help="degree-preserving Curveball rewiring of every layer"
)


def control_links(links: Sequence[Links], kind: str, seed: Seed) -> list[Links]:
    """The mask control ``kind`` of :data:`MASK_CONTROLS` applied to a network's links.

    ``"er"`` keeps each layer's link count, ``"rewired"`` every unit's degree (layers that are the
    only graph with their degrees stay as they are), ``"pruned"`` returns the links unchanged.
    """
    return MASK_CONTROLS.get(kind)(links, as_generator(seed))


def random_links(sizes: Sequence[int], density: float, seed: Seed) -> list[Links]:
    """Erdős–Rényi topologies: ``round(density · n_in · n_out)`` (at least 1) uniform links per layer."""
    rng = as_generator(seed)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        n = max(1, int(round(density * n_in * n_out)))
        out.append(
            Links.from_linear(
                np.sort(rng.choice(n_in * n_out, size=n, replace=False)), (n_in, n_out)
            )
        )
    return out


def structure_row(state: NetworkState) -> dict[str, float]:
    """Structure of a network's masks: link counts, densities, path fractions, hard floor.

    Returns
    -------
    dict
        ``links``, ``measured_density``, ``links/layerK``, ``density/layerK``, ``min_layer_links``,
        ``input_path_fraction``, ``output_path_fraction``, ``path_fraction``, ``hard_floor``
        (1 when some layer has no link or no input reaches an output, else 0).
    """
    row: dict[str, float] = {"links": float(state.n_links), "measured_density": state.density}
    for k, lk in enumerate(state.links):
        row[f"links/layer{k}"] = float(lk.n_links)
        row[f"density/layer{k}"] = lk.density
    row["min_layer_links"] = float(min(lk.n_links for lk in state.links))
    pc = path_connectivity(state.masks())
    row.update(
        input_path_fraction=pc.input_fraction,
        output_path_fraction=pc.output_fraction,
        path_fraction=pc.fraction,
    )
    row["hard_floor"] = float(row["min_layer_links"] == 0 or pc.input_fraction == 0)
    return row


def equivalent_sizes(sizes: Sequence[int], n_links: float) -> list[int] | None:
    """Sizes of a dense MLP with the same inputs, outputs and depth and about ``n_links`` weights.

    Every hidden width is scaled by one factor (found by bisection, then rounded, at least 1).

    Returns
    -------
    list of int, or None when even hidden widths of 1 have more weights than ``n_links``.
    """
    sizes = [int(s) for s in sizes]

    def weights(scale: float) -> float:
        h = [sizes[0]] + [max(1, int(round(scale * s))) for s in sizes[1:-1]] + [sizes[-1]]
        return float(sum(a * b for a, b in zip(h[:-1], h[1:], strict=True)))

    if weights(0.0) > n_links:
        return None
    lo, hi = 0.0, 1.0
    while weights(hi) < n_links and hi < 1e6:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if weights(mid) < n_links else (lo, mid)
    best = min((lo, hi), key=lambda s: abs(weights(s) - n_links))
    return [sizes[0]] + [max(1, int(round(best * s))) for s in sizes[1:-1]] + [sizes[-1]]
