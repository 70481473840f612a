"""File-backed data sets: specs, lookup order, verification and downloads.

Lookup order for a data set's files: an explicit directory, ``$PRUNELAB_DATA``, the user cache
directory, then system directories (Fashion-MNIST: the Debian package ``dataset-fashion-mnist``
under /usr/share/datasets/fashion-mnist). In each directory the files may lie directly or in a
sub-folder named after the data set, gzipped or not.

Verification: when the sha256 of a file's *decompressed* content is known, it must match (this
accepts re-compressed copies such as Debian's); otherwise the md5 of the official archive must
match when the file is that archive; otherwise only the structure is checked (IDX header, size,
counts, label range) and the status says so.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from prunelab.data.idx import md5_file, parse_idx, read_bytes, read_npz_array, sha256_hex
from prunelab.errors import DataError


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set: name as published, role, and the hashes known for it."""

    name: str
    role: str  # x_train, y_train, x_test, y_test
    content_sha256: str | None = None  # of the decompressed content
    archive_md5: str | None = None  # of the file as published


@dataclass(frozen=True)
class FileDatasetSpec:
    """A data set made of files: where to find them and what they must contain."""

    name: str
    files: tuple[FileSpec, ...]
    fmt: str  # "idx" or "npz"
    n_classes: int
    n_train: int
    n_test: int
    image_shape: tuple[int, int]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    label_offset: int = 0  # subtracted from stored labels (EMNIST letters: 1..26)
    transpose: bool = False  # EMNIST stores images transposed
    archive: str | None = None  # a zip holding the files (EMNIST)
    archive_md5: str | None = None
    archive_member_dir: str = ""
    classes: tuple[str, ...] = field(default=())


def _idx(prefix: str = "", hashes: dict[str, tuple[str | None, str | None]] | None = None) -> tuple[FileSpec, ...]:
    hashes = hashes or {}
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    if prefix:
        names = {"x_train": f"{prefix}-train-images-idx3-ubyte", "y_train": f"{prefix}-train-labels-idx1-ubyte",
                 "x_test": f"{prefix}-test-images-idx3-ubyte", "y_test": f"{prefix}-test-labels-idx1-ubyte"}
    return tuple(FileSpec(f"{n}.gz", role, *hashes.get(role, (None, None))) for role, n in names.items())


FILE_DATASETS: dict[str, FileDatasetSpec] = {
    "fashion-mnist": FileDatasetSpec(
        "fashion-mnist",
        _idx(hashes={
            # content sha256 computed from the Debian package's files (same data as the official
            # release, re-compressed); archive md5s are those of the official .gz files
            "x_train": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "y_train": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", "25c81989df183df01b3e8a0aad5dffbe"),
            "x_test": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "bef4ecab320f06d8554ea6380940ec79"),
            "y_test": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", "bb300cfdad3c16e7a12a480ee83cd310"),
        }),
        "idx", 10, 60000, 10000, (28, 28),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
    "mnist": FileDatasetSpec(
        "mnist",
        _idx(hashes={
            "x_train": (None, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "y_train": (None, "d53e105ee54ea40749a09fcbcd1e9432"),
            "x_test": (None, "9fb629c4189551a2d022fa330f9573f3"),
            "y_test": (None, "ec29112dd5afa0611ce80d1b7f02629c"),
        }),
        "idx", 10, 60000, 10000, (28, 28),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        system_dirs=("/usr/share/datasets/mnist",),
    ),
    "kmnist": FileDatasetSpec(
        "kmnist",
        (FileSpec("kmnist-train-imgs.npz", "x_train"), FileSpec("kmnist-train-labels.npz", "y_train"),
         FileSpec("kmnist-test-imgs.npz", "x_test"), FileSpec("kmnist-test-labels.npz", "y_test")),
        "npz", 10, 60000, 10000, (28, 28),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    ),
    "emnist-letters": FileDatasetSpec(
        "emnist-letters",
        _idx(prefix="emnist-letters"),
        "idx", 26, 124800, 20800, (28, 28),
        mirrors=("https://biometrics.nist.gov/cs_links/EMNIST/",),
        label_offset=1, transpose=True,
        archive="gzip.zip", archive_md5="58c8d27c78d21e728a6bc7b3cc06412e", archive_member_dir="gzip/",
    ),
}


def mirrors_for(spec: FileDatasetSpec) -> tuple[str, ...]:
    """Download base URLs; ``$PRUNELAB_DATA_MIRROR`` (a base URL) takes precedence for every set."""
    override = os.environ.get("PRUNELAB_DATA_MIRROR")
    return (override.rstrip("/") + "/",) if override else spec.mirrors


def cache_dir() -> Path:
    """The user cache directory for downloaded data (platform specific)."""
    return Path(platformdirs.user_cache_dir("prunelab")) / "data"


def search_dirs(spec: FileDatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """Directories searched for a data set's files, in order."""
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir))
    if os.environ.get("PRUNELAB_DATA"):
        roots.append(Path(os.environ["PRUNELAB_DATA"]))
    roots.append(cache_dir())
    dirs: list[Path] = []
    for root in roots:
        dirs += [root / spec.name, root]
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def download_dir(data_dir: str | Path | None = None) -> Path:
    """Where downloads go: the explicit directory, else ``$PRUNELAB_DATA``, else the cache."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("PRUNELAB_DATA"):
        return Path(os.environ["PRUNELAB_DATA"])
    return cache_dir()


def _candidates(folder: Path, file: FileSpec) -> list[Path]:
    plain = file.name.removesuffix(".gz")
    return [folder / file.name, folder / plain] if plain != file.name else [folder / file.name]


def find_files(spec: FileDatasetSpec, data_dir: str | Path | None = None) -> tuple[Path | None, dict[str, Path]]:
    """The first directory holding every file of ``spec`` and the path of each file by role."""
    for folder in search_dirs(spec, data_dir):
        found: dict[str, Path] = {}
        for file in spec.files:
            hit = next((p for p in _candidates(folder, file) if p.is_file()), None)
            if hit is None:
                break
            found[file.role] = hit
        if len(found) == len(spec.files):
            return folder, found
    return None, {}


def verify_file(path: Path, file: FileSpec, content: bytes) -> str:
    """Check a file's hashes; return how it was verified ("sha256", "md5" or "structure only").

    Raises :class:`DataError` on a mismatch.
    """
    if file.content_sha256:
        if sha256_hex(content) != file.content_sha256:
            raise DataError(f"checksum mismatch for {str(path)!r} (content sha256); delete it and fetch it again")
        return "sha256"
    if file.archive_md5 and path.name == file.name:
        if md5_file(path) != file.archive_md5:
            raise DataError(f"checksum mismatch for {str(path)!r} (md5 of the official archive); delete it and fetch it again")
        return "md5"
    return "structure only"


def _decode(spec: FileDatasetSpec, path: Path, file: FileSpec) -> tuple[np.ndarray, str]:
    if spec.fmt == "npz":
        arr = read_npz_array(path)
        how = "md5" if file.archive_md5 and md5_file(path) == file.archive_md5 else "structure only"
        if file.archive_md5 and how != "md5":
            raise DataError(f"checksum mismatch for {str(path)!r}; delete it and fetch it again")
        return arr, how
    content = read_bytes(path)
    how = verify_file(path, file, content)
    return parse_idx(content, str(path)), how


def read_file_dataset(spec: FileDatasetSpec, paths: dict[str, Path]) -> tuple[dict[str, np.ndarray], str]:
    """Read and validate every file; returns arrays by role and the weakest verification level."""
    arrays: dict[str, np.ndarray] = {}
    levels = []
    for file in spec.files:
        arr, how = _decode(spec, paths[file.role], file)
        arrays[file.role] = arr
        levels.append(how)
    for split, n in (("train", spec.n_train), ("test", spec.n_test)):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        where = str(paths[f"x_{split}"])
        if x.ndim != 3 or x.shape[1:] != spec.image_shape:
            raise DataError(f"{where}: images have shape {x.shape}, expected (n, {spec.image_shape[0]}, {spec.image_shape[1]})")
        if len(x) != len(y):
            raise DataError(f"{spec.name} {split}: {len(x)} images but {len(y)} labels; the files do not belong together")
        if len(x) != n:
            raise DataError(f"{where}: {len(x)} {split} images, expected {n}; replace it with the complete file")
        y = y.astype(np.int64) - spec.label_offset
        if y.min() < 0 or y.max() >= spec.n_classes:
            raise DataError(f"{str(paths[f'y_{split}'])!r}: labels outside 0..{spec.n_classes - 1}; replace the file")
        arrays[f"y_{split}"] = y
    order = ("sha256", "md5", "structure only")
    return arrays, max(levels, key=order.index)


def _fetch(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed official mirrors
        return resp.read()


def download(spec: FileDatasetSpec, target: Path) -> None:
    """Download the files of ``spec`` into ``target/<name>/``, verified, each written atomically.

    Raises :class:`DataError` if no mirror delivers a file that verifies.
    """
    folder = target / spec.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create data directory {str(folder)!r} ({err.strerror}); set PRUNELAB_DATA to a writable directory") from None
    if spec.archive:
        _download_archive(spec, folder)
        return
    for file in spec.files:
        dest = folder / file.name
        if dest.is_file():
            continue
        errors = []
        for base in mirrors_for(spec):
            try:
                content = _fetch(base + file.name)
            except (urllib.error.URLError, OSError, ValueError) as err:
                errors.append(f"{base}: {getattr(err, 'reason', err)}")
                continue
            tmp = folder / f".{file.name}.part{os.getpid()}"
            tmp.write_bytes(content)
            try:
                _decode(spec, tmp.with_name(tmp.name), _renamed(file, tmp.name))
            except DataError as err:
                tmp.unlink(missing_ok=True)
                errors.append(f"{base}: {err}")
                continue
            os.replace(tmp, dest)
            break
        else:
            raise DataError(f"could not download {file.name} for {spec.name} ({'; '.join(errors)})")


def _renamed(file: FileSpec, name: str) -> FileSpec:
    # a temporary name must still be checked against the official archive md5
    return FileSpec(name, file.role, file.content_sha256, file.archive_md5)


def _download_archive(spec: FileDatasetSpec, folder: Path) -> None:
    if all((folder / f.name).is_file() for f in spec.files):
        return
    errors = []
    for base in mirrors_for(spec):
        tmp = folder / f".{spec.archive}.part{os.getpid()}"
        try:
            with urllib.request.urlopen(base + spec.archive, timeout=60) as resp, open(tmp, "wb") as out:  # noqa: S310
                shutil.copyfileobj(resp, out, 1 << 20)
        except (urllib.error.URLError, OSError, ValueError) as err:
            tmp.unlink(missing_ok=True)
            errors.append(f"{base}: {getattr(err, 'reason', err)}")
            continue
        if spec.archive_md5 and md5_file(tmp) != spec.archive_md5:
            tmp.unlink(missing_ok=True)
            errors.append(f"{base}: checksum mismatch of {spec.archive}")
            continue
        try:
            with zipfile.ZipFile(tmp) as zf:
                for file in spec.files:
                    part = folder / f".{file.name}.part{os.getpid()}"
                    part.write_bytes(zf.read(spec.archive_member_dir + file.name))
                    os.replace(part, folder / file.name)
        except (zipfile.BadZipFile, KeyError) as err:
            errors.append(f"{base}: bad archive ({err})")
            continue
        finally:
            tmp.unlink(missing_ok=True)
        return
    raise DataError(f"could not download {spec.archive} for {spec.name} ({'; '.join(errors)})")
