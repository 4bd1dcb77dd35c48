"""Damaged and hostile input files for the corruption suite: each builder writes one into a
folder and returns the path to hand to vaekit (a file, or a folder of images).

Kept apart from the tests so the in-process suite and the CLI suite read the same files.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Builder = Callable[[Path], Path]


# -- .npy / .npz -----------------------------------------------------------------------------------
def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(header: dict | str, version: bytes = b"\x01\x00", length: int | None = None):
    """A .npy magic and header (a dict, or raw text), padded like numpy pads it."""
    text = header if isinstance(header, str) else repr(header)
    text += " " * (63 - (len(text) + 10) % 64) + "\n"
    size = len(text) if length is None else length
    packed = struct.pack("<H", size) if version == b"\x01\x00" else struct.pack("<I", size)
    return b"\x93NUMPY" + version + packed + text.encode("latin-1")


def claiming(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    return npy_header({"descr": descr, "fortran_order": False, "shape": shape})


def good_x(rows: int = 20, features: int = 3) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(rows, features)).astype(np.float32)


def write(name: str, data: bytes) -> Builder:
    def build(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return build


def npz(name: str, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Builder:
    def build(folder: Path) -> Path:
        with zipfile.ZipFile(folder / name, "w", method) as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        return folder / name

    return build


def npz_patched(
    name: str, patch: Callable[[bytes], bytes], method: int = zipfile.ZIP_STORED
) -> Builder:
    """A valid .npz of ``good_x`` as ``x.npy``, its bytes passed through ``patch``."""

    def build(folder: Path) -> Path:
        npz(name, {"x.npy": npy_bytes(good_x())}, method)(folder)
        (folder / name).write_bytes(patch((folder / name).read_bytes()))
        return folder / name

    return build


def lying_zip_size(data: bytes) -> bytes:
    """Set the uncompressed size of the first member (local header and directory) near 2^32."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    out[local + 22 : local + 26] = struct.pack("<I", 0xFFFFFFF0)
    central = out.find(b"PK\x01\x02")
    out[central + 24 : central + 28] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(out)


def flip_last_data_byte(data: bytes) -> bytes:
    """Flip a bit in the stored member's data (before the zip directory): a CRC mismatch."""
    out = bytearray(data)
    out[out.find(b"PK\x01\x02") - 5] ^= 0x10
    return bytes(out)


# -- values ----------------------------------------------------------------------------------------
def npy_of(name: str, array: np.ndarray) -> Builder:
    return write(name, npy_bytes(array))


def spread_beyond_float32() -> np.ndarray:
    x = good_x(50)
    x[:, 0] = 3e38
    x[:5, 0] = -3e38  # the mean is near 3e38: -3e38 - mean overflows float32
    return x


def with_value(value: float, dtype: type = np.float64) -> np.ndarray:
    x = good_x(20).astype(dtype)
    x[7, 1] = value
    return x


# -- CSV -------------------------------------------------------------------------------------------
GOOD_CSV = "a,b,label\n0.5,1.5,cat\n2.5,3.5,dog\n4.5,5.5,cat\n"


def csv_text(text: str, encoding: str = "utf-8", name: str = "d.csv") -> Builder:
    return write(name, text.encode(encoding))


# -- IDX -------------------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


GOOD_IDX = idx_bytes(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3))


def gz(name: str, data: bytes) -> Builder:
    return write(name, gzip.compress(data))


def gzip_bomb() -> bytes:
    """Announces 2 images of 3x3, then 64 MiB of zeros compressed to about 64 KB."""
    stream = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = stream.compress(GOOD_IDX)
    zeros = bytes(2**20)
    for _ in range(64):
        out += stream.compress(zeros)
    return out + stream.flush()


# -- images ----------------------------------------------------------------------------------------
def image_bytes(fmt: str, h: int = 8, w: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(h * w, dtype=np.uint8).reshape(h, w)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(w: int, h: int) -> bytes:
    """A 100-byte PNG whose header claims ``w`` x ``h`` grey pixels."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(bytes(64)))
        + png_chunk(b"IEND", b"")
    )


def png_that_warns() -> bytes:
    """A good PNG with an acTL chunk of 0 frames: Pillow decodes it but warns (invalid APNG)."""
    data = image_bytes("PNG")
    end_of_ihdr = 8 + 8 + 13 + 4
    actl = png_chunk(b"acTL", struct.pack(">II", 0, 0))
    return data[:end_of_ihdr] + actl + data[end_of_ihdr:]


def gif_claiming(w: int, h: int) -> bytes:
    data = bytearray(image_bytes("GIF"))
    data[6:10] = struct.pack("<HH", w, h)  # the logical screen
    return bytes(data)


def bmp_claiming(w: int, h: int) -> bytes:
    data = bytearray(image_bytes("BMP"))
    data[18:26] = struct.pack("<ii", w, h)
    return bytes(data)


def jpeg_claiming(w: int, h: int) -> bytes:
    data = bytearray(image_bytes("JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def webp_claiming(w: int, h: int) -> bytes:
    data = bytearray(image_bytes("WEBP"))
    frame = data.find(b"\x9d\x01\x2a")  # the VP8 key frame's start code, then 14-bit sizes
    data[frame + 3 : frame + 7] = struct.pack("<HH", w, h)
    return bytes(data)


def tiff_claiming(w: int, h: int) -> bytes:
    data = bytearray(image_bytes("TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = w if tag == 256 else h
            fmt = "<H" if kind == 3 else "<I"
            data[entry + 8 : entry + 8 + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(data)


def flip(data: bytes, at: float, bit: int = 2) -> bytes:
    out = bytearray(data)
    out[int(at * (len(out) - 1))] ^= 1 << bit
    return bytes(out)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\n%%EOF\n"
PS = b"%!PS-Adobe-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"


def folder_with(name: str, data: bytes) -> Builder:
    """A folder of images: one good PNG and ``name`` holding ``data``."""

    def build(folder: Path) -> Path:
        root = folder / "images"
        root.mkdir()
        (root / "0.png").write_bytes(image_bytes("PNG"))
        (root / name).write_bytes(data)
        return root

    return build


def folder_with_fifo(folder: Path) -> Path:
    root = folder / "images"
    root.mkdir()
    (root / "0.png").write_bytes(image_bytes("PNG"))
    os.mkfifo(root / "9.png")
    return root


def fifo(name: str) -> Builder:
    """A FIFO named like a data file: nobody ever writes it."""

    def build(folder: Path) -> Path:
        os.mkfifo(folder / name)
        return folder / name

    return build


def folder_with_broken_link(folder: Path) -> Path:
    root = folder / "images"
    root.mkdir()
    (root / "0.png").write_bytes(image_bytes("PNG"))
    (root / "9.png").symlink_to(folder / "nowhere.png")
    return root


def folder_with_link(target: str) -> Builder:
    """A folder of class subfolders where class ``b`` is a link to ``target``."""

    def build(folder: Path) -> Path:
        root = folder / "images"
        (root / "a").mkdir(parents=True)
        (root / "a" / "0.png").write_bytes(image_bytes("PNG"))
        (root / "b").symlink_to(target)
        return root

    return build
