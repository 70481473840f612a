"""Inference-only compiled form of a :class:`SparseMLP`, for evaluating many weight variants fast.

Robustness curves evaluate the same network on the same test set at dozens of perturbation
strengths. Through ``model(x)`` every sparse layer transposes its input to the batch-contiguous
layout of the csr kernels and back, adds the bias and applies the activation in separate passes
over (batch, width) tensors, and multiplies links whose weight was set to zero. An
:class:`InferencePlan` removes all three costs:

* activations stay batch-contiguous, ``(units, batch)``, from the input to the logits (the test
  inputs are transposed once per plan, not once per layer and evaluation);
* bias and ReLU are fused into the sparse kernel
  (:func:`prunelab.nn.backends._csr_kernels.spmm_forward`, the kernel training uses too);
* links with weight exactly 0 (removed by a pruning perturbation) are dropped from the kernel's
  link list, so a network with a fraction f of its links removed costs (1 - f) of the work.

The plan copies what it needs from the model (link lists, biases, dense weights) and never
writes to the model. It is written by hand because no library offers a batch-contiguous sparse
MLP forward pass with fused epilogues on the CPU (``torch.sparse`` and ``scipy.sparse`` run
sample-major and unfused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from prunelab.core.evaluation import Evaluation
from prunelab.errors import ConfigError
from prunelab.nn.layer import SparseLinear
from prunelab.nn.mlp import SparseMLP

try:  # numba is needed for the sparse kernels; without it plans are unsupported
    from prunelab.nn.backends import _csr_kernels as _kernels
    from prunelab.nn.backends._csr_stack import _NONE_2D, _sync_threads
except ImportError:  # pragma: no cover - exercised only without numba
    _kernels = None


@dataclass
class _SparseStage:
    """One sparse layer: links in output-major order, compacted to the non-zero weights."""

    n_in: int
    n_out: int
    perm_out: np.ndarray  # int64 (n_links,): link-order positions in output-major order
    cols_out: np.ndarray  # int64 (n_links,): output unit, output-major order
    rows_out_all: np.ndarray  # int32 (n_links,): input unit, output-major order
    bias: np.ndarray  # float32 (n_out,)
    indptr: np.ndarray | None = None  # int64 (n_out + 1,) of the compacted links
    rows_out: np.ndarray | None = None  # int32 (n_kept,)
    perm_kept: np.ndarray | None = None  # int64 (n_kept,): position in ``values`` of each kept link
    values: np.ndarray | None = None  # float32 (n_links,), link order

    def set_values(self, values: np.ndarray) -> None:
        """Link weights in link order (n_links,); links with weight 0 are skipped."""
        self.values = np.ascontiguousarray(values, dtype=np.float32)
        keep = self.values[self.perm_out] != 0
        if keep.all():
            rows, perm, cols = self.rows_out_all, self.perm_out, self.cols_out
        else:
            rows, perm, cols = self.rows_out_all[keep], self.perm_out[keep], self.cols_out[keep]
        indptr = np.zeros(self.n_out + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=self.n_out), out=indptr[1:])
        self.indptr = indptr
        self.rows_out = np.ascontiguousarray(rows, dtype=np.int32)
        self.perm_kept = np.ascontiguousarray(perm, dtype=np.int64)


@dataclass
class _DenseStage:
    """One dense ``nn.Linear``: weight (n_out, n_in) float32 and bias (n_out, 1)."""

    n_in: int
    n_out: int
    weight: torch.Tensor
    bias: torch.Tensor

    def set_values(self, values: np.ndarray) -> None:
        """Weights in link order: (n_in * n_out,), row-major over (input, output)."""
        w = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(self.n_in, self.n_out)
        self.weight = w.t().contiguous()


def plan_unsupported_reason(model: nn.Module) -> str | None:
    """Why :class:`InferencePlan` cannot compile ``model``, or None when it can.

    Supported: a :class:`SparseMLP` on the CPU (any backend, any activation, dense or sparse
    readout), with numba installed.
    """
    if _kernels is None:
        return "numba is not installed"
    if not isinstance(model, SparseMLP):
        return f"{type(model).__name__} is not a SparseMLP"
    if any(p.device.type != "cpu" for p in model.parameters()):
        return "the model is not on the CPU"
    return None


class InferencePlan:
    """A frozen, inference-only copy of a :class:`SparseMLP` with overwritable link weights.

    Parameters
    ----------
    model : SparseMLP
        Read once (link lists, weights, biases, activation); never modified.

    Examples
    --------
    >>> plan = InferencePlan(model)                             # doctest: +SKIP
    >>> batches = plan.prepare_inputs(x_test, batch_size=512)   # doctest: +SKIP
    >>> plan.set_link_values("layer1", pruned_values)           # doctest: +SKIP
    >>> plan.evaluate(batches, y_test).accuracy                 # doctest: +SKIP
    """

    def __init__(self, model: SparseMLP) -> None:
        reason = plan_unsupported_reason(model)
        if reason is not None:
            raise ConfigError(
                f"cannot compile an inference plan: {reason}; evaluate with the model itself instead"
            )
        self.n_inputs = model.sizes[0]
        self.act = model.act
        self.fused_relu = isinstance(model.act, nn.ReLU)
        self.stages: dict[str, _SparseStage | _DenseStage] = {}
        for k, layer in enumerate(model.layers):
            name = f"layer{k}"
            if isinstance(layer, SparseLinear):
                rows, cols = (t.cpu().numpy().astype(np.int64) for t in layer.link_index())
                perm = np.argsort(cols, kind="stable")
                bias = (
                    layer.bias.detach().cpu().numpy()
                    if layer.bias is not None
                    else np.zeros(layer.n_out)
                )
                stage = _SparseStage(
                    layer.n_in,
                    layer.n_out,
                    perm.astype(np.int64),
                    cols[perm],
                    rows[perm].astype(np.int32),
                    np.ascontiguousarray(bias, dtype=np.float32),
                )
                stage.set_values(layer.link_values().cpu().numpy())
            elif isinstance(layer, nn.Linear):
                bias = (
                    layer.bias.detach()
                    if layer.bias is not None
                    else torch.zeros(layer.out_features)
                )
                stage = _DenseStage(
                    layer.in_features,
                    layer.out_features,
                    layer.weight.detach().to(torch.float32).contiguous().clone(),
                    bias.to(torch.float32).reshape(-1, 1).clone(),
                )
            else:  # pragma: no cover - SparseMLP holds only these two
                raise ConfigError(
                    f"layer {name} of type {type(layer).__name__} is not supported by InferencePlan"
                )
            self.stages[name] = stage
        self._buffers: dict[tuple[str, int], torch.Tensor] = {}

    # --- inputs and weights ------------------------------------------------------------------
    def prepare_inputs(self, x: torch.Tensor, batch_size: int = 512) -> list[torch.Tensor]:
        """Split ``x`` (n, ...) into batches transposed to float32 (features, batch), once.

        ``batch_size`` 512 keeps a 1000-unit activation block in the L2 cache.
        """
        x = torch.as_tensor(x).reshape(len(x), -1).to(torch.float32)
        if x.shape[1] != self.n_inputs:
            raise ConfigError(f"model expects {self.n_inputs} input features, got {x.shape[1]}")
        return [x[s : s + batch_size].t().contiguous() for s in range(0, x.shape[0], batch_size)]

    def set_link_values(self, name: str, values: np.ndarray) -> None:
        """Overwrite the weights of layer ``name`` (``layer0``...) with ``values`` (n_links,).

        Same link order as :meth:`SparseLinear.link_values` (for ``nn.Linear``: row-major over
        (input, output), as :class:`prunelab.perturb.targets.LayerLinks` uses).
        """
        if name not in self.stages:
            raise ConfigError(f"unknown layer {name!r}; choose from {list(self.stages)}")
        self.stages[name].set_values(values)

    # --- evaluation --------------------------------------------------------------------------
    def logits_t(self, xT: torch.Tensor) -> torch.Tensor:
        """Logits, transposed: float32 (classes, batch), for one prepared batch ``xT`` (features, batch)."""
        _sync_threads()
        h = xT
        last = len(self.stages) - 1
        for k, (name, stage) in enumerate(self.stages.items()):
            batch = h.shape[1]
            activate = k < last
            if isinstance(stage, _SparseStage):
                # hidden layers write into reused scratch; the logits are returned, so fresh
                out = (
                    self._buffer(name, stage.n_out, batch)
                    if activate
                    else torch.empty(stage.n_out, batch)
                )
                _kernels.spmm_forward(
                    stage.indptr,
                    stage.rows_out,
                    stage.perm_kept,
                    stage.values,
                    stage.bias,
                    h.numpy(),
                    out.numpy(),
                    _NONE_2D,
                    bool(activate and self.fused_relu),
                )
                if activate and not self.fused_relu:
                    out = self.act(out)  # elementwise: the layout does not matter
            else:
                out = torch.addmm(stage.bias, stage.weight, h)
                if activate:
                    out = self.act(out)
            h = out
        return h

    @torch.inference_mode()
    def evaluate(self, batches: list[torch.Tensor], y: torch.Tensor) -> Evaluation:
        """Mean cross-entropy (nats) and accuracy (fraction correct) over prepared ``batches``.

        ``y`` int64 (n,) labels in the order of the inputs given to :meth:`prepare_inputs`.
        """
        y = torch.as_tensor(y).reshape(-1)
        total_loss, correct, start = 0.0, 0, 0
        for xT in batches:
            logits = self.logits_t(xT)
            yb = y[start : start + xT.shape[1]]
            start += xT.shape[1]
            logp = torch.log_softmax(logits, dim=0)
            total_loss -= float(logp.gather(0, yb.reshape(1, -1)).sum())
            correct += int((logits.argmax(0) == yb).sum())
        if start != y.shape[0]:
            raise ConfigError(
                f"{start} prepared inputs but {y.shape[0]} labels; prepare the same test set"
            )
        n = max(start, 1)
        return Evaluation(loss=total_loss / n, accuracy=correct / n)

    def _buffer(self, name: str, rows: int, batch: int) -> torch.Tensor:
        key = (name, batch)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = torch.empty(rows, batch, dtype=torch.float32)
        return buf
