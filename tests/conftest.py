"""Shared fixtures: small real data (scikit-learn digits) and a temporary runs directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture
def digits():
    from prunelab.data import load_dataset

    return load_dataset("digits")


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


DIGITS_CONFIG = {
    "data": {"name": "digits"},
    "model": {"sizes": [64, 128, 128, 10], "density": 0.1},
    "train": {"epochs": 5, "batch_size": 64, "lr": 0.05, "seed": 0},
}
