"""Crash-safe file writes: a file is either its old complete version or its new complete version.

:func:`atomic_write` writes to a temporary file next to the target (``.<name>.tmp-<pid>``),
flushes it to disk, then renames it over the target, so a ``kill -9`` or a full disk at any moment
never leaves a half-written file in place of a good one; a write that fails for lack of space or
permission removes its temporary file and raises a one-line :class:`~prunelab.errors.DiskError`.
Temporary files of killed processes are recognised by their name and removed by
:func:`remove_leftovers`.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from prunelab.core.faults import fault_point
from prunelab.errors import DiskError

#: errno values that mean "the disk cannot take this write", with the words a user sees
DISK_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large",
}

_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")


def is_disk_error(err: BaseException) -> bool:
    """True for an ``OSError`` whose errno is in :data:`DISK_ERRNOS`."""
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


def disk_error(err: OSError, path: str | Path) -> DiskError:
    """The one-line :class:`DiskError` for a failed write of ``path``."""
    reason = DISK_ERRNOS.get(err.errno or 0, err.strerror or str(err))
    return DiskError(
        f"could not write {path}: {reason}; free space (or make it writable) and rerun the "
        "same command to resume"
    )


def temp_path(path: Path) -> Path:
    """The temporary file :func:`atomic_write` uses for ``path`` in this process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def fsync_dir(folder: Path) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(
    path: str | Path, fault: str | None = None, keep_previous: str | Path | None = None
) -> Iterator[BinaryIO]:
    """Open a temporary file for writing; on success it replaces ``path`` atomically.

    Parameters
    ----------
    path : path
        The file to (re)write.
    fault : str, optional
        Prefix of the fault-injection points of this write: ``<fault>.write`` after the data is
        written and ``<fault>.rotate`` between moving the previous version aside and renaming the
        new one into place (see :mod:`prunelab.core.faults`).
    keep_previous : path, optional
        Where the previous version of ``path`` is kept (renamed, never copied) once the new one
        is complete, so a reader that finds ``path`` unreadable can fall back to it.

    Raises
    ------
    DiskError
        When the disk is full or not writable (the temporary file is removed, ``path`` and the
        previous version are untouched).
    """
    path = Path(path)
    tmp = temp_path(path)
    rotated = False
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            if fault:
                fault_point(f"{fault}.write")
            os.fsync(fh.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
            rotated = True
            if fault:
                fault_point(f"{fault}.rotate")
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as err:
        with suppress(OSError):
            tmp.unlink()
        if rotated and not path.exists():  # put the previous version back where readers look first
            with suppress(OSError):
                os.replace(keep_previous, path)  # type: ignore[arg-type]
        if is_disk_error(err):
            raise disk_error(err, path) from None  # type: ignore[arg-type]
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(folder: str | Path) -> list[Path]:
    """Temporary files under ``folder`` left by :func:`atomic_write` in processes that no longer exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob(".*.tmp-*"):
        m = _TEMP.match(path.name)
        if m and path.is_file() and not _pid_alive(int(m.group(1))):
            found.append(path)
    return sorted(found)


def remove_leftovers(folder: str | Path) -> int:
    """Delete :func:`leftovers` of ``folder``; returns how many were removed."""
    removed = 0
    for path in leftovers(folder):
        with suppress(OSError):
            path.unlink()
            removed += 1
    return removed
