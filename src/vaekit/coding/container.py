"""The .vkz file: a header, then chunks, each one BB-ANS stack; this module owns the layout.

All integers little-endian::

    header   b"VKZ1" | u16 format version | u32 n | n bytes of JSON | u32 CRC-32 of the JSON
    chunk    b"CHNK" | u32 examples | u32 words | words * u32 | u32 CRC-32 of the examples'
             bytes | u32 CRC-32 of everything before it in the chunk
    end      b"VEND" | u64 total examples

The JSON header holds the format version, the SHA-256 of the model's weights, the shape of one
example, the dtype, the count, the chunk size and the latent precision. Each chunk decodes on its
own, so reading streams and memory stays bounded by one chunk. Any damage (a bad magic, a CRC
that does not match, a file that ends early, a chunk that does not decode back to its initial
bits) raises :class:`CorruptFileError`; a file made with another model :class:`ModelMismatchError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import BinaryIO

import numpy as np

from vaekit import runs
from vaekit.errors import CheckpointError, DataError
from vaekit.model.vae import VAE

MAGIC, CHUNK, END = b"VKZ1", b"CHNK", b"VEND"
VERSION = 1
MAX_VALUES = 1 << 26  #: values per example a header may claim (the image readers' limit)
MAX_TOTAL = 1 << 40  #: values in all a header may claim (decompress sizes its output by it)


class CorruptFileError(DataError):
    """A .vkz file is truncated, corrupt, or not a .vkz file."""


class ModelMismatchError(CheckpointError):
    """A .vkz file was compressed with another model than the one given to decompress it."""


def weights_sha256(model: VAE) -> str:
    """SHA-256 (hex) of the model's weights: every state-dict tensor's name, dtype, shape and
    float32 bytes, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        a = t.detach().to("cpu").float().contiguous().numpy()
        h.update(f"{name}|{a.shape}|".encode())
        h.update(a.astype("<f4").tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Header:
    """What a .vkz file says about its contents."""

    version: int  #: the format version (:data:`VERSION`)
    model_sha256: str  #: :func:`weights_sha256` of the model that compressed it
    shape: tuple[int, ...]  #: the shape of one example, as given to compress
    dtype: str  #: the NumPy dtype of the data, as given to compress
    count: int  #: examples
    chunk_size: int  #: examples per chunk (the last may hold fewer)
    latent_bits: int  #: log2 of the latent buckets per dimension
    conditional: bool  #: whether the labels are coded too


def write_header(f: BinaryIO, header: Header) -> int:
    """Write ``header``; the number of bytes written."""
    text = json.dumps(asdict(header), sort_keys=True).encode()
    blob = MAGIC + struct.pack("<HI", VERSION, len(text)) + text
    f.write(blob + struct.pack("<I", zlib.crc32(text)))
    return len(blob) + 4


def _read(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CorruptFileError(f"the .vkz file is truncated: it ends inside the {what}")
    return data


def read_header(f: BinaryIO) -> Header:
    """The header at the start of ``f``, or :class:`CorruptFileError`."""
    if _read(f, 4, "header") != MAGIC:
        raise CorruptFileError("not a .vkz file (no VKZ1 magic at the start)")
    version, n = struct.unpack("<HI", _read(f, 6, "header"))
    if version != VERSION:
        raise CorruptFileError(f"the .vkz format version {version} is not supported ({VERSION})")
    text = _read(f, n, "header")
    if struct.unpack("<I", _read(f, 4, "header"))[0] != zlib.crc32(text):
        raise CorruptFileError("the .vkz header is corrupt (CRC-32 mismatch)")
    try:
        header: Header = runs.checked(Header, json.loads(text), "the .vkz header")
    except (ValueError, RecursionError) as e:  # not JSON, nested too deeply, huge integers
        raise CorruptFileError(f"the .vkz header is corrupt: {e}") from None
    except CheckpointError as e:  # a field of the wrong type or out of bounds
        raise CorruptFileError(str(e)) from None
    header = dataclasses.replace(header, shape=tuple(header.shape))
    _check_header(header)
    return header


def _check_header(h: Header) -> None:
    """The header's values within what compress writes, so decompress never allocates or
    interprets blindly."""
    problem = None
    if h.version != VERSION:
        problem = f"version {h.version} inside the header"
    elif len(h.model_sha256) != 64 or any(c not in "0123456789abcdef" for c in h.model_sha256):
        problem = "the model's SHA-256 is not 64 hex digits"
    elif not h.shape or min(h.shape) < 1 or math.prod(h.shape) > MAX_VALUES:
        problem = f"shape {list(h.shape)[:8]} is not the shape of an example"
    elif _dtype(h.dtype) is None:
        problem = f"dtype {h.dtype[:20]!r} is not a numeric NumPy dtype"
    elif not 1 <= h.count <= MAX_TOTAL // math.prod(h.shape) or h.chunk_size < 1:
        problem = f"count {h.count} or chunk_size {h.chunk_size} is out of range"
    elif not 1 <= h.latent_bits <= 24:
        problem = f"latent_bits {h.latent_bits} is out of range"
    if problem:
        raise CorruptFileError(f"the .vkz header is corrupt: {problem}")


def _dtype(name: str) -> np.dtype | None:
    """The NumPy dtype ``name`` if it is a plain number type (bool, integer, float), else None."""
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError):
        return None
    return dtype if dtype.kind in "biuf" and dtype.itemsize <= 8 else None


def write_chunk(f: BinaryIO, n: int, words: np.ndarray, data_crc: int) -> int:
    """Write one chunk of ``n`` examples; the number of bytes written."""
    body = CHUNK + struct.pack("<II", n, len(words)) + words.astype("<u4").tobytes()
    body += struct.pack("<I", data_crc)
    f.write(body + struct.pack("<I", zlib.crc32(body)))
    return len(body) + 4


def write_end(f: BinaryIO, count: int) -> int:
    f.write(END + struct.pack("<Q", count))
    return 12


def read_chunks(f: BinaryIO, header: Header) -> Iterator[tuple[int, np.ndarray, int]]:
    """The chunks after the header: (examples, words uint32, CRC-32 of the examples' bytes);
    checks the end marker and the count."""
    seen = 0
    while True:
        magic = _read(f, 4, "chunk list")
        if magic == END:
            (count,) = struct.unpack("<Q", _read(f, 8, "end marker"))
            if count != header.count or seen != header.count or f.read(1):
                raise CorruptFileError("the .vkz file is corrupt (its example count is wrong)")
            return
        if magic != CHUNK:
            raise CorruptFileError("the .vkz file is corrupt (a chunk has no CHNK magic)")
        head = _read(f, 8, "chunk")
        n, n_words = struct.unpack("<II", head)
        if n_words > 2**28 or n > header.chunk_size or seen + n > header.count:
            raise CorruptFileError("the .vkz file is corrupt (a chunk has impossible sizes)")
        payload = _read(f, 4 * n_words + 4, "chunk")
        (crc,) = struct.unpack("<I", _read(f, 4, "chunk"))
        if crc != zlib.crc32(magic + head + payload):
            raise CorruptFileError("the .vkz file is corrupt (a chunk's CRC-32 does not match)")
        words = np.frombuffer(payload[:-4], dtype="<u4").astype(np.uint32)
        seen += n
        yield n, words, struct.unpack("<I", payload[-4:])[0]


def open_bytes(data: bytes | bytearray | memoryview) -> BinaryIO:
    """A file object over bytes already in memory."""
    return io.BytesIO(bytes(data))
