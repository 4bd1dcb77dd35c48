"""The options of the ``vaekit`` commands that train and use a run: argparse only, so that
``vaekit --help`` imports no torch. :func:`vaekit.cli.build_parser` assembles them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from vaekit.cli import options
from vaekit.cli.console import error_line
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data.config import DataConfig

SPLITS = ("train", "val", "test", "all")
DATA_METAVARS = {"dataset": "NAME_OR_PATH", "data_dir": "DIR", "image_size": "HxW"}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other vaekit error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, error_line(f"{message} (see '{self.prog} --help')") + "\n")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def _common(parser: argparse.ArgumentParser, device: bool = True) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "--quiet", action="store_true", help="no progress bars or summaries (default: off)"
    )
    group.add_argument(
        "--debug", action="store_true", help="show the full traceback on errors (default: off)"
    )
    if device:
        group.add_argument(
            "--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)"
        )


def _run_data_options(parser: argparse.ArgumentParser, split: bool = True) -> None:
    """--data and friends for commands that read data through a trained run (``split``: and
    --split, the run's own split to use)."""
    group = parser.add_argument_group("data")
    options.add_options(
        group,
        DataConfig,
        rename={"dataset": "data"},
        only=("dataset", "data_dir", "label_column", "image_size"),
        default_text={
            "dataset": "the run's own dataset",
            "data_dir": "as in the run",
            "label_column": "the run's, for a table; none: no label column",
            "image_size": "the run's, for an image folder",
        },
        metavars=DATA_METAVARS,
    )
    if split:
        group.add_argument(
            "--split",
            choices=SPLITS,
            default=None,
            help=f"which split of the run's own data: {', '.join(SPLITS)} (all: every row in "
            "file order; default: test). --data FILE always uses every row in file order",
        )


def _train_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``vaekit train``: the data, model and training options and the run's own."""
    p = command(
        "train",
        "train a model and write a run folder with pictures and report.html",
        "Train a VAE. Writes RUN/config.json, metrics.jsonl, model.safetensors, the pictures "
        "and report.html. With no options: the embedded digits data, in under a minute on a CPU.",
    )
    options.add_options(
        p.add_argument_group("data"),
        DataConfig,
        rename={"seed": "data_seed"},
        metavars=DATA_METAVARS,
    )
    options.add_options(p.add_argument_group("model"), ModelConfig)
    options.add_options(p.add_argument_group("training"), TrainConfig)
    run = p.add_argument_group("run")
    run.add_argument(
        "--config",
        metavar="FILE.json",
        help="start from this configuration (a run's config.json, or any JSON with model, "
        "train and data sections); options given beside it override it (default: none)",
    )
    run.add_argument(
        "--out",
        metavar="RUN_FOLDER",
        help="run folder to write (default: runs/<dataset>-<YYYYmmdd-HHMMSS>)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out with its saved configuration; --epochs N extends it "
        "(default: off)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (its files, evaluation included); without it "
        "vaekit refuses to train into a folder that holds a run (default: off)",
    )
    run.add_argument(
        "--devices",
        type=at_least(1),
        default=1,
        metavar="N",
        help="train data-parallel in N processes on this machine, started with torchrun (one "
        "per GPU with --device cuda); --batch-size stays the global batch (default: 1)",
    )
    run.add_argument(
        "--log",
        choices=("tensorboard", "mlflow"),
        help="track the run in TensorBoard (events in RUN/tensorboard) or MLflow "
        "($MLFLOW_TRACKING_URI, else a file store in ./mlruns); needs the tracking extra: "
        "pip install 'vaekit[tracking]' (default: off)",
    )
    run.add_argument(
        "--log-dir",
        metavar="DIR",
        help="with --log: the TensorBoard folder, or the MLflow file store (default: as above)",
    )
    _common(p, device=False)


def _evaluate_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``vaekit evaluate``: the held-out report of a run."""
    p = command("evaluate", "importance-sampled log-likelihood, ELBO and latent diagnostics")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument(
        "--k", type=at_least(1), default=1000, help="importance samples per example (default: 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the estimate (default: 0)")
    p.add_argument(
        "--no-probes",
        dest="probes",
        action="store_false",
        help="skip the classifier probes of the latent means (default: probes on)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.json",
        help="where to write (default: RUN/evaluation.json for the run's own data; with --data, "
        "nothing unless --out is given)",
    )
    p.add_argument(
        "--per-example",
        metavar="FILE.csv",
        help="also write one line per example: row, label (if any), log_px, elbo, log_px_z, kl_z "
        "(default: off)",
    )
    _run_data_options(p)
    _common(p)


def _use_parsers(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands that use a trained model: sample, reconstruct, encode, interpolate."""
    p = command("sample", "decode samples from the prior")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument("--n", type=at_least(1), default=64, help="number of samples (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--label",
        metavar="CLASS",
        default=None,
        help="conditional model: the class to generate, by name (a run trained on named "
        "labels) or number 0..K-1 (default: one row per class)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="a .png grid (a heatmap for vector data), .npy or .csv "
        "(default: RUN/samples_nN_seedS[_labelY].png, Y the class number)",
    )
    _common(p)

    p = command("reconstruct", "reconstruct examples: decode(encode(x))")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument(
        "--n",
        type=at_least(0),
        default=16,
        help="first N examples of the split, 0 = all (default: 16)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help=".png (originals above reconstructions), .npy or .csv "
        "(default: RUN/reconstructions_SPLIT.png)",
    )
    _run_data_options(p)
    _common(p)

    p = command("encode", "write the latent means E[z|x] (dimensionality reduction)")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument(
        "--out", metavar="FILE", help="z.npy or z.csv, (N, L) (default: RUN/z_SPLIT.npy)"
    )
    _run_data_options(p)
    _common(p)

    p = command("interpolate", "decode the line between the latent means of two examples")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument(
        "--from",
        dest="from_",
        metavar="I",
        type=at_least(0),
        default=0,
        help="index of the first example in the split (default: 0)",
    )
    p.add_argument(
        "--to",
        metavar="J",
        type=at_least(0),
        default=1,
        help="index of the last example in the split (default: 1)",
    )
    p.add_argument("--steps", type=at_least(2), default=10, help="points on the line (default: 10)")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="a .png strip, .npy or .csv (default: RUN/interpolate_SPLIT_I_J.png)",
    )
    _run_data_options(p)
    _common(p)


def _run_parsers(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``vaekit info`` and ``vaekit serve``."""
    p = command("info", "show a run's configuration and metrics")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    _common(p, device=False)

    p = command(
        "serve",
        "explore a model in the browser: latent map, sliders, interpolation, JSON API",
        "Serve one page and a JSON API (schema at /openapi.json) for the run, on this machine "
        "only unless --host says otherwise. Needs the serve extra: pip install 'vaekit[serve]'.",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; another than 127.0.0.1 exposes the model (default: 127.0.0.1)",
    )
    p.add_argument("--port", type=at_least(0), default=8000, help="TCP port (default: 8000)")
    _common(p)
