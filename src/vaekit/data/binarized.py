"""Statically binarized MNIST (Larochelle & Murray 2011): its official 50k/10k/10k split.

Upstream publishes three text files, ``binarized_mnist_{train,valid,test}.amat`` (one image per
line, 784 values 0/1), without checksums. vaekit keeps them as one bit-packed file,
``binarized_mnist_packbits.npz`` with uint8 arrays ``train`` (50000, 98), ``valid`` and ``test``
(10000, 98) from ``np.packbits(x, axis=1)``, and verifies the *decoded pixels* against known
SHA-256s, so the check does not depend on how the file was compressed. Lookup order in the
``binarized-mnist/`` folder: the .npz; else the three .amat files (converted to the .npz when the
folder is writable); else the .amat files are downloaded, verified, converted, and dropped.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.data.download import FILES, describe_files, download
from vaekit.data.npy import read_npz
from vaekit.errors import ChecksumError, DataError, DataNotFoundError

NPZ_NAME = "binarized_mnist_packbits.npz"
SPLITS = ("train", "valid", "test")
PIXELS = 784
#: sha256 of each split's unpacked (rows, 784) uint8 0/1 array in C order
SPLIT_SHA256 = {
    "train": "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a",
    "valid": "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e",
    "test": "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86",
}


def parse_amat(data: bytes, source: str) -> np.ndarray:
    """Decode an .amat text file of 0/1 values into a ``(rows, columns)`` uint8 array."""
    if b"." in data:  # values written as floats ("0.0"): the slow, general path
        try:
            rows = [
                np.array(line.split(), dtype=np.float64)
                for line in data.splitlines()
                if line.strip()
            ]
        except ValueError as err:
            raise DataError(f"{source}: not a text file of numbers ({err})") from None
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise DataError(f"{source}: rows have different lengths {sorted(lengths)}")
        x = np.stack(rows) if rows else np.zeros((0, 0))
        if not np.isin(x, (0.0, 1.0)).all():
            raise DataError(f"{source}: values other than 0 and 1")
        return x.astype(np.uint8)
    squeezed = data.translate(None, b" \t\r")
    lines = [line for line in squeezed.split(b"\n") if line]
    if not lines:
        raise DataError(f"{source}: no rows")
    lengths = {len(line) for line in lines}
    if len(lengths) > 1:
        first = next(i for i, line in enumerate(lines) if len(line) != len(lines[0]))
        raise DataError(
            f"{source}: row {first} has {len(lines[first])} values, row 0 has {len(lines[0])}"
        )
    x = np.frombuffer(b"".join(lines), dtype=np.uint8) - np.uint8(48)  # b"0" -> 0, b"1" -> 1
    if x.size and x.max() > 1:
        raise DataError(f"{source}: values other than 0 and 1")
    return x.reshape(len(lines), -1)


def check_split(x: np.ndarray, split: str, source: str) -> None:
    """Raise :class:`ChecksumError` unless ``x`` (rows, 784) uint8 is the known ``split``."""
    digest = hashlib.sha256(np.ascontiguousarray(x, dtype=np.uint8).tobytes()).hexdigest()
    if digest != SPLIT_SHA256[split]:
        raise ChecksumError(
            f"{source}: the {split} pixels have sha256 {digest}, expected {SPLIT_SHA256[split]} "
            f"(corrupt, truncated or a different binarization)"
        )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        stored = read_npz(path)  # headers checked before anything is allocated
        packed = {split: stored[split] for split in SPLITS}
    except (DataError, KeyError) as err:
        raise ChecksumError(f"{path}: unreadable or incomplete ({err})") from None
    arrays = {split: np.unpackbits(p, axis=1)[:, :PIXELS] for split, p in packed.items()}
    for split, x in arrays.items():
        check_split(x, split, str(path))
    return arrays


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the packed splits atomically; silently skip a read-only folder (it is a cache)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            packed: dict[str, Any] = {s: np.packbits(x, axis=1) for s, x in arrays.items()}
            np.savez_compressed(f, **packed)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_binarized_mnist(folder: Path, allow_download: bool = True) -> dict[str, np.ndarray]:
    """``{"train", "valid", "test"}`` -> ``(rows, 784)`` uint8 0/1 arrays, verified.

    Reads ``folder/binarized_mnist_packbits.npz`` (or the .amat files, or downloads them; see the
    module docstring). Raises :class:`ChecksumError` for a corrupt file that cannot be replaced and
    :class:`DataNotFoundError` when the files are missing and cannot be downloaded.
    """
    npz = folder / NPZ_NAME
    npz_error: ChecksumError | None = None
    if npz.is_file():
        try:
            return _read_npz(npz)
        except ChecksumError as err:
            npz_error = err
    specs = {spec.name: spec for spec in FILES["binarized-mnist"]}
    arrays: dict[str, np.ndarray] = {}
    downloaded: list[Path] = []
    for split in SPLITS:
        spec = specs[f"binarized_mnist_{split}.amat"]
        path = folder / spec.name

        def check(candidate: Path, split: str = split) -> None:
            arrays[split] = parse_amat(candidate.read_bytes(), str(candidate))
            check_split(arrays[split], split, str(candidate))

        if path.is_file():
            check(path)
            continue
        if not allow_download:
            if npz_error is not None:
                raise ChecksumError(f"{npz_error}; delete it to download it again") from None
            raise DataNotFoundError(
                f"binarized-mnist: {npz} is missing and download is off; "
                + describe_files("binarized-mnist", folder, FILES["binarized-mnist"])
            )
        download("binarized-mnist", spec, path, check=check)
        downloaded.append(path)
    _write_npz(npz, arrays)
    if npz.is_file():
        for path in downloaded:  # the verified .npz replaces them
            path.unlink(missing_ok=True)
    return arrays
