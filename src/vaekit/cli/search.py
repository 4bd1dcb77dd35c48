"""``vaekit search``: the command-line face of :func:`vaekit.search.search`."""

from __future__ import annotations

import argparse
import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaekit.cli import options
from vaekit.cli.parsers import DATA_METAVARS, Formatter, _common, at_least
from vaekit.config import TrainConfig
from vaekit.data.config import DataConfig

DESCRIPTION = (
    "Choose a VAE's settings by k-fold cross-validation on the training split: every "
    "combination of the candidates is trained on all folds but one and scored on the one left "
    "out, by the held-out ELBO or the importance-sampled log-likelihood (nats per example). "
    "Writes the table as results.csv, search.png (score against latent size) and the best "
    "setting, retrained on all training rows, as a run folder that the other commands use."
)
#: the searched parameters and their options' names (the API's latent_dim is --latent-dims)
GRID = {
    "latent_dim": "latent_dims",
    "beta": "betas",
    "hidden": "hidden",
    "weight_decay": "weight_decays",
    "l1": "l1s",
    "patience": "patience",
}
#: the API's names of the other options, in its error messages
FLAGS = GRID | {name: name for name in ("epochs", "batch_size", "lr", "folds", "n_jobs", "k")}
FLAGS |= {"scoring": "score"}


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


def _jobs(text: str) -> int:
    """An argparse type: a nonzero integer (-1: all cores)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must not be 0 (1: no parallel fits, -1: all cores)")
    return value


def as_flags(message: str) -> str:
    """An API message in this command's words: ``latent_dim=2`` -> ``--latent-dims 2`` and
    ``latent_dim must`` -> ``--latent-dims must`` (the search's options name lists)."""
    names = "|".join(sorted(FLAGS, key=len, reverse=True))

    def flag(m: re.Match[str]) -> str:
        return "--" + FLAGS[m.group(1)].replace("_", "-") + (" " if m.group(2) else "")

    return re.sub(rf"(?<![-\w])({names})(?:(=)|(?= must\b))", flag, message)


def add_parser(subparsers: Any) -> None:
    """Add the ``search`` subcommand to an ``argparse`` subparsers object; see :func:`run`."""
    defaults = TrainConfig()
    p = subparsers.add_parser(
        "search",
        help="choose latent size, beta, width and regularization by k-fold cross-validation",
        description=textwrap.fill(DESCRIPTION, 98),
        formatter_class=Formatter,
    )
    options.add_options(
        p.add_argument_group("data"),
        DataConfig,
        only=("dataset", "data_dir", "label_column"),
        metavars=DATA_METAVARS,
    )
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
    fit.add_argument("--folds", type=at_least(2), default=3, help="folds (default: 3)")
    fit.add_argument(
        "--score",
        choices=["elbo", "loglik"],
        default="elbo",
        help="held-out score: elbo, or loglik, importance-sampled (default: elbo)",
    )
    fit.add_argument(
        "--k", type=at_least(1), default=100, help="samples of --score loglik (default: 100)"
    )
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
        type=_jobs,
        default=-1,
        help="fits in parallel, one torch thread each (default: -1, all cores)",
    )
    p.add_argument_group("run").add_argument(
        "--out",
        metavar="RUN_FOLDER",
        help="folder for results.csv, search.png and the retrained best model "
        "(default: runs/search-<dataset>-<YYYYmmdd-HHMMSS>)",
    )
    _common(p)


def run(args: argparse.Namespace) -> int:
    """Run ``vaekit search`` from :func:`add_parser`'s arguments: print the table, return 0."""
    from vaekit.errors import VaekitError
    from vaekit.search import PLOT_FILE, RESULTS_FILE, reworded, search, show
    from vaekit.sklearn import VAETransformer

    data_config = options.build(args, DataConfig, DataConfig(seed=args.seed))
    name = Path(data_config.dataset).stem
    out = Path(args.out or time.strftime(f"runs/search-{name}-%Y%m%d-%H%M%S"))
    estimator = VAETransformer(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        random_state=args.seed,
    )
    try:
        result = search(
            data_config.dataset,
            {param: getattr(args, dest) for param, dest in GRID.items()},
            estimator=estimator,
            folds=args.folds,
            scoring=args.score,
            k=args.k,
            n_jobs=args.n_jobs,
            data_config=data_config,
            out=out,
            seed=args.seed,
            progress=not args.quiet,
        )
    except VaekitError as e:  # the API names its parameters, the command its options
        raise reworded(e, as_flags(str(e))) from e
    print(result.table)
    best = ", ".join(f"{n}={show(v)}" for n, v in result.best.items())
    print(f"best: {best}\nresults: {out / RESULTS_FILE}, {out / PLOT_FILE}\nbest model: {out}")
    return 0
