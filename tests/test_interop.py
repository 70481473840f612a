"""prunelab.interop: networks pruned with torch.nn.utils.prune or built with sparselab, in and out;
`prunelab import` registers them as runs that every analysis accepts."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from prunelab.errors import ConfigError
from prunelab.interop import from_torch, load_file, sparselab_state_dict, to_torch
from prunelab.nn import SparseLinear, SparseMLP

SIZES = (64, 48, 32, 10)  # digits: 64 features, 10 classes


def make_net(
    activation: type[nn.Module] = nn.ReLU, seed: int = 0, bias: bool = True
) -> nn.Sequential:
    torch.manual_seed(seed)
    mods: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        mods.append(nn.Linear(a, b, bias=bias))
        if k < len(SIZES) - 2:
            mods.append(activation())
    return nn.Sequential(*mods)


def linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net if isinstance(m, nn.Linear)]


def prune_global_l1(net):
    prune.global_unstructured(
        [(m, "weight") for m in linears(net)], pruning_method=prune.L1Unstructured, amount=0.8
    )


def prune_layerwise_l1(net):
    for m, amount in zip(linears(net), (0.9, 0.5, 0.3)):
        prune.l1_unstructured(m, "weight", amount=amount)


def prune_random(net):
    for m in linears(net):
        prune.random_unstructured(m, "weight", amount=0.6)


def prune_structured(net):
    # rows (output units) of the first layers, columns (input units) of the last
    prune.ln_structured(linears(net)[0], "weight", amount=0.25, n=2, dim=0)
    prune.ln_structured(linears(net)[1], "weight", amount=0.5, n=1, dim=0)
    prune.ln_structured(linears(net)[2], "weight", amount=0.3, n=1, dim=1)


def prune_iterative(net):
    # pruning twice stacks a PruningContainer; weight_mask is the combined mask
    for m in linears(net)[:2]:
        prune.l1_unstructured(m, "weight", amount=0.5)
        prune.random_unstructured(m, "weight", amount=0.5)


PRUNERS = {
    "global_l1": prune_global_l1,
    "layerwise_l1": prune_layerwise_l1,
    "random": prune_random,
    "structured": prune_structured,
    "iterative": prune_iterative,
}


def inputs(n: int = 256) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [
        torch.randn(n, SIZES[0], generator=g),
        10 * torch.rand(n, SIZES[0], generator=g),
        torch.zeros(3, SIZES[0]),
    ]


def assert_same_function(a: nn.Module, b: nn.Module) -> None:
    with torch.no_grad():
        for x in inputs():
            ya, yb = a(x), b(x)
            scale = float(ya.abs().max()) + 1.0
            assert torch.allclose(ya, yb, rtol=1e-5, atol=1e-5 * scale), float(
                (ya - yb).abs().max()
            )


def assert_identical_models(a: SparseMLP, b: SparseMLP) -> None:
    assert a.sizes == b.sizes and a.activation == b.activation
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert type(la) is type(lb)
        if isinstance(la, SparseLinear):
            assert la.links() == lb.links()
            assert torch.equal(la.dense_weight(), lb.dense_weight())
        else:
            assert torch.equal(la.weight, lb.weight)
        assert (la.bias is None) == (lb.bias is None)
        if la.bias is not None:
            assert torch.equal(la.bias, lb.bias)


@pytest.mark.parametrize("method", list(PRUNERS))
def test_pruned_module_round_trip(method):
    net = make_net()
    PRUNERS[method](net)
    model = from_torch(net)
    for layer, lin in zip(model.layers, linears(net), strict=True):
        if hasattr(lin, "weight_mask"):
            # exactly the mask's links, the last layer included
            assert isinstance(layer, SparseLinear)
            assert np.array_equal(layer.mask().numpy(), lin.weight_mask.bool().numpy().T)
            assert torch.equal(
                layer.dense_weight(), (lin.weight_orig * lin.weight_mask).detach().t()
            )
        else:
            assert type(layer) is nn.Linear and torch.equal(layer.weight, lin.weight)
    assert_same_function(model, net)
    back = to_torch(model)
    assert_same_function(back, net)
    for exported, lin in zip(linears(back), linears(net), strict=True):
        if hasattr(lin, "weight_mask"):
            assert torch.equal(exported.weight_mask, lin.weight_mask)
    assert_identical_models(from_torch(back), model)


def test_masks_not_zeros_define_links():
    net = make_net()
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    with torch.no_grad():
        kept = net[0].weight_mask.nonzero()[0]
        net[0].weight_orig[kept[0], kept[1]] = 0.0  # a kept link whose weight is 0 is still a link
        net[2].weight[0, :5] = 0.0  # zeros of an unpruned layer are weights, unless asked otherwise
    model = from_torch(net)
    assert model.layers[0].n_links == int(net[0].weight_mask.sum())
    assert type(model.layers[1]) is nn.Linear
    zeros = from_torch(net, zeros_as_missing=True)
    assert model.layers[0].links() == zeros.layers[0].links()  # the mask wins over zeros
    assert isinstance(zeros.layers[1], SparseLinear) and zeros.layers[1].n_links == 48 * 32 - 5
    assert type(zeros.layers[2]) is nn.Linear  # no zeros: stays dense
    assert_same_function(zeros, net)
    assert_identical_models(from_torch(to_torch(zeros)), zeros)


@pytest.mark.parametrize("act", [nn.Tanh, nn.GELU, nn.SiLU])
def test_activations_and_no_bias(act):
    net = make_net(act, bias=False)
    prune_layerwise_l1(net)
    model = from_torch(nn.Sequential(nn.Flatten(), *net, nn.Dropout(0.1)).eval())
    assert isinstance(model.act, act) and all(m.bias is None for m in model.layers)
    assert_same_function(model, net)
    assert_identical_models(from_torch(to_torch(model)), model)


def test_prunelab_trained_model_exports_and_can_be_pruned_further():
    model = SparseMLP([64, 32, 32, 10], density=0.2, seed=0)  # two sparse layers + dense readout
    net = to_torch(model)
    assert_same_function(net, model)
    assert [hasattr(m, "weight_mask") for m in linears(net)] == [True, True, False]
    prune.l1_unstructured(linears(net)[2], "weight", amount=0.5)  # the user's own pipeline goes on
    again = from_torch(net)
    assert isinstance(again.layers[2], SparseLinear) and again.layers[2].n_links == 160
    assert again.layers[0].links() == model.layers[0].links()
    assert_same_function(again, net)


@pytest.mark.parametrize(
    "module, message",
    [
        (
            nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 2)),
            "unsupported layer 2 (BatchNorm1d); supported: nn.Linear",
        ),
        (nn.Sequential(nn.Conv2d(1, 2, 3)), "unsupported layer 0 (Conv2d)"),
        (
            nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2)),
            "mixed activations",
        ),
        (
            nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)),
            "no activation between layers before 1 (Linear)",
        ),
        (
            nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.Softmax(dim=1)),
            "unsupported layer 3 (Softmax)",
        ),
        (
            nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU()),
            "after the last Linear layer",
        ),
        (
            nn.Sequential(nn.Linear(4, 3), nn.GELU(approximate="tanh"), nn.Linear(3, 2)),
            "GELU(approximate='tanh')",
        ),
        (
            nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)),
            "has 5 inputs but the layer before it",
        ),
        (nn.Linear(4, 3), "from_torch takes an nn.Sequential, got Linear"),
    ],
)
def test_unsupported_modules_are_one_line_errors(module, message):
    with pytest.raises(ConfigError) as err:
        from_torch(module)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_mask_shape_mismatch():
    net = make_net()
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    net[0].weight_mask = torch.ones(3, 3)
    with pytest.raises(
        ConfigError, match=r"weight_mask has shape \(3, 3\) but weight_orig has \(48, 64\)"
    ):
        from_torch(net)


# --- sparselab ------------------------------------------------------------------------------------


def sparselab_net():
    try:
        import sparselab
    except ImportError as err:  # installed with the dev extra; CI must test it
        if os.environ.get("CI"):
            pytest.fail(f"sparselab is part of the dev extra and must be installed in CI: {err}")
        pytest.skip(f"sparselab not installed ({err}); pip install -e '.[dev]'")
    torch.manual_seed(0)
    return nn.Sequential(
        sparselab.SparseLinear(64, 48, sparsity=0.8),
        nn.ReLU(),
        sparselab.SparseLinear(48, 32, sparsity=0.5),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support:UserWarning")
def test_sparselab_layers(tmp_path):
    net = sparselab_net()
    model = from_torch(net)
    assert [type(m).__name__ for m in model.layers] == ["SparseLinear", "SparseLinear", "Linear"]
    assert [model.layers[k].n_links for k in (0, 1)] == [net[0].nnz, net[2].nnz]
    assert_same_function(model, net)
    path = tmp_path / "sparselab.pt"
    torch.save(sparselab_state_dict(net), path)
    assert_identical_models(load_file(path), model)  # format guessed from the CSR keys
    assert_identical_models(load_file(path, "sparselab"), model)
    assert_identical_models(from_torch(to_torch(model)), model)


# --- files ----------------------------------------------------------------------------------------


def test_files_torch_wrapped_and_npz(tmp_path):
    net = make_net()
    prune_global_l1(net)
    model = from_torch(net)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    np.savez(tmp_path / "net.npz", **{k: v.numpy() for k, v in net.state_dict().items()})
    for name in ("net.pt", "wrapped.pth", "net.npz"):
        assert_identical_models(load_file(tmp_path / name), model)
    dense = make_net()
    with torch.no_grad():
        dense[0].weight[dense[0].weight.abs() < 0.05] = 0
    np.savez(tmp_path / "zeros.npz", **{k: v.numpy() for k, v in dense.state_dict().items()})
    assert load_file(tmp_path / "zeros.npz").layers[0].__class__ is nn.Linear
    sparse = load_file(tmp_path / "zeros.npz", zeros_as_missing=True, activation="relu")
    assert sparse.layers[0].n_links == int((dense[0].weight != 0).sum())
    assert_same_function(sparse, dense)


def test_bad_files(tmp_path):
    (tmp_path / "notes.pt").write_text("not a tensor file")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    torch.save(
        nn.Linear(2, 2), tmp_path / "module.pt"
    )  # a pickled module: refused by weights_only=True
    net = make_net()
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    state = net.state_dict()
    state["0.weight_mask"] = torch.ones(3, 3)
    torch.save(state, tmp_path / "mismatch.pt")
    torch.save({**make_net().state_dict(), "bn.running_mean": torch.zeros(3)}, tmp_path / "bn.pt")
    cases = {
        "missing.pt": "not found",
        "notes.pt": "is not a state dict torch can load with weights_only=True",
        "list.pt": "holds a list, not a state dict",
        "module.pt": "weights_only=True",
        "mismatch.pt": "mask has shape (3, 3) but the weight has (48, 64)",
        "bn.pt": "unsupported entry 'bn.running_mean'",
    }
    for name, message in cases.items():
        with pytest.raises(ConfigError) as err:
            load_file(tmp_path / name)
        assert message in str(err.value) and "\n" not in str(err.value), (name, str(err.value))
    with pytest.raises(ConfigError, match="unknown import format 'onnx'"):
        load_file(tmp_path / "mismatch.pt", "onnx")


# --- the store: an imported network is a run like any other --------------------------------------


def cli(monkeypatch, capsys, *args):
    from prunelab.cli.main import main

    monkeypatch.setattr(sys, "argv", ["prunelab", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as ex:
        code = ex.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def trained_digits_net(digits) -> nn.Sequential:
    """A small network trained briefly on digits in plain PyTorch, then globally L1-pruned."""
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x, y = torch.as_tensor(digits.x_train, dtype=torch.float32), torch.as_tensor(digits.y_train)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    prune_global_l1(net)
    return net.eval()


def test_import_registers_a_run_every_analysis_accepts(
    tmp_path, runs_dir, digits, monkeypatch, capsys
):
    from prunelab.experiments import Store, load_run_model
    from prunelab.graph import structure_summary
    from prunelab.nn.families import layer_masks
    from prunelab.phase.observables import observation_of, observe
    from prunelab.report.robustness import load_robustness
    from prunelab.studies import run_study
    from prunelab.studies.robustness import RobustnessStudy

    net = trained_digits_net(digits)
    torch.save(net.state_dict(), tmp_path / "pruned.pt")
    code, out, err = cli(
        monkeypatch,
        capsys,
        "import",
        tmp_path / "pruned.pt",
        "--name",
        "mine",
        "--data",
        "digits",
        "--runs-dir",
        runs_dir,
    )
    assert code == 0, err
    assert "imported pruned.pt (torch)" in out
    store = Store(runs_dir)
    kind, run_id, run_ids = store.resolve("mine")
    row = store.get_run(run_id)
    assert (kind, run_ids, row["status"]) == ("imported", [run_id], "finished")
    assert row["config"]["imported"]["file"] == str((tmp_path / "pruned.pt").resolve())
    assert (
        row["config"]["imported"]["sparse"] == [True, True, True] and "model" not in row["config"]
    )
    model = load_run_model(store, run_id)
    assert_same_function(model, net)
    assert set(store.artefacts(run_id).name) == {
        "checkpoint",
        "topology/layer0",
        "topology/layer1",
        "topology/layer2",
    }

    # robustness, observables and graph measures run on it like on any run
    study = RobustnessStudy(
        name="mine/robustness", runs="mine", kinds=["random_pruning"], strengths=[0.0, 0.5, 1.0]
    )
    assert not run_study(study, store).bad
    table = study.analyse(store)["curves"]
    base = float(table[table.strength == 0].accuracy.mean())
    x, y = torch.as_tensor(digits.x_test, dtype=torch.float32), torch.as_tensor(digits.y_test)
    assert (
        base == pytest.approx(int((net(x).argmax(1) == y).sum()) / len(y), abs=1e-9) and base > 0.5
    )
    assert len(load_robustness(store, [run_id])[0]) == len(table)
    assert observe(["structure"], observation_of(model))["path_fraction"] > 0
    assert structure_summary(layer_masks(model)) == observe(["structure"], observation_of(model))

    # the same file again, or the same name: one line each, nothing written
    before = sorted(p.name for p in runs_dir.iterdir())
    code, _, err = cli(
        monkeypatch,
        capsys,
        "import",
        tmp_path / "pruned.pt",
        "--name",
        "again",
        "--data",
        "digits",
        "--runs-dir",
        runs_dir,
    )
    assert code == 2 and f"already in the store as run {run_id} ('mine')" in err
    np.savez(
        tmp_path / "other.npz", **{k: v.numpy() for k, v in make_net(seed=1).state_dict().items()}
    )
    code, _, err = cli(
        monkeypatch,
        capsys,
        "import",
        tmp_path / "other.npz",
        "--name",
        "mine",
        "--data",
        "digits",
        "--runs-dir",
        runs_dir,
    )
    assert code == 2 and "named 'mine' already exists" in err and err.count("\n") == 1
    code, _, err = cli(
        monkeypatch,
        capsys,
        "import",
        tmp_path / "other.npz",
        "--data",
        "fashion-mnist",
        "--runs-dir",
        runs_dir,
    )
    assert code == 2 and "data set 'fashion-mnist' has 784 features and 10 classes" in err
    assert sorted(p.name for p in runs_dir.iterdir()) == before
    assert len(store.runs()) == 1 and sorted(store.studies().kind) == ["imported", "robustness"]


def test_imported_dense_middle_layer_chains_and_keeps_existing_run_ids(tmp_path, runs_dir):
    from conftest import DIGITS_CONFIG

    from prunelab.experiments import Store, load_run_model
    from prunelab.experiments.config import parse_config
    from prunelab.nn.families import layer_masks
    from prunelab.studies.imported import import_network

    assert (
        parse_config(dict(DIGITS_CONFIG)).run_id() == "c1171d6c87ad"
    )  # ids of trained runs unchanged
    net = make_net(nn.SiLU)
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    prune.l1_unstructured(net[4], "weight", amount=0.5)  # sparse, dense, sparse
    torch.save(net.state_dict(), tmp_path / "net.pt")
    store = Store(runs_dir)
    result = import_network(store, tmp_path / "net.pt", data="digits", activation="silu")
    model = load_run_model(store, result["run_id"])
    assert [type(m).__name__ for m in model.layers] == ["SparseLinear", "Linear", "SparseLinear"]
    assert_same_function(model, net)
    masks = layer_masks(model)
    assert [m.shape for m in masks] == [(64, 48), (48, 32), (32, 10)] and masks[1].all()
