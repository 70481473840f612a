"""SparseMLP: a stack of sparse layers with a dense readout."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as _torch_module

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError, check_density
from prunelab.nn.backends._csr_stack import sparse_stack
from prunelab.nn.init import link_init_std
from prunelab.nn.layer import SparseLinear
from prunelab.nn.topology import set_epsilon_density

#: activation functions by name (module classes)
ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
for _name, _cls in (("relu", nn.ReLU), ("tanh", nn.Tanh), ("gelu", nn.GELU), ("silu", nn.SiLU)):
    ACTIVATIONS.register(_name, _cls, help=f"torch.nn.{_cls.__name__}")

#: initial topologies of a sparse layer by name: density(n_in, n_out, density, epsilon) -> density used
TOPOLOGIES: Registry[Callable[[int, int, float, float], float]] = Registry("topology")
TOPOLOGIES.register(
    "er",
    lambda n_in, n_out, density, epsilon: density,
    help="exactly density·n_in·n_out links placed uniformly at random",
)
TOPOLOGIES.register(
    "set",
    lambda n_in, n_out, density, epsilon: set_epsilon_density(n_in, n_out, epsilon),
    help="SET's ε-scaled Erdős–Rényi density ε(n_in + n_out)/(n_in n_out)",
)


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks)


def _global_hooks() -> bool:
    return bool(
        _torch_module._global_forward_hooks
        or _torch_module._global_forward_pre_hooks
        or _torch_module._global_backward_hooks
    )


def _bias(layer: nn.Module) -> torch.Tensor | None:
    """``layer.bias`` without ``nn.Module.__getattr__`` (see :meth:`SparseMLP._forward_fused`)."""
    params = layer._parameters
    return params["bias"] if "bias" in params else getattr(layer, "bias", None)


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
            raise ConfigError(
                f"sizes needs at least two layer sizes (input and output), got {sizes}"
            )
        if any(s < 1 for s in sizes):
            raise ConfigError(f"every layer size must be >= 1, got {sizes}")
        act_cls = ACTIVATIONS.get(activation)
        topology_density = TOPOLOGIES.get(topology)
        n_layers = len(sizes) - 1
        n_sparse = n_layers if sparse_readout else n_layers - 1
        densities = (
            list(density) if isinstance(density, (list, tuple)) else [density] * max(n_sparse, 1)
        )
        if len(densities) != max(n_sparse, 1):
            raise ConfigError(
                f"density has {len(densities)} values but the model has {n_sparse} sparse layers"
            )
        densities = [check_density(d) for d in densities]
        self.sizes = sizes
        rng = np.random.default_rng(seed)
        layers: list[nn.Module] = []
        for k in range(n_layers):
            n_in, n_out = sizes[k], sizes[k + 1]
            if k < n_sparse:
                d = topology_density(n_in, n_out, densities[k], epsilon)
                layers.append(
                    SparseLinear(n_in, n_out, d, bias=bias, backend=backend, init=init, rng=rng)
                )
            else:
                dense = nn.Linear(n_in, n_out, bias=bias)
                gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
                with torch.no_grad():
                    dense.weight.copy_(
                        torch.randn(n_out, n_in, generator=gen)
                        * link_init_std("kaiming", n_in, 1.0)
                    )
                    if bias:
                        dense.bias.zero_()
                layers.append(dense)
        self.layers = nn.ModuleList(layers)
        self.act = act_cls()

    @classmethod
    def from_layers(cls, layers: Sequence[nn.Module], activation: str = "relu") -> SparseMLP:
        """A model made of given layers (no random initialisation), e.g. an imported network.

        Parameters
        ----------
        layers : sequence of SparseLinear or nn.Linear
            Weight layers, input side first; layer k's outputs must equal layer k+1's inputs.
            Sparse and dense layers may appear in any order (a trained ``SparseMLP`` has its
            sparse layers first; an imported one may not).
        activation : {"relu", "tanh", "gelu", "silu"}
            Applied after every layer but the last.

        Returns
        -------
        SparseMLP
            Holding ``layers`` themselves (not copies); ``sizes`` follows from them.
        """
        act_cls = ACTIVATIONS.get(activation)  # unknown name: one line with the closest one
        layers = list(layers)
        if not layers:
            raise ConfigError("a model needs at least one weight layer")
        sizes: list[int] = []
        for k, layer in enumerate(layers):
            if isinstance(layer, SparseLinear):
                n_in, n_out = layer.n_in, layer.n_out
            elif isinstance(layer, nn.Linear):
                n_in, n_out = layer.in_features, layer.out_features
            else:
                raise ConfigError(
                    f"layer {k} is a {type(layer).__name__}; a SparseMLP holds SparseLinear and nn.Linear layers"
                )
            if sizes and sizes[-1] != n_in:
                raise ConfigError(
                    f"layer {k} has {n_in} inputs but layer {k - 1} has {sizes[-1]} outputs"
                )
            sizes = sizes + [n_in, n_out] if not sizes else sizes + [n_out]
        model = cls.__new__(cls)
        nn.Module.__init__(model)  # bypass __init__: its job is the random initialisation
        model.sizes = sizes
        model.layers = nn.ModuleList(layers)
        model.act = act_cls()
        return model

    @property
    def activation(self) -> str:
        """Name of the activation between layers (a key of ``ACTIVATIONS``)."""
        return next(name for name, cls in ACTIVATIONS.items() if type(self.act) is cls)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, sizes[0]) or (batch, ...) with that many features -> logits (batch, sizes[-1])."""
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.sizes[0]:
            raise ConfigError(f"model expects {self.sizes[0]} input features, got {x.shape[1]}")
        n_fused = self._fused_prefix(x)
        if n_fused:
            return self._forward_fused(x, n_fused)
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = self.act(x)
        return x

    # --- the fused csr path --------------------------------------------------------------------
    def _fused_prefix(self, x: torch.Tensor) -> int:
        """How many leading layers run as one csr :func:`sparse_stack` call (0: per-layer path).

        The stack fuses ReLU only, and bypasses the layers' ``__call__``: layers with hooks
        (e.g. the gradient capture of gradient-based regrowth) keep the per-layer path.
        """
        act = self._modules["act"]
        if not isinstance(act, nn.ReLU) or x.device.type != "cpu" or _global_hooks():
            return 0
        n = 0
        for layer in self._modules["layers"]._modules.values():
            if not (
                isinstance(layer, SparseLinear)
                and layer.backend_name == "csr"
                and not _has_hooks(layer)
            ):
                break
            n += 1
        return n

    def _forward_fused(self, x: torch.Tensor, n_fused: int) -> torch.Tensor:
        """Layers ``[0, n_fused)`` as one stack, the rest in the (units, batch) layout it returns.

        A dense readout runs as ``addmm(bias, W, hT)`` on the transposed activations: torch's
        GEMM is about 10x slower on ``F.linear(hT.t(), W, b)`` (a transposed input) and the
        transposed form needs no copy; only the small (classes, batch) logits are transposed.
        """
        # Submodules and parameters are read from the module dicts: ``nn.Module.__getattr__``
        # costs ~1 us a lookup, and a step made ~20 of them here, each slower in a training step
        # than alone (the kernels have just evicted the interpreter's data from the caches).
        layers = list(self._modules["layers"]._modules.values())
        n_layers = len(layers)
        stack = [(layer._modules["kernel"], _bias(layer)) for layer in layers[:n_fused]]
        hT = sparse_stack(x, stack, relu_last=n_fused < n_layers, transposed_out=True)
        k = n_fused
        act = self._modules["act"]
        while k < n_layers and type(layers[k]) is nn.Linear and not _has_hooks(layers[k]):
            weight, bias = layers[k]._parameters["weight"], _bias(layers[k])
            hT = (
                torch.mm(weight, hT) if bias is None else torch.addmm(bias.unsqueeze(1), weight, hT)
            )
            if k < n_layers - 1:
                hT = act(hT)
            k += 1
        x = hT.t().contiguous()
        for j in range(k, n_layers):  # anything else: the per-layer path, sample-major
            x = layers[j](x)
            if j < n_layers - 1:
                x = act(x)
        return x

    def sparse_layers(self) -> list[SparseLinear]:
        """The sparse layers, input side first."""
        return [m for m in self.layers if isinstance(m, SparseLinear)]

    def named_sparse_layers(self) -> list[tuple[str, SparseLinear]]:
        """``(name, layer)`` pairs, names ``layer0``, ``layer1``, ... by position in the stack."""
        return [(f"layer{k}", m) for k, m in enumerate(self.layers) if isinstance(m, SparseLinear)]
