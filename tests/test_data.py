"""Data sets: IDX/npz readers, verification, lookup order, downloads from a local HTTP server."""

from __future__ import annotations

import gzip
import http.server
import threading
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from prunelab.data import DATASETS, dataset_status, list_dataset_status, load_dataset, read_idx, write_idx
from prunelab.data import files as data_files
from prunelab.data.idx import parse_idx, sha256_hex
from prunelab.errors import ConfigError, DataError


def test_idx_round_trip_gz_and_plain(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, arr)
        np.testing.assert_array_equal(read_idx(tmp_path / name), arr)
    assert (tmp_path / "a.idx.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_idx_header_known_bytes():
    content = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    np.testing.assert_array_equal(parse_idx(content), [7, 8, 9])
    with pytest.raises(DataError, match="truncated"):
        parse_idx(content[:-1])
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(b"\x01" + content[1:])


def test_corrupt_gzip_is_reported(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((4, 2, 2), np.uint8))
    raw = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "x.gz")


# --- a tiny file data set served by a local HTTP server ------------------------------------------

def _tiny_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 3, 12).astype(np.uint8),
        "x_test": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 3, 6).astype(np.uint8),
    }


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Register a 'tiny' IDX data set whose files a local server serves; returns (spec, server dir)."""
    served = tmp_path / "served"
    served.mkdir()
    arrays = _tiny_arrays()
    base = data_files._idx()
    files = []
    for f in base:
        content = gzip.decompress(write_idx(served / f.name, arrays[f.role]).read_bytes())
        files.append(replace(f, content_sha256=sha256_hex(content), archive_md5=None))
    spec = data_files.FileDatasetSpec("tiny", tuple(files), "idx", 3, 12, 6, (28, 28), mirrors=())
    monkeypatch.setitem(data_files.FILE_DATASETS, "tiny", spec)
    monkeypatch.setattr("prunelab.data.DATASETS", (*DATASETS, "tiny"))
    monkeypatch.setenv("PRUNELAB_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data_files, "cache_dir", lambda: tmp_path / "cache")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PRUNELAB_DATA_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    yield spec, served, arrays, tmp_path
    server.shutdown()
    server.server_close()


def test_download_verifies_and_writes_atomically(tiny):
    spec, served, arrays, tmp = tiny
    ds = load_dataset("tiny")
    target = tmp / "env" / "tiny"
    assert ds.source == str(target)
    assert sorted(p.name for p in target.iterdir()) == sorted(f.name for f in spec.files)  # no temp files left
    np.testing.assert_allclose(ds.x_train, arrays["x_train"].reshape(12, -1) / 255.0)
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert ds.verification == "sha256" and ds.n_features == 784
    assert dataset_status("tiny")["verified"] is True


def test_corrupt_download_is_rejected(tiny):
    spec, served, arrays, tmp = tiny
    bad = arrays["x_test"].copy()
    bad[0, 0, 0] ^= 1  # one flipped pixel: same structure, different content
    write_idx(served / "t10k-images-idx3-ubyte.gz", bad)
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_dataset("tiny")
    assert "\n" not in str(info.value)
    assert not (tmp / "env" / "tiny" / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in (tmp / "env" / "tiny").iterdir() if p.name.startswith(".")]


def test_offline_names_searched_paths_and_fix(tiny, monkeypatch):
    monkeypatch.setenv("PRUNELAB_DATA_MIRROR", "http://127.0.0.1:9/")  # discard port: refused
    with pytest.raises(DataError) as info:
        load_dataset("tiny", data_dir=tiny[3] / "explicit")
    msg = str(info.value)
    assert "explicit" in msg and "env" in msg and "download failed" in msg and "PRUNELAB_DATA" in msg
    with pytest.raises(DataError, match="files not found"):
        load_dataset("tiny", download=False)


def test_lookup_order_explicit_dir_first_and_plain_files(tiny):
    spec, served, arrays, tmp = tiny
    explicit = tmp / "explicit"
    explicit.mkdir()
    for f in spec.files:  # uncompressed copies are accepted too
        (explicit / f.name.removesuffix(".gz")).write_bytes(gzip.decompress((served / f.name).read_bytes()))
    load_dataset("tiny")  # downloads into $PRUNELAB_DATA
    assert load_dataset("tiny", data_dir=explicit).source == str(explicit)
    assert load_dataset("tiny").source == str(tmp / "env" / "tiny")


def test_truncated_and_bad_labels_and_mismatch(tiny):
    spec, served, arrays, tmp = tiny
    d = tmp / "d"
    d.mkdir()
    for f in spec.files:
        (d / f.name).write_bytes((served / f.name).read_bytes())
    raw = gzip.decompress((d / "train-labels-idx1-ubyte.gz").read_bytes())
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-2]))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("tiny", data_dir=d, download=False)
    # without a known hash the structural checks still catch it
    no_hash = replace(spec, files=tuple(replace(f, content_sha256=None) for f in spec.files))
    data_files.FILE_DATASETS["tiny"] = no_hash
    with pytest.raises(DataError, match="truncated"):
        load_dataset("tiny", data_dir=d, download=False)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.full(12, 7, np.uint8))
    with pytest.raises(DataError, match="labels outside 0..2"):
        load_dataset("tiny", data_dir=d, download=False)
    assert dataset_status("tiny", d)["verified"] is False


def test_unknown_dataset_suggests_closest():
    with pytest.raises(ConfigError, match="did you mean 'fashion-mnist'"):
        load_dataset("fashion-mnis")
    with pytest.raises(ConfigError, match="did you mean 'kmnist'"):
        dataset_status("kmnst")


def test_digits_and_synthetic():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1 and ds.n_classes == 10
    assert np.bincount(ds.y_test).min() >= 35  # stratified: ~36 per class
    a = load_dataset("synthetic", seed=1, n_samples=500, n_features=8, n_classes=3)
    b = load_dataset("synthetic", seed=1, n_samples=500, n_features=8, n_classes=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (400, 8) and set(np.unique(a.y_train)) == {0, 1, 2}
    t = load_dataset("synthetic", kind="teacher-student", n_samples=300)
    assert t.n_classes == 4 and len(np.unique(t.y_train)) > 1
    with pytest.raises(ConfigError, match="bad option"):
        load_dataset("synthetic", n_sample=3)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package_verifies_by_content(monkeypatch, tmp_path):
    monkeypatch.delenv("PRUNELAB_DATA", raising=False)
    monkeypatch.setattr(data_files, "cache_dir", lambda: tmp_path / "cache")
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.verification == "sha256"
    assert np.bincount(ds.y_train).tolist() == [6000] * 10  # the published class balance
    rows = {r["name"]: r for r in list_dataset_status()}
    assert rows["fashion-mnist"]["verified"] is True
