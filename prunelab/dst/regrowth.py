"""Link regrowth: which missing links of a layer to add.

Rules (``DSTConfig.regrowth``):

- ``"random"``: uniformly among the missing links (RLR; SET's rule).
- ``"ch3l3"``: highest Cannistraci–Hebb CH3-L3 score first (the official CHT kernel's score,
  see :mod:`prunelab.linkpred`), ties broken at random.
- ``"l3"``: highest number of paths of length 3 first, ties at random.
- ``"rigl"``: highest ``|dL/dw|`` at the missing link first (RigL), from a batch's layer inputs
  ``x`` and output gradients ``gy`` as ``x.T @ gy`` in row chunks, never a full dense matrix for
  large layers.

With ``soft=True`` the score rules sample without replacement with probability proportional to
the score (CHTs) instead of taking the top. When fewer missing links have a positive score than
are needed, the shortfall is filled uniformly at random among the remaining missing links and
reported as ``n_random_fill``.

Candidates are all missing links after removal, *including* the ones just removed and those of
neurons cut off by chain removal (as in CHT). Score rules never propose a link of a neuron
without links (its CH3-L3/L3 score is 0), but the random fill may, which can revive it.
``allowed_in``/``allowed_out`` restrict every rule, random fill included, to given units
(``DSTConfig.regrow_dead=False`` passes the units still on an input→output path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from prunelab.core.links import Links
from prunelab.core.registry import Registry
from prunelab.core.selection import select_top
from prunelab.errors import ConfigError
from prunelab.linkpred import top_scored_missing_links
from prunelab.nn.topology import sample_missing_links


@dataclass
class Regrowth:
    """Links chosen by a regrowth rule.

    Attributes
    ----------
    rows, cols : ndarray of shape (k,), int64
        Input and output unit of each new link.
    n_random_fill : int
        How many of them were drawn at random because too few candidates had a positive score.
    """

    rows: np.ndarray
    cols: np.ndarray
    n_random_fill: int = 0


def _units(allowed: np.ndarray | None, n: int) -> np.ndarray:
    return (
        np.arange(n, dtype=np.int64)
        if allowed is None
        else np.flatnonzero(allowed).astype(np.int64)
    )


def random_missing_links(
    rows: np.ndarray,
    cols: np.ndarray,
    n_in: int,
    n_out: int,
    k: int,
    rng: np.random.Generator,
    allowed_in: np.ndarray | None = None,
    allowed_out: np.ndarray | None = None,
    name: str = "layer",
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` distinct missing links drawn uniformly, optionally among allowed units only.

    Parameters
    ----------
    rows, cols : ndarray of shape (n_links,), int
        Existing links (these are never drawn).
    n_in, n_out, k : int
        Layer sizes and number of links to draw.
    rng : numpy.random.Generator
    allowed_in, allowed_out : bool arrays of shape (n_in,) / (n_out,), optional
    name : str
        Layer name for error messages.

    Returns
    -------
    rows, cols : ndarray of shape (k,), int64
    """
    ins, outs = _units(allowed_in, n_in), _units(allowed_out, n_out)
    pos_in = np.full(n_in, -1, dtype=np.int64)
    pos_out = np.full(n_out, -1, dtype=np.int64)
    pos_in[ins] = np.arange(ins.size)
    pos_out[outs] = np.arange(outs.size)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    inside = (pos_in[rows] >= 0) & (pos_out[cols] >= 0)
    existing = pos_in[rows[inside]] * outs.size + pos_out[cols[inside]]
    free = ins.size * outs.size - existing.size
    if k > free:
        raise ConfigError(
            f"{name}: cannot grow {k} links, only {free} missing links join allowed neurons; "
            "lower zeta or set regrow_dead=True"
        )
    linear = (
        sample_missing_links(ins.size, outs.size, k, rng, existing)
        if outs.size
        else np.empty(0, np.int64)
    )
    return ins[linear // max(outs.size, 1)], outs[linear % max(outs.size, 1)]


def gradient_top_links(
    x: torch.Tensor,
    gy: torch.Tensor,
    rows: np.ndarray,
    cols: np.ndarray,
    k: int,
    rng: np.random.Generator,
    soft: bool = False,
    allowed_in: np.ndarray | None = None,
    allowed_out: np.ndarray | None = None,
    chunk_entries: int = 1 << 21,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k`` missing links with the largest ``|dL/dw|`` (or sampled ∝ it), in row chunks.

    Parameters
    ----------
    x : Tensor of shape (batch, n_in)
        Inputs of the layer on a batch.
    gy : Tensor of shape (batch, n_out)
        Gradient of the batch loss with respect to the layer's output on that batch, so that
        ``dL/dW = x.T @ gy`` (loss units per weight unit).
    rows, cols : ndarray of shape (n_links,), int
        Existing links (excluded).
    k : int
    rng : numpy.random.Generator
        Tie-breaking (hard) or sampling (soft) randomness.
    soft : bool
    allowed_in, allowed_out : bool arrays, optional
    chunk_entries : int
        At most this many gradient entries are held at once (rows per chunk = this / n_out).

    Returns
    -------
    rows, cols : ndarray of shape (m,), int64
        ``m = min(k, number of missing links with non-zero gradient)``.
    """
    x = torch.as_tensor(x, dtype=torch.float32).detach().cpu()
    gy = torch.as_tensor(gy, dtype=torch.float32).detach().cpu()
    n_in, n_out = x.shape[1], gy.shape[1]
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    rows_sorted, cols_sorted = rows[order], cols[order]
    allowed_out_t = (
        None if allowed_out is None else torch.as_tensor(np.asarray(allowed_out, dtype=bool))
    )
    allowed_in = None if allowed_in is None else np.asarray(allowed_in, dtype=bool)
    step = max(1, chunk_entries // max(n_out, 1))
    best_r = np.empty(0, np.int64)
    best_c = np.empty(0, np.int64)
    best_k1 = np.empty(0, np.float64)
    best_k2 = np.empty(0, np.float64)
    for start in range(0, n_in, step):
        stop = min(n_in, start + step)
        grad = (x[:, start:stop].T @ gy).abs_()
        lo, hi = np.searchsorted(rows_sorted, [start, stop])
        grad[torch.as_tensor(rows_sorted[lo:hi] - start), torch.as_tensor(cols_sorted[lo:hi])] = 0.0
        if allowed_in is not None:
            grad[torch.as_tensor(~allowed_in[start:stop])] = 0.0
        if allowed_out_t is not None:
            grad[:, ~allowed_out_t] = 0.0
        flat = torch.nonzero(grad.reshape(-1) > 0).reshape(-1).numpy()
        values = grad.reshape(-1).numpy()[flat].astype(np.float64)
        u = rng.random(flat.size)
        k1, k2 = (np.log(u) / values, np.zeros(flat.size)) if soft else (values, u)
        all_r = np.concatenate([best_r, flat // n_out + start])
        all_c = np.concatenate([best_c, flat % n_out])
        all_k1, all_k2 = np.concatenate([best_k1, k1]), np.concatenate([best_k2, k2])
        chosen = select_top(all_k1, k, tiebreak=all_k2)
        best_r, best_c, best_k1, best_k2 = (
            all_r[chosen],
            all_c[chosen],
            all_k1[chosen],
            all_k2[chosen],
        )
    return best_r, best_c


@dataclass(frozen=True)
class RegrowthRule:
    """A regrowth rule: how it proposes up to ``k`` new links of a layer.

    Attributes
    ----------
    propose : callable
        ``propose(rows, cols, n_in, n_out, k, rng, soft, grad, allowed_in, allowed_out, name)
        -> (rows, cols)`` of at most ``k`` missing links (fewer when too few score positively).
    scored : bool
        Proposes by a score (so ``soft`` sampling applies and a shortfall is filled at random).
    needs_gradients : bool
        Needs the layer's inputs and output gradients on a batch (``grad``).
    """

    propose: Callable[..., tuple[np.ndarray, np.ndarray]]
    scored: bool = True
    needs_gradients: bool = False


def _propose_random(rows, cols, n_in, n_out, k, rng, soft, grad, allowed_in, allowed_out, name):
    return random_missing_links(rows, cols, n_in, n_out, k, rng, allowed_in, allowed_out, name)


def _propose_gradient(rows, cols, n_in, n_out, k, rng, soft, grad, allowed_in, allowed_out, name):
    if grad is None:
        raise ConfigError(
            f"{name}: regrowth 'rigl' needs layer gradients; pass grad=(x, gy) or a grad_provider"
        )
    return gradient_top_links(grad[0], grad[1], rows, cols, k, rng, soft, allowed_in, allowed_out)


def _link_prediction(score: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def propose(rows, cols, n_in, n_out, k, rng, soft, grad, allowed_in, allowed_out, name):
        seed = int(rng.integers(0, 2**63 - 1))
        return top_scored_missing_links(
            score, Links(rows, cols, (n_in, n_out)), k, seed, soft, allowed_in, allowed_out
        )

    return propose


#: regrowth rules by name
REGROWTH_RULES: Registry[RegrowthRule] = Registry("regrowth rule")
REGROWTH_RULES.register(
    "random",
    RegrowthRule(_propose_random, scored=False),
    help="uniformly among missing links (RLR, SET)",
)
REGROWTH_RULES.register(
    "ch3l3",
    RegrowthRule(_link_prediction("ch3l3")),
    help="Cannistraci-Hebb CH3-L3 link prediction (CHT)",
)
REGROWTH_RULES.register(
    "l3", RegrowthRule(_link_prediction("l3")), help="number of paths of length 3"
)
REGROWTH_RULES.register(
    "rigl", RegrowthRule(_propose_gradient, needs_gradients=True), help="largest |dL/dw| (RigL)"
)


def regrow(
    rule: str,
    links: Links,
    k: int,
    rng: np.random.Generator,
    soft: bool = False,
    grad: tuple[torch.Tensor, torch.Tensor] | None = None,
    allowed_in: np.ndarray | None = None,
    allowed_out: np.ndarray | None = None,
    name: str = "layer",
) -> Regrowth:
    """Choose ``k`` missing links of a layer to add.

    Parameters
    ----------
    rule : str
        A name in :data:`REGROWTH_RULES` (``"random"``, ``"ch3l3"``, ``"l3"``, ``"rigl"``).
    links : Links
        The links present after removal.
    k : int
        Number of links to add (>= 0).
    rng : numpy.random.Generator
    soft : bool
        Sample ∝ score instead of taking the top (score rules only).
    grad : (x, gy), optional
        Layer inputs (batch, n_in) and output gradients (batch, n_out); required by ``"rigl"``.
    allowed_in, allowed_out : bool arrays of shape (n_in,) / (n_out,), optional
        Grow only links joining these units.
    name : str
        Layer name for error messages.

    Returns
    -------
    Regrowth
        Exactly ``k`` new distinct missing links.

    Examples
    --------
    >>> g = regrow("ch3l3", Links(np.array([0, 1, 1]), np.array([0, 0, 1]), (2, 2)), 1, np.random.default_rng(0))
    >>> (g.rows.tolist(), g.cols.tolist(), g.n_random_fill)
    ([0], [1], 0)
    """
    spec = REGROWTH_RULES.get(rule)
    k = int(k)
    if k < 0:
        raise ConfigError(f"{name}: number of links to grow must be >= 0, got {k}")
    links = Links.of(links)
    rows, cols, (n_in, n_out) = links.rows, links.cols, links.shape
    r, c = spec.propose(rows, cols, n_in, n_out, k, rng, soft, grad, allowed_in, allowed_out, name)
    if not spec.scored:
        return Regrowth(np.asarray(r, np.int64), np.asarray(c, np.int64), 0)
    shortfall = k - r.size
    if shortfall > 0:
        fr, fc = random_missing_links(
            np.concatenate([rows, r]),
            np.concatenate([cols, c]),
            n_in,
            n_out,
            shortfall,
            rng,
            allowed_in,
            allowed_out,
            name,
        )
        r, c = np.concatenate([r, fr]), np.concatenate([c, fc])
    return Regrowth(r.astype(np.int64), c.astype(np.int64), max(shortfall, 0))
