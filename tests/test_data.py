"""prunelab.data: IDX/npz readers, lookup order, checksums, downloads (from a local HTTP server
on 127.0.0.1 only), generated data sets and the status listing."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from prunelab.data import (
    DATASETS,
    Dataset,
    dataset_status,
    list_dataset_status,
    load_dataset,
    read_idx,
    read_npz_array,
    write_idx,
)
from prunelab.data import files as data_files
from prunelab.data.idx import parse_idx
from prunelab.errors import ConfigError, DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HAVE_FASHION = all(
    (FASHION_DIR / f.name).is_file() for f in DATASETS["fashion-mnist"].layouts[0].files
)

N_TRAIN, N_TEST, SIDE = 24, 8, 28
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real network, no real cache: PRUNELAB_DATA unset, cache in tmp, mirror on a closed port."""
    monkeypatch.delenv("PRUNELAB_DATA", raising=False)
    monkeypatch.setattr(data_files, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setenv(
        "PRUNELAB_DATA_MIRROR", "http://127.0.0.1:9/"
    )  # discard port: refused at once
    monkeypatch.setattr(data_files, "DOWNLOAD_TIMEOUT", 5.0)


def tiny_arrays(seed: int = 0, n_classes: int = 10, offset: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (N_TRAIN, SIDE, SIDE), dtype=np.uint8),
        "y_train": (np.arange(N_TRAIN) % n_classes + offset).astype(np.uint8),
        "x_test": rng.integers(0, 256, (N_TEST, SIDE, SIDE), dtype=np.uint8),
        "y_test": (np.arange(N_TEST) % n_classes + offset).astype(np.uint8),
    }


def write_tiny(
    folder: Path, arrays: dict[str, np.ndarray], names: dict[str, str] = IDX_NAMES, gz: bool = True
) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        role: write_idx(folder / (names[role] + (".gz" if gz else "")), arrays[role])
        for role in names
    }


def content_sha(arrays: dict[str, np.ndarray], role: str) -> str:
    """sha256 of the uncompressed IDX file, built by hand from the format's definition."""
    a = arrays[role]
    return hashlib.sha256(
        bytes([0, 0, 8, a.ndim]) + np.asarray(a.shape, ">i4").tobytes() + a.tobytes()
    ).hexdigest()


def register(monkeypatch, name: str = "tiny", **changes) -> data_files.FileDatasetSpec:
    """A copy of the MNIST spec sized for the tiny files, registered under ``name``."""
    spec = dataclasses.replace(
        DATASETS["mnist"], name=name, n_train=N_TRAIN, n_test=N_TEST, **changes
    )
    monkeypatch.setitem(DATASETS, name, spec)
    return spec


def idx_layout(
    hashes: dict[str, tuple[str | None, str | None]] | None = None, **kw
) -> data_files.Layout:
    return data_files.Layout(
        "idx", data_files.idx_files(hashes=hashes), mirrors=("http://unused.invalid/",), **kw
    )


# ------------------------------------------------------------------------------ IDX format


def test_write_idx_produces_the_documented_bytes_and_reads_back(tmp_path):
    array = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    plain = write_idx(tmp_path / "a-idx2-ubyte", array)
    assert (
        plain.read_bytes()
        == b"\x00\x00\x08\x02"
        + b"\x00\x00\x00\x02"
        + b"\x00\x00\x00\x03"
        + bytes([1, 2, 3, 4, 5, 6])
    )
    packed = write_idx(tmp_path / "a-idx2-ubyte.gz", array)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    np.testing.assert_array_equal(read_idx(packed), array)
    wide = np.array([-70000, 3, 2**31 - 1], dtype=np.int32)
    assert write_idx(tmp_path / "w", wide).read_bytes()[2] == 0x0C
    back = read_idx(tmp_path / "w")
    assert back.dtype == np.int32 and back.tolist() == wide.tolist()


def test_parse_idx_rejects_bad_magic_truncation_and_extra_bytes():
    good = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    assert parse_idx(good).tolist() == [7, 8, 9]
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x01\x00\x08\x01" + good[4:])
    with pytest.raises(DataError, match="truncated .*10 bytes, header says 11"):
        parse_idx(good[:-1])
    with pytest.raises(DataError, match="truncated .*header"):
        parse_idx(good[:6])
    with pytest.raises(DataError, match="longer than its header"):
        parse_idx(good + b"\x00")


def test_truncated_gzip_is_a_one_line_data_error(tmp_path):
    path = write_idx(tmp_path / "y.gz", np.arange(200, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not HAVE_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_read_idx_on_the_real_fashion_mnist_labels():
    labels = read_idx(FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [
        9,
        2,
        1,
        1,
        6,
        1,
        4,
        6,
        5,
        7,
    ]  # first test labels of the release
    assert np.bincount(labels).tolist() == [1000] * 10


def test_read_npz_array(tmp_path):
    np.savez_compressed(tmp_path / "a.npz", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert read_npz_array(tmp_path / "a.npz").tolist() == [[0, 1, 2], [3, 4, 5]]
    (tmp_path / "b.npz").write_bytes((tmp_path / "a.npz").read_bytes()[:40])
    with pytest.raises(DataError, match="not a readable npz"):
        read_npz_array(tmp_path / "b.npz")


# ------------------------------------------------------------------- local files and lookup


def test_load_from_explicit_dir_gz_and_plain(tmp_path, monkeypatch):
    register(monkeypatch, layouts=(idx_layout(),))  # no hashes: structure only
    arrays = tiny_arrays()
    for gz in (True, False):
        folder = tmp_path / f"gz-{gz}"
        write_tiny(folder, arrays, gz=gz)
        ds = load_dataset("tiny", data_dir=folder, download=False)
        assert (
            isinstance(ds, Dataset)
            and ds.source == str(folder)
            and ds.verification == "structure only"
        )
        assert ds.x_train.shape == (N_TRAIN, 784) and ds.x_train.dtype == np.float32
        assert ds.y_train.dtype == np.int64 and ds.n_features == 784 and ds.image_shape == (28, 28)
        np.testing.assert_array_equal(
            ds.x_test, arrays["x_test"].reshape(N_TEST, -1) / np.float32(255)
        )
        np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
        assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0


def test_official_archive_md5_is_checked_on_gz_only(tmp_path, monkeypatch):
    register(monkeypatch)  # MNIST's md5s: the tiny .gz files cannot match them
    write_tiny(tmp_path / "gz", tiny_arrays())
    with pytest.raises(
        DataError, match="checksum mismatch for .*train-images-idx3-ubyte.gz.*md5 differs"
    ) as info:
        load_dataset("tiny", data_dir=tmp_path / "gz", download=False)
    assert "\n" not in str(info.value)
    write_tiny(tmp_path / "plain", tiny_arrays(), gz=False)  # uncompressed: no md5 applies
    assert (
        load_dataset("tiny", data_dir=tmp_path / "plain", download=False).verification
        == "structure only"
    )


def test_lookup_order_explicit_then_env_then_cache(tmp_path, monkeypatch):
    register(monkeypatch, layouts=(idx_layout(),))  # no hashes: structure only
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", tmp_path / "cache"
    write_tiny(cache / "tiny", tiny_arrays(3))
    assert load_dataset("tiny", download=False).source == str(cache / "tiny")
    write_tiny(env / "tiny", tiny_arrays(2))
    monkeypatch.setenv("PRUNELAB_DATA", str(env))
    assert load_dataset("tiny", download=False).source == str(env / "tiny")
    write_tiny(explicit, tiny_arrays(1))  # files directly in the explicit dir are accepted
    ds = load_dataset("tiny", data_dir=explicit, download=False)
    assert ds.source == str(explicit)
    np.testing.assert_array_equal(
        ds.x_train[0], tiny_arrays(1)["x_train"][0].ravel() / np.float32(255)
    )


def test_env_root_without_subfolder_is_not_used(tmp_path, monkeypatch):
    # MNIST, Fashion-MNIST and KMNIST share file names: only $PRUNELAB_DATA/NAME is searched
    register(monkeypatch, layouts=(idx_layout(),))
    write_tiny(tmp_path / "env", tiny_arrays())
    monkeypatch.setenv("PRUNELAB_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError, match="tiny not found"):
        load_dataset("tiny", download=False)


def test_missing_files_offline_names_searched_paths_and_fix(tmp_path, monkeypatch):
    register(monkeypatch)
    monkeypatch.setenv("PRUNELAB_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load_dataset("tiny", data_dir=tmp_path / "mine", download=False)
    msg = str(info.value)
    assert "\n" not in msg
    for part in (
        str(tmp_path / "mine" / "tiny"),
        str(tmp_path / "env" / "tiny"),
        str(tmp_path / "cache" / "tiny"),
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "PRUNELAB_DATA",
    ):
        assert part in msg


def test_missing_files_with_failing_download_says_so(tmp_path, monkeypatch):
    register(monkeypatch)  # mirror is 127.0.0.1:9 (see the fixture): connection refused
    with pytest.raises(
        DataError, match=r"tiny not found .*download failed .*127\.0\.0\.1:9.*put train-images"
    ) as info:
        load_dataset("tiny", data_dir=tmp_path / "d")
    assert "\n" not in str(info.value)
    assert not any((tmp_path / "d" / "tiny").iterdir())  # nothing half-written left behind


def test_content_checksum_accepts_recompressed_and_rejects_changed_data(tmp_path, monkeypatch):
    arrays = tiny_arrays()
    hashes = {
        role: (content_sha(arrays, role), "0" * 32) for role in IDX_NAMES
    }  # md5 of the "official" .gz is wrong on purpose
    register(monkeypatch, layouts=(idx_layout(hashes),))
    paths = write_tiny(tmp_path, arrays)
    # a re-compressed copy (different .gz bytes, same content) verifies by content sha256
    paths["x_test"].write_bytes(
        gzip.compress(gzip.decompress(paths["x_test"].read_bytes()), compresslevel=1)
    )
    assert load_dataset("tiny", data_dir=tmp_path, download=False).verification == "sha256"
    status = dataset_status("tiny", tmp_path)
    assert status["verified"] is True and status["found_at"] == str(tmp_path)
    changed = arrays["x_train"].copy()
    changed[0, 0, 0] ^= 1
    write_idx(paths["x_train"], changed)
    with pytest.raises(
        DataError, match="checksum mismatch for .*train-images-idx3-ubyte.gz.*sha256"
    ) as info:
        load_dataset("tiny", data_dir=tmp_path, download=False)
    assert "\n" not in str(info.value)
    status = dataset_status("tiny", tmp_path)
    assert status["verified"] is False and "checksum mismatch" in status["detail"]


@pytest.mark.parametrize(
    ("role", "array", "message"),
    [
        ("y_train", np.full(N_TRAIN, 10, np.uint8), "labels outside 0..9"),
        ("y_test", np.zeros(N_TEST + 1, np.uint8), "8 images but 9 labels"),
        ("x_train", np.zeros((N_TRAIN, 27, 28), np.uint8), r"expected uint8 \(n, 28, 28\)"),
        ("x_test", np.zeros((N_TEST, 28, 28), np.int8), "expected uint8"),
    ],
)
def test_structural_checks(tmp_path, monkeypatch, role, array, message):
    register(monkeypatch, layouts=(idx_layout(),))
    arrays = tiny_arrays()
    arrays[role] = array
    write_tiny(tmp_path, arrays)
    with pytest.raises(DataError, match=message):
        load_dataset("tiny", data_dir=tmp_path, download=False)


def test_wrong_sample_count_is_rejected(tmp_path, monkeypatch):
    register(monkeypatch, layouts=(idx_layout(),))
    monkeypatch.setitem(
        DATASETS, "tiny", dataclasses.replace(DATASETS["tiny"], n_train=N_TRAIN + 1)
    )
    write_tiny(tmp_path, tiny_arrays())
    with pytest.raises(DataError, match=f"holds {N_TRAIN} train images, expected {N_TRAIN + 1}"):
        load_dataset("tiny", data_dir=tmp_path, download=False)


def test_emnist_style_labels_shifted_and_images_transposed(tmp_path, monkeypatch):
    spec = dataclasses.replace(DATASETS["emnist-letters"], n_train=N_TRAIN, n_test=N_TEST)
    monkeypatch.setitem(DATASETS, "emnist-letters", spec)
    arrays = tiny_arrays(n_classes=26, offset=1)  # EMNIST letters store 1..26
    names = {f.role: f.name.removesuffix(".gz") for f in spec.layouts[0].files}
    write_tiny(tmp_path, arrays, names)
    ds = load_dataset("emnist-letters", data_dir=tmp_path, download=False)
    assert (
        ds.n_classes == 26
        and ds.y_train.min() == 0
        and ds.y_train.tolist() == (arrays["y_train"] - 1).tolist()
    )
    upright = arrays["x_train"][5].T
    np.testing.assert_array_equal(ds.x_train[5], upright.ravel() / np.float32(255))


def test_kmnist_npz_and_idx_layouts(tmp_path, monkeypatch):
    spec = dataclasses.replace(DATASETS["kmnist"], n_train=N_TRAIN, n_test=N_TEST)
    monkeypatch.setitem(DATASETS, "kmnist", spec)
    arrays = tiny_arrays(4)
    (tmp_path / "npz").mkdir()
    for file in spec.layouts[0].files:
        np.savez_compressed(tmp_path / "npz" / file.name, arrays[file.role])
    ds = load_dataset("kmnist", data_dir=tmp_path / "npz", download=False)
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert (
        ds.verification == "structure only"
        and dataset_status("kmnist", tmp_path / "npz")["verified"] is False
    )
    write_tiny(tmp_path / "idx", arrays, gz=False)  # KMNIST's IDX release, uncompressed
    np.testing.assert_array_equal(
        load_dataset("kmnist", data_dir=tmp_path / "idx", download=False).x_train, ds.x_train
    )


# ------------------------------------------------------------------- downloads (127.0.0.1)


class _Server:
    """Serves a folder on 127.0.0.1 and counts the requests."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    srv.root = root
    monkeypatch.setenv("PRUNELAB_DATA_MIRROR", srv.url)
    yield srv
    srv.close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_verifies_md5_and_writes_into_data_dir(tmp_path, monkeypatch, server):
    arrays = tiny_arrays(7)
    served = write_tiny(server.root, arrays)
    register(monkeypatch, layouts=(idx_layout({r: (None, _md5(p)) for r, p in served.items()}),))
    target = tmp_path / "data"
    assert (
        dataset_status("tiny", target)["found_at"] is None and server.requests == []
    )  # status never downloads
    ds = load_dataset("tiny", data_dir=target)
    assert sorted(server.requests) == sorted(f"/{n}.gz" for n in IDX_NAMES.values())
    assert ds.source == str(target / "tiny") and ds.verification == "md5"
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert sorted(p.name for p in (target / "tiny").iterdir()) == sorted(
        f"{n}.gz" for n in IDX_NAMES.values()
    )
    assert dataset_status("tiny", target)["verified"] is True
    load_dataset("tiny", data_dir=target)  # second load: local, no new request
    assert len(server.requests) == 4


def test_download_goes_to_env_dir_then_cache(tmp_path, monkeypatch, server):
    served = write_tiny(server.root, tiny_arrays())
    register(monkeypatch, layouts=(idx_layout({r: (None, _md5(p)) for r, p in served.items()}),))
    assert load_dataset("tiny").source == str(tmp_path / "cache" / "tiny")
    monkeypatch.setenv("PRUNELAB_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data_files, "cache_dir", lambda: tmp_path / "cache2")
    assert load_dataset("tiny").source == str(tmp_path / "env" / "tiny")


@pytest.mark.parametrize("damage", ["flip-byte", "truncate"])
def test_download_rejects_a_corrupt_file_and_leaves_nothing(tmp_path, monkeypatch, server, damage):
    arrays = tiny_arrays()
    served = write_tiny(server.root, arrays)
    register(monkeypatch, layouts=(idx_layout({r: (None, _md5(p)) for r, p in served.items()}),))
    raw = served["x_train"].read_bytes()
    served["x_train"].write_bytes(
        raw[:100] + bytes([raw[100] ^ 0xFF]) + raw[101:]
        if damage == "flip-byte"
        else raw[: len(raw) // 2]
    )
    target = tmp_path / "data"
    with pytest.raises(DataError, match="download failed .*checksum mismatch") as info:
        load_dataset("tiny", data_dir=target)
    assert "\n" not in str(info.value)
    assert not (target / "tiny" / "train-images-idx3-ubyte.gz").exists()
    assert not [
        p for p in (target / "tiny").iterdir() if p.name.startswith(".")
    ]  # no temporary left


def test_download_without_known_hash_still_rejects_truncated_file(tmp_path, monkeypatch, server):
    served = write_tiny(server.root, tiny_arrays(), gz=False)
    for path in served.values():  # serve uncompressed content under the .gz names
        path.rename(path.with_name(path.name + ".gz"))
    raw = (server.root / "t10k-images-idx3-ubyte.gz").read_bytes()
    (server.root / "t10k-images-idx3-ubyte.gz").write_bytes(raw[:-5])
    register(monkeypatch, layouts=(idx_layout(),))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz.* is truncated"):
        load_dataset("tiny", data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "tiny" / "t10k-images-idx3-ubyte.gz").exists()


def test_download_from_zip_archive_like_emnist(tmp_path, monkeypatch, server):
    arrays = tiny_arrays(n_classes=26, offset=1)
    base = DATASETS["emnist-letters"]
    members = write_tiny(
        tmp_path / "members",
        arrays,
        {f.role: f.name.removesuffix(".gz") for f in base.layouts[0].files},
    )
    zip_path = server.root / "gzip.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("gzip/README", "not extracted")
        for path in members.values():
            zf.write(path, f"gzip/{path.name}")
    layout = dataclasses.replace(base.layouts[0], archive_md5=_md5(zip_path))
    monkeypatch.setitem(
        DATASETS,
        "emnist-letters",
        dataclasses.replace(base, n_train=N_TRAIN, n_test=N_TEST, layouts=(layout,)),
    )
    ds = load_dataset("emnist-letters", data_dir=tmp_path / "data")
    assert server.requests == ["/gzip.zip"]
    assert sorted(p.name for p in (tmp_path / "data" / "emnist-letters").iterdir()) == sorted(
        p.name for p in members.values()
    )
    assert (
        ds.y_train.tolist() == list(range(N_TRAIN)) and ds.n_classes == 26
    )  # stored 1..24, shifted
    # a corrupted archive is rejected by its md5
    zip_path.write_bytes(zip_path.read_bytes()[:-10])
    with pytest.raises(DataError, match="download failed .*checksum mismatch for .*gzip.zip"):
        load_dataset("emnist-letters", data_dir=tmp_path / "other")


# ------------------------------------------------------------------- registry and status


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("fashion_mnist", "fashion-mnist"), ("kmnst", "kmnist"), ("digit", "digits")],
)
def test_unknown_data_set_suggests_the_closest_name(typo, suggestion):
    with pytest.raises(
        ConfigError, match=f"unknown data set '{typo}'; did you mean '{suggestion}'"
    ) as info:
        load_dataset(typo)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        dataset_status(typo)


def test_registry_names_and_status_list(tmp_path):
    assert list(DATASETS) == [
        "fashion-mnist",
        "mnist",
        "kmnist",
        "emnist-letters",
        "digits",
        "synthetic",
    ]
    statuses = list_dataset_status(tmp_path)
    assert [s["name"] for s in statuses] == list(DATASETS)
    by_name = {s["name"]: s for s in statuses}
    assert set(by_name["mnist"]) == {"name", "found_at", "verified", "detail"}
    assert by_name["mnist"]["found_at"] is None and by_name["mnist"]["verified"] is None
    assert str(tmp_path / "mnist") in by_name["mnist"]["detail"]
    assert by_name["digits"] == {**by_name["digits"], "found_at": "sklearn", "verified": True}
    assert by_name["synthetic"]["found_at"] == "generated"
    if HAVE_FASHION:
        assert (
            by_name["fashion-mnist"]["found_at"] == str(FASHION_DIR)
            and by_name["fashion-mnist"]["verified"] is True
        )


def test_status_of_corrupt_and_structure_only_files(tmp_path, monkeypatch):
    register(monkeypatch, layouts=(idx_layout(),))
    paths = write_tiny(tmp_path, tiny_arrays())
    st = dataset_status("tiny", tmp_path)
    assert st["verified"] is False and st["detail"].startswith("structure only")
    paths["y_test"].write_bytes(paths["y_test"].read_bytes()[:-8])
    st = dataset_status("tiny", tmp_path)
    assert (
        st["verified"] is False
        and "corrupt or truncated" in st["detail"]
        and st["found_at"] == str(tmp_path)
    )


def test_file_data_sets_take_no_options(tmp_path):
    with pytest.raises(ConfigError, match="takes no options"):
        load_dataset("mnist", data_dir=tmp_path, download=False, n_samples=3)


@pytest.mark.skipif(not HAVE_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package():
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.source == str(FASHION_DIR) and ds.verification == "sha256"
    assert (
        ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784) and ds.n_classes == 10
    )
    assert ds.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(ds.y_train).tolist() == [6000] * 10  # the published class balance
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0


# ------------------------------------------------------------------------ generated sets


def test_digits_split_is_fixed_stratified_and_scaled():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64) and a.image_shape == (8, 8)
    assert a.source == "sklearn" and a.n_classes == 10
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.x_train.max() == 1.0 and a.x_train.min() == 0.0
    assert np.bincount(a.y_test).min() >= 35  # stratified: about 36 per class
    assert not np.array_equal(load_dataset("digits", seed=1).y_test, a.y_test)


@pytest.mark.parametrize("kind", ["gaussian-mixture", "teacher-student"])
def test_synthetic_is_seeded_bounded_and_learnable(kind):
    from sklearn.linear_model import LogisticRegression

    ds = load_dataset("synthetic", kind=kind, seed=0)
    assert ds.x_train.shape == (1600, 20) and ds.x_test.shape == (400, 20) and ds.n_classes == 4
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(ds.x_train, load_dataset("synthetic", kind=kind, seed=0).x_train)
    assert not np.array_equal(ds.x_train, load_dataset("synthetic", kind=kind, seed=1).x_train)
    assert np.bincount(ds.y_train, minlength=4).min() > 200  # no class starved
    accuracy = (
        LogisticRegression(max_iter=300).fit(ds.x_train, ds.y_train).score(ds.x_test, ds.y_test)
    )
    assert accuracy > 0.65  # chance is 0.25


def test_synthetic_options():
    ds = load_dataset("synthetic", n_samples=90, n_features=3, n_classes=3, test_fraction=0.5)
    assert ds.x_train.shape == (45, 3) and ds.n_classes == 3 and ds.image_shape is None
    with pytest.raises(ConfigError, match="has no option 'n_sample'; did you mean 'n_samples'"):
        load_dataset("synthetic", n_sample=10)
    with pytest.raises(
        ConfigError, match="unknown synthetic kind 'teacher'; did you mean 'teacher-student'"
    ):
        load_dataset("synthetic", kind="teacher")
    with pytest.raises(ConfigError, match=r"test_fraction must be in \(0, 1\)"):
        load_dataset("synthetic", test_fraction=1.5)
    with pytest.raises(ConfigError, match="n_classes must be an integer >= 2"):
        load_dataset("synthetic", n_classes=1)
