"""Participation gates: the players of the pruning game and how the network uses ``s_i θ_i``.

A :class:`GateSet` finds the players of a model (:data:`PLAYERS`), holds one participation tensor
per layer and attaches it to the model without changing the model's parameters or state dict, so a
gated model saves, loads and trains exactly like an ungated one (the participations are saved by
whoever owns the gate set, e.g. the game hook).

**Unit players** (``players: units``) are the output units of every weight layer but the last: the
hidden neurons of a :class:`~prunelab.nn.SparseMLP`, the output channels of the conv layers of a
:class:`~prunelab.nn.families.SparseCNN`. Scaling a unit's incoming weights and bias by ``s_i`` is
the same as scaling its pre-activation ``z_i``, so the gate is one elementwise product per step.
With ``group: in_out`` the outgoing weights are scaled too, so the unit's path carries ``s_i²``.

Where the product sits (``position``): before the activation (a forward hook on the layer), or
after it (a forward pre-hook on the next layer). For ReLU, ``relu(s z) = s relu(z)`` for every
``s ≥ 0``, so both are the same network; but PyTorch's ``relu'(0) = 0`` makes dL/ds vanish at
``s = 0`` when the gate sits before the activation, and ``s = 0`` would be absorbing whatever the
benefit. ``position="auto"`` therefore gates ReLU networks after the activation (dL/ds at 0 is then
the one-sided derivative ``Σ δ_i relu(z_i)``) and every other activation before it. Gates that may
be negative (network-slimming baselines) must sit before the activation (``position="pre"``).

**Link players** (``players: links``) are the links of every sparse layer; the layer's forward is
replaced on the instance by one that uses ``s_l w_l``.

Because the network depends on ``s_i`` only through ``s_i θ_i``, the autograd gradient at the gate
is ``dL/ds_i = ⟨∂L/∂(s_i θ_i), θ_i⟩``: the benefit's inner product comes for free from the
training step's backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.nn.families import MaskedConv2d, SparseCNN
from prunelab.nn.layer import SparseLinear
from prunelab.nn.mlp import SparseMLP
from prunelab.nn.protocol import sparse_layers


def _scale(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``x`` (batch, n, ...) times ``s`` (n,) along dimension 1."""
    return x * s.view(1, -1, *([1] * (x.dim() - 2)))


def _incoming(module: nn.Module) -> torch.Tensor:
    """The layer's weights (n_in, n_out) with zeros at missing links, detached, without copying when possible."""
    kernel = getattr(module, "kernel", None)
    if getattr(module, "backend_name", "") == "masked" and hasattr(kernel, "weight"):
        return kernel.weight.detach()  # the masked backend keeps weights exactly zero off the mask
    return module.dense_weight()


def _outgoing(next_module: nn.Module, n: int) -> torch.Tensor:
    """Outgoing weights of the ``n`` inputs of ``next_module``, float32 (n, d_out), detached."""
    if isinstance(next_module, nn.Linear):
        return next_module.weight.detach().t()
    # SparseLinear: (n, n_out); MaskedConv2d: rows c·kh·kw + u·kw + v are contiguous per channel c
    return _incoming(next_module).reshape(n, -1)


@dataclass
class PlayerLayer:
    """The players of one weight layer and their participations.

    Attributes
    ----------
    name : str
        The layer's name under the ``layerK`` rule.
    kind : {"units", "links"}
    module : nn.Module
        The layer whose units (output units) or links are the players.
    next_module : nn.Module or None
        The layer fed by ``module`` (units only; its input rows are the outgoing weights).
    outgoing : bool
        Whether a unit's group includes its outgoing weights (``group: in_out``).
    s : Tensor (n,), float32
        Participations; a leaf that requires grad, so ``s.grad`` is dL/ds after a backward.
    post : bool
        Units only: the gate multiplies the activation (input of ``next_module``) instead of the
        pre-activation (see the module docstring).
    """

    name: str
    kind: str
    module: nn.Module
    next_module: nn.Module | None
    outgoing: bool
    s: torch.Tensor
    post: bool = False
    handles: list[Any] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of players."""
        return int(self.s.numel())

    def theta(self) -> torch.Tensor:
        """Group vectors θ_i, float32 (n, d), detached (units: incoming, bias, outgoing)."""
        if self.kind == "links":
            return self.module.link_values().reshape(-1, 1)
        parts = [_incoming(self.module).t()]
        bias = getattr(self.module, "bias", None)
        if bias is not None:
            parts.append(bias.detach().reshape(-1, 1))
        if self.outgoing:
            parts.append(_outgoing(self.next_module, self.n))
        return torch.cat(parts, dim=1)

    def norm_sq(self) -> torch.Tensor:
        """‖θ_i‖², float32 (n,) (computed without forming :meth:`theta`: it runs every step)."""
        with torch.no_grad():
            if self.kind == "links":
                v = self.module.link_values()
                return v * v
            w = _incoming(self.module)
            out = (w * w).sum(0)  # faster than vector_norm along a strided dimension
            bias = getattr(self.module, "bias", None)
            if bias is not None:
                out += bias.detach() * bias.detach()
            if self.outgoing:
                o = _outgoing(self.next_module, self.n)
                out += (o * o).sum(1)
            return out


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The weight layers of a SparseMLP or a SparseCNN (also behind ImageInput), input side first.

    Raises
    ------
    ConfigError
        For any other model: the game knows which units to gate only in these two families.
    """
    net = getattr(model, "net", model)
    if isinstance(net, SparseMLP):
        return list(net.layers)
    if isinstance(net, SparseCNN):
        return [*net.convs, net.readout]
    raise ConfigError(
        f"game: {type(net).__name__} has no gateable units; use a SparseMLP (family mlp/fc) or a SparseCNN"
    )


def is_relu(model: nn.Module) -> bool:
    """True when the model's hidden activation is ReLU (positively homogeneous)."""
    return isinstance(getattr(getattr(model, "net", model), "act", None), nn.ReLU)


def unit_players(model: nn.Module, outgoing: bool, init: float) -> list[PlayerLayer]:
    """One :class:`PlayerLayer` per weight layer but the last (its output units are the players)."""
    layers = weight_layers(model)
    if len(layers) < 2:
        raise ConfigError(
            "game: the model has a single weight layer, so no hidden units to gate; add a hidden layer"
        )
    out = []
    for k in range(len(layers) - 1):
        n = layers[k].out_channels if isinstance(layers[k], MaskedConv2d) else layers[k].n_out
        s = torch.full((n,), float(init), dtype=torch.float32, requires_grad=True)
        out.append(PlayerLayer(f"layer{k}", "units", layers[k], layers[k + 1], outgoing, s))
    return out


def link_players(model: nn.Module, outgoing: bool, init: float) -> list[PlayerLayer]:
    """One :class:`PlayerLayer` per sparse layer (its links are the players)."""
    found = sparse_layers(model)
    if not found:
        raise ConfigError("game: players=links needs sparse layers, and the model has none")
    out = []
    for name, layer in found:
        s = torch.full((layer.n_links,), float(init), dtype=torch.float32, requires_grad=True)
        out.append(PlayerLayer(name, "links", layer, None, False, s))
    return out


#: player kinds: ``fn(model, outgoing, init) -> [PlayerLayer]``
PLAYERS: Registry[Callable[..., list[PlayerLayer]]] = Registry("player kind")
PLAYERS.register(
    "units", unit_players, help="hidden neurons of an MLP, output channels of a CNN's conv layers"
)
PLAYERS.register("links", link_players, help="every link of every sparse layer")

#: groups of a unit: whether θ_i includes the outgoing weights
GROUPS: Registry[bool] = Registry("player group")
GROUPS.register("in", False, help="incoming weights and bias of the unit")
GROUPS.register("in_out", True, help="incoming weights, bias and outgoing weights of the unit")


def _gated_link_forward(
    layer: SparseLinear, s: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A forward for ``layer`` that uses ``s_l w_l`` for every link ``l`` (topology fixed)."""
    kernel = layer.kernel
    rows, cols = layer.link_index()
    param = kernel.weight_parameters()[0]
    pname = next(n for n, p in kernel.named_parameters() if p is param)
    link_shaped = tuple(param.shape) == (layer.n_links,)

    def gated_weight() -> torch.Tensor:
        if link_shaped:  # csr: values in link order
            return param * s
        scale = torch.ones(layer.n_in, layer.n_out, dtype=s.dtype).index_put((rows, cols), s)
        return param * scale

    if isinstance(layer, MaskedConv2d):

        def forward(x: torch.Tensor) -> torch.Tensor:
            w = (
                (gated_weight() * kernel.mask_)
                .t()
                .reshape(layer.out_channels, layer.in_channels, *layer.kernel_size)
            )
            return F.conv2d(x, w, layer.bias, stride=layer.stride, padding=layer.padding)
    else:

        def forward(x: torch.Tensor) -> torch.Tensor:
            y = torch.func.functional_call(kernel, {pname: gated_weight()}, (x,))
            return y + layer.bias if layer.bias is not None else y

    return forward


class GateSet:
    """The participation gates of one model.

    Parameters
    ----------
    model : nn.Module
        A SparseMLP or SparseCNN for unit players; any model with sparse layers for links.
    players : {"units", "links"}
    group : {"in", "in_out"}
    init : float
        Initial participation of every player.
    position : {"auto", "pre", "post"}
        Unit gates before or after the activation ("post" only for ReLU models; see the module
        docstring); "auto" is "post" for ReLU models.

    Examples
    --------
    >>> from prunelab.nn import SparseMLP
    >>> model = SparseMLP([4, 3, 2], density=1.0, backend="masked")
    >>> gates = GateSet(model).attach()
    >>> [layer.n for layer in gates.layers]
    [3]
    """

    def __init__(
        self,
        model: nn.Module,
        players: str = "units",
        group: str = "in",
        init: float = 1.0,
        position: str = "auto",
    ) -> None:
        self.model = model
        self.players, self.group = PLAYERS.check(players), GROUPS.check(group)
        self.layers = PLAYERS.get(players)(model, GROUPS.get(group), init)
        if position not in ("auto", "pre", "post"):
            raise ConfigError(f"unknown gate position {position!r}; choose one of: auto, pre, post")
        if position == "post" and not is_relu(model):
            raise ConfigError(
                "gates after the activation are the same network only for ReLU; use position='pre'"
            )
        post = position == "post" or (position == "auto" and is_relu(model))
        for layer in self.layers:
            layer.post = post and layer.kind == "units"
        self.attached = False

    @property
    def n_players(self) -> int:
        """Players over all layers."""
        return sum(layer.n for layer in self.layers)

    def parameters(self) -> list[torch.Tensor]:
        """The participation tensors, one (n_l,) per layer."""
        return [layer.s for layer in self.layers]

    def attach(self) -> GateSet:
        """Make the model use ``s_i θ_i`` (idempotent); returns ``self``."""
        if self.attached:
            return self
        for layer in self.layers:
            s = layer.s
            if layer.kind == "links":
                layer.module.forward = _gated_link_forward(layer.module, s)
                # a (no-op) hook keeps the layer out of fused multi-layer paths, which bypass forward
                layer.handles.append(layer.module.register_forward_pre_hook(lambda m, i: None))
                continue
            if layer.post:  # s (in) or s² (in_out) on the activation, which feeds the next layer
                power = 2 if layer.outgoing else 1
                layer.handles.append(
                    layer.next_module.register_forward_pre_hook(
                        lambda m, i, s=s, power=power: (_scale(i[0], s**power), *i[1:])
                    )
                )
                continue
            layer.handles.append(
                layer.module.register_forward_hook(lambda m, i, o, s=s: _scale(o, s))
            )
            if layer.outgoing:
                layer.handles.append(
                    layer.next_module.register_forward_pre_hook(
                        lambda m, i, s=s: (_scale(i[0], s), *i[1:])
                    )
                )
        self.attached = True
        return self

    def detach(self) -> None:
        """Restore the ungated model."""
        for layer in self.layers:
            for handle in layer.handles:
                handle.remove()
            layer.handles.clear()
            if layer.kind == "links" and "forward" in layer.module.__dict__:
                del layer.module.forward
        self.attached = False

    def values(self) -> dict[str, np.ndarray]:
        """Participations per layer name, float64 (n_l,) copies."""
        return {
            layer.name: layer.s.detach().cpu().numpy().astype(np.float64) for layer in self.layers
        }

    def load(self, values: Mapping[str, Any]) -> None:
        """Set the participations from :meth:`values`-like arrays (layer names must match)."""
        for layer in self.layers:
            if layer.name not in values:
                raise ConfigError(f"no participations for {layer.name!r}; have {', '.join(values)}")
            new = torch.as_tensor(np.asarray(values[layer.name]), dtype=torch.float32).reshape(-1)
            if new.numel() != layer.n:
                raise ConfigError(
                    f"{layer.name}: {new.numel()} participations for {layer.n} players"
                )
            with torch.no_grad():
                layer.s.copy_(new)

    def zero_grad(self) -> None:
        """Forget accumulated dL/ds."""
        for layer in self.layers:
            layer.s.grad = None
