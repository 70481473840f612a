"""Dominant spectral modes of one layer: sparse-aware singular values and the measures built on them.

A layer's weight matrix ``W`` (n_in, n_out) is given as its :class:`~prunelab.core.links.Links`
and the link weights, never as a dense array: :func:`layer_matrix` builds a scipy CSR matrix and
drops the rows and columns without links, which leaves the singular values unchanged (an empty
row or column only adds zero singular values) and makes a pruned layer smaller.

- :func:`singular_values`: all singular values (descending). The squared singular values are
  the eigenvalues of the Gram matrix of the shorter side, ``W Wᵀ`` or ``Wᵀ W``, formed sparse and
  diagonalised dense; at 1% density a 1000×1000 layer takes well under 0.5 s
  (``benchmarks/sufficiency.py``). Layers whose shorter side exceeds ``max_dense`` get only the
  top ``k`` values from ARPACK (``svds``) on the sparse matrix, so a 100k-unit layer is never
  densified.
- :func:`top_modes`: the top-``k`` singular triplets ``(U_k, s_k, V_k)``.
- :func:`effective_rank`, :func:`energy_modes`, :func:`null_edge`, :func:`subspace_overlap`,
  :func:`retained_share`: the measures of ``docs/definitions.md`` (section *Minimal structural
  sufficiency*).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from prunelab.core.links import Links
from prunelab.core.rng import Seed, as_generator
from prunelab.errors import ConfigError

#: shorter side (after dropping empty rows/columns) up to which the full spectrum is computed
MAX_DENSE = 4096
#: singular values below this fraction of the largest count as zero (numerical rank)
RANK_TOL = 1e-7


@dataclass(frozen=True)
class LayerMatrix:
    """A layer's weights with its empty rows and columns dropped.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array of shape (n_rows, n_cols), float64
        The weights of the rows (inputs) and columns (outputs) that have at least one link.
    rows : ndarray of shape (n_rows,), int64
        Input unit of each kept row.
    cols : ndarray of shape (n_cols,), int64
        Output unit of each kept column.
    shape : (int, int)
        ``(n_in, n_out)`` of the full layer.
    """

    matrix: sp.csr_array
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    @property
    def max_rank(self) -> int:
        """``min(n_rows, n_cols)``: an upper bound of the rank (0 for a layer without links)."""
        return int(min(self.matrix.shape)) if self.matrix.nnz else 0


def layer_matrix(links: Links, weights: Any) -> LayerMatrix:
    """The CSR weight matrix of a layer without its empty rows and columns.

    Parameters
    ----------
    links : Links
        The layer's topology (n_in, n_out).
    weights : array of shape (n_links,)
        Link weights in link order (weight units).

    Returns
    -------
    LayerMatrix
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (links.n_links,):
        raise ConfigError(f"expected {links.n_links} link weights, got shape {w.shape}")
    nz = w != 0.0
    rows_used = np.unique(links.rows[nz])
    cols_used = np.unique(links.cols[nz])
    r = np.searchsorted(rows_used, links.rows[nz])
    c = np.searchsorted(cols_used, links.cols[nz])
    m = sp.csr_array((w[nz], (r, c)), shape=(max(rows_used.size, 1), max(cols_used.size, 1)))
    m.sum_duplicates()
    return LayerMatrix(m, rows_used.astype(np.int64), cols_used.astype(np.int64), links.shape)


def singular_values(
    links: Links, weights: Any, k: int | None = None, max_dense: int = MAX_DENSE
) -> np.ndarray:
    """Singular values of a sparse layer, descending (weight units).

    Parameters
    ----------
    links : Links
    weights : array of shape (n_links,)
    k : int, optional
        Return only the top ``k`` (all by default, when the layer is small enough).
    max_dense : int
        Largest shorter side (after dropping empty rows/columns) for the full spectrum.

    Returns
    -------
    ndarray of shape (r,), float64
        ``r = min(n_in, n_out)`` values (zeros included) or ``min(k, r)`` with ``k``.

    Raises
    ------
    ConfigError
        When the full spectrum is asked of a layer whose shorter side exceeds ``max_dense``
        (pass ``k``), or ``k < 1``.
    """
    full = min(links.shape)
    if k is not None and int(k) < 1:
        raise ConfigError(f"k must be >= 1 singular values, got {k}")
    want = full if k is None else min(int(k), full)
    lm = layer_matrix(links, weights)
    if lm.matrix.nnz == 0:
        return np.zeros(want)
    m = lm.max_rank
    if k is not None and m > 256 and 3 * want < m:
        # a few leading values of a large layer: ARPACK on the sparse matrix beats any dense step
        s = _svds(lm.matrix, want, return_vectors=False)
    elif m <= max_dense:
        a = lm.matrix
        gram = (a @ a.T) if a.shape[0] <= a.shape[1] else (a.T @ a)
        ev = sla.eigvalsh(gram.toarray(), check_finite=False, driver="evd")
        s = np.sqrt(np.clip(ev[::-1], 0.0, None))
    else:
        if k is None:
            raise ConfigError(
                f"the layer's shorter side has {m} units (> {max_dense}); ask for the top k singular values"
            )
        s = _svds(lm.matrix, min(want, m - 1), return_vectors=False)
    out = np.zeros(want)
    out[: min(want, s.size)] = s[:want]
    return out


def _svds(a: sp.csr_array, k: int, return_vectors: bool, seed: int = 0):
    """ARPACK top-``k`` singular triplets of a sparse matrix, sorted descending; a fixed start
    vector keeps the result reproducible."""
    v0 = np.random.default_rng(seed).standard_normal(min(a.shape))
    if return_vectors:
        u, s, vt = svds(a, k=k, v0=v0, return_singular_vectors=True)
        order = np.argsort(-s)
        return u[:, order], s[order], vt[order].T
    # values only: relative accuracy 1e-9 is far below anything the measures resolve, and
    # ARPACK converges much faster on the gapless bulk of a large random-like layer
    s = svds(a, k=k, v0=v0, tol=1e-9, return_singular_vectors=False)
    return np.sort(s)[::-1]


@dataclass(frozen=True)
class Modes:
    """The top singular triplets of a layer, ``W ≈ U diag(s) Vᵀ``.

    Attributes
    ----------
    u : ndarray of shape (n_in, k), float64
        Left singular vectors (input side), orthonormal columns; zero rows for inputs without links.
    s : ndarray of shape (k,), float64
        Singular values, descending (weight units).
    v : ndarray of shape (n_out, k), float64
        Right singular vectors (output side).
    rank : int
        Numerical rank of the layer (values above ``RANK_TOL · s_max``), capped at ``k``.
    """

    u: np.ndarray
    s: np.ndarray
    v: np.ndarray
    rank: int


def top_modes(links: Links, weights: Any, k: int, max_dense: int = 512) -> Modes:
    """The top-``k`` singular triplets of a sparse layer.

    Parameters
    ----------
    links : Links
    weights : array of shape (n_links,)
    k : int
        Number of modes, ``1 <= k <= min(n_in, n_out)``.
    max_dense : int
        Up to this shorter side, or when ``k`` is more than a third of it, a dense SVD of the
        compressed matrix is used (exact and fast for small layers); otherwise ARPACK.

    Returns
    -------
    Modes
        Modes beyond the layer's rank (possible after pruning) have ``s = 0`` and zero vectors:
        a mode that pruning destroyed contributes nothing to an overlap.

    Raises
    ------
    ConfigError
        ``k`` outside ``1 .. min(n_in, n_out)``.
    """
    n_in, n_out = links.shape
    if not 1 <= int(k) <= min(n_in, n_out):
        raise ConfigError(
            f"k={k} modes, but a {n_in}x{n_out} layer has rank at most {min(n_in, n_out)}; lower spectral.k"
        )
    k = int(k)
    lm = layer_matrix(links, weights)
    u = np.zeros((n_in, k))
    v = np.zeros((n_out, k))
    s = np.zeros(k)
    m = lm.max_rank
    if m == 0:
        return Modes(u, s, v, 0)
    kk = min(k, m)
    if m <= max_dense or 3 * kk >= m:
        uu, ss, vt = np.linalg.svd(lm.matrix.toarray(), full_matrices=False)
        uu, ss, vv = uu[:, :kk], ss[:kk], vt[:kk].T
    else:
        uu, ss, vv = _svds(lm.matrix, kk, return_vectors=True)
    rank = int(np.sum(ss > RANK_TOL * max(ss[0], 1e-300)))
    u[lm.rows, :rank] = uu[:, :rank]
    v[lm.cols, :rank] = vv[:, :rank]
    s[:rank] = ss[:rank]
    return Modes(u, s, v, rank)


def effective_rank(s: Any) -> float:
    """Entropy effective rank ``exp(−Σ p_i log p_i)``, ``p_i = σ_i / Σ_j σ_j`` (Roy & Vetterli 2007).

    Parameters
    ----------
    s : array of shape (r,)
        Singular values (>= 0).

    Returns
    -------
    float
        In ``[1, r]`` (number of modes, dimensionless); 0 when every value is 0.
    """
    s = np.asarray(s, dtype=np.float64).ravel()
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def energy_modes(s: Any, fraction: float = 0.9, total_energy: float | None = None) -> int:
    """Fewest leading modes holding ``fraction`` of the squared singular values.

    Parameters
    ----------
    s : array of shape (r,)
        Singular values, descending.
    fraction : float
        In (0, 1].
    total_energy : float, optional
        ``Σ σ²`` of the whole spectrum (= the squared Frobenius norm, the sum of the squared link
        weights) when ``s`` holds only the top values.

    Returns
    -------
    int
        Number of modes; ``len(s) + 1`` when the given values do not reach the fraction (a
        truncated spectrum), 0 for an all-zero layer.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"energy fraction must be in (0, 1], got {fraction}")
    e = np.asarray(s, dtype=np.float64).ravel() ** 2
    total = float(e.sum()) if total_energy is None else float(total_energy)
    if total <= 0:
        return 0
    cum = np.cumsum(e)
    hit = np.flatnonzero(cum >= fraction * total * (1 - 1e-12))
    return int(hit[0]) + 1 if hit.size else e.size + 1


def null_edge(links: Links, weights: Any, n_draws: int = 3, seed: Seed = 0) -> float:
    """Largest singular value of the same mask with its weights permuted, averaged over draws.

    Parameters
    ----------
    links : Links
    weights : array of shape (n_links,)
    n_draws : int
        Independent permutations (>= 1).
    seed : int, sequence or Generator

    Returns
    -------
    float
        Weight units; the singular values of the layer above it are modes that a layer with the
        same links and the same weight values, but no structure in their placement, would not have.
    """
    if int(n_draws) < 1:
        raise ConfigError(f"null_draws must be >= 1, got {n_draws}")
    rng = as_generator(seed)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0:
        return 0.0
    tops = [singular_values(links, rng.permutation(w), k=1)[0] for _ in range(int(n_draws))]
    return float(np.mean(tops))


def subspace_overlap(a: Any, b: Any, k: int | None = None) -> float:
    """``‖A_kᵀ B_k‖²_F / k`` for two sets of orthonormal columns (1 identical, 0 orthogonal).

    Parameters
    ----------
    a, b : ndarray of shape (n, >= k)
        Orthonormal columns (singular vectors, leading first); zero columns count as absent modes.
    k : int, optional
        Leading columns compared (default: all columns of ``a``).

    Returns
    -------
    float
        In [0, 1], dimensionless: the mean squared cosine of the principal angles.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ConfigError(
            f"subspace_overlap needs two (n, k) arrays with the same n, got {a.shape} and {b.shape}"
        )
    k = a.shape[1] if k is None else int(k)
    if not 1 <= k <= min(a.shape[1], b.shape[1]):
        raise ConfigError(f"k={k} exceeds the columns given ({a.shape[1]}, {b.shape[1]})")
    m = a[:, :k].T @ b[:, :k]
    return float(np.sum(m * m) / k)


def retained_share(s_before: Any, s_after: Any, k: int) -> float:
    """``Σ_{i≤k} σ′_i / Σ_{i≤k} σ_i``: the share of the top-``k`` singular values that is kept.

    Parameters
    ----------
    s_before, s_after : array
        Singular values before and after (descending).
    k : int

    Returns
    -------
    float
        Dimensionless; 1 when the top of the spectrum is unchanged.
    """
    a = np.asarray(s_before, dtype=np.float64)[:k]
    b = np.asarray(s_after, dtype=np.float64)[:k]
    return float(b.sum() / a.sum()) if a.sum() > 0 else float("nan")


def layer_spectrum(
    links: Links,
    weights: Any,
    k: int,
    reference: Modes | None = None,
    null_draws: int = 3,
    seed: Seed = 0,
    max_dense: int = MAX_DENSE,
) -> dict[str, float]:
    """All spectral measures of one layer as a flat record.

    Parameters
    ----------
    links : Links
    weights : array of shape (n_links,)
    k : int
        Modes compared with ``reference`` and used by ``retained``.
    reference : Modes, optional
        The top-``k`` modes of the layer before pruning; adds ``overlap_u``, ``overlap_v``,
        ``overlap`` (their mean) and ``retained``.
    null_draws : int
        Permutations of :func:`null_edge`.
    seed : int, sequence or Generator
    max_dense : int
        As in :func:`singular_values`; larger layers report measures of the top values only
        (``truncated`` = 1).

    Returns
    -------
    dict
        ``sigma_max`` (weight units), ``effective_rank``, ``modes90``, ``null_edge`` (weight
        units), ``modes_above_null``, ``truncated`` (0/1), and the reference measures.
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    truncated = layer_matrix(links, w).max_rank > max_dense
    s = singular_values(links, w, k=max(4 * k, 64) if truncated else None, max_dense=max_dense)
    edge = null_edge(links, w, null_draws, seed)
    row = {
        "sigma_max": float(s[0]) if s.size else 0.0,
        "effective_rank": effective_rank(s),
        "modes90": float(energy_modes(s, 0.9, float(np.sum(w * w)))),
        "null_edge": edge,
        "modes_above_null": float(np.sum(s > edge)) if w.size else 0.0,
        "truncated": float(truncated),
    }
    if reference is not None:
        modes = top_modes(links, w, k)
        row["overlap_u"] = subspace_overlap(reference.u, modes.u, k)
        row["overlap_v"] = subspace_overlap(reference.v, modes.v, k)
        row["overlap"] = 0.5 * (row["overlap_u"] + row["overlap_v"])
        row["retained"] = retained_share(reference.s, s, k)
    return row


def network_spectrum(
    links: Sequence[Links],
    values: Sequence[Any],
    k: int,
    reference: Sequence[Modes] | None = None,
    null_draws: int = 3,
    seed: Seed = 0,
) -> dict[str, float]:
    """:func:`layer_spectrum` of every layer (keys ``spec/layerK/<measure>``) plus network summaries.

    Parameters
    ----------
    links : sequence of Links
        Each weight layer's topology, input side first.
    values : sequence of arrays
        Each layer's link weights.
    k : int
        Dominant modes per layer (validated against every layer's rank by the caller).
    reference : sequence of Modes, optional
        The layers' top-``k`` modes before pruning.
    null_draws : int
    seed : int, sequence or Generator

    Returns
    -------
    dict
        Per-layer records, and with a reference ``overlap_min`` / ``overlap_mean`` (the least and
        mean overlap over layers) and ``retained_min``.
    """
    rng = as_generator(seed)
    row: dict[str, float] = {}
    overlaps, retained = [], []
    for i, (lk, w) in enumerate(zip(links, values, strict=True)):
        ref = reference[i] if reference is not None else None
        rec = layer_spectrum(lk, w, k, ref, null_draws, rng)
        row.update({f"spec/layer{i}/{name}": v for name, v in rec.items()})
        if ref is not None:
            overlaps.append(rec["overlap"])
            retained.append(rec["retained"])
    if overlaps:
        row.update(
            overlap_min=float(min(overlaps)),
            overlap_mean=float(np.mean(overlaps)),
            retained_min=float(np.nanmin(retained)),
        )
    return row


def save_modes(path: Any, modes: Sequence[Modes]) -> None:
    """Write the top modes of every layer to an ``.npz`` file (``u0, s0, v0, rank0, u1, ...``)."""
    arrays = {}
    for i, m in enumerate(modes):
        arrays.update({f"u{i}": m.u, f"s{i}": m.s, f"v{i}": m.v, f"rank{i}": np.array(m.rank)})
    np.savez_compressed(path, **arrays)


def load_modes(path: Any) -> list[Modes]:
    """The modes written by :func:`save_modes`."""
    with np.load(path) as z:
        n = sum(1 for key in z.files if key.startswith("rank"))
        return [Modes(z[f"u{i}"], z[f"s{i}"], z[f"v{i}"], int(z[f"rank{i}"])) for i in range(n)]
