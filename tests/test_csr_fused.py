"""The fused csr training path of SparseMLP (one autograd function for the sparse stack).

Every test compares against the masked backend (a dense weight times a mask, plain torch ops)
to 1e-5 relative to the largest entry, or checks bit-for-bit determinism.
"""

from __future__ import annotations

import subprocess
import sys

import numba
import numpy as np
import pytest
import torch

from prunelab.nn import SparseMLP

RTOL = 1e-5


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    actual, expected = actual.detach(), expected.detach()
    scale = float(expected.abs().max()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=RTOL * max(scale, 1e-6))


def twin_models(sizes, density=0.2, seed=1, **kwargs):
    """A csr and a masked SparseMLP with identical topology, weights and random biases."""
    csr = SparseMLP(sizes, density=density, seed=seed, backend="csr", **kwargs)
    masked = SparseMLP(sizes, density=density, seed=seed, backend="masked", **kwargs)
    gen = torch.Generator().manual_seed(seed)
    for a, b in zip(csr.sparse_layers(), masked.sparse_layers()):
        if a.bias is not None:
            bias = torch.randn(a.n_out, generator=gen)
            with torch.no_grad():
                a.bias.copy_(bias)
                b.bias.copy_(bias)
    return csr, masked


def grads_of(model: SparseMLP) -> list[torch.Tensor | None]:
    out = []
    for layer in model.layers:
        if hasattr(layer, "link_grad"):
            out += [layer.link_grad(), None if layer.bias is None else layer.bias.grad]
        else:
            out += [layer.weight.grad, None if layer.bias is None else layer.bias.grad]
    return out


def run(model, x, upstream):
    model.zero_grad(set_to_none=True)
    xi = x.clone().requires_grad_(True)
    out = model(xi)
    out.backward(upstream)
    return out.detach(), xi.grad, grads_of(model)


@pytest.mark.parametrize("sparse_readout", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 7, 128, 301])
def test_fused_forward_and_all_gradients_match_masked(sparse_readout, bias, batch):
    csr, masked = twin_models([30, 40, 25, 4], sparse_readout=sparse_readout, bias=bias)
    assert csr._fused_prefix(torch.zeros(1, 30)) == (3 if sparse_readout else 2)
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 30, generator=gen)
    upstream = torch.randn(batch, 4, generator=gen)
    out_c, gx_c, grads_c = run(csr, x, upstream)
    out_m, gx_m, grads_m = run(masked, x, upstream)
    assert out_c.shape == (batch, 4) and out_c.is_contiguous()
    close(out_c, out_m)
    close(gx_c, gx_m)
    for a, b in zip(grads_c, grads_m, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            close(a, b)


def test_other_activations_and_hooks_take_the_per_layer_path():
    tanh, tanh_m = twin_models([20, 16, 16, 3], activation="tanh")
    x = torch.randn(5, 20)
    assert tanh._fused_prefix(x) == 0
    close(tanh(x), tanh_m(x))
    relu, relu_m = twin_models([20, 16, 16, 3])
    seen = []
    handle = relu.layers[1].register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    try:
        assert relu._fused_prefix(x) == 1  # the stack stops before the hooked layer
        close(relu(x), relu_m(x))
        assert seen == [torch.Size([5, 16])]  # the hook saw the layer's own (batch, n_out) output
    finally:
        handle.remove()
    assert relu._fused_prefix(x) == 2


def test_gradient_accumulation_over_two_forwards_before_backward():
    """Activations saved by one forward are not overwritten by the next (no shared scratch)."""
    csr, masked = twin_models([30, 40, 40, 5])
    gen = torch.Generator().manual_seed(3)
    x1, x2 = torch.randn(9, 30, generator=gen), torch.randn(9, 30, generator=gen)
    results = []
    for model in (csr, masked):
        model.zero_grad(set_to_none=True)
        loss = model(x1).pow(2).sum() + model(x2).sin().sum()
        loss.backward()
        results.append(grads_of(model))
    for a, b in zip(*results, strict=True):
        close(a, b)


def test_frozen_layers_get_no_gradient_and_the_rest_match():
    csr, masked = twin_models([30, 40, 40, 5])
    for model in (csr, masked):
        for p in model.layers[0].parameters():
            p.requires_grad_(False)
    x = torch.randn(6, 30)
    for model in (csr, masked):
        model.zero_grad(set_to_none=True)
        model(x).square().sum().backward()
    gc, gm = grads_of(csr), grads_of(masked)
    assert gc[0] is None and gc[1] is None
    for a, b in zip(gc[2:], gm[2:], strict=True):
        close(a, b)


def test_evaluation_without_grad_matches():
    csr, masked = twin_models([30, 40, 40, 5])
    x = torch.randn(64, 30)
    with torch.no_grad():
        close(csr(x), masked(x))
    with torch.inference_mode():
        close(csr(x), masked(x))


def train(model, steps=12, lr=0.05):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 30, generator=gen), torch.randint(0, 4, (64,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_training_run_matches_masked_to_1e5():
    csr, masked = twin_models([30, 40, 40, 4], density=0.15)
    pc, pm = train(csr), train(masked)
    for lc, lm in zip(csr.sparse_layers(), masked.sparse_layers(), strict=True):
        close(lc.link_values(), lm.link_values())
        close(lc.bias, lm.bias)
    close(csr.layers[-1].weight, masked.layers[-1].weight)
    assert len(pc) == len(pm)


def test_training_is_identical_with_one_and_two_threads():
    old = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            torch.set_num_threads(threads)
            model = SparseMLP([30, 200, 200, 4], density=0.1, seed=2, backend="csr")
            runs.append(train(model, steps=5))
            assert numba.get_num_threads() == threads
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)  # every kernel owns whole rows: no thread-dependent sums


def test_a_thread_budget_set_before_the_first_kernel_is_kept():
    """Starting numba's OpenMP pool resets the OpenMP thread count torch reads; it is restored."""
    script = (
        "import torch, numba\n"
        "torch.set_num_threads(1)\n"
        "from prunelab.nn import SparseMLP\n"
        "m = SparseMLP([20, 10, 10, 3], density=0.5)\n"
        "for _ in range(2):\n"
        "    m(torch.rand(4, 20)).sum().backward()\n"
        "print(torch.get_num_threads(), numba.get_num_threads())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1"]


def test_replaced_parameters_and_data_reach_the_kernels():
    """The kernels' cached numpy views of a parameter follow ``.data`` and object replacement."""
    csr, masked = twin_models([30, 40, 40, 4], density=0.2)
    x = torch.randn(8, 30)
    close(csr(x), masked(x))  # fills the caches
    gen = torch.Generator().manual_seed(7)
    for lc, lm in zip(csr.sparse_layers(), masked.sparse_layers(), strict=True):
        values = torch.randn(lc.n_links, generator=gen)
        bias = torch.randn(lc.n_out, generator=gen)
        lc.kernel.values.data = values.clone()  # same Parameter, new storage
        lc.bias = torch.nn.Parameter(bias.clone())  # a new Parameter object
        lm.set_link_values(values)
        with torch.no_grad():
            lm.bias.copy_(bias)
    close(csr(x), masked(x))
    with torch.no_grad():  # in place, as an optimizer step changes them
        for lc, lm in zip(csr.sparse_layers(), masked.sparse_layers(), strict=True):
            lc.kernel.values.mul_(-0.5)
            lm.set_link_values(lm.link_values() * -0.5)
    upstream = torch.randn(8, 4)
    out_c, gx_c, grads_c = run(csr, x, upstream)
    out_m, gx_m, grads_m = run(masked, x, upstream)
    close(out_c, out_m)
    close(gx_c, gx_m)
    for gc, gm in zip(grads_c, grads_m, strict=True):
        close(gc, gm)


def test_kernel_relu_is_exact_max_with_positive_zero_and_keeps_nan():
    """The branch-free ReLU of the forward kernel equals max(v, 0) bit for bit."""
    import numpy as np

    from prunelab.nn.backends import _csr_kernels as kernels
    from prunelab.nn.backends.csr import CSRIndex

    rng = np.random.default_rng(3)
    n_in, n_out, batch = 50, 40, 16
    dense = (rng.random((n_in, n_out)) < 0.3) * rng.standard_normal((n_in, n_out))
    rows, cols = np.nonzero(dense)
    index = CSRIndex.build(n_in, n_out, rows, cols)
    values = dense[rows, cols].astype(np.float32)
    bias = rng.standard_normal(n_out).astype(np.float32)
    xT = rng.standard_normal((n_in, batch)).astype(np.float32)
    xT[3, 5] = np.nan
    pre = np.empty((n_out, batch), np.float32)
    out = np.empty((n_out, batch), np.float32)
    args = (index.indptr_out, index.rows_out, index.perm_out, values, bias, xT)
    kernels.spmm_forward(*args, pre, np.zeros((0, 0), np.float32), False)
    kernels.spmm_forward(*args, out, np.zeros((0, 0), np.float32), True)
    finite = np.isfinite(pre)
    assert (pre[finite] < 0).mean() > 0.3  # the test exercises negative pre-activations
    assert np.array_equal(out[finite], np.maximum(pre[finite], 0))
    assert not np.signbit(out[finite]).any()  # +0.0, as torch.relu gives
    assert np.isnan(out[~finite]).all() and (~finite).any()  # a NaN input stays visible


@pytest.mark.parametrize("sparse_readout", [False, True])
def test_a_step_never_reads_scratch_memory_it_did_not_write(sparse_readout):
    """Reused buffers (per-layer scratch, the activation pool) are NaN-poisoned between two
    identical steps: the second must give the same bits. At density 0.03 many units have no
    link in or out, the rows a kernel could forget to write."""
    from prunelab.nn.backends import _csr_stack

    csr, _ = twin_models([30, 40, 40, 6], density=0.03, sparse_readout=sparse_readout)
    empty_rows = [
        int((torch.bincount(layer.link_index()[0], minlength=layer.n_out) == 0).sum())
        for layer in csr.sparse_layers()
    ]
    assert min(empty_rows) > 0  # the case this test is about
    gen = torch.Generator().manual_seed(3)
    x, upstream = torch.randn(16, 30, generator=gen), torch.randn(16, 6, generator=gen)
    first = run(csr, x, upstream)
    # (through numpy, as the kernels write them: a pooled buffer made under torch.inference_mode
    # by an earlier evaluation is an inference tensor, which torch would not fill in place here)
    buffers = [
        b for layer in csr.sparse_layers() for b in vars(layer.kernel.index().scratch).values()
    ]
    buffers += [b for pool in getattr(_csr_stack._POOL, "tensors", {}).values() for b in pool]
    for buf in buffers:
        buf.numpy().fill(np.nan)
    assert len(buffers) >= 3
    second = run(csr, x, upstream)
    flat = lambda r: [r[0], r[1], *r[2]]  # noqa: E731
    for a, b in zip(flat(first), flat(second), strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.equal(a, b)
