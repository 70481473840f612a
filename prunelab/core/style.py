"""The one figure style of prunelab: sizes, fonts, a colour-blind-safe palette, a colour per method.

Every figure function (reports, robustness plots, phase-transition figures) draws inside
:func:`context` and saves with :func:`save`, and colours a method, a perturbation kind or a
group with :func:`color_for`, so the same method has the same colour on every page. The palette
is Okabe & Ito's (2008) eight colours, distinguishable with the common colour-vision
deficiencies; names outside the fixed tables get a palette colour from a hash of the name (stable
across pages and runs, not dependent on the order of appearance).

It lives in ``core`` so that analysis packages below the report layer can use it too; it imports
matplotlib only when a figure is drawn.

Examples
--------
>>> color_for("CH3-L3") == color_for("CH3-L3") == METHOD_COLORS["CH3-L3"]
True
>>> color_for("some new method") in PALETTE
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Okabe-Ito: black, orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
#: the palette without black and yellow (too dark / too light for thin lines), for hashed names
LINE_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7")
GREY = "#7F7F7F"

#: fixed colours of the methods prunelab names (DST rules of :func:`prunelab.report.robustness.run_group`)
METHOD_COLORS: dict[str, str] = {
    "RLR": "#0072B2",
    "RLR + chain": "#56B4E9",
    "CH3-L3": "#D55E00",
    "CH3-L3 + chain": "#E69F00",
    "RigL": "#009E73",
    "RigL + chain": "#009E73",
    "L3": "#CC79A7",
    "L3 + chain": "#CC79A7",
    "static": GREY,
    "dense": "#000000",
    "imported": "#CC79A7",
    "magnitude-pruned": "#009E73",  # the control of the DST groups beside dense (no RigL in those figures)
    # pruning at initialisation (prunelab.pai)
    "Random": "#0072B2",
    "Magnitude": "#56B4E9",
    "SNIP": "#E69F00",
    "GraSP": "#009E73",
    "SynFlow": "#D55E00",
}
#: fixed colours of the perturbation kinds (the paper's: reverse red, random green, weight order
#: grey, shuffling purple, noise light blue, mapped onto the palette)
KIND_COLORS: dict[str, str] = {
    "reverse_weight_order_pruning": "#D55E00",
    "random_pruning": "#009E73",
    "weight_order_pruning": GREY,
    "weight_shuffling": "#CC79A7",
    "weight_noise": "#56B4E9",
}
#: line styles for a second distinction (groups within a colour)
LINE_STYLES = ("-", "--", ":", "-.")

#: figure sizes in inches (width, height): one panel, two panels side by side, a row of n panels
SINGLE = (5.5, 3.8)
WIDE = (11.0, 3.8)
PANEL_WIDTH = 3.9
#: dots per inch of saved PNGs: sharp on a laptop screen, small files
DPI = 110

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs on every machine
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.5,
    "lines.markersize": 3.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    "savefig.bbox": "tight",
    "image.cmap": "viridis",
}


def color_for(name: str) -> str:
    """The colour of a method, perturbation kind or group ``name`` (hex string).

    Fixed for the names in :data:`METHOD_COLORS` and :data:`KIND_COLORS`; any other name gets a
    colour of :data:`LINE_COLORS` chosen by a hash of the name, so it is the same on every page.
    """
    name = str(name)
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    if name in KIND_COLORS:
        return KIND_COLORS[name]
    digest = hashlib.sha1(name.encode()).digest()
    return LINE_COLORS[digest[0] % len(LINE_COLORS)]


def sequential_colors(values: list[Any]) -> dict[Any, Any]:
    """Colours for ordered values (system sizes, widths): viridis, which stays readable in grey."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    ordered = sorted(values)
    n = max(len(ordered) - 1, 1)
    return {v: cmap(0.85 * k / n) for k, v in enumerate(ordered)}


def panels(n: int, height: float = SINGLE[1]) -> tuple[float, float]:
    """Figure size for a row of ``n`` panels."""
    return (PANEL_WIDTH * max(int(n), 1), height)


@contextmanager
def context() -> Iterator[None]:
    """Draw figures in the package style (matplotlib rc parameters, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(RC):
        yield


def save(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` as a PNG at :data:`DPI`, atomically (no half-written image), and close it.

    Axes whose x label is ``"epoch"`` get whole-number ticks (a 4-epoch run would otherwise be
    labelled 0.5, 1.5, ...).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    with matplotlib_rc():
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    os.replace(tmp, path)
    plt.close(fig)
    return path


@contextmanager
def matplotlib_rc() -> Iterator[None]:
    """The saving-relevant rc parameters, also for figures drawn outside :func:`context`."""
    import matplotlib

    with matplotlib.rc_context({"savefig.dpi": DPI, "savefig.bbox": "tight"}):
        yield
