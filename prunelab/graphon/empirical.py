"""The empirical NTK of a finite network, layer by layer: :func:`empirical_ntk`.

For a scalar output f (the model's only output or one chosen logit) the NTK Gram is
Θ(x, x′) = Σ_θ ∂f(x)/∂θ · ∂f(x′)/∂θ over the weights and biases of every linear layer. For a
linear layer with input z (n, n_in) and output-gradient δ = ∂f/∂h (n, n_out) the weight at link
(i, j) has per-sample gradient z_i δ_j, so the layer contributes

- ``(Z Zᵀ) ⊙ (Δ Δᵀ)`` when every link is present (O(n² (n_in + n_out)));
- ``J Jᵀ`` with ``J[:, l] = z_{row(l)} δ_{col(l)}`` over its links, built a chunk of links at a
  time, or the complete-layer term minus the same sum over the missing links when more than half
  are present (O(n² · min(links, missing))),

and a bias contributes ``Δ Δᵀ``. The Jacobian of the whole network (n x parameters) is never
formed; memory is O(n² + n · width + n · chunk).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.nn.layer import SparseLinear

#: how the weights are scaled (see :func:`empirical_ntk`)
PARAMETRIZATIONS: Registry[str] = Registry("NTK parametrisation")
PARAMETRIZATIONS.register("standard", "standard", help="gradients of the model's own parameters")
PARAMETRIZATIONS.register(
    "ntk", "ntk", help="W = w / sqrt(fan_in): weight terms divided by the dense fan-in"
)

#: links per chunk of J (float32 n x chunk)
LINK_CHUNK = 4096
#: samples per row block of the Gram (only blocks on or above the diagonal are computed)
SAMPLE_BLOCK = 256


def _linear_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    out = []
    for name, m in model.named_modules():
        if isinstance(m, SparseLinear):
            if hasattr(m, "in_channels"):
                raise ConfigError(
                    f"empirical_ntk supports MLPs; {name!r} is a convolution (use an MLP)"
                )
            out.append((name, m))
        elif isinstance(m, nn.Linear):
            out.append((name, m))
        elif isinstance(m, nn.Conv2d):
            raise ConfigError(
                f"empirical_ntk supports MLPs; {name!r} is a convolution (use an MLP)"
            )
    if not out:
        raise ConfigError(
            f"{type(model).__name__} has no linear layers; empirical_ntk needs an MLP"
        )
    return out


def _signals(
    model: nn.Module,
    layers: list[tuple[str, nn.Module]],
    x: torch.Tensor,
    output: int | None,
    batch_size: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-layer inputs Z (n, n_in) and output gradients Δ (n, n_out) of f, float32."""
    zs: list[list[torch.Tensor]] = [[] for _ in layers]
    ds: list[list[torch.Tensor]] = [[] for _ in layers]
    outs: list[torch.Tensor] = [None] * len(layers)  # type: ignore[list-item]

    def hook(k: int):
        def fn(module, inputs, result):
            zs[k].append(inputs[0].detach().reshape(inputs[0].shape[0], -1))
            outs[k] = result

        return fn

    handles = [m.register_forward_hook(hook(k)) for k, (_, m) in enumerate(layers)]
    try:
        for start in range(0, x.shape[0], batch_size):
            # the input requires grad so the graph exists even when the parameters are frozen
            out = model(x[start : start + batch_size].clone().requires_grad_(True))
            out = out.reshape(out.shape[0], -1)
            if output is None:
                if out.shape[1] != 1:
                    raise ConfigError(
                        f"the model has {out.shape[1]} outputs; choose one logit with output=k"
                    )
                f = out[:, 0]
            else:
                if not 0 <= int(output) < out.shape[1]:
                    raise ConfigError(
                        f"output={output} but the model has {out.shape[1]} outputs; choose 0..{out.shape[1] - 1}"
                    )
                f = out[:, int(output)]
            # samples are independent, so row i of each gradient is ∂f(x_i)/∂h (parameters' .grad untouched)
            grads = torch.autograd.grad(f.sum(), outs, allow_unused=True)
            for k, g in enumerate(grads):
                ds[k].append(torch.zeros_like(outs[k]) if g is None else g.detach())
    finally:
        for h in handles:
            h.remove()
    return (
        [torch.cat(z).numpy().astype(np.float32) for z in zs],
        [torch.cat(d).numpy().astype(np.float32) for d in ds],
    )


def _layer_term(z: np.ndarray, delta: np.ndarray, layer: nn.Module) -> np.ndarray:
    """Σ over the layer's links of the per-sample gradient products: (n, n) float64."""
    if isinstance(layer, SparseLinear):
        r, c = layer.link_index()  # (not layer.links(): its duplicate check costs a sort per call)
        rows, cols, n_possible = r.cpu().numpy(), c.cpu().numpy(), layer.n_in * layer.n_out
    else:
        rows = cols = None
        n_possible = layer.weight.numel()
    n_links = n_possible if rows is None else rows.size
    if rows is None or n_links == n_possible:
        return (z.astype(np.float64) @ z.T.astype(np.float64)) * (
            delta.astype(np.float64) @ delta.T.astype(np.float64)
        )
    sign = 1.0
    if 2 * n_links > n_possible:
        # more links than gaps: the complete layer minus the missing links
        present = np.zeros(n_possible, dtype=bool)
        present[rows * layer.n_out + cols] = True
        gaps = np.flatnonzero(~present)
        rows, cols = gaps // layer.n_out, gaps % layer.n_out
        out = (z.astype(np.float64) @ z.T.astype(np.float64)) * (
            delta.astype(np.float64) @ delta.T.astype(np.float64)
        )
        sign = -1.0
    else:
        out = np.zeros((z.shape[0], z.shape[0]))
    zt, dt = torch.from_numpy(z), torch.from_numpy(delta)
    n = z.shape[0]
    upper = torch.zeros(n, n, dtype=torch.float64)
    for start in range(0, rows.size, LINK_CHUNK):
        r = torch.from_numpy(rows[start : start + LINK_CHUNK])
        c = torch.from_numpy(cols[start : start + LINK_CHUNK])
        jac = zt[:, r] * dt[:, c]
        # the Gram is symmetric: blocks of rows against the columns from their first row on
        for i in range(0, n, SAMPLE_BLOCK):
            upper[i : i + SAMPLE_BLOCK, i:] += (jac[i : i + SAMPLE_BLOCK] @ jac[i:].T).double()
    upper = torch.triu(upper)
    return out + sign * (upper + torch.triu(upper, 1).T).numpy()


def empirical_ntk(
    model: nn.Module,
    X: Any,
    output: int | None = None,
    *,
    parametrization: str = "standard",
    batch_size: int = 256,
) -> np.ndarray:
    """NTK Gram of a finite MLP at its current weights, computed layer by layer.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP of ``nn.Linear`` and prunelab sparse layers (a ``SparseMLP``); evaluated in eval
        mode; parameters and their ``.grad`` are left unchanged.
    X : ndarray or Tensor (n, features), float
    output : int, optional
        Which logit is f; None requires a model with one output.
    parametrization : {"standard", "ntk"}
        ``"standard"``: gradients of the model's own parameters. ``"ntk"``: the model's weights read
        as ``W = w / sqrt(fan_in)`` with fan-in the layer's dense fan-in ``n_in``, so every weight term
        is divided by ``n_in`` (bias terms unchanged) — the parametrisation of :func:`graphon_ntk`.
    batch_size : int
        Samples per forward/backward pass (memory only).

    Returns
    -------
    ndarray (n, n), float64
        Symmetric positive semi-definite Θ(x_i, x_j) (squared output units per unit learning rate).

    Raises
    ------
    ConfigError
        A model without linear layers or with convolutions, a bad ``output``, X not 2-D.

    Notes
    -----
    Cost O(n² · Σ_layers min(links, missing links)) multiply-adds in float32 matmuls plus
    O(n² · width) per layer; a 784-1024⁴-1 network at 50% density on 1024 samples takes minutes
    on two cores (``benchmarks/graphon.py``).
    """
    PARAMETRIZATIONS.check(parametrization)
    x = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).to(torch.float32).cpu()
    if x.dim() != 2 or x.shape[0] < 1:
        raise ConfigError(
            f"X must be a 2-D array (n samples, features), got shape {tuple(x.shape)}"
        )
    layers = _linear_layers(model)
    was_training = model.training
    model.eval()
    try:
        zs, ds = _signals(model, layers, x, output, int(batch_size))
    finally:
        model.train(was_training)
    theta = np.zeros((x.shape[0], x.shape[0]))
    for (_, layer), z, delta in zip(layers, zs, ds):
        term = _layer_term(z, delta, layer)
        fan_in = layer.n_in if isinstance(layer, SparseLinear) else layer.in_features
        theta += term / fan_in if parametrization == "ntk" else term
        if getattr(layer, "bias", None) is not None:
            theta += delta.astype(np.float64) @ delta.T.astype(np.float64)
    return (theta + theta.T) / 2.0
