"""The IDX reader: round trips, magic numbers, truncated and corrupt files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from vaekit.data.idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_idx, write_idx
from vaekit.errors import DataError, DataNotFoundError


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, name):
    x = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / name, x)
    y = read_idx(tmp_path / name)
    assert y.shape == (2, 3, 4) and np.array_equal(y, x)


def test_mnist_magic_numbers(tmp_path):
    write_idx(tmp_path / "img.gz", np.zeros((2, 3, 3), np.uint8))
    write_idx(tmp_path / "lab.gz", np.zeros(2, np.uint8))
    assert read_idx(tmp_path / "img.gz", IMAGES_MAGIC).shape == (2, 3, 3)
    assert read_idx(tmp_path / "lab.gz", LABELS_MAGIC).shape == (2,)
    with pytest.raises(DataError, match="expected IDX magic number 2051, found 2049"):
        read_idx(tmp_path / "lab.gz", IMAGES_MAGIC)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00", "not an IDX file"),
        (b"PK\x03\x04", r"bad magic number 0x504b0304"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated: 11 bytes, expected 13"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "has trailing bytes"),
    ],
)
def test_bad_headers_and_sizes(data, match):
    with pytest.raises(DataError, match=match):
        parse_idx(data, "f.idx")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x04abcd" * 1000)
    (tmp_path / "t.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"t\.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "t.gz")


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such file"):
        read_idx(tmp_path / "none.gz")
