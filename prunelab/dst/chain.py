"""Chain removal: drop every hidden neuron (with its links) that is not on an input→output path.

The sparse layers of a model form a chain of bipartite graphs: level 0 are the inputs, level
``L`` the outputs of the last sparse layer. A unit is *on a path* when it is reachable from
level 0 along links and can reach level ``L``. Inputs are always sources and the units of level
``L`` are always sinks (they feed the dense readout, or are the classes when the readout is
sparse), so only hidden units (levels 1..L-1) can be cut off. A backward sweep (which units
reach the output) followed by a forward sweep (which units are reached from the input) gives the
fixed point; the loop checks it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prunelab.core.links import Links
from prunelab.errors import ConfigError


def _sizes(links: Sequence[Links]) -> list[int]:
    """Units per level of a chain of layers (each layer's n_out must be the next one's n_in)."""
    if not links:
        raise ConfigError("chain removal needs at least one layer")
    for k in range(len(links) - 1):
        if links[k].n_out != links[k + 1].n_in:
            raise ConfigError(
                f"layer {k} has {links[k].n_out} outputs but layer {k + 1} has {links[k + 1].n_in} inputs; "
                "pass the sparse layers of a feed-forward chain in order"
            )
    return [links[0].n_in] + [layer.n_out for layer in links]


def _sweeps(
    links: Sequence[Links], sizes: Sequence[int], keep: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    n_layers = len(links)
    links = [(layer.rows, layer.cols) for layer in links]
    to_output: list[np.ndarray] = [np.zeros(0, bool)] * (n_layers + 1)
    to_output[n_layers] = np.ones(sizes[n_layers], dtype=bool)
    for k in range(n_layers - 1, -1, -1):
        rows, cols = links[k]
        valid = keep[k] & to_output[k + 1][cols]
        to_output[k] = np.bincount(rows[valid], minlength=sizes[k]) > 0
    from_input: list[np.ndarray] = [np.ones(sizes[0], dtype=bool)]
    for k in range(n_layers):
        rows, cols = links[k]
        valid = keep[k] & from_input[k][rows] & to_output[k + 1][cols]
        from_input.append(np.bincount(cols[valid], minlength=sizes[k + 1]) > 0)
    return to_output, from_input


def chain_removal(links: Sequence[Links]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Remove the links of neurons that no longer lie on an input→output path.

    Parameters
    ----------
    links : sequence of Links
        The sparse layers, input side first; layer k joins level k to level k + 1.

    Returns
    -------
    keep : list of ndarray of shape (n_links_k,), bool
        Per layer, True for links both of whose units are on a path.
    on_path : list of ndarray of shape (sizes[k],), bool
        Per level, True for units on an input→output path (level 0: inputs that reach the
        output; level L: units reached from the input).

    Examples
    --------
    Hidden unit 1 has no outgoing link, so its incoming link goes:

    >>> keep, on_path = chain_removal([Links(np.array([0, 0]), np.array([0, 1]), (1, 2)),
    ...                                Links(np.array([0]), np.array([0]), (2, 1))])
    >>> keep[0].tolist(), on_path[1].tolist()
    ([True, False], [True, False])
    """
    links = [Links.of(layer) for layer in links]
    sizes = _sizes(links)
    keep = [np.ones(layer.n_links, dtype=bool) for layer in links]
    while True:
        to_output, from_input = _sweeps(links, sizes, keep)
        new_keep = [
            keep[k] & from_input[k][layer.rows] & to_output[k + 1][layer.cols]
            for k, layer in enumerate(links)
        ]
        if all(np.array_equal(a, b) for a, b in zip(new_keep, keep, strict=True)):
            break
        keep = new_keep
    on_path = [from_input[k] & to_output[k] for k in range(len(sizes))]
    return keep, on_path


def on_path_units(links: Sequence[Links]) -> list[np.ndarray]:
    """Per level, bool (units,): units on an input→output path (see :func:`chain_removal`)."""
    return chain_removal(links)[1]
