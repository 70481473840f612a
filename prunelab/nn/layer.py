"""SparseLinear: a linear layer whose weight matrix is a bipartite graph."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from prunelab.core.links import Links, in_sorted, sorted_unique
from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError, check_density
from prunelab.nn.backends import SparseBackend, resolve_backend
from prunelab.nn.init import init_link_values
from prunelab.nn.topology import erdos_renyi_links


class SparseLinear(nn.Module):
    """``y = x @ W + b`` where ``W`` (n_in, n_out) has links only on a sparse topology.

    Parameters
    ----------
    n_in, n_out : int
        Number of input and output units.
    density : float
        Fraction of the ``n_in * n_out`` possible links present at construction, in (0, 1].
    bias : bool
        Whether to add a bias of shape (n_out,), initialised to zero.
    backend : {"csr", "masked", "auto"} or None
        Storage/kernels; ``None``/``"auto"`` is csr on CPU, masked on CUDA.
    init : {"kaiming", "swi", "zeros", "torch"}
        Initial link values (see :mod:`prunelab.nn.init`); fan-in is the dense fan-in ``n_in``.
    rng : numpy.random.Generator, optional
        Randomness of the topology and the weights (seeded from ``seed`` when absent).
    seed : int
        Used only when ``rng`` is None.
    rows, cols : array of int, optional
        An explicit topology (input and output unit of each link) instead of Erdős–Rényi.

    Notes
    -----
    Masks and weights are always reported as (n_in, n_out): entry ``[i, j]`` is the link from
    input ``i`` to output ``j`` (the transpose of ``torch.nn.Linear.weight``). A layer with no
    links, or a unit with no links, is legal.

    Examples
    --------
    >>> layer = SparseLinear(784, 1000, density=0.01, seed=0)
    >>> layer.n_links
    7840
    >>> layer(torch.zeros(2, 784)).shape
    torch.Size([2, 1000])
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        density: float = 0.01,
        bias: bool = True,
        backend: str | None = None,
        init: str = "kaiming",
        rng: np.random.Generator | None = None,
        seed: int = 0,
        rows: np.ndarray | None = None,
        cols: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if int(n_in) < 1 or int(n_out) < 1:
            raise ConfigError(f"layer sizes must be >= 1, got {n_in}x{n_out}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.init = init
        rng = rng if rng is not None else as_generator(seed)
        if rows is None:
            density = check_density(density)
            rows, cols = erdos_renyi_links(self.n_in, self.n_out, density, rng)
        rows_t = torch.as_tensor(np.asarray(rows), dtype=torch.int64)
        cols_t = torch.as_tensor(np.asarray(cols), dtype=torch.int64)
        self._check_links(rows_t, cols_t)
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        values = init_link_values(
            init, rows_t.numel(), self.n_in, rows_t.numel() / (self.n_in * self.n_out), gen
        )
        self.backend_name = resolve_backend(backend).name
        self.kernel: SparseBackend = resolve_backend(backend)(
            self.n_in, self.n_out, rows_t, cols_t, values
        )
        self.bias = nn.Parameter(torch.zeros(self.n_out)) if bias else None

    # --- computation -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` float32 (batch, n_in) -> (batch, n_out)."""
        if x.dim() != 2 or x.shape[1] != self.n_in:
            raise ConfigError(
                f"SparseLinear expects input of shape (batch, {self.n_in}), got {tuple(x.shape)}"
            )
        return self.kernel.forward_with_bias(x, self.bias)

    # --- reading -----------------------------------------------------------------------------
    @property
    def n_links(self) -> int:
        """Number of existing links."""
        return self.kernel.n_links

    @property
    def density(self) -> float:
        """Fraction of possible links that exist, in [0, 1]."""
        return self.n_links / (self.n_in * self.n_out)

    def link_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, cols)`` int64 (n_links,): input and output unit of each link, in link order."""
        return self.kernel.link_index()

    def links(self) -> Links:
        """The layer's topology as a :class:`~prunelab.core.links.Links` value (numpy, link order)."""
        rows, cols = self.link_index()
        return Links.trusted(rows.cpu().numpy(), cols.cpu().numpy(), (self.n_in, self.n_out))

    def link_values(self) -> torch.Tensor:
        """Weights of the links, float32 (n_links,), aligned with :meth:`link_index`."""
        return self.kernel.link_values()

    def link_grad(self) -> torch.Tensor | None:
        """Loss gradient at each link (n_links,) from the last backward, or None."""
        return self.kernel.link_grad()

    def mask(self) -> torch.Tensor:
        """Bool (n_in, n_out), True where a link exists (allocates the dense shape)."""
        return self.kernel.mask()

    def dense_weight(self) -> torch.Tensor:
        """Float32 (n_in, n_out) weight matrix, zero where no link exists (allocates it)."""
        return self.kernel.dense_weight()

    def set_link_values(self, values: torch.Tensor) -> None:
        """Overwrite the link weights; ``values`` float (n_links,) in link order."""
        values = torch.as_tensor(values, dtype=torch.float32)
        if values.shape != (self.n_links,):
            raise ConfigError(
                f"expected {self.n_links} link values, got shape {tuple(values.shape)}"
            )
        self.kernel.set_link_values(values)

    # --- topology changes --------------------------------------------------------------------
    def update_topology(
        self,
        keep: torch.Tensor | None = None,
        add_rows: torch.Tensor | np.ndarray | None = None,
        add_cols: torch.Tensor | np.ndarray | None = None,
        add_values: torch.Tensor | np.ndarray | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        """Remove and add links in one step; optimizer state follows the links.

        Parameters
        ----------
        keep : bool tensor of shape (n_links,), optional
            Which current links survive (link order); default all.
        add_rows, add_cols : int arrays of shape (k,), optional
            New links (input unit, output unit); must not exist after the removal.
        add_values : float array of shape (k,), optional
            Weights of the new links (default zero).
        optimizer : torch.optim.Optimizer, optional
            Its per-parameter state (momentum, Adam moments) of removed links is dropped and
            that of new links starts at zero.
        """
        n = self.n_links
        keep = (
            torch.ones(n, dtype=torch.bool)
            if keep is None
            else torch.as_tensor(keep, dtype=torch.bool)
        )
        if keep.shape != (n,):
            raise ConfigError(f"keep must have shape ({n},), got {tuple(keep.shape)}")
        add_rows = torch.as_tensor(
            np.asarray([] if add_rows is None else add_rows), dtype=torch.int64
        )
        add_cols = torch.as_tensor(
            np.asarray([] if add_cols is None else add_cols), dtype=torch.int64
        )
        if add_values is None:
            add_values = torch.zeros(add_rows.numel())
        add_values = torch.as_tensor(add_values, dtype=torch.float32)
        if not (add_rows.shape == add_cols.shape == add_values.shape):
            raise ConfigError("add_rows, add_cols and add_values must have the same length")
        if add_rows.numel():
            self._check_links(add_rows, add_cols)
            # numpy for these small index checks: see CSRBackend.change_topology
            rows, cols = (t.cpu().numpy() for t in self.link_index())
            keep_np = keep.cpu().numpy()
            kept_lin = rows[keep_np] * self.n_out + cols[keep_np]
            new_lin = add_rows.numpy() * self.n_out + add_cols.numpy()
            if in_sorted(new_lin, np.sort(kept_lin)).any():
                raise ConfigError("cannot add a link that already exists; add only missing links")
        params = self.kernel.weight_parameters()
        old_shapes = [p.shape for p in params]
        remap = self.kernel.change_topology(keep, add_rows, add_cols, add_values)
        if optimizer is not None:
            for p, old_shape in zip(params, old_shapes):
                state = optimizer.state.get(p)
                if not state:
                    continue
                for key, value in list(state.items()):
                    if torch.is_tensor(value) and value.shape == old_shape and value.dim() > 0:
                        state[key] = remap(value)

    def remove_links(
        self, positions: torch.Tensor | np.ndarray, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Remove the links at the given positions (int, link order)."""
        keep = torch.ones(self.n_links, dtype=torch.bool)
        keep[torch.as_tensor(np.asarray(positions), dtype=torch.int64)] = False
        self.update_topology(keep=keep, optimizer=optimizer)

    def add_links(
        self, rows, cols, values=None, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Add missing links ``(rows[k], cols[k])`` with weights ``values`` (default zero)."""
        self.update_topology(add_rows=rows, add_cols=cols, add_values=values, optimizer=optimizer)

    # --- helpers -----------------------------------------------------------------------------
    def _check_links(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        if rows.shape != cols.shape or rows.dim() != 1:
            raise ConfigError("rows and cols must be 1-D arrays of the same length")
        if rows.numel() == 0:
            return
        rows, cols = rows.cpu().numpy(), cols.cpu().numpy()
        if (
            int(rows.min()) < 0
            or int(rows.max()) >= self.n_in
            or int(cols.min()) < 0
            or int(cols.max()) >= self.n_out
        ):
            raise ConfigError(f"link index out of range for a {self.n_in}x{self.n_out} layer")
        lin = rows * self.n_out + cols
        if sorted_unique(lin).size != lin.size:
            raise ConfigError(
                "duplicate links in topology; each (input, output) pair may appear once"
            )

    def extra_repr(self) -> str:
        return (
            f"n_in={self.n_in}, n_out={self.n_out}, links={self.n_links}, "
            f"density={self.density:.4g}, backend={self.backend_name}"
        )

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # The number of links is part of the saved state: rebuild storage to the saved topology
        # before the default loader copies values (it requires equal shapes).
        load_topology = getattr(self.kernel, "load_topology_from_state", None)
        if load_topology is not None:
            load_topology(state_dict, prefix + "kernel.")
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
