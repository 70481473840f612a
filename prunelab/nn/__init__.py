"""Sparse layers and models (:class:`SparseLinear`, :class:`SparseMLP`) with swappable backends."""

from prunelab.nn.backends import BACKENDS, resolve_backend
from prunelab.nn.layer import SparseLinear
from prunelab.nn.mlp import SparseMLP

__all__ = ["SparseLinear", "SparseMLP", "BACKENDS", "resolve_backend"]
