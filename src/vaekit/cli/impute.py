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
        "and the column names are kept exactly.",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--data", required=True, metavar="FILE", help=".csv, .tsv or .npy")
    p.add_argument("--out", required=True, metavar="FILE", help="completed .csv or .npy")
    p.add_argument("--label-column", help="CSV: name or index of a label column (kept as is)")
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
    from vaekit.cli.console import output_path

    path, out = Path(args.data), output_path(args.out, (".csv", ".npy"))
    _, model, _ = load_run(args)
    table = read_table(path, args.label_column)
    filled = model.impute(
        table.x, draws=args.draws, k=args.k, y=table.y if model.y_dim else None, seed=args.seed
    )
    values = filled.reshape(*filled.shape[: 2 if args.draws else 1], -1).cpu().numpy()
    write_table(table, values, out, args.draws)
    n_missing = int(np.isnan(table.x).sum())
    what = f"{args.draws} imputations" if args.draws else "the completed data"
    if not args.quiet:
        print(f"filled {n_missing} missing entries in {len(table.x)} rows; wrote {what} to {out}")
    return 0


class Table(NamedTuple):
    """A file's examples ``x`` (N, D) float64 with NaN where missing and labels ``y`` (N,) or
    None; for CSV the parsed cells (header first, if any) and the feature columns' indices, for
    .npy the array as stored."""

    x: np.ndarray
    y: np.ndarray | None
    rows: list[list[str]] | None
    columns: list[int]
    original: np.ndarray | None = None


def read_table(path: Path, label_column: str | None) -> Table:
    """Read ``path`` with missing values allowed (the data readers' own rules)."""
    import numpy as np

    from vaekit.data.files import read_arrays
    from vaekit.data.tables import read_csv
    from vaekit.errors import DataError, DataNotFoundError

    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        source = read_csv(path, label_column, missing=True)
        delimiter = "\t" if suffix in (".tsv", ".tab") else ","
        text = path.read_text(encoding="utf-8-sig")
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        rows = [r for r in reader if any(c.strip() for c in r)]
        label = None if source.y is None else _label_index(rows, len(source.x), label_column)
        columns = [j for j in range(len(rows[0])) if j != label]
        return Table(source.x.reshape(len(source.x), -1), source.y, rows, columns)
    if suffix != ".npy":
        raise DataError(f"{path}: impute reads .csv, .tsv or .npy, not {suffix!r}")
    if label_column is not None:
        raise DataError("--label-column applies to CSV files only")
    source = read_arrays(path, missing=True)  # the readers' checks
    x = source.x.astype(np.float64) / source.value_scale
    return Table(x.reshape(len(x), -1), None, None, list(range(x[0].size)), np.load(path))


def _label_index(rows: list[list[str]], n: int, label_column: str | None) -> int:
    """The label column's index, as :func:`vaekit.data.tables.read_csv` resolved it."""
    header = rows[0] if len(rows) == n + 1 else None
    names = [h.strip() for h in header] if header else []
    label = str(label_column).strip()
    return names.index(label) if label in names else int(label) % len(rows[0])


def write_table(table: Table, values: np.ndarray, out: Path, draws: int) -> None:
    """Write the completed ``values`` (N, D) or (M, N, D): only missing entries take new values."""
    import numpy as np

    from vaekit.cli.console import write_array
    from vaekit.runs import write_text

    stack = values if draws else values[None]  # (M, N, D)
    missing = np.isnan(table.x)  # (N, D)
    if out.suffix.lower() == ".npy":
        base = table.x if table.original is None else table.original  # as stored
        fill = stack.reshape(len(stack), *base.shape).astype(base.dtype)  # (M, *stored shape)
        full = np.where(np.isnan(base), fill, base)
        write_array(full if draws else full[0], out)
        return
    rows = table.rows or [[repr(float(v)) for v in r] for r in table.x]
    header = rows[0] if table.rows and len(rows) == len(table.x) + 1 else None
    body = rows[1:] if header else rows
    text = io.StringIO()
    writer = csv.writer(text)
    if header or draws:
        names = header or [f"v{j}" for j in range(len(body[0]))]
        writer.writerow((["imputation"] if draws else []) + list(names))
    for m, filled in enumerate(stack):
        for i, cells in enumerate(body):
            cells = list(cells)
            for d, j in enumerate(table.columns):
                if missing[i, d]:
                    cells[j] = str(np.float32(filled[i, d]))
            writer.writerow(([str(m + 1)] if draws else []) + cells)
    write_text(out, text.getvalue())


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
    x = read_images(Path(args.data))  # (N, C, H, W), NaN where damaged
    damaged = damage_mask(x.shape, args.mask, args.box) | np.isnan(x)
    if not damaged.any():
        raise UsageError("nothing to restore: give --mask or --box, or images with NaN pixels")
    x_damaged = torch.tensor(np.where(damaged, np.nan, x), dtype=torch.float32)
    restored = model.impute(x_damaged, k=args.k, seed=args.seed).cpu()  # (N, C, H, W)
    pixels = (plots.to_pixels(restored, (0.0, 1.0)) * 255).round().astype(np.uint8)
    for i, image in enumerate(pixels):  # (H, W) or (H, W, 3), the images' own size
        png = Image.fromarray(image)
        atomic_write(out / f"restored_{i:04d}.png", functools.partial(png.save, format="PNG"))
    before = torch.nan_to_num(x_damaged, nan=0.5)  # damage shown grey
    n = len(x)
    plots.save_mosaic(torch.cat([before, restored]), out / "before_after.png", n, (0.0, 1.0))
    print(
        f"restored {int(damaged.sum())} pixels in {n} images; wrote {out}/restored_*.png and "
        f"{out}/before_after.png (top: damaged, bottom: restored)"
    )
    return 0


def read_images(path: Path) -> np.ndarray:
    """Images in [0, 1] (N, C, H, W) float64 from a folder, one image file, or .npy/.npz."""
    import numpy as np

    from vaekit.data.files import read_arrays
    from vaekit.data.images import IMAGE_SUFFIXES, read_image_folder
    from vaekit.errors import DataError, DataNotFoundError

    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        source = read_image_folder(path)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(path)
        x = image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]
        return x.astype(np.float64) / 255.0
    elif path.suffix.lower() in (".npy", ".npz"):
        source = read_arrays(path, missing=True)
    else:
        raise DataError(f"{path}: inpaint reads a folder of images, an image, .npy or .npz")
    x = source.x.astype(np.float64) / source.value_scale
    return x if x.ndim == 4 else x.reshape(len(x), 1, *x.shape[1:])


def damage_mask(shape: tuple[int, ...], mask: str | None, box: str | None) -> np.ndarray:
    """Boolean (N, C, H, W): True where ``mask`` (an image or .npy, non-zero = damaged, (H, W) for
    all images or (N, H, W)) or the ``box`` "x,y,w,h" marks damage."""
    import numpy as np

    from vaekit.cli.console import UsageError

    n, c, h, w = shape
    out = np.zeros(shape, dtype=bool)
    if mask is not None:
        path = Path(mask)
        m = (np.load(path) if path.suffix.lower() == ".npy" else read_image(path)) != 0
        m = m.any(-1) if m.shape == (h, w, 3) else m  # a colour mask image
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


def read_image(path: Path) -> np.ndarray:
    """One image file as uint8 (H, W) grey, or (H, W, 3) colour."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from vaekit.errors import DataError

    try:
        with Image.open(path) as im:
            grey = im.mode in ("1", "L", "LA", "I", "I;16", "F")
            return np.asarray(im.convert("L" if grey else "RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from None
