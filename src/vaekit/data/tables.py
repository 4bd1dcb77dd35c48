"""CSV (and TSV) files of numbers: one example per row, an optional header and label column.

Rules:

- the delimiter is a tab for ``.tsv``/``.tab`` files, else a comma; blank lines (no delimiter,
  nothing but spaces) are skipped, while a row of empty cells (``,,,``) is a row of missing
  values (a one-column file writes a missing value as ``nan``);
- the first row is a header when one of its cells is a word (neither a number nor empty) over a
  column whose first non-empty cell below is a number, or that has none (or when
  ``label_column`` is a name);
- ``label_column`` is a header name, else a 0-based column index (negative counts from the end);
  its values may be integers or strings (strings become 0..K-1 in sorted order, names kept);
- every other cell must be a finite number within float32's range (+-3.4e38). Errors name the
  file, the line (1-based, as an editor shows it) and the column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.data.regular import open_regular
from vaekit.data.splits import F32_MAX, Source, encode_labels
from vaekit.errors import DataError


@dataclass(frozen=True)
class CsvCells:
    """A CSV file's cells as read, before any is a number: the ``header`` (None without one),
    the data ``rows`` with their 1-based line numbers, the ``label`` column's index (None
    without one), the feature ``columns``' indices, the ``delimiter`` and the line ending
    (``newline``) the file uses."""

    header: list[str] | None
    rows: list[tuple[int, list[str]]]
    label: int | None
    columns: list[int]
    delimiter: str
    newline: str


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _has_header(rows: list[tuple[int, list[str]]]) -> bool:
    """Whether ``rows[0]`` is a header: a word over a column whose first non-empty cell below is
    a number, or that has none (an empty cell is a missing value: it tells nothing)."""
    for j, cell in enumerate(rows[0][1]):
        if not cell.strip() or _is_number(cell):
            continue
        below = (r[j] for _, r in rows[1:] if j < len(r) and r[j].strip())
        first = next(below, None)
        if first is None or _is_number(first):
            return True
    return False


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
                    problem = 'is missing (allow missing values with missing="allow")'
                return DataError(f"{path}: line {line}, column {j}{name}: {cell!r} {problem}")
    return DataError(f"{path}: unreadable numbers")  # pragma: no cover - scan always finds one


def _is_blank(row: list[str]) -> bool:
    """A blank line: no cell, or one of nothing but spaces (no delimiter)."""
    return len(row) <= 1 and not "".join(row).strip()


def _newline(text: str) -> str:
    """The line ending of ``text``'s first line: ``"\\r\\n"``, else ``"\\n"``."""
    end = text.find("\n")
    return "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"


def read_cells(path: Path, label_column: str | None = None) -> CsvCells:
    """Parse a CSV file into its :class:`CsvCells`: rows, header and label column found, every
    row of the header's width; no cell is read as a number yet."""
    try:
        with open_regular(path) as f:
            text = f.read().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [(reader.line_num, row) for row in reader if not _is_blank(row)]
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: {err}") from None
    if not rows:
        raise DataError(f"{path}: no rows")
    named_label = label_column is not None and not _is_integer(label_column)
    header = rows[0][1] if named_label or _has_header(rows) else None
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
    return CsvCells(header, data, label, columns, delimiter, _newline(text))


def read_csv(path: Path, label_column: str | None = None, missing: bool = False) -> Source:
    """Read a CSV file into a Source: features ``(N, D)`` and optional labels ``(N,)``; with
    ``missing``, empty feature cells (and NaN) are missing values, read as NaN."""
    return to_source(read_cells(path, label_column), path, missing)


def to_source(table: CsvCells, path: Path, missing: bool = False) -> Source:
    """The numbers of a parsed CSV file (:func:`read_cells`) as a Source; with ``missing``,
    empty feature cells (and NaN) are missing values, read as NaN."""
    data, header, columns = table.rows, table.header, table.columns
    cells = np.array([row for _, row in data], dtype=str)  # (N, ncols)
    features = cells[:, columns]  # (N, D)
    if missing:  # an empty cell is a missing value (np.where widens the strings for "nan")
        features = np.where(np.char.strip(features) == "", "nan", features)
    try:
        x = features.astype(np.float64)  # (N, D)
    except ValueError:
        raise _find_bad_cell(data, columns, header, path) from None
    # NaN (unless missing values are allowed), inf, or beyond what float32 holds
    if not ((np.abs(x) <= F32_MAX) | (missing & np.isnan(x))).all():
        raise _find_bad_cell(data, columns, header, path, missing)
    y = classes = None
    if table.label is not None:
        y, classes = _labels(np.char.strip(cells[:, table.label]), data, table.label, path)
    names = tuple(header[j].strip() for j in columns) if header is not None else None
    return Source(path.name, x, y, classes=classes, columns=names)


def _labels(
    values: np.ndarray, data: list[tuple[int, list[str]]], label: int, path: Path
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The label column's cells ``values`` (N,) as codes and class names (None: integers)."""
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
    return encode_labels(values, f"{path}: label column {label}")


def _is_integer(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True
