"""Determinism: the same config gives bit-identical numbers with 1 and 2 threads and in any process.

A resumed run continues in another process than the one that started it; its numbers can only
equal an uninterrupted run's if no kernel depends on the thread count or on where the operands
happen to sit in memory (Intel MKL picks code paths by alignment unless its conditional numerical
reproducibility is strict, which importing prunelab arranges).
"""

from __future__ import annotations

import os

import pytest
import torch

from faults.faultlib import PHASE, TRAIN, assert_same_store, run


def _misaligned(t: torch.Tensor, offset: int) -> torch.Tensor:
    """A copy of ``t`` whose data starts ``offset`` floats into a fresh buffer."""
    buf = torch.empty(t.numel() + offset)
    out = buf[offset:].view(t.shape)
    out.copy_(t)
    return out


def test_dense_products_do_not_depend_on_memory_alignment():
    assert os.environ.get("MKL_CBWR") == "AUTO,STRICT"
    gen = torch.Generator().manual_seed(0)
    for m, k, n in [(64, 24, 10), (128, 1000, 10), (64, 128, 10)]:
        x, w, b = (
            torch.randn(m, k, generator=gen),
            torch.randn(n, k, generator=gen),
            torch.randn(n, generator=gen),
        )
        want = torch.nn.functional.linear(x, w, b)
        for offset in range(1, 8):
            got = torch.nn.functional.linear(_misaligned(x, offset), _misaligned(w, offset + 3), b)
            assert torch.equal(got, want), (m, k, n, offset)


@pytest.mark.parametrize("kind", ["train", pytest.param("phase", marks=pytest.mark.slow)])
def test_one_and_two_threads_give_identical_numbers(kind, tmp_path):
    raw = {"train": TRAIN, "phase": PHASE}[kind]
    torch.set_num_threads(1)
    run(raw, tmp_path / "one")
    torch.set_num_threads(2)
    try:
        run(raw, tmp_path / "two")
    finally:
        torch.set_num_threads(1)
    assert_same_store(tmp_path / "two", tmp_path / "one")
