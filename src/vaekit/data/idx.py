"""A small reader for IDX files (the MNIST format), gzip-compressed or raw.

Format: a 4-byte magic ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32 sizes,
then the values in C order. MNIST images are ``0x00000803`` (2051, uint8, 3 dims), labels
``0x00000801`` (2049, uint8, 1 dim).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import IO, cast

import numpy as np

from vaekit.data.npy import check_memory
from vaekit.data.regular import open_regular
from vaekit.errors import DataError, DataNotFoundError
from vaekit.runs import atomic_write

# IDX type code -> numpy dtype (multi-byte types are big-endian)
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def _header(data: bytes, source: str, magic: int | None) -> tuple[int, np.dtype, tuple[int, ...]]:
    """``(header bytes, dtype, shape)`` from the start of IDX ``data`` (all of the header)."""
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    found = struct.unpack(">I", data[:4])[0]
    if zero != 0 or code not in _DTYPES or ndim < 1:
        raise DataError(f"{source}: not an IDX file (bad magic number {found:#010x})")
    if magic is not None and found != magic:
        raise DataError(f"{source}: expected IDX magic number {magic}, found {found}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX header ({len(data)} of {header} bytes)")
    return header, _DTYPES[code], struct.unpack(f">{ndim}I", data[4:header])


def parse_idx(data: bytes, source: str = "<bytes>", magic: int | None = None) -> np.ndarray:
    """Decode raw (uncompressed) IDX bytes into an array of the stored shape.

    ``magic``, when given, is the expected magic number (2051 for images, 2049 for labels).
    Raises :class:`DataError` naming ``source`` on a bad header or a truncated/oversized body.
    The result is a read-only view of ``data`` for uint8 files (no copy).
    """
    header, dtype, dims = _header(data, source, magic)
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{source}: IDX file {what}: {len(data)} bytes, expected {expected} for shape {dims}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _gunzip(f: IO[bytes], source: str, magic: int | None) -> bytes:
    """The IDX bytes of gzip stream ``f``, decompressing at most one byte past what the header
    announces (a gzip bomb is never expanded), and no more than this machine's memory."""
    data = f.read(4)
    data += f.read(4 * data[3] if len(data) == 4 else 0)
    header, dtype, dims = _header(data, source, magic)
    expected = header + math.prod(dims) * dtype.itemsize
    check_memory(expected, f"{source}: IDX of shape {dims}")
    return data + f.read(expected - len(data) + 1)


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gunzipping it when its name ends in ``.gz``.

    Raises :class:`DataNotFoundError` if missing and :class:`DataError` if the gzip stream or the
    IDX content is truncated or corrupt.
    """
    path = Path(path)
    try:
        with open_regular(path) as f:
            gzipped = path.suffix == ".gz" or f.read(2) == b"\x1f\x8b"
            f.seek(0)
            if not gzipped:
                return parse_idx(f.read(), str(path), magic)
            try:
                with gzip.GzipFile(fileobj=f) as gz:
                    raw = _gunzip(cast(IO[bytes], gz), str(path), magic)
            except (EOFError, OSError, zlib.error) as err:
                raise DataError(f"{path}: corrupt or truncated gzip file ({err})") from None
    except DataNotFoundError:
        raise
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    return parse_idx(raw, str(path), magic)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8 or one of the IDX dtypes) as IDX, gzipped if the name ends in .gz."""
    path = Path(path)
    codes = {dtype: code for code, dtype in _DTYPES.items()}
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in codes:
        raise DataError(f"{path}: IDX cannot store dtype {array.dtype}")
    header = struct.pack(">HBB", 0, codes[dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    payload = gzip.compress(data) if path.suffix == ".gz" else data
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))
