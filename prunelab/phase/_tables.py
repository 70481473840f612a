"""Validation of the pandas tables that phase analysis consumes."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from prunelab.errors import ConfigError


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], what: str = "table") -> None:
    """Raise a one-line ConfigError naming every missing column and the available ones."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise ConfigError(
            f"{what} is missing column(s) {', '.join(map(repr, missing))}; available: "
            f"{', '.join(map(repr, df.columns))}; pass the right column names"
        )


def require_sizes(
    df: pd.DataFrame, size: str, minimum: int = 3, what: str = "a finite-size collapse"
) -> list:
    """Sorted distinct sizes; ConfigError when fewer than ``minimum`` or any size is not > 0."""
    sizes = sorted(pd.unique(df[size]))
    if len(sizes) < minimum:
        raise ConfigError(
            f"{what} needs at least {minimum} distinct values of {size!r}, got {len(sizes)} "
            f"({', '.join(map(str, sizes))}); add runs at more sizes"
        )
    if min(sizes) <= 0:
        raise ConfigError(f"sizes in column {size!r} must be > 0, got {min(sizes)}")
    return sizes
