"""``vaekit train --log``: the tracking hook of a command-line run, and its final evaluation.

The trackers themselves are :mod:`vaekit.training.tracking`; this module only assembles one from
the command line (its destination checked before any training) and makes the final evaluation
it logs when training is done.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vaekit import api
from vaekit.cli.console import UsageError
from vaekit.data import Dataset, load_dataset
from vaekit.model.vae import VAE
from vaekit.viz import report

K_FINAL = 100  #: importance samples of the final evaluation (cheap, no probes)


def wanted(args: argparse.Namespace) -> bool:
    """Whether ``--log`` is given (a ``--log-dir`` without it is a usage error)."""
    if args.log is None and args.log_dir is not None:
        raise UsageError("--log-dir needs --log tensorboard or --log mlflow")
    return args.log is not None


def check(args: argparse.Namespace, out: Path) -> None:
    """Check the ``--log`` destination of the run in ``out`` as :func:`tracker_for` does, for
    ``--devices``: before torchrun starts, so a bad one is one error, not one per rank."""
    if wanted(args):
        from vaekit.training import tracking

        tracking.make_tracker(args.log, out, args.log_dir)


def tracker_for(args: argparse.Namespace, out: Path, data: Dataset | None) -> Any:
    """``--log``: the tracking hook for the run in ``out`` (None without ``--log``), its
    destination checked now, before anything is trained or written (``data``: a new run's
    data; a resumed run's is loaded from its saved configuration). It logs as hyperparameters
    the run's config.json as training writes it: the resolved configuration being trained
    (``auto`` resolved, a resumed run's extended epochs), the same keys for a new run and a
    resumed one."""
    if not wanted(args):
        return None
    from vaekit.training import tracking

    data = data if data is not None else load_dataset(api.read_config(out)["data"])
    _, x, y = report.held_out(data)

    def params() -> dict[str, Any]:  # at the first epoch: fit has written config.json
        return dict(api.read_config(out)["raw"])

    return tracking.make_tracker(args.log, out, args.log_dir, x, y, params)


def evaluation(tracker: Any, model: VAE, data: Dataset | None, out: Path) -> dict[str, Any] | None:
    """The final evaluation to log (k = :data:`K_FINAL` on the held-out split; None without a
    tracker). Under torchrun every rank calls it: the ranks share its importance samples."""
    if tracker is None:
        return None
    from vaekit.evaluation.evaluate import evaluate

    data = data if data is not None else load_dataset(api.read_config(out)["data"])
    return evaluate(model, data, report.held_out(data)[0], k=K_FINAL, probes=False)
