"""The Graphon NTK: the infinite-width NTK of a ReLU MLP whose layer connectivity is a step graphon.

Setting (Pham et al. 2025, arXiv:2510.17515): a bias-free ReLU MLP with L hidden layers and one
output in the NTK parametrisation, weights of variance σ_w² = 1. Hidden layer l is cut into
K_l blocks of equal width; ``graphons[0]`` (K_1, d) gives the link probability from input
coordinate j to hidden block a, ``graphons[l]`` (K_{l+1}, K_l) from hidden block b of layer l to
block a of layer l+1, ``graphons[-1]`` (1, K_L) from the last hidden layer to the output. For
step graphons the integrals of the paper become block means:

- Σ̃¹(a) = (1/d) Σ_j W₁[a, j] x_j x′_j;
- per hidden layer l and block a, the 2x2 covariance of (x, x′) gives the ReLU arc-cosine
  expectations Σˡ(a) = E[σ(u)σ(v)] and Σ̇ˡ(a) = E[σ′(u)σ′(v)] (Cho & Saul 2009); then
  Σ̃ˡ⁺¹(a) = mean_b W_{l+1}[a, b] Σˡ(b);
- backward factor G^{L+1} = 1, Gˡ(a) = Σ̇ˡ(a) · mean_b W_{l+1}[b, a] G^{l+1}(b);
- ``variant="masked"`` (weights N(0, 1) times a Bernoulli(W) mask, the model prunelab trains):
  Θ = Σ_{l=1}^{L+1} mean_a Gˡ(a) Σ̃ˡ(a);
- ``variant="variance"`` (weights N(0, W)): Θ = Σ_l mean_a Gˡ(a) · mean_b Σ^{l−1}(b), Σ⁰ = XXᵀ/d.

With every graphon ≡ 1 both are the standard ReLU NTK (Jacot et al. 2018, arXiv:1806.07572);
with a constant c on every layer but a dense output the masked variant is c^L times it.

Computation: the sum over layers is accumulated forwards, Θˡ⁺¹(a) = Tˡ⁺¹(a) +
mean_b W_{l+1}[a, b] Σ̇ˡ(b) Θˡ(b) with Tˡ the layer's own term (Σ̃ˡ(a) or mean_b Σ^{l−1}(b)), which
equals the backward form above term by term. The diagonals Σ̃ˡ(a)(x, x) are computed first
(Σ(x, x) = Σ̃(x, x)/2 for ReLU), then rows of the n x n kernel in chunks, so memory is
O(K · chunk · n) instead of O(L · K · n²).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError

#: the two ways a graphon enters the weights (see the module docstring)
NTK_VARIANTS: Registry[str] = Registry("Graphon NTK variant")
NTK_VARIANTS.register(
    "masked",
    "masked",
    help="weights N(0, 1) times a Bernoulli(W) mask (prunelab's sparse networks)",
)
NTK_VARIANTS.register(
    "variance", "variance", help="weights N(0, W): the graphon scales the weight variance"
)

#: elements of one K x chunk x n work array (float64): 4M = 32 MB
CHUNK_ELEMENTS = 4_000_000


def arccos_relu(
    cov: np.ndarray, var_x: np.ndarray, var_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ReLU arc-cosine expectations of a centred Gaussian pair.

    Parameters
    ----------
    cov : ndarray, float64
        Cov(u, v), any shape.
    var_x, var_y : ndarray, float64
        Var(u), Var(v), broadcastable to ``cov``.

    Returns
    -------
    (E[σ(u)σ(v)], E[σ′(u)σ′(v)]) : ndarray, float64
        ``sqrt(var_x var_y)/(2π) · (sin θ + (π − θ) cos θ)`` and ``(π − θ)/(2π)`` with
        ``cos θ = cov / sqrt(var_x var_y)``; both 0 where a variance is 0 (a unit that is always 0,
        with σ′(0) = 0).
    """
    norm = np.sqrt(var_x * var_y)
    live = norm > 0
    rho = np.clip(
        np.divide(cov, norm, out=np.zeros(np.broadcast(cov, norm).shape), where=live), -1.0, 1.0
    )
    theta = np.arccos(rho)
    sigma = np.where(live, norm * (np.sin(theta) + (np.pi - theta) * rho) / (2 * np.pi), 0.0)
    sigma_dot = np.where(live, (np.pi - theta) / (2 * np.pi), 0.0)
    return sigma, sigma_dot


def check_graphons(X: Any, graphons: Sequence[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Validate the inputs of :func:`graphon_ntk`; one-line :class:`ConfigError` otherwise.

    Returns
    -------
    (X float64 (n, d), graphons as float64 arrays)
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"X must be a 2-D array (n samples, d features), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ConfigError("X has NaN or infinite values; clean the inputs")
    ws = [np.asarray(w, dtype=np.float64) for w in graphons]
    if len(ws) < 2:
        raise ConfigError(
            f"graphons needs at least 2 arrays (input -> hidden, hidden -> output), got {len(ws)}"
        )
    for i, w in enumerate(ws):
        if w.ndim != 2 or not np.all(np.isfinite(w)) or w.min() < 0 or w.max() > 1:
            raise ConfigError(
                f"graphons[{i}] must be a 2-D array of probabilities in [0, 1], got shape {w.shape}"
            )
    if ws[0].shape[1] != x.shape[1]:
        raise ConfigError(
            f"graphons[0] has shape {ws[0].shape} but X has {x.shape[1]} features; "
            f"graphons[0] must be (K_1, {x.shape[1]})"
        )
    for i in range(1, len(ws)):
        if ws[i].shape[1] != ws[i - 1].shape[0]:
            raise ConfigError(
                f"graphons do not chain: graphons[{i}] has shape {ws[i].shape} but graphons[{i - 1}] "
                f"has {ws[i - 1].shape[0]} rows; graphons[{i}] must be (K, {ws[i - 1].shape[0]})"
            )
    if ws[-1].shape[0] != 1:
        raise ConfigError(
            f"graphons[-1] must be (1, K_L) for the one output, got shape {ws[-1].shape}"
        )
    return x, ws


def graphon_ntk(X: Any, graphons: Sequence[Any], variant: str = "masked") -> np.ndarray:
    """NTK Gram matrix of the infinite-width ReLU MLP whose layers follow step ``graphons``.

    Parameters
    ----------
    X : ndarray (n, d), float
        Inputs (no scaling is applied).
    graphons : sequence of ndarray
        ``graphons[0]`` (K_1, d), ``graphons[l]`` (K_{l+1}, K_l), ``graphons[-1]`` (1, K_L);
        link probabilities in [0, 1] (L = len(graphons) − 1 hidden layers).
    variant : {"masked", "variance"}
        How a graphon enters the weights (module docstring).

    Returns
    -------
    ndarray (n, n), float64
        Θ(x_i, x_j), symmetric positive semi-definite (units of the squared output per unit
        learning rate).

    Raises
    ------
    ConfigError
        Unknown variant, X not 2-D, graphons whose shapes do not chain or values outside [0, 1].

    Notes
    -----
    Time O(n² · (K_1 · d + Σ_l K_{l+1} K_l)); 1024 samples, K = 64, 4 hidden layers take about
    10-20 s on two cores (``benchmarks/graphon.py``). Memory O(K · n · chunk) with chunks of
    :data:`CHUNK_ELEMENTS` elements.

    Examples
    --------
    >>> x = np.eye(3)
    >>> ones = [np.ones((2, 3)), np.ones((2, 2)), np.ones((1, 2))]
    >>> theta = graphon_ntk(x, ones)
    >>> bool(np.allclose(theta, theta.T)), round(float(theta[0, 0]), 4)
    (True, 0.25)
    """
    NTK_VARIANTS.check(variant)
    x, ws = check_graphons(X, graphons)
    n, d = x.shape
    masked = variant == "masked"
    # diagonals Σ̃ˡ(a)(x, x) of every hidden layer: (n, K_l)
    diags = [(x**2) @ ws[0].T / d]
    for w in ws[1:-1]:
        diags.append((diags[-1] / 2.0) @ w.T / w.shape[1])
    k_max = max(w.shape[0] for w in ws[:-1])
    chunk = max(1, min(n, CHUNK_ELEMENTS // max(1, k_max * n)))
    theta = np.zeros((n, n))
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        # Θ is symmetric: each chunk of rows needs only the columns from its first row on
        theta[rows, start:] = _rows(x, ws, diags, rows, slice(start, n), masked)
    upper = np.triu(theta)
    return upper + np.triu(theta, 1).T


def _rows(
    x: np.ndarray,
    ws: list[np.ndarray],
    diags: list[np.ndarray],
    rows: slice,
    cols: slice,
    masked: bool,
) -> np.ndarray:
    """Entries ``Θ[rows, cols]``: (len(rows), len(cols))."""
    d = x.shape[1]
    xi, xj = x[rows], x[cols]
    k1 = ws[0].shape[0]
    # Σ̃¹(a)[i, j] = (1/d) Σ_t W₁[a, t] x_it x_jt as one matmul: (chunk·K_1, d) @ (d, m)
    s_tilde = (
        ((xi[:, None, :] * ws[0][None, :, :]).reshape(-1, d) @ xj.T / d)
        .reshape(xi.shape[0], k1, -1)
        .transpose(1, 0, 2)
    )
    sigma_prev = xi @ xj.T / d  # Σ⁰
    theta = s_tilde.copy() if masked else np.broadcast_to(sigma_prev, s_tilde.shape).copy()
    for l, w in enumerate(ws[1:]):
        var_i = diags[l][rows].T[:, :, None]  # (K_l, chunk, 1)
        var_j = diags[l][cols].T[:, None, :]  # (K_l, 1, m)
        sigma, sigma_dot = arccos_relu(s_tilde, var_i, var_j)
        k_l = w.shape[1]
        s_next = np.tensordot(w, sigma, axes=(1, 0)) / k_l
        own = s_next if masked else np.broadcast_to(sigma.mean(axis=0), s_next.shape)
        theta = own + np.tensordot(w, sigma_dot * theta, axes=(1, 0)) / k_l
        s_tilde = s_next
    return theta[0]
