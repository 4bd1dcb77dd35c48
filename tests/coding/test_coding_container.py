"""The .vkz format: its header, and one clear error for every kind of damage."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
import torch

from vaekit.coding import CorruptFileError, ModelMismatchError, compress, decompress, read_header
from vaekit.coding.container import weights_sha256
from vaekit.errors import CheckpointError, DataError
from vaekit.model.vae import VAE

Images = Callable[..., tuple[torch.Tensor, torch.Tensor]]  #: conftest.binary_images


@pytest.fixture(scope="module")
def packed(binary_model: VAE, images: Images) -> tuple[np.ndarray, bytes]:
    x = images(21, seed=8)[0].numpy().astype(np.uint8)
    return x, compress(binary_model, x)


def test_header_says_what_the_file_holds(binary_model: VAE, packed: tuple) -> None:
    x, data = packed
    header = read_header(io.BytesIO(data))
    assert (header.count, header.shape, np.dtype(header.dtype)) == (21, (1, 6, 6), np.uint8)
    assert header.model_sha256 == weights_sha256(binary_model) and not header.conditional
    assert data.endswith(b"VEND" + struct.pack("<Q", 21))


def test_weights_hash_changes_with_any_weight(binary_model: VAE) -> None:
    other = VAE(binary_model.config, binary_model.shape, "binary")
    other.load_state_dict(binary_model.state_dict())
    assert weights_sha256(other) == weights_sha256(binary_model)
    with torch.no_grad():
        next(other.parameters()).view(-1)[0] += 1e-6
    assert weights_sha256(other) != weights_sha256(binary_model)


def test_another_model_is_refused(binary_model: VAE, packed: tuple) -> None:
    torch.manual_seed(1)
    other = VAE(binary_model.config, binary_model.shape, "binary")
    with pytest.raises(ModelMismatchError, match="compressed with another model"):
        decompress(other, packed[1])
    assert issubclass(ModelMismatchError, CheckpointError)


@pytest.mark.parametrize("cut", [0, 3, 9, 40, -60, -13, -1])
def test_truncated_file_is_one_clear_error(binary_model: VAE, packed: tuple, cut: int) -> None:
    data = packed[1]
    with pytest.raises(CorruptFileError, match="truncated|not a .vkz|corrupt"):
        decompress(binary_model, data[:cut])


@pytest.mark.parametrize("where", [0, 8, 30, 0.5, -20, -9, -3])
def test_flipped_byte_is_one_clear_error(binary_model: VAE, packed: tuple, where: float) -> None:
    data = bytearray(packed[1])
    i = int(where * len(data)) if isinstance(where, float) else where
    data[i] ^= 0x10
    with pytest.raises(CorruptFileError):
        decompress(binary_model, bytes(data))
    assert issubclass(CorruptFileError, DataError)


def test_trailing_bytes_are_refused(binary_model: VAE, packed: tuple) -> None:
    with pytest.raises(CorruptFileError, match="count"):
        decompress(binary_model, packed[1] + b"\0")


def test_damaged_stack_behind_a_valid_crc_fails_to_decode(binary_model: VAE, packed: tuple) -> None:
    """Damage the ANS words and recompute the chunk's CRC: the decoded data must still be
    caught (initial bits or data CRC-32), never returned."""
    data = bytearray(packed[1])
    start = data.index(b"CHNK")
    n, n_words = struct.unpack("<II", data[start + 4 : start + 12])
    end = start + 12 + 4 * n_words + 4
    data[start + 12 + 4 * (n_words // 2)] ^= 0x01  # a word in the middle of the stack
    data[end : end + 4] = struct.pack("<I", zlib.crc32(bytes(data[start:end])))
    with pytest.raises(CorruptFileError, match="initial bits|CRC-32|fails to decode"):
        decompress(binary_model, bytes(data))
