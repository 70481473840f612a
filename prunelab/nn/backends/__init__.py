"""Registry of sparse-layer backends: name -> class.

``"masked"`` (dense weight x mask) works everywhere; ``"csr"`` (truly sparse CPU kernels) is the
default on CPU once registered. Adding a backend is one module plus one line in :data:`BACKENDS`.
"""

from __future__ import annotations

import torch

from prunelab.errors import ConfigError
from prunelab.nn.backends.base import SparseBackend, StateRemap
from prunelab.nn.backends.masked import MaskedBackend

BACKENDS: dict[str, type[SparseBackend]] = {"masked": MaskedBackend}

try:  # the csr backend needs numba; the masked backend works without it
    from prunelab.nn.backends.csr import CSRBackend

    BACKENDS["csr"] = CSRBackend
except ImportError:  # pragma: no cover - exercised only without numba
    pass


def resolve_backend(name: str | None, device: str | torch.device = "cpu") -> type[SparseBackend]:
    """Backend class for a name; ``None`` or ``"auto"`` picks csr on CPU and masked on CUDA."""
    if name in (None, "auto"):
        is_cpu = torch.device(device).type == "cpu"
        name = "csr" if is_cpu and "csr" in BACKENDS else "masked"
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(sorted(BACKENDS))} or 'auto'")
    return BACKENDS[name]


__all__ = ["BACKENDS", "SparseBackend", "StateRemap", "MaskedBackend", "resolve_backend"]
