"""Lossless compression with a trained model: :func:`compress` and :func:`decompress`.

Binary data under the Bernoulli likelihood, data on L levels (8-bit images, k / 255) under the
discretized logistic, or 8-bit grey data under the Gaussian likelihood, with the standard normal
or a Gaussian mixture prior (mixture, VampPrior) is coded with bits-back ANS
(:mod:`vaekit.coding.bbans`) into a .vkz file (:mod:`vaekit.coding.container`), chunk by chunk.
A conditional model's labels are coded too.
"""

from __future__ import annotations

import io
import math
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from vaekit.coding.bbans import Codec, check_model
from vaekit.coding.container import (
    VERSION,
    CorruptFileError,
    Header,
    ModelMismatchError,
    open_bytes,
    read_chunks,
    read_header,
    weights_sha256,
    write_chunk,
    write_end,
    write_header,
)
from vaekit.coding.pixels import make_pixels
from vaekit.errors import DataError
from vaekit.model.vae import VAE

CHUNK_SIZE = 1000  #: examples per ANS stack (each carries its own initial bits)


@dataclass(frozen=True)
class Report:
    """What a compression achieved. ``bits_per_dim`` counts the whole file, header included."""

    count: int  #: examples
    dims: int  #: values per example
    file_bytes: int  #: the whole file
    header_bytes: int  #: the header and end marker
    initial_bits: int  #: the bits-back initial bits over all chunks
    chunks: int  #: ANS stacks (each with its initial bits and 20 bytes of framing)
    seconds: float  #: wall time of the coding

    @property
    def bits_per_dim(self) -> float:
        return 8 * self.file_bytes / (self.count * self.dims)

    @property
    def overhead_bits_per_dim(self) -> float:
        """The initial bits, header and framing per value: what the file costs beyond the
        coded examples' own rate."""
        return self.bits_per_dim - self.payload_bits_per_dim

    @property
    def payload_bits_per_dim(self) -> float:
        """The stacks' bits less their initial bits, per value: the bits-back rate itself."""
        framing = 8 * (self.header_bytes + 20 * self.chunks) + self.initial_bits
        return (8 * self.file_bytes - framing) / (self.count * self.dims)


def _check(model: VAE, x: np.ndarray | Tensor, y: np.ndarray | Tensor | None) -> tuple:
    """(x's symbols (N, D) uint8, x as a NumPy array, labels (N,) int64 or None)."""
    check_model(model)
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    dims = math.prod(model.shape)
    if a.ndim < 1 or len(a) == 0:
        raise DataError("x is empty: no examples to compress")
    if math.prod(a.shape[1:]) != dims:
        raise DataError(f"x has shape {a.shape}; this model codes examples of {dims} values")
    labels = None
    if model.y_dim or y is not None:
        model.condition(y, len(a))  # DataError for a missing, misshapen or out-of-range y
        t = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        if not np.issubdtype(t.dtype, np.integer):
            raise DataError("compression codes integer labels y (N,), not condition vectors")
        labels = np.broadcast_to(t.reshape(-1), (len(a),)).astype(np.int64)
    return make_pixels(model, dims).symbols(a.reshape(len(a), dims)), a, labels


def _crc(x: np.ndarray, y: np.ndarray | None) -> int:
    crc = zlib.crc32(np.ascontiguousarray(x, dtype=np.uint8).tobytes())
    return crc if y is None else zlib.crc32(y.astype("<i8").tobytes(), crc)


def compress_to(
    model: VAE,
    x: np.ndarray | Tensor,
    f: BinaryIO,
    y: np.ndarray | Tensor | None = None,
    latent_bits: int = 10,
) -> Report:
    """Compress examples ``x`` (N, ...) (0/1 values for a Bernoulli likelihood, values k / (L - 1)
    on the L levels of a discretized logistic, 8-bit grey values k / 255 for a Gaussian one;
    labels ``y`` (N,) for a conditional model) into the file object ``f``; what it achieved."""
    flat, a, labels = _check(model, x, y)
    start = time.perf_counter()
    codec = Codec(model, latent_bits)
    header = Header(
        VERSION,
        weights_sha256(model),
        tuple(int(s) for s in a.shape[1:]),
        a.dtype.str,
        len(a),
        CHUNK_SIZE,
        latent_bits,
        labels is not None,
    )
    size = write_header(f, header)
    header_bytes, initial, chunks = size + 12, 0, 0
    for s in range(0, len(a), CHUNK_SIZE):
        xc, yc = flat[s : s + CHUNK_SIZE], None if labels is None else labels[s : s + CHUNK_SIZE]
        words, stats = codec.encode(xc, yc)
        size += write_chunk(f, len(xc), words, _crc(xc, yc))
        initial, chunks = initial + stats.initial_bits, chunks + 1
    size += write_end(f, len(a))
    seconds = time.perf_counter() - start
    return Report(len(a), flat.shape[1], size, header_bytes, initial, chunks, seconds)


def compress(
    model: VAE, x: np.ndarray | Tensor, y: np.ndarray | Tensor | None = None, latent_bits: int = 10
) -> bytes:
    """Losslessly compress examples ``x`` (N, ...) with bits-back ANS under ``model`` (Townsend
    et al. 2019): 0/1 values for a Bernoulli likelihood, values k / (L - 1) on the L levels of a
    discretized logistic (8-bit images: k / 255), 8-bit grey values k / 255 for a Gaussian one:
    about the model's negative ELBO in bits per example.
    A conditional model needs integer labels ``y`` (N,), which are coded too. Returns the .vkz
    bytes; :func:`decompress` with the same model restores ``x`` bit for bit (shape and dtype)."""
    f = io.BytesIO()
    compress_to(model, x, f, y, latent_bits)
    return f.getvalue()


def decompress_chunks(
    model: VAE, f: BinaryIO
) -> tuple[Header, Iterator[tuple[np.ndarray, np.ndarray | None]]]:
    """The header of the .vkz file ``f`` and an iterator over its decoded chunks: examples
    (n, *shape) in the original dtype and labels (n,) or None."""
    header = read_header(f)
    check_model(model)
    if header.model_sha256 != weights_sha256(model):
        raise ModelMismatchError(
            f"this .vkz file was compressed with another model (weights SHA-256 "
            f"{header.model_sha256[:12]}..., this model's {weights_sha256(model)[:12]}...)"
        )
    if math.prod(header.shape) != math.prod(model.shape) or header.count < 1:
        raise CorruptFileError("the .vkz header is corrupt (its shape does not fit the model)")
    codec = Codec(model, header.latent_bits)

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for n, words, crc in read_chunks(f, header):
            try:
                x, y = codec.decode(words, n)
            except DataError as e:  # the stack did not end at its initial bits
                raise CorruptFileError(str(e)) from e
            except (ValueError, RuntimeError) as e:  # constriction on a garbled stack
                raise CorruptFileError(
                    f"the .vkz file is corrupt: a chunk fails to decode ({e})"
                ) from e
            if _crc(x, y) != crc:
                raise CorruptFileError(
                    "a chunk decoded to data that fails its CRC-32: the file is corrupt, or this "
                    "machine computed the model's probabilities differently"
                )
            yield codec.pixels.restore(x, np.dtype(header.dtype)).reshape(n, *header.shape), y

    return header, chunks()


def decompress(
    model: VAE, data: bytes, *, return_labels: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """The examples (N, ...) that :func:`compress` coded into ``data``, bit for bit, with their
    shape and dtype; with ``return_labels`` also the labels (N,) (None if unconditional).
    :class:`CorruptFileError` for damaged data, :class:`ModelMismatchError` for another model."""
    with torch.no_grad():
        _, chunks = decompress_chunks(model, open_bytes(data))
        parts = list(chunks)
    x = np.concatenate([p[0] for p in parts])
    if not return_labels:
        return x
    return x, None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
