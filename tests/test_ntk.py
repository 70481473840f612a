"""The Graphon NTK against its analytic identities and finite networks; the empirical NTK and spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.graphon import empirical_ntk, graphon_ntk, sample_network_masks, spectral_metrics
from prunelab.nn import SparseLinear, SparseMLP


@pytest.fixture(autouse=True)
def _one_thread(_threads):
    # tiny tensors on a shared two-core machine: one thread avoids spin-waiting for the other
    torch.set_num_threads(1)


def _dense_relu_ntk(x: np.ndarray, hidden: int) -> np.ndarray:
    """The standard ReLU NTK, NTK parametrisation, σ_w² = 1, no bias (Jacot et al. 2018; Arora et al. 2019)."""
    s = x @ x.T / x.shape[1]
    theta = s.copy()
    for _ in range(hidden):
        norm = np.sqrt(np.outer(np.diag(s), np.diag(s)))
        t = np.arccos(np.clip(s / norm, -1, 1))
        s_dot = (np.pi - t) / (2 * np.pi)
        s = norm * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
        theta = s + theta * s_dot
    return theta


def _x(n=7, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_all_ones_graphons_give_the_standard_ntk():
    x = _x()
    for hidden, k in ((1, 3), (3, 4)):
        ones = [np.ones((k, 5))] + [np.ones((k, k))] * (hidden - 1) + [np.ones((1, k))]
        ref = _dense_relu_ntk(x, hidden)
        for variant in ("masked", "variance"):
            np.testing.assert_allclose(
                graphon_ntk(x, ones, variant), ref, rtol=1e-7, atol=1e-12
            )  # arccos near ρ = 1 amplifies rounding


def test_constant_graphon_scales_the_ntk_by_c_to_the_L():
    x = _x(seed=1)
    c, hidden, k = 0.3, 3, 5
    g = [np.full((k, 5), c)] + [np.full((k, k), c)] * (hidden - 1) + [np.ones((1, k))]
    np.testing.assert_allclose(graphon_ntk(x, g), c**hidden * _dense_relu_ntk(x, hidden), rtol=1e-7)
    # the variance variant differs: its first-layer term does not see the graphon
    assert not np.allclose(graphon_ntk(x, g, "variance"), c**hidden * _dense_relu_ntk(x, hidden))


def test_kernel_is_symmetric_psd_and_chunking_does_not_matter(monkeypatch):
    rng = np.random.default_rng(2)
    x = _x(n=12, seed=2)
    g = [rng.random((4, 5)), rng.random((3, 4)), rng.random((6, 3)), rng.random((1, 6))]
    theta = graphon_ntk(x, g)
    assert np.array_equal(theta, theta.T) and np.linalg.eigvalsh(theta).min() > -1e-12
    import prunelab.graphon.ntk as ntk

    monkeypatch.setattr(ntk, "CHUNK_ELEMENTS", 1)  # one row at a time
    np.testing.assert_allclose(
        graphon_ntk(x, g), theta, rtol=1e-7
    )  # arccos near ρ = 1 amplifies rounding
    # an emptied block (all its links pruned) contributes nothing and breaks nothing
    g[1][0] = 0.0
    assert np.all(np.isfinite(graphon_ntk(x, g)))


def _masked_net(masks, rng):
    """A bias-free ReLU MLP with the given masks, weights N(0, 1/fan_in) (NTK parametrisation, σ_w² = 1)."""
    layers = []
    for k, m in enumerate(masks):
        rows, cols = np.nonzero(m)
        layer = SparseLinear(
            m.shape[0], m.shape[1], bias=False, backend="masked", rows=rows, cols=cols
        )
        layer.set_link_values(
            torch.as_tensor(rng.normal(size=rows.size) / np.sqrt(m.shape[0]), dtype=torch.float32)
        )
        layers.append(layer)
        if k < len(masks) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _variance_net(g, widths, rng):
    """Dense bias-free ReLU MLP with weights N(0, W[block]/fan_in): the variance variant's network."""
    d = g[0].shape[1]
    sizes = [d, *widths, 1]
    layers = []
    for l, w in enumerate(g):
        out_b = (np.arange(sizes[l + 1]) * w.shape[0]) // sizes[l + 1]
        in_b = np.arange(d) if l == 0 else (np.arange(sizes[l]) * w.shape[1]) // sizes[l]
        lin = nn.Linear(sizes[l], sizes[l + 1], bias=False)
        with torch.no_grad():
            std = np.sqrt(w[np.ix_(out_b, in_b)] / sizes[l])
            lin.weight.copy_(torch.as_tensor(rng.normal(size=std.shape) * std, dtype=torch.float32))
        layers += [lin, nn.ReLU()] if l < len(g) - 1 else [lin]
    return nn.Sequential(*layers)


def _ntk_errors(g, x, widths, seeds, rng, variant="masked"):
    target = graphon_ntk(x, g, variant)
    errors = []
    for width in widths:

        def build(n=width):
            if variant == "masked":
                return _masked_net(sample_network_masks(g, [n, n], rng), rng)
            return _variance_net(g, [n, n], rng)

        thetas = [empirical_ntk(build(), x, parametrization="ntk") for _ in range(seeds)]
        errors.append(np.linalg.norm(np.mean(thetas, axis=0) - target) / np.linalg.norm(target))
    return errors


def _block_problem(d=64, k=4, seed=3):
    # d = 64 inputs: the first masked layer's pre-activation is a Gaussian mixture over mask
    # patterns whose spread shrinks like 1/sqrt(d); the Graphon NTK uses its mean covariance
    rng = np.random.default_rng(seed)
    g = [
        0.2 + 0.8 * rng.random((k, d)),
        0.2 + 0.8 * rng.random((k, k)),
        0.2 + 0.8 * rng.random((1, k)),
    ]
    return g, rng.normal(size=(5, d)), rng


def test_finite_networks_converge_to_the_graphon_ntk():
    """Monte Carlo over seeds: the mean empirical NTK of finite networks sampled from a block graphon
    approaches graphon_ntk as the width grows (single draws fluctuate like 1/sqrt(width))."""
    g, x, rng = _block_problem()
    masked = _ntk_errors(g, x, (32, 512), 4, rng)
    assert masked[1] < 0.6 * masked[0] and masked[1] < 0.1, masked
    variance = _ntk_errors(g, x, (32, 512), 4, rng, "variance")
    assert variance[1] < 0.6 * variance[0] and variance[1] < 0.1, variance


@pytest.mark.slow
def test_finite_masked_networks_converge_monotonically():
    g, x, rng = _block_problem(seed=7)
    errors = _ntk_errors(g, x, (64, 256, 1024), 8, rng)
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.04, errors


def _brute_ntk(model, x, output, fan_in=None):
    """Full-Jacobian NTK; with ``fan_in`` {layer index: n_in} each weight's column is scaled by 1/sqrt(n_in)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    scale = [
        1.0 if fan_in is None or n.endswith("bias") else fan_in[int(n.split(".")[1])] ** -0.5
        for n, _ in named
    ]
    params = [p for _, p in named]
    rows = []
    for xi in torch.as_tensor(x, dtype=torch.float32):
        f = model(xi[None])[0, output]
        grads = torch.autograd.grad(f, params, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).flatten() * s
                    for p, g, s in zip(params, grads, scale)
                ]
            )
        )
    jac = torch.stack(rows).double()
    return (jac @ jac.T).numpy()


@pytest.mark.parametrize("density,backend", [(0.3, "csr"), (0.8, "masked"), (1.0, "csr")])
def test_empirical_ntk_matches_the_full_jacobian(density, backend):
    # (the masked backend's dense weight has zero gradient off the topology, so the brute force
    # over its parameters is the same sum over links)
    model = SparseMLP([6, 9, 8, 3], density=density, seed=4, backend=backend)
    x = _x(n=6, d=6, seed=4)
    ref = _brute_ntk(model, x, output=2)
    theta = empirical_ntk(model, x, output=2)
    np.testing.assert_allclose(theta, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    assert all(p.grad is None for p in model.parameters())
    # NTK parametrisation: every weight term divided by its layer's dense fan-in, biases unchanged
    ref_ntk = _brute_ntk(model, x, output=2, fan_in={0: 6, 1: 9, 2: 8})
    ntk = empirical_ntk(model, x, output=2, parametrization="ntk")
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-4, atol=1e-5 * np.abs(ref_ntk).max())
    assert not np.allclose(ntk, theta)


def test_spectral_metrics_known_answers():
    lam = 1.0 / np.arange(1, 41) ** 1.5
    q = np.linalg.qr(np.random.default_rng(5).normal(size=(40, 40)))[0]
    m = spectral_metrics(q @ np.diag(lam) @ q.T)
    np.testing.assert_allclose(m["eigenvalues"], lam, rtol=1e-8, atol=1e-12)
    assert m["alpha"] == pytest.approx(1.5, rel=1e-6) and (m["alpha_k_min"], m["alpha_k_max"]) == (
        2,
        10,
    )
    assert m["effective_rank"] == pytest.approx(lam.sum())
    assert m["gap"] == pytest.approx(2**1.5)
    assert m["top5_energy"] == pytest.approx(lam[:5].sum() / lam.sum())
    assert spectral_metrics(np.diag(lam), k_range=(5, 40))["alpha"] == pytest.approx(1.5)


def test_bad_input_one_line():
    x = _x()
    cases = [
        (
            lambda: graphon_ntk(x, [np.ones((3, 5)), np.ones((2, 4)), np.ones((1, 2))]),
            "do not chain",
        ),
        (lambda: graphon_ntk(x, [np.ones((3, 4)), np.ones((1, 3))]), "X has 5 features"),
        (lambda: graphon_ntk(x, [np.ones((3, 5)), np.ones((2, 3))]), "must be \\(1, K_L\\)"),
        (
            lambda: graphon_ntk(x, [np.full((3, 5), 2.0), np.ones((1, 3))]),
            "probabilities in \\[0, 1\\]",
        ),
        (lambda: graphon_ntk(x[0], [np.ones((3, 5)), np.ones((1, 3))]), "X must be a 2-D array"),
        (lambda: graphon_ntk(x, [np.ones((1, 5))]), "at least 2 arrays"),
        (
            lambda: graphon_ntk(x, [np.ones((3, 5)), np.ones((1, 3))], "dense"),
            "unknown Graphon NTK variant",
        ),
        (lambda: empirical_ntk(SparseMLP([5, 4, 3]), x), "choose one logit"),
        (lambda: empirical_ntk(SparseMLP([5, 4, 3]), x, output=3), "output=3"),
        (lambda: empirical_ntk(nn.Sequential(nn.ReLU()), x), "no linear layers"),
        (lambda: spectral_metrics(np.ones((3, 2))), "square"),
        (lambda: spectral_metrics(np.eye(4), k_range=(3, 3)), "k_range"),
    ]
    for call, pattern in cases:
        with pytest.raises(ConfigError, match=pattern) as err:
            call()
        assert "\n" not in str(err.value)
