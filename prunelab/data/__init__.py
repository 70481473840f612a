"""Data sets by name: ``load_dataset("fashion-mnist")`` and friends.

Registered: ``fashion-mnist``, ``mnist``, ``kmnist``, ``emnist-letters`` (files, found locally or
downloaded and verified), ``digits`` (scikit-learn's bundled 8×8 digits) and ``synthetic`` (a
seeded Gaussian-mixture or teacher-student task). See :mod:`prunelab.data.files` for the lookup
order and the checksums.

Examples
--------
>>> from prunelab.data import load_dataset
>>> ds = load_dataset("synthetic", n_samples=200, kind="teacher-student")
>>> ds.x_train.dtype, ds.y_train.dtype, ds.n_features
(dtype('float32'), dtype('int64'), 20)
"""

from prunelab.data.dataset import Dataset
from prunelab.data.files import FileDatasetSpec, FileSpec, Layout
from prunelab.data.generated import GeneratedDatasetSpec
from prunelab.data.idx import read_idx, read_npz_array, write_idx
from prunelab.data.registry import (
    DATASETS,
    dataset_status,
    get_spec,
    list_dataset_status,
    load_dataset,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "FileDatasetSpec",
    "FileSpec",
    "GeneratedDatasetSpec",
    "Layout",
    "dataset_status",
    "get_spec",
    "list_dataset_status",
    "load_dataset",
    "read_idx",
    "read_npz_array",
    "write_idx",
]
