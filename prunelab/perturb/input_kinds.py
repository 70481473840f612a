"""Input perturbation kinds: attacks and corruptions registered beside the five weight kinds.

They live in the same :data:`prunelab.perturb.kinds.KINDS` registry, so the robustness study,
its store cache and the report treat them like the weight kinds; their ``target`` is
``"inputs"``: :func:`prunelab.perturb.robustness_curve` perturbs the test inputs, not the links,
and evaluates the unchanged network on them.

==================== ============ =========================================================
kind                 strength     effect
==================== ============ =========================================================
``fgsm``             ε (L∞)       one signed-gradient step (Goodfellow et al. 2015)
``fgsm_l2``          ε (L2)       one normalised-gradient step
``pgd``              ε (L∞)       PGD (Madry et al. 2018); steps, step size, random start
``pgd_l2``           ε (L2)       PGD in the L2 ball
``transfer_pgd``     ε (L∞)       PGD crafted on a *source* network, evaluated on the target
``transfer_pgd_l2``  ε (L2)       the same in the L2 ball
``gaussian_noise``   σ            additive Gaussian noise (pixel units)
``blur``, ``contrast``, ``rotation``, ``shift``   severity in [0, 1] (:mod:`~prunelab.perturb.corruptions`)
==================== ============ =========================================================

ε is in pixel units of [0, 1] inputs: at most 1 for L∞, at most sqrt(n_features) for L2 (the
latter is checked once the data are known).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.perturb.corruptions import CORRUPTIONS, prepare_corruption
from prunelab.perturb.inputs import NORMS, AttackSettings, attack, check_epsilon, fgsm_settings
from prunelab.perturb.kinds import KINDS, PerturbationKind

#: prepared input perturbation: strength -> perturbed inputs (n, features) float32
InputApplier = Callable[[float], torch.Tensor]


def _acts_on_inputs(values: np.ndarray, rng: np.random.Generator):
    raise ConfigError(
        "this perturbation kind changes the inputs, not link weights; evaluate it with robustness_curve"
    )


@dataclass(frozen=True)
class InputKind(PerturbationKind):
    """A perturbation of the test inputs (``target="inputs"``).

    Attributes (besides :class:`PerturbationKind`'s)
    ------------------------------------------------
    attack : {"fgsm", "pgd", None}
        Gradient attack family, None for corruptions.
    norm : {"linf", "l2", None}
        Threat model of an attack.
    transfer : bool
        The adversarial inputs are crafted on a source network, not on the evaluated one.
    corruption : str or None
        Name in :data:`prunelab.perturb.corruptions.CORRUPTIONS`.
    """

    attack: str | None = None
    norm: str | None = None
    transfer: bool = False
    corruption: str | None = None

    @property
    def needs_gradients(self) -> bool:
        """White-box attacks need the evaluated network's input gradient."""
        return self.attack is not None and not self.transfer

    def settings(self, options: AttackSettings | None = None) -> AttackSettings | None:
        """The attack settings of this kind: FGSM is fixed; PGD takes ``options`` (norm from the kind)."""
        if self.attack is None:
            return None
        if self.attack == "fgsm":
            return fgsm_settings(self.norm or "linf")
        base = options if options is not None else AttackSettings()
        return AttackSettings(self.norm or "linf", base.steps, base.step_size, base.random_start)

    def is_random(self, options: AttackSettings | None = None) -> bool:
        """Whether draws differ (random starts, noise, signs); if not, one draw is computed."""
        if self.corruption is not None:
            return CORRUPTIONS.get(self.corruption).random
        return bool(self.settings(options).random_start)

    def check_input_strength(self, strength: float, n_features: int) -> float:
        """:meth:`check_strength`, plus the L2 input range once the number of pixels is known."""
        value = self.check_strength(strength)
        return check_epsilon(value, self.norm, n_features) if self.norm else value

    def prepare_inputs(
        self,
        model: nn.Module | None,
        x: torch.Tensor,
        y: torch.Tensor,
        rng: np.random.Generator,
        options: AttackSettings | None = None,
        image_shape: tuple[int, int] | None = None,
        batch_size: int = 512,
    ) -> InputApplier:
        """Draw the randomness once; return ``strength -> perturbed inputs`` (n, features).

        Parameters
        ----------
        model : nn.Module or None
            The network whose gradients an attack follows (the source of a transfer attack);
            unused by corruptions.
        x : Tensor (n, features) float32 in [0, 1]
        y : Tensor (n,) int64
        rng : numpy.random.Generator
            One seed for the attack's random start, or the corruption's random numbers.
        options : AttackSettings, optional
            Steps, step size and random start of PGD kinds.
        image_shape : (H, W), optional
            For corruptions (default: square images).
        batch_size : int
            Inputs per forward/backward pass of an attack.
        """
        if self.corruption is not None:
            return prepare_corruption(self.corruption, x, rng, image_shape)
        if model is None:
            raise ConfigError(
                f"{self.name} needs a network to take gradients of; pass a source network for transfer kinds"
            )
        settings = self.settings(options)
        seed = int(rng.integers(0, 2**62))
        return lambda eps: attack(model, x, y, eps, settings, seed=seed, batch_size=batch_size)


def _attack_kind(family: str, norm: str, transfer: bool) -> InputKind:
    label = NORMS.get(norm).label
    suffix = "" if norm == "linf" else f"_{norm}"
    name = ("transfer_" if transfer else "") + family + suffix
    high = 1.0 if norm == "linf" else math.inf  # L2: sqrt(n_features), checked with the data
    what = {
        "fgsm": "one gradient step of length ε (FGSM)",
        "pgd": "projected gradient descent in the ε-ball (PGD)",
    }[family]
    where = " crafted on a source network, evaluated on the target" if transfer else ""
    return InputKind(
        name,
        "epsilon",
        f"ε ({label}, pixel units)",
        0.0,
        high,
        False,
        f"{label} {what}{where}",
        _acts_on_inputs,
        "inputs",
        family,
        norm,
        transfer,
        None,
    )


def _corruption_kind(name: str) -> InputKind:
    spec = CORRUPTIONS.get(name)
    return InputKind(
        name,
        spec.strength_name,
        spec.strength_label,
        0.0,
        1.0,
        False,
        spec.description,
        _acts_on_inputs,
        "inputs",
        None,
        None,
        False,
        name,
    )


for _kind in (
    *(_attack_kind(f, n, False) for f in ("fgsm", "pgd") for n in NORMS.names()),
    *(_attack_kind("pgd", n, True) for n in NORMS.names()),
    *(_corruption_kind(c) for c in CORRUPTIONS.names()),
):
    KINDS.register(_kind.name, _kind, help=_kind.description)

#: the input kinds, in registration order
INPUT_KINDS = tuple(name for name, k in KINDS.items() if k.target == "inputs")
ATTACK_KINDS = tuple(name for name in INPUT_KINDS if KINDS.get(name).attack is not None)
CORRUPTION_KINDS = tuple(name for name in INPUT_KINDS if KINDS.get(name).corruption is not None)
