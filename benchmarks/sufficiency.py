"""Time the spectral measures of the sufficiency study on sparse layers.

Usage::

    python benchmarks/sufficiency.py [--repeats 7] [--width 1000] [--density 0.01]

Prints the best and median seconds for: all singular values of a ``width × width`` layer at
``density`` (target <= 0.5 s for 1000 × 1000 at 1%), its top-10 modes, the null edge (3
permutations), the mode-preserving scores, and the top-10 singular values of a 100k × 100k layer
at 10 links per unit (never densified). The machine is shared: the best of several repeats is the
figure to compare, the median shows the contention.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from prunelab.core.links import Links
from prunelab.sufficiency.modes import mode_scores
from prunelab.sufficiency.spectral import null_edge, singular_values, top_modes

TARGET_SECONDS = 0.5


def random_layer(n_in: int, n_out: int, density: float, seed: int = 0) -> tuple[Links, np.ndarray]:
    """A uniformly random layer with ``round(density · n_in · n_out)`` links and N(0, 1) weights."""
    rng = np.random.default_rng(seed)
    n = int(round(density * n_in * n_out))
    lin = np.sort(rng.choice(n_in * n_out, size=n, replace=False))
    return Links.from_linear(lin, (n_in, n_out)), rng.standard_normal(n)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) wall seconds of ``fn`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    """Time every measure and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--density", type=float, default=0.01)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} "
        "(shared; best of the repeats is the comparable figure)"
    )
    links, w = random_layer(args.width, args.width, args.density)
    rows = [
        (
            f"all singular values, {args.width}x{args.width} at {args.density:g}",
            lambda: singular_values(links, w),
        ),
        ("top-10 modes (vectors)", lambda: top_modes(links, w, 10)),
        ("null edge, 3 permutations", lambda: null_edge(links, w, 3, seed=0)),
        ("mode-preserving scores, k=10", lambda: mode_scores(links, w, 10)),
    ]
    big, wb = random_layer(100_000, 100_000, 1e-4, seed=1)
    rows.append(
        (
            "top-10 singular values, 100000x100000 at 1e-4 (sparse only)",
            lambda: singular_values(big, wb, k=10),
        )
    )
    for label, fn in rows:
        best, med = timed(fn, args.repeats if "100000" not in label else max(2, args.repeats // 3))
        print(f"{label:<62} best {best:7.3f} s   median {med:7.3f} s")
        if label.startswith("all singular values"):
            verdict = "met" if best <= TARGET_SECONDS else "NOT met"
            print(f"{'':<62} target <= {TARGET_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
