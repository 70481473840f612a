"""Training path of the ``"csr"`` backend: a stack of sparse layers as one autograd function.

Why one function for several layers: measured on the 2-core development machines, a training
step of 784-1000³-10 at 1% spent most of its time *outside* the sparse arithmetic, in the
machinery around each layer — a transpose into the batch-contiguous (units, batch) layout of the
kernels and one back at every layer (forward and backward), a separate bias add, ReLU, ReLU
backward and bias-gradient sum over a (batch, units) tensor, each a torch op with its own
autograd node, allocation and parallel region. :class:`SparseStack` keeps the activations in the
(units, batch) layout from the first layer's input to the last layer's output and does the
element-wise work in the kernels' epilogues while each row is in L1
(:mod:`prunelab.nn.backends._csr_kernels`):

- forward, per layer: one kernel call, ``h_k = relu(bias + x W)`` written batch-contiguous;
- backward, per layer: one kernel call computing the weight gradient, the input gradient, the
  previous layer's ReLU backward and its bias gradient; at the top one pass for the last layer's
  activation/bias backward (which also transposes a sample-major incoming gradient).

So a stack of L layers costs one input transpose, 2L + 1 kernel calls and one autograd node,
instead of (for the per-layer path) 4L transposes and kernel calls plus 4L element-wise torch
ops. The results are the same sums in the same per-unit order whatever the number of threads
(every kernel owns whole rows of its result).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from prunelab.nn.backends import _csr_kernels as kernels

# Typed placeholders for the kernels' optional arguments ("no bias", "no sample-major output"):
# read-only, never written (the kernels test their size first).
_NONE_1D = np.zeros(0, dtype=np.float32)
_NONE_2D = np.zeros((0, 0), dtype=np.float32)


_SYNCED = threading.local()


def _sync_threads() -> None:
    """Give the numba kernels the thread budget torch has (``torch.get_num_threads()``).

    The first ``numba.get_num_threads()`` of a process starts numba's thread pool, and with the
    OpenMP threading layer that start resets the OpenMP thread count, which torch reads as its
    own: a ``torch.set_num_threads(1)`` made before the first kernel would silently become 2.
    The budget is read before and restored after.

    numba's count is only looked at again when torch's changes (per calling thread, as both
    counts are): ``numba.get_num_threads()`` took 11 us inside a training step, twice a step.
    """
    want = torch.get_num_threads()
    if getattr(_SYNCED, "torch_threads", 0) == want:
        return
    have = numba.get_num_threads()
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)
    _SYNCED.torch_threads = want
    want = max(1, min(want, numba.config.NUMBA_NUM_THREADS))
    if have != want:
        numba.set_num_threads(want)


_POOL = threading.local()
_POOL_MAX_FLOATS = 1 << 20  # pool only activations up to 4 MB (page faults matter for those)


def _activation_buffer(rows: int, batch: int) -> torch.Tensor:
    """A float32 (rows, batch) tensor for an activation kept only on an autograd ctx.

    A fresh 0.5 MB tensor costs 0.1-0.2 ms of page faults on the development VMs (glibc gives
    such blocks back to the OS when the heap top is trimmed), as much as a sparse layer's
    arithmetic at 0.1% density, and a step saves one per layer. So saved activations come from a
    small per-thread pool, and a pooled tensor is handed out again only when nothing but the pool
    refers to it (its autograd graph is gone). Never used for a tensor returned to the caller.
    """
    if rows * batch > _POOL_MAX_FLOATS:
        return torch.empty(rows, batch, dtype=torch.float32)
    pools = getattr(_POOL, "tensors", None)
    if pools is None:
        pools = _POOL.tensors = {}
    pool = pools.setdefault((rows, batch), [])
    for t in pool:
        if sys.getrefcount(t) == 3:  # the pool's list, the loop variable and the call's argument
            return t
    t = torch.empty(rows, batch, dtype=torch.float32)
    if len(pool) < 4:
        pool.append(t)
    return t


def _transposed(t: torch.Tensor, pooled: bool = False) -> torch.Tensor:
    """(batch, units) -> C-contiguous float32 (units, batch); free if ``t`` is a transposed view.

    A copy is a fresh tensor (it is saved for the backward pass), written by the numba
    transpose, which is 2.5x faster than ``t.t().contiguous()``.
    """
    if t.requires_grad:
        t = t.detach()
    if t.dtype != torch.float32:
        t = t.to(torch.float32)
    if not t.is_contiguous():  # (checked first: the common sample-major batch needs no view)
        if t.t().is_contiguous():
            return t.t()
        t = t.contiguous()
    if pooled:
        out = _activation_buffer(t.shape[1], t.shape[0])
    else:
        out = torch.empty(t.shape[1], t.shape[0], dtype=torch.float32)
    if t.numel():
        kernels.transpose_into(t.numpy(), out.numpy())
    return out


def _as_rows(g: torch.Tensor, transposed: bool) -> np.ndarray:
    """An incoming gradient as a float32 (units, batch) numpy array, C-contiguous or a transposed view."""
    if g.requires_grad:
        g = g.detach()
    if g.dtype != torch.float32:
        g = g.to(torch.float32)
    if transposed:
        g = g.t()  # a view: bias_act_backward reads it with stride (the transpose is fused there)
    if not (g.is_contiguous() or g.t().is_contiguous()):
        g = g.contiguous()  # e.g. the expanded ones of ``out.sum().backward()``
    return g.numpy()


def _param_array(index, slot: int, t: torch.Tensor | None) -> np.ndarray:
    """A float32 numpy view of parameter ``t`` of the layer of ``index`` (``_NONE_1D`` for None).

    The optimizer updates a parameter in place, so the view made at the first step stays valid
    at the next ones; it is cached on the layer's :class:`CSRIndex` (dropped with it when the
    topology changes), keyed on the tensor object, its data pointer and its size, so a replaced
    parameter or ``.data`` is seen. Making the view costs 3-4 us inside a training step, and a
    step of three layers made nine.
    """
    if t is None:
        return _NONE_1D
    hit = index.views.get(slot)
    if hit is not None and hit[0] is t and hit[1] == t.data_ptr() and hit[2] == t.numel():
        return hit[3]
    array = t.detach().contiguous().numpy()
    if t.is_contiguous():  # a view, not a copy: later in-place updates show through
        index.views[slot] = (t, t.data_ptr(), t.numel(), array)
    return array


@dataclass(frozen=True)
class StackSpec:
    """Static description of one stack call (not a tensor, so autograd passes it through).

    Attributes
    ----------
    indices : tuple of CSRIndex
        Index structures of the layers, input side first (``index.n_out`` of one is the
        ``index.n_in`` of the next).
    relu_last : bool
        Apply ReLU after the last layer too (every other layer is always followed by ReLU).
    transposed_out : bool
        Return the last layer's output as (n_out, batch) C-contiguous instead of (batch, n_out).
    """

    indices: tuple
    relu_last: bool
    transposed_out: bool


class SparseStack(torch.autograd.Function):
    """``relu(... relu(x W_0 + b_0) ...) W_L + b_L`` for link-list layers, with gradients.

    ``apply(x, spec, values_0, bias_0, values_1, bias_1, ...)``: ``x`` float (batch, n_in),
    ``values_k`` float32 (n_links_k,) in link order, ``bias_k`` float32 (n_out_k,) or None.
    Returns float32 (batch, n_out) or, with ``spec.transposed_out``, (n_out, batch).
    """

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, spec: StackSpec, *params: torch.Tensor | None
    ) -> torch.Tensor:
        _sync_threads()
        n = len(spec.indices)
        h = _transposed(x, pooled=True)
        batch = h.shape[1]
        inputs = []  # the input of every layer (batch-contiguous), kept for the backward pass
        y = None
        for k, index in enumerate(spec.indices):
            last = k == n - 1
            relu = spec.relu_last if last else True
            inputs.append(h)
            sample_major = last and not spec.transposed_out
            y = torch.empty(batch, index.n_out, dtype=torch.float32) if sample_major else None
            # The output is fresh (it is the next layer's saved input) unless it is only the
            # accumulator of a sample-major output that the backward pass does not read.
            reusable = sample_major and not relu
            if reusable:
                out = index.buffer("forward_acc", index.n_out, batch)
            elif last:
                out = torch.empty(index.n_out, batch)  # returned (or saved with the output)
            else:
                out = _activation_buffer(index.n_out, batch)  # only on ctx: the next layer's input
            kernels.spmm_forward(
                index.indptr_out,
                index.rows_out,
                index.perm_out,
                _param_array(index, 0, params[2 * k]),
                _param_array(index, 1, params[2 * k + 1]),
                h.numpy(),
                out.numpy(),
                _NONE_2D if y is None else y.numpy(),
                relu,
            )
            h = out
        result = h if spec.transposed_out else y
        ctx.spec = spec
        ctx.inputs = inputs
        # Outputs and parameters go through save_for_backward (in-place changes are detected and a
        # saved output makes no reference cycle); the intermediate activations live on ctx.
        if spec.relu_last:
            ctx.save_for_backward(h if spec.transposed_out else y, *params[0::2])
        else:
            ctx.save_for_backward(*params[0::2])
        return result

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        spec: StackSpec = ctx.spec
        n = len(spec.indices)
        saved = ctx.saved_tensors
        out = saved[0] if spec.relu_last else None
        values = saved[1:] if spec.relu_last else saved
        need = ctx.needs_input_grad  # (x, spec, values_0, bias_0, values_1, bias_1, ...)
        # needed_below[k]: a gradient is wanted for the input x or a parameter of a layer < k
        needed_below = [bool(need[0])]
        for k in range(n):
            needed_below.append(needed_below[-1] or bool(need[2 + 2 * k]) or bool(need[3 + 2 * k]))
        grads: list[torch.Tensor | None] = [None] * (2 * n)
        if not needed_below[n]:
            return (None, None, *grads)
        _sync_threads()
        top = spec.indices[-1]
        batch = grad.shape[0] if not spec.transposed_out else grad.shape[1]
        # gradient with respect to the last layer's pre-activation output, and its bias gradient
        gyT = top.buffer("grad_out_t", top.n_out, batch)
        gb = torch.empty(top.n_out, dtype=torch.float32) if need[3 + 2 * (n - 1)] else None
        h_top = out.t() if (out is not None and not spec.transposed_out) else out
        kernels.bias_act_backward(
            _as_rows(grad, not spec.transposed_out),
            gyT.numpy() if h_top is None else _as_rows(h_top, False),
            gyT.numpy(),
            _NONE_1D if gb is None else gb.numpy(),
            spec.relu_last,
        )
        grads[2 * n - 1] = gb
        gx = None
        for k in range(n - 1, -1, -1):
            if not needed_below[k + 1]:
                break
            index = spec.indices[k]
            want_gw = bool(need[2 + 2 * k])
            want_gx = needed_below[k]
            gw = torch.empty(index.cols.shape[0], dtype=torch.float32) if want_gw else None
            gb_in = (
                torch.empty(index.n_in, dtype=torch.float32)
                if k > 0 and need[3 + 2 * (k - 1)]
                else None
            )
            gxT = index.buffer("backward_acc", index.n_in, batch) if want_gx else None
            gx = torch.empty(batch, index.n_in, dtype=torch.float32) if k == 0 and want_gx else None
            kernels.spmm_backward(
                index.indptr_in,
                index.cols,
                _param_array(index, 0, values[k]),
                ctx.inputs[k].numpy(),
                gyT.numpy(),
                _NONE_2D if gxT is None else gxT.numpy(),
                _NONE_2D if gx is None else gx.numpy(),
                _NONE_1D if gw is None else gw.numpy(),
                _NONE_1D if gb_in is None else gb_in.numpy(),
                want_gx,
                want_gw,
                k > 0,
            )
            grads[2 * k] = gw
            if k > 0:
                grads[2 * k - 1] = gb_in
            gyT = gxT
        return (gx, None, *grads)


def sparse_stack(
    x: torch.Tensor, layers: Sequence[tuple], relu_last: bool, transposed_out: bool
) -> torch.Tensor:
    """Run csr layers ``[(backend, bias), ...]`` as one :class:`SparseStack` call.

    Parameters
    ----------
    x : float tensor (batch, n_in)
        Input of the first layer (a transposed view of a (n_in, batch) tensor is used as is).
    layers : sequence of (CSRBackend, Parameter or None)
        The layers' link storage and biases, input side first; ReLU follows every layer but the
        last.
    relu_last : bool
        Apply ReLU after the last layer too.
    transposed_out : bool
        Return (n_out, batch) C-contiguous (for a consumer working in that layout, e.g. a dense
        readout as ``addmm(bias, W, hT)``) instead of (batch, n_out).
    """
    spec = StackSpec(
        tuple(backend.index() for backend, _ in layers), bool(relu_last), bool(transposed_out)
    )
    params: list[torch.Tensor | None] = []
    for backend, bias in layers:
        params += [backend._parameters["values"], bias]  # not __getattr__: ~1 us a lookup
    return SparseStack.apply(x, spec, *params)
