"""Observables: named measurements of one network, computed the same way by every study.

An observable is a function ``fn(obs: Observation) -> dict[str, float]`` registered in
:data:`OBSERVABLES`. The phase study measures its configured observables at every pruning step,
and a training run or sweep measures them after every epoch when its config lists them
(``observe: [structure, ...]``, logged as ``obs/<key>``). Adding an observable is one function
plus one registration.

Examples
--------
>>> import numpy as np
>>> obs = Observation(masks=[np.ones((3, 2), bool), np.ones((2, 1), bool)])
>>> observe(["structure"], obs)["path_fraction"]
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.graph import structure_summary
from prunelab.training import Hook, TrainContext


@dataclass
class Observation:
    """What an observable sees of one network at one moment.

    Attributes
    ----------
    masks : list of ndarray (n_k, n_{k+1}), bool
        Chainable layer masks of the prunable layers, input side first (channel-level for CNNs).
    layers : dict of str to SparseLinear-like
        The model's sparse layers by name (``layerK``), when a model is at hand.
    model : torch.nn.Module, optional
    logits : ndarray (n, C), optional
        Test-set outputs; ``labels`` (n,) int alongside.
    labels : ndarray (n,), optional
    acc_dense : float, optional
        Accuracy of the dense reference network (fraction), for normalised observables.
    """

    masks: Sequence[np.ndarray] = ()
    layers: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    logits: np.ndarray | None = None
    labels: np.ndarray | None = None
    acc_dense: float | None = None


Observable = Callable[[Observation], dict[str, float]]

#: observables by name
OBSERVABLES: Registry[Observable] = Registry("observable")


@OBSERVABLES.register("structure")
def structure(obs: Observation) -> dict[str, float]:
    """Path connectivity, largest component and path counts of the layer masks (:func:`structure_summary`)."""
    if not obs.masks:
        raise ConfigError("observable 'structure' needs the layer masks of the network")
    return structure_summary(list(obs.masks))


# lazy: prunelab.graphon is imported only when a study or run asks for it
OBSERVABLES.register(
    "graphon",
    "prunelab.graphon.observables:graphon_summary",
    help="distance of each layer's graphon estimate to the flat graphon of its density",
)


def observe(names: Sequence[str], obs: Observation) -> dict[str, float]:
    """The values of the named observables, merged into one record (later names win on clashes)."""
    out: dict[str, float] = {}
    for name in names:
        out.update({k: float(v) for k, v in OBSERVABLES.get(name)(obs).items()})
    return out


def observation_of(model: Any) -> Observation:
    """An :class:`Observation` of a model's current topology (masks of its sparse layers)."""
    from prunelab.nn import sparse_layers
    from prunelab.nn.families import layer_masks

    layers = dict(sparse_layers(model))
    return Observation(masks=layer_masks(model), layers=layers, model=model)


class ObserveHook(Hook):
    """Measures observables after every epoch of a training run; logs ``obs/<key>``.

    Parameters
    ----------
    names : sequence of str
        Names in :data:`OBSERVABLES` (checked here, so a typo fails before training).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [OBSERVABLES.check(n) for n in names]

    def on_epoch_end(self, ctx: TrainContext) -> None:
        for key, value in observe(self.names, observation_of(ctx.model)).items():
            ctx.log(f"obs/{key}", value)
