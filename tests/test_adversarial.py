"""Input-space robustness: FGSM/PGD (L∞, L2), transfer attacks, corruptions, the study and bad input."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
import yaml
from test_cli import cli
from torch import nn

from prunelab.errors import ConfigError
from prunelab.nn import SparseMLP
from prunelab.perturb import (
    CORRUPTIONS,
    AttackSettings,
    attack,
    fgsm_settings,
    input_gradient,
    prepare_corruption,
    robustness_curve,
)
from prunelab.training import TrainConfig, Trainer


def _engines() -> list[str]:
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        return ["prunelab"]
    return ["prunelab", "torchattacks"]


@pytest.fixture(scope="module")
def trained():
    """A 30%-dense digits network trained for a few epochs (test accuracy ~0.9) and its test set."""
    from prunelab.data import load_dataset

    data = load_dataset("digits")
    # the masked backend: at this size dense arithmetic is faster than the sparse kernels' overhead
    model = SparseMLP([64, 64, 64, 10], density=0.3, seed=0, backend="masked")
    Trainer(model, data, TrainConfig(epochs=5, batch_size=32, lr=0.05, momentum=0.9)).fit()
    return model.eval(), data


def _linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 3))


# --- FGSM and PGD ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", _engines())
def test_fgsm_is_the_hand_computed_gradient_step(engine):
    model = _linear_model()
    w, b = model[0].weight.detach(), model[0].bias.detach()
    x = torch.tensor([[0.2, 0.5, 0.9, 0.0, 1.0], [0.4, 0.4, 0.1, 0.7, 0.3]])
    y = torch.tensor([2, 0])
    # d CE / d x of a linear layer: (softmax(x W^T + b) - onehot(y)) W
    p = torch.softmax(x @ w.T + b, dim=1)
    g = (p - nn.functional.one_hot(y, 3).float()) @ w
    eps = 0.1
    expected_linf = torch.clamp(x + eps * g.sign(), 0, 1)
    expected_l2 = torch.clamp(x + eps * g / g.norm(dim=1, keepdim=True), 0, 1)
    torch.testing.assert_close(
        attack(model, x, y, eps, fgsm_settings("linf"), engine=engine),
        expected_linf,
        atol=1e-6,
        rtol=0,
    )
    torch.testing.assert_close(
        attack(model, x, y, eps, fgsm_settings("l2"), engine=engine), expected_l2, atol=1e-6, rtol=0
    )
    torch.testing.assert_close(input_gradient(model, x, y), g, atol=1e-6, rtol=1e-5)
    assert model[0].weight.requires_grad and model.training  # flags restored


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_stays_in_the_ball_and_the_pixel_range(trained, norm, random_start):
    model, data = trained
    x, y = torch.from_numpy(data.x_test[:200]), torch.from_numpy(data.y_test[:200])
    eps = 0.1 if norm == "linf" else 1.5
    adv = attack(
        model,
        x,
        y,
        eps,
        AttackSettings(norm=norm, steps=7, step_size=0.5, random_start=random_start),
        seed=1,
    )
    delta = (adv - x).reshape(len(x), -1)
    size = delta.abs().max(dim=1).values if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5)
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert (
        float(size.mean()) > 0.5 * eps
    )  # it did move: a no-op attack would also satisfy the bounds
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean()
        attacked = (model(adv).argmax(1) == y).float().mean()
    assert attacked < clean - 0.2


def test_pgd_accuracy_falls_with_eps_and_beats_fgsm(trained):
    model, data = trained
    grid = [0.0, 0.02, 0.05, 0.1, 0.2]
    pgd = (
        robustness_curve(model, data, "pgd", grid, n_draws=2, seed=0)
        .groupby("strength")
        .accuracy.mean()
        .to_numpy()
    )
    fgsm = (
        robustness_curve(model, data, "fgsm", grid, n_draws=1, seed=0)
        .groupby("strength")
        .accuracy.mean()
        .to_numpy()
    )
    assert np.all(np.diff(pgd) <= 0.005), (
        pgd
    )  # nested balls: a larger radius cannot help (up to search noise)
    assert pgd[-1] < 0.1 < 0.8 < pgd[0]
    assert np.all(pgd <= fgsm + 0.01), (
        pgd,
        fgsm,
    )  # ten projected steps find at least what one step finds


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_torchattacks_and_prunelab_engines_agree(trained, norm):
    pytest.importorskip("torchattacks")
    model, data = trained
    x, y = torch.from_numpy(data.x_test[:300]), torch.from_numpy(data.y_test[:300])
    settings = AttackSettings(norm=norm, steps=5, random_start=True)
    eps = 0.05 if norm == "linf" else 0.8
    a = attack(model, x, y, eps, settings, seed=4, engine="torchattacks")
    b = attack(model, x, y, eps, settings, seed=4, engine="prunelab")
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    c = attack(model, x, y, eps, settings, seed=5, engine="prunelab")
    assert not torch.equal(b, c)  # the seed reaches the random start


def test_csr_input_gradient_equals_masked():
    x = torch.rand(64, 50, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(1))
    csr = SparseMLP([50, 80, 60, 10], density=0.1, seed=3, backend="csr")
    masked = SparseMLP([50, 80, 60, 10], density=0.1, seed=3, backend="masked")
    for a, b in zip(csr.sparse_layers(), masked.sparse_layers()):
        assert all(torch.equal(u, v) for u, v in zip(a.link_index(), b.link_index()))
        torch.testing.assert_close(a.link_values(), b.link_values())
    g_csr, g_masked = input_gradient(csr, x, y), input_gradient(masked, x, y)
    assert float(g_masked.abs().max()) > 1e-3
    torch.testing.assert_close(g_csr, g_masked, atol=1e-5, rtol=1e-5)
    assert all(p.grad is None for p in csr.parameters())  # no weight gradient was computed


def test_transfer_attack_follows_the_source_gradients(trained):
    model, data = trained
    source = SparseMLP([64, 64, 64, 10], density=0.3, seed=7, backend="masked")
    Trainer(source, data, TrainConfig(epochs=3, batch_size=32, lr=0.05, momentum=0.9, seed=7)).fit()
    x, y = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    eps, seed = 0.1, 3
    table = robustness_curve(
        model, data, "transfer_pgd", [0.0, eps], n_draws=1, seed=seed, source=source
    )
    transfer = float(table[table.strength == eps].accuracy.iloc[0])
    # by hand: PGD on the source with the curve's random start, then the target on those inputs
    start = int(np.random.default_rng([seed, 0]).integers(0, 2**62))
    adv = attack(source, x, y, eps, AttackSettings(), seed=start)
    with torch.no_grad():
        assert transfer == pytest.approx(int((model(adv).argmax(1) == y).sum()) / len(y), abs=1e-12)
    white = robustness_curve(model, data, "pgd", [0.0, eps], n_draws=1, seed=seed)
    assert (
        float(white[white.strength == eps].accuracy.iloc[0]) < transfer - 0.1
    )  # white-box is stronger


# --- corruptions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORRUPTIONS.names())
@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (12, 20)])
def test_corruptions_are_the_identity_at_severity_zero(name, shape):
    x = torch.rand(6, shape[0] * shape[1], generator=torch.Generator().manual_seed(0))
    apply = prepare_corruption(name, x, rng=0, image_shape=shape)
    assert torch.equal(apply(0.0), x)
    out = apply(0.7)
    assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float((out - x).abs().max()) > 1e-3  # and a real change above 0


def test_shift_and_contrast_do_what_they_say():
    img = torch.zeros(1, 28, 28)
    img[0, 10:14, 12:16] = 1.0  # a bright square, centre of mass (11.5, 13.5)
    x = img.reshape(1, -1)
    out = prepare_corruption("shift", x, rng=2, image_shape=(28, 28))(0.5).reshape(28, 28)
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    com = torch.stack([(out * rows).sum(), (out * cols).sum()]) / out.sum()
    moved = float(torch.linalg.norm(com - torch.tensor([11.5, 13.5])))
    assert moved == pytest.approx(0.5 * 28 / 7, abs=0.05)  # s·H/7 pixels
    assert float(out.sum()) == pytest.approx(16.0, abs=1e-3)  # the square stayed inside the image
    flat = prepare_corruption("contrast", x, image_shape=(28, 28))(1.0)
    torch.testing.assert_close(flat, torch.full_like(x, float(x.mean())))


def test_gaussian_noise_has_the_stated_standard_deviation():
    x = torch.full((200, 64), 0.5)
    out = prepare_corruption("gaussian_noise", x, rng=0)(0.1)
    assert float((out - x).std()) == pytest.approx(0.1, rel=0.03)


# --- bad input: one line each ------------------------------------------------------------------


def _one_line(err: ConfigError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_bad_attack_input_is_one_line():
    model = _linear_model()
    x, y = torch.rand(4, 5), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ConfigError) as e:
        attack(model, x, y, -0.1)
    assert "ε=-0.1" in _one_line(e.value)
    with pytest.raises(ConfigError, match=r"0 <= ε <= 1"):
        attack(model, x, y, 1.5)
    with pytest.raises(ConfigError, match=r"ε <= 2.23607"):  # sqrt(5): the L2 diameter of [0, 1]^5
        attack(model, x, y, 3.0, AttackSettings(norm="l2"))
    with pytest.raises(ConfigError, match="steps must be an integer >= 1"):
        AttackSettings(steps=0)
    with pytest.raises(ConfigError) as e:
        AttackSettings(norm="l3")
    assert "did you mean 'l2'" in _one_line(e.value)
    with pytest.raises(ConfigError) as e:
        prepare_corruption("blurr", x[:, :4])
    assert "did you mean 'blur'" in _one_line(e.value)
    with pytest.raises(ConfigError, match="must be in \\[0, 1\\]"):
        prepare_corruption("blur", x[:, :4])(1.5)
    with pytest.raises(ConfigError, match="inputs must be in \\[0, 1\\]"):
        attack(model, x * 3, y, 0.1)


class _NoGradients(nn.Module):
    """A model that answers from detached outputs, as an inference-only wrapper would."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(5, 3)

    def forward(self, x):
        with torch.no_grad():
            return self.inner(x)


def test_a_model_without_input_gradients_is_refused():
    x, y = torch.rand(4, 5), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ConfigError) as e:
        attack(_NoGradients(), x, y, 0.1)
    assert "does not depend differentiably on the input" in _one_line(e.value)
    with pytest.raises(ConfigError, match="cannot attack network"):
        robustness_curve(_NoGradients(), (x, y), "pgd", [0.0, 0.1])
    # corruptions and transfer attacks from a differentiable source still work on it
    assert (
        len(
            robustness_curve(
                _NoGradients(),
                (x, y),
                "transfer_pgd",
                [0.0, 0.1],
                source=_linear_model(),
                compiled=False,
            )
        )
        == 2
    )


# --- the study, its cache and the command line -------------------------------------------------


def _tree_digest(root) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def store_with_runs(tmp_path_factory):
    """A DST run, a dense run and a magnitude-pruned run of the same sizes on digits (2 epochs each), and
    the dense one pruned to 20% in PyTorch and imported."""
    from prunelab.experiments import Store
    from prunelab.studies.base import load_study, run_study

    root = tmp_path_factory.mktemp("adv")
    base = {
        "data": {"name": "digits"},
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.05, "momentum": 0.9},
    }
    configs = {
        "dst": {
            **base,
            "model": {"sizes": [64, 64, 64, 10], "density": 0.2},
            "dst": {"regrowth": "random"},
        },
        "dense": {
            **base,
            "model": {"sizes": [64, 64, 64, 10], "density": 1.0, "backend": "masked"},
        },
        "pruned": {
            **base,
            "model": {"sizes": [64, 64, 64, 10], "density": 1.0, "backend": "masked"},
            "prune": {"density": 0.2, "at_epoch": 1},
        },
    }
    store = Store(root / "runs")
    for name, raw in configs.items():
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, **raw}))
        assert not run_study(load_study(path), store).bad
    # a network pruned elsewhere: the dense run exported to PyTorch, pruned there, imported back
    from torch.nn.utils import prune

    from prunelab.experiments.runner import load_run_model
    from prunelab.interop import to_torch
    from prunelab.studies.imported import import_network

    module = to_torch(load_run_model(store, store.resolve("dense")[2][0]))
    for layer in [m for m in module if isinstance(m, nn.Linear)][:-1]:
        prune.l1_unstructured(layer, "weight", amount=0.8)
    torch.save(module.state_dict(), root / "theirs.pt")
    import_network(store, root / "theirs.pt", name="theirs", data="digits")
    return root, store


def test_magnitude_pruned_control_has_the_dst_density(store_with_runs):
    from prunelab.experiments.runner import load_run_model
    from prunelab.report.robustness import run_group

    _, store = store_with_runs
    ids = {name: store.resolve(name)[2][0] for name in ("dst", "dense", "pruned", "theirs")}
    pruned = load_run_model(store, ids["pruned"])
    assert [layer.n_links for layer in pruned.sparse_layers()] == [round(0.2 * 64 * 64)] * 2
    assert isinstance(
        pruned.layers[-1], nn.Linear
    )  # the readout stays dense, as in the DST networks
    assert {name: run_group(store.get_run(i)["config"]) for name, i in ids.items()} == {
        "dst": "RLR",
        "dense": "dense",
        "pruned": "magnitude-pruned",
        "theirs": "imported",
    }


def test_input_kinds_run_through_the_robustness_study(store_with_runs):
    from prunelab.studies.base import run_study
    from prunelab.studies.robustness import RobustnessStudy

    root, store = store_with_runs
    dense = store.resolve("dense")[2][0]
    study = RobustnessStudy(
        name="inputs",
        runs=["dst", "dense", "pruned", "theirs"],
        kinds=["pgd", "transfer_pgd", "blur"],
        strengths=[0.0, 0.05, 0.1],
        draws=2,
        steps=3,
        transfer_source=dense,
        test_inputs=120,
    )
    first = run_study(study, store)
    assert not first.bad and len(first.results) == 12
    curves = study.analyse(store)["curves"]
    assert set(curves.group) == {"RLR", "dense", "magnitude-pruned", "imported"}
    assert set(curves.kind) == {"pgd", "transfer_pgd", "blur"}
    assert (
        curves[curves.strength == 0]
        .accuracy.eq(curves[curves.strength == 0].baseline_accuracy)
        .all()
    )
    summary = study.analyse(store)["summary"]
    assert {"auc", "auc_lo", "auc_hi", "f_half"} <= set(summary.columns) and len(summary) == 12
    # the imported network (the dense one pruned to 20% elsewhere) is attacked like the others
    imported = (
        curves[(curves.group == "imported") & (curves.kind == "pgd")]
        .groupby("strength")
        .accuracy.mean()
    )
    assert imported.iloc[0] > 0.5 and imported.iloc[-1] < imported.iloc[0] - 0.2
    # cached: a rerun computes nothing; other attack settings are another curve
    assert {r["status"] for r in run_study(study, store).results} == {"skipped"}
    other = study.model_copy(update={"steps": 4})
    assert {r["status"] for r in run_study(other, store).results if "pgd" in r["name"]} == {
        "finished"
    }
    # the weight kinds' cache keys do not include the input options
    plain = RobustnessStudy(name="w", runs="dense", kinds=["random_pruning"])
    assert (
        "steps" not in plain.content() and "test_inputs" not in next(plain.plan(store))[0].content
    )


def test_robustness_cli_input_kinds_and_bad_input(monkeypatch, capsys, store_with_runs):
    root, store = store_with_runs
    runs = root / "runs"
    code, out, err = cli(
        monkeypatch,
        capsys,
        "robustness",
        "dst",
        "--runs-dir",
        runs,
        "--kinds",
        "fgsm,gaussian_noise",
        "--strengths",
        "0,0.1,0.3",
        "--test-inputs",
        "100",
    )
    assert code == 0, err
    before = _tree_digest(runs)
    bad = [
        (["--kinds", "pgd", "--strengths", "0,-0.1"], "must be in [0, 1]"),
        (["--kinds", "pgd_l2", "--strengths", "0,100"], "outside the input range"),
        (["--kinds", "pgd", "--steps", "0"], "steps"),
        (["--kinds", "pgd_l3"], "did you mean 'pgd_l2'"),
        (["--kinds", "rotatoin"], "did you mean 'rotation'"),
        (["--kinds", "transfer_pgd"], "transfer_source"),
    ]
    for args, message in bad:
        code, _, err = cli(monkeypatch, capsys, "robustness", "dst", "--runs-dir", runs, *args)
        assert code == 2 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert _tree_digest(runs) == before  # stored runs untouched
    assert cli(monkeypatch, capsys, "report", "dst", "--runs-dir", runs)[0] == 0
    assert "robustness_inputs.png" in (runs / "reports" / "dst" / "index.html").read_text()


def test_l2_epsilon_limit_is_the_input_box_diameter():
    from prunelab.perturb import check_epsilon

    assert check_epsilon(28.0, "l2", 784) == 28.0
    with pytest.raises(ConfigError):
        check_epsilon(math.nextafter(28.0, 29.0), "l2", 784)


def test_reproduction_page_from_the_store(store_with_runs, tmp_path):
    from prunelab.studies.base import run_study
    from prunelab.studies.robustness import RobustnessStudy
    from reproductions.sulyok2026_inputs import write_page

    root, store = store_with_runs
    dense = store.resolve("dense")[2][0]
    raw = {
        "kind": "robustness",
        "name": "inputs",
        "runs": ["dst", "dense", "pruned", "theirs"],
        "kinds": ["pgd", "transfer_pgd", "blur"],
        "strengths": [0.0, 0.05, 0.1],
        "draws": 2,
        "steps": 3,
        "transfer_source": dense,
        "test_inputs": 120,
    }
    assert not run_study(RobustnessStudy(**raw), store).bad  # cached when the study test ran first
    study_path = tmp_path / "study.yaml"
    study_path.write_text(yaml.safe_dump(raw))
    text = write_page(store, tmp_path / "docs", study_path).read_text()
    for needle in (
        "RLR",
        "dense",
        "magnitude-pruned",
        "imported",
        "ΔAUC",
        "## Findings",
        "4 of 4 planned networks",
    ):
        assert needle in text, needle
    assert any(v in text for v in ("more fragile", "more robust", "indistinguishable"))
    assert (tmp_path / "docs" / "figures" / "sulyok2026_inputs_attacks.png").stat().st_size > 5000
    assert (tmp_path / "docs" / "figures" / "sulyok2026_inputs_shift.png").stat().st_size > 5000


def test_input_kinds_leave_the_model_untouched(trained):
    from prunelab.perturb import INPUT_KINDS

    model, data = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    small = (data.x_test[:100], data.y_test[:100])
    for kind in INPUT_KINDS:
        table = robustness_curve(
            model, small, kind, [0.0, 0.1], n_draws=1, seed=0, source=model, image_shape=(8, 8)
        )
        assert len(table) == 2 and table.accuracy.iloc[0] == table.baseline_accuracy.iloc[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training


def test_sparse_masked_networks_are_attacked_through_csr():
    from prunelab.perturb.input_curve import attack_copy

    masked = SparseMLP([50, 80, 60, 10], density=0.05, seed=3, backend="masked")
    work = attack_copy(masked)
    assert {m.backend_name for m in work.sparse_layers()} == {"csr"}
    assert {m.backend_name for m in masked.sparse_layers()} == {
        "masked"
    }  # the caller's model is untouched
    x = torch.rand(32, 50, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        input_gradient(work, x, y), input_gradient(masked, x, y), atol=1e-5, rtol=1e-5
    )
    dense = SparseMLP([50, 20, 10], density=1.0, seed=0, backend="masked")
    assert attack_copy(dense) is dense  # dense layers stay on dense arithmetic
