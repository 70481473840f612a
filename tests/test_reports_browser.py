"""Every report kind rendered in a real browser (headless Chromium through Playwright).

A page fails on a console error, an image that did not decode (naturalWidth 0), a request that
leaves the file system, or a blank page. Screenshots are saved under the test's output folder
(``<tmp_path>/screenshots``, or ``$PRUNELAB_SCREENSHOTS/screenshots``; printed at the end) so a person
can look at them. Where Chromium
cannot start the test fails in CI (``CI`` set) and is skipped elsewhere with the reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_cli import cli
from torch import nn
from torch.nn.utils import prune

LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    return (
        os.environ.get("PRUNELAB_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or "/usr/bin/chromium"
    )


class Browser:
    """One Chromium with a fresh profile; :meth:`check` opens a page and asserts it renders."""

    def __init__(self, tmp_path: Path) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as err:
            unavailable(f"playwright is not installed ({err}); pip install -e '.[dev]'")
        self.shots = tmp_path / "screenshots"
        self.shots.mkdir(exist_ok=True)
        self._pw = sync_playwright().start()
        exe = chromium_path()
        try:
            self.context = self._pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=exe,
                headless=True,
                args=LAUNCH_FLAGS,
                viewport={"width": 1280, "height": 900},
                timeout=60_000,
            )
        except Exception as err:  # noqa: BLE001 - any launch failure means no browser
            self._pw.stop()
            unavailable(f"cannot start Chromium at {exe}: {str(err).splitlines()[0]}")
        self.external: list[str] = []
        self.context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "about:", "blob:")):
            route.continue_()
        else:  # nothing may leave the file system: record and block
            self.external.append(url)
            route.abort()

    def check(self, html: Path, shot: str, shots: Path | None = None):
        """Open ``html``, save a full-page screenshot as ``<shots>/<shot>.png``, assert it rendered."""
        shots = shots or self.shots
        shots.mkdir(parents=True, exist_ok=True)
        page = self.context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"failed request: {r.url}"))
        self.external.clear()
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)
        images = page.evaluate(
            "() => Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 60), i.complete, i.naturalWidth])"
        )
        broken = [src for src, complete, width in images if not complete or width == 0]
        text = page.evaluate("() => document.body.innerText.trim()")
        assert not errors, (shot, errors)
        assert not self.external, (shot, self.external)
        assert not broken, (shot, broken)
        assert page.locator("h1").first.is_visible() and len(text) > 200, (
            shot,
            "blank page",
            text[:200],
        )
        return page, images

    def close(self) -> None:
        self.context.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("browser"))
    yield b
    b.close()
    print(f"screenshots: {b.shots}")


BROKEN = {
    "console_error": "<h1>x</h1><p>" + "text " * 60 + "</p><script>console.error('boom')</script>",
    "script_error": "<h1>x</h1><p>" + "text " * 60 + "</p><script>undefined_function()</script>",
    "missing_image": "<h1>x</h1><p>" + "text " * 60 + "</p><img src='missing.png'>",
    "undecodable_image": "<h1>x</h1><p>" + "text " * 60 + "</p><img src='bad.png'>",
    "external_request": "<h1>x</h1><p>"
    + "text " * 60
    + "</p><link rel='stylesheet' href='https://fonts.example.org/a.css'>",
    "blank": "<h1></h1>",
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_browser_check_fails_on_broken_pages(browser, tmp_path, kind):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    html = tmp_path / f"{kind}.html"
    html.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>t</title></head><body>{BROKEN[kind]}</body></html>"
    )
    with pytest.raises(AssertionError):
        browser.check(html, f"broken_{kind}")


def phase_page(out: Path) -> Path:
    """The phase-transition page writer on a small table of the columns it plots."""
    from prunelab.phase import figures
    from prunelab.report.phase import write_report

    rng = np.random.default_rng(0)
    rows = [
        {
            "width": w,
            "seed": s,
            "density": d,
            "m": float(np.clip(1 / (1 + (0.05 / d) ** 3) + 0.02 * rng.normal(), 0, 1)),
        }
        for w in (32, 64)
        for s in range(3)
        for d in np.geomspace(0.005, 1, 12)
    ]
    df = pd.DataFrame(rows)
    fig = figures.plot_order_parameter(df, out, "m", "demo_")
    crit = pd.DataFrame(
        {"width": [32, 64], "rho_c": [0.051, 0.049], "lo": [0.04, 0.042], "hi": [0.06, 0.057]}
    )
    return write_report(
        out,
        "Pruning phase transitions: demo",
        [
            (
                "demo: order parameter",
                "m vs remaining density ρ (log axis), mean ± std over 3 seeds per width.",
                crit,
                [fig],
            )
        ],
        ["a note"],
        "Config demo.yaml; wall time 1 s.",
    )[1]


def test_every_report_kind_renders_in_chromium(browser, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    raw = {
        "name": "sweep",
        "data": {"name": "digits"},
        "model": {"sizes": [64, 48, 48, 10], "density": 0.2},
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
        "dst": {"regrowth": "random"},
        "sweep": {"grid": {"dst.regrowth": ["random", "ch3l3"]}, "seeds": [0]},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(raw))
    assert cli(monkeypatch, capsys, "run", tmp_path / "sweep.yaml", "--runs-dir", runs)[0] == 0
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    prune.global_unstructured(
        [(net[0], "weight"), (net[2], "weight")], pruning_method=prune.L1Unstructured, amount=0.7
    )
    torch.save(net.state_dict(), tmp_path / "theirs.pt")
    assert (
        cli(
            monkeypatch,
            capsys,
            "import",
            tmp_path / "theirs.pt",
            "--data",
            "digits",
            "--runs-dir",
            runs,
        )[0]
        == 0
    )
    for ref in ("sweep", "theirs"):
        code, _, err = cli(
            monkeypatch,
            capsys,
            "robustness",
            ref,
            "--runs-dir",
            runs,
            "--strengths",
            "0,0.5,1",
            "--kinds",
            "random_pruning,weight_order_pruning,weight_noise",
        )
        assert code == 0, err
    from prunelab.experiments import Store

    run_id = Store(runs).resolve("sweep")[2][0]
    reports = runs / "reports"
    for ref in (
        "sweep",
        run_id,
        "theirs",
        "sweep/robustness",
    ):  # the last: a robustness study's own page
        assert cli(monkeypatch, capsys, "report", ref, "--runs-dir", runs)[0] == 0
    code, _, err = cli(
        monkeypatch,
        capsys,
        "report",
        "sweep",
        "--runs-dir",
        runs,
        "--single-file",
        "--out",
        tmp_path / "mail",
    )
    assert code == 0, err
    phase = phase_page(reports / "phase-demo")
    copied = tmp_path / "elsewhere" / "reports"
    shutil.copytree(reports, copied)  # a copied folder keeps working
    single = tmp_path / "alone" / "sweep.html"
    single.parent.mkdir()
    shutil.copyfile(tmp_path / "mail" / "index.html", single)  # the mailed file, without its folder

    pages = {
        "sweep": reports / "sweep" / "index.html",
        "run": reports / run_id / "index.html",
        "imported": reports / "theirs" / "index.html",
        "robustness": reports / "sweep_robustness" / "index.html",
        "phase": phase,
        "index": reports / "index.html",
        "copied_sweep": copied / "sweep" / "index.html",
        "single_file": single,
    }
    # under the test's output, or where PRUNELAB_SCREENSHOTS says (pytest keeps only its last few tmp folders)
    keep = os.environ.get("PRUNELAB_SCREENSHOTS")
    seen, shots = {}, (Path(keep) if keep else tmp_path) / "screenshots"
    for old in shots.glob("*.png"):
        old.unlink()
    for shot, html in pages.items():
        page, images = browser.check(html, shot, shots)
        seen[shot] = images
        if shot == "sweep":
            assert any("robustness_pruning.png" in src for src, *_ in images)
            assert page.locator("#toc a[href='#robustness']").count() == 1
            page.click("#fold")  # folding works, and a contents link unfolds its section
            assert page.evaluate(
                "() => Array.from(document.querySelectorAll('details.section')).every(d => !d.open)"
            )
            page.click("#toc a[href='#robustness']")
            assert page.evaluate("() => document.getElementById('robustness').open")
            assert not page.locator("#training figure").first.is_visible()
            page.emulate_media(
                media="print"
            )  # prints every section, folded or not, without the contents
            assert not page.locator("#toc").is_visible()
            assert page.locator("#training figure").first.is_visible()
            page.pdf(path=str(shots / "sweep_print.pdf"))  # prints without errors
        if shot == "index":
            links = page.evaluate(
                "() => Array.from(document.querySelectorAll('td a')).map(a => a.getAttribute('href'))"
            )
            assert {"sweep/index.html", "theirs/index.html"} <= set(links)
            page.click("a[href='theirs/index.html']")
            page.wait_for_load_state("load")
            assert "theirs" in page.locator("h1").inner_text()
        page.close()
    assert len(seen["sweep"]) >= 5 and len(seen["imported"]) >= 3 and len(seen["phase"]) == 1
    assert all(src.startswith("data:image/png;base64,") for src, *_ in seen["single_file"])
    assert len(seen["single_file"]) == len(seen["sweep"])
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(f"{s}.png" for s in pages)
    print(f"screenshots: {shots}")
