"""The topology of one layer as a value: :class:`Links`.

A layer with ``n_in`` inputs and ``n_out`` outputs is a bipartite graph. Its links are listed as
two aligned integer arrays, ``rows`` (input unit) and ``cols`` (output unit); the *linear index*
of link ``(i, j)`` is ``i * n_out + j``. Every analysis module (graph measures, link prediction,
dynamic sparse training, pruning, graphon estimation) accepts a :class:`Links`, and converts to
the representation it needs (a bool mask, a scipy CSR matrix) through the methods here, so there
is one way to go from a layer to each representation.

Examples
--------
>>> import numpy as np
>>> links = Links.from_mask(np.array([[True, False], [True, True]]))
>>> links.rows.tolist(), links.cols.tolist(), links.shape
([0, 1, 1], [0, 0, 1], (2, 2))
>>> links.in_degree().tolist(), links.out_degree().tolist()
([2, 1], [1, 2])
>>> int(links.to_mask().sum())
3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from prunelab.errors import ConfigError


def _has_duplicates(linear: np.ndarray) -> bool:
    """Whether int64 ``linear`` (n,) repeats a value: one O(n) pass for sorted input (a layer's
    row-major link order), else :func:`sorted_unique`. Not ``np.unique``: numpy 2 hashes there,
    0.16 s for 1.8M links against 5 ms for the pass on sorted links."""
    if (np.diff(linear) > 0).all():
        return False
    return sorted_unique(linear).size != linear.size


@dataclass(frozen=True, eq=False)
class Links:
    """Links of one layer: input unit and output unit of each link, and the layer's shape.

    Attributes
    ----------
    rows : ndarray of shape (n_links,), int64
        Input unit of each link, in ``[0, n_in)``.
    cols : ndarray of shape (n_links,), int64
        Output unit of each link, in ``[0, n_out)``.
    shape : (int, int)
        ``(n_in, n_out)``.

    Notes
    -----
    The order of the links is the order they were given in (a layer's *link order*, row-major
    for prunelab's layers); per-link vectors such as weights or scores align with it. Duplicate
    links are rejected.
    """

    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        rows = np.ascontiguousarray(np.asarray(self.rows, dtype=np.int64).ravel())
        cols = np.ascontiguousarray(np.asarray(self.cols, dtype=np.int64).ravel())
        n_in, n_out = (int(s) for s in self.shape)
        if n_in < 1 or n_out < 1:
            raise ConfigError(f"layer shape must be at least 1x1, got {n_in}x{n_out}")
        if rows.shape != cols.shape:
            raise ConfigError(
                f"rows and cols must have the same length, got {rows.size} and {cols.size}"
            )
        if rows.size and (
            rows.min() < 0 or rows.max() >= n_in or cols.min() < 0 or cols.max() >= n_out
        ):
            raise ConfigError(f"link index out of range for a {n_in}x{n_out} layer")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)
        object.__setattr__(self, "shape", (n_in, n_out))
        if rows.size > 1 and _has_duplicates(self.linear()):
            raise ConfigError("duplicate links; each (input, output) pair may appear once")

    # --- constructors ------------------------------------------------------------------------
    @classmethod
    def trusted(cls, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Links:
        """Links from arrays already known to be valid (in range, no duplicates), without re-checking.

        For code that derives links from a valid :class:`Links` or a layer (whose topology is
        always valid); the O(n log n) duplicate check would dominate a DST update otherwise.
        """
        obj = object.__new__(cls)
        object.__setattr__(obj, "rows", np.ascontiguousarray(rows, dtype=np.int64))
        object.__setattr__(obj, "cols", np.ascontiguousarray(cols, dtype=np.int64))
        object.__setattr__(obj, "shape", (int(shape[0]), int(shape[1])))
        return obj

    @classmethod
    def from_mask(cls, mask: Any) -> Links:
        """Links of a bool (or 0/1) mask of shape (n_in, n_out), in row-major order.

        Accepts numpy arrays, torch tensors and scipy.sparse matrices; a weight matrix is
        accepted too (non-zero entries are links).
        """
        if sp.issparse(mask):
            coo = sp.coo_array(mask)
            keep = coo.data != 0
            order = np.lexsort((coo.col[keep], coo.row[keep]))
            return cls(
                coo.row[keep][order], coo.col[keep][order], coo.shape
            )  # may hold duplicates: checked
        if type(mask).__module__.startswith("torch"):
            mask = mask.detach().cpu().numpy()
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise ConfigError(f"a layer mask must be 2-D (n_in, n_out), got shape {arr.shape}")
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
            raise ConfigError(f"a layer mask must be bool or numeric, got dtype {arr.dtype}")
        rows, cols = np.nonzero(arr)
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ConfigError(
                f"layer shape must be at least 1x1, got {arr.shape[0]}x{arr.shape[1]}"
            )
        return cls.trusted(rows, cols, arr.shape)

    @classmethod
    def from_linear(cls, linear: np.ndarray, shape: tuple[int, int]) -> Links:
        """Links from linear indices ``i * n_out + j``."""
        linear = np.asarray(linear, dtype=np.int64)
        return cls(linear // int(shape[1]), linear % int(shape[1]), shape)

    @classmethod
    def of(cls, layer_or_mask: Any) -> Links:
        """Coerce a :class:`Links`, a layer with ``links()`` / ``link_index()``, or a mask."""
        if isinstance(layer_or_mask, Links):
            return layer_or_mask
        links = getattr(layer_or_mask, "links", None)
        if callable(links):
            return links()
        index = getattr(layer_or_mask, "link_index", None)
        if callable(index):
            rows, cols = index()
            return cls(_numpy(rows), _numpy(cols), (layer_or_mask.n_in, layer_or_mask.n_out))
        return cls.from_mask(layer_or_mask)

    # --- reading -----------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        """Number of input units."""
        return self.shape[0]

    @property
    def n_out(self) -> int:
        """Number of output units."""
        return self.shape[1]

    @property
    def n_links(self) -> int:
        """Number of links."""
        return int(self.rows.size)

    @property
    def n_possible(self) -> int:
        """``n_in * n_out``, the links of the complete layer."""
        return self.shape[0] * self.shape[1]

    @property
    def density(self) -> float:
        """Fraction of possible links present, in [0, 1]."""
        return self.n_links / self.n_possible

    def linear(self) -> np.ndarray:
        """Linear index ``i * n_out + j`` of each link, int64 (n_links,), link order."""
        return self.rows * self.shape[1] + self.cols

    def in_degree(self) -> np.ndarray:
        """Links into each output unit, int64 (n_out,)."""
        return np.bincount(self.cols, minlength=self.shape[1])

    def out_degree(self) -> np.ndarray:
        """Links out of each input unit, int64 (n_in,)."""
        return np.bincount(self.rows, minlength=self.shape[0])

    # --- conversions -------------------------------------------------------------------------
    def to_mask(self) -> np.ndarray:
        """Bool mask of shape (n_in, n_out) (allocates the dense shape)."""
        mask = np.zeros(self.shape, dtype=bool)
        mask[self.rows, self.cols] = True
        return mask

    def to_csr(self, values: np.ndarray | None = None, dtype: Any = bool) -> sp.csr_array:
        """scipy CSR array (n_in, n_out) with sorted indices: ``values`` at the links (default True)."""
        data = np.ones(self.n_links, dtype=dtype) if values is None else np.asarray(values)
        if data.shape != (self.n_links,):
            raise ConfigError(f"expected {self.n_links} link values, got shape {data.shape}")
        out = sp.csr_array((data, (self.rows, self.cols)), shape=self.shape)
        out.sort_indices()
        return out

    def sorted(self) -> Links:
        """The same links in row-major order (by input unit, then output unit)."""
        order = np.argsort(self.linear(), kind="stable")
        return Links.trusted(self.rows[order], self.cols[order], self.shape)

    def subset(self, keep: np.ndarray) -> Links:
        """The links where the bool ``keep`` (n_links,) is True, in link order."""
        keep = np.asarray(keep)
        if keep.dtype != bool or keep.shape != (self.n_links,):
            raise ConfigError(
                f"keep must be a bool array of shape ({self.n_links},), got {keep.dtype} {keep.shape}"
            )
        return Links.trusted(self.rows[keep], self.cols[keep], self.shape)

    def transpose(self) -> Links:
        """The layer seen from the other side: (n_out, n_in), rows and cols swapped."""
        return Links.trusted(self.cols, self.rows, (self.shape[1], self.shape[0]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Links):
            return NotImplemented
        return self.shape == other.shape and np.array_equal(
            np.sort(self.linear()), np.sort(other.linear())
        )

    def __hash__(self) -> int:  # value semantics: equal link sets hash equal
        return hash((self.shape, np.sort(self.linear()).tobytes()))

    def __repr__(self) -> str:
        return f"Links({self.n_links} links, shape={self.shape}, density={self.density:.4g})"


def _numpy(a: Any) -> np.ndarray:
    if type(a).__module__.startswith("torch"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` for a 1-D integer array, by one sort and a neighbour test.

    Parameters
    ----------
    a : ndarray of shape (n,), integer dtype

    Returns
    -------
    ndarray of shape (m,), same dtype
        The distinct values of ``a`` in increasing order (a new array).

    Notes
    -----
    numpy 2's ``np.unique`` of integers goes through a hash table and then sorts; for the link
    lists of a topology update (tens of thousands of indices, mostly distinct) one sort is about
    three times faster, which matters in a per-epoch update whose target is a few milliseconds.

    >>> sorted_unique(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    out = np.sort(np.asarray(a))
    if out.size > 1:
        distinct = np.empty(out.size, dtype=bool)
        distinct[0] = True
        np.not_equal(out[1:], out[:-1], out=distinct[1:])
        if not distinct.all():
            out = out[distinct]
    return out


def in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` when ``sorted_set`` is sorted increasingly (duplicates allowed).

    Parameters
    ----------
    values : ndarray of shape (n,), integer dtype
    sorted_set : ndarray of shape (m,), same kind, sorted increasingly

    Returns
    -------
    ndarray of shape (n,), bool
        Whether each value occurs in ``sorted_set``.

    Notes
    -----
    A binary search per value, O(n log m) with no temporary of size n + m and no hashing;
    ``np.isin`` would sort or hash both arrays again although one is kept sorted here.

    >>> in_sorted(np.array([5, 2, 9]), np.array([1, 2, 5])).tolist()
    [True, True, False]
    """
    values = np.asarray(values)
    if sorted_set.size == 0 or values.size == 0:
        return np.zeros(values.shape, dtype=bool)
    pos = np.searchsorted(sorted_set, values)
    np.minimum(pos, sorted_set.size - 1, out=pos)
    return sorted_set[pos] == values
