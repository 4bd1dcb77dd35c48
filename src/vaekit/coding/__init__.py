"""Lossless compression with a trained model: bits-back ANS into .vkz files."""

from vaekit.coding.codec import Report, compress, compress_to, decompress, decompress_chunks
from vaekit.coding.container import CorruptFileError, ModelMismatchError, read_header

__all__ = [
    "CorruptFileError",
    "ModelMismatchError",
    "Report",
    "compress",
    "compress_to",
    "decompress",
    "decompress_chunks",
    "read_header",
]
