"""Binarized MNIST: the .amat parser, the packed cache and its download from .amat files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from vaekit.data import DataConfig, load_dataset
from vaekit.data import binarized as bm
from vaekit.data import download as dl
from vaekit.errors import ChecksumError, DataError, DataNotFoundError


def amat(x: np.ndarray) -> bytes:
    return b"".join(b" ".join(b"%d" % v for v in row) + b"\n" for row in x)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Tiny splits (6/2/2 rows of 784 pixels) registered as the known binarized MNIST."""
    rng = np.random.default_rng(0)
    splits = {
        s: (rng.random((n, 784)) < 0.2).astype(np.uint8)
        for s, n in (("train", 6), ("valid", 2), ("test", 2))
    }
    for split, x in splits.items():
        monkeypatch.setitem(bm.SPLIT_SHA256, split, hashlib.sha256(x.tobytes()).hexdigest())
    return splits


def test_parse_amat_integer_and_float_forms():
    x = np.array([[0, 1, 1], [1, 0, 0]], dtype=np.uint8)
    assert np.array_equal(bm.parse_amat(amat(x), "t"), x)
    assert np.array_equal(bm.parse_amat(b"0.0 1.0 1.0\r\n1.0 0.0 0.0\r\n\n", "t"), x)


@pytest.mark.parametrize("text", [b"0 1\n0 1 1\n", b"0 1\n0 2\n", b"0.0 1.0\n0.5 1.0\n"])
def test_parse_amat_rejects_bad_rows(text):
    with pytest.raises(DataError, match="bad.amat"):
        bm.parse_amat(text, "bad.amat")


def test_real_test_split_round_trips_through_amat(shared_dir):
    with np.load(shared_dir("binarized-mnist") / "binarized-mnist" / bm.NPZ_NAME) as npz:
        x = np.unpackbits(npz["test"], axis=1)  # (10000, 784)
    chars = np.full((len(x), 2 * x.shape[1]), ord(" "), dtype=np.uint8)
    chars[:, ::2] = x + ord("0")
    chars[:, -1] = ord("\n")
    parsed = bm.parse_amat(chars.tobytes(), "test.amat")
    bm.check_split(parsed, "test", "test.amat")  # the published pixel checksum
    with pytest.raises(ChecksumError, match="test pixels"):
        bm.check_split(parsed[::-1], "test", "reversed")


def test_download_from_amat_builds_the_packed_cache(tiny, serve, tmp_path, monkeypatch):
    files = {f"binarized_mnist_{s}.amat": amat(x) for s, x in tiny.items()}
    monkeypatch.setitem(dl.MIRRORS, "binarized-mnist", [serve(files)])
    data = load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path)))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (6, 2, 2)
    assert np.array_equal(data.x_val.reshape(2, -1).numpy(), tiny["valid"])
    folder = tmp_path / "binarized-mnist"
    assert [p.name for p in folder.iterdir()] == [bm.NPZ_NAME]  # .amat files dropped
    serve.hits.clear()
    again = load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path)))
    assert serve.hits == [] and np.array_equal(again.x_test, data.x_test)


def test_wrong_pixels_from_a_mirror_are_rejected(tiny, serve, tmp_path, monkeypatch):
    files = {f"binarized_mnist_{s}.amat": amat(1 - x) for s, x in tiny.items()}
    monkeypatch.setitem(dl.MIRRORS, "binarized-mnist", [serve(files)])
    with pytest.raises(ChecksumError, match="train pixels have sha256"):
        load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path)))


def test_amat_files_put_in_the_folder_are_used(tiny, tmp_path):
    folder = tmp_path / "binarized-mnist"
    folder.mkdir()
    for split, x in tiny.items():
        (folder / f"binarized_mnist_{split}.amat").write_bytes(amat(x))
    data = load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path), download=False))
    assert len(data.x_train) == 6 and (folder / bm.NPZ_NAME).is_file()


def test_corrupt_packed_file_is_detected(tiny, tmp_path):
    folder = tmp_path / "binarized-mnist"
    folder.mkdir()
    np.savez(folder / bm.NPZ_NAME, **{s: np.packbits(x, axis=1) for s, x in tiny.items()})
    assert load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path))).kind == "binary"
    raw = (folder / bm.NPZ_NAME).read_bytes()
    (folder / bm.NPZ_NAME).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ChecksumError, match="delete it"):
        load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path), download=False))


def test_missing_without_download_names_the_files(tmp_path: Path):
    with pytest.raises(DataNotFoundError, match="binarized_mnist_train.amat"):
        load_dataset(DataConfig("binarized-mnist", data_dir=str(tmp_path), download=False))
