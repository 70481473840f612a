"""The one HTML page machinery of every report: :class:`Page`.

A page has a title, a "What was run" header (config, package versions, git revision, wall time),
then sections with text, tables and figures; every figure has a title and a caption. The page
renders with a table of contents, sections that fold (``<details>``), buttons to fold and unfold
all, and print CSS (every section unfolded, no navigation, figures not split across pages).

Offline by construction: all CSS and the few lines of script are inline, fonts are the reader's
system fonts, and figures are referenced by relative file names in the page's folder (a figure
written elsewhere is copied in), so the folder works from the file system and keeps working when
copied elsewhere. ``single_file=True`` embeds the figures as ``data:`` URIs so the one HTML file
can be mailed.

Examples
--------
>>> page = Page("prunelab report: demo")                          # doctest: +SKIP
>>> page.what_was_run(config=cfg, versions=v, git_revision=rev, wall_seconds=12.5)  # doctest: +SKIP
>>> sec = page.section("Training")                                # doctest: +SKIP
>>> sec.figure(png, "Accuracy vs epoch", "Test accuracy (%) vs epoch; median over 3 seeds.")  # doctest: +SKIP
>>> page.write(out_dir / "index.html", single_file=False)        # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from prunelab.errors import PrunelabError

_IMAGE_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class _Figure:
    path: Path
    title: str
    caption: str


@dataclass
class _Table:
    df: pd.DataFrame
    caption: str
    digits: int


@dataclass
class Section:
    """A foldable part of a page; add content in reading order.

    Attributes
    ----------
    title : str
    anchor : str
        Fragment id (unique within the page), the table of contents links to it.
    level : int
        2 for a section, 3 for a subsection.
    open : bool
        Unfolded when the page opens.
    """

    title: str
    anchor: str
    level: int = 2
    open: bool = True
    blocks: list[Any] = field(default_factory=list)
    _page: Page | None = field(default=None, repr=False)

    def text(self, text: str) -> Section:
        """A paragraph of plain text (escaped)."""
        self.blocks.append(("p", str(text)))
        return self

    def pre(self, text: str) -> Section:
        """Preformatted text (config listings, logs)."""
        self.blocks.append(("pre", str(text)))
        return self

    def html(self, fragment: str) -> Section:
        """Raw HTML that the caller built and escaped itself."""
        self.blocks.append(("html", fragment))
        return self

    def items(self, items: list[str]) -> Section:
        """A bulleted list of plain-text items."""
        self.blocks.append(("ul", [str(i) for i in items]))
        return self

    def table(self, df: pd.DataFrame | None, caption: str = "", digits: int = 4) -> Section:
        """A table; floats shown with ``digits`` significant digits, NaN as an en dash."""
        if df is None or len(df) == 0:
            self.blocks.append(("p", f"{caption} (none)" if caption else "(none)"))
        else:
            self.blocks.append(_Table(df.reset_index(drop=True), caption, digits))
        return self

    def figure(self, path: str | Path, title: str, caption: str) -> Section:
        """A figure (PNG or SVG file) with a title and a caption.

        The caption must say what is plotted, in which units, and over how many seeds or draws;
        an empty caption is refused.
        """
        if not str(caption).strip():
            raise PrunelabError(
                f"figure {title!r} needs a caption (what is plotted, units, over how many seeds/draws)"
            )
        self.blocks.append(_Figure(Path(path), str(title), str(caption)))
        return self

    def section(self, title: str, open: bool = True) -> Section:
        """A subsection (listed in the table of contents under this section)."""
        sub = Section(
            title,
            self._page._anchor(title) if self._page else _slug(title),
            self.level + 1,
            open,
            _page=self._page,
        )
        self.blocks.append(sub)
        return sub

    def figures(self) -> list[_Figure]:
        """Figures of this section and its subsections, in order."""
        out = []
        for b in self.blocks:
            if isinstance(b, _Figure):
                out.append(b)
            elif isinstance(b, Section):
                out.extend(b.figures())
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


class Page:
    """One report page (see the module docstring).

    Parameters
    ----------
    title : str
        The page's ``<h1>`` and ``<title>``.
    subtitle : str
        One line under the title (e.g. what kind of study this is).
    """

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title, self.subtitle = str(title), str(subtitle)
        self.sections: list[Section] = []
        self.header: list[tuple[str, str]] = []  # (label, escaped HTML value)
        self.config_text: str | None = None
        self._anchors: set[str] = set()

    def _anchor(self, title: str) -> str:
        base = _slug(title)
        anchor, k = base, 2
        while anchor in self._anchors:
            anchor, k = f"{base}-{k}", k + 1
        self._anchors.add(anchor)
        return anchor

    def what_was_run(
        self,
        config: dict[str, Any] | None = None,
        versions: dict[str, Any] | None = None,
        git_revision: str | None = None,
        wall_seconds: float | None = None,
        runs: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Page:
        """The header every page starts with.

        Parameters
        ----------
        config : dict, optional
            The study's (or run's) config, shown as YAML in a folded block.
        versions : dict, optional
            Package versions (``prunelab``, ``torch``, ``python``, ...).
        git_revision : str, optional
        wall_seconds : float, optional
            Wall time of the work the page reports (s; summed over runs).
        runs : int, optional
            Number of runs behind the page.
        extra : dict, optional
            Further ``label: value`` lines (plain text).
        """
        self.header = [("generated", _esc(datetime.now().isoformat(timespec="seconds")))]
        if runs is not None:
            self.header.append(("runs", _esc(runs)))
        if wall_seconds is not None:
            self.header.append(("wall time", _esc(format_seconds(wall_seconds))))
        if git_revision is not None:
            self.header.append(("git revision", f"<code>{_esc(git_revision)}</code>"))
        if versions:
            self.header.append(
                ("versions", _esc(", ".join(f"{k} {v}" for k, v in versions.items())))
            )
        for label, value in (extra or {}).items():
            self.header.append((str(label), _esc(value)))
        if config is not None:
            self.config_text = yaml.safe_dump(
                config, sort_keys=False, default_flow_style=None, width=100
            )
        return self

    def section(self, title: str, open: bool = True) -> Section:
        """A new top-level section, appended in reading order."""
        sec = Section(title, self._anchor(title), 2, open, _page=self)
        self.sections.append(sec)
        return sec

    # --- rendering ---------------------------------------------------------------------------
    def render(self, out_dir: Path, single_file: bool = False) -> str:
        """The page's HTML; figures are copied into ``out_dir`` or embedded (``single_file``)."""
        body = [f"<header><h1>{_esc(self.title)}</h1>"]
        if self.subtitle:
            body.append(f"<p class='subtitle'>{_esc(self.subtitle)}</p>")
        body.append("</header>")
        if self.header or self.config_text:
            body.append("<section class='run-info' id='what-was-run'><h2>What was run</h2><dl>")
            body += [f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in self.header]
            body.append("</dl>")
            if self.config_text:
                body.append(
                    f"<details><summary>configuration</summary><pre>{_esc(self.config_text)}</pre></details>"
                )
            body.append("</section>")
        counter = [0]
        body += [self._render_section(s, out_dir, single_file, counter) for s in self.sections]
        toc = "".join(self._toc_entry(s) for s in self.sections)
        nav = (
            "<nav id='toc' aria-label='contents'><p class='toc-title'>Contents</p><ul>"
            + (
                "<li><a href='#what-was-run'>What was run</a></li>"
                if self.header or self.config_text
                else ""
            )
            + toc
            + "</ul><p class='toc-buttons'><button type='button' id='unfold'>unfold all</button> "
            "<button type='button' id='fold'>fold all</button></p></nav>"
        )
        return (
            f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_esc(self.title)}</title><style>{CSS}</style></head>"
            f"<body>{nav}<main>{''.join(body)}</main><script>{SCRIPT}</script></body></html>\n"
        )

    def _toc_entry(self, sec: Section) -> str:
        subs = [b for b in sec.blocks if isinstance(b, Section)]
        inner = "<ul>" + "".join(self._toc_entry(s) for s in subs) + "</ul>" if subs else ""
        return f"<li><a href='#{sec.anchor}'>{_esc(sec.title)}</a>{inner}</li>"

    def _render_section(
        self, sec: Section, out_dir: Path, single_file: bool, counter: list[int]
    ) -> str:
        h = f"h{sec.level}"
        parts = [
            f"<details class='section level{sec.level}' id='{sec.anchor}'{' open' if sec.open else ''}>"
            f"<summary><{h}>{_esc(sec.title)}</{h}></summary><div class='content'>"
        ]
        for block in sec.blocks:
            if isinstance(block, Section):
                parts.append(self._render_section(block, out_dir, single_file, counter))
            elif isinstance(block, _Figure):
                counter[0] += 1
                parts.append(_render_figure(block, out_dir, single_file, counter[0]))
            elif isinstance(block, _Table):
                parts.append(_render_table(block))
            else:
                kind, value = block
                if kind == "p":
                    parts.append(f"<p>{_esc(value)}</p>")
                elif kind == "pre":
                    parts.append(f"<pre>{_esc(value)}</pre>")
                elif kind == "ul":
                    parts.append("<ul>" + "".join(f"<li>{_esc(v)}</li>" for v in value) + "</ul>")
                else:
                    parts.append(value)
        parts.append("</div></details>")
        return "".join(parts)

    def figures(self) -> list[_Figure]:
        """Every figure of the page, in order."""
        return [f for s in self.sections for f in s.figures()]

    def write(self, path: str | Path, single_file: bool = False) -> Path:
        """Write the page to ``path`` (atomically); returns ``path``.

        Parameters
        ----------
        path : str or Path
            The HTML file; its folder is created. Figures are referenced relative to it.
        single_file : bool
            Embed every figure, so the HTML file alone is the whole report.

        Raises
        ------
        PrunelabError
            A figure file that is missing or empty.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.render(path.parent, single_file)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return path


def _render_table(t: _Table) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, (bool, np.bool_)) or v is None:
            return f"<td>{_esc(v)}</td>"
        if isinstance(v, (int, np.integer)):
            return f"<td class='num'>{v}</td>"
        if isinstance(v, (float, np.floating)):
            return "<td class='num'>–</td>" if v != v else f"<td class='num'>{v:.{t.digits}g}</td>"
        return f"<td>{_esc(v)}</td>"

    head = "".join(f"<th>{_esc(c)}</th>" for c in t.df.columns)
    body = "".join(
        "<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in t.df.itertuples(index=False)
    )
    cap = f"<p class='caption'>{_esc(t.caption)}</p>" if t.caption else ""
    return f"<div class='table'><table class='data'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{cap}"


def _render_figure(fig: _Figure, out_dir: Path, single_file: bool, number: int) -> str:
    src_path = fig.path
    if not src_path.is_file() or src_path.stat().st_size == 0:
        raise PrunelabError(
            f"figure {fig.title!r}: file {str(src_path)!r} is missing or empty; the report cannot show it"
        )
    mime = _IMAGE_TYPES.get(src_path.suffix.lower())
    if mime is None:
        raise PrunelabError(
            f"figure {fig.title!r}: {src_path.suffix!r} is not an image type a browser shows (png, svg, jpg)"
        )
    if single_file:
        src = f"data:{mime};base64," + base64.b64encode(src_path.read_bytes()).decode("ascii")
    else:
        out_dir = out_dir.resolve()
        resolved = src_path.resolve()
        if resolved.parent != out_dir and out_dir not in resolved.parents:
            target = (
                out_dir / src_path.name
            )  # keep the folder self-contained: copy foreign figures in
            shutil.copyfile(resolved, target)
            resolved = target
        src = resolved.relative_to(out_dir).as_posix()
    return (
        f"<figure><img src='{_esc(src)}' alt='{_esc(fig.title)}' loading='eager'>"
        f"<figcaption><b>Figure {number}. {_esc(fig.title)}.</b> {_esc(fig.caption)}</figcaption></figure>"
    )


def format_seconds(seconds: float) -> str:
    """``12.3 s``, ``4.5 min`` or ``2.1 h``."""
    s = float(seconds)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


CSS = """
:root{--fg:#1b1b1b;--muted:#5a5a5a;--line:#d4d4d4;--bg-alt:#f5f5f5;--accent:#0072B2}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:1rem 1.5rem 4rem}
header h1{font-size:1.6rem;margin:.6rem 0 .2rem}
.subtitle{color:var(--muted);margin:0 0 1rem}
h2{font-size:1.25rem;margin:0;display:inline}
h3{font-size:1.05rem;margin:0;display:inline}
#what-was-run h2{display:block;margin:1rem 0 .4rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.2rem 0 .6rem}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
details.section{border-top:1px solid var(--line);padding:.5rem 0}
details.section>summary{cursor:pointer;list-style-position:outside;padding:.2rem 0}
details.level3{border-top:1px dashed var(--line);margin-left:.5rem}
.content{padding:.3rem 0 .3rem}
pre{background:var(--bg-alt);padding:.6rem;overflow-x:auto;font-size:.8rem;max-height:28rem}
.table{overflow-x:auto;margin:.4rem 0}
table.data{border-collapse:collapse;font-size:.82rem;font-variant-numeric:tabular-nums}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:.2rem .55rem;text-align:left;white-space:nowrap}
table.data td.num{text-align:right}
table.data th{background:var(--bg-alt);position:sticky;top:0}
table.data tr:nth-child(even) td{background:#fafafa}
.caption,figcaption{color:var(--muted);font-size:.85rem;margin:.2rem 0 .8rem;max-width:75ch}
figure{margin:.8rem 0 1.2rem}
figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}
a{color:var(--accent)}
#toc{font-size:.85rem;padding:.6rem 1.5rem;border-bottom:1px solid var(--line);background:#fbfbfb}
#toc ul{margin:.2rem 0;padding-left:1.1rem}
.toc-title{font-weight:600;margin:.2rem 0}
button{font:inherit;font-size:.8rem;padding:.15rem .5rem;cursor:pointer}
@media (min-width:1400px){
 #toc{position:fixed;top:0;left:0;width:250px;height:100vh;overflow-y:auto;border-right:1px solid var(--line);border-bottom:none}
 main{margin-left:max(270px,calc(50vw - 560px))}
}
@media print{
 #toc,.toc-buttons{display:none}
 main{max-width:none;margin:0;padding:0}
 body{font-size:10pt}
 details.section>summary{list-style:none}
 details::details-content{content-visibility:visible;display:block}
 figure,table.data,pre{break-inside:avoid}
 h2,h3,summary{break-after:avoid}
 pre{max-height:none;white-space:pre-wrap}
 a{color:inherit;text-decoration:none}
}
"""

# Fold/unfold all; unfold the target of a contents link; print everything unfolded.
SCRIPT = """
(function(){
 var all=function(){return document.querySelectorAll('details');};
 var set=function(v){all().forEach(function(d){d.open=v;});};
 document.getElementById('unfold').addEventListener('click',function(){set(true);});
 document.getElementById('fold').addEventListener('click',function(){set(false);});
 var reveal=function(){var id=decodeURIComponent(location.hash.slice(1));var el=id&&document.getElementById(id);
  while(el){if(el.tagName==='DETAILS'){el.open=true;}el=el.parentElement;}};
 window.addEventListener('hashchange',reveal);reveal();
 var saved=[];
 window.addEventListener('beforeprint',function(){saved=[];all().forEach(function(d){saved.push(d.open);d.open=true;});});
 window.addEventListener('afterprint',function(){all().forEach(function(d,i){if(i<saved.length){d.open=saved[i];}});});
})();
"""
