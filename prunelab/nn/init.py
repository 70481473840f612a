"""Initial values of links.

Conventions (Sulyok et al. 2026 and the CHT family):

- ``"kaiming"``: N(0, 2 / f_in) with ``f_in`` the *dense* fan-in (number of inputs of the layer);
  the source paper's choice and prunelab's default.
- ``"swi"``: CHT's sparse weight initialisation N(0, 2 / (density * f_in)), which keeps the
  activation variance constant through sparse layers.
- ``"zeros"``: all zero (RigL's rule for regrown links).
- ``"torch"``: PyTorch's ``nn.Linear`` default U(−1/√f_in, 1/√f_in) (std 1/√(3 f_in)), what
  code that never sets an init gets (used to calibrate the pruning game, whose costs scale with ‖θ‖²).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from prunelab.core.registry import Registry

#: link initialisations by name: ``std(fan_in, density) -> standard deviation`` (weight units)
WEIGHT_INITS: Registry[Callable[[int, float], float]] = Registry("weight init")
WEIGHT_INITS.register(
    "kaiming", lambda fan_in, density: math.sqrt(2.0 / fan_in), help="N(0, 2/f_in), dense fan-in"
)
WEIGHT_INITS.register(
    "swi",
    lambda fan_in, density: math.sqrt(2.0 / (max(density, 1e-12) * fan_in)),
    help="CHT's sparse init N(0, 2/(density f_in))",
)
WEIGHT_INITS.register("zeros", lambda fan_in, density: 0.0, help="all zero (RigL's regrown links)")
WEIGHT_INITS.register(
    "torch",
    lambda fan_in, density: 1.0 / math.sqrt(3.0 * fan_in),
    help="PyTorch's nn.Linear default U(-1/sqrt(f_in), 1/sqrt(f_in))",
)


def link_init_std(kind: str, fan_in: int, density: float) -> float:
    """Standard deviation (weight units) of the initial value of a link for an init rule.

    Parameters
    ----------
    kind : str
        A name in :data:`WEIGHT_INITS` (``"kaiming"``, ``"swi"``, ``"zeros"``, ``"torch"``).
    fan_in : int
        Dense fan-in of the layer (its number of inputs).
    density : float
        Current density of the layer in (0, 1] (used by ``"swi"``).
    """
    return float(WEIGHT_INITS.get(kind)(fan_in, density))


def init_link_values(
    kind: str, n: int, fan_in: int, density: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw initial values for ``n`` links.

    Returns
    -------
    Tensor of shape (n,), float32
    """
    std = link_init_std(kind, fan_in, density)
    if std == 0.0:
        return torch.zeros(n)
    if kind == "torch":  # uniform with that std, as nn.Linear draws it
        return (torch.rand(n, generator=generator) * 2.0 - 1.0) / math.sqrt(fan_in)
    return torch.randn(n, generator=generator) * std
