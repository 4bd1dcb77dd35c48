"""A folder of images (PNG, JPEG, BMP, GIF, TIFF, WebP) as ``(C, H, W)`` values in [0, 1].

Rules:

- files are read in sorted path order; hidden files and folders (``.name``) are skipped, and any
  other non-image file is an error;
- labels come from class subfolders, ``folder/<class>/.../img.png``, named in sorted order;
  images either all sit in class subfolders or all at the top level;
- grey images give C=1; colour images C=3 (alpha is dropped). If any image is colour, all are
  read as RGB (a grey image becomes three equal channels), so nothing is lost;
- 16-bit grey images are reduced to 8 bits; values are pixel / 255;
- every image must have the size of the first one unless ``image_size`` ("HxW") is given, in
  which case each is resized (bilinear) to it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vaekit.data.config import parse_image_size
from vaekit.data.splits import Source
from vaekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def list_images(folder: Path) -> tuple[list[Path], list[str] | None]:
    """Sorted image paths under ``folder`` and their class names (None without subfolders)."""
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files.extend(Path(root, name) for name in names if not name.startswith("."))
    files.sort()
    if not files:
        raise DataError(f"{folder}: empty folder, no images found")
    for p in files:
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"{p}: not an image (expected {', '.join(IMAGE_SUFFIXES)}); move it out of {folder}"
            )
    depth = {len(p.relative_to(folder).parts) > 1 for p in files}
    if depth == {True, False}:
        top = next(p for p in files if len(p.relative_to(folder).parts) == 1)
        raise DataError(
            f"{top}: images are both at the top of {folder} and in class subfolders; put every "
            f"image in a class subfolder, or all at the top level"
        )
    labels = [p.relative_to(folder).parts[0] for p in files] if depth == {True} else None
    return files, labels


def _decode(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 ``(H, W)`` (grey) or ``(H, W, 3)`` (colour)."""
    try:
        with Image.open(path) as im:
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            if im.mode.startswith("I"):  # 16-bit grey -> 8 bits
                return (np.clip(np.asarray(im, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
            if im.mode in ("P", "PA"):  # palette: via RGBA, which also keeps Pillow quiet
                im = im.convert("RGBA")
            if im.mode in _GREY_MODES:
                return np.asarray(im if im.mode == "L" else im.convert("L"))
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from None


def read_image_folder(folder: Path, image_size: str | None = None) -> Source:
    """Read every image under ``folder``: x ``(N, C, H, W)`` uint8 (value_scale 255), labels."""
    files, labels = list_images(folder)
    size = parse_image_size(image_size) if image_size else None
    images = [_decode(path, size) for path in files]  # threads measured slower (the GIL)
    first = images[0].shape[:2]
    for path, image in zip(files, images, strict=True):
        if image.shape[:2] != first:
            raise DataError(
                f"{path}: size {image.shape[0]}x{image.shape[1]} differs from the first image "
                f"{files[0].name} ({first[0]}x{first[1]}); set image_size (e.g. "
                f"'{first[0]}x{first[1]}') to resize them all"
            )
    if any(image.ndim == 3 for image in images):  # colour wins: grey -> 3 equal channels
        x = np.stack(
            [im if im.ndim == 3 else np.repeat(im[..., None], 3, axis=2) for im in images]
        ).transpose(0, 3, 1, 2)  # (N, 3, H, W)
    else:
        x = np.stack(images)[:, None]  # (N, 1, H, W)
    y = classes = None
    if labels is not None:
        names, codes = np.unique(np.array(labels), return_inverse=True)
        y, classes = codes.astype(np.int64), tuple(str(n) for n in names)
    return Source(folder.name, x, y, value_scale=255.0, kind=None, classes=classes)
