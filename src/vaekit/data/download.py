"""Verified downloads of the named datasets' files into a cache folder.

Each known file has a SHA-256 (and the official MD5 where one is published). A file already in the
folder is checked and used as it is (the folder may be read-only); a missing or corrupt one is
fetched from the mirrors in :data:`MIRRORS`, in order, into a temporary file that is verified and
then moved into place with ``os.replace``, so a reader never sees a partial file. Tests point
:data:`MIRRORS` at a local server and shorten :data:`TIMEOUT_S`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vaekit.errors import ChecksumError, DataNotFoundError

TIMEOUT_S = 30.0  #: seconds a connection or a single read may stall before the mirror is dropped
DEADLINE_S = 1800.0  #: seconds one whole file may take from one mirror
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file of a named dataset: its name in the dataset folder and on the mirrors."""

    name: str
    sha256: str | None  # None: verified by its content after decoding (see binarized.py)
    md5: str | None = None
    size: int | None = None  # bytes


FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            9912422,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
            28881,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
            1648877,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
            4542,
        ),
    ),
    "fashion-mnist": (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            26421880,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
            29515,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
            4422102,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
            5148,
        ),
    ),
    # Larochelle's text files; no published checksum, so binarized.py checks the decoded pixels.
    "binarized-mnist": tuple(
        RemoteFile(f"binarized_mnist_{split}.amat", None) for split in ("train", "valid", "test")
    ),
}

MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    "binarized-mnist": [
        "http://www.cs.toronto.edu/~larochelle/public_datasets/binarized_mnist/",
    ],
}


def hash_file(path: Path) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def check_file(path: Path, spec: RemoteFile) -> None:
    """Raise :class:`ChecksumError` unless ``path`` matches the size and checksums of ``spec``."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise ChecksumError(f"{path}: {size} bytes, expected {spec.size} (truncated or corrupt)")
    sha, md5 = hash_file(path)
    if spec.sha256 is not None and sha != spec.sha256:
        raise ChecksumError(f"{path}: sha256 {sha}, expected {spec.sha256} (corrupt)")
    if spec.md5 is not None and md5 != spec.md5:
        raise ChecksumError(f"{path}: md5 {md5}, expected {spec.md5} (corrupt)")


def describe_files(dataset: str, folder: Path, files: Sequence[RemoteFile]) -> str:
    """The one-line instruction 'put these files in this folder', for error messages."""
    listed = ", ".join(f.name + (f" (sha256 {f.sha256})" if f.sha256 else "") for f in files)
    mirrors = " or ".join(MIRRORS.get(dataset, [])) or "the dataset's home page"
    return (
        f"put {listed} from {mirrors} into {folder}{os.sep} (or set VAEKIT_DATA_DIR / --data-dir "
        f"to a folder whose {dataset}{os.sep} holds them)"
    )


def _fetch_url(url: str, tmp: Path) -> None:
    """Stream ``url`` into ``tmp`` with per-read TIMEOUT_S and a whole-file DEADLINE_S."""
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            if time.monotonic() - start > DEADLINE_S:
                raise TimeoutError(f"took longer than {DEADLINE_S:g} s")
        expected = response.headers.get("Content-Length")
    if expected is not None and tmp.stat().st_size != int(expected):
        raise ChecksumError(f"truncated: {tmp.stat().st_size} of {expected} bytes")


def download(
    dataset: str,
    spec: RemoteFile,
    dest: Path,
    check: Callable[[Path], None] | None = None,
) -> None:
    """Fetch ``spec`` from the mirrors of ``dataset`` into ``dest``, verified and atomically.

    ``check(tmp_path)`` verifies a downloaded file (default: :func:`check_file`) and raises
    :class:`ChecksumError` on a mismatch, which moves on to the next mirror. When every mirror
    fails: :class:`ChecksumError` if each one served a bad file, else :class:`DataNotFoundError`
    saying which files to put where.
    """
    check = check or (lambda path: check_file(path, spec))
    failures: list[str] = []
    checksum_only = True
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataNotFoundError(
            f"{dataset}: cannot create {dest.parent} to download into ({err.strerror}); "
            + describe_files(dataset, dest.parent, FILES.get(dataset, (spec,)))
        ) from None
    for base in MIRRORS.get(dataset, []):
        url = base.rstrip("/") + "/" + spec.name
        try:
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{spec.name}.", suffix=".part")
        except OSError as err:
            raise DataNotFoundError(
                f"{dataset}: cannot write to {dest.parent} ({err.strerror}); "
                + describe_files(dataset, dest.parent, FILES.get(dataset, (spec,)))
            ) from None
        os.close(fd)
        tmp = Path(name)
        try:
            _fetch_url(url, tmp)
            check(tmp)
            os.replace(tmp, dest)
            return
        except ChecksumError as err:
            failures.append(f"{url}: {err}")
        except (OSError, http.client.HTTPException, ValueError) as err:
            checksum_only = False
            failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
        finally:
            tmp.unlink(missing_ok=True)
    tried = "; ".join(failures) or "no mirror known"
    message = f"{dataset}: could not download {spec.name} ({tried})"
    if failures and checksum_only:
        raise ChecksumError(message)
    raise DataNotFoundError(
        message + "; " + describe_files(dataset, dest.parent, FILES.get(dataset, (spec,)))
    )


def ensure_files(dataset: str, folder: Path, allow_download: bool = True) -> dict[str, Path]:
    """Make sure every checksummed file of ``dataset`` is present and intact in ``folder``.

    Good files are left untouched (``folder`` may be read-only); missing or corrupt ones are
    downloaded when ``allow_download``, else :class:`DataNotFoundError` / :class:`ChecksumError`.
    Returns ``{file name: path}``.
    """
    paths: dict[str, Path] = {}
    for spec in FILES[dataset]:
        path = folder / spec.name
        if path.is_file():
            try:
                check_file(path, spec)
            except ChecksumError as err:
                if not allow_download:
                    raise ChecksumError(
                        f"{err}; delete it to download it again, or replace it with the "
                        f"original file (download is off)"
                    ) from None
                download(dataset, spec, path)
        elif allow_download:
            download(dataset, spec, path)
        else:
            raise DataNotFoundError(
                f"{dataset}: {path} is missing and download is off; "
                + describe_files(dataset, folder, FILES[dataset])
            )
        paths[spec.name] = path
    return paths
