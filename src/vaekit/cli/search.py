"""``vaekit search``: the command-line face of :func:`vaekit.search.search`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaekit.config import TrainConfig


def _list(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """An argparse type: comma-separated values, each read by ``kind``."""

    def parse(text: str) -> list[Any]:
        try:
            return [kind(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected values like 1,2,5, got {text!r}") from None

    return parse


def _layers(text: str) -> tuple[int, ...]:
    """An argparse type: one hidden-size candidate, layers by commas as in ``vaekit train``."""
    try:
        return tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes like 400 or 512,256, got {text!r}"
        ) from None


def _patience(text: str) -> int | None:
    return None if text.lower() in ("none", "off") else int(text)


def add_parser(subparsers: Any) -> None:
    """Add the ``search`` subcommand to an ``argparse`` subparsers object; see :func:`run`."""
    defaults = TrainConfig()
    p = subparsers.add_parser(
        "search",
        help="choose latent size, beta, width and regularization by k-fold cross-validation",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--dataset",
        default="digits",
        metavar="NAME_OR_PATH",
        help="a dataset name or a data path (default: digits)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder of named datasets")
    grid = p.add_argument_group("search space (comma-separated candidates)")
    grid.add_argument(
        "--latent-dims",
        type=_list(int),
        default=[2, 5, 10, 20, 50],
        help="latent sizes (default: 2,5,10,20,50)",
    )
    grid.add_argument("--betas", type=_list(float), default=[1.0], help="KL weights (default: 1)")
    grid.add_argument(
        "--hidden",
        type=_layers,
        nargs="+",
        default=[(400,)],
        help="hidden sizes, one candidate per argument, layers by commas as in "
        "train: --hidden 400 512,256 (default: 400)",
    )
    grid.add_argument(
        "--weight-decays", type=_list(float), default=[0.0], help="L2 weight decays (default: 0)"
    )
    grid.add_argument("--l1s", type=_list(float), default=[0.0], help="L1 penalties (default: 0)")
    grid.add_argument(
        "--patience",
        type=_list(_patience),
        default=[None],
        help="early-stopping patience, none = off (default: none)",
    )
    fit = p.add_argument_group("cross-validation and training")
    fit.add_argument("--folds", type=int, default=3, help="folds (default: 3)")
    fit.add_argument(
        "--score",
        choices=["elbo", "loglik"],
        default="elbo",
        help="held-out score: elbo, or loglik, importance-sampled (default: elbo)",
    )
    fit.add_argument("--k", type=int, default=100, help="samples of --score loglik (default: 100)")
    fit.add_argument(
        "--epochs",
        type=int,
        default=defaults.epochs,
        help=f"epochs per fit (default: {defaults.epochs})",
    )
    fit.add_argument("--batch-size", type=int, default=defaults.batch_size)
    fit.add_argument("--lr", type=float, default=defaults.lr)
    fit.add_argument("--seed", type=int, default=0, help="seed of folds and training (default: 0)")
    fit.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="fits in parallel, one torch thread each (default: -1, all cores)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="RUN_FOLDER",
        help="folder for results.csv, search.png and the retrained best model "
        "(default: runs/search-<dataset>-<YYYYmmdd-HHMMSS>)",
    )
    out.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    out.add_argument("--quiet", action="store_true", help="no progress (default: off)")
    out.add_argument("--debug", action="store_true", help="full tracebacks on errors")


def run(args: argparse.Namespace) -> int:
    """Run ``vaekit search`` from :func:`add_parser`'s arguments: print the table, return 0."""
    from vaekit.data import DataConfig
    from vaekit.search import PLOT_FILE, RESULTS_FILE, search, show
    from vaekit.sklearn import VAETransformer

    name = Path(args.dataset).stem
    out = Path(args.out or time.strftime(f"runs/search-{name}-%Y%m%d-%H%M%S"))
    grid = {
        "latent_dim": args.latent_dims,
        "beta": args.betas,
        "hidden": args.hidden,
        "weight_decay": args.weight_decays,
        "l1": args.l1s,
        "patience": args.patience,
    }
    estimator = VAETransformer(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        random_state=args.seed,
    )
    result = search(
        args.dataset,
        grid,
        estimator=estimator,
        folds=args.folds,
        scoring=args.score,
        k=args.k,
        n_jobs=args.n_jobs,
        data_config=DataConfig(dataset=args.dataset, data_dir=args.data_dir, seed=args.seed),
        out=out,
        seed=args.seed,
        progress=not args.quiet,
    )
    print(result.table)
    best = ", ".join(f"{n}={show(v)}" for n, v in result.best.items())
    print(f"best: {best}\nresults: {out / RESULTS_FILE}, {out / PLOT_FILE}\nbest model: {out}")
    return 0
