"""Verified downloads against local servers: good, corrupt, stalled and unreachable mirrors."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.data import DataConfig, load_dataset
from vaekit.data import download as dl
from vaekit.data.idx import write_idx
from vaekit.errors import ChecksumError, DataNotFoundError

NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Tiny MNIST-like IDX files (20 train, 5 test images of 4x4) registered as 'mnist'."""
    rng = np.random.default_rng(0)
    arrays = {
        NAMES[0]: rng.integers(0, 256, (20, 4, 4), dtype=np.uint8),
        NAMES[1]: np.arange(20, dtype=np.uint8) % 10,
        NAMES[2]: rng.integers(0, 256, (5, 4, 4), dtype=np.uint8),
        NAMES[3]: np.arange(5, dtype=np.uint8),
    }
    files, specs = {}, []
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).unlink()
        files[name] = data
        specs.append(
            dl.RemoteFile(
                name, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data)
            )
        )
    monkeypatch.setitem(dl.FILES, "mnist", tuple(specs))
    return files


def corrupt(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


def load(root: Path, download: bool = True) -> torch.Tensor:
    return load_dataset(DataConfig("mnist", data_dir=str(root), download=download)).x_train


def test_download_writes_verified_files(tiny, serve, tmp_path, monkeypatch):
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(tiny)])
    x = load(tmp_path / "cache")
    assert x.shape == (18, 1, 4, 4)
    folder = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)  # no .part files left
    assert all((folder / n).read_bytes() == tiny[n] for n in NAMES)


def test_corrupt_mirror_falls_back_to_next(tiny, serve, tmp_path, monkeypatch):
    bad = dict(tiny, **{NAMES[0]: corrupt(tiny[NAMES[0]])})
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(bad), serve(tiny)])
    load(tmp_path)
    assert serve.hits.count(NAMES[0]) == 2  # first mirror rejected, second accepted
    assert (tmp_path / "mnist" / NAMES[0]).read_bytes() == tiny[NAMES[0]]


def test_every_mirror_corrupt_is_a_checksum_error(tiny, serve, tmp_path, monkeypatch):
    bad = {name: data[: len(data) // 2] for name, data in tiny.items()}  # truncated
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(bad), serve(bad)])
    with pytest.raises(ChecksumError, match="truncated or corrupt"):
        load(tmp_path)
    assert not any((tmp_path / "mnist").iterdir())  # nothing half-written stays behind


def test_missing_file_on_mirror_tries_next(tiny, serve, tmp_path, monkeypatch):
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve({}), serve(tiny)])  # 404, then good
    assert load(tmp_path).shape == (18, 1, 4, 4)


@pytest.mark.parametrize("stall", ["STALL_HEADERS", "STALL_BODY"])
def test_stalled_mirror_times_out_quickly(tiny, serve, tmp_path, monkeypatch, stall):
    monkeypatch.setattr(dl, "TIMEOUT_S", 0.2)
    stalled = {name: getattr(serve, stall) for name in tiny}
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(stalled), serve(tiny)])
    start = time.monotonic()
    assert load(tmp_path).shape == (18, 1, 4, 4)
    assert time.monotonic() - start < 5  # 4 files x 0.2 s time-outs, not a hang


def test_stalled_only_mirror_is_reported(tiny, serve, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "TIMEOUT_S", 0.2)
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve({n: serve.STALL_BODY for n in tiny})])
    with pytest.raises(DataNotFoundError, match="timed out"):
        load(tmp_path)


def test_whole_file_deadline(tiny, serve, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "DEADLINE_S", -1.0)
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(tiny)])
    with pytest.raises(DataNotFoundError, match="took longer"):
        load(tmp_path)


def test_offline_says_which_files_to_put_where(tiny, tmp_path):
    with pytest.raises(DataNotFoundError) as err:  # autouse fixture: connection refused
        load(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "mnist") in message and "VAEKIT_DATA_DIR" in message
    assert all(name in message for name in NAMES)
    assert "refused" in message.lower()


def test_missing_without_download(tiny, tmp_path):
    with pytest.raises(DataNotFoundError, match="download is off"):
        load(tmp_path, download=False)


def test_corrupt_cached_file_is_fetched_again(tiny, serve, tmp_path, monkeypatch):
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(tiny)])
    load(tmp_path)
    cached = tmp_path / "mnist" / NAMES[2]
    cached.write_bytes(cached.read_bytes()[:100])  # truncated by an interrupted copy
    serve.hits.clear()
    load(tmp_path)
    assert serve.hits == [NAMES[2]] and cached.read_bytes() == tiny[NAMES[2]]


def test_corrupt_cached_file_without_download(tiny, serve, tmp_path, monkeypatch):
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(tiny)])
    load(tmp_path)
    (tmp_path / "mnist" / NAMES[0]).write_bytes(corrupt(tiny[NAMES[0]]))
    with pytest.raises(ChecksumError, match=f"{NAMES[0]}.*sha256"):
        load(tmp_path, download=False)


def snapshot(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


def test_real_mnist_from_local_mirror(serve, tmp_path, monkeypatch, shared_dir):
    root = shared_dir("mnist")
    files = {p.name: p.read_bytes() for p in (root / "mnist").glob("*.gz")}
    monkeypatch.setitem(dl.MIRRORS, "mnist", [serve(files)])
    data = load_dataset(DataConfig("mnist", data_dir=str(tmp_path)))
    assert len(data.x_train) + len(data.x_val) == 60000 and len(data.x_test) == 10000
    for name, spec in zip(NAMES, dl.FILES["mnist"], strict=True):
        assert dl.hash_file(tmp_path / "mnist" / name) == (spec.sha256, spec.md5)


def test_good_offline_copy_is_used_as_is(shared_dir):
    root = shared_dir("mnist")
    before = snapshot(root / "mnist")
    data = load_dataset(DataConfig("mnist", data_dir=str(root), download=False))
    assert data.x_train.shape[1:] == (1, 28, 28)
    assert snapshot(root / "mnist") == before  # read-only folder: nothing written
