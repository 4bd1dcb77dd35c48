"""Which rows a command on a run reads, and per-example output that keeps each row's identity.

``--data FILE`` means every row of the file in file order; ``--split all`` of the run's own data
is file order too. Per-example files carry the row index and the label, tabular outputs the
file's column names.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch

from vaekit import api, runs
from vaekit.cli import options
from vaekit.cli.console import UsageError, csv_cell
from vaekit.data import DataConfig, Dataset, load_dataset
from vaekit.data.load import TABLE_SUFFIXES


def select_data(args: argparse.Namespace, saved: dict[str, Any]) -> tuple[Dataset, str]:
    """The dataset of ``--data`` (default: the run's own) and the split to use.

    ``--data FILE`` uses every row of the file, in file order (no split); ``--split all`` of
    the run's own data is file order too (its official test rows, if any, after the others).
    Otherwise the default split is ``test``.
    """
    own: DataConfig = saved["data"]
    given = "dataset" in options.given(args, DataConfig)
    if given and args.split not in (None, "all"):
        raise UsageError(
            f"--data uses every row of the file in file order; drop --split {args.split} "
            "(the run's own splits are for its own data)"
        )
    split = "all" if given else args.split or "test"
    base = own
    if given:  # another file of the same layout
        base = file_config(own, options.given(args, DataConfig)["dataset"])
    if split == "all":  # keep every row, in file order
        base = dataclasses.replace(base, val_fraction=0.0, test_fraction=0.0)
    data = load_dataset(options.build(args, DataConfig, base))
    return (api.for_run(data, saved) if given else data), split  # the run's class codes


def file_config(own: DataConfig, path: str | Path) -> DataConfig:
    """The data config that reads ``path``, another file of a run's layout, as the run read its
    own data: with its label column (a table), its image size (an image folder), its data
    folder and its rule for missing values; every row, in file order (no held-out splits).
    Options given beside it (``--label-column none``) override these."""
    where = Path(str(path))
    return DataConfig(
        dataset=str(path),
        data_dir=own.data_dir,
        label_column=own.label_column if where.suffix.lower() in TABLE_SUFFIXES else None,
        image_size=own.image_size if where.is_dir() else None,
        missing=own.missing,
        val_fraction=0.0,
        test_fraction=0.0,
    )


def examples(
    data: Dataset, split: str, what: str, hint: str = "use --split train (or all) or --data FILE"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(x, y)`` of ``split`` of ``data``, or a :class:`UsageError` naming the split when it
    is empty (a run of a few rows has empty held-out splits): nothing to ``what`` (``encode``,
    ``score``); ``hint``: what to do instead."""
    x, y = data.split(split)
    if len(x) == 0:
        raise UsageError(f"the {split} split of {data.name} is empty: nothing to {what}; {hint}")
    return x, y


def feature_columns(data: Dataset | None, saved: dict[str, Any]) -> list[str] | None:
    """The names of a tabular dataset's features (its CSV header), else None."""
    if data is not None and data.columns:
        return list(data.columns)
    columns = saved["raw"].get("dataset", {}).get("columns")
    return list(columns) if columns else None


def write_per_example(
    rows: dict[str, list[float]],
    y: torch.Tensor | None,
    classes: tuple[str, ...] | None,
    path: Path,
) -> str:
    """One CSV line per example: its ``row`` (index in the evaluated rows, the file's order for
    --data and --split all), its ``label`` where there are labels, and its values (nats);
    returns what it wrote, in words."""
    keys = list(rows)
    header = ["row", *(["label"] if y is not None else []), *keys]
    lines = [",".join(header)]
    for i in range(len(rows[keys[0]])):
        cells = [str(i)]
        if y is not None:
            label = int(y[i])
            cells.append(csv_cell(classes[label]) if classes else str(label))
        cells += [f"{rows[key][i]:.7g}" for key in keys]
        lines.append(",".join(cells))
    runs.write_text(path, "\n".join(lines) + "\n")
    return f"wrote {len(lines) - 1} per-example rows to {path}"
