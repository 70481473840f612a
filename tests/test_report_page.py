"""The report page machinery without a browser: captions, figure files, single-file pages, the index."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from prunelab.core import style
from prunelab.errors import PrunelabError
from prunelab.report import Page, write_index


def png(path):
    with style.context():
        fig, ax = plt.subplots(figsize=style.SINGLE)
        ax.plot([1, 2, 3], color=style.color_for("RLR"))
        return style.save(fig, path)


def test_page_sections_tables_figures(tmp_path):
    own, foreign = png(tmp_path / "out" / "own.png"), png(tmp_path / "elsewhere" / "foreign.png")
    page = Page("report <x>", "a subtitle")
    page.what_was_run(
        config={"a": 1}, versions={"torch": "2"}, git_revision="abc", wall_seconds=125.0, runs=2
    )
    sec = page.section("Results")
    sec.table(pd.DataFrame({"name": ["a<b"], "value": [1.23456789], "n": [3]}), "A table.")
    sec.figure(own, "Own", "y (units) vs x; 3 seeds.")
    sub = sec.section("Results")  # same title: unique anchors
    sub.figure(foreign, "Foreign", "copied into the page's folder")
    path = page.write(tmp_path / "out" / "index.html")
    text = path.read_text()
    assert "report &lt;x&gt;" in text and "a&lt;b" in text and "1.235" in text and "2.1 min" in text
    assert (
        "src='own.png'" in text
        and "src='foreign.png'" in text
        and (tmp_path / "out" / "foreign.png").is_file()
    )
    assert "id='results'" in text and "id='results-2'" in text and "href='#results-2'" in text
    assert "http" not in text.replace("http-equiv", "")  # nothing external
    single = page.write(tmp_path / "mail" / "page.html", single_file=True).read_text()
    assert single.count("data:image/png;base64,") == 2 and "src='own.png'" not in single
    assert list((tmp_path / "mail").iterdir()) == [tmp_path / "mail" / "page.html"]


def test_page_refuses_missing_figures_and_captions(tmp_path):
    page = Page("t")
    with pytest.raises(PrunelabError, match="needs a caption"):
        page.section("s").figure(tmp_path / "x.png", "X", "  ")
    page.section("s").figure(tmp_path / "missing.png", "Missing", "caption")
    with pytest.raises(PrunelabError, match="missing or empty"):
        page.write(tmp_path / "index.html")
    assert not (tmp_path / "index.html").exists()


def test_style_colours_are_fixed_per_name():
    assert style.color_for("CH3-L3") == style.METHOD_COLORS["CH3-L3"] != style.color_for("RLR")
    assert style.color_for("random_pruning") == style.KIND_COLORS["random_pruning"]
    assert style.color_for("my method") == style.color_for("my method") in style.LINE_COLORS
    assert all(c.startswith("#") and len(c) == 7 for c in style.PALETTE)


def test_index_lists_studies_with_status_and_links(tmp_path):
    from prunelab.experiments import Store

    store = Store(tmp_path / "runs")
    for run_id, status in (("r1", "finished"), ("r2", "running")):
        store.register_run(run_id, run_id, {})
        store.set_status(run_id, status)
    store.register_study("s1", "train", "both", {}, ["r1", "r2"])
    store.register_study("s2", "phase", "one", {}, ["r1"])
    (tmp_path / "runs" / "reports" / "one").mkdir(parents=True)
    (tmp_path / "runs" / "reports" / "one" / "index.html").write_text("<h1>one</h1>")
    text = write_index(store).read_text()
    assert "running (1/2 finished)" in text and ">finished<" in text
    assert "href='one/index.html'" in text and "not written" in text


def test_epoch_axes_get_whole_number_ticks(tmp_path):
    with style.context():
        fig, (a, b) = plt.subplots(1, 2)
        for ax in (a, b):
            ax.plot([1, 2], [0.1, 0.8])  # a 2-epoch run: matplotlib alone ticks 1.2, 1.4, ...
        a.set_xlabel("epoch")
        b.set_xlabel("density")
        style.save(fig, tmp_path / "f.png")
    assert all(float(t).is_integer() for t in a.get_xticks())
    assert not all(float(t).is_integer() for t in b.get_xticks())  # other axes keep matplotlib's
