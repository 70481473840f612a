"""User-facing errors.

Every error a user can cause by bad input is a :class:`PrunelabError` whose message is one line
naming the problem and the fix. The CLI prints it without a traceback and exits with
:attr:`PrunelabError.exit_code` (2 for bad input, 1 for a failed run).
"""

from __future__ import annotations


class PrunelabError(Exception):
    """Bad input or an unusable environment; the message is one line that says how to fix it."""

    exit_code: int = 2


class ConfigError(PrunelabError, ValueError):
    """An invalid configuration value, key or combination."""


class DataError(PrunelabError):
    """A data set that is missing, corrupt or fails verification."""


class StoreError(PrunelabError):
    """The results store cannot be used (e.g. an unwritable runs directory, unknown run)."""


class RunFailed(PrunelabError):
    """A run that started but could not finish (e.g. a non-finite loss)."""

    exit_code = 1


class DiskError(PrunelabError):
    """A write failed for lack of space or permission (disk full, quota, read-only file system).

    Nothing half-written is left in place of a good file; rerunning after the cause is fixed
    resumes the work.
    """

    exit_code = 1


class DamagedFileError(PrunelabError):
    """A file that exists but cannot be read back (truncated, corrupt, not what its name says)."""


class UnsafeFileError(PrunelabError):
    """A file that would need arbitrary unpickling (code execution) to load; it is refused."""


def check_density(density: float, name: str = "density") -> float:
    """Validate a density (fraction of possible links present) in (0, 1].

    Parameters
    ----------
    density : float
        Fraction of the possible links of a layer that exist, dimensionless.
    name : str
        Name of the parameter, used in the error message.

    Returns
    -------
    float
        ``density`` as a float.

    Raises
    ------
    ConfigError
        If ``density`` is not a finite number in (0, 1].
    """
    try:
        value = float(density)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in (0, 1], got {density!r}") from None
    if not (0.0 < value <= 1.0):
        raise ConfigError(
            f"{name} must be in (0, 1], got {density!r}; e.g. {name}=0.01 for 1% of links"
        )
    return value


def check_open_fraction(value: float, name: str, meaning: str = "", example: str = "") -> float:
    """Validate a number in the open interval (0, 1).

    Parameters
    ----------
    value : float
        The value to check (dimensionless).
    name : str
        Its name in the message.
    meaning : str
        What it is, added in parentheses to the message.
    example : str
        A valid value suggested by the message.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        One line naming the parameter, the interval and the value.
    """
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < out < 1.0:
        what = f" ({meaning})" if meaning else ""
        hint = f"; e.g. {example}" if example else ""
        raise ConfigError(f"{name}{what} must be in (0, 1), got {value!r}{hint}")
    return out
