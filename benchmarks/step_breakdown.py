"""Where the time of one csr training step goes: each stage timed on its own, and the whole step.

Usage::

    python benchmarks/step_breakdown.py                     # 784-1000³-10 at 1% and 0.1%, batch 128
    python benchmarks/step_breakdown.py --threads 1 --density 0.01 --repeats 9

Each stage of a step of ``SparseMLP`` (csr backend, the fused training path) is replayed in
isolation on the tensors of a real step — the batch gather, the input transpose, the three
fused sparse forward kernels, the dense readout, the loss, the readout backward, the top
activation/bias backward, the three fused sparse backward kernels and the optimizer — and the
whole step by ``_common.fastest_step``. Every timing is the *fastest* single call out of
``--repeats`` interleaved rounds of ``--calls`` calls: on a shared machine most calls are
interrupted by other processes, and the fastest one is what the stage costs undisturbed.
"not in any stage" is the fastest step minus the fastest stages: autograd's bookkeeping,
Python and parameter-gradient accumulation.

Last line per density: the floor of a step, the whole step again with the sparse stack replaced
by a stand-in that does no arithmetic (zero output, zero gradients, the same autograd wiring):
what the gather, the dense readout, the loss, autograd and the optimizer cost without the
sparse layers, and so how much of a step the sparse stack is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fastest_step, load_fashion_mnist, machine_info, time_steps  # noqa: E402

from prunelab.nn import SparseMLP  # noqa: E402
from prunelab.nn.backends import _csr_kernels as kernels  # noqa: E402
from prunelab.nn.backends import _csr_stack  # noqa: E402
from prunelab.nn.backends._csr_stack import _NONE_1D, _NONE_2D, _sync_threads, _transposed  # noqa: E402

SIZES = [784, 1000, 1000, 1000, 10]


def stages(model: SparseMLP, x: torch.Tensor, y: torch.Tensor, batch: int) -> dict[str, callable]:
    """Closures replaying each stage of one training step of ``model`` (csr, dense readout)."""
    _sync_threads()
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:batch]
    xb = x.index_select(0, idx)
    sparse = model.sparse_layers()
    readout = model.layers[-1]
    indices = [layer.kernel.index() for layer in sparse]
    values = [layer.kernel.values.detach().numpy() for layer in sparse]
    biases = [layer.bias.detach().numpy() for layer in sparse]
    hs = [_transposed(xb)]
    for k, index in enumerate(indices):
        out = torch.empty(index.n_out, batch)
        kernels.spmm_forward(
            index.indptr_out,
            index.rows_out,
            index.perm_out,
            values[k],
            biases[k],
            hs[-1].numpy(),
            out.numpy(),
            _NONE_2D,
            True,
        )
        hs.append(out)
    w = readout.weight.detach()
    b = readout.bias.detach().unsqueeze(1)
    logits = torch.addmm(b, w, hs[-1]).t().contiguous().requires_grad_(True)
    loss = nn.functional.cross_entropy(logits, y[idx])
    loss.backward()
    g_logits_t = logits.grad.t()
    g_top = torch.mm(w.t(), g_logits_t)
    # The incoming gradient of the top layer; each lower layer's is the input gradient the layer
    # above wrote (gx[k + 1]), as in a real step. Never read uninitialised memory: it can hold
    # subnormal floats, which cost ~100x per operation on Intel cores.
    g_top_pre = torch.zeros(indices[-1].n_out, batch)
    gb = [torch.empty(index.n_out) for index in indices]
    gw = [torch.empty(index.cols.shape[0]) for index in indices]
    gx = [torch.empty(index.n_in, batch) for index in indices]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the replay does not change the model
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(xb), y[idx]).backward()

    def forward_layer(k):
        index = indices[k]
        return lambda: kernels.spmm_forward(
            index.indptr_out,
            index.rows_out,
            index.perm_out,
            values[k],
            biases[k],
            hs[k].numpy(),
            hs[k + 1].numpy(),
            _NONE_2D,
            True,
        )

    def backward_layer(k):
        index = indices[k]
        g = (g_top_pre if k == len(indices) - 1 else gx[k + 1]).numpy()
        gx_k = gx[k].numpy() if k > 0 else _NONE_2D
        gb_in = gb[k - 1].numpy() if k > 0 else _NONE_1D
        return lambda: kernels.spmm_backward(
            index.indptr_in,
            index.cols,
            values[k],
            hs[k].numpy(),
            g,
            gx_k,
            _NONE_2D,
            gw[k].numpy(),
            gb_in,
            k > 0,
            True,
            k > 0,
        )

    def loss_step():
        lg = logits.detach().requires_grad_(True)
        nn.functional.cross_entropy(lg, y[idx]).backward()

    out = {
        "batch gather (index_select of x and y)": lambda: (
            x.index_select(0, idx),
            y.index_select(0, idx),
        ),
        "input transpose (784 x 128)": lambda: _transposed(xb),
    }
    for k in range(len(indices)):
        out[f"sparse forward {k} (+bias, ReLU)"] = forward_layer(k)
    out["dense readout forward (addmm, logits transpose)"] = lambda: (
        torch.addmm(b, w, hs[-1]).t().contiguous()
    )
    out["loss forward + backward"] = loss_step
    out["dense readout backward (2 mm, bias sum)"] = lambda: (
        torch.mm(w.t(), g_logits_t),
        torch.mm(g_logits_t, hs[-1].t()),
        g_logits_t.sum(1),
    )
    top = len(indices) - 1
    out["top ReLU + bias backward"] = lambda: kernels.bias_act_backward(
        g_top.numpy(), hs[-1].numpy(), g_top_pre.numpy(), gb[top].numpy(), True
    )
    for k in range(len(indices) - 1, -1, -1):
        out[
            f"sparse backward {k} (+ReLU, bias grad of {k - 1})"
            if k
            else "sparse backward 0 (weights only)"
        ] = backward_layer(k)
    out["optimizer step (SGD)"] = opt.step
    return out


class _NoArithmeticStack(torch.autograd.Function):
    """Stand-in for ``SparseStack``: the same inputs and output shape, no arithmetic."""

    @staticmethod
    def forward(ctx, x, spec, *params):
        ctx.shapes = [None if p is None else p.shape for p in params]
        n = spec.indices[-1].n_out
        return torch.zeros(n, x.shape[0]) if spec.transposed_out else torch.zeros(x.shape[0], n)

    @staticmethod
    def backward(ctx, grad):
        return (None, None, *[None if s is None else torch.zeros(s) for s in ctx.shapes])


def floor_step(model: SparseMLP, x, y, calls: int, repeats: int, batch: int) -> float:
    """Seconds of the fastest step with the sparse stack replaced by :class:`_NoArithmeticStack`."""
    real = _csr_stack.SparseStack.apply
    _csr_stack.SparseStack.apply = _NoArithmeticStack.apply
    try:
        return min(fastest_step(model, x, y, calls, batch_size=batch) for _ in range(repeats))
    finally:
        _csr_stack.SparseStack.apply = real


def fastest_us(fn, calls: int) -> float:
    """Microseconds of the fastest of ``calls`` calls of ``fn``."""
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--density",
        type=float,
        action="append",
        help="density of the sparse layers (repeatable); default 0.01 and 0.001",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    densities = args.density or [0.01, 0.001]
    print(machine_info())
    x, y = load_fashion_mnist()
    results = {}
    for density in densities:
        model = SparseMLP(SIZES, density=density, seed=0, backend="csr")
        fns = stages(model, x, y, args.batch_size)
        time_steps(model, x, y, n_steps=20, batch_size=args.batch_size)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in fns}
        steps = []
        for _ in range(args.repeats):
            for name, fn in fns.items():
                fn()
                times[name].append(fastest_us(fn, args.calls))
            steps.append(fastest_step(model, x, y, args.calls, batch_size=args.batch_size) * 1e6)
        med = {name: min(t) for name, t in times.items()}
        step = min(steps)
        print(
            f"\ndensity {density:g}, batch {args.batch_size}, {torch.get_num_threads()} threads: "
            f"fastest whole step {step / 1e3:.3f} ms ({args.repeats} x {args.calls} calls)"
        )
        print("| stage | µs | share |")
        print("|---|---:|---:|")
        for name, t in med.items():
            print(f"| {name} | {t:.0f} | {t / step:.0%} |")
        rest = step - sum(med.values())
        print(
            f"| not in any stage (autograd, Python, gradient accumulation) | {rest:.0f} | {rest / step:.0%} |"
        )
        print(f"| **whole step** | **{step:.0f}** | 100% |")
        floor = floor_step(model, x, y, args.calls, args.repeats, args.batch_size) * 1e6
        print(
            f"floor: the same step with a no-arithmetic sparse stack takes {floor:.0f} µs, so the "
            f"sparse stack costs {step - floor:.0f} µs ({(step - floor) / step:.0%} of the step)"
        )
        results[density] = {"stages_us": med, "step_us": step, "floor_us": floor}
    return results


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
