"""``vaekit train --log``: the tracking hook of a command-line run, and its final evaluation.

The trackers themselves are :mod:`vaekit.training.tracking`; this module only assembles one from
the command line and closes it after training.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vaekit import api
from vaekit.cli.console import UsageError
from vaekit.data import Dataset, load_dataset
from vaekit.model.vae import VAE
from vaekit.viz import report

K_FINAL = 100  #: importance samples of the final evaluation (cheap, no probes)


def tracker_for(
    args: argparse.Namespace, out: Path, data: Dataset | None, configs: dict[str, Any] | None
) -> Any:
    """``--log``: the tracking hook for the run in ``out`` (None without ``--log``), logging
    ``configs`` (default: the resumed run's saved configuration) as hyperparameters."""
    if args.log is None:
        if args.log_dir is not None:
            raise UsageError("--log-dir needs --log tensorboard or --log mlflow")
        return None
    from vaekit.training import tracking

    if configs is None:
        saved = api.read_config(out)
        data = data if data is not None else load_dataset(saved["data"])
        params = saved["raw"]
    else:
        assert data is not None, "a new run passes its data"
        params = {k: dataclasses.asdict(c) for k, c in configs.items()}
    _, x, y = report.held_out(data)
    return tracking.make_tracker(args.log, out, args.log_dir, x, y, params)


def finish(tracker: Any, model: VAE, data: Dataset, files: Sequence[Path]) -> None:
    """Log the final evaluation (k = :data:`K_FINAL` on the held-out split) and ``files``."""
    from vaekit.evaluation.evaluate import evaluate

    split = report.held_out(data)[0]
    tracker.close(evaluate(model, data, split, k=K_FINAL, probes=False), files)
