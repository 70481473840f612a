"""The architecture as code: layered imports, short modules, registries for every choice."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "prunelab"

#: subpackage -> layer; a module may import its own layer and the layers below, never above
LAYERS: dict[str, int] = {
    "errors": 0,
    "core": 0,
    "data": 1,
    "nn": 1,
    "graph": 1,
    "linkpred": 1,
    "training": 2,
    "pruning": 3,
    "dst": 3,
    "perturb": 3,
    "phase": 3,
    "pai": 3,
    "graphon": 3,
    "game": 3,
    "sufficiency": 3,
    "interop": 3,
    "experiments": 4,
    "report": 5,
    "studies": 6,
    "cli": 7,
}
#: the subpackages whose independence from the orchestration layers is a promise to users
ANALYSIS = ("phase", "perturb", "dst", "pruning", "graph", "linkpred", "nn", "data", "training")
ORCHESTRATION = ("experiments", "studies", "report", "cli")


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "prunelab" else None


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported prunelab module) for every import in the file, inside functions too, and for
    every lazy registry entry (``"prunelab.x.y:attr"`` strings)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("prunelab")]
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("prunelab")
        ):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r"(prunelab(?:\.\w+)+):\w+", node.value)
            if m:
                found.append((node.lineno, m.group(1)))
    return found


def test_every_subpackage_has_a_layer():
    subpackages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {
        p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"
    }
    assert subpackages <= set(LAYERS), (
        f"give these subpackages a layer: {sorted(subpackages - set(LAYERS))}"
    )


def test_imports_never_go_up_a_layer():
    upward = []
    for path in _modules():
        rel = path.relative_to(ROOT.parent).with_suffix("")
        own = _subpackage(".".join(rel.parts))
        if own is None or own == "__init__":
            continue
        for line, module in _imports(path):
            target = _subpackage(module)
            if target is None or target not in LAYERS or own not in LAYERS:
                continue
            if LAYERS[target] > LAYERS[own]:
                upward.append(
                    f"{path.relative_to(ROOT.parent)}:{line} ({own}) imports {module} ({target})"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_analysis_code_never_imports_orchestration():
    bad = []
    for path in _modules():
        own = path.relative_to(ROOT).parts[0]
        if own not in ANALYSIS:
            continue
        bad += [
            f"{path.relative_to(ROOT.parent)}:{line} imports {m}"
            for line, m in _imports(path)
            if _subpackage(m) in ORCHESTRATION
        ]
    assert not bad, "\n".join(bad)


def test_the_layering_test_can_fail(tmp_path):
    # the checker sees an upward import, also one hidden inside a function or a lazy registry entry
    path = tmp_path / "m.py"
    path.write_text(
        "def f():\n    from prunelab.studies import run_study\nX = 'prunelab.cli.main:app'\n"
    )
    assert [m for _, m in _imports(path)] == ["prunelab.studies", "prunelab.cli.main"]


@pytest.mark.parametrize("limit", [520])
def test_no_module_is_much_longer_than_500_lines(limit):
    long = {
        str(p.relative_to(ROOT.parent)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > limit
    }
    assert not long, f"split these modules: {long}"


def test_no_closed_literal_lists_of_policies():
    """Policies (rules, methods, kinds, optimizers, schedules, families...) are registries, not Literals."""
    pattern = re.compile(
        r"^\s*(removal|regrowth|method|optimizer|schedule|family|activation|init|topology|backend|scope|executor)\s*:\s*Literal\[",
        re.M,
    )
    offenders = [
        str(p.relative_to(ROOT.parent)) for p in _modules() if pattern.search(p.read_text())
    ]
    assert not offenders, f"use a Registry field instead of a Literal in: {offenders}"


def test_the_repository_speaks_to_its_users():
    """No file names a developer's machine, a notes file a reader cannot open, or an issue number."""
    repo = ROOT.parent
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = re.compile(
        "|".join([r"/wo" + r"rk/", r"NOT" + r"ES\.md", r"\bissue" + r" \d+", r"\.\./sha" + r"red"])
    )
    hits = []
    for name in tracked:
        path = repo / name
        if (
            path.suffix not in {".py", ".md", ".yaml", ".yml", ".html", ".toml", ".txt", ".cfg"}
            and path.name != "Makefile"
        ):
            continue
        for k, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if forbidden.search(line):
                hits.append(f"{name}:{k}: {line.strip()[:80]}")
    assert not hits, "\n".join(hits)
