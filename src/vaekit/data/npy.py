"""Reading ``.npy`` and ``.npz`` files that may be damaged or hostile, within bounded memory.

A header is checked against the bytes that really hold the data before anything is allocated:

- ``.npy``: the header's shape x item size must equal the bytes after the header (no more, no
  less), so a header claiming 10^12 elements in a small file is refused at once, and fit in
  this machine's memory;
- ``.npz``: every member must be an ``.npy``; its header must agree with the size the zip
  directory records, that size with the compressed size (deflate expands at most ~1032 times,
  stored members not at all), and the total must fit in this machine's memory.

No pickles are loaded (object arrays are refused). Every failure is one :class:`DataError`
naming the file (and the member of an ``.npz``).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import IO

import numpy as np
import numpy.lib.format as npformat

from vaekit.data.regular import open_regular
from vaekit.errors import DataError, DataNotFoundError

DEFLATE_RATIO = 1100  # deflate's largest expansion is about 1032:1; a claim beyond it is a lie
CHUNK = 2**24  # bytes read at a time from an .npz member


def read_header(f: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The ``(shape, fortran_order, dtype)`` of the .npy header at ``f``'s position.

    Leaves ``f`` at the first data byte. Refuses object dtypes (they would need pickle).
    """
    try:
        version = npformat.read_magic(f)
        read = (
            npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        )
        shape, fortran, dtype = read(f)
    except Exception as err:  # numpy parses the header with ast and tokenize: many error types
        why: BaseException = (
            ValueError("a header over numpy's safe size") if "max_header_size" in str(err) else err
        )
        raise DataError(f"{where}: not a readable .npy array ({_one_line(why)})") from None
    if any(size < 0 for size in shape):
        raise DataError(f"{where}: not a readable .npy array (negative size in shape {shape})")
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects (pickles), which vaekit never loads")
    return shape, fortran, dtype


def nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of the data of an array of ``shape`` and ``dtype`` (exact, no overflow)."""
    return math.prod(shape) * dtype.itemsize


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an ``.npy`` file whose header agrees with its size (see the module docstring)."""
    where = str(path)
    try:
        with open_regular(path) as f:
            shape, fortran, dtype = read_header(f, where)
            held = os.fstat(f.fileno()).st_size - f.tell()
            claimed = nbytes(shape, dtype)
            if held != claimed:
                raise DataError(f"{where}: {_mismatch(shape, dtype, claimed, held)}")
            check_memory(claimed, where)
            flat = np.fromfile(f, dtype=dtype, count=math.prod(shape))
    except DataNotFoundError:
        raise
    except OSError as err:
        raise DataError(f"{where}: not a readable .npy file ({_one_line(err)})") from None
    if flat.size != math.prod(shape):  # the file shrank while being read
        raise DataError(f"{where}: truncated while reading")
    return flat.reshape(shape, order="F" if fortran else "C")


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file, each checked before it is allocated."""
    where = str(path)
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as zf:
            members = zf.infolist()
            check_memory(sum(_check_member(info, where) for info in members), where)
            return dict(_read_member(zf, info, where) for info in members)
    except (  # what the zip module raises on damage, an encrypted or exotic member included
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as err:
        if isinstance(err, DataError | DataNotFoundError):
            raise
        raise DataError(f"{where}: not a readable .npz file ({_one_line(err)})") from None


def _check_member(info: zipfile.ZipInfo, where: str) -> int:
    """The uncompressed size ``info`` claims, or a DataError if it cannot be true."""
    if not info.filename.endswith(".npy") or info.is_dir():
        raise DataError(f"{where}: member {info.filename!r} is not an .npy array")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise DataError(f"{where}: member {info.filename!r} has inconsistent sizes")
    if (
        info.compress_type == zipfile.ZIP_DEFLATED
        and info.file_size > DEFLATE_RATIO * info.compress_size + 4096
    ):
        raise DataError(
            f"{where}: member {info.filename!r} claims {info.file_size} bytes from "
            f"{info.compress_size} compressed bytes, more than deflate can give"
        )
    return info.file_size


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> tuple[str, np.ndarray]:
    name = info.filename[: -len(".npy")]
    member = f"{where}: array {name!r}"
    with zf.open(info) as f:
        shape, fortran, dtype = read_header(f, member)
        claimed = nbytes(shape, dtype)
        held = info.file_size - f.tell()
        if held != claimed:
            raise DataError(f"{member}: {_mismatch(shape, dtype, claimed, held)}")
        raw = np.empty(claimed, np.uint8)  # filled in chunks: no second copy in memory
        view, done = memoryview(raw.data), 0
        while done < claimed:  # the zip module checks the CRC once the member is read
            chunk = f.read(min(CHUNK, claimed - done))
            if not chunk:
                raise DataError(f"{member}: truncated after {done} of {claimed} bytes")
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
        if f.read(1):
            raise DataError(f"{member}: longer than its header says")
    flat = raw.view(dtype)
    return name, flat.reshape(shape, order="F" if fortran else "C")


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(claimed: int, where: str) -> None:
    """Raise :class:`DataError` if ``claimed`` bytes exceed this machine's physical memory."""
    limit = memory_bytes()
    if limit is not None and claimed > limit:
        raise DataError(
            f"{where}: the data claims {claimed / 2**30:.1f} GiB, more than this machine's "
            f"memory ({limit / 2**30:.1f} GiB)"
        )


def _mismatch(shape: tuple[int, ...], dtype: np.dtype, claimed: int, held: int) -> str:
    what = "truncated" if held < claimed else "longer than its header says"
    return (
        f"{what}: the header claims shape {shape} of {dtype} ({claimed} bytes) but the file "
        f"holds {held} bytes of data"
    )


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
