"""Adversarial attacks on the inputs of a trained network: FGSM and PGD under L∞ and L2.

FGSM (Goodfellow et al. 2015, arXiv:1412.6572) moves every input one step of size ε along the
sign (L∞) or the direction (L2) of the gradient of its cross-entropy loss with respect to the
input; PGD (Madry et al. 2018, arXiv:1706.06083) takes ``steps`` such steps of size ``α``,
projecting back onto the ε-ball around the clean input after each, optionally from a uniformly
random start inside the ball. Inputs are in [0, 1] (pixel / 255) and ε is in those *pixel
units*; every adversarial input is clipped back to [0, 1].

The attacks run through ``torchattacks`` (a maintained attack library; the ``attacks`` extra)
when it is installed, and through the few lines of :func:`_pgd_prunelab` otherwise; both take
the same random numbers in the same order and perform the same float operations, so they give
the same adversarial inputs (tested). FGSM is PGD with one step of size ε and no random start.

The model is used as it is: ``model(x)`` with autograd (the csr backend's sparse kernels give
the input gradient); its parameters' ``requires_grad`` flags are switched off during an attack
(so no weight gradient is computed) and restored afterwards, and its train/eval mode is restored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError

#: L2 attacks divide by the gradient norm plus this, as torchattacks does (an all-zero gradient stays zero)
_EPS_FOR_DIVISION = 1e-10


@dataclass(frozen=True)
class Norm:
    """A threat model: the norm of the ε-ball around each clean input.

    Attributes
    ----------
    name : str
        ``"linf"`` or ``"l2"``.
    label : str
        For plots and messages (``"L∞"``, ``"L2"``).
    max_epsilon : callable
        ``n_features -> largest meaningful ε``: the radius of the ball that contains the whole
        input box [0, 1]^n (1 for L∞, sqrt(n) for L2); a larger ε is beyond the input range.
    random_start : callable
        ``(x (n, f), eps) -> start`` inside the ball, clipped to [0, 1] (global torch RNG).
    step : callable
        ``(x, adv, grad, eps, alpha) -> next adv``: ascent step, projection, clipping.
    """

    name: str
    label: str
    max_epsilon: Callable[[int], float]
    random_start: Callable[[torch.Tensor, float], torch.Tensor]
    step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]


def _linf_start(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.clamp(x + torch.empty_like(x).uniform_(-eps, eps), min=0, max=1).detach()


def _linf_step(
    x: torch.Tensor, adv: torch.Tensor, grad: torch.Tensor, eps: float, alpha: float
) -> torch.Tensor:
    adv = adv.detach() + alpha * grad.sign()
    delta = torch.clamp(adv - x, min=-eps, max=eps)
    return torch.clamp(x + delta, min=0, max=1).detach()


def _l2_start(x: torch.Tensor, eps: float) -> torch.Tensor:
    # a uniformly random direction and a uniform radius in [0, eps] (torchattacks' PGDL2 start)
    delta = torch.empty_like(x).normal_()
    n = delta.reshape(x.shape[0], -1).norm(p=2, dim=1).reshape(x.shape[0], 1)
    r = torch.zeros_like(n).uniform_(0, 1)
    delta *= r / n * eps
    return torch.clamp(x + delta, min=0, max=1).detach()


def _l2_step(
    x: torch.Tensor, adv: torch.Tensor, grad: torch.Tensor, eps: float, alpha: float
) -> torch.Tensor:
    n = x.shape[0]
    grad_norms = torch.norm(grad.reshape(n, -1), p=2, dim=1) + _EPS_FOR_DIVISION
    adv = adv.detach() + alpha * (grad / grad_norms.reshape(n, 1))
    delta = adv - x
    factor = torch.min(eps / torch.norm(delta.reshape(n, -1), p=2, dim=1), torch.ones(n))
    return torch.clamp(x + delta * factor.reshape(-1, 1), min=0, max=1).detach()


#: threat models by name
NORMS: Registry[Norm] = Registry("norm")
NORMS.register(
    "linf",
    Norm("linf", "L∞", lambda n: 1.0, _linf_start, _linf_step),
    help="max-norm ball: every pixel moves by at most ε",
)
NORMS.register(
    "l2",
    Norm("l2", "L2", lambda n: math.sqrt(n), _l2_start, _l2_step),
    help="Euclidean ball: the perturbation's L2 norm is at most ε",
)


@dataclass(frozen=True)
class AttackSettings:
    """How an attack searches the ε-ball.

    Attributes
    ----------
    norm : {"linf", "l2"}
        Threat model (:data:`NORMS`).
    steps : int
        Gradient steps (>= 1); FGSM is one step.
    step_size : float or None
        Step length as a fraction of ε (α = step_size · ε, pixel units); None: Madry et al.'s
        rule α = 2.5 ε / steps, which lets a walk reach the ball's boundary from anywhere.
    random_start : bool
        Start from a uniformly random point of the ball (PGD) instead of the clean input.
    """

    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None
    random_start: bool = True

    def __post_init__(self) -> None:
        NORMS.check(self.norm)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(
                f"steps must be an integer >= 1 (gradient steps of the attack), got {self.steps!r}"
            )
        if self.step_size is not None and not (
            math.isfinite(self.step_size) and self.step_size > 0
        ):
            raise ConfigError(
                f"step_size must be a positive fraction of ε (e.g. 0.25), got {self.step_size!r}"
            )

    def alpha(self, eps: float) -> float:
        """Step length in pixel units for ball radius ``eps``."""
        return (self.step_size if self.step_size is not None else 2.5 / self.steps) * eps

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (part of cache keys)."""
        return {
            "norm": self.norm,
            "steps": self.steps,
            "step_size": self.step_size,
            "random_start": self.random_start,
        }


def fgsm_settings(norm: str = "linf") -> AttackSettings:
    """FGSM as PGD: one step of length ε from the clean input."""
    return AttackSettings(norm=norm, steps=1, step_size=1.0, random_start=False)


def check_epsilon(eps: float, norm: str, n_features: int) -> float:
    """``eps`` as a float, or :class:`ConfigError` if negative or beyond the input range.

    Parameters
    ----------
    eps : float
        Ball radius in pixel units of [0, 1] inputs.
    norm : {"linf", "l2"}
    n_features : int
        Pixels per input (the L2 ball of radius sqrt(n_features) already holds the whole box).
    """
    spec = NORMS.get(norm)
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(
            f"ε must be a number in pixel units of [0, 1] inputs, got {eps!r}"
        ) from None
    limit = spec.max_epsilon(int(n_features))
    if not math.isfinite(value) or value < 0 or value > limit:
        raise ConfigError(
            f"ε={eps!r} is outside the input range of a {spec.label} attack on {n_features} pixels in [0, 1]: "
            f"use 0 <= ε <= {limit:g} (pixel units, e.g. 8/255 = {8 / 255:.4f})"
        )
    return value


def no_input_gradient_reason(model: nn.Module, x: torch.Tensor) -> str | None:
    """Why ``model`` gives no gradient of its output with respect to its input, or None.

    Runs ``model`` on the first two rows of ``x`` (n, features) with autograd on.
    """
    probe = x[:2].detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            out = model(probe)
    except RuntimeError as err:  # e.g. a module that writes into its input in place
        return f"its forward pass fails under autograd ({str(err).splitlines()[0]})"
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return "its output does not depend differentiably on the input (inference-only or detached)"
    return None


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Eval mode and no weight gradients during an attack; the model's flags come back after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    training = model.training
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        model.eval()
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(training)


def _pgd_prunelab(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    settings: AttackSettings,
) -> torch.Tensor:
    """prunelab's own PGD: the fallback when torchattacks is not installed (same operations)."""
    norm = NORMS.get(settings.norm)
    loss = nn.CrossEntropyLoss()
    adv = norm.random_start(x, eps) if settings.random_start else x.clone().detach()
    for _ in range(settings.steps):
        adv.requires_grad = True
        grad = torch.autograd.grad(loss(model(adv), y), adv)[0]
        adv = norm.step(x, adv, grad, eps, alpha)
    return adv


def _pgd_torchattacks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    settings: AttackSettings,
) -> torch.Tensor:
    """torchattacks' PGD / PGDL2 on a prunelab model.

    torchattacks' L2 attacks reshape norms to (N, 1, 1, 1), i.e. they assume image batches
    (N, C, H, W), while prunelab models take flat (N, features) inputs: the inputs go in as
    (N, 1, 1, features) and the model is wrapped in a module that flattens them again.
    """
    import torchattacks

    cls = torchattacks.PGD if settings.norm == "linf" else torchattacks.PGDL2
    attack = cls(
        _Flatten(model),
        eps=eps,
        alpha=alpha,
        steps=settings.steps,
        random_start=settings.random_start,
    )
    return attack(x.reshape(x.shape[0], 1, 1, x.shape[1]), y).reshape(x.shape).detach()


class _Flatten(nn.Module):
    """``model`` on flattened inputs: torchattacks' image-shaped batches back to (N, features)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))


def _torchattacks_available() -> bool:
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        return False
    return True


#: attack implementations by name; ``"auto"`` in :func:`attack` prefers torchattacks
ATTACK_ENGINES: Registry[Callable[..., torch.Tensor]] = Registry("attack engine")
ATTACK_ENGINES.register(
    "torchattacks", _pgd_torchattacks, help="torchattacks.PGD / PGDL2 (the attacks extra)"
)
ATTACK_ENGINES.register("prunelab", _pgd_prunelab, help="prunelab's own lines, the same operations")


def attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: AttackSettings | None = None,
    seed: int = 0,
    batch_size: int = 512,
    engine: str = "auto",
) -> torch.Tensor:
    """Adversarial versions of ``x`` against ``model`` (PGD; FGSM with :func:`fgsm_settings`).

    Parameters
    ----------
    model : nn.Module
        Maps (batch, features) float32 to logits (batch, classes) with autograd; not modified.
    x : Tensor (n, features) float32 in [0, 1]
        Clean inputs.
    y : Tensor (n,) int64
        True labels (the attack raises their cross-entropy).
    eps : float
        Ball radius in pixel units (see :func:`check_epsilon`); 0 returns a copy of ``x``.
    settings : AttackSettings, optional
        Norm, steps, step size, random start (default: PGD-10, L∞, α = 2.5 ε / 10, random start).
    seed : int
        Seeds the random start (through ``torch.manual_seed`` in a forked RNG: the caller's
        torch RNG state is untouched).
    batch_size : int
        Inputs attacked per forward/backward pass.
    engine : {"auto", "torchattacks", "prunelab"}

    Returns
    -------
    Tensor (n, features) float32
        In [0, 1] and within ε of ``x`` in the chosen norm.
    """
    settings = settings if settings is not None else AttackSettings()
    x = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)
    y = torch.as_tensor(y, dtype=torch.int64).reshape(-1)
    eps = check_epsilon(eps, settings.norm, x.shape[1])
    if float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise ConfigError(
            "attack inputs must be in [0, 1] (pixel / 255); rescale the data before attacking"
        )
    if eps == 0.0:
        return x.clone()
    name = (
        ("torchattacks" if _torchattacks_available() else "prunelab")
        if engine == "auto"
        else ATTACK_ENGINES.check(engine)
    )
    run = ATTACK_ENGINES.get(name)
    with _frozen(model):
        reason = no_input_gradient_reason(model, x)
        if reason is not None:
            raise ConfigError(
                f"cannot attack {type(model).__name__}: {reason}; attack a differentiable network "
                "and evaluate this one on its inputs (transfer_pgd), or use a corruption kind"
            )
        alpha = settings.alpha(eps)
        out = torch.empty_like(x)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            for start in range(0, x.shape[0], int(batch_size)):
                sl = slice(start, start + int(batch_size))
                out[sl] = run(model, x[sl], y[sl], eps, alpha, settings)
    return out


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy with respect to the inputs.

    Parameters
    ----------
    model : nn.Module
        Not modified (weight gradients are not computed).
    x : Tensor (n, features) float32
    y : Tensor (n,) int64

    Returns
    -------
    Tensor (n, features) float32
        Row ``i`` is d loss_i / d x_i in nats per pixel unit.
    """
    x = (
        torch.as_tensor(x, dtype=torch.float32)
        .reshape(len(x), -1)
        .detach()
        .clone()
        .requires_grad_(True)
    )
    with _frozen(model), torch.enable_grad():
        loss = nn.functional.cross_entropy(
            model(x), torch.as_tensor(y, dtype=torch.int64), reduction="sum"
        )
        return torch.autograd.grad(loss, x)[0]
