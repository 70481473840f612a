"""Per-layer inputs and output gradients on a batch: what gradient-based regrowth needs.

For a linear layer ``y = x @ W`` the loss gradient is ``dL/dW = x.T @ dL/dy``, so keeping ``x``
(batch, n_in) and ``dL/dy`` (batch, n_out) gives the gradient at any link, missing ones included,
without a dense ``n_in x n_out`` matrix. The parameters' ``.grad`` are left untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.nn.protocol import sparse_layers

LayerGradients = dict[str, tuple[torch.Tensor, torch.Tensor]]
GradProvider = Callable[[], LayerGradients]


def layer_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> LayerGradients:
    """Inputs and output gradients of every sparse layer on the batch ``(x, y)``.

    Parameters
    ----------
    model : nn.Module
    x : Tensor of shape (batch, ...)
    y : Tensor of shape (batch,)
    loss_fn : callable
        ``loss_fn(logits, y) -> scalar loss``.

    Returns
    -------
    dict
        ``name -> (inputs (batch, n_in), grad_outputs (batch, n_out))``, float32, detached.

    Raises
    ------
    ConfigError
        If the layers' outputs do not depend on trainable parameters (no gradient exists).
    """
    layers = sparse_layers(model)
    captured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def capture(name: str):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            captured[name] = (inputs[0].detach(), output)

        return hook

    handles = [layer.register_forward_hook(capture(name)) for name, layer in layers]
    try:
        with torch.enable_grad():
            loss = loss_fn(model(x), y)
            outputs = [captured[name][1] for name, _ in layers]
            if not loss.requires_grad or not all(o.requires_grad for o in outputs):
                raise ConfigError(
                    "gradient-based regrowth needs gradients, but the sparse layers' outputs do not "
                    "require grad; unfreeze the model parameters or choose regrowth random/ch3l3/l3"
                )
            grads = torch.autograd.grad(loss, outputs, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    out: LayerGradients = {}
    for (name, _layer), g in zip(layers, grads, strict=True):
        g = torch.zeros_like(captured[name][1]) if g is None else g
        out[name] = (captured[name][0].float(), g.detach().float())
    return out


def batch_grad_provider(
    model: nn.Module,
    sample_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> GradProvider:
    """A callable computing :func:`layer_gradients` on a fresh batch from ``sample_batch()``."""

    def provide() -> LayerGradients:
        x, y = sample_batch()
        return layer_gradients(model, x, y, loss_fn)

    return provide
