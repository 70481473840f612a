"""SparseMLP: a stack of sparse layers with a dense readout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from prunelab.errors import ConfigError, check_density
from prunelab.nn.init import link_init_std
from prunelab.nn.layer import SparseLinear
from prunelab.nn.topology import set_epsilon_density

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
TOPOLOGIES = ("er", "set")


class SparseMLP(nn.Module):
    """Multilayer perceptron whose hidden layers are sparse bipartite graphs.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first, classes last, e.g. ``[784, 1000, 1000, 1000, 10]``.
    density : float or sequence of float
        Initial density of each sparse layer in (0, 1] (one value or one per sparse layer).
    seed : int
        Seeds topology and weights; equal seeds give identical models.
    backend : {"csr", "masked", "auto"} or None
        Sparse storage/kernels (None: csr on CPU).
    sparse_readout : bool
        Make the last layer sparse too (default: a dense readout, as in the source paper).
    activation : {"relu", "tanh", "gelu", "silu"}
    init : {"kaiming", "swi", "zeros", "torch"}
        Link init (N(0, 2/f_in) with the dense fan-in by default, see :mod:`prunelab.nn.init`).
    topology : {"er", "set"}
        ``"er"``: uniform random with exactly ``density`` of the links; ``"set"``: SET's ER with
        density ``epsilon (n_in + n_out) / (n_in n_out)`` (``density`` is then ignored).
    epsilon : float
        SET's sparsity parameter for ``topology="set"``.
    bias : bool

    Examples
    --------
    >>> model = SparseMLP([784, 1000, 1000, 1000, 10], density=0.01, seed=0)
    >>> model(torch.zeros(5, 784)).shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        density: float | Sequence[float] = 0.01,
        seed: int = 0,
        backend: str | None = None,
        sparse_readout: bool = False,
        activation: str = "relu",
        init: str = "kaiming",
        topology: str = "er",
        epsilon: float = 20.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ConfigError(f"sizes needs at least two layer sizes (input and output), got {sizes}")
        if any(s < 1 for s in sizes):
            raise ConfigError(f"every layer size must be >= 1, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if topology not in TOPOLOGIES:
            raise ConfigError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
        n_layers = len(sizes) - 1
        n_sparse = n_layers if sparse_readout else n_layers - 1
        densities = list(density) if isinstance(density, (list, tuple)) else [density] * max(n_sparse, 1)
        if len(densities) != max(n_sparse, 1):
            raise ConfigError(f"density has {len(densities)} values but the model has {n_sparse} sparse layers")
        densities = [check_density(d) for d in densities]
        self.sizes = sizes
        rng = np.random.default_rng(seed)
        layers: list[nn.Module] = []
        for k in range(n_layers):
            n_in, n_out = sizes[k], sizes[k + 1]
            if k < n_sparse:
                d = set_epsilon_density(n_in, n_out, epsilon) if topology == "set" else densities[k]
                layers.append(SparseLinear(n_in, n_out, d, bias=bias, backend=backend, init=init, rng=rng))
            else:
                dense = nn.Linear(n_in, n_out, bias=bias)
                gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
                with torch.no_grad():
                    dense.weight.copy_(torch.randn(n_out, n_in, generator=gen) * link_init_std("kaiming", n_in, 1.0))
                    if bias:
                        dense.bias.zero_()
                layers.append(dense)
        self.layers = nn.ModuleList(layers)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, sizes[0]) or (batch, ...) with that many features -> logits (batch, sizes[-1])."""
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.sizes[0]:
            raise ConfigError(f"model expects {self.sizes[0]} input features, got {x.shape[1]}")
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = self.act(x)
        return x

    def sparse_layers(self) -> list[SparseLinear]:
        """The sparse layers, input side first."""
        return [m for m in self.layers if isinstance(m, SparseLinear)]

    def named_sparse_layers(self) -> list[tuple[str, SparseLinear]]:
        """``(name, layer)`` pairs, names ``layer0``, ``layer1``, ... by position in the stack."""
        return [(f"layer{k}", m) for k, m in enumerate(self.layers) if isinstance(m, SparseLinear)]
