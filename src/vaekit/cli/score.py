"""``vaekit score``: per-example anomaly scores of a trained run (:mod:`vaekit.evaluation.scores`),
an optional decision threshold calibrated on the run's validation split, and histograms."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaekit import runs
from vaekit.cli import options
from vaekit.cli.parsers import _run_data_options
from vaekit.data.config import DataConfig
from vaekit.evaluation import methods as scoring
from vaekit.evaluation import threshold as thresholds

if TYPE_CHECKING:  # torch and numpy are imported when a command runs, not for --help
    import numpy as np
    import torch

DESCRIPTION = f"""\
Score every example of --data with a trained model: one CSV row per example in the input's order
(index, label if any, one column per method). Higher = more anomalous, for every method:
  elbo               -ELBO, nats
  nll                -log p(x), importance sampled with --k samples, nats
  bpd                -log2 P(x) of the 8-bit image per dimension (images)
  complexity         -log2 P(x) minus the image's DEFLATE size, bits (Serra et al. 2020)
  regret             Likelihood Regret (Xiao et al. 2020): the ELBO gained by re-optimising
                     q(z|x) for each example alone, nats
  complexity+regret  their sum, in bits (images)
  auto (default)     complexity+regret for images whose likelihood is a true probability of the
                     8-bit image (discretized logistic, gaussian; bernoulli on binary data),
                     else regret: the choice of the out-of-distribution benchmark
                     (benchmarks/ood.py, BENCHMARKS.md)
--data: a dataset name scores its test split; a file scores every row in file order; without
--data, the run's own test split.
--calibrate val sets a threshold at --fpr false positives on the run's validation split, saves
it as RUN/{thresholds.THRESHOLD_FILE} and adds an 'outlier' column (1 = score above it); a saved
threshold of the same method, k and seed adds the column too."""


def _methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ("auto", *scoring.METHODS)]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(unknown) or text!r}; "
            f"choose from auto, {', '.join(scoring.METHODS)}"
        )
    return list(dict.fromkeys(methods))


def _fpr(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1), got {value}")
    return value


def add_parser(subparsers: Any, common: Any, at_least: Any, formatter: Any) -> None:
    """Add ``score`` to an ``argparse`` subparsers object (``common`` adds --device, --quiet
    and --debug; ``at_least`` and ``formatter`` are the command line's own)."""
    p = subparsers.add_parser(
        "score",
        help="per-example anomaly scores, an outlier threshold and score histograms",
        description=DESCRIPTION,
        formatter_class=formatter,
        allow_abbrev=False,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    _run_data_options(p, split=False)
    p.add_argument(
        "--method",
        type=_methods,
        default=[scoring.DEFAULT_METHOD],
        metavar="M[,M...]",
        help=f"auto, {', '.join(scoring.METHODS)}; several by commas (default: auto)",
    )
    p.add_argument(
        "--k",
        type=at_least(1),
        default=scoring.DEFAULT_K,
        help=f"posterior samples per example (default: {scoring.DEFAULT_K})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the common noise (default: 0)")
    p.add_argument(
        "--n",
        type=at_least(1),
        default=None,
        help="score only the first N examples of --data and of the plot's test split "
        "(default: all; --calibrate always uses the whole validation split)",
    )
    p.add_argument(
        "--out", metavar="FILE.csv", help="where to write (default: RUN/scores_<data>.csv)"
    )
    p.add_argument(
        "--calibrate",
        choices=("val",),
        help="set the threshold on the run's validation split (the first method) (default: off)",
    )
    p.add_argument(
        "--fpr",
        type=_fpr,
        default=0.05,
        help="false-positive rate of --calibrate on normal data (default: 0.05)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="histograms of the first method's scores: the run's test split against --data "
        "(default: none)",
    )
    common(p)


def run(args: argparse.Namespace) -> int:
    """Score, optionally calibrate and plot; write the CSV and print a short summary."""
    from vaekit.cli.commands import load_run
    from vaekit.cli.console import output_path

    out = output_path(args.out, (".csv",)) if args.out else None
    plot = output_path(args.plot, (".png",)) if args.plot else None
    run_dir, model, saved = load_run(args)
    from vaekit.evaluation import scores

    methods = list(dict.fromkeys(scores.resolve(model, m) for m in args.method))
    method, k, seed = methods[0], args.k, args.seed
    data = options.given(args, DataConfig).get("dataset")
    name = data or "test"
    x_val, y_val = _split(saved, None, "val", args, "calibrate") if args.calibrate else (None, None)
    x, y = _first(args.n, *_split(saved, data, "test", args, "score"))
    # every method scored before anything is said or saved: one that the model cannot score
    # is the one line the command prints
    columns = {m: _scores(model, x, y, m, k, seed) for m in methods}
    if x_val is not None:
        values = _scores(model, x_val, y_val, method, k, seed)
        new = thresholds.Threshold(
            method, k, seed, args.fpr, thresholds.calibrate(values, args.fpr), "val", len(values)
        )
        path = thresholds.write(run_dir, new)
        _say(
            args,
            f"threshold {new.value:.6g} ({method}, fpr {args.fpr} on {new.n} validation "
            f"examples) saved in {path}",
        )
    t = thresholds.read(run_dir)
    if t is not None and (t.method, t.k, t.seed) != (method, k, seed):
        _say(
            args,
            f"note: the saved threshold is for {t.method} (k={t.k}, seed={t.seed}): "
            "no outlier column",
        )
        t = None
    out = out or run_dir / f"scores_{_stem(name)}.csv"
    write_csv(out, columns, y, t.flags(columns[method]) if t else None)
    _say(args, f"{len(x)} examples scored with {', '.join(methods)}: {out}")
    if t is not None:
        flagged = int(t.flags(columns[method]).sum())
        _say(args, f"outliers: {flagged} of {len(x)} ({100 * flagged / len(x):.1f}%)")
    if plot:
        from vaekit.viz.histograms import save_scores_png

        x_test, y_test = _first(args.n, *_split(saved, None, "test", args, "plot"))
        normal = _scores(model, x_test, y_test, method, k, seed)
        groups = {"normal (run's test split)": normal, name: columns[method]}
        save_scores_png(groups, method, plot, t.value if t else None)
        _say(args, f"histograms: {plot}")
    return 0


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _stem(name: str) -> str:
    return Path(name).stem if ("/" in name or "." in name) else name


def _split(
    saved: dict[str, Any], data: str | None, split: str, args: argparse.Namespace, what: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, y) of the run's own ``split`` (``data`` None), of a named dataset's test split, or of
    every row of a file in file order, read as the run read its own (:func:`file_config`); a
    :class:`UsageError` naming an empty split (``what``: what it was for)."""
    import dataclasses

    from vaekit import api
    from vaekit.cli.rows import examples, file_config
    from vaekit.data import load_dataset
    from vaekit.data.named import DATASETS, normalize_name

    own: DataConfig = saved["data"]
    given = options.given(args, DataConfig)
    extra = {"data_dir": given["data_dir"]} if given.get("data_dir") else {}
    if data is None:
        config = dataclasses.replace(own, **extra)
    elif normalize_name(data) in DATASETS and not Path(data).exists():
        config = dataclasses.replace(own, dataset=data, **extra)
    else:
        config = options.build(args, DataConfig, file_config(own, data))
        split = "train"  # with no held-out fractions: every row, in file order
    dataset = load_dataset(config)
    if data is not None:
        return examples(api.for_run(dataset, saved), split, what, "give another --data")
    hint = "retrain with a larger --val-fraction" if split == "val" else "give --data FILE"
    return examples(dataset, split, what, hint)  # the command has no --split


def _first(
    n: int | None, x: torch.Tensor, y: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (x, y) if n is None else (x[:n], None if y is None else y[:n])


def _scores(
    model: Any, x: torch.Tensor, y: torch.Tensor | None, method: str, k: int, seed: int
) -> np.ndarray:
    c = y if model.y_dim else None
    return model.score(x, method, k, y=c, seed=seed).cpu().numpy()


def write_csv(
    path: Path, columns: dict[str, np.ndarray], y: torch.Tensor | None, outlier: np.ndarray | None
) -> None:
    """One row per example: index, label (if any), one column per method, outlier (if set)."""
    n = len(next(iter(columns.values())))
    header = ["index", *(["label"] if y is not None else []), *columns]
    header += ["outlier"] if outlier is not None else []
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(header)
    for i in range(n):
        row: list[Any] = [i, *([int(y[i])] if y is not None else [])]
        row += [f"{columns[m][i]:.7g}" for m in columns]
        row += [int(outlier[i])] if outlier is not None else []
        w.writerow(row)
    runs.write_text(path, text.getvalue())
