"""The registry of data sets by name, and the two verbs on it: load and status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prunelab.core.registry import Registry
from prunelab.data import download as downloads
from prunelab.data import files
from prunelab.data.dataset import Dataset
from prunelab.data.files import FILE_DATASETS, FileDatasetSpec
from prunelab.data.generated import GENERATED_DATASETS, GeneratedDatasetSpec
from prunelab.errors import ConfigError, DataError

DatasetSpec = FileDatasetSpec | GeneratedDatasetSpec

#: every data set by name; adding a data set is registering one spec
DATASETS: Registry[DatasetSpec] = Registry("data set")
for _name, _spec in {**FILE_DATASETS, **GENERATED_DATASETS}.items():
    DATASETS.register(_name, _spec)


def get_spec(name: str) -> DatasetSpec:
    """The spec registered as ``name``.

    Raises
    ------
    ConfigError
        Unknown name; the message suggests the closest registered one.
    """
    if isinstance(name, str) and name.lower() in DATASETS:
        return DATASETS.get(name.lower())
    return DATASETS.get(name)  # raises with the closest name


def _how_to_provide(spec: FileDatasetSpec, data_dir: str | Path | None) -> str:
    layout = spec.layouts[0]
    names = ", ".join(f.name for f in layout.files)
    target = files.download_dir(spec, data_dir)
    origin = ""
    if layout.mirrors:  # the official address, even when $PRUNELAB_DATA_MIRROR replaces it
        origin = (
            f" (from {layout.mirrors[0]}{layout.archive})"
            if layout.archive
            else f" (from {layout.mirrors[0]})"
        )
    return f"put {names}{origin} in {target}, or set data_dir or {files.DATA_ENV} to a DIR with DIR/{spec.name}"


def load_dataset(
    name: str, data_dir: str | Path | None = None, download: bool = True, **options: Any
) -> Dataset:
    """Load a registered data set, finding, downloading and verifying its files as needed.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``"fashion-mnist"``, ``"mnist"``, ``"kmnist"``,
        ``"emnist-letters"``, ``"digits"``, ``"synthetic"``.
    data_dir : str or Path, optional
        Folder searched first (its sub-folder ``name``, then itself) and, when given, where
        downloads go (``data_dir/name``). Otherwise downloads go to ``$PRUNELAB_DATA/name`` or
        the user cache.
    download : bool
        Fetch missing files from the official mirrors (``$PRUNELAB_DATA_MIRROR`` overrides them).
    **options
        Options of generated data sets, e.g. ``n_samples=2000, n_features=20, n_classes=4,
        kind="gaussian-mixture", seed=0, test_fraction=0.2`` for ``"synthetic"`` and
        ``test_fraction=0.2, seed=0`` for ``"digits"``. File data sets take none.

    Returns
    -------
    Dataset
        Inputs (n, n_features) float32 in [0, 1], labels (n,) int64.

    Raises
    ------
    ConfigError
        Unknown data set or option.
    DataError
        Files missing (and not downloadable), corrupt, truncated, or failing their checksum.

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.x_train.shape, ds.x_test.shape, ds.n_classes
    ((1437, 64), (360, 64), 10)
    """
    spec = get_spec(name)
    if isinstance(spec, GeneratedDatasetSpec):
        return spec.load(**options)
    if options:
        raise ConfigError(
            f"data set {name!r} takes no options, got {', '.join(options)}; remove them"
        )
    found = files.find_files(spec, data_dir)
    if found is None:
        dirs = [str(d) for d in files.search_dirs(spec, data_dir)]
        searched = ", ".join(dirs)
        if not download:
            where = (
                ""
                if dirs == [str(files.download_dir(spec, data_dir))]
                else f" (searched {searched})"
            )
            raise DataError(
                f"{name} not found{where}; {_how_to_provide(spec, data_dir)}; or allow the download (download: true)"
            )
        try:
            downloads.download(spec, files.download_dir(spec, data_dir))
        except DataError as err:
            raise DataError(
                f"{name} not found (searched {searched}) and the download failed ({err}); "
                f"{_how_to_provide(spec, data_dir)}"
            ) from None
        found = files.find_files(spec, data_dir)
        if found is None:  # pragma: no cover - download() succeeded, so the files are there
            raise DataError(
                f"{name}: downloaded files not found in {files.download_dir(spec, data_dir)}"
            )
    folder, layout, paths = found
    arrays, level = files.read_file_dataset(spec, layout, paths)
    return files.to_dataset(spec, arrays, str(folder), level)


def dataset_status(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Where a data set is and whether it verifies; never downloads.

    Reading and hashing every file takes about a second for Fashion-MNIST.

    Parameters
    ----------
    name : str
        A registered data set.
    data_dir : str or Path, optional
        Folder searched first, as in :func:`load_dataset`.

    Returns
    -------
    dict
        ``name`` (str); ``found_at`` (str folder, ``"sklearn"``, ``"generated"`` or None when
        not found); ``verified`` (True when every file matched a known checksum, False when it
        failed or only its structure could be checked, None when not found or generated);
        ``detail`` (str, one line: the level, the error, or how to get the files).

    Raises
    ------
    ConfigError
        Unknown data set.
    """
    spec = get_spec(name)
    if isinstance(spec, GeneratedDatasetSpec):
        if spec.source == "generated":
            return {
                "name": name,
                "found_at": "generated",
                "verified": None,
                "detail": f"{spec.description}; generated from a seed",
            }
        try:
            spec.load()
        except DataError as err:
            return {"name": name, "found_at": spec.source, "verified": False, "detail": str(err)}
        return {
            "name": name,
            "found_at": spec.source,
            "verified": True,
            "detail": f"{spec.description}; sha256 ok",
        }
    found = files.find_files(spec, data_dir)
    if found is None:
        how = (
            "load_dataset downloads it when online"
            if downloads.downloadable_layout(spec)
            else _how_to_provide(spec, data_dir)
        )
        searched = ", ".join(str(d) for d in files.search_dirs(spec, data_dir))
        return {
            "name": name,
            "found_at": None,
            "verified": None,
            "detail": f"not found in {searched}; {how}",
        }
    folder, layout, paths = found
    try:
        _, level = files.read_file_dataset(spec, layout, paths)
    except DataError as err:
        return {"name": name, "found_at": str(folder), "verified": False, "detail": str(err)}
    if level == "structure only":
        detail = "structure only: no published checksum for these files (header, sizes, counts and labels checked)"
    else:
        detail = f"{level} of every file matches"
    return {
        "name": name,
        "found_at": str(folder),
        "verified": level != "structure only",
        "detail": detail,
    }


def list_dataset_status(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """:func:`dataset_status` of every registered data set, in registry order (for ``prunelab data list``)."""
    return [dataset_status(name, data_dir) for name in DATASETS]
