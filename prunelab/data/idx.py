"""Readers and writers for the IDX format (MNIST family) and KMNIST's npz files.

IDX: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian int32 per dimension and the data in C order. Files may be gzipped. numpy, scipy and
scikit-learn have no IDX reader, hence this small one (about twenty lines on top of numpy).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from prunelab.errors import DataError

# IDX type code -> dtype as stored (big-endian for multi-byte types)
_IDX_TYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_IDX_CODES: dict[np.dtype, int] = {
    np.dtype(t).newbyteorder("="): code for code, t in _IDX_TYPES.items()
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """Read a file and return its decompressed content.

    Parameters
    ----------
    path : str or Path
        A file; it is gunzipped when it starts with the gzip magic bytes, whatever its name.

    Returns
    -------
    bytes
        The content (decompressed if the file is gzipped).

    Raises
    ------
    DataError
        If the file cannot be read, or is a corrupt or truncated gzip (gzip's CRC catches both).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(
            f"cannot read data file {str(path)!r} ({err.strerror}); check the path and its permissions"
        ) from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"data file {str(path)!r} is a corrupt or truncated gzip ({err}); delete it and fetch it again"
        ) from None


def parse_idx(content: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX file.

    Parameters
    ----------
    content : bytes
        The whole IDX file.
    name : str
        What to call the data in error messages (usually its path).

    Returns
    -------
    ndarray
        Array of the shape in the header, e.g. (n, 28, 28) uint8 for images or (n,) uint8 for
        labels, in native byte order.

    Raises
    ------
    DataError
        Bad magic number or type code, or a length that does not match the header (truncated).

    Examples
    --------
    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))
    array([7, 9], dtype=uint8)
    """
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in _IDX_TYPES:
        raise DataError(
            f"{name} is not an IDX file (bad magic number); replace it with the original file"
        )
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{name} is truncated (incomplete header); delete it and fetch it again")
    dims = tuple(int(d) for d in np.frombuffer(content, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[content[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(content) < expected:
        raise DataError(
            f"{name} is truncated ({len(content)} bytes, header says {expected}); delete it and fetch it again"
        )
    if len(content) > expected:
        raise DataError(
            f"{name} is longer than its header says ({len(content)} bytes, expected {expected}); replace it with the original file"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header).reshape(dims)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzipped or not.

    Parameters
    ----------
    path : str or Path
        E.g. ``train-images-idx3-ubyte.gz`` or ``train-images-idx3-ubyte``.

    Returns
    -------
    ndarray
        The stored array, e.g. (60000, 28, 28) uint8 images or (60000,) uint8 labels.

    Raises
    ------
    DataError
        Unreadable, corrupt or truncated file, or not IDX.
    """
    return parse_idx(read_bytes(path), str(path))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as an IDX file.

    Parameters
    ----------
    path : str or Path
        Destination; written in one piece via a temporary file and a rename.
    array : ndarray
        Any shape; dtype uint8, int8, int16, int32, float32 or float64 (stored big-endian).
    compress : bool, optional
        Gzip the file; by default when ``path`` ends in ``.gz``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        If the dtype has no IDX type code.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = write_idx(os.path.join(tempfile.mkdtemp(), "y.gz"), np.array([3, 1], dtype=np.uint8))
    >>> read_idx(p)
    array([3, 1], dtype=uint8)
    """
    array = np.ascontiguousarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            f"write_idx cannot store dtype {array.dtype}; convert to uint8, int8, int16, int32, float32 or float64"
        )
    path = Path(path)
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    content = header + array.astype(np.dtype(_IDX_TYPES[code]), copy=False).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        content = gzip.compress(content)
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return path


def read_npz_array(path: str | Path) -> np.ndarray:
    """Read the single array of an npz file, as KMNIST ships them (key ``arr_0``).

    Parameters
    ----------
    path : str or Path
        E.g. ``kmnist-train-imgs.npz``.

    Returns
    -------
    ndarray
        The first stored array, e.g. (60000, 28, 28) uint8.

    Raises
    ------
    DataError
        If the file is not a readable npz (corrupt, truncated, empty, pickled objects).
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile) or not npz.files:
                raise ValueError("no array inside")
            return npz[npz.files[0]]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(
            f"{str(path)!r} is not a readable npz file ({err}); delete it and fetch it again"
        ) from None


def sha256_hex(content: bytes) -> str:
    """sha256 of ``content`` as 64 hex digits."""
    return hashlib.sha256(content).hexdigest()


def md5_file(path: str | Path) -> str:
    """md5 of a file's raw bytes as 32 hex digits (the official archives publish md5s)."""
    with open(path, "rb") as fh:
        return (
            hashlib.file_digest(fh, "md5").hexdigest()
            if hasattr(hashlib, "file_digest")
            else _md5_chunks(fh)
        )


def _md5_chunks(fh) -> str:  # Python 3.10 has no hashlib.file_digest
    digest = hashlib.md5()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    Readers never see a half-written file: the rename (``os.replace``) is atomic on one file system.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
