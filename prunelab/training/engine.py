"""The training engine: epochs of minibatch training, evaluation, hooks, checkpoints.

Training produces artefacts (weights, masks, per-epoch metrics); it never prints. Progress is
reported through an optional callback so that the CLI can draw progress bars.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from prunelab.core.evaluation import Evaluation
from prunelab.core.faults import fault_point
from prunelab.nn.protocol import sparse_layers
from prunelab.training.checkpoints import atomic_torch_save, load_checkpoint
from prunelab.training.config import TrainConfig
from prunelab.training.optim import learning_rate, make_optimizer, set_learning_rate


class ArrayData(Protocol):
    """Anything with train/test arrays: ``x_*`` (n, features) float32, ``y_*`` (n,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class TrainContext:
    """What a hook sees after a step or an epoch.

    Attributes
    ----------
    model : nn.Module
    optimizer : torch.optim.Optimizer
    epoch : int
        1-based epoch; in ``on_epoch_end`` the epoch just finished.
    step : int
        Optimizer steps taken so far in the run.
    loss_fn : callable
        ``loss_fn(logits (batch, C), y (batch,)) -> scalar loss``.
    rng : numpy.random.Generator
        Seeded randomness for hooks; its state is checkpointed.
    device : torch.device
    epochs : int or None
        Epochs the run will train in total (hooks use it to skip work after the last epoch).
    loss : float
        Loss of the last minibatch (nats per sample).
    x_test, y_test : Tensor, optional
        The test split (features float32 (n, features), labels int64 (n,)), for hooks that
        evaluate a derived network at the end of training (e.g. a hard-pruned one).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int
    step: int
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    rng: np.random.Generator
    device: torch.device
    x_train: torch.Tensor
    y_train: torch.Tensor
    batch_size: int
    epochs: int | None = None
    loss: float = float("nan")
    logged: dict[str, float] = field(default_factory=dict)
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    def sample_batch(self, batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A random training batch ``(x (b, features), y (b,))`` drawn with ``self.rng``."""
        b = min(batch_size or self.batch_size, len(self.y_train))
        idx = torch.as_tensor(self.rng.choice(len(self.y_train), size=b, replace=False))
        return (
            self.x_train.index_select(0, idx).to(self.device),
            self.y_train.index_select(0, idx).to(self.device),
        )

    rebuild: Callable[[], torch.optim.Optimizer] | None = None

    def log(self, name: str, value: float) -> None:
        """Record a per-epoch metric ``name`` (stored with the epoch's other metrics)."""
        self.logged[name] = float(value)

    def rebuild_optimizer(self) -> torch.optim.Optimizer:
        """Build a fresh optimizer over the model's current parameters (after a hook replaced some)."""
        if self.rebuild is None:
            raise RuntimeError("this training context cannot rebuild its optimizer")
        self.optimizer = self.rebuild()
        return self.optimizer


class Hook:
    """Called by the engine; subclass and override what you need.

    Events, in order: ``on_fit_start`` (at the start of every :meth:`Trainer.fit` call, fresh or
    resumed), ``on_train_start`` (once, before the first step of a run that starts from
    scratch; not on resume), ``on_step_end`` (after every optimizer step), ``on_epoch_end``
    (after every epoch's evaluation).

    A hook with state that must survive a resume implements ``state_dict()`` and
    ``load_state_dict(state)``; the engine checkpoints it.
    """

    def on_fit_start(self, ctx: TrainContext) -> None:  # noqa: B027 - optional override
        """At the start of every ``fit`` call, after any checkpoint was loaded.

        For hooks that attach something to the model that is not part of its state (forward
        hooks, e.g. participation gates): a resumed run must attach it again before its first step.
        """

    def on_train_start(self, ctx: TrainContext) -> None:  # noqa: B027 - optional override
        """Before the first training step of a fresh run (e.g. pruning at initialisation).

        ``ctx.epoch`` and ``ctx.step`` are 0; ``ctx.sample_batch()`` gives training batches.
        A hook that changes the model's parameters here (their number or identity) must call
        ``ctx.rebuild_optimizer()`` so the optimizer follows.
        """

    def on_step_end(self, ctx: TrainContext) -> None:  # noqa: B027 - optional override
        """After every optimizer step."""

    def on_epoch_end(self, ctx: TrainContext) -> None:  # noqa: B027 - optional override
        """After every epoch's training and evaluation; metrics logged here belong to that epoch."""


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`.

    Attributes
    ----------
    status : {"finished", "diverged", "interrupted"}
    history : list of dict
        One dict of metrics per epoch run in this call (``epoch`` included).
    message : str
        One line explaining a non-finished status.
    """

    status: str
    history: list[dict[str, float]]
    message: str = ""


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000
) -> Evaluation:
    """Mean cross-entropy (nats) and accuracy (fraction) of ``model`` on ``(x, y)``.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, features) float32 to logits (batch, C).
    x : Tensor of shape (n, features), float32
    y : Tensor of shape (n,), int64
    batch_size : int
        Samples per forward pass (memory only).

    Returns
    -------
    Evaluation
        ``(loss, accuracy)`` with named fields.
    """
    model.eval()
    total_loss, correct = 0.0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(y), batch_size):
            xb, yb = (
                x[start : start + batch_size].to(device),
                y[start : start + batch_size].to(device),
            )
            logits = model(xb)
            total_loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    model.train()
    n = max(len(y), 1)
    return Evaluation(total_loss / n, correct / n)


class Trainer:
    """Train ``model`` on ``data`` with ``cfg``; resumable from a checkpoint file.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, features) float32 to logits (batch, C).
    data : ArrayData
        Train and test arrays.
    cfg : TrainConfig
    hooks : sequence of Hook
    checkpoint_path : path, optional
        Written atomically after every epoch (model, optimizer, RNG and hook states); the previous
        epoch's checkpoint is kept next to it (:func:`~prunelab.training.checkpoints.previous_path`).
    on_epoch : callable, optional
        ``on_epoch(epoch, metrics)`` after each epoch's metrics are known (e.g. to store them).
    on_step : callable, optional
        ``on_step(epoch, step_in_epoch, steps_per_epoch)`` for progress display.
    eval_epochs : collection of int, optional
        Epochs (1-based) after which the test split is evaluated; default every epoch. The
        metrics of the other epochs have no ``test_loss``/``test_accuracy`` (a study that reads
        the test accuracy only at a few budgets saves a forward pass of the test split per epoch).
    """

    def __init__(
        self,
        model: nn.Module,
        data: ArrayData,
        cfg: TrainConfig,
        hooks: Sequence[Hook] = (),
        checkpoint_path: str | Path | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
        on_step: Callable[[int, int, int], None] | None = None,
        eval_epochs: Collection[int] | None = None,
    ) -> None:
        self.cfg = cfg
        self.eval_epochs = None if eval_epochs is None else frozenset(int(e) for e in eval_epochs)
        self.device = torch.device(cfg.device)
        self.model = model.to(self.device)
        self.hooks = list(hooks)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.on_epoch, self.on_step = on_epoch, on_step
        x_train = torch.as_tensor(np.asarray(data.x_train, dtype=np.float32))
        y_train = torch.as_tensor(np.asarray(data.y_train, dtype=np.int64))
        if cfg.train_subset is not None and cfg.train_subset < len(y_train):
            pick = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(cfg.seed))[
                : cfg.train_subset
            ]
            x_train, y_train = x_train[pick], y_train[pick]
        self.x_train, self.y_train = x_train.reshape(len(y_train), -1), y_train
        self.x_test = torch.as_tensor(np.asarray(data.x_test, dtype=np.float32)).reshape(
            len(data.y_test), -1
        )
        self.y_test = torch.as_tensor(np.asarray(data.y_test, dtype=np.int64))
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.epoch = 0  # epochs completed
        self.step = 0
        self.loss_fn = nn.functional.cross_entropy
        self._started = False  # on_train_start has run (or the run was resumed)
        #: what :meth:`resume_if_possible` had to do beyond loading the newest checkpoint ("" if nothing)
        self.resume_note = ""

    # --- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly where it stopped."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "hooks": [h.state_dict() if hasattr(h, "state_dict") else None for h in self.hooks],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (topology included)."""
        self.model.load_state_dict(state["model"])
        # parameters may have been resized by the topology load: rebuild the optimizer on them
        self.optimizer = make_optimizer(self.model.parameters(), self.cfg)
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        for hook, hs in zip(self.hooks, state.get("hooks", [])):
            if hs is not None and hasattr(hook, "load_state_dict"):
                hook.load_state_dict(hs)
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._started = True

    def resume_if_possible(
        self, accept: Callable[[dict[str, Any]], str | None] | None = None
    ) -> bool:
        """Load the newest usable checkpoint, if any; True if one was loaded.

        A checkpoint that does not load (truncated, corrupt) or does not fit falls back to the
        previous one; when neither is usable the trainer is left as built (the run starts from
        epoch 0). :attr:`resume_note` says what happened in one line ("" when the newest loaded).

        Parameters
        ----------
        accept : callable, optional
            ``accept(state)`` returns a reason to reject a loaded checkpoint (e.g. it is ahead of
            the metrics stored for the run), or None to use it.

        Raises
        ------
        UnsafeFileError
            A checkpoint needs arbitrary unpickling; it is refused.
        """
        self.resume_note = ""
        if not self.checkpoint_path:
            return False
        initial: dict[str, Any] | None = None

        def apply(state: Any) -> None:
            nonlocal initial
            if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
                raise ValueError("not a training checkpoint")
            reason = accept(state) if accept is not None else None
            if reason:
                raise ValueError(reason)
            if initial is None:
                initial = copy.deepcopy(self.state_dict())
            try:
                self.load_state_dict(state)
            except Exception:
                # a state that half-loaded must not leak into the fallback or the fresh start
                self.load_state_dict(initial)
                self.epoch, self.step, self._started = 0, 0, False
                raise

        state, self.resume_note = load_checkpoint(self.checkpoint_path, apply)
        return state is not None

    # --- training ----------------------------------------------------------------------------
    def _context(self) -> TrainContext:
        return TrainContext(
            model=self.model,
            optimizer=self.optimizer,
            epoch=self.epoch,
            step=self.step,
            loss_fn=self.loss_fn,
            rng=self.rng,
            device=self.device,
            x_train=self.x_train,
            y_train=self.y_train,
            batch_size=self.cfg.batch_size,
            epochs=self.cfg.epochs,
            rebuild=self._rebuild_optimizer,
            x_test=self.x_test,
            y_test=self.y_test,
        )

    def _rebuild_optimizer(self) -> torch.optim.Optimizer:
        self.optimizer = make_optimizer(self.model.parameters(), self.cfg)
        return self.optimizer

    def fit(self) -> TrainResult:
        """Train until ``cfg.epochs`` epochs are complete (continuing a resumed run).

        Returns a :class:`TrainResult`; a non-finite loss ends the run with status
        ``"diverged"``, Ctrl-C with ``"interrupted"`` (the last completed epoch is checkpointed).
        """
        history: list[dict[str, float]] = []
        try:
            ctx = self._context()
            for hook in self.hooks:
                hook.on_fit_start(ctx)
            if self.epoch == 0 and self.step == 0 and not self._started:
                ctx = self._context()
                for hook in self.hooks:
                    hook.on_train_start(ctx)
                self._started = True
            while self.epoch < self.cfg.epochs:
                metrics, message = self._run_epoch()
                if message:
                    return TrainResult("diverged", history, message)
                history.append(metrics)
        except KeyboardInterrupt:
            return TrainResult(
                "interrupted",
                history,
                f"interrupted during epoch {self.epoch + 1}; rerun to resume",
            )
        return TrainResult("finished", history)

    def _run_epoch(self) -> tuple[dict[str, float], str]:
        epoch = self.epoch + 1
        started = time.perf_counter()
        lr = learning_rate(self.cfg, epoch)
        set_learning_rate(self.optimizer, lr)
        # data order depends only on (seed, epoch), so a resumed run sees the same batches
        order = torch.randperm(
            len(self.y_train),
            generator=torch.Generator().manual_seed(self.cfg.seed * 100003 + epoch),
        )
        n_steps = math.ceil(len(order) / self.cfg.batch_size)
        ctx = self._context()
        ctx.epoch = epoch
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for k in range(n_steps):
            idx = order[k * self.cfg.batch_size : (k + 1) * self.cfg.batch_size]
            # index_select, not x[idx]: advanced indexing took 65-120 us for a 128 x 784
            # batch on the 2-core development machine, index_select 12-25 us
            xb = self.x_train.index_select(0, idx).to(self.device)
            yb = self.y_train.index_select(0, idx).to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(xb)
            loss = self.loss_fn(logits, yb)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                return {}, (
                    f"loss became {loss_value} at epoch {epoch}, step {k + 1}; "
                    "lower train.lr or check the data scaling"
                )
            loss.backward()
            self.optimizer.step()
            self.step += 1
            loss_sum += loss_value * len(yb)
            correct += int((logits.detach().argmax(1) == yb).sum())
            seen += len(yb)
            ctx.step, ctx.loss, ctx.optimizer = self.step, loss_value, self.optimizer
            for hook in self.hooks:
                hook.on_step_end(ctx)
            if self.on_step:
                self.on_step(epoch, k + 1, n_steps)
        train_seconds = time.perf_counter() - started
        fault_point("epoch.trained")
        # evaluate the weights just trained, before hooks change the topology (the convention of
        # SET/CHT: an epoch's accuracy is that of the network it trained)
        tested: dict[str, float] = {}
        if self.eval_epochs is None or epoch in self.eval_epochs:
            tested["test_loss"], tested["test_accuracy"] = evaluate(
                self.model, self.x_test, self.y_test, self.cfg.eval_batch_size
            )
        for hook in self.hooks:
            hook.on_epoch_end(ctx)
        metrics = {
            "epoch": float(epoch),
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            **tested,
            "lr": lr,
            "epoch_seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
        }
        metrics.update(layer_metrics(self.model))
        metrics.update(ctx.logged)
        self.epoch = epoch
        if self.on_epoch:
            self.on_epoch(epoch, metrics)
        fault_point("metrics.done")
        if self.checkpoint_path:
            atomic_torch_save(self.state_dict(), self.checkpoint_path)
        fault_point("epoch.end")
        return metrics, ""


def layer_metrics(model: nn.Module) -> dict[str, float]:
    """``links/<layer>`` (count) and ``density/<layer>`` (fraction) of each sparse layer."""
    out: dict[str, float] = {}
    for name, layer in sparse_layers(model):
        out[f"links/{name}"] = float(layer.n_links)
        out[f"density/{name}"] = float(layer.density)
    return out
