"""Hard pruning: remove the players with ``s < ε`` and fold the survivors' ``s`` into their weights.

The result is a real, smaller network: a :class:`~prunelab.nn.SparseMLP` with fewer hidden units,
a :class:`~prunelab.nn.families.SparseCNN` with fewer channels, or (link players) a model with
fewer links. It computes exactly what the gated network computes once the removed players' gates
are set to 0: every activation prunelab offers maps 0 to 0, so a unit with ``s = 0`` contributes
nothing downstream, and a kept unit's ``s`` folds into its incoming weights and bias (and, for
``group: in_out``, into its outgoing weights). With gates that are exactly 0 or 1 the logits of the
pruned network equal those of the gated one.

A layer whose every unit is removed keeps one dead unit (all its weights zero) so the network stays
a valid model; it is reported as 0 units kept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.game.gates import weight_layers
from prunelab.nn.families import ImageInput, MaskedConv2d, SparseCNN
from prunelab.nn.layer import SparseLinear
from prunelab.nn.mlp import ACTIVATIONS, SparseMLP
from prunelab.nn.protocol import sparse_layers


@dataclass
class PruneResult:
    """A hard-pruned network.

    Attributes
    ----------
    model : nn.Module
        The smaller network (a new module; the input model is untouched).
    kept : dict of str to ndarray (k_l,), int64
        Per player layer: positions of the surviving players (units or links).
    n_players : dict of str to int
        Players per layer before pruning.
    """

    model: nn.Module
    kept: dict[str, np.ndarray]
    n_players: dict[str, int]

    @property
    def n_kept(self) -> int:
        """Surviving players over all layers."""
        return int(sum(len(k) for k in self.kept.values()))


def _dense(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight, mask)`` of a weight layer as (n_in, n_out) float32 / bool."""
    if isinstance(layer, nn.Linear):
        w = layer.weight.detach().t().clone()
        return w, torch.ones_like(w, dtype=torch.bool)
    return layer.dense_weight(), layer.mask()


def _rows(layer: nn.Module, units: np.ndarray) -> np.ndarray:
    """Input rows of ``layer`` fed by the given units of the previous layer."""
    if isinstance(layer, MaskedConv2d):
        kk = layer.kernel_size[0] * layer.kernel_size[1]
        return (units[:, None] * kk + np.arange(kk)[None, :]).ravel()
    return units


def _build_linear(
    template: nn.Module, w: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor | None
) -> nn.Module:
    """A layer of ``template``'s type with weight ``w`` (n_in, n_out) on ``mask``."""
    n_in, n_out = w.shape
    if isinstance(template, nn.Linear):
        out = nn.Linear(n_in, n_out, bias=bias is not None)
        with torch.no_grad():
            out.weight.copy_(w.t())
            if bias is not None:
                out.bias.copy_(bias)
        return out
    rows, cols = mask.nonzero(as_tuple=True)
    if isinstance(template, MaskedConv2d):
        kh, kw = template.kernel_size
        out = MaskedConv2d(
            n_in // (kh * kw),
            n_out,
            template.kernel_size,
            stride=template.stride,
            padding=template.padding,
            bias=bias is not None,
        )
        out.update_topology(
            keep=torch.zeros(out.n_links, dtype=torch.bool), add_rows=rows, add_cols=cols
        )
    else:
        out = SparseLinear(
            n_in,
            n_out,
            bias=bias is not None,
            backend=template.backend_name,
            rows=rows.numpy(),
            cols=cols.numpy(),
        )
    r, c = out.link_index()
    out.set_link_values(w[r, c])
    if bias is not None:
        with torch.no_grad():
            out.bias.copy_(bias)
    return out


def _activation_name(net: nn.Module) -> str:
    return next(name for name, cls in ACTIVATIONS.items() if isinstance(net.act, cls))


def prune_units(
    model: nn.Module, s: Mapping[str, np.ndarray], epsilon: float, group: str = "in"
) -> PruneResult:
    """Remove the units with ``s < epsilon`` of a SparseMLP or SparseCNN (see the module docstring).

    Parameters
    ----------
    model : SparseMLP, SparseCNN or ImageInput(SparseCNN)
        The ungated network (its parameters are θ, not s θ).
    s : mapping of layer name to ndarray (n_l,)
        Participations of the units of every weight layer but the last (``layerK`` names).
    epsilon : float
        Units with ``s < epsilon`` are removed.
    group : {"in", "in_out"}
        Whether s also scaled the outgoing weights.

    Returns
    -------
    PruneResult
    """
    names = [f"layer{k}" for k in range(len(weight_layers(model)) - 1)]
    missing = [n for n in names if n not in s]
    if missing:
        raise ConfigError(f"hard pruning needs participations for {', '.join(missing)}")
    values = {n: np.asarray(s[n], dtype=np.float64) for n in names}
    kept = {n: np.flatnonzero(v >= epsilon).astype(np.int64) for n, v in values.items()}
    return keep_units(model, kept, {n: values[n][kept[n]] for n in names}, group)


def keep_units(
    model: nn.Module,
    kept: Mapping[str, np.ndarray],
    scale: Mapping[str, np.ndarray] | None = None,
    group: str = "in",
) -> PruneResult:
    """A smaller copy of ``model`` with only the ``kept`` units of every hidden layer.

    Parameters
    ----------
    model : SparseMLP, SparseCNN or ImageInput(SparseCNN)
    kept : mapping of ``layerK`` to int array
        Positions of the surviving units of every weight layer but the last.
    scale : mapping of ``layerK`` to ndarray aligned with ``kept``, optional
        Gate values folded into the kept units' incoming weights and bias (and with
        ``group="in_out"`` into their outgoing weights); default 1.
    group : {"in", "in_out"}

    Returns
    -------
    PruneResult
    """
    layers = weight_layers(model)
    names = [f"layer{k}" for k in range(len(layers) - 1)]
    build, factor = [], []
    for name in names:
        idx = np.asarray(kept[name], dtype=np.int64)
        sc = np.ones(idx.size) if scale is None else np.asarray(scale[name], dtype=np.float64)
        # a layer without survivors keeps one dead unit so that the network stays valid
        build.append(idx if idx.size else np.zeros(1, dtype=np.int64))
        factor.append(sc if idx.size else np.zeros(1))
    new_layers = []
    for k, layer in enumerate(layers):
        w, mask = _dense(layer)
        bias = layer.bias.detach().clone() if layer.bias is not None else None
        if k > 0:  # inputs: the previous layer's surviving units
            rows = _rows(layer, build[k - 1])
            w, mask = w[rows], mask[rows]
            if group == "in_out":
                reps = len(rows) // len(build[k - 1])
                w = w * torch.as_tensor(np.repeat(factor[k - 1], reps), dtype=w.dtype)[:, None]
        if k < len(layers) - 1:  # outputs: this layer's surviving units, s folded in
            cols = torch.as_tensor(build[k])
            sc = torch.as_tensor(factor[k], dtype=w.dtype)
            w, mask = w[:, cols] * sc[None, :], mask[:, cols]
            bias = bias[cols] * sc if bias is not None else None
        new_layers.append(_build_linear(layer, w, mask, bias))
    net = getattr(model, "net", model)
    if isinstance(net, SparseMLP):
        sizes = [net.sizes[0], *[len(b) for b in build], net.sizes[-1]]
        out = SparseMLP(
            sizes,
            density=1.0,
            backend=layers[0].backend_name,
            sparse_readout=isinstance(layers[-1], SparseLinear),
            activation=_activation_name(net),
            bias=layers[0].bias is not None,
        )
        out.layers = nn.ModuleList(new_layers)
    else:
        out = SparseCNN(1, 1, 1, n_conv=len(net.convs), activation=_activation_name(net))
        out.convs, out.readout = nn.ModuleList(new_layers[:-1]), new_layers[-1]
        out.channels = [len(b) for b in build]
        if isinstance(model, ImageInput):
            out = ImageInput(out, model.shape)
    out.eval()
    n_players = {
        f"layer{k}": int(
            layers[k].out_channels if isinstance(layers[k], MaskedConv2d) else layers[k].n_out
        )
        for k in range(len(layers) - 1)
    }
    return PruneResult(out, {n: np.asarray(kept[n], dtype=np.int64) for n in names}, n_players)


def prune_links(model: nn.Module, s: Mapping[str, np.ndarray], epsilon: float) -> PruneResult:
    """Remove the links with ``s < epsilon`` of every sparse layer; survivors become ``s_l w_l``."""
    out = copy.deepcopy(model)
    kept, n_players = {}, {}
    for name, layer in sparse_layers(out):
        s_l = np.asarray(s[name], dtype=np.float64)
        if s_l.size != layer.n_links:
            raise ConfigError(f"{name}: {s_l.size} participations for {layer.n_links} links")
        keep = s_l >= epsilon
        layer.set_link_values(layer.link_values() * torch.as_tensor(s_l, dtype=torch.float32))
        layer.update_topology(keep=torch.as_tensor(keep))
        kept[name], n_players[name] = np.flatnonzero(keep).astype(np.int64), int(s_l.size)
    out.eval()
    return PruneResult(out, kept, n_players)


def hard_prune(
    model: nn.Module,
    s: Mapping[str, np.ndarray],
    epsilon: float,
    players: str = "units",
    group: str = "in",
) -> PruneResult:
    """:func:`prune_units` or :func:`prune_links` by the player kind."""
    if players == "links":
        return prune_links(model, s, epsilon)
    return prune_units(model, s, epsilon, group)


def count_parameters(model: nn.Module) -> int:
    """Weights that exist (links, dense weights) plus biases of a model."""
    total = 0
    for layer in weight_layers(model):
        total += layer.n_links if hasattr(layer, "n_links") else layer.weight.numel()
        total += layer.bias.numel() if layer.bias is not None else 0
    return int(total)
