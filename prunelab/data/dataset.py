"""The in-memory form every data set is loaded into."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prunelab.errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set split into train and test parts.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"fashion-mnist"``.
    x_train : ndarray of shape (n_train, n_features), dtype float32
        Inputs scaled to [0, 1] (images flattened row by row, pixel / 255).
    y_train : ndarray of shape (n_train,), dtype int64
        Class labels in 0 .. n_classes - 1.
    x_test : ndarray of shape (n_test, n_features), dtype float32
        Test inputs, same scaling as ``x_train``.
    y_test : ndarray of shape (n_test,), dtype int64
        Test labels.
    n_classes : int
        Number of classes.
    image_shape : tuple of int or None
        (height, width) when the features are an image, else None.
    source : str
        Folder the files were read from, ``"sklearn"`` or ``"generated"``.
    verification : str
        How the content was checked: ``"sha256"``, ``"md5"``, ``"structure only"`` or
        ``"generated"``.

    Examples
    --------
    >>> from prunelab.data import load_dataset
    >>> ds = load_dataset("synthetic", n_samples=100, n_features=5, n_classes=2)
    >>> ds.x_train.shape, ds.n_features, ds.n_classes
    ((80, 5), 5, 2)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, ...] | None = None
    source: str = "generated"
    verification: str = "generated"

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 2 or x.dtype != np.float32 or y.ndim != 1 or y.dtype != np.int64:
                raise DataError(
                    f"{self.name}: x_{split} must be (n, features) float32 and y_{split} (n,) int64, got {x.shape} {x.dtype} and {y.shape} {y.dtype}"
                )
            if len(x) != len(y):
                raise DataError(
                    f"{self.name}: {len(x)} {split} inputs but {len(y)} labels; the files do not belong together"
                )
            if len(y) and (y.min() < 0 or y.max() >= self.n_classes):
                raise DataError(
                    f"{self.name}: {split} labels outside 0..{self.n_classes - 1}; replace the label file"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DataError(
                f"{self.name}: train has {self.x_train.shape[1]} features but test {self.x_test.shape[1]}"
            )

    @property
    def n_features(self) -> int:
        """Number of input features (784 for 28×28 images)."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.image_shape)) if self.image_shape else str(self.n_features)
        return (
            f"Dataset({self.name!r}, train={self.n_train}, test={self.n_test}, features={shape}, "
            f"classes={self.n_classes}, source={self.source!r})"
        )
