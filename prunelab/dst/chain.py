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

from prunelab.errors import ConfigError

Links = tuple[np.ndarray, np.ndarray]


def _check_chain(links: Sequence[Links], sizes: Sequence[int]) -> None:
    if len(sizes) != len(links) + 1:
        raise ConfigError(f"chain of {len(links)} layers needs {len(links) + 1} level sizes, got {len(sizes)}")


def _sweeps(links: Sequence[Links], sizes: Sequence[int], keep: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    n_layers = len(links)
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


def chain_removal(links: Sequence[Links], sizes: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Remove the links of neurons that no longer lie on an input→output path.

    Parameters
    ----------
    links : sequence of (rows, cols)
        Per sparse layer, input side first: int arrays of shape (n_links_k,), the input unit
        (level k) and output unit (level k + 1) of each link.
    sizes : sequence of int
        Units per level, ``len(links) + 1`` values (``sizes[k]`` inputs of layer k).

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

    >>> keep, on_path = chain_removal([(np.array([0, 0]), np.array([0, 1])), (np.array([0]), np.array([0]))], [1, 2, 1])
    >>> keep[0].tolist(), on_path[1].tolist()
    ([True, False], [True, False])
    """
    _check_chain(links, sizes)
    links = [(np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64)) for r, c in links]
    keep = [np.ones(r.size, dtype=bool) for r, _ in links]
    while True:
        to_output, from_input = _sweeps(links, sizes, keep)
        new_keep = [keep[k] & from_input[k][r] & to_output[k + 1][c] for k, (r, c) in enumerate(links)]
        if all(np.array_equal(a, b) for a, b in zip(new_keep, keep, strict=True)):
            break
        keep = new_keep
    on_path = [from_input[k] & to_output[k] for k in range(len(sizes))]
    return keep, on_path


def on_path_units(links: Sequence[Links], sizes: Sequence[int]) -> list[np.ndarray]:
    """Per level, bool (sizes[k],): units on an input→output path (see :func:`chain_removal`)."""
    return chain_removal(links, sizes)[1]
