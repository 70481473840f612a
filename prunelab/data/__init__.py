"""Data sets by name.

>>> from prunelab.data import load_dataset
>>> ds = load_dataset("digits")
>>> ds.x_train.shape, ds.n_classes
((1437, 64), 10)

Registered names (:data:`DATASETS`): ``fashion-mnist``, ``mnist``, ``kmnist``,
``emnist-letters`` (files; see :mod:`prunelab.data.files` for lookup order, verification and
downloads), ``digits`` (scikit-learn's bundled 8×8 digits) and ``synthetic`` (generated).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prunelab.data.files import (
    FILE_DATASETS,
    FileDatasetSpec,
    cache_dir,
    download,
    download_dir,
    find_files,
    read_file_dataset,
    search_dirs,
)
from prunelab.data.idx import read_idx, write_idx
from prunelab.errors import ConfigError, DataError


@dataclass(frozen=True)
class Dataset:
    """A classification data set held in memory.

    Attributes
    ----------
    name : str
    x_train, x_test : ndarray of shape (n, n_features), float32
        Images are flattened and scaled to [0, 1]; synthetic features are standardised reals.
    y_train, y_test : ndarray of shape (n,), int64, values in 0..n_classes-1
    n_classes : int
    image_shape : tuple of int or None
        (height, width) of images, None for non-image data.
    source : str
        Directory the files were read from, or "scikit-learn" / "generated".
    verification : str
        "sha256", "md5", "structure only", "bundled" or "generated".
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None
    source: str
    verification: str

    @property
    def n_features(self) -> int:
        """Features per sample (e.g. 784 for 28×28 images)."""
        return int(self.x_train.shape[1])


def _load_files(spec: FileDatasetSpec, data_dir: str | Path | None, download_missing: bool) -> Dataset:
    folder, paths = find_files(spec, data_dir)
    if folder is None:
        searched = ", ".join(str(d) for d in search_dirs(spec, data_dir))
        if not download_missing:
            raise DataError(
                f"{spec.name} files not found (searched {searched}); put {', '.join(f.name for f in spec.files)} "
                "in one of them, set PRUNELAB_DATA, or allow downloads"
            )
        try:
            download(spec, download_dir(data_dir))
        except DataError as err:
            raise DataError(
                f"{spec.name} not found locally (searched {searched}) and the download failed: {err}; "
                f"put {', '.join(f.name for f in spec.files)} in {download_dir(data_dir) / spec.name} or set PRUNELAB_DATA"
            ) from None
        folder, paths = find_files(spec, data_dir)
        if folder is None:  # pragma: no cover - download() guarantees the files
            raise DataError(f"{spec.name}: download finished but the files are missing in {download_dir(data_dir)}")
    arrays, how = read_file_dataset(spec, paths)

    def images(x: np.ndarray) -> np.ndarray:
        if spec.transpose:
            x = x.transpose(0, 2, 1)
        return (x.reshape(len(x), -1).astype(np.float32) / 255.0)

    return Dataset(spec.name, images(arrays["x_train"]), arrays["y_train"], images(arrays["x_test"]), arrays["y_test"],
                   spec.n_classes, spec.image_shape, str(folder), how)


def _load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, 10, (8, 8), "scikit-learn", "bundled")


def make_synthetic(
    n_samples: int = 2000,
    n_features: int = 20,
    n_classes: int = 4,
    kind: str = "gaussian-mixture",
    seed: int = 0,
    test_fraction: float = 0.2,
    separation: float = 2.0,
    teacher_hidden: int = 32,
) -> Dataset:
    """A seeded classification task.

    Parameters
    ----------
    kind : {"gaussian-mixture", "teacher-student"}
        Gaussian mixture: class means drawn from N(0, separation² I / n_features)·sqrt(n_features),
        samples N(mean, I). Teacher-student: x ~ N(0, I), label = argmax of a random one-hidden-layer
        tanh network (``teacher_hidden`` units) — learnable exactly by a large enough student.
    """
    if kind not in ("gaussian-mixture", "teacher-student"):
        raise ConfigError(f"unknown synthetic kind {kind!r}; choose 'gaussian-mixture' or 'teacher-student'")
    if n_classes < 2 or n_features < 1 or n_samples < 2 * n_classes:
        raise ConfigError("synthetic data needs n_classes >= 2, n_features >= 1 and n_samples >= 2 * n_classes")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    if kind == "gaussian-mixture":
        means = rng.normal(0, separation, size=(n_classes, n_features))
        y = rng.integers(0, n_classes, size=n_samples)
        x = means[y] + rng.normal(size=(n_samples, n_features))
    else:
        x = rng.normal(size=(n_samples, n_features))
        w1 = rng.normal(size=(n_features, teacher_hidden)) / np.sqrt(n_features)
        w2 = rng.normal(size=(teacher_hidden, n_classes)) / np.sqrt(teacher_hidden)
        y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
    n_test = int(round(test_fraction * n_samples))
    x = x.astype(np.float32)
    y = y.astype(np.int64)
    return Dataset("synthetic", x[n_test:], y[n_test:], x[:n_test], y[:n_test], n_classes, None, "generated", "generated")


DATASETS: tuple[str, ...] = (*FILE_DATASETS, "digits", "synthetic")


def _check_name(name: str) -> None:
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(DATASETS)}"
        raise ConfigError(f"unknown data set {name!r}; {hint}")


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = True, **options: Any) -> Dataset:
    """Load a registered data set.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    data_dir : path, optional
        Searched first; downloads go here when given.
    download : bool
        Download missing files from the official mirrors (verified, atomic).
    **options
        ``digits``: ``test_fraction``, ``seed``; ``synthetic``: see :func:`make_synthetic`.

    Raises
    ------
    ConfigError
        Unknown name or options.
    DataError
        Files missing (offline), corrupt, truncated or failing their checksum.
    """
    _check_name(name)
    try:
        if name == "digits":
            return _load_digits(**options)
        if name == "synthetic":
            return make_synthetic(**options)
    except TypeError as err:
        raise ConfigError(f"bad option for data set {name!r}: {err}") from None
    if options:
        raise ConfigError(f"data set {name!r} takes no options, got {sorted(options)}")
    return _load_files(FILE_DATASETS[name], data_dir, download)


def dataset_status(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Where a data set is and whether it verifies; never downloads.

    Returns
    -------
    dict
        ``name``, ``found_at`` (str or None), ``verified`` (True, False, or None when only the
        structure could be checked or nothing was found), ``detail`` (one line).
    """
    _check_name(name)
    if name == "digits":
        return {"name": name, "found_at": "scikit-learn (bundled)", "verified": True, "detail": "1797 images, 8x8"}
    if name == "synthetic":
        return {"name": name, "found_at": "generated on demand", "verified": None, "detail": "seeded"}
    spec = FILE_DATASETS[name]
    folder, paths = find_files(spec, data_dir)
    if folder is None:
        return {"name": name, "found_at": None, "verified": None,
                "detail": f"not found; downloads to {download_dir(data_dir) / name} on first use"}
    try:
        _, how = read_file_dataset(spec, paths)
    except DataError as err:
        return {"name": name, "found_at": str(folder), "verified": False, "detail": str(err)}
    verified = True if how in ("sha256", "md5") else None
    return {"name": name, "found_at": str(folder), "verified": verified,
            "detail": f"{spec.n_train}+{spec.n_test} images, checked by {how}"}


def list_dataset_status(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """:func:`dataset_status` of every registered data set."""
    return [dataset_status(name, data_dir) for name in DATASETS]


__all__ = [
    "DATASETS", "Dataset", "FILE_DATASETS", "cache_dir", "dataset_status", "list_dataset_status", "load_dataset",
    "make_synthetic", "read_idx", "write_idx",
]
