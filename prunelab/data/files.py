"""Data sets stored as files: specs, lookup order, verification and downloads.

Lookup order for a data set ``NAME`` (the first folder holding every file of one layout wins):

1. an explicit directory ``DIR``: ``DIR/NAME`` then ``DIR`` itself;
2. ``$PRUNELAB_DATA/NAME``;
3. the user cache, ``platformdirs.user_cache_dir("prunelab")/data/NAME``;
4. system folders of the spec (Fashion-MNIST: the Debian package ``dataset-fashion-mnist``,
   /usr/share/datasets/fashion-mnist).

Only an explicit directory is searched without the ``NAME`` sub-folder, because MNIST,
Fashion-MNIST and KMNIST publish files with identical names. IDX files may be gzipped or not.

Verification, strongest first:

* ``sha256``: the sha256 of the *decompressed* content is known and matches. This accepts
  re-compressed copies such as Debian's, whose .gz bytes differ from the official ones.
* ``md5``: the file is the official .gz archive and its md5 matches the published one.
* ``structure only``: no hash applies (e.g. an uncompressed MNIST file); the IDX header, the
  length, the counts and the label range are still checked, and the status says so.

A known hash that does not match is an error, never a warning. To add a hash, fill in
:attr:`FileSpec.content_sha256` (``sha256sum`` of the gunzipped file); ``dataset_status``
reports the weakest level used so missing hashes stay visible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from prunelab.data.dataset import Dataset
from prunelab.data.idx import (
    md5_file,
    parse_idx,
    read_bytes,
    read_npz_array,
    sha256_hex,
)
from prunelab.errors import DataError

#: seconds to wait for a mirror to answer before trying the next one
DOWNLOAD_TIMEOUT = 30.0
#: environment variable naming one base URL that replaces every spec's mirrors (tests, local mirrors)
MIRROR_ENV = "PRUNELAB_DATA_MIRROR"
#: environment variable naming a data root searched after an explicit directory
DATA_ENV = "PRUNELAB_DATA"

LEVELS = ("sha256", "md5", "structure only")  # strongest first


@dataclass(frozen=True)
class FileSpec:
    """One published file of a data set.

    Attributes
    ----------
    name : str
        File name as published, e.g. ``"train-images-idx3-ubyte.gz"``.
    role : str
        ``"x_train"``, ``"y_train"``, ``"x_test"`` or ``"y_test"``.
    content_sha256 : str or None
        sha256 of the decompressed IDX bytes (npz: of the stored array's raw C-order bytes).
    archive_md5 : str or None
        md5 of the file exactly as published (checked on the official .gz / .npz only).
    """

    name: str
    role: str
    content_sha256: str | None = None
    archive_md5: str | None = None


@dataclass(frozen=True)
class Layout:
    """One way a data set's files are published.

    Attributes
    ----------
    fmt : str
        ``"idx"`` or ``"npz"``.
    files : tuple of FileSpec
        The four files (x_train, y_train, x_test, y_test).
    mirrors : tuple of str
        Base URLs, tried in order; empty when this layout is only accepted locally.
    archive : str or None
        Name of a zip on the mirror that holds the files (EMNIST's ``gzip.zip``).
    archive_md5 : str or None
        md5 of that zip as published.
    archive_member_dir : str
        Folder of the files inside the zip, e.g. ``"gzip/"``.
    """

    fmt: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...] = ()
    archive: str | None = None
    archive_md5: str | None = None
    archive_member_dir: str = ""


@dataclass(frozen=True)
class FileDatasetSpec:
    """A data set made of files: where to find them and what they must contain.

    Attributes
    ----------
    name : str
        Registry name, also the sub-folder it is looked up and downloaded in.
    n_classes, n_train, n_test : int
        Expected number of classes and of train / test samples.
    image_shape : tuple of int
        (height, width) in pixels.
    layouts : tuple of Layout
        Accepted file sets, preferred first; downloads use the first one that has mirrors.
    system_dirs : tuple of str
        Folders searched last (distribution packages).
    label_offset : int
        Subtracted from the stored labels (EMNIST letters store 1..26).
    transpose : bool
        The images are stored transposed (EMNIST) and are flipped upright on loading.
    description : str
        One line for listings.
    """

    name: str
    n_classes: int
    n_train: int
    n_test: int
    image_shape: tuple[int, int]
    layouts: tuple[Layout, ...]
    system_dirs: tuple[str, ...] = ()
    label_offset: int = 0
    transpose: bool = False
    description: str = ""


def idx_files(
    prefix: str = "",
    test: str = "t10k",
    hashes: dict[str, tuple[str | None, str | None]] | None = None,
) -> tuple[FileSpec, ...]:
    """The four gzipped IDX files named in the MNIST convention.

    Parameters
    ----------
    prefix : str
        Prepended with a dash, e.g. ``"emnist-letters"``.
    test : str
        Name of the test split in the file names (``"t10k"`` for MNIST, ``"test"`` for EMNIST).
    hashes : dict, optional
        role -> (content sha256, archive md5), either may be None.

    Returns
    -------
    tuple of FileSpec
    """
    hashes = hashes or {}
    pre = f"{prefix}-" if prefix else ""
    names = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": f"{test}-images-idx3-ubyte",
        "y_test": f"{test}-labels-idx1-ubyte",
    }
    return tuple(
        FileSpec(f"{pre}{stem}.gz", role, *hashes.get(role, (None, None)))
        for role, stem in names.items()
    )


FILE_DATASETS: dict[str, FileDatasetSpec] = {
    "fashion-mnist": FileDatasetSpec(
        "fashion-mnist",
        10,
        60000,
        10000,
        (28, 28),
        layouts=(
            Layout(
                "idx",
                idx_files(
                    hashes={
                        # sha256 of the gunzipped files, computed from the Debian package (same data as the
                        # official release, re-compressed); md5s of the official .gz files (zalandoresearch)
                        "x_train": (
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                        ),
                        "y_train": (
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                            "25c81989df183df01b3e8a0aad5dffbe",
                        ),
                        "x_test": (
                            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                            "bef4ecab320f06d8554ea6380940ec79",
                        ),
                        "y_test": (
                            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                            "bb300cfdad3c16e7a12a480ee83cd310",
                        ),
                    }
                ),
                mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            ),
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        description="Zalando clothing images, 28x28 grey, 10 classes",
    ),
    "mnist": FileDatasetSpec(
        "mnist",
        10,
        60000,
        10000,
        (28, 28),
        layouts=(
            Layout(
                "idx",
                idx_files(
                    hashes={
                        # md5s of the official .gz files (as listed by torchvision)
                        "x_train": (None, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                        "y_train": (None, "d53e105ee54ea40749a09fcbcd1e9432"),
                        "x_test": (None, "9fb629c4189551a2d022fa330f9573f3"),
                        "y_test": (None, "ec29112dd5afa0611ce80d1b7f02629c"),
                    }
                ),
                mirrors=(
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "http://yann.lecun.com/exdb/mnist/",
                ),
            ),
        ),
        description="handwritten digits, 28x28 grey, 10 classes",
    ),
    "kmnist": FileDatasetSpec(
        "kmnist",
        10,
        60000,
        10000,
        (28, 28),
        layouts=(
            # the npz files the KMNIST site offers; no published checksum, so structure only
            Layout(
                "npz",
                (
                    FileSpec("kmnist-train-imgs.npz", "x_train"),
                    FileSpec("kmnist-train-labels.npz", "y_train"),
                    FileSpec("kmnist-test-imgs.npz", "x_test"),
                    FileSpec("kmnist-test-labels.npz", "y_test"),
                ),
                mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
            ),
            # the same data in MNIST's IDX format, accepted from a local folder (md5s as listed by torchvision)
            Layout(
                "idx",
                idx_files(
                    hashes={
                        "x_train": (None, "bdb82020997e1d708af4cf47b453dcf7"),
                        "y_train": (None, "e144d726b3acfaa3e44228e80efcd344"),
                        "x_test": (None, "5c965bf0a639b31b8f53240b1b52f4d7"),
                        "y_test": (None, "7320c461ea6c1c855c0b718fb2a4b134"),
                    }
                ),
            ),
        ),
        description="Kuzushiji (cursive Japanese) characters, 28x28 grey, 10 classes",
    ),
    "emnist-letters": FileDatasetSpec(
        "emnist-letters",
        26,
        124800,
        20800,
        (28, 28),
        layouts=(
            Layout(
                "idx",
                idx_files(prefix="emnist-letters", test="test"),
                mirrors=("https://biometrics.nist.gov/cs_links/EMNIST/",),
                # md5 of the official gzip.zip (as listed by torchvision)
                archive="gzip.zip",
                archive_md5="58c8d27c78d21e728a6bc7b3cc06412e",
                archive_member_dir="gzip/",
            ),
        ),
        label_offset=1,
        transpose=True,
        description="handwritten letters a-z (upper and lower case merged), 28x28 grey, 26 classes",
    ),
}


# ----------------------------------------------------------------------------------- lookup


def cache_dir() -> Path:
    """The user cache folder for data, ``platformdirs.user_cache_dir("prunelab")/data``."""
    return Path(platformdirs.user_cache_dir("prunelab")) / "data"


def search_dirs(spec: FileDatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for ``spec``'s files, in order (see the module docstring)."""
    dirs: list[Path] = []
    if data_dir:
        dirs += [Path(data_dir).expanduser() / spec.name, Path(data_dir).expanduser()]
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]).expanduser() / spec.name)
    dirs.append(cache_dir() / spec.name)
    dirs += [Path(d) for d in spec.system_dirs]
    return list(dict.fromkeys(dirs))


def download_dir(spec: FileDatasetSpec, data_dir: str | Path | None = None) -> Path:
    """Where downloads of ``spec`` go: ``DIR/NAME`` for the explicit directory, else
    ``$PRUNELAB_DATA/NAME``, else the user cache's ``NAME``."""
    if data_dir:
        return Path(data_dir).expanduser() / spec.name
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser() / spec.name
    return cache_dir() / spec.name


def _candidates(folder: Path, file: FileSpec) -> tuple[Path, ...]:
    plain = file.name.removesuffix(".gz")
    return (folder / file.name, folder / plain) if plain != file.name else (folder / file.name,)


def find_files(
    spec: FileDatasetSpec, data_dir: str | Path | None = None
) -> tuple[Path, Layout, dict[str, Path]] | None:
    """Locate a complete set of ``spec``'s files.

    Returns
    -------
    (folder, layout, paths) or None
        The first folder holding every file of one layout, that layout, and the path of each
        file by role; None when no folder is complete.
    """
    for folder in search_dirs(spec, data_dir):
        for layout in spec.layouts:
            paths: dict[str, Path] = {}
            for file in layout.files:
                hit = next((p for p in _candidates(folder, file) if p.is_file()), None)
                if hit is None:
                    break
                paths[file.role] = hit
            if len(paths) == len(layout.files):
                return folder, layout, paths
    return None


# ----------------------------------------------------------------------------- verification


def read_verified(
    path: Path, file: FileSpec, fmt: str, official_name: bool
) -> tuple[np.ndarray, str]:
    """Read one file and check it against the hashes known for it.

    Parameters
    ----------
    path : Path
        The file (possibly a temporary download).
    file : FileSpec
        What it should be.
    fmt : str
        ``"idx"`` or ``"npz"``.
    official_name : bool
        The file claims to be the published archive (so its md5 must match when known).

    Returns
    -------
    array : ndarray
        The stored array (uint8 images or labels).
    level : str
        ``"sha256"``, ``"md5"`` or ``"structure only"``.

    Raises
    ------
    DataError
        Checksum mismatch, corrupt or truncated file.
    """
    level = "structure only"
    if file.archive_md5 and official_name and not file.content_sha256:
        if md5_file(path) != file.archive_md5:
            raise DataError(
                f"checksum mismatch for {str(path)!r} (md5 differs from the official archive); "
                "delete it and fetch it again (a re-compressed copy may be gunzipped instead)"
            )
        level = "md5"
    if fmt == "npz":
        array = read_npz_array(path)
        digest = sha256_hex(np.ascontiguousarray(array).tobytes()) if file.content_sha256 else None
    else:
        content = read_bytes(path)
        digest = sha256_hex(content) if file.content_sha256 else None
        array = parse_idx(content, str(path))
    if file.content_sha256:
        if digest != file.content_sha256:
            raise DataError(
                f"checksum mismatch for {str(path)!r} (sha256 of its content); delete it and fetch it again"
            )
        level = "sha256"
    return array, level


def read_file_dataset(
    spec: FileDatasetSpec, layout: Layout, paths: dict[str, Path]
) -> tuple[dict[str, np.ndarray], str]:
    """Read, verify and structurally validate every file of a layout.

    Returns
    -------
    arrays : dict of str to ndarray
        ``x_train`` / ``x_test``: (n, height, width) uint8, upright; ``y_train`` / ``y_test``:
        (n,) int64 in 0 .. n_classes - 1.
    level : str
        The weakest verification level over the files.

    Raises
    ------
    DataError
        Checksum mismatch, corrupt, truncated or wrongly shaped file, count or label mismatch.
    """
    arrays: dict[str, np.ndarray] = {}
    levels = []
    for file in layout.files:
        path = paths[file.role]
        arrays[file.role], level = read_verified(
            path, file, layout.fmt, official_name=path.name == file.name
        )
        levels.append(level)
    for split, n in (("train", spec.n_train), ("test", spec.n_test)):
        x, y, x_path, y_path = (
            arrays[f"x_{split}"],
            arrays[f"y_{split}"],
            paths[f"x_{split}"],
            paths[f"y_{split}"],
        )
        if x.ndim != 3 or x.shape[1:] != spec.image_shape or x.dtype != np.uint8:
            raise DataError(
                f"{str(x_path)!r} holds {x.dtype} of shape {x.shape}, expected uint8 (n, {spec.image_shape[0]}, {spec.image_shape[1]}); replace it with the original file"
            )
        if y.ndim != 1:
            raise DataError(
                f"{str(y_path)!r} holds labels of shape {y.shape}, expected (n,); replace it with the original file"
            )
        if len(x) != len(y):
            raise DataError(
                f"{spec.name} {split}: {len(x)} images but {len(y)} labels; the files do not belong together, replace them"
            )
        if len(x) != n:
            raise DataError(
                f"{str(x_path)!r} holds {len(x)} {split} images, expected {n}; replace it with the complete file"
            )
        labels = y.astype(np.int64) - spec.label_offset
        if labels.min() < 0 or labels.max() >= spec.n_classes:
            lo, hi = spec.label_offset, spec.label_offset + spec.n_classes - 1
            raise DataError(
                f"{str(y_path)!r} has labels outside {lo}..{hi}; replace it with the original file"
            )
        arrays[f"y_{split}"] = labels
        if spec.transpose:
            arrays[f"x_{split}"] = x.transpose(0, 2, 1)
    return arrays, max(levels, key=LEVELS.index)


def to_dataset(
    spec: FileDatasetSpec, arrays: dict[str, np.ndarray], source: str, level: str
) -> Dataset:
    """Flatten and scale verified arrays into a :class:`Dataset` (pixels / 255 as float32)."""

    def flat(images: np.ndarray) -> np.ndarray:
        x = images.reshape(len(images), -1).astype(np.float32)
        return np.divide(
            x, np.float32(255.0), out=x
        )  # in place: Fashion-MNIST is 188 MB as float32

    return Dataset(
        spec.name,
        flat(arrays["x_train"]),
        arrays["y_train"],
        flat(arrays["x_test"]),
        arrays["y_test"],
        spec.n_classes,
        spec.image_shape,
        source,
        level,
    )
