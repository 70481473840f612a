"""Registry of sparse-layer backends: name -> class.

``"masked"`` (dense weight x mask) works everywhere; ``"csr"`` (truly sparse CPU kernels, numba)
is the default on CPU. Adding a backend is one module plus one registration in :data:`BACKENDS`.
"""

from __future__ import annotations

import torch

from prunelab.core.registry import Registry
from prunelab.nn.backends.base import SparseBackend, StateRemap
from prunelab.nn.backends.csr import CSRBackend
from prunelab.nn.backends.masked import MaskedBackend

#: sparse-layer backends by name
BACKENDS: Registry[type[SparseBackend]] = Registry("backend")
BACKENDS.register(
    "masked", MaskedBackend, help="dense weight times a bool mask (GPUs, conv kernels)"
)
BACKENDS.register("csr", CSRBackend, help="link lists and sparse numba kernels (CPU)")


def resolve_backend(name: str | None, device: str | torch.device = "cpu") -> type[SparseBackend]:
    """Backend class for a name; ``None`` or ``"auto"`` picks csr on CPU and masked elsewhere (CUDA)."""
    if name in (None, "auto"):
        name = "csr" if torch.device(device).type == "cpu" else "masked"
    return BACKENDS.get(name)


__all__ = [
    "BACKENDS",
    "SparseBackend",
    "StateRemap",
    "MaskedBackend",
    "CSRBackend",
    "resolve_backend",
]
