"""Checkpoint files: written atomically with the previous version kept, loaded safely, with fallback.

A checkpoint (``checkpoint.pt``) holds only tensors and plain containers (dicts, lists, numbers,
strings; the numpy bit-generator state is a dict of ints), so it loads with
``torch.load(weights_only=True)``: a file that would need arbitrary unpickling (and could run code)
is refused with :class:`~prunelab.errors.UnsafeFileError`. Each save keeps the previous complete
checkpoint as ``checkpoint.prev.pt`` until the new one is complete, and :func:`load_checkpoint`
falls back to it when the newest does not load (truncated by a crash of the file system, an
interrupted copy, a full disk); when neither loads the caller restarts the work, and the note
returned says what happened.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from prunelab.core.files import atomic_write
from prunelab.errors import DamagedFileError, UnsafeFileError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def previous_path(path: str | Path) -> Path:
    """Where the previous version of checkpoint ``path`` is kept: ``<stem>.prev<suffix>``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def remove_checkpoint(path: str | Path) -> None:
    """Delete checkpoint ``path`` and its :func:`previous_path` (a finished item needs neither; a
    stale previous version left behind would make a rerun of a deleted run resume from it)."""
    for p in (Path(path), previous_path(path)):
        p.unlink(missing_ok=True)


def atomic_torch_save(obj: Any, path: str | Path, keep_previous: bool = True) -> None:
    """Write ``obj`` with torch.save to ``path`` atomically (temporary file, fsync, rename).

    With ``keep_previous`` the version it replaces stays as :func:`previous_path` until the next
    save. A full or unwritable disk raises :class:`~prunelab.errors.DiskError` and leaves both
    files untouched.
    """
    path = Path(path)
    with atomic_write(
        path, fault="checkpoint", keep_previous=previous_path(path) if keep_previous else None
    ) as fh:
        torch.save(obj, fh)


def safe_load(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors.

    Raises
    ------
    UnsafeFileError
        The file needs arbitrary unpickling (a class or function outside tensors and plain
        containers); it is not loaded.
    DamagedFileError
        The file is missing, truncated or not a torch file.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _GLOBAL.search(str(err))
        if found:
            raise UnsafeFileError(
                f"refusing to load {path}: it needs arbitrary unpickling ({found.group(1)}), which could run code; "
                "prunelab files hold only tensors and plain containers, so delete it unless you trust its source"
            ) from None
        raise DamagedFileError(f"{path} is damaged (not a readable torch file)") from None
    except FileNotFoundError:
        raise DamagedFileError(f"{path} does not exist") from None
    except Exception as err:  # noqa: BLE001 - any failure to parse means the file is damaged
        raise DamagedFileError(f"{path} is damaged ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "central directory" in text or "zip archive" in text:
        return "truncated or not a zip archive"
    if isinstance(err, EOFError):
        return "empty or truncated"
    return text[:120]


def load_checkpoint(
    path: str | Path, apply: Callable[[Any], None] | None = None
) -> tuple[Any | None, str]:
    """The newest usable checkpoint of ``path`` (the file, else its previous version).

    Parameters
    ----------
    path : path
        The checkpoint; :func:`previous_path` is tried when it is missing or does not load.
    apply : callable, optional
        ``apply(state)`` uses a loaded state (e.g. loads it into a trainer); an exception from it
        (a state that does not fit, or that the caller rejects) makes the state unusable, and the
        next candidate is tried. ``apply`` must leave its target as it was when it raises.

    Returns
    -------
    (state, note)
        ``state`` is None when no checkpoint exists (``note`` empty) or none is usable (``note``
        says why, ending "starting from scratch"). With a state, ``note`` is empty for the newest
        file and explains the fallback otherwise.

    Raises
    ------
    UnsafeFileError
        A candidate needs arbitrary unpickling: it is refused, never loaded or replaced.
    """
    path = Path(path)
    problems: list[str] = []
    for candidate in (path, previous_path(path)):
        if not candidate.exists():
            if candidate == path and previous_path(path).exists():
                problems.append(f"{candidate.name} is missing (a save was interrupted)")
            continue
        try:
            state = safe_load(candidate)
            if apply is not None:
                apply(state)
        except UnsafeFileError:
            raise
        except Exception as err:  # noqa: BLE001 - damaged or unusable: try the next candidate
            problems.append(f"{candidate.name} did not load ({_short(err, candidate)})")
            continue
        if candidate == path:
            return state, ""
        return state, "; ".join(problems) + f"; used the previous checkpoint {candidate.name}"
    if not problems:
        return None, ""
    return None, "; ".join(problems) + "; starting from scratch"


def _short(err: BaseException, path: Path) -> str:
    text = str(err)
    if isinstance(err, DamagedFileError):
        text = text.replace(f"{path} is ", "")
    return text.strip().splitlines()[0][:160] if text.strip() else type(err).__name__
