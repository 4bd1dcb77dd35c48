"""``vaekit impute`` and ``vaekit inpaint``: fill missing entries and damaged image regions with
:meth:`vaekit.model.vae.VAE.impute` (importance sampling, Mattei & Frellsen 2019).

Both only assemble: read the file, mark the missing entries as NaN, call the model, write the
result with every observed value exactly as it was read.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # numpy and torch load only when a command runs: --help stays fast
    import numpy as np

from vaekit.cli.parsers import at_least  # noqa: E402

RUN_HELP = "run folder written by vaekit train"
TABLE_SUFFIXES = (".csv", ".tsv", ".tab")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=at_least(1), default=1000, help="importance samples (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors (default: off)")
    p.add_argument("--debug", action="store_true", help="full traceback on errors (default: off)")


def add_parsers(subparsers: Any) -> None:
    """Register ``impute`` and ``inpaint`` on the ``vaekit`` subparsers."""

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(
            name, help=help_text, description=textwrap.fill(description, 98), allow_abbrev=False
        )

    p = command(
        "impute",
        "fill the missing entries (NaN, empty CSV cells) of a table or array",
        "Fill the missing entries of --data with the importance-sampling estimate of "
        "E[x_miss | x_obs] (or --draws M multiple imputations); observed entries, the row order "
        "and the column names are kept exactly. A header's columns are matched to the run's by "
        "name; a conditional model reads the labels by their class names.",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--data", required=True, metavar="FILE", help=".csv, .tsv or .npy")
    p.add_argument("--out", required=True, metavar="FILE", help="completed .csv or .npy")
    p.add_argument(
        "--label-column",
        help="CSV: name or index of a label column, kept as is (default: the run's; none: no "
        "label column)",
    )
    p.add_argument(
        "--draws",
        type=at_least(0),
        default=0,
        help="M > 0: M multiple imputations (sampling importance resampling), an extra leading "
        "axis in .npy, an 'imputation' column in .csv (default: 0, the single imputation)",
    )
    _common(p)

    p = command(
        "inpaint",
        "restore damaged image regions (a mask image, a box or NaN pixels)",
        "Fill the damaged pixels of the images in --data (a folder of images, an image, or "
        ".npy) from the model: those under --mask (non-zero pixels), inside --box, or NaN. "
        "Writes OUT/restored_NNNN.png and OUT/before_after.png.",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--data", required=True, metavar="IMAGES", help="folder, image or .npy")
    p.add_argument("--mask", metavar="MASK", help="image or .npy: non-zero marks damage")
    p.add_argument("--box", metavar="X,Y,W,H", help="a damaged rectangle, in pixels")
    p.add_argument("--out", required=True, metavar="FOLDER", help="where to write the PNGs")
    _common(p)


def run(args: argparse.Namespace) -> int:
    """Run ``impute`` or ``inpaint``."""
    return impute(args) if args.command == "impute" else inpaint(args)


def impute(args: argparse.Namespace) -> int:
    """Fill the missing entries of a table or array and write it, observed values untouched."""
    import numpy as np

    from vaekit.cli.commands import load_run
    from vaekit.cli.console import UsageError, output_path

    path, out = Path(args.data), output_path(args.out, (".csv", ".npy"))
    _, model, saved = load_run(args)
    label_column = args.label_column  # default: the run's, for a table; "none": none
    if label_column is None and path.suffix.lower() in TABLE_SUFFIXES:
        label_column = saved["data"].label_column
    elif label_column is not None and label_column.strip().lower() == "none":
        label_column = None
    table = read_table(path, label_column, saved)
    if model.y_dim and table.y is None:
        raise UsageError("this model is conditional: name the label column with --label-column")
    x = table.x if table.order is None else table.x[:, table.order]  # the model's column order
    y = table.y if model.y_dim else None
    filled = model.impute(x, draws=args.draws, k=args.k, y=y, seed=args.seed)
    values = filled.reshape(*filled.shape[: 2 if args.draws else 1], -1).cpu().numpy()
    if table.order is not None:
        values = values[..., np.argsort(table.order)]  # back to the file's column order
    write_table(table, values, out, args.draws)
    n_missing = int(np.isnan(table.x).sum())
    what = f"{args.draws} imputations" if args.draws else "the completed data"
    if not args.quiet:
        print(f"filled {n_missing} missing entries in {len(table.x)} rows; wrote {what} to {out}")
    return 0


class Table(NamedTuple):
    """A file's examples ``x`` (N, D) float64 with NaN where missing, in the file's column
    order, and labels ``y`` (N,) coded as the model's classes, or None. CSV: the parsed ``rows``
    (header first, if any), the feature ``columns``' indices, the ``order`` in which the model
    reads x's columns (None: as they are) and the file's ``newline``. .npy: the array as stored
    (``original``) and the ``event`` shape of x's rows as the model reads them."""

    x: np.ndarray
    y: np.ndarray | None
    rows: list[list[str]] | None
    columns: list[int]
    original: np.ndarray | None = None
    event: tuple[int, ...] = ()
    order: list[int] | None = None
    newline: str = "\n"


def read_table(path: Path, label_column: str | None, saved: dict[str, Any]) -> Table:
    """Read ``path`` with missing values allowed (the data readers' own rules), its columns and
    labels matched to the run's (``saved``: :func:`vaekit.api.read_config`)."""
    from vaekit.data.files import read_arrays
    from vaekit.data.npy import read_npy
    from vaekit.errors import DataError, DataNotFoundError

    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _read_csv_table(path, label_column, saved)
    if suffix != ".npy":
        raise DataError(f"{path}: impute reads .csv, .tsv or .npy, not {suffix!r}")
    if label_column is not None:
        raise DataError("--label-column applies to CSV files only")
    source = read_arrays(path, missing=True)  # the readers' checks
    x = source.x.reshape(len(source.x), -1) / source.value_scale  # (N, D) float64
    columns, event = list(range(x.shape[1])), tuple(source.x.shape[1:])
    return Table(x, None, None, columns, original=read_npy(path), event=event)


def _read_csv_table(path: Path, label_column: str | None, saved: dict[str, Any]) -> Table:
    """A CSV file's Table: its columns in the run's order, its labels as the run's codes."""
    from vaekit import api
    from vaekit.data.splits import column_order, recode_labels
    from vaekit.data.tables import read_cells, to_source

    cells = read_cells(path, label_column)
    source = to_source(cells, path, missing=True)
    order = column_order(str(path), source.columns, api.dataset_names(saved, "columns"))
    y = source.y
    if y is not None and saved["model"].conditional:  # the run's class codes, not the file's
        y = recode_labels(y, source.classes, api.dataset_names(saved, "classes"), str(path))
    rows = ([cells.header] if cells.header else []) + [r for _, r in cells.rows]
    return Table(source.x, y, rows, cells.columns, order=order, newline=cells.newline)


def write_table(table: Table, values: np.ndarray, out: Path, draws: int) -> None:
    """Write the completed ``values`` (N, D) or (M, N, D): only missing entries take new values;
    observed ones are written as they were read (a CSV's cells verbatim, an array's values as
    stored)."""
    import numpy as np

    from vaekit.cli.console import write_array
    from vaekit.errors import DataError
    from vaekit.runs import write_text

    stack = values if draws else values[None]  # (M, N, D)
    base = table.x if table.original is None else table.original  # (N, ...) as read
    if table.original is not None:
        stack = _as_stored(table, stack)  # (M, N, ...)
    missing = np.isnan(base) if base.dtype.kind == "f" else np.zeros(base.shape, dtype=bool)
    full = np.where(missing, stack.astype(base.dtype), base)  # (M, N, ...)
    if not np.isfinite(full[:, missing]).all():
        raise DataError(f"{out}: the filled values do not fit in the data's type ({base.dtype})")
    if out.suffix.lower() == ".npy":
        write_array(full if draws else full[0], out)
        return
    n, m = len(base), len(full)
    if table.rows is not None:
        header = table.rows[0] if len(table.rows) == n + 1 else None
        rows = table.rows[1:] if header else table.rows
    else:  # an array's values as stored (a bool array as 0/1)
        flat = base.reshape(n, -1)  # (N, D)
        flat = flat.astype(np.uint8) if flat.dtype == bool else flat
        header, rows = None, [[str(v) for v in r] for r in flat]
    flat_missing, flat_full = missing.reshape(n, -1), full.reshape(m, n, -1)  # (N, D), (M, N, D)
    write_text(
        out, _csv_text(header, rows, table.columns, flat_missing, flat_full, draws, table.newline)
    )


def _as_stored(table: Table, stack: np.ndarray) -> np.ndarray:
    """Values (M, N, D) in the model's layout -> (M, *stored shape): (N, H, W, C) arrays were
    read channels-first."""
    assert table.original is not None
    fill = stack.reshape(len(stack), len(table.x), *table.event)  # (M, N, *event)
    if table.original.ndim == 4 and table.original.shape[1:] != table.event:
        fill = fill.transpose(0, 1, 3, 4, 2)  # (M, N, C, H, W) -> (M, N, H, W, C)
    return fill.reshape(len(stack), *table.original.shape)


def _csv_text(
    header: list[str] | None,
    rows: list[list[str]],
    columns: list[int],
    missing: np.ndarray,
    full: np.ndarray,
    draws: int,
    newline: str,
) -> str:
    """CSV text of ``rows`` with their ``missing`` (N, D) feature cells (``columns``) filled from
    each of ``full`` (M, N, D), lines ending in ``newline``; ``draws``: an ``imputation``
    column first."""
    import numpy as np

    text = io.StringIO()
    writer = csv.writer(text, lineterminator=newline)
    if header or draws:
        names = header or [f"v{j}" for j in range(len(rows[0]))]
        writer.writerow((["imputation"] if draws else []) + list(names))
    for m, filled in enumerate(full):
        for i, cells in enumerate(rows):
            cells = list(cells)
            for d, j in enumerate(columns):
                if missing[i, d]:
                    cells[j] = str(np.float32(filled[i, d]))
            writer.writerow(([str(m + 1)] if draws else []) + cells)
    return text.getvalue()


def inpaint(args: argparse.Namespace) -> int:
    """Restore the damaged pixels of images; write each restored image and a before/after grid."""
    import numpy as np
    import torch
    from PIL import Image

    from vaekit.cli.commands import load_run
    from vaekit.cli.console import UsageError, writable_folder
    from vaekit.runs import atomic_write
    from vaekit.viz import plots

    out = writable_folder(Path(args.out))
    _, model, _ = load_run(args)
    x = read_images(Path(args.data), model.shape)  # (N, C, H, W), NaN where damaged
    if model.kind == "real":  # images of other units: [0, 1] PNGs would clip them
        raise UsageError(
            "inpaint restores images of values in [0, 1]; this model's data are real-valued: "
            "use vaekit impute on an array with NaN where pixels are missing"
        )
    damaged = damage_mask(x.shape, args.mask, args.box) | np.isnan(x)
    if not damaged.any():
        raise UsageError("nothing to restore: give --mask or --box, or images with NaN pixels")
    x_damaged = torch.tensor(np.where(damaged, np.nan, x), dtype=torch.float32)
    restored = model.impute(x_damaged.reshape(len(x), *model.shape), k=args.k, seed=args.seed)
    restored = restored.cpu().reshape(x.shape)  # (N, C, H, W)
    pixels = (plots.to_pixels(restored, (0.0, 1.0)) * 255).round().astype(np.uint8)
    for i, image in enumerate(pixels):  # (H, W) or (H, W, 3), the images' own size
        png = Image.fromarray(image)
        atomic_write(out / f"restored_{i:04d}.png", functools.partial(png.save, format="PNG"))
    before = torch.nan_to_num(x_damaged, nan=0.5)  # damage shown grey
    n, n_pixels = len(x), int(damaged.any(axis=1).sum())  # a pixel: all its channels
    plots.save_mosaic(torch.cat([before, restored]), out / "before_after.png", n, (0.0, 1.0))
    print(
        f"restored {n_pixels} pixels in {n} images; wrote {out}/restored_*.png and "
        f"{out}/before_after.png (top: damaged, bottom: restored)"
    )
    return 0


def read_images(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Images in [0, 1] (N, C, H, W) float64 from a folder, one image file, or .npy/.npz (flat
    (N, C*H*W) rows too), for a model of images of ``shape`` (C, H, W) or (H, W)."""
    import math

    import numpy as np

    from vaekit.cli.console import UsageError
    from vaekit.data.files import read_arrays
    from vaekit.data.images import IMAGE_SUFFIXES, read_image, read_image_folder
    from vaekit.data.splits import Source
    from vaekit.errors import DataError, DataNotFoundError

    if len(shape) not in (2, 3):
        raise UsageError(
            f"inpaint needs a model of images; this run's examples are vectors of shape "
            f"{shape}: fill their missing values with vaekit impute"
        )
    image_shape = shape if len(shape) == 3 else (1, *shape)  # (C, H, W)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        source = read_image_folder(path)  # the data package's reader, for one image too
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(path)  # (H, W) or (H, W, 3) uint8
        x = image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]
        source = Source(path.name, x, value_scale=255.0)
    elif path.suffix.lower() in (".npy", ".npz"):
        source = read_arrays(path, missing=True)
    else:
        raise DataError(f"{path}: inpaint reads a folder of images, an image, .npy or .npz")
    x = source.x.astype(np.float64) / source.value_scale  # (N, ...)
    if math.prod(x.shape[1:]) != math.prod(image_shape):
        raise DataError(
            f"{path}: its images have shape {x.shape[1:]}, but the model's are {image_shape} "
            f"(or flat rows of {math.prod(image_shape)} values)"
        )
    return x.reshape(len(x), *image_shape)


def damage_mask(shape: tuple[int, ...], mask: str | None, box: str | None) -> np.ndarray:
    """Boolean (N, C, H, W): True where ``mask`` (an image or .npy, non-zero = damaged, (H, W) for
    all images or (N, H, W)) or the ``box`` "x,y,w,h" marks damage."""
    import numpy as np

    from vaekit.cli.console import UsageError
    from vaekit.data.npy import read_npy

    n, c, h, w = shape
    out = np.zeros(shape, dtype=bool)
    if mask is not None:
        path = Path(mask)
        m = (read_npy(path) != 0) if path.suffix.lower() == ".npy" else read_mask(path)
        if m.shape[-2:] != (h, w) or m.ndim not in (2, 3) or (m.ndim == 3 and len(m) != n):
            raise UsageError(f"--mask has shape {m.shape}; expected ({h}, {w}) or ({n}, {h}, {w})")
        out |= (m[None, None] if m.ndim == 2 else m[:, None]).astype(bool)
    if box is not None:
        try:
            bx, by, bw, bh = (int(v) for v in box.split(","))
        except ValueError:
            raise UsageError(f"--box must be X,Y,W,H in pixels, got {box!r}") from None
        if bw < 1 or bh < 1 or not (0 <= bx < w and 0 <= by < h):
            raise UsageError(f"--box {box} lies outside the {w}x{h} images or is empty")
        out[:, :, by : by + bh, bx : bx + bw] = True
    return out


def read_mask(path: Path) -> np.ndarray:
    """A mask image as bool (H, W): True where a pixel is not zero (in any colour channel; 16-bit
    values as they are, so a mask of 1s counts)."""
    import numpy as np

    from vaekit.data.images import checked_image
    from vaekit.data.regular import open_regular
    from vaekit.errors import DataError, DataNotFoundError

    try:
        with open_regular(path) as f, checked_image(f, str(path)) as im:
            if im.mode in ("P", "PA"):
                im = im.convert("RGBA")
            m = np.asarray(im)
            channels = {"LA": 1, "La": 1, "RGBA": 3, "RGBa": 3}.get(im.mode)
    except DataNotFoundError:
        raise
    except OSError as err:
        raise DataError(f"{path}: cannot read the mask ({err.strerror or err})") from None
    m = m[..., :channels] if channels else m
    return (m != 0).any(-1) if m.ndim == 3 else m != 0
