"""Iterative SynFlow on ReLU MLPs without autograd: O(live links) per round.

For a chain of linear layers with ReLU between them, SynFlow's linearised network (|θ|, all-ones
input) is linear on its positive activations, so its scores factor: for layer l with input
activation a_l and output-gradient g_l = ∂R/∂z_l,

    score[i, j] = a_l[i] · |W_l[i, j]| · g_l[j]      (prunelab's (n_in, n_out) layout)

with a_{l+1} = relu(|W_l|ᵀ a_l + |b_l|) and g_l = relu′(z_l) ⊙ |W_{l+1}| g_{l+1}, g_L = 1. The
autograd path (:mod:`prunelab.pai.methods`) computes the same numbers on a dense float64 copy of
every layer; this path keeps only the live links (rows, cols, |w|) of each layer and shrinks them
every round, so 100 rounds on millions of weights cost little more than the first few.
:class:`ChainSynFlow` is used by :func:`prunelab.pai.prune` whenever :func:`linear_chain` recognises
the model; the results equal the autograd path's up to floating-point summation order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from prunelab.nn.layer import SparseLinear
from prunelab.pai.weights import PrunableWeight


def linear_chain(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The model's linear layers in order if it is a ReLU MLP this module can score, else None.

    Recognised: prunelab's ``SparseMLP`` with ReLU (hence ``make_fc``), and ``nn.Sequential`` of
    ``nn.Linear``/``SparseLinear`` layers separated by single ``nn.ReLU`` modules (no final ReLU).
    Convolutions, other activations and any other structure go through autograd.
    """
    from prunelab.nn.mlp import SparseMLP

    if isinstance(model, SparseMLP):
        if not isinstance(model.act, nn.ReLU) or not all(
            isinstance(m, (nn.Linear, SparseLinear)) for m in model.layers
        ):
            return None
        if any(hasattr(m, "in_channels") for m in model.layers):
            return None
        return [(f"layers.{k}", m) for k, m in enumerate(model.layers)]
    if isinstance(model, nn.Sequential):
        mods = list(model.named_children())
        linear = mods[0::2]
        acts = [m for _, m in mods[1::2]]
        if not mods or len(mods) % 2 == 0 or not all(type(a) is nn.ReLU for a in acts):
            return None
        if not all(
            isinstance(m, (nn.Linear, SparseLinear)) and not hasattr(m, "in_channels")
            for _, m in linear
        ):
            return None
        return linear
    return None


class ChainSynFlow:
    """Live links of every layer of a ReLU MLP and its iterative SynFlow rounds.

    Parameters
    ----------
    chain : list of (module path, layer)
        From :func:`linear_chain`.
    weights : sequence of PrunableWeight
        The ranked weights (a subset of the chain's layers; the others are never pruned).
    masks : dict of str to bool ndarray
        Current masks of the ranked weights (each weight's layout).
    """

    def __init__(
        self,
        chain: list[tuple[str, nn.Module]],
        weights: Sequence[PrunableWeight],
        masks: dict[str, np.ndarray],
    ) -> None:
        ranked = {w.module: w for w in weights}
        self.names: list[str | None] = []
        self.layers: list[dict[str, Any]] = []
        for path, layer in chain:
            if isinstance(layer, SparseLinear):
                dense = layer.dense_weight().double().numpy()
                present = layer.mask().numpy()
            else:
                dense = layer.weight.detach().double().numpy().T  # (in, out) like every layer here
                present = np.ones(dense.shape, dtype=bool)
            w = ranked.get(path)
            if w is not None:
                mask = masks[w.name] if w.kind == "sparse" else masks[w.name].T
                present = present & mask
            rows, cols = np.nonzero(present)
            bias = getattr(layer, "bias", None)
            self.layers.append(
                {
                    "shape": dense.shape,
                    "rows": rows.astype(np.int64),
                    "cols": cols.astype(np.int64),
                    "w": np.abs(dense[rows, cols]),
                    "bias": np.zeros(dense.shape[1])
                    if bias is None
                    else np.abs(bias.detach().double().numpy()),
                    "transposed": not isinstance(layer, SparseLinear),
                }
            )
            self.names.append(w.name if w is not None else None)
        self.totals = {w.name: w.size for w in weights}

    def scores(self) -> list[np.ndarray]:
        """Scores of every layer's live links, float64, in the order of its ``rows``/``cols``."""
        acts, pre = [np.ones(self.layers[0]["shape"][0])], []
        for layer in self.layers:
            z = (
                np.bincount(
                    layer["cols"],
                    weights=acts[-1][layer["rows"]] * layer["w"],
                    minlength=layer["shape"][1],
                )
                + layer["bias"]
            )
            pre.append(z)
            acts.append(np.maximum(z, 0.0))
        grad = np.ones(self.layers[-1]["shape"][1])
        out: list[np.ndarray] = [np.empty(0)] * len(self.layers)
        for k in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[k]
            out[k] = acts[k][layer["rows"]] * layer["w"] * grad[layer["cols"]]
            if k > 0:
                back = np.bincount(
                    layer["rows"],
                    weights=layer["w"] * grad[layer["cols"]],
                    minlength=layer["shape"][0],
                )
                grad = back * (pre[k - 1] > 0)  # torch's relu′(0) = 0
        return out

    def step(self, density: float, scope: str) -> None:
        """One round: score, keep the best live links of the ranked layers (the rule of :mod:`prunelab.pai.prune`)."""
        from prunelab.pai.prune import SCOPES

        scores = self.scores()
        ranked = [k for k, n in enumerate(self.names) if n is not None]
        keep = SCOPES.get(scope)(
            [scores[k] for k in ranked], [self.totals[self.names[k]] for k in ranked], density
        )
        for k, kk in zip(ranked, keep):
            layer = self.layers[k]
            for key in ("rows", "cols", "w"):
                layer[key] = layer[key][kk]

    def masks(self) -> dict[str, np.ndarray]:
        """Bool masks of the ranked weights, each in its weight's layout."""
        out = {}
        for name, layer in zip(self.names, self.layers):
            if name is None:
                continue
            mask = np.zeros(layer["shape"], dtype=bool)
            mask[layer["rows"], layer["cols"]] = True
            out[name] = mask.T if layer["transposed"] else mask
        return out
