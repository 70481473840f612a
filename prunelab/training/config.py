"""Training hyperparameters, validated (pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from prunelab.training.optim import OPTIMIZERS, SCHEDULES


class TrainConfig(BaseModel):
    """How weights are learned.

    Attributes
    ----------
    epochs : int
        Passes over the training split.
    batch_size : int
        Samples per optimizer step.
    lr : float
        Learning rate (initial value for schedules).
    optimizer : str
        A name in :data:`prunelab.training.optim.OPTIMIZERS` (``"sgd"``, ``"adam"``, ``"adamw"``).
    momentum : float
        SGD momentum (ignored by Adam).
    nesterov : bool
        Nesterov momentum for SGD.
    weight_decay : float
        L2 penalty coefficient (decoupled for AdamW).
    betas : tuple of float
        Adam/AdamW moment coefficients.
    schedule : str
        A name in :data:`prunelab.training.optim.SCHEDULES`; learning-rate schedule over epochs: constant; multiply by ``gamma`` every ``step_size``
        epochs; cosine decay from ``lr`` to ``lr_min`` over ``epochs``.
    seed : int
        Seeds the model (topology and weights), data order and every random choice of the run.
    eval_batch_size : int
        Batch size for evaluation (memory only; does not change results).
    train_subset : int or None
        Use only the first ``train_subset`` training samples (after a seeded shuffle) — for quick
        studies; None uses all.
    device : str
        Torch device, e.g. "cpu" or "cuda".
    """

    model_config = ConfigDict(extra="forbid")

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 128
    lr: float = Field(0.01, gt=0)
    optimizer: OPTIMIZERS.field() = "sgd"  # type: ignore[valid-type]
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: SCHEDULES.field() = "constant"  # type: ignore[valid-type]
    step_size: PositiveInt = 30
    gamma: float = Field(0.1, gt=0)
    lr_min: float = Field(0.0, ge=0)
    seed: int = 0
    eval_batch_size: PositiveInt = 512
    train_subset: PositiveInt | None = None
    device: str = "cpu"
