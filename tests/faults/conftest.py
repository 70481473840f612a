"""Every test of the fault-injection suite runs on one torch thread, with no fault left armed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faults.faultlib import STUDIES, run
from prunelab.core import faults


@pytest.fixture(autouse=True)
def _one_thread_no_faults():
    # one thread: on a shared 2-core machine spinning threads are 10-50x slower; and no test may
    # leave a fault armed for the next one
    torch.set_num_threads(1)
    faults.configure(None)
    yield
    faults.configure(None)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """``reference(kind)``: the store an uninterrupted run of ``STUDIES[kind]`` wrote (made on first use)."""
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            torch.set_num_threads(1)
            made[kind] = tmp_path_factory.mktemp(f"ref-{kind}") / "runs"
            outcome = run(STUDIES[kind], made[kind])
            assert {r["status"] for r in outcome.results} == {"finished"}
        return made[kind]

    return get
