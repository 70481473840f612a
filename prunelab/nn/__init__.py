"""Sparse layers and models with swappable backends, the model families and the sparse-model protocol."""

from prunelab.nn.backends import BACKENDS, resolve_backend
from prunelab.nn.layer import SparseLinear
from prunelab.nn.mlp import SparseMLP
from prunelab.nn.protocol import SparseModel, sparse_layers

__all__ = [
    "SparseLinear",
    "SparseMLP",
    "SparseModel",
    "BACKENDS",
    "resolve_backend",
    "sparse_layers",
]
