"""How csr and masked training time scale with width and with density; where do they cross?

Usage::

    python benchmarks/scaling.py                     # full sweep (several minutes)
    python benchmarks/scaling.py --quick             # fewer points and steps
    python benchmarks/scaling.py --out-dir docs --steps 20 --repeats 3

Network 784-W-W-W-10 (three sparse layers, dense readout), ReLU, batch 128, SGD, Fashion-MNIST
batches. Each point times ``--steps`` training steps per repetition (csr and masked interleaved,
best of ``--repeats``) and extrapolates to a 60k-sample epoch (469 steps).

1. Width sweep, W = 1000 ... 20000 at a fixed mean degree (``--mean-degree`` links per unit,
   density = mean_degree / W): csr should grow linearly in W, masked quadratically. masked is
   skipped above ``--masked-max-width`` (a 20000 x 20000 dense layer is 1.6 GB and ~100 GFLOP
   per step).
2. Density sweep at W = 1000, density 0.1% ... 50%: the crossover density is where csr stops
   being faster than masked (log-linear interpolation between the bracketing points).

Writes ``benchmarks_scaling.png`` (both panels) and ``benchmarks_scaling.md`` (tables) to ``--out-dir`` and prints
the tables.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_model, load_fashion_mnist, machine_info, time_steps  # noqa: E402

STEPS_PER_EPOCH = math.ceil(60_000 / 128)


def time_point(kinds, sizes, density, x, y, steps, repeats) -> dict[str, float]:
    """Best seconds per epoch (extrapolated) for each kind at one network configuration."""
    models = {k: benchmark_model(k, sizes, density, seed=0) for k in kinds}
    for model in models.values():
        time_steps(model, x, y, n_steps=2)  # warm-up
    best = {k: math.inf for k in kinds}
    for rep in range(repeats):
        for k in kinds:
            wall, _ = time_steps(models[k], x, y, n_steps=steps, seed=rep)
            best[k] = min(best[k], wall * STEPS_PER_EPOCH)
    return best


def crossover(densities: list[float], csr: list[float], masked: list[float]) -> float | None:
    """First density where csr time >= masked time, interpolated in log(density); None if none."""
    ratio = [math.log(c / m) for c, m in zip(csr, masked)]
    for k in range(1, len(densities)):
        if ratio[k - 1] < 0 <= ratio[k]:
            a, b = math.log(densities[k - 1]), math.log(densities[k])
            t = -ratio[k - 1] / (ratio[k] - ratio[k - 1])
            return math.exp(a + t * (b - a))
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and steps")
    parser.add_argument(
        "--steps", type=int, default=20, help="timed steps per point and repetition"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--mean-degree", type=float, default=10.0, help="links per unit in the width sweep"
    )
    parser.add_argument("--masked-max-width", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = [1000, 2000, 5000, 10000, 20000]
    densities = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    if args.quick:
        widths, densities = [1000, 3000, 10000], [0.001, 0.01, 0.05, 0.2, 0.5]
        args.steps, args.repeats = min(args.steps, 8), min(args.repeats, 2)
    print(machine_info())
    x, y = load_fashion_mnist()

    width_rows = []
    for w in widths:
        kinds = ["csr"] + (["masked"] if w <= args.masked_max_width else [])
        best = time_point(
            kinds, [784, w, w, w, 10], args.mean_degree / w, x, y, args.steps, args.repeats
        )
        width_rows.append((w, best.get("csr"), best.get("masked")))
        print(f"  width {w}: " + ", ".join(f"{k} {v:.2f} s/epoch" for k, v in best.items()))
    density_rows = []
    for d in densities:
        best = time_point(
            ["csr", "masked"], [784, 1000, 1000, 1000, 10], d, x, y, args.steps, args.repeats
        )
        density_rows.append((d, best["csr"], best["masked"]))
        print(f"  density {d:g}: " + ", ".join(f"{k} {v:.2f} s/epoch" for k, v in best.items()))
    cross = crossover(
        [r[0] for r in density_rows], [r[1] for r in density_rows], [r[2] for r in density_rows]
    )

    def fmt(v):
        return "—" if v is None else f"{v:.2f}"

    lines = [
        f"Measured on: {machine_info()}",
        "",
        f"Seconds per 60k-sample epoch (extrapolated from {args.steps} steps, best of {args.repeats}), "
        f"784-W-W-W-10, batch 128, SGD.",
        "",
        f"**Width sweep** (mean degree {args.mean_degree:g}, density = {args.mean_degree:g}/W):",
        "",
        "| width W | density | csr s/epoch | masked s/epoch | masked / csr |",
        "|---:|---:|---:|---:|---:|",
    ]
    for w, c, m in width_rows:
        lines.append(
            f"| {w} | {args.mean_degree / w:.2%} | {fmt(c)} | {fmt(m)} | {fmt(m / c if m else None)} |"
        )
    lines += [
        "",
        "**Density sweep** (W = 1000):",
        "",
        "| density | csr s/epoch | masked s/epoch | masked / csr |",
        "|---:|---:|---:|---:|",
    ]
    for d, c, m in density_rows:
        lines.append(f"| {d:.1%} | {c:.2f} | {m:.2f} | {m / c:.2f} |")
    lines += [
        "",
        "Crossover density (csr no longer faster): "
        + (
            f"{cross:.1%}"
            if cross
            else f"none in {densities[0]:.1%}–{densities[-1]:.0%} (csr faster throughout)"
            if all(c < m for _, c, m in density_rows)
            else "csr slower throughout"
        ),
    ]
    table = "\n".join(lines)
    print()
    print(table)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "benchmarks_scaling.md").write_text(table + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot([r[0] for r in width_rows], [r[1] for r in width_rows], "o-", label="csr")
    mw = [r for r in width_rows if r[2] is not None]
    ax1.plot([r[0] for r in mw], [r[2] for r in mw], "s-", label="masked")
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="width W",
        ylabel="s / epoch",
        title=f"fixed mean degree {args.mean_degree:g}",
    )
    ax2.plot([r[0] for r in density_rows], [r[1] for r in density_rows], "o-", label="csr")
    ax2.plot([r[0] for r in density_rows], [r[2] for r in density_rows], "s-", label="masked")
    if cross:
        ax2.axvline(cross, color="grey", ls="--", label=f"crossover {cross:.1%}")
    ax2.set(xscale="log", yscale="log", xlabel="density", ylabel="s / epoch", title="width 1000")
    for ax in (ax1, ax2):
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out_dir / "benchmarks_scaling.png", dpi=120)
    print(
        f"wrote {args.out_dir / 'benchmarks_scaling.png'} and {args.out_dir / 'benchmarks_scaling.md'}"
    )


if __name__ == "__main__":
    main()
