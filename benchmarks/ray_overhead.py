"""Wall time of a 40-run digits sweep on a local 2-CPU Ray instance vs the local pool of 2 workers.

Usage::

    python benchmarks/ray_overhead.py                 # 40 runs of configs/digits.yaml (5 epochs)
    python benchmarks/ray_overhead.py --runs 10 --epochs 2

Both executors run the same sweep (10 learning rates x 4 seeds by default) into fresh stores,
through :func:`prunelab.studies.run_study`, as ``prunelab run --workers 2`` and ``prunelab run
--executor ray --workers 2`` do. The Ray wall time includes starting the instance. Per item the
benchmark records when the driver submitted it and when its result arrived; the *scheduling
overhead* of an item is that latency minus the seconds the item ran in its worker (shipping the
item and the result, Ray's scheduling, storing the journal). Items of the first wave also wait
for Ray to start its worker processes; that start-up is printed apart.

Requirements: Ray / local pool wall-time ratio <= 1.3; overhead per item <= 0.5 s
(median over the items after the first wave). Prints PASS/FAIL for each. Every item gets one CPU,
one torch thread and one numba thread in both executors (``NUMBA_NUM_THREADS=1`` unless set).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# one numba thread per item in both executors (each item has one CPU): the local pool's workers
# would otherwise start a thread per core each, and the ratio would measure oversubscription
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from prunelab.experiments import Store  # noqa: E402
from prunelab.experiments.executors import LocalPoolExecutor  # noqa: E402
from prunelab.experiments.ray_executor import RayExecutor  # noqa: E402
from prunelab.studies import parse_study, run_study  # noqa: E402

RATIO_MAX, OVERHEAD_MAX = 1.3, 0.5


def sweep(runs: int, epochs: int) -> dict:
    """configs/digits.yaml as a sweep of ``runs`` runs: learning rates x 4 seeds."""
    cfg = yaml.safe_load((ROOT / "configs" / "digits.yaml").read_text())
    seeds = [0, 1, 2, 3] if runs >= 4 else [0]
    n_lr = max(1, runs // len(seeds))
    cfg["name"] = "ray-overhead"
    cfg["train"]["epochs"] = epochs
    cfg["sweep"] = {
        "grid": {"train.lr": [round(0.02 + 0.01 * k, 3) for k in range(n_lr)]},
        "seeds": seeds,
    }
    return cfg


class TimedRay(RayExecutor):
    """The Ray executor, recording per item when it was submitted and when its result arrived."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.submitted: dict[str, float] = {}
        self.latency: list[tuple[str, float, float]] = []  # run id, driver seconds, worker seconds

    def map_unordered(self, fn, payloads, on_event=None):
        def stamped():
            for p in payloads:
                self.submitted[p[3]["run_id"]] = time.perf_counter()
                yield p

        for out in super().map_unordered(fn, stamped(), on_event):
            if isinstance(out, dict) and "seconds" in out:
                self.latency.append(
                    (
                        out["run_id"],
                        time.perf_counter() - self.submitted[out["run_id"]],
                        out["seconds"],
                    )
                )
            yield out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs in the sweep (multiple of 4)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run")
    parser.add_argument("--workers", type=int, default=2, help="local pool workers = Ray CPUs")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    study = parse_study(sweep(args.runs, args.epochs))
    n = len(study.runs())
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        # one short run first, so that neither executor pays for compiling the sparse kernels
        warm = sweep(1, 1)
        warm.pop("sweep")
        run_study(parse_study(warm), Store(Path(tmp) / "warm-up"))
        t0 = time.perf_counter()
        local = run_study(study, Store(Path(tmp) / "local"), LocalPoolExecutor(args.workers))
        t_local = time.perf_counter() - t0

        t0 = time.perf_counter()
        ray = TimedRay(workers=args.workers)
        ray.connect()
        t_start = time.perf_counter() - t0
        remote = run_study(study, Store(Path(tmp) / "ray"), ray)
        t_ray = time.perf_counter() - t0
        ray.close()
    bad = [r for r in local.bad + remote.bad]
    order = sorted(ray.latency, key=lambda x: ray.submitted[x[0]])
    wave = args.workers
    steady = [lat - work for _, lat, work in order[wave:]] or [lat - work for _, lat, work in order]
    first = [lat - work for _, lat, work in order[:wave]]
    out = {
        "runs": n,
        "epochs": args.epochs,
        "workers": args.workers,
        "local_pool_s": round(t_local, 2),
        "ray_s": round(t_ray, 2),
        "ray_start_s": round(t_start, 2),
        "ratio": round(t_ray / t_local, 3),
        "overhead_median_s": round(statistics.median(steady), 3),
        "overhead_mean_s": round(statistics.mean(steady), 3),
        "first_wave_overhead_s": round(max(first), 2) if first else None,
        "item_seconds_median": round(statistics.median(w for _, _, w in order), 2),
        "failed": len(bad),
    }
    print(f"{n} digits runs x {args.epochs} epochs, {args.workers} workers / CPUs")
    print(f"  local pool            {t_local:8.1f} s")
    print(f"  ray (local instance)  {t_ray:8.1f} s   (of which starting Ray {t_start:.1f} s)")
    print(
        f"  ratio ray / pool      {out['ratio']:8.3f}   (<= {RATIO_MAX}: {'PASS' if out['ratio'] <= RATIO_MAX else 'FAIL'})"
    )
    print(
        f"  overhead per item     {out['overhead_median_s']:8.3f} s median, {out['overhead_mean_s']:.3f} s mean "
        f"(<= {OVERHEAD_MAX}: {'PASS' if out['overhead_median_s'] <= OVERHEAD_MAX else 'FAIL'}); "
        f"item {out['item_seconds_median']} s in its worker; first wave waited {out['first_wave_overhead_s']} s"
    )
    if bad:
        print(f"  {len(bad)} runs did not finish: {bad[0]['message']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
