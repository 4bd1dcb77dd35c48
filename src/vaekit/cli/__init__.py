"""The ``vaekit`` command (also ``python -m vaekit``): train, evaluate, sample, reconstruct,
encode, interpolate, info, serve, search, export.

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
from collections.abc import Sequence

from vaekit.cli import compress, export, score, search
from vaekit.cli.console import PipeSafe, error_line
from vaekit.cli.parsers import (
    Formatter,
    Parser,
    _common,
    _evaluate_parser,
    _run_parsers,
    _train_parser,
    _use_parsers,
    at_least,
)
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
  vaekit score runs/m16 --data fashion-mnist --out scores.csv   # anomaly score per example
  vaekit serve runs/m16                         # explore it at http://127.0.0.1:8000/
  vaekit export runs/m16 --format onnx --out m16-onnx   # encoder/decoder for ONNX Runtime
"""


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

    for add in (_train_parser, _evaluate_parser, _use_parsers, _run_parsers):
        add(command)
    search.add_parser(sub)
    export.add_parser(sub)
    compress.add_parsers(sub)
    score.add_parser(sub, _common, at_least, Formatter)
    from vaekit.cli import impute  # impute and inpaint: missing values (MIWAE)

    impute.add_parsers(sub)
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
    finished, stdout = False, sys.stdout
    sys.stdout = PipeSafe(stdout)
    try:
        status = dispatch(args)
        finished = True
        return status
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
        sys.stdout = stdout
        distributed = sys.modules.get(
            "vaekit.training.distributed"
        )  # imported only by what needs torch
        if distributed is not None:
            distributed.shutdown(finished)


def dispatch(args: argparse.Namespace) -> int:
    """Call the function of ``args.command`` (imported lazily: --help stays fast)."""
    from vaekit.cli import commands
    from vaekit.cli.console import UsageError, launched_rank

    if launched_rank() is not None and args.command not in ("train", "evaluate"):
        raise UsageError(f"only train and evaluate run under torchrun, not {args.command}")
    if args.command == "search":
        return search.run(args)
    if args.command == "export":
        return export.run(args)
    if args.command in compress.COMMANDS:
        return compress.run(args)
    if args.command == "score":
        return score.run(args)
    if args.command in ("impute", "inpaint"):
        from vaekit.cli import impute

        return impute.run(args)
    return getattr(commands, args.command)(args)


def expected(e: BaseException) -> bool:
    """Errors that are the user's to fix (bad input, paths, data), as opposed to vaekit bugs."""
    from vaekit.errors import VaekitError

    return isinstance(e, VaekitError | OSError)


def as_flags(message: str) -> str:
    """An API message in the CLI's words: ``likelihood="gaussian"`` -> ``--likelihood
    gaussian`` and a bare field name with an underscore (``label_column``) -> its flag, for the
    fields of the configs (the API names parameters, the CLI names flags)."""
    import dataclasses
    import re

    names = {f.name for c in (DataConfig, ModelConfig, TrainConfig) for f in dataclasses.fields(c)}
    names.discard("seed")  # two of them (--seed, --data-seed): leave it as it is
    alternatives = "|".join(sorted(names, key=len, reverse=True))

    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")

    message = re.sub(
        rf'\b({alternatives})=(?:"([^"]*)"|([^\s,;)]+))',
        lambda m: f"{flag(m.group(1))} {m.group(2) if m.group(2) is not None else m.group(3)}",
        message,
    )
    bare = "|".join(n for n in names if "_" in n)
    return re.sub(rf"(?<![-\w])({bare})\b", lambda m: flag(m.group(1)), message)


def describe(e: BaseException) -> str:
    """One line for an exception: its message (in the CLI's words, :func:`as_flags`), with the
    file name for OS errors."""
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if expected(e):
        return as_flags(str(e))
    if type(e).__module__.startswith("torch.distributed") or any(
        backend in str(e).lower() for backend in ("gloo", "nccl")
    ):
        return f"lost contact with the other ranks ({type(e).__name__}: {e})"
    return f"{type(e).__name__}: {e} (a bug in vaekit? rerun with --debug for the traceback)"
