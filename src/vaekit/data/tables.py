"""CSV (and TSV) files of numbers: one example per row, an optional header and label column.

Rules:

- the delimiter is a tab for ``.tsv``/``.tab`` files, else a comma; blank lines are skipped;
- the first row is a header when one of its cells is not a number while the cell below it is
  (or when ``label_column`` is a name);
- ``label_column`` is a header name, else a 0-based column index (negative counts from the end);
  its values may be integers or strings (strings become 0..K-1 in sorted order, names kept);
- every other cell must be a finite number within float32's range (+-3.4e38). Errors name the
  file, the line (1-based, as an editor shows it) and the column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from vaekit.data.regular import open_regular
from vaekit.data.splits import F32_MAX, Source, encode_labels
from vaekit.errors import DataError


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _has_header(first: list[str], second: list[str] | None) -> bool:
    if second is None:
        return not all(_is_number(c) for c in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _label_index(label: str, header: list[str] | None, ncols: int, path: Path) -> int:
    label = label.strip()
    if header is not None:
        names = [h.strip() for h in header]
        if label in names:
            return names.index(label)
    try:
        index = int(label)
    except ValueError:
        where = f"header {header}" if header is not None else "file, which has no header row"
        raise DataError(f"{path}: label column {label!r} not found in the {where}") from None
    if not -ncols <= index < ncols:
        raise DataError(f"{path}: label column {index} does not exist ({ncols} columns)")
    return index % ncols


def _find_bad_cell(
    rows: list[tuple[int, list[str]]],
    columns: list[int],
    header: list[str] | None,
    path: Path,
    missing: bool = False,
) -> DataError:
    """The error for the first cell that is not a finite float32 (NaN and empty cells allowed
    with ``missing``); a slow scan, for errors only."""
    for line, cells in rows:
        for j in columns:
            cell = cells[j]
            if missing and (not cell.strip() or (_is_number(cell) and np.isnan(float(cell)))):
                continue
            if not _is_number(cell) or not abs(float(cell)) <= F32_MAX:
                name = f" ({header[j].strip()!r})" if header else ""
                problem = "is not a number"
                if _is_number(cell):
                    finite = np.isfinite(float(cell))
                    problem = "is beyond float32's range" if finite else "is not finite"
                if not cell.strip() or (_is_number(cell) and np.isnan(float(cell))):
                    problem = "is missing (allow missing values with --missing allow)"
                return DataError(f"{path}: line {line}, column {j}{name}: {cell!r} {problem}")
    return DataError(f"{path}: unreadable numbers")  # pragma: no cover - scan always finds one


def read_csv(path: Path, label_column: str | None = None, missing: bool = False) -> Source:
    """Read a CSV file into a Source: features ``(N, D)`` and optional labels ``(N,)``; with
    ``missing``, empty feature cells (and NaN) are missing values, read as NaN."""
    try:
        with open_regular(path) as f:
            text = f.read().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: {err}") from None
    if not rows:
        raise DataError(f"{path}: no rows")
    second = rows[1][1] if len(rows) > 1 else None
    named_label = label_column is not None and not _is_integer(label_column)
    header = rows[0][1] if named_label or _has_header(rows[0][1], second) else None
    data = rows[1:] if header is not None else rows
    if not data:
        raise DataError(f"{path}: a header but no data rows")
    ncols = len(header) if header is not None else len(data[0][1])
    for line, row in data:
        if len(row) != ncols:
            raise DataError(f"{path}: line {line} has {len(row)} columns, expected {ncols}")

    label = None if label_column is None else _label_index(label_column, header, ncols, path)
    columns = [j for j in range(ncols) if j != label]
    if not columns:
        raise DataError(f"{path}: no feature columns besides the label column")
    cells = np.array([row for _, row in data], dtype=str)  # (N, ncols)
    if missing:  # an empty cell is a missing value
        cells[:, columns] = np.where(
            np.char.strip(cells[:, columns]) == "", "nan", cells[:, columns]
        )
    try:
        x = cells[:, columns].astype(np.float64)  # (N, D)
    except ValueError:
        raise _find_bad_cell(data, columns, header, path) from None
    # NaN (unless missing values are allowed), inf, or beyond what float32 holds
    if not ((np.abs(x) <= F32_MAX) | (missing & np.isnan(x))).all():
        raise _find_bad_cell(data, columns, header, path, missing)

    y = classes = None
    if label is not None:
        values: np.ndarray = np.char.strip(cells[:, label])
        empty = np.flatnonzero(values == "")
        if len(empty):
            raise DataError(f"{path}: line {data[empty[0]][0]}: empty label")
        try:
            numbers = values.astype(np.float64)
        except ValueError:
            numbers = None  # string labels: names
        if numbers is not None:
            bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
            if len(bad):
                raise DataError(
                    f"{path}: line {data[bad[0]][0]}: label {str(values[bad[0]])!r} is "
                    f"not an integer or a class name"
                )
            values = numbers
        y, classes = encode_labels(values, f"{path}: label column {label}")
    names = tuple(header[j].strip() for j in columns) if header is not None else None
    return Source(path.name, x, y, classes=classes, columns=names)


def _is_integer(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True
