"""The on-disk journal of a remote item: plain records that load without running any code.

A journal file (``<checkpoint dir>/.prunelab-journal/<run>.pkl``) sits in a directory that
several machines and users share, so reading it must never run code. Records are pickled
after :func:`encode` turned them into plain containers (dicts, lists, tuples, strings, bytes,
numbers, booleans, None; a table becomes its Parquet bytes), and :func:`read_records` loads
them with an unpickler that refuses every class and function: a record that would need one
raises :class:`~prunelab.errors.UnsafeFileError` (one line) instead of being loaded.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from prunelab.errors import UnsafeFileError

_TABLE = "__parquet__"


def encode(obj: Any) -> Any:
    """``obj`` as plain containers: numpy scalars as numbers, a DataFrame as ``{_TABLE: bytes}``.

    Raises
    ------
    TypeError
        For a value of any other type (it could not be read back safely).
    """
    if obj is None or type(obj) in (bool, int, float, str, bytes):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    for plain in (
        bool,
        int,
        float,
        str,
        bytes,
    ):  # subclasses (e.g. torch's version string) as the base
        if isinstance(obj, plain):
            return plain(obj)
    if isinstance(obj, pd.DataFrame):
        buf = io.BytesIO()
        obj.to_parquet(buf, index=False)
        return {_TABLE: buf.getvalue()}
    if isinstance(obj, dict):
        return {encode(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(encode(v) for v in obj)
    raise TypeError(f"a journal record cannot hold a {type(obj).__name__}")


def decode(obj: Any) -> Any:
    """The inverse of :func:`encode` (tables come back as DataFrames)."""
    if isinstance(obj, dict):
        if set(obj) == {_TABLE}:
            return pd.read_parquet(io.BytesIO(obj[_TABLE]))
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(decode(v) for v in obj)
    return obj


def write_record(fh: BinaryIO, entry: tuple) -> None:
    """Append one record (encoded) to an open journal file; TypeError for a value it cannot hold."""
    fh.write(pickle.dumps(encode(entry), protocol=4))


class _PlainUnpickler(pickle.Unpickler):
    """Loads plain containers only: any class or function in the stream is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise _Refused(f"{module}.{name}")


class _Refused(pickle.UnpicklingError):
    pass


def read_records(path: str | Path) -> list[Any]:
    """The decoded records of a journal file, up to a record cut short (a killed writer's last).

    Raises
    ------
    UnsafeFileError
        A record needs a class or function to load (the file was not written by prunelab, or
        was altered): nothing of it is used.
    """
    entries = []
    with open(path, "rb") as fh:
        while True:
            try:
                entries.append(decode(_PlainUnpickler(fh).load()))
            except EOFError:
                break
            except _Refused as err:
                raise UnsafeFileError(
                    f"refusing to read journal {path}: it needs arbitrary unpickling ({err}), which "
                    "could run code; it is discarded: rerun to restart the item from its stored epochs"
                ) from None
            except (pickle.UnpicklingError, ValueError, IndexError, TypeError, KeyError):
                break  # the record the killed attempt was writing
    return entries
