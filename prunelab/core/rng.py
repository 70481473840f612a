"""One way to turn a seed into a random generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Seed = int | Sequence[int] | np.random.Generator | None


def as_generator(seed: Seed) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from a seed.

    Parameters
    ----------
    seed : int, sequence of int, Generator or None
        A generator is returned as it is (shared, not copied); an int or a sequence of ints
        (e.g. ``[seed, step, draw]`` for independent streams) seeds a new PCG64 generator;
        None draws fresh OS entropy (not reproducible).

    Examples
    --------
    >>> bool(as_generator(0).integers(10) == as_generator(0).integers(10))
    True
    >>> g = as_generator(1)
    >>> as_generator(g) is g
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
