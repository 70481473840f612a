"""Truly sparse CPU backend: link lists and numba kernels, never a dense ``n_in x n_out`` matrix.

A 1%-dense layer stored as a dense weight times a mask spends 99% of its arithmetic on zeros.
This backend stores only the links and computes the forward pass, the input gradient and the
weight gradient (a sampled dense-dense product at the existing links) with the kernels of
:mod:`prunelab.nn.backends._csr_kernels`. Memory is O(links + batch x width) in training,
evaluation and topology updates (only :meth:`mask` and :meth:`dense_weight`, which are asked
for a dense answer, allocate ``n_in x n_out``).

Storage
-------
``values``  float32 Parameter (n_links,), the link weights in *link order*;
``rows``, ``cols``  int64 buffers (n_links,): input and output unit of each link.

Link order is row-major (sorted by input unit, then output unit), the same order as the
``"masked"`` backend, so ``link_values()``/``link_grad()`` vectors of two layers with the same
topology agree position by position whatever the backend, and position-based policies (e.g.
tie-breaking in magnitude removal) behave identically on both. Row-major is also the order of
the backward kernel; the forward kernel reads the links in output-major order through a
permutation (one extra scalar load per link, next to a 128-float AXPY).

Only ``values``, ``rows`` and ``cols`` enter the ``state_dict``; the CSR index structures are
derived from them (O(links log links)) whenever the topology changes or is loaded.

Training path: a layer on its own runs as a one-layer :class:`~._csr_stack.SparseStack` with the
bias fused into the kernels; :class:`~prunelab.nn.SparseMLP` runs its leading csr layers as one
stack (activations kept batch-contiguous, bias and ReLU fused forward and backward), see
:mod:`prunelab.nn.backends._csr_stack`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.nn.backends._csr_stack import _sync_threads, sparse_stack  # noqa: F401 - _sync_threads re-exported
from prunelab.nn.backends.base import SparseBackend, StateRemap


@dataclass(frozen=True)
class CSRIndex:
    """Immutable index structures of one topology (numpy arrays, shared with the kernels).

    Attributes
    ----------
    n_in, n_out : int
    indptr_in : int64 (n_in + 1,)
        Links of input ``i`` occupy positions ``indptr_in[i]:indptr_in[i + 1]`` of link order.
    cols : int32 (n_links,)
        Output unit of each link, link order.
    indptr_out : int64 (n_out + 1,)
        Links of output ``j`` are ``perm_out[indptr_out[j]:indptr_out[j + 1]]``.
    perm_out : int64 (n_links,)
        Link positions sorted by (output, input).
    rows_out : int32 (n_links,)
        Input unit of each link in output-major order.
    """

    n_in: int
    n_out: int
    indptr_in: np.ndarray
    cols: np.ndarray
    indptr_out: np.ndarray
    perm_out: np.ndarray
    rows_out: np.ndarray
    scratch: threading.local = field(default_factory=threading.local, compare=False, repr=False)
    #: numpy views of the layer's parameters, kept by the training kernels' callers
    #: (:func:`prunelab.nn.backends._csr_stack._param_array`); dropped with the index
    views: dict = field(default_factory=dict, compare=False, repr=False)

    def __reduce__(self):
        # copies and pickles (copy.deepcopy of a model, torch.save) get fresh scratch space:
        # thread-local buffers cannot be pickled and must never be shared between copies
        return (
            CSRIndex,
            (
                self.n_in,
                self.n_out,
                self.indptr_in,
                self.cols,
                self.indptr_out,
                self.perm_out,
                self.rows_out,
            ),
        )

    def buffer(self, name: str, rows: int, batch: int) -> torch.Tensor:
        """A reusable float32 (rows, batch) scratch tensor, private to the calling thread.

        Only for arrays that never leave one kernel call (accumulators, the transposed output
        gradient). Reusing them matters: a fresh 0.5 MB tensor costs ~0.1-0.2 ms of page faults
        per call on the development VM (glibc returns such blocks to the OS on free), as much
        as the sparse arithmetic of a 1%-dense 1000 x 1000 layer at batch 128.
        """
        buf = getattr(self.scratch, name, None)
        if buf is None or buf.shape != (rows, batch):
            buf = torch.empty(rows, batch, dtype=torch.float32)
            setattr(self.scratch, name, buf)
        return buf

    @classmethod
    def build(cls, n_in: int, n_out: int, rows: np.ndarray, cols: np.ndarray) -> CSRIndex:
        """Index structures for links ``(rows[l], cols[l])`` already in row-major order.

        Cost O(n_links log n_links + n_in + n_out) time and O(n_links + n_in + n_out) memory.
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        indptr_in = np.zeros(n_in + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_in), out=indptr_in[1:])
        indptr_out = np.zeros(n_out + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=n_out), out=indptr_out[1:])
        # A stable sort by output keeps the row-major order within each output: (output, input).
        perm_out = np.argsort(cols, kind="stable").astype(np.int64)
        return cls(
            n_in=n_in,
            n_out=n_out,
            indptr_in=indptr_in,
            cols=cols.astype(np.int32),
            indptr_out=indptr_out,
            perm_out=perm_out,
            rows_out=rows[perm_out].astype(np.int32),
        )


class CSRBackend(SparseBackend):
    """Link-list storage with sparse CPU kernels; the default backend on CPU.

    Parameters
    ----------
    n_in, n_out : int
        Layer sizes.
    rows, cols : int64 tensors (n_links,)
        Input and output unit of each link (any order; stored row-major).
    values : float32 tensor (n_links,)
        Weights aligned with ``rows``/``cols``.

    Notes
    -----
    Forward, input gradient and weight gradient each cost O(links x batch) arithmetic and use
    ``torch.get_num_threads()`` threads. A topology change costs O(links log links).
    CPU only: on CUDA use ``backend="masked"``.
    """

    name = "csr"

    def __init__(
        self, n_in: int, n_out: int, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor
    ) -> None:
        super().__init__(n_in, n_out)
        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1)
        cols = torch.as_tensor(cols, dtype=torch.int64).reshape(-1)
        values = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
        order = torch.argsort(rows * self.n_out + cols)
        self.values = nn.Parameter(values[order].clone())
        self.register_buffer("rows", rows[order].clone())
        self.register_buffer("cols", cols[order].clone())
        self._rebuild_index()

    # --- computation -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_cpu(x)
        return sparse_stack(x, [(self, None)], relu_last=False, transposed_out=False)

    def forward_with_bias(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x @ W + bias`` with the bias added (and its gradient summed) inside the kernels."""
        self._check_cpu(x)
        return sparse_stack(x, [(self, bias)], relu_last=False, transposed_out=False)

    def index(self) -> CSRIndex:
        """The kernels' index structures of the current topology (rebuilt if rows/cols changed)."""
        if self._index_key != self._topology_key():
            self._rebuild_index()  # rows/cols were replaced from outside (e.g. load_state_dict)
        return self._index

    # --- reading the topology ----------------------------------------------------------------
    def link_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rows.clone(), self.cols.clone()

    def link_values(self) -> torch.Tensor:
        return self.values.detach().clone()

    def link_grad(self) -> torch.Tensor | None:
        grad = self.values.grad
        return None if grad is None else grad.detach().clone()

    def set_link_values(self, values: torch.Tensor) -> None:
        with torch.no_grad():
            self.values.copy_(torch.as_tensor(values).to(self.values))

    @property
    def n_links(self) -> int:
        return int(self.values.shape[0])

    # --- changing the topology ---------------------------------------------------------------
    def weight_parameters(self) -> list[nn.Parameter]:
        return [self.values]

    def change_topology(self, keep, add_rows, add_cols, add_values) -> StateRemap:
        """Keep links where ``keep`` and merge in new ones, in O(links log links).

        The ``values`` Parameter keeps its identity (only ``.data`` is replaced) so optimizers
        keep referencing it; its ``.grad`` is remapped like optimizer state (new links zero).
        """
        # numpy, not torch, for the index arithmetic: these are a handful of small single-pass
        # ops, and torch runs them through its thread pool, which costs milliseconds per op when
        # the threads are not all scheduled (measured 10-40 ms per ``cat``/``index`` of 10k links
        # on a 2-core machine under load, against 0.1-0.2 ms single-threaded).
        keep = np.asarray(torch.as_tensor(keep, dtype=torch.bool).reshape(-1))
        add_rows = np.asarray(torch.as_tensor(add_rows, dtype=torch.int64).reshape(-1))
        add_cols = np.asarray(torch.as_tensor(add_cols, dtype=torch.int64).reshape(-1))
        add_values = np.asarray(torch.as_tensor(add_values, dtype=torch.float32).reshape(-1))
        kept_pos = np.flatnonzero(keep)
        n_kept, n_add = kept_pos.size, add_rows.size
        rows = np.concatenate([self.rows.numpy()[kept_pos], add_rows])
        cols = np.concatenate([self.cols.numpy()[kept_pos], add_cols])
        order = np.argsort(rows * self.n_out + cols)  # keys are unique: any sort gives this order
        # source[l]: old position of new link l, or -1 for an added link
        source = np.concatenate([kept_pos, np.full(n_add, -1, dtype=np.int64)])[order]
        is_old = source >= 0
        old_source = source[is_old]
        new_n = n_kept + n_add

        def remap(state: torch.Tensor) -> torch.Tensor:
            if state.device.type != "cpu":
                out = torch.zeros(
                    (new_n,) + tuple(state.shape[1:]), dtype=state.dtype, device=state.device
                )
                out[torch.from_numpy(is_old).to(state.device)] = state[
                    torch.from_numpy(old_source).to(state.device)
                ]
                return out
            out = np.zeros((new_n,) + tuple(state.shape[1:]), dtype=state.detach().numpy().dtype)
            out[is_old] = state.detach().numpy()[old_source]
            return torch.from_numpy(out)

        values = self.values.detach().numpy()
        new_values = np.concatenate([values[kept_pos], add_values.astype(values.dtype)])[order]
        grad = self.values.grad
        self.values.data = torch.from_numpy(new_values)
        self.values.grad = None if grad is None else remap(grad)
        self.rows = torch.from_numpy(rows[order])
        self.cols = torch.from_numpy(cols[order])
        self._rebuild_index()
        return remap

    def load_topology_from_state(self, state_dict: dict, prefix: str) -> None:
        """Resize storage to the topology saved under ``prefix`` before values are copied in.

        Called by :meth:`SparseLinear._load_from_state_dict`; the saved ``rows``/``cols`` must be
        in row-major link order (as this backend saves them). Missing keys are left for the
        default loader to report.
        """
        rows, cols = state_dict.get(prefix + "rows"), state_dict.get(prefix + "cols")
        if rows is None or cols is None:
            return
        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1).cpu()
        cols = torch.as_tensor(cols, dtype=torch.int64).reshape(-1).cpu()
        if rows.shape != cols.shape:
            raise ConfigError(
                f"saved topology at {prefix!r} has {rows.numel()} rows but {cols.numel()} cols"
            )
        n = rows.numel()
        if n:
            if (
                int(rows.min()) < 0
                or int(rows.max()) >= self.n_in
                or int(cols.min()) < 0
                or int(cols.max()) >= self.n_out
            ):
                raise ConfigError(
                    f"saved topology at {prefix!r} does not fit a {self.n_in}x{self.n_out} layer; load it into a model of the same sizes"
                )
            lin = rows * self.n_out + cols
            if n > 1 and not bool((lin[1:] > lin[:-1]).all()):
                raise ConfigError(
                    f"saved topology at {prefix!r} is not in row-major order without duplicates; it was not written by the csr backend"
                )
        if n != self.n_links:
            self.values.data = torch.zeros(n, dtype=self.values.dtype)
            self.values.grad = None
        self.rows = rows.clone()
        self.cols = cols.clone()
        self._rebuild_index()

    # --- helpers -----------------------------------------------------------------------------
    def _check_cpu(self, x: torch.Tensor) -> None:
        if x.device.type != "cpu":
            raise ConfigError(
                f"the csr backend runs on CPU only, got input on {x.device}; use backend='masked' on GPUs"
            )
        if self.values.device.type != "cpu":
            raise ConfigError(
                "the csr backend runs on CPU only; build the model with backend='masked' to move it to a GPU"
            )

    def _topology_key(self) -> tuple[int, ...]:
        # Changes when rows/cols are replaced or modified in place (tensor version counters).
        # Read from ``_buffers``: this runs at every forward, and ``nn.Module.__getattr__``
        # costs about 1 us a lookup.
        rows, cols = self._buffers["rows"], self._buffers["cols"]
        return (rows.data_ptr(), cols.data_ptr(), rows.numel(), rows._version, cols._version)

    def _rebuild_index(self) -> None:
        self._index = CSRIndex.build(self.n_in, self.n_out, self.rows.numpy(), self.cols.numpy())
        self._index_key = self._topology_key()

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, links={self.n_links}"
