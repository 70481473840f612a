"""Model families by name, and the one model factory :func:`build_model`.

Families in :data:`MODEL_FAMILIES`:

- ``mlp``: :class:`~prunelab.nn.SparseMLP` from a training config's ``model:`` section (sparse
  hidden layers, dense readout by default);
- ``fc``: :func:`make_fc`, a fully connected network with a width knob, every layer prunable;
- ``cnn``: :func:`make_cnn` behind :class:`ImageInput`, every conv kernel prunable.

Families with a width knob for pruning studies:

- :func:`make_fc`: a fully connected :class:`~prunelab.nn.SparseMLP` at density 1 whose every
  layer, the readout included, is a ``SparseLinear`` on the "masked" backend.
- :func:`make_cnn`: a small :class:`SparseCNN` whose conv kernels are :class:`MaskedConv2d`.

:class:`MaskedConv2d` is a ``SparseLinear`` whose bipartite graph is the conv kernel: its
``n_in = in_channels · kh · kw`` "input rows" are (in-channel, kernel position) pairs and its
``n_out = out_channels``. ``mask()``, ``dense_weight()``, ``link_index()`` report (n_in, n_out)
as for every prunelab layer, i.e. the transpose of PyTorch's ``(out_channels, in_channels·kh·kw)``
weight view; row ``c·kh·kw + u·kw + v`` is in-channel ``c`` at kernel offset ``(u, v)``. Pruning,
``link_values`` and ``update_topology`` are inherited unchanged, so every pruning function
works on conv layers too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.nn.layer import SparseLinear
from prunelab.nn.mlp import ACTIVATIONS, SparseMLP


def make_fc(
    n_in: int,
    n_classes: int,
    width: int,
    depth: int = 4,
    activation: str = "relu",
    init: str = "kaiming",
    seed: int = 0,
    bias: bool = True,
) -> SparseMLP:
    """Fully connected network ``n_in -> width x (depth-1) -> n_classes`` at density 1.

    Parameters
    ----------
    n_in, n_classes : int
        Input features and classes.
    width : int
        Units per hidden layer (the system size N of finite-size scaling).
    depth : int
        Number of weight layers (>= 1); ``depth - 1`` hidden layers.
    activation, init, seed, bias
        As in :class:`~prunelab.nn.SparseMLP`.

    Returns
    -------
    SparseMLP
        Every layer sparse-capable (``sparse_readout=True``, backend ``"masked"``), all links present.

    Examples
    --------
    >>> make_fc(784, 10, width=64).sizes
    [784, 64, 64, 64, 10]
    """
    if int(depth) < 1:
        raise ConfigError(f"depth must be >= 1 weight layer, got {depth}")
    if int(width) < 1:
        raise ConfigError(f"width must be >= 1, got {width}")
    sizes = [int(n_in)] + [int(width)] * (int(depth) - 1) + [int(n_classes)]
    return SparseMLP(
        sizes,
        density=1.0,
        seed=seed,
        backend="masked",
        sparse_readout=True,
        activation=activation,
        init=init,
        bias=bias,
    )


class MaskedConv2d(SparseLinear):
    """2-D convolution whose kernel links can be pruned through a mask.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding : int
        As in :func:`torch.nn.functional.conv2d`.
    density : float
        Initial fraction of kernel links present, in (0, 1].
    bias : bool
    init : {"kaiming", "swi", "zeros"}
        Fan-in is ``in_channels · kh · kw`` (the standard conv fan-in).
    rng : numpy.random.Generator, optional
    seed : int

    Notes
    -----
    Always uses the "masked" backend (a dense kernel times a bool mask) so the kernel can be
    reshaped for :func:`torch.nn.functional.conv2d`. Masks are (in_channels·kh·kw, out_channels);
    see the module docstring for the row order.

    Examples
    --------
    >>> conv = MaskedConv2d(3, 8, 3, padding=1, density=0.5, seed=0)
    >>> conv(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    >>> conv.mask().shape
    torch.Size([27, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        density: float = 1.0,
        bias: bool = True,
        init: str = "kaiming",
        rng: np.random.Generator | None = None,
        seed: int = 0,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if min(int(in_channels), int(out_channels), int(kh), int(kw)) < 1:
            raise ConfigError(
                f"channels and kernel size must be >= 1, got {in_channels}, {out_channels}, {kernel_size}"
            )
        super().__init__(
            int(in_channels) * kh * kw,
            int(out_channels),
            density=density,
            bias=bias,
            backend="masked",
            init=init,
            rng=rng,
            seed=seed,
        )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = (int(kh), int(kw))
        self.stride, self.padding = int(stride), int(padding)

    def conv_weight(self) -> torch.Tensor:
        """Masked kernel (out_channels, in_channels, kh, kw), differentiable."""
        w = self.kernel.weight * self.kernel.mask_
        return w.t().reshape(self.out_channels, self.in_channels, *self.kernel_size)

    def conv_mask(self) -> torch.Tensor:
        """Bool mask in PyTorch's weight layout (out_channels, in_channels, kh, kw)."""
        return self.mask().t().reshape(self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, in_channels, H, W) -> (batch, out_channels, H', W')."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"MaskedConv2d expects (batch, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return F.conv2d(x, self.conv_weight(), self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, links={self.n_links}, density={self.density:.4g}"
        )


class SparseCNN(nn.Module):
    """Small CNN: ``n_conv`` 3x3 :class:`MaskedConv2d` layers and a ``SparseLinear`` readout.

    Channels are ``width`` for the first half of the conv layers and ``2 · width`` for the rest;
    a 2x2 max-pool follows every second conv layer; global average pooling feeds the readout, so
    the readout has ``channels[-1]`` inputs whatever the image size.

    Parameters
    ----------
    in_channels : int
    n_classes : int
    width : int
        Channels of the first conv layer (the size knob).
    n_conv : int
        Number of conv layers (>= 1); the default 4 gives 5 weight layers with the readout.
    activation : {"relu", "tanh", "gelu", "silu"}
    init : str
    seed : int
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        width: int,
        n_conv: int = 4,
        activation: str = "relu",
        init: str = "kaiming",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if int(n_conv) < 1 or int(width) < 1:
            raise ConfigError(f"n_conv and width must be >= 1, got n_conv={n_conv}, width={width}")
        act_cls = ACTIVATIONS.get(activation)
        rng = np.random.default_rng(seed)
        half = (int(n_conv) + 1) // 2
        channels = [int(width)] * half + [2 * int(width)] * (int(n_conv) - half)
        convs, c_prev = [], int(in_channels)
        for c in channels:
            convs.append(MaskedConv2d(c_prev, c, 3, padding=1, density=1.0, init=init, rng=rng))
            c_prev = c
        self.convs = nn.ModuleList(convs)
        self.readout = SparseLinear(
            c_prev, int(n_classes), density=1.0, backend="masked", init=init, rng=rng
        )
        self.act = act_cls()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, in_channels, H, W) -> logits (batch, n_classes)."""
        for k, conv in enumerate(self.convs):
            x = self.act(conv(x))
            if k % 2 == 1 and min(x.shape[-2:]) >= 2:
                x = F.max_pool2d(x, 2)
        return self.readout(x.mean(dim=(2, 3)))

    def sparse_layers(self) -> list[SparseLinear]:
        """Prunable layers, input side first (conv layers, then the readout)."""
        return [*self.convs, self.readout]

    def named_sparse_layers(self) -> list[tuple[str, SparseLinear]]:
        """``(layerK, layer)`` with K the position among the weight layers, input side first."""
        return [(f"layer{k}", m) for k, m in enumerate(self.sparse_layers())]

    def channel_masks(self) -> list[np.ndarray]:
        """Channel-level layered graph: bool (C_in, C_out) per layer, True when any kernel link
        joins the two channels; chainable for :mod:`prunelab.graph.structure`."""
        out = [conv.conv_mask().any(dim=(2, 3)).t().cpu().numpy() for conv in self.convs]
        out.append(self.readout.mask().cpu().numpy())
        return out


def make_cnn(in_channels: int, n_classes: int, width: int, depth: int = 5, **kwargs) -> SparseCNN:
    """:class:`SparseCNN` with ``depth`` weight layers (``depth - 1`` conv layers + readout), density 1."""
    if int(depth) < 2:
        raise ConfigError(f"a CNN needs depth >= 2 (one conv layer and the readout), got {depth}")
    return SparseCNN(in_channels, n_classes, width, n_conv=int(depth) - 1, **kwargs)


def layer_masks(model: nn.Module) -> list[np.ndarray]:
    """Chainable layer masks of a model for graph measures: ``channel_masks()`` for a CNN, else
    the (n_in, n_out) mask of every sparse layer.

    For a :class:`SparseMLP` the masks span its first to its last sparse layer; a dense layer
    in between (possible in an imported network) counts as complete (all True), so the masks
    still chain. A trained ``SparseMLP`` has its sparse layers first, so this is the list of
    its sparse layers' masks.
    """
    if hasattr(model, "channel_masks"):
        return model.channel_masks()
    if isinstance(model, SparseMLP):
        sparse = [k for k, m in enumerate(model.layers) if isinstance(m, SparseLinear)]
        if not sparse:
            return []
        return [
            m.mask().cpu().numpy()
            if isinstance(m, SparseLinear)
            else np.ones((m.in_features, m.out_features), bool)
            for m in list(model.layers)[sparse[0] : sparse[-1] + 1]
        ]
    layers: Sequence = model.sparse_layers() if hasattr(model, "sparse_layers") else []
    return [layer.mask().cpu().numpy() for layer in layers]


class ImageInput(nn.Module):
    """Feeds flat (batch, H·W·C) rows (as the Trainer provides them) to an image model.

    Parameters
    ----------
    net : nn.Module
        Takes (batch, C, H, W).
    shape : (C, H, W)
    """

    def __init__(self, net: nn.Module, shape: Sequence[int]) -> None:
        super().__init__()
        self.net = net
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, C·H·W) or (batch, C, H, W) -> logits."""
        return self.net(x.reshape(x.shape[0], *self.shape))

    def sparse_layers(self) -> list[nn.Module]:
        """The wrapped model's prunable layers."""
        return self.net.sparse_layers()

    def named_sparse_layers(self) -> list[tuple[str, nn.Module]]:
        """``(layerK, layer)`` pairs, the naming rule of every prunelab model."""
        return self.net.named_sparse_layers()

    def channel_masks(self) -> list[np.ndarray]:
        """The wrapped CNN's channel-level masks."""
        return self.net.channel_masks()


ModelBuilder = Callable[..., nn.Module]

#: model families by name (the ``family`` of a model spec)
MODEL_FAMILIES: Registry[ModelBuilder] = Registry("model family")


def _check_io(sizes: Sequence[int], n_features: int | None, n_classes: int | None) -> None:
    if n_features is not None and sizes[0] != n_features:
        raise ConfigError(
            f"model.sizes starts with {sizes[0]} inputs but the data have {n_features} features; set model.sizes[0]={n_features}"
        )
    if n_classes is not None and sizes[-1] != n_classes:
        raise ConfigError(
            f"model.sizes ends with {sizes[-1]} outputs but the data have {n_classes} classes; set the last size to {n_classes}"
        )


@MODEL_FAMILIES.register("mlp")
def build_mlp(
    seed: int,
    n_features: int | None = None,
    n_classes: int | None = None,
    image_shape=None,
    device: str = "cpu",
    sizes: Sequence[int] = (),
    density: float | Sequence[float] = 0.01,
    backend: str = "auto",
    sparse_readout: bool = False,
    activation: str = "relu",
    init: str = "kaiming",
    topology: str = "er",
    epsilon: float = 20.0,
    bias: bool = True,
    **_ignored,
) -> SparseMLP:
    """A :class:`SparseMLP` (sparse hidden layers); ``backend="auto"`` is csr on CPU, masked on a GPU."""
    _check_io(list(sizes), n_features, n_classes)
    from prunelab.nn.backends import resolve_backend

    chosen = resolve_backend(None if backend == "auto" else backend, device).name
    return SparseMLP(
        list(sizes),
        density=density,
        seed=seed,
        backend=chosen,
        sparse_readout=sparse_readout,
        activation=activation,
        init=init,
        topology=topology,
        epsilon=epsilon,
        bias=bias,
    )


@MODEL_FAMILIES.register("fc")
def build_fc(
    seed: int,
    n_features: int | None = None,
    n_classes: int | None = None,
    image_shape=None,
    width: int = 64,
    depth: int = 4,
    activation: str = "relu",
    **_ignored,
) -> SparseMLP:
    """:func:`make_fc` for the data's features and classes."""
    if n_features is None or n_classes is None:
        raise ConfigError("family 'fc' needs the data's n_features and n_classes")
    return make_fc(n_features, n_classes, width, depth=depth, activation=activation, seed=seed)


@MODEL_FAMILIES.register("cnn")
def build_cnn(
    seed: int,
    n_features: int | None = None,
    n_classes: int | None = None,
    image_shape=None,
    width: int = 8,
    depth: int = 5,
    activation: str = "relu",
    data_name: str = "data",
    **_ignored,
) -> ImageInput:
    """:func:`make_cnn` behind :class:`ImageInput` (the Trainer feeds flat rows)."""
    if image_shape is None:
        raise ConfigError(
            f"family 'cnn' needs image data, but {data_name!r} has no image shape; use family: fc"
        )
    if n_features is None or n_classes is None:
        raise ConfigError("family 'cnn' needs the data's n_features and n_classes")
    h, w = image_shape[:2]
    channels = n_features // (h * w)
    net = make_cnn(channels, n_classes, width, depth=depth, activation=activation, seed=seed)
    return ImageInput(net, (channels, h, w))


@MODEL_FAMILIES.register("imported")
def build_imported(
    seed: int,
    n_features: int | None = None,
    n_classes: int | None = None,
    image_shape=None,
    device: str = "cpu",
    sizes: Sequence[int] = (),
    sparse: Sequence[bool] = (),
    activation: str = "relu",
    bias: Sequence[bool] = (),
    backend: str = "auto",
    **_ignored,
) -> SparseMLP:
    """An empty network of an imported architecture, to load a stored checkpoint into.

    ``sizes`` are the units per layer, ``sparse`` and ``bias`` say per weight layer whether it is
    a :class:`SparseLinear` (built with no links: loading a state dict restores its topology)
    or an ``nn.Linear``, and whether it has a bias. The weights are whatever the checkpoint
    holds; ``seed`` only fixes the throw-away initial values.
    """
    sizes, sparse, bias = (
        [int(s) for s in sizes],
        [bool(s) for s in sparse],
        [bool(b) for b in bias],
    )
    if len(sizes) < 2 or len(sparse) != len(sizes) - 1 or len(bias) != len(sizes) - 1:
        raise ConfigError(
            f"an imported architecture needs len(sparse) == len(bias) == len(sizes) - 1, got "
            f"{len(sizes)} sizes, {len(sparse)} sparse flags, {len(bias)} bias flags"
        )
    _check_io(sizes, n_features, n_classes)
    from prunelab.nn.backends import resolve_backend

    chosen = resolve_backend(None if backend == "auto" else backend, device).name
    empty = np.zeros(0, dtype=np.int64)
    with torch.random.fork_rng(
        devices=[]
    ):  # nn.Linear's init must not move the caller's RNG stream
        torch.manual_seed(int(seed))
        layers = [
            SparseLinear(n_in, n_out, bias=b, backend=chosen, rows=empty, cols=empty)
            if s
            else nn.Linear(n_in, n_out, bias=b)
            for n_in, n_out, s, b in zip(sizes[:-1], sizes[1:], sparse, bias)
        ]
    return SparseMLP.from_layers(layers, activation)


def build_model(family: str, seed: int, data=None, device: str = "cpu", **params) -> nn.Module:
    """The one model factory: a model of ``family`` (a name in :data:`MODEL_FAMILIES`).

    Parameters
    ----------
    family : str
        ``"mlp"``, ``"fc"``, ``"cnn"`` or a registered family.
    seed : int
        Seeds topology and weights.
    data : Dataset, optional
        Its ``n_features``, ``n_classes`` and ``image_shape`` size the model and are checked
        against ``params``.
    device : str
        Torch device the model will train on (decides ``backend="auto"``).
    **params
        The family's own parameters (e.g. ``sizes``, ``density`` for mlp; ``width``, ``depth``).

    Returns
    -------
    torch.nn.Module
        Following the sparse-model protocol (:mod:`prunelab.nn.protocol`).
    """
    builder = MODEL_FAMILIES.get(family)
    info = {}
    if data is not None:
        info = {
            "n_features": data.n_features,
            "n_classes": data.n_classes,
            "image_shape": getattr(data, "image_shape", None),
            "data_name": getattr(data, "name", "data"),
        }
    return builder(seed=seed, device=device, **info, **params)
