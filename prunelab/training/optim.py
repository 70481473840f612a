"""Optimizers and learning-rate schedules by name (:data:`OPTIMIZERS`, :data:`SCHEDULES`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from prunelab.core.registry import Registry

#: optimizers by name: ``factory(params, cfg) -> torch.optim.Optimizer``
OPTIMIZERS: Registry[Callable[[Iterable[Any], Any], torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register(
    "sgd",
    lambda params, cfg: torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
    ),
    help="SGD with momentum (torch.optim.SGD)",
)
OPTIMIZERS.register(
    "adam",
    lambda params, cfg: torch.optim.Adam(
        params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    ),
    help="torch.optim.Adam (L2 weight decay)",
)
OPTIMIZERS.register(
    "adamw",
    lambda params, cfg: torch.optim.AdamW(
        params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    ),
    help="torch.optim.AdamW (decoupled weight decay)",
)

#: learning-rate schedules by name: ``lr(cfg, epoch) -> learning rate during that (1-based) epoch``
SCHEDULES: Registry[Callable[[Any, int], float]] = Registry("learning-rate schedule")
SCHEDULES.register("constant", lambda cfg, epoch: cfg.lr, help="lr")
SCHEDULES.register(
    "step",
    lambda cfg, epoch: cfg.lr * cfg.gamma ** ((epoch - 1) // cfg.step_size),
    help="lr * gamma ** ((epoch - 1) // step_size)",
)
SCHEDULES.register(
    "cosine",
    lambda cfg, epoch: (
        cfg.lr_min
        + (cfg.lr - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / cfg.epochs))
    ),
    help="lr_min + (lr - lr_min) (1 + cos(pi (epoch - 1) / epochs)) / 2",
)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    """Build the optimizer named by ``cfg.optimizer`` (a :class:`TrainConfig`) over ``params``."""
    return OPTIMIZERS.get(cfg.optimizer)(params, cfg)


def learning_rate(cfg, epoch: int) -> float:
    """Learning rate used during ``epoch`` (1-based) under ``cfg.schedule``.

    Returns
    -------
    float
        ``lr`` for constant; ``lr * gamma ** ((epoch - 1) // step_size)`` for step;
        ``lr_min + (lr - lr_min) (1 + cos(pi (epoch - 1) / epochs)) / 2`` for cosine.
    """
    return float(SCHEDULES.get(cfg.schedule)(cfg, epoch))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
