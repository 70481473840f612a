"""Training engine: :class:`Trainer`, hooks (:class:`Hook`, :class:`TrainContext`), configs."""

from prunelab.core.evaluation import Evaluation
from prunelab.training.config import TrainConfig
from prunelab.training.engine import (
    Hook,
    TrainContext,
    Trainer,
    TrainResult,
    atomic_torch_save,
    evaluate,
    layer_metrics,
)
from prunelab.training.optim import learning_rate, make_optimizer

__all__ = [
    "Evaluation",
    "Hook",
    "Trainer",
    "TrainContext",
    "TrainResult",
    "TrainConfig",
    "evaluate",
    "atomic_torch_save",
    "layer_metrics",
    "learning_rate",
    "make_optimizer",
]
