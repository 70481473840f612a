"""Training engine: determinism, schedules, hooks, divergence, optimizers."""

from __future__ import annotations

import math

import pytest
import torch

from prunelab.nn import SparseMLP
from prunelab.training import Hook, TrainConfig, Trainer, learning_rate


def _model(seed=0):
    return SparseMLP([64, 64, 10], density=0.2, seed=seed, backend="masked")


def test_same_config_gives_identical_numbers(digits):
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, seed=3)
    a = Trainer(_model(3), digits, cfg).fit().history
    b = Trainer(_model(3), digits, cfg).fit().history
    for ha, hb in zip(a, b):
        for key in ("train_loss", "test_loss", "test_accuracy"):
            assert ha[key] == hb[key]


def test_eval_epochs_evaluates_only_there_and_does_not_change_training(digits):
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05, seed=3)
    every = Trainer(_model(3), digits, cfg).fit().history
    some = Trainer(_model(3), digits, cfg, eval_epochs=[2]).fit().history
    assert ["test_accuracy" in h for h in some] == [False, True, False]
    assert some[1]["test_accuracy"] == every[1]["test_accuracy"]  # same weights, same batches
    assert [h["train_loss"] for h in some] == [h["train_loss"] for h in every]


@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw"])
def test_optimizers_learn(digits, opt):
    lr = 0.05 if opt == "sgd" else 0.003
    res = Trainer(
        _model(), digits, TrainConfig(epochs=3, batch_size=64, lr=lr, optimizer=opt, nesterov=True)
    ).fit()
    assert res.status == "finished"
    assert res.history[-1]["test_accuracy"] > 0.6
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_learning_rate_schedules():
    cos = TrainConfig(epochs=10, lr=1.0, schedule="cosine")
    assert learning_rate(cos, 1) == pytest.approx(1.0)
    assert learning_rate(cos, 6) == pytest.approx(0.5)
    step = TrainConfig(epochs=10, lr=1.0, schedule="step", step_size=3, gamma=0.5)
    assert [learning_rate(step, e) for e in (1, 3, 4, 7)] == [1.0, 1.0, 0.5, 0.25]


def test_hooks_are_called_and_can_log(digits):
    class Counter(Hook):
        steps = 0
        epochs = []

        def on_step_end(self, ctx):
            Counter.steps += 1

        def on_epoch_end(self, ctx):
            Counter.epochs.append(ctx.epoch)
            x, y = ctx.sample_batch(16)
            assert x.shape == (16, 64) and y.shape == (16,)
            ctx.log("custom/metric", ctx.epoch * 10)

    res = Trainer(_model(), digits, TrainConfig(epochs=2, batch_size=100), hooks=[Counter()]).fit()
    n_train = len(digits.y_train)
    assert Counter.steps == 2 * math.ceil(n_train / 100)
    assert Counter.epochs == [1, 2]
    assert [h["custom/metric"] for h in res.history] == [10, 20]


def test_nan_loss_stops_with_diverged(digits):
    res = Trainer(_model(), digits, TrainConfig(epochs=3, lr=1e30, batch_size=64)).fit()
    assert res.status == "diverged"
    assert "epoch 1" in res.message and "lower train.lr" in res.message and "\n" not in res.message


def test_keyboard_interrupt_marks_interrupted(digits, tmp_path):
    class Stop(Hook):
        def on_epoch_end(self, ctx):
            if ctx.epoch == 2:
                raise KeyboardInterrupt

    ckpt = tmp_path / "c.pt"
    res = Trainer(
        _model(), digits, TrainConfig(epochs=4), hooks=[Stop()], checkpoint_path=ckpt
    ).fit()
    assert res.status == "interrupted"
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1
