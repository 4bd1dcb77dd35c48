"""A folder of images (PNG, JPEG, BMP, GIF, TIFF, WebP) as ``(C, H, W)`` values in [0, 1].

Rules:

- files are read in sorted path order; hidden files and folders (``.name``) are skipped, and any
  other non-image file is an error;
- only regular files are read (a FIFO or device named like an image is an error, it never
  blocks); symbolic links to files and folders are followed, a broken one or a loop is an error;
- the content must be one of Pillow's PNG, JPEG, BMP, GIF, TIFF or WebP decoders, whatever the
  name says (an EPS file named ``.png`` is refused, never handed to Ghostscript), and at most
  ``MAX_PIXELS`` = 2^26 pixels by its header, checked before decoding (decompression bombs);
  any warning Pillow gives while decoding is part of the error, which names the file;
- labels come from class subfolders, ``folder/<class>/.../img.png``, named in sorted order;
  images either all sit in class subfolders or all at the top level;
- grey images give C=1; colour images C=3 (alpha is dropped). If any image is colour, all are
  read as RGB (a grey image becomes three equal channels), so nothing is lost;
- 16-bit grey images are reduced to 8 bits; values are pixel / 255;
- every image must have the size of the first one unless ``image_size`` ("HxW") is given, in
  which case each is resized (bilinear) to it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vaekit.data.config import parse_image_size
from vaekit.data.regular import open_regular
from vaekit.data.splits import Source
from vaekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")  # Pillow's decoders; never EPS or PS
MAX_PIXELS = 2**26  # per image (8192 x 8192), checked from the header before decoding
_WARNINGS = threading.Lock()  # catch_warnings swaps process-wide state: one decoder at a time
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def list_images(folder: Path) -> tuple[list[Path], list[str] | None]:
    """Sorted image paths under ``folder`` and their class names (None without subfolders).

    Symbolic links are followed (a linked class folder is a class); a link that is broken or
    leads back into a folder already walked is an error.
    """
    files: list[Path] = []
    seen = {os.path.realpath(folder)}

    def refuse_walk_error(err: OSError) -> None:
        raise DataError(f"{err.filename}: cannot be listed ({err.strerror or err})")

    for root, dirs, names in os.walk(folder, onerror=refuse_walk_error, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:
            real = os.path.realpath(os.path.join(root, d))
            if real in seen:
                raise DataError(f"{Path(root, d)}: a link back to a folder already read ({real})")
            seen.add(real)
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


@contextlib.contextmanager
def checked_image(
    fp: IO[bytes], where: str, formats: tuple[str, ...] = FORMATS
) -> Iterator[Image.Image]:
    """Open an image with one of Pillow's ``formats`` and at most :data:`MAX_PIXELS` pixels.

    Everything that goes wrong while the caller decodes it inside the ``with`` block, Pillow's
    warnings included, becomes one :class:`DataError` naming ``where``.
    """
    with _WARNINGS, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(fp, formats=list(formats)) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise DataError(
                        f"{where}: the image claims {w}x{h} pixels, over vaekit's limit of "
                        f"{MAX_PIXELS} (2^26) per image (a decompression bomb?)"
                    )
                yield im
        except DataError:
            raise
        except Image.DecompressionBombError as err:
            raise DataError(
                f"{where}: a decompression bomb? ({_one_line(err)}); vaekit reads images of at "
                f"most {MAX_PIXELS} (2^26) pixels"
            ) from None
        except UnidentifiedImageError:
            allowed = ", ".join(formats)
            raise DataError(
                f"{where}: not a readable image: the content is none of {allowed}"
            ) from None
        except Exception as err:  # Pillow's decoders raise many types on damaged files
            said = "; ".join(f"{c.category.__name__}: {_one_line(c.message)}" for c in caught)
            why = f"{type(err).__name__}: {_one_line(err)}" + (f"; {said}" if said else "")
            allowed = ", ".join(formats)
            raise DataError(f"{where}: not a readable image of {allowed} ({why})") from None
    if caught:
        warning = caught[0]
        raise DataError(f"{where}: {warning.category.__name__}: {_one_line(warning.message)}")


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _decode(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 ``(H, W)`` (grey) or ``(H, W, 3)`` (colour)."""
    with open_regular(path) as f, checked_image(f, str(path)) as im:
        return pixels(im, size, str(path))


def pixels(im: Image.Image, size: tuple[int, int] | None = None, where: str = "") -> np.ndarray:
    """An opened image as uint8 ``(H, W)`` (grey) or ``(H, W, 3)`` (colour), as a viewer shows
    it: EXIF orientation applied, then resized to ``size`` (H, W); 16-bit grey to 8 bits; a
    palette of grey entries (GIFs, optimised PNGs) grey; float images in [0, 1] or [0, 255]."""
    ImageOps.exif_transpose(im, in_place=True)  # no copy of an image without an orientation
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _wide(np.asarray(im), im.mode, where)
    if im.mode in ("P", "PA"):  # palette: via RGBA, which also keeps Pillow quiet
        rgb = np.asarray(im.convert("RGBA"))[..., :3]
        grey = (rgb[..., :1] == rgb).all()
        return np.ascontiguousarray(rgb[..., 0]) if grey else np.ascontiguousarray(rgb)
    if im.mode in _GREY_MODES:
        return np.asarray(im if im.mode == "L" else im.convert("L"))
    return np.asarray(im.convert("RGB"))


def _wide(a: np.ndarray, mode: str, where: str) -> np.ndarray:
    """A grey image of 16 or 32-bit integers or floats as 8 bits: 16-bit values >> 8; integers
    that fit 8 bits as they are; floats in [0, 1] (x 255) or [0, 255]; DataError otherwise."""
    a = a.astype(np.float64)
    top = float(a.max()) if a.size else 0.0
    if mode.startswith("I;16") or (mode == "I" and 255 < top <= 65535):
        return (np.clip(a, 0, 65535).astype(np.int64) >> 8).astype(np.uint8)
    if mode == "F" and np.isfinite(a).all() and a.min() >= 0 and top <= 1:
        return np.round(a * 255).astype(np.uint8)
    if np.isfinite(a).all() and a.min() >= 0 and top <= 255:
        return np.round(a).astype(np.uint8)
    kind = "floats" if mode == "F" else "32-bit integers"
    raise DataError(
        f"{where}: a grey image of {kind} with values in [{a.min():.6g}, {top:.6g}]; vaekit reads "
        "8 or 16-bit values, or floats in [0, 1] or [0, 255]: save it in one of those"
    )


def read_image(path: Path) -> np.ndarray:
    """One image file by the same rules as a folder's: uint8 ``(H, W)`` or ``(H, W, 3)``."""
    return _decode(path, None)


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
