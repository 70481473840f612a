"""Optimizers and learning-rate schedules from a :class:`TrainConfig`."""

from __future__ import annotations

import math

import torch

from prunelab.training.config import TrainConfig


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Build the optimizer named by ``cfg.optimizer`` over ``params``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate used during ``epoch`` (1-based) under ``cfg.schedule``.

    Returns
    -------
    float
        ``lr`` for constant; ``lr * gamma ** ((epoch - 1) // step_size)`` for step;
        ``lr_min + (lr - lr_min) (1 + cos(pi (epoch - 1) / epochs)) / 2`` for cosine.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** ((epoch - 1) // cfg.step_size)
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / cfg.epochs))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
