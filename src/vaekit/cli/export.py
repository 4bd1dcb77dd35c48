"""``vaekit export``: the command-line face of :func:`vaekit.export.export`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Add the ``export`` subcommand to an ``argparse`` subparsers object; see :func:`run`."""
    p = subparsers.add_parser(
        "export",
        help="write the encoder and decoder as ONNX or TorchScript, with a JSON card",
        description="Write RUN's encoder (x -> posterior mean and log-variance; NaN marks a "
        "missing entry for a model trained on incomplete data) and decoder (z -> the parameters "
        "of p(x|z)) with a dynamic batch size, and card.json (shapes, likelihood, "
        "standardisation, numpy recipes for the mean and a sample). All or nothing: a failed "
        "export leaves --out as it was. ONNX needs the export extra: "
        "pip install 'vaekit[export]'.",
    )
    p.add_argument("run", metavar="RUN", help="run or model folder, or a .safetensors file")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("onnx", "torchscript"),
        default="onnx",
        help="onnx (encoder.onnx, decoder.onnx) or torchscript (encoder.pt, decoder.pt) "
        "(default: onnx)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder to write: new, empty or a previous export's, which is replaced "
        "(default: RUN/export-FORMAT)",
    )
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    """Export the model of ``args.run``; print the folder written."""
    from vaekit import api
    from vaekit.export import export

    source = Path(args.run)
    model = api.load(source)
    folder = source if source.is_dir() else source.parent
    out = Path(args.out) if args.out else folder / f"export-{args.fmt}"
    export(model, out, args.fmt)
    if not args.quiet:
        print(f"exported: {out}")
    return 0
