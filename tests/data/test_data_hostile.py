"""The corruption suite of data files, in process: each damaged or hostile input (.npy and .npz
headers, values, CSV, IDX, image folders) must give one clear one-line error naming the file,
within a deadline and without allocating what a lying header claims.

Memory is measured with tracemalloc, which sees NumPy's and Pillow's buffers; the deadline is a
SIGALRM that interrupts a blocking read (a FIFO that nobody writes). The same files are run
through the real CLI in test_data_hostile_cli.py.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hostile_files import (
    EPS,
    GOOD_CSV,
    GOOD_IDX,
    PS,
    bmp_claiming,
    claiming,
    csv_text,
    fifo,
    flip,
    flip_last_data_byte,
    folder_with,
    folder_with_broken_link,
    folder_with_fifo,
    folder_with_link,
    gif_claiming,
    gz,
    gzip_bomb,
    image_bytes,
    jpeg_claiming,
    lying_zip_size,
    npy_bytes,
    npy_header,
    npy_of,
    npz,
    npz_patched,
    png_claiming,
    png_that_warns,
    spread_beyond_float32,
    tiff_claiming,
    webp_claiming,
    with_value,
    write,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import EpsImagePlugin

from vaekit.data import DataConfig, load_dataset
from vaekit.data.binarized import parse_amat
from vaekit.data.idx import IMAGES_MAGIC, read_idx
from vaekit.errors import DataError, VaekitError

GIB = 2**30
PEAK = 32 * 2**20  # bytes allocated while reading one damaged file, at most
pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, SIGALRM, wait4: POSIX")
DEFLATED = zipfile.ZIP_DEFLATED
DEADLINE_S = 20

NPY = [
    ("npy-claims-1e12", write("x.npy", claiming((10**6, 10**6)) + bytes(100)), "truncated"),
    (
        "npy-claims-1e12-v2",
        write(
            "x.npy",
            npy_header({"descr": "<f8", "fortran_order": False, "shape": (10**12,)}, b"\x02\x00"),
        ),
        "truncated",
    ),
    ("npy-truncated-data", write("x.npy", npy_bytes(np.ones((20, 3)))[:-7]), "truncated"),
    ("npy-trailing-bytes", write("x.npy", npy_bytes(np.ones((20, 3))) + b"x"), "longer than"),
    ("npy-wrong-magic", write("x.npy", b"\x93NUMPZ\x01\x00" + bytes(120)), "not a readable"),
    ("npy-empty-file", write("x.npy", b""), "not a readable"),
    ("npy-text-file", write("x.npy", b"1,2,3\n4,5,6\n"), "not a readable"),
    ("npy-header-length-beyond-file", write("x.npy", npy_header("{}", length=60000)), "readable"),
    ("npy-header-not-a-dict", write("x.npy", npy_header("__import__('os')")), "readable"),
    ("npy-header-bad-dtype", write("x.npy", claiming((3,), "<x9")), "not a readable"),
    ("npy-header-negative-shape", write("x.npy", claiming((-5, 3))), "not a readable"),
    ("npy-object-dtype", write("x.npy", claiming((3,), "|O")), "pickles"),
    ("npy-header-huge", write("x.npy", npy_header("{" + " " * 70000 + "}", b"\x02\x00")), "read"),
    ("npy-strings", npy_of("x.npy", np.array(["a", "b"])), "expected numbers"),
    ("npy-5d", npy_of("x.npy", np.ones((2, 1, 1, 1, 1))), "at most 4"),
    ("npy-no-features", npy_of("x.npy", np.ones((5, 0), np.uint8)), "no values in a row"),
    ("npy-empty-images", npy_of("x.npy", np.ones((3, 2, 0, 4))), "no values in a row"),
    ("npy-no-rows", npy_of("x.npy", np.ones((0, 4))), "no rows"),
]
NPZ = [
    ("npz-header-claims-1e12", npz("x.npz", {"x.npy": claiming((10**12,))}), "truncated"),
    ("npz-zip-size-lies", npz_patched("x.npz", lying_zip_size), "inconsistent sizes"),
    ("npz-deflate-ratio-lie", npz_patched("x.npz", lying_zip_size, DEFLATED), "deflate can"),
    ("npz-crc-mismatch", npz_patched("x.npz", flip_last_data_byte), "CRC"),
    ("npz-truncated", npz_patched("x.npz", lambda d: d[: len(d) // 2]), "not a readable .npz"),
    ("npz-not-a-zip", write("x.npz", b"hello, not a zip" * 10), "not a readable .npz"),
    ("npz-text-member", npz("x.npz", {"x.npy": npy_bytes(np.ones(3)), "a.txt": b"hi"}), "a.txt"),
    ("npz-no-members", npz("x.npz", {}), "cannot tell"),
    ("npz-pickled-member", npz("x.npz", {"x.npy": claiming((2,), "|O") + bytes(16)}), "pickles"),
    ("npz-bad-member-header", npz("x.npz", {"x.npy": b"\x93NUMPY\x01\x00\xff\xff"}), "'x'"),
]
VALUES = [
    ("values-spread-beyond-float32", npy_of("x.npy", spread_beyond_float32()), "standardized"),
    ("values-1e300", npy_of("x.npy", with_value(1e300)), r"row 7 holds 1e\+300"),
    ("values-minus-1e39", npy_of("x.npy", with_value(-1e39)), "row 7 .*float32"),
    ("values-nan", npy_of("x.npy", with_value(np.nan, np.float32)), "row 7 contains NaN"),
    ("values-inf", npy_of("x.npy", with_value(np.inf, np.float32)), "row 7 contains NaN or inf"),
]
CSV = [
    ("csv-utf16", csv_text(GOOD_CSV, "utf-16"), "not UTF-8"),
    ("csv-latin1", csv_text("a,b\n0.5,caf\xe9\n", "latin-1"), "not UTF-8"),
    ("csv-nul-byte", csv_text("a,b\n1,2\n3,\x004\n"), "line 3"),
    ("csv-ragged", csv_text("1,2,3\n4,5\n"), "line 2 has 2 columns"),
    ("csv-nan-cell", csv_text("a,b\n1,2\n3,nan\n"), r"line 3, column 1 \('b'\).*is missing"),
    ("csv-beyond-float32", csv_text("a,b\n1,2\n3,1e39\n"), "line 3, column 1.*float32"),
    ("csv-word-cell", csv_text("1,2\n3,four\n"), "'four' is not a number"),
    ("csv-huge-field", csv_text("1," + "9" * 200_000 + "\n"), "field larger"),
    ("csv-header-only", csv_text("a,b\n"), "no data rows|no rows|not a number"),
    ("csv-empty", csv_text(""), "no rows"),
    ("csv-binary-garbage", write("d.csv", bytes(range(256)) * 4), "not UTF-8"),
]
IDX = [
    ("idx-wrong-magic", write("t.idx", b"\x00\x00\x08\x01" + bytes(8)), "magic number 2051"),
    ("idx-not-idx", write("t.idx", b"PK\x03\x04" + bytes(40)), "bad magic"),
    ("idx-truncated-header", write("t.idx", GOOD_IDX[:9]), "truncated IDX header"),
    ("idx-truncated-body", write("t.idx", GOOD_IDX[:-3]), "truncated"),
    ("idx-trailing-bytes", write("t.idx", GOOD_IDX + b"\0"), "trailing bytes"),
    ("idx-gz-truncated", write("t.gz", gzip.compress(GOOD_IDX)[:-9]), "corrupt or truncated"),
    ("idx-gz-not-gzip", write("t.gz", b"\x1f\x8b" + bytes(30)), "corrupt or truncated gzip"),
    ("idx-gz-bomb", write("t.gz", gzip_bomb()), "trailing bytes"),
    ("idx-gz-claims-1e12", gz("t.gz", b"\x00\x00\x08\x03" + bytes.fromhex("00989680" * 3)), "mem"),
    ("idx-gz-flipped-crc", write("t.gz", flip(gzip.compress(GOOD_IDX), 0.99, 0)), "gzip"),
]
IMAGES = [
    ("png-bomb-100000", folder_with("1.png", png_claiming(100_000, 100_000)), "decompression"),
    ("png-over-our-limit", folder_with("1.png", png_claiming(9000, 9000)), r"9000x9000.*2\^26"),
    ("png-over-pillow-warning", folder_with("1.png", png_claiming(9500, 9500)), "2\\^26"),
    ("gif-bomb", folder_with("1.gif", gif_claiming(65535, 65535)), "decompression"),
    ("bmp-bomb", folder_with("1.bmp", bmp_claiming(100_000, 100_000)), "decompression"),
    ("jpeg-bomb", folder_with("1.jpg", jpeg_claiming(60000, 60000)), "decompression"),
    ("tiff-bomb", folder_with("1.tif", tiff_claiming(60000, 60000)), "decompression"),
    ("webp-bomb", folder_with("1.webp", webp_claiming(16383, 16383)), "decompression"),
    ("webp-over-our-limit", folder_with("1.webp", webp_claiming(9000, 9000)), "2\\^26"),
    ("eps-named-png", folder_with("1.png", EPS), "none of PNG, JPEG"),
    ("ps-named-jpg", folder_with("1.jpg", PS), "none of PNG, JPEG"),
    ("text-named-png", folder_with("1.png", b"hello"), "none of PNG"),
    ("empty-png", folder_with("1.png", b""), "none of PNG"),
    ("png-truncated", folder_with("1.png", image_bytes("PNG")[:-30]), "not a readable image"),
    ("jpeg-truncated", folder_with("1.jpg", image_bytes("JPEG")[:200]), "not a readable image"),
    ("png-bad-crc", folder_with("1.png", flip(image_bytes("PNG"), 0.25)), "readable"),
    ("png-pillow-warns", folder_with("1.png", png_that_warns()), "UserWarning: Invalid APNG"),
    ("fifo-named-png", folder_with_fifo, "9.png: not a regular file \\(a FIFO\\)"),
]


AMAT = [  # Larochelle's binarized MNIST text files, as found in a data folder
    ("amat-word", write("b.amat", b"0.0 1.0\n0.0 x\n"), "not a text file of numbers"),
    ("amat-empty", write("b.amat", b"\n\n"), "no rows"),
    ("amat-binary-garbage", write("b.amat", bytes(range(256))), "not a text file|other than 0"),
    ("amat-ragged", write("b.amat", b"0 1 1\n0 1\n"), "row 1 has 2 values"),
]
SPECIAL = [
    ("fifo-named-npy", fifo("x.npy"), "not a regular file \\(a FIFO\\)"),
    ("fifo-named-npz", fifo("x.npz"), "not a regular file \\(a FIFO\\)"),
    ("fifo-named-csv", fifo("d.csv"), "not a regular file \\(a FIFO\\)"),
    ("fifo-named-idx", fifo("t.gz"), "not a regular file \\(a FIFO\\)"),
]
LINKS = [
    ("link-loop", folder_with_link("."), "a link back to a folder"),
    ("link-broken", folder_with_broken_link, "broken symbolic link"),
]


CASES = NPY + NPZ + VALUES + CSV + IDX + AMAT + IMAGES + SPECIAL + LINKS


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail a test that runs over DEADLINE_S seconds, even inside a blocking read."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"over {DEADLINE_S} s: the reader hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, DEADLINE_S)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def read(path: Path) -> object:
    """What vaekit does with the path: IDX and .amat files as a named dataset reads them, any
    other as ``--dataset PATH``."""
    if path.suffix in (".idx", ".gz"):
        return read_idx(path, IMAGES_MAGIC)
    if path.suffix == ".amat":
        return parse_amat(path.read_bytes(), str(path))
    return load_dataset(DataConfig(str(path), val_fraction=0.0, test_fraction=0.0))


@pytest.mark.parametrize(("case", "build", "match"), CASES, ids=[c[0] for c in CASES])
def test_damaged_input_gives_one_clear_error(tmp_path, deadline, case, build, match) -> None:
    path = build(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(VaekitError, match=match) as caught:
            read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message, message
    assert path.name in message, message  # names the file (or the folder it lies in)
    # the files hold a few KB (the gzip bomb 64 MiB once expanded): a reader that believes a
    # header, or expands a bomb, allocates far more than PEAK (and 1 GiB is the hard bound)
    assert peak < PEAK < GIB, f"{case}: {peak / 2**20:.1f} MiB allocated"


def test_the_suite_has_at_least_50_cases() -> None:
    assert len(CASES) >= 50 and len({c[0] for c in CASES}) == len(CASES)


def test_eps_never_reaches_pillows_eps_reader(tmp_path, monkeypatch) -> None:
    """Pillow's EPS reader runs Ghostscript on load: it must not even be opened."""

    def opened(self: object) -> None:
        raise AssertionError("Pillow's EPS reader was reached")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", opened)
    with pytest.raises(DataError, match="none of PNG"):
        read(folder_with("1.png", EPS)(tmp_path))


def test_a_linked_class_folder_is_a_class(tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "1.png").write_bytes(image_bytes("PNG"))
    data = read(folder_with_link(str(elsewhere))(tmp_path))
    assert data.classes == ("a", "b") and data.y_train.tolist() == [0, 1]


def test_data_of_plus_minus_3e38_is_read(tmp_path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    x[:, 0] = np.where(x[:, 0] > 0, 3e38, -3e38)  # spread 6e38 in float64, mean near 0
    np.save(tmp_path / "x.npy", x)
    data = read(tmp_path / "x.npy")
    assert data.kind == "real" and np.isfinite(data.scale.numpy()).all()
    assert float(data.x_train.abs().max()) == pytest.approx(3e38, rel=1e-6)


GOOD = {
    "x.npy": lambda: npy_bytes(np.arange(60, dtype=np.float32).reshape(20, 3)),
    "x.npz": lambda: zipped(
        {"x.npy": npy_bytes(np.ones((6, 2))), "y.npy": npy_bytes(np.arange(6))}
    ),
    "d.csv": lambda: GOOD_CSV.encode(),
    "t.gz": lambda: gzip.compress(GOOD_IDX),
    "images/0.png": lambda: image_bytes("PNG"),
    "images/0.gif": lambda: image_bytes("GIF"),
    "images/0.jpg": lambda: image_bytes("JPEG"),
}


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(GOOD))
@given(at=st.floats(0, 1), bit=st.integers(0, 7), cut=st.integers(0, 64))
@settings(max_examples=25, deadline=None, derandomize=True, database=None)
def test_bit_flips_and_cuts_give_data_or_one_clear_error(tmp_path_factory, name, at, bit, cut):
    """Hypothesis: any one flipped bit, and any cut end, of a good file of each kind."""
    data = flip(GOOD[name](), at, bit)
    data = data[: len(data) - cut] if cut < len(data) else data
    path = tmp_path_factory.mktemp("flip") / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    try:
        read(path if path.parent.name != "images" else path.parent)
    except VaekitError as err:
        assert "\n" not in str(err) and path.name in str(err), str(err)


@pytest.mark.parametrize("name", ["x.npy", "x.npz", "t.gz"])
def test_data_larger_than_this_machines_memory_is_refused(tmp_path, monkeypatch, name) -> None:
    """A file whose data would not fit in memory is refused before it is read (here the machine
    is made to have 20 bytes)."""
    from vaekit.data import npy

    monkeypatch.setattr(npy, "memory_bytes", lambda: 20)
    path = tmp_path / name
    path.write_bytes(GOOD[name]())
    with pytest.raises(DataError, match="more than this machine's memory"):
        read(path)
