"""Downloading file data sets from their official mirrors into the cache (atomic, verified).

Split from :mod:`prunelab.data.files` (specs, lookup, reading); the timeout and mirror settings
live there (``files.DOWNLOAD_TIMEOUT``, ``files.MIRROR_ENV``) so that one place configures them.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from prunelab.data import files
from prunelab.data.files import FileDatasetSpec, FileSpec, Layout
from prunelab.data.idx import atomic_path, md5_file
from prunelab.errors import DataError


def mirrors_for(layout: Layout) -> tuple[str, ...]:
    """Base URLs for a layout; ``$PRUNELAB_DATA_MIRROR`` (one base URL) replaces them all."""
    override = os.environ.get(files.MIRROR_ENV)
    return (override.rstrip("/") + "/",) if override else layout.mirrors


def downloadable_layout(spec: FileDatasetSpec) -> Layout | None:
    """The first layout of ``spec`` that has mirrors, or None."""
    return next((layout for layout in spec.layouts if layout.mirrors), None)


def _fetch_to(url: str, dest: Path) -> None:
    # urllib streams into the file so a 500 MB archive never sits in memory
    with (
        urllib.request.urlopen(url, timeout=files.DOWNLOAD_TIMEOUT) as response,
        open(dest, "wb") as out,
    ):  # noqa: S310 - http(s) mirrors from the spec
        shutil.copyfileobj(response, out, 1 << 20)


_NET_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return " ".join(str(reason).split())  # one line


def download(spec: FileDatasetSpec, target: Path) -> None:
    """Download ``spec``'s files into ``target``, each verified before it is renamed into place.

    Files already present in ``target`` are kept. Each file is written to a temporary file in
    ``target``, checked (md5 of the archive when known, then structure), and only then renamed
    to its final name, so an interrupted or corrupt download never leaves a usable-looking file.

    Raises
    ------
    DataError
        If ``target`` cannot be created or no mirror delivers a file that verifies.
    """
    layout = downloadable_layout(spec)
    if layout is None:
        raise DataError(f"{spec.name} has no download mirror")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"cannot create data directory {str(target)!r} ({err.strerror}); set {files.DATA_ENV} to a writable directory"
        ) from None
    missing = [
        f for f in layout.files if not any(p.is_file() for p in files._candidates(target, f))
    ]
    if not missing:
        return
    if layout.archive:
        _download_archive(layout, missing, target)
        return
    for file in missing:
        errors = []
        for base in mirrors_for(layout):
            try:
                with atomic_path(target / file.name) as tmp:
                    _fetch_to(base + file.name, tmp)
                    files.read_verified(tmp, file, layout.fmt, official_name=True)
                break
            except DataError as err:
                errors.append(f"{base}{file.name}: {err}")
            except _NET_ERRORS as err:
                errors.append(f"{base}{file.name}: {_reason(err)}")
        else:
            raise DataError("; ".join(errors))


def _download_archive(layout: Layout, missing: list[FileSpec], target: Path) -> None:
    errors = []
    for base in mirrors_for(layout):
        url = base + str(layout.archive)
        # the archive is only a carrier: it lives in a temporary file and is deleted afterwards
        fd, name = tempfile.mkstemp(prefix=f".{layout.archive}.", suffix=".part", dir=target)
        os.close(fd)
        archive = Path(name)
        try:
            _fetch_to(url, archive)
            if layout.archive_md5 and md5_file(archive) != layout.archive_md5:
                raise DataError(
                    f"checksum mismatch for {url} (md5 differs from the official archive)"
                )
            with zipfile.ZipFile(archive) as zf:
                for file in missing:
                    with atomic_path(target / file.name) as tmp:
                        with (
                            zf.open(layout.archive_member_dir + file.name) as src,
                            open(tmp, "wb") as out,
                        ):
                            shutil.copyfileobj(src, out, 1 << 20)
                        files.read_verified(tmp, file, layout.fmt, official_name=True)
            return
        except DataError as err:
            errors.append(str(err))
        except (zipfile.BadZipFile, KeyError) as err:
            errors.append(f"{url} is not the expected zip ({_reason(err)})")
        except _NET_ERRORS as err:
            errors.append(f"{url}: {_reason(err)}")
        finally:
            archive.unlink(missing_ok=True)
    raise DataError("; ".join(errors))
