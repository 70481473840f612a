"""Data sets that need no files: scikit-learn's bundled digits and a seeded synthetic task."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from prunelab.data.dataset import Dataset
from prunelab.data.idx import sha256_hex
from prunelab.errors import ConfigError, DataError

# sha256 of scikit-learn's bundled 8x8 digits: pixel values (0..16) as uint8 bytes, then the
# labels as uint8 bytes; 1797 samples. Catches a modified or truncated bundled copy.
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"


@dataclass(frozen=True)
class GeneratedDatasetSpec:
    """A data set produced by a function (no files to find or download).

    Attributes
    ----------
    name : str
        Registry name.
    make : callable
        ``make(**options) -> Dataset``; its keyword defaults are the accepted options.
    source : str
        ``"sklearn"`` or ``"generated"``, shown as where the data set was found.
    description : str
        One line for listings.
    """

    name: str
    make: Callable[..., Dataset]
    source: str
    description: str = ""

    def options(self) -> dict[str, Any]:
        """Accepted options and their defaults."""
        return {p.name: p.default for p in inspect.signature(self.make).parameters.values()}

    def load(self, **options: Any) -> Dataset:
        """Build the data set after checking the option names.

        Raises
        ------
        ConfigError
            An option this data set does not have (with the closest accepted name).
        """
        known = self.options()
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    f"data set {self.name!r} has no option {key!r}; {hint}options: {', '.join(known) or 'none'}"
                )
        return self.make(**options)


def _split(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    test_fraction: float,
    seed: int,
    image_shape: tuple[int, int] | None,
    source: str,
    verification: str,
) -> Dataset:
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset(
        name,
        np.ascontiguousarray(x_train, dtype=np.float32),
        y_train.astype(np.int64),
        np.ascontiguousarray(x_test, dtype=np.float32),
        y_test.astype(np.int64),
        n_classes,
        image_shape,
        source,
        verification,
    )


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_fraction(value: Any, n_samples: int, n_classes: int) -> float:
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = float("nan")
    if not (0.0 < fraction < 1.0):
        raise ConfigError(f"test_fraction must be in (0, 1), got {value!r}; e.g. test_fraction=0.2")
    n_test = int(np.ceil(fraction * n_samples))
    if n_test < n_classes or n_samples - n_test < n_classes:
        raise ConfigError(
            f"test_fraction={value!r} of n_samples={n_samples} leaves fewer samples than the "
            f"{n_classes} classes in one split; use more samples or a fraction nearer 0.5"
        )
    return fraction


def make_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits, split stratified.

    Parameters
    ----------
    test_fraction : float
        Fraction of the 1797 samples held out for testing (360 at 0.2).
    seed : int
        Seed of the stratified split; the default split is the same on every machine.

    Returns
    -------
    Dataset
        ``x``: (n, 64) float32, pixel intensity / 16 in [0, 1]; ``y``: int64 in 0..9;
        ``image_shape`` (8, 8); ``source`` ``"sklearn"``; ``verification`` ``"sha256"``.

    Raises
    ------
    DataError
        If the bundled copy does not match its known checksum.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels, labels = bunch.data.astype(np.uint8), bunch.target.astype(np.int64)
    if sha256_hex(pixels.tobytes() + labels.astype(np.uint8).tobytes()) != DIGITS_SHA256:
        raise DataError(
            "checksum mismatch for scikit-learn's bundled digits; reinstall scikit-learn"
        )
    test_fraction = _check_fraction(test_fraction, len(labels), 10)
    x = pixels.astype(np.float32) / np.float32(16.0)
    return _split(
        "digits",
        x,
        labels,
        10,
        test_fraction,
        _check_int("seed", seed, 0),
        (8, 8),
        "sklearn",
        "sha256",
    )


def make_synthetic(
    n_samples: int = 2000,
    n_features: int = 20,
    n_classes: int = 4,
    kind: str = "gaussian-mixture",
    seed: int = 0,
    test_fraction: float = 0.2,
) -> Dataset:
    """A seeded classification task for fast tests; the same options give the same arrays.

    Parameters
    ----------
    n_samples : int
        Train plus test samples.
    n_features : int
        Input dimension.
    n_classes : int
        Number of classes, at least 2.
    kind : {"gaussian-mixture", "teacher-student"}
        ``"gaussian-mixture"``: one isotropic unit-variance Gaussian per class, centres drawn
        with standard deviation 3 / sqrt(2 n_features) so that two centres lie about 3 noise
        standard deviations apart whatever the dimension; classes equally frequent; inputs
        passed through a logistic function into (0, 1).
        ``"teacher-student"``: inputs uniform in [0, 1]^n_features, labelled by the argmax of a
        random one-hidden-layer tanh network (width max(16, 2 n_classes)) whose outputs are
        centred per class, so a student of that size can reach 100% accuracy.
    seed : int
        Seed of the generator and of the stratified split.
    test_fraction : float
        Fraction of samples held out for testing.

    Returns
    -------
    Dataset
        ``x``: (n, n_features) float32 in [0, 1]; ``y``: int64 in 0..n_classes-1; ``source``
        and ``verification`` ``"generated"``.

    Raises
    ------
    ConfigError
        Invalid option values, or a teacher that leaves a class (almost) empty.
    """
    n_classes = _check_int("n_classes", n_classes, 2)
    n_samples = _check_int("n_samples", n_samples, 2 * n_classes)
    n_features = _check_int("n_features", n_features, 1)
    seed = _check_int("seed", seed, 0)
    test_fraction = _check_fraction(test_fraction, n_samples, n_classes)
    rng = np.random.default_rng(seed)
    if kind == "gaussian-mixture":
        centres = rng.normal(0.0, 3.0 / np.sqrt(2.0 * n_features), size=(n_classes, n_features))
        y = rng.permutation(np.arange(n_samples) % n_classes)
        z = centres[y] + rng.standard_normal((n_samples, n_features))
        x = 1.0 / (1.0 + np.exp(-z))
    elif kind == "teacher-student":
        hidden = max(16, 2 * n_classes)
        x = rng.random((n_samples, n_features))
        # (x - 0.5) * sqrt(12) has unit variance, so the hidden pre-activations are O(1)
        w1 = rng.standard_normal((n_features, hidden)) / np.sqrt(n_features)
        w2 = rng.standard_normal((hidden, n_classes)) / np.sqrt(hidden)
        logits = np.tanh((x - 0.5) * np.sqrt(12.0) @ w1) @ w2
        y = np.argmax(logits - logits.mean(axis=0), axis=1)
        counts = np.bincount(y, minlength=n_classes)
        if counts.min() < 2:
            raise ConfigError(
                f"the teacher with seed={seed} gives class {int(counts.argmin())} only {int(counts.min())} "
                "samples; use more n_samples, fewer n_classes or another seed"
            )
    else:
        close = difflib.get_close_matches(str(kind), ["gaussian-mixture", "teacher-student"], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown synthetic kind {kind!r}; {hint}use 'gaussian-mixture' or 'teacher-student'"
        )
    return _split(
        "synthetic",
        x.astype(np.float32),
        y.astype(np.int64),
        n_classes,
        test_fraction,
        seed,
        None,
        "generated",
        "generated",
    )


GENERATED_DATASETS: dict[str, GeneratedDatasetSpec] = {
    "digits": GeneratedDatasetSpec(
        "digits",
        make_digits,
        "sklearn",
        "scikit-learn's bundled 8x8 digits, 1797 samples, 10 classes",
    ),
    "synthetic": GeneratedDatasetSpec(
        "synthetic", make_synthetic, "generated", "seeded Gaussian-mixture or teacher-student task"
    ),
}
