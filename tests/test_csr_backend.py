"""The truly sparse CPU backend ("csr") against the dense masked reference.

Every test builds a csr and a masked layer with the same topology and weights and checks that
outputs, input gradients, link gradients, topology changes, optimizer state and state_dict
round trips agree (1e-5 relative), plus the memory bound that motivates the backend.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
import torch

from prunelab.errors import ConfigError
from prunelab.nn import SparseLinear, SparseMLP
from prunelab.nn.backends import BACKENDS, resolve_backend
from prunelab.nn.backends.csr import CSRBackend

RTOL = 1e-5


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Agreement to 1e-5 relative to the largest entry (float32 sums in a different order)."""
    actual, expected = actual.detach(), expected.detach()
    scale = float(expected.abs().max()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=RTOL * max(scale, 1e-6))


def twin_layers(n_in, n_out, density=0.1, seed=0, rows=None, cols=None):
    """A csr and a masked layer with identical topology, weights and (random) bias."""
    kwargs = dict(seed=seed, rows=rows, cols=cols)
    csr = SparseLinear(n_in, n_out, density, backend="csr", **kwargs)
    masked = SparseLinear(n_in, n_out, density, backend="masked", **kwargs)
    bias = torch.randn(n_out, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        csr.bias.copy_(bias)
        masked.bias.copy_(bias)
    return csr, masked


def check_equivalent(csr: SparseLinear, masked: SparseLinear, batch: int, seed: int = 0) -> None:
    """Same link order, values, outputs and gradients (input, links, bias)."""
    for a, b in zip(csr.link_index(), masked.link_index()):
        assert torch.equal(a, b)
    close(csr.link_values(), masked.link_values())
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, csr.n_in, generator=gen)
    upstream = torch.randn(batch, csr.n_out, generator=gen)
    outs, grads = [], []
    for layer in (csr, masked):
        layer.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        y = layer(xi)
        y.backward(upstream)
        outs.append(y.detach())
        grads.append((xi.grad, layer.link_grad(), layer.bias.grad))
    assert outs[0].shape == (batch, csr.n_out)
    assert outs[0].is_contiguous()
    close(outs[0], outs[1])
    for g_csr, g_masked in zip(*grads):
        close(g_csr, g_masked)


@pytest.mark.parametrize(
    "n_in, n_out, density, batch",
    [(30, 20, 0.2, 7), (64, 33, 0.05, 128), (17, 50, 0.5, 1), (5, 3, 1.0, 13), (40, 40, 0.1, 301)],
)
def test_outputs_and_gradients_match_masked(n_in, n_out, density, batch):
    csr, masked = twin_layers(n_in, n_out, density, seed=n_in)
    check_equivalent(csr, masked, batch)


def test_empty_rows_and_columns_match_masked():
    # inputs 0, 2, 5 and outputs 1, 3 have no links; given out of row-major order
    rows = np.array([4, 1, 1, 3, 4, 4, 4, 4, 6])
    cols = np.array([6, 0, 2, 4, 0, 2, 4, 5, 6])
    csr, masked = twin_layers(7, 7, rows=rows, cols=cols)
    check_equivalent(csr, masked, batch=9)
    x = torch.randn(3, 7, requires_grad=True)
    csr(x).sum().backward()
    assert torch.all(x.grad[:, [0, 2, 5]] == 0)


def test_layer_without_links_matches_masked():
    csr, masked = twin_layers(6, 4, density=0.1, seed=1)
    for layer in (csr, masked):
        layer.remove_links(np.arange(layer.n_links))
    assert csr.n_links == masked.n_links == 0
    check_equivalent(csr, masked, batch=5)
    torch.testing.assert_close(csr(torch.randn(2, 6)), csr.bias.detach().expand(2, 4))


def test_batch_of_zero_rows():
    csr, _ = twin_layers(8, 6, density=0.3)
    x = torch.zeros(0, 8, requires_grad=True)
    y = csr(x)
    assert y.shape == (0, 6)
    y.sum().backward()
    assert torch.equal(csr.link_grad(), torch.zeros(csr.n_links))


def test_input_layouts_and_dtypes_are_accepted():
    csr, masked = twin_layers(12, 9, density=0.3)
    x = torch.randn(12, 5).t()  # transposed view: used without a copy
    close(csr(x), masked(x))
    close(csr(x.double()).double(), masked(x.contiguous()).double())


def test_topology_changes_keep_values_grads_and_optimizer_state_aligned():
    csr, masked = twin_layers(20, 15, density=0.2, seed=3)
    opts = [torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9) for layer in (csr, masked)]
    x = torch.randn(8, 20)
    for layer, opt in zip((csr, masked), opts):
        layer(x).pow(2).sum().backward()
        opt.step()
    param = csr.kernel.values
    old = {
        (r, c): (v, m)
        for r, c, v, m in zip(
            *[t.tolist() for t in csr.link_index()],
            csr.link_values().tolist(),
            opts[0].state[param]["momentum_buffer"].tolist(),
        )
    }
    old_grad = dict(zip(zip(*[t.tolist() for t in csr.link_index()]), csr.link_grad().tolist()))
    rng = np.random.default_rng(0)
    keep = torch.as_tensor(rng.random(csr.n_links) > 0.4)
    missing = (~csr.mask()).nonzero()[rng.choice(int((~csr.mask()).sum()), 7, replace=False)]
    add_values = torch.randn(7)
    for layer, opt in zip((csr, masked), opts):
        layer.update_topology(
            keep=keep,
            add_rows=missing[:, 0],
            add_cols=missing[:, 1],
            add_values=add_values,
            optimizer=opt,
        )
    assert csr.kernel.values is param  # optimizers keep referencing the same Parameter
    assert csr.n_links == int(keep.sum()) + 7
    momentum = opts[0].state[param]["momentum_buffer"]
    assert momentum.shape == (csr.n_links,)
    rows, cols = csr.link_index()
    for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
        if (r, c) in old:
            assert csr.link_values()[k].item() == old[(r, c)][0]
            assert momentum[k].item() == old[(r, c)][1]
            assert csr.link_grad()[k].item() == old_grad[(r, c)]
        else:
            assert momentum[k].item() == 0.0 and csr.link_grad()[k].item() == 0.0
    masked_momentum = opts[1].state[masked.kernel.weight]["momentum_buffer"][rows, cols]
    close(momentum, masked_momentum)
    check_equivalent(csr, masked, batch=6)
    # the optimizer keeps training the changed layer like the masked one
    for layer, opt in zip((csr, masked), opts):
        opt.zero_grad()
        layer(x).pow(2).sum().backward()
        opt.step()
    close(csr.link_values(), masked.link_values())


def test_adam_moments_follow_links():
    csr, _ = twin_layers(10, 10, density=0.3, seed=2)
    opt = torch.optim.Adam(csr.parameters(), lr=0.01)
    csr(torch.randn(4, 10)).sum().backward()
    opt.step()
    param = csr.kernel.values
    before = {k: opt.state[param][k].clone() for k in ("exp_avg", "exp_avg_sq")}
    csr.remove_links([0, 5], optimizer=opt)
    keep = torch.ones(before["exp_avg"].numel(), dtype=torch.bool)
    keep[[0, 5]] = False
    for key in before:
        assert torch.equal(opt.state[param][key], before[key][keep])
    csr(torch.randn(4, 10)).sum().backward()
    opt.step()  # shapes agree, Adam runs on


def test_many_random_topology_updates_match_masked():
    csr, masked = twin_layers(25, 18, density=0.15, seed=7)
    rng = np.random.default_rng(1)
    for step in range(5):
        keep = torch.as_tensor(rng.random(csr.n_links) > 0.3)
        free = (~csr.mask()).nonzero()
        new = free[rng.choice(len(free), size=min(len(free), 9), replace=False)]
        values = torch.randn(len(new))
        for layer in (csr, masked):
            layer.update_topology(
                keep=keep, add_rows=new[:, 0], add_cols=new[:, 1], add_values=values
            )
        check_equivalent(csr, masked, batch=3, seed=step)


def test_default_backend_is_csr_on_cpu_and_masked_on_cuda():
    assert BACKENDS["csr"] is CSRBackend
    assert resolve_backend(None) is CSRBackend
    assert resolve_backend("auto", "cpu") is CSRBackend
    assert resolve_backend(None, "cuda").name == "masked"
    assert SparseLinear(10, 10, 0.2).backend_name == "csr"
    assert SparseMLP([10, 8, 3], density=0.5).sparse_layers()[0].backend_name == "csr"


def test_state_dict_round_trip_across_link_counts():
    a = SparseMLP([20, 16, 16, 3], density=0.2, seed=0, backend="csr")
    a.sparse_layers()[0].remove_links([0, 1, 2])
    a.sparse_layers()[1].add_links([0], [(~a.sparse_layers()[1].mask()[0]).nonzero()[0, 0]], [0.25])
    b = SparseMLP([20, 16, 16, 3], density=0.2, seed=5, backend="csr")
    param_ids = [id(layer.kernel.values) for layer in b.sparse_layers()]
    b.load_state_dict(a.state_dict())
    assert param_ids == [id(layer.kernel.values) for layer in b.sparse_layers()]
    for la, lb in zip(a.sparse_layers(), b.sparse_layers()):
        assert la.n_links == lb.n_links
        for ta, tb in zip(la.link_index(), lb.link_index()):
            assert torch.equal(ta, tb)
        assert torch.equal(la.link_values(), lb.link_values())
    x = torch.randn(4, 20)
    torch.testing.assert_close(a(x), b(x))
    assert set(a.state_dict()) == set(b.state_dict())
    assert {"layers.0.kernel.values", "layers.0.kernel.rows", "layers.0.kernel.cols"} <= set(
        a.state_dict()
    )


def test_resume_from_checkpoint_continues_identically():
    """Model + optimizer state saved after a topology change resume bit-for-bit."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 20), torch.randint(0, 3, (16,))

    def step(model, opt):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    a = SparseMLP([20, 16, 16, 3], density=0.2, seed=0, backend="csr")
    opt_a = torch.optim.SGD(a.parameters(), lr=0.05, momentum=0.9)
    step(a, opt_a)
    a.sparse_layers()[1].remove_links([3, 4, 9], optimizer=opt_a)
    step(a, opt_a)
    # deepcopy stands in for torch.save/torch.load (state_dict tensors alias the live ones)
    checkpoint = copy.deepcopy({"model": a.state_dict(), "optimizer": opt_a.state_dict()})
    b = SparseMLP([20, 16, 16, 3], density=0.2, seed=9, backend="csr")
    opt_b = torch.optim.SGD(b.parameters(), lr=0.05, momentum=0.9)
    b.load_state_dict(checkpoint["model"])
    opt_b.load_state_dict(checkpoint["optimizer"])
    step(a, opt_a)
    step(b, opt_b)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_loading_a_foreign_topology_is_rejected():
    layer = SparseLinear(6, 5, density=0.4, backend="csr")
    state = layer.state_dict()
    state["kernel.rows"] = state["kernel.rows"].flip(0)
    state["kernel.cols"] = state["kernel.cols"].flip(0)
    with pytest.raises(ConfigError, match="row-major"):
        layer.load_state_dict(state)
    big = SparseLinear(60, 50, density=0.4, backend="csr")
    with pytest.raises(ConfigError, match="does not fit"):
        layer.load_state_dict(big.state_dict())


def test_training_matches_masked_model():
    """A few SGD steps of a whole MLP give the same weights on both backends."""
    x, y = torch.rand(64, 30), torch.randint(0, 4, (64,))
    models = [
        SparseMLP([30, 40, 40, 4], density=0.15, seed=1, backend=b) for b in ("csr", "masked")
    ]
    opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]
    for _ in range(10):
        for m, opt in zip(models, opts):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
    for lc, lm in zip(*[m.sparse_layers() for m in models]):
        torch.testing.assert_close(lc.link_values(), lm.link_values(), rtol=1e-4, atol=1e-5)


def test_threads_follow_torch_and_do_not_change_results():
    layer, _ = twin_layers(300, 200, density=0.05, seed=4)
    x = torch.randn(64, 300, requires_grad=True)
    results = []
    old = torch.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            torch.set_num_threads(threads)
            layer.zero_grad()
            x.grad = None
            out = layer(x)
            assert numba.get_num_threads() == threads
            out.sum().backward()
            results.append((out.detach(), x.grad.clone(), layer.link_grad()))
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*results):
        assert torch.equal(a, b)  # each thread owns whole output rows: no order-dependent sums


def test_csr_layer_stores_no_dense_matrix():
    layer = SparseLinear(20_000, 30_000, density=1e-5, backend="csr", seed=0)  # 6000 links
    stored = sum(t.numel() for t in list(layer.parameters()) + list(layer.buffers()))
    assert stored < 10 * layer.n_links + 30_000
    x = torch.randn(4, 20_000, requires_grad=True)
    layer(x).sum().backward()
    layer.remove_links(np.arange(0, layer.n_links, 2))
    assert layer.n_links == 3000


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, numpy as np, torch
    from prunelab.nn import SparseLinear
    torch.set_num_threads(2)
    n = 100_000
    layer = SparseLinear(n, n, density=1e-4, backend="csr", seed=0)   # 1,000,000 links
    opt = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(32, n)
    for _ in range(2):
        opt.zero_grad()
        loss = layer(x).pow(2).mean()
        loss.backward()
        opt.step()
    rows, cols = layer.link_index()
    k = 100_000
    drop = torch.argsort(layer.link_values().abs())[:k]
    keep = torch.ones(layer.n_links, dtype=torch.bool); keep[drop] = False
    existing = (rows[keep] * n + cols[keep]).numpy()
    draw = np.unique(np.random.default_rng(12345).integers(0, n * n, 2 * k))  # not seed 0: the layer used it
    new = draw[~np.isin(draw, existing)][:k]
    layer.update_topology(keep=keep, add_rows=new // n, add_cols=new % n, optimizer=opt)
    with torch.no_grad():
        layer.eval(); layer(x)
    assert layer.n_links == 1_000_000 and torch.isfinite(loss)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """
)


@pytest.mark.slow
def test_huge_layer_trains_in_little_memory():
    """100,000 x 100,000 at 0.01% (1M links): a dense float32 weight alone would be 40 GB."""
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    peak_bytes = int(proc.stdout.strip().splitlines()[-1])
    # the whole process, ~0.3 GB of it imports (torch, numba); 0.72 GB measured
    assert peak_bytes < 1e9, f"peak RSS {peak_bytes / 1e9:.2f} GB (limit 1 GB)"


def test_deepcopy_and_pickle_of_csr_model_are_independent():
    import copy
    import io

    from prunelab.nn import SparseMLP

    model = SparseMLP([20, 16, 16, 3], density=0.3, seed=0, backend="csr")
    x = torch.randn(5, 20)
    ref = model(x)
    clone = copy.deepcopy(model)
    torch.testing.assert_close(clone(x), ref)
    clone.sparse_layers()[0].set_link_values(torch.zeros(clone.sparse_layers()[0].n_links))
    torch.testing.assert_close(model(x), ref)  # the original is untouched
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    torch.testing.assert_close(torch.load(buf, weights_only=False)(x), ref)
