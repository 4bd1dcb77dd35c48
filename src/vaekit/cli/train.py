"""``vaekit train``: a new run, a resumed one, or one launched data-parallel under torchrun."""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vaekit import api, runs
from vaekit.cli import options, tracking
from vaekit.cli.console import UsageError, progress, run_folder, writable_folder
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.data.named import DATASETS, normalize_name
from vaekit.errors import VaekitError
from vaekit.model.likelihoods import resolve
from vaekit.training import distributed
from vaekit.training.loop import resolve_device
from vaekit.viz import model_card, report


def default_run_folder(dataset: str) -> Path:
    """``runs/<dataset>-<YYYYmmdd-HHMMSS>`` (a suffix if that exists), relative to the cwd."""
    name = normalize_name(dataset) if normalize_name(dataset) in DATASETS else Path(dataset).stem
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


# -- train -------------------------------------------------------------------------------------
def train(args: argparse.Namespace) -> int:
    """Train a model, write the run folder and its report, print where the report is.

    Under torchrun every rank runs this; rank 0 alone writes the report and prints.
    """
    if args.resume:
        out, data = resume_folder(args), None
        extended = options.build(args, TrainConfig, base=api.read_config(out)["train"])
        if args.devices > 1:
            return launch(args, out)
        distributed.init(resolve_device(extended.device))
        fit = functools.partial(
            api.fit, train_config=extended, out=out, resume=True, progress=progress(args)
        )
    else:
        bases = config_file(args.config) if args.config else {}
        data_config, model_config, train_config = (
            options.build(args, c, bases.get(c)) for c in (DataConfig, ModelConfig, TrainConfig)
        )
        out = Path(args.out) if args.out is not None else default_run_folder(data_config.dataset)
        if not distributed.launched():  # before loading data; under torchrun rank 0 checks
            runs.RunFolder(out).check(overwrite=args.overwrite)
        writable_folder(out)
        if args.devices > 1:
            return launch(args, out)
        distributed.init(resolve_device(train_config.device))
        out = distributed.broadcast(out)  # the default name has the time: rank 0's counts
        writable_folder(out)
        with distributed.main_first():  # one download into the data folder, then reads
            data = load_dataset(data_config)
        if distributed.is_main() and not args.quiet:
            print(report.data_line(data, resolve(model_config, data.kind, data.levels).likelihood))
        fit = functools.partial(
            api.fit,
            data,
            model_config,
            train_config,
            data_config=data_config,
            out=out,
            overwrite=args.overwrite,
            progress=progress(args),
        )
    tracker = tracking.tracker_for(args, out, data)  # checks where it logs: before training
    if tracker is not None:
        fit = functools.partial(fit, hooks=[tracker])
    try:
        return finish(fit, tracker, data, out, args)
    except KeyboardInterrupt:  # in training, or after it, while the report is drawn
        if not distributed.is_main():
            return 130
        print(f"vaekit: interrupted; {saved_text(out)}", file=sys.stderr)
        return 130


def finish(fit: Any, tracker: Any, data: Any, out: Path, args: argparse.Namespace) -> int:
    """Train (``fit()``), then on rank 0 write the report and model card and say what was done."""
    model = fit()
    final = tracking.evaluation(tracker, model, data, out)  # every rank: they share the samples
    if not distributed.is_main():
        return 0
    saved = api.read_config(out)
    data = data or load_dataset(saved["data"])
    path = report.write_report(model, data, out, saved["raw"], model.history)
    card = model_card.write(
        out, model, saved["raw"], model.history, runs.RunFolder(out).evaluation()
    )
    if tracker is not None:
        tracker.close(final, [out / runs.CONFIG, out / runs.METRICS, path, card])
    summary = runs.summarize(model.history)
    if summary is not None and not args.quiet:
        last, score = summary.last, summary.score
        print(
            f"trained {last['epoch']} epochs ({summary.seconds:.1f} s of training steps); "
            f"final {score} {last[score]:.3f} nats per example"
        )
        print(f"run folder: {out}")
    print(f"report: {path}")
    return 0


def saved_text(out: Path) -> str:
    """What an interrupted run left: the epoch of its training state, the one a resume uses."""
    try:
        epoch = runs.RunFolder(out).saved_epoch()
    except (VaekitError, OSError) as e:  # printed on the way out: it must not fail itself
        return f"the training state in {out} is unreadable ({e})"
    if epoch == 0:
        return "no epoch was saved"
    return f"epoch {epoch} is saved in {out}. Resume with: vaekit train --resume --out {out}"


def launch(args: argparse.Namespace, out: Path) -> int:
    """``--devices N``: run this same command in N processes under torchrun, on this machine.

    The children get ``--out`` (so all write one folder) and no ``--devices``; torchrun stops
    them all and exits non-zero, naming the rank, if one fails.
    """
    if distributed.launched():
        raise UsageError("--devices starts torchrun itself; under torchrun, drop it")
    tracking.check(args, out)
    argv, skip = [], False
    for word in args.argv:
        if skip or word == "--devices" or word.startswith("--devices="):
            skip = word == "--devices"
            continue
        argv.append(word)
    if args.out is None:
        argv += ["--out", str(out)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    # after "--" torchrun reads none of vaekit's options (--log is ambiguous to its parser)
    command += [f"--nproc-per-node={args.devices}", "-m", "--", "vaekit", *argv]
    with subprocess.Popen(command) as torchrun:
        try:
            return torchrun.wait()
        except KeyboardInterrupt:  # Ctrl-C reached torchrun too; it stops its workers
            return torchrun.wait()


def config_file(path: str | Path) -> dict[type, Any]:
    """The configs of a JSON file with ``model``, ``train`` and/or ``data`` sections (as in a
    run's config.json), by class; a missing section keeps its defaults."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no configuration file at {path}")
    raw = runs.read_json(path)
    sections = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
    if not isinstance(raw, dict) or not set(raw) & set(sections):
        raise UsageError(f"{path} has none of the sections {', '.join(sections)}")
    return {
        cls: runs.checked(cls, raw[key], f"{path}: {key}")
        for key, cls in sections.items()
        if key in raw
    }


def resume_folder(args: argparse.Namespace) -> Path:
    """The run folder to resume, after checking that no option but --epochs was given with it."""
    if args.out is None:
        raise UsageError("--resume needs the run folder: vaekit train --resume --out RUN")
    if args.config:
        raise UsageError("--resume continues with the run's saved configuration; drop --config")
    if args.overwrite:
        raise UsageError(
            "--resume continues the run in --out and --overwrite replaces it; pick one"
        )
    clash = [
        options.option_name(k, {"seed": "data_seed"} if c is DataConfig else {})
        for c in (DataConfig, ModelConfig, TrainConfig)
        for k in options.given(args, c)
        if not (c is TrainConfig and k == "epochs")
    ]
    if clash:
        raise UsageError(
            f"--resume continues with the run's saved configuration (only --epochs may "
            f"extend it); drop {', '.join(clash)}"
        )
    return run_folder(args.out)
