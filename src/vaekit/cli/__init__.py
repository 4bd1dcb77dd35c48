"""The ``vaekit`` command (also ``python -m vaekit``): train, evaluate, sample, reconstruct,
encode, interpolate, info, serve.

The training options are generated from :class:`~vaekit.config.ModelConfig`,
:class:`~vaekit.config.TrainConfig` and :class:`~vaekit.data.DataConfig` (see
:mod:`vaekit.cli.options`). Errors print one line, ``vaekit: error: ...``, and exit with status
2 (a traceback only with ``--debug``); Ctrl-C exits with 130. Under torchrun ``train`` and
``evaluate`` run data-parallel, and an error line names the rank that raised it.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import NoReturn

from vaekit.cli import options, search
from vaekit.cli.console import error_line
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data.config import DataConfig

EXAMPLES = """examples:
  vaekit train                                  # digits, 2-D latent, report in runs/
  vaekit train --dataset mnist --latent-dim 16 --hidden 400,400 --epochs 50 --out runs/m16
  vaekit train --dataset mnist --device cuda --devices 4 --out runs/m4   # 4 GPUs, one machine
  torchrun --nproc-per-node 4 -m vaekit train --device cuda ...        # the same, by hand
  vaekit evaluate runs/m16 --k 1000             # importance-sampled NLL -> evaluation.json
  vaekit sample runs/m16 --n 64 --out samples.png
  vaekit encode runs/m16 --data my_data.npy --out z.csv
  vaekit serve runs/m16                         # explore it at http://127.0.0.1:8000/
"""

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


def _run_data_options(parser: argparse.ArgumentParser, split_default: str | None) -> None:
    """--data and friends for commands that read data through a trained run."""
    group = parser.add_argument_group("data")
    options.add_options(
        group,
        DataConfig,
        rename={"dataset": "data"},
        only=("dataset", "data_dir", "label_column", "image_size"),
        default_text={"dataset": "the run's own dataset", "data_dir": "as in the run"},
        metavars=DATA_METAVARS,
    )
    choices = SPLITS if split_default is None else SPLITS[:3]
    default = split_default or "test for the run's own data, all for --data"
    group.add_argument(
        "--split",
        choices=choices,
        default=split_default,
        help=f"which split: {', '.join(choices)} (default: {default})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``vaekit`` argument parser with one subparser per command."""
    from vaekit import __version__

    parser = Parser(
        prog="vaekit",
        description="Variational autoencoders: train, evaluate, and use trained models.",
        epilog=EXAMPLES,
        formatter_class=Formatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def command(name: str, help_text: str, description: str = "") -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=textwrap.fill(description or help_text, 98),
            formatter_class=Formatter,
            allow_abbrev=False,
        )

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
    _common(p, device=False)

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
        "--out", metavar="FILE.json", help="where to write (default: RUN/evaluation.json)"
    )
    _run_data_options(p, "test")
    _common(p)

    p = command("sample", "decode samples from the prior")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument("--n", type=at_least(1), default=64, help="number of samples (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--label",
        type=at_least(0),
        default=None,
        help="conditional model: the class to generate (default: one row per class)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="a .png grid (a heatmap for vector data), .npy or .csv "
        "(default: RUN/samples_nN_seedS[_labelY].png)",
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
    _run_data_options(p, None)
    _common(p)

    p = command("encode", "write the latent means E[z|x] (dimensionality reduction)")
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument(
        "--out", metavar="FILE", help="z.npy or z.csv, (N, L) (default: RUN/z_SPLIT.npy)"
    )
    _run_data_options(p, None)
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
    _run_data_options(p, None)
    _common(p)

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

    search.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vaekit`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.argv = argv  # --devices hands them on to torchrun
    try:
        return dispatch(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(error_line("interrupted"), file=sys.stderr)
        return 130
    except Exception as e:  # one line for the user; the traceback with --debug
        if args.debug:
            raise
        print(error_line(describe(e)), file=sys.stderr)
        return 2 if expected(e) else 1
    finally:
        distributed = sys.modules.get(
            "vaekit.training.distributed"
        )  # imported only by what needs torch
        if distributed is not None:
            distributed.shutdown()


def dispatch(args: argparse.Namespace) -> int:
    """Call the function of ``args.command`` (imported lazily: --help stays fast)."""
    from vaekit.cli import commands
    from vaekit.cli.console import UsageError, launched_rank

    if launched_rank() is not None and args.command not in ("train", "evaluate"):
        raise UsageError(f"only train and evaluate run under torchrun, not {args.command}")
    if args.command == "search":
        return search.run(args)
    return getattr(commands, args.command)(args)


def expected(e: BaseException) -> bool:
    """Errors that are the user's to fix (bad input, paths, data), as opposed to vaekit bugs."""
    from vaekit.errors import VaekitError

    return isinstance(e, VaekitError | OSError)


def describe(e: BaseException) -> str:
    """One line for an exception: its message, with the file name for OS errors."""
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if expected(e):
        return str(e)
    if type(e).__module__.startswith("torch.distributed") or any(
        backend in str(e).lower() for backend in ("gloo", "nccl")
    ):
        return f"lost contact with the other ranks ({type(e).__name__}: {e})"
    return f"{type(e).__name__}: {e} (a bug in vaekit? rerun with --debug for the traceback)"
