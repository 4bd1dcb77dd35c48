"""The subcommands: each reads its arguments, calls the public API, and writes or prints the result.

No training or evaluation logic lives here; see :mod:`vaekit.api`,
:mod:`vaekit.evaluation.evaluate`, :mod:`vaekit.viz.report`.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from vaekit import api, runs
from vaekit.cli import options, tracking
from vaekit.cli.console import (
    ARRAY_FORMATS,
    IMAGE_FORMATS,
    UsageError,
    output_path,
    table,
    writable_folder,
    write_array,
)
from vaekit.cli.rows import feature_columns, select_data, write_per_example
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, Dataset, load_dataset
from vaekit.data.named import DATASETS, normalize_name
from vaekit.errors import VaekitError
from vaekit.model.likelihoods import resolve
from vaekit.model.vae import VAE
from vaekit.training import distributed
from vaekit.training.loop import resolve_device
from vaekit.viz import model_card, report


def progress(args: argparse.Namespace) -> bool | None:
    """Progress bars: off with --quiet, else on when stderr is a terminal (None lets tqdm users
    decide by that)."""
    return False if args.quiet else None


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
        out, data, params = resume_folder(args), None, None
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
        params = {"data": data_config, "model": model_config, "train": train_config}
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
    tracker = tracking.tracker_for(args, out, data, params)
    if tracker is not None:
        fit = functools.partial(fit, hooks=[tracker])
    try:
        model = fit()
    except KeyboardInterrupt:
        if not distributed.is_main():
            return 130
        print(f"vaekit: interrupted; {saved_text(out)}", file=sys.stderr)
        return 130
    if not distributed.is_main():
        return 0
    saved = api.read_config(out)
    data = data or load_dataset(saved["data"])
    path = report.write_report(model, data, out, saved["raw"], model.history)
    card = model_card.write(
        out, model, saved["raw"], model.history, runs.RunFolder(out).evaluation()
    )
    if tracker is not None:
        files = [out / runs.CONFIG, out / runs.METRICS, path, card]
        tracking.finish(tracker, model, data, files)
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
    argv, skip = [], False
    for word in args.argv:
        if skip or word == "--devices" or word.startswith("--devices="):
            skip = word == "--devices"
            continue
        argv.append(word)
    if args.out is None:
        argv += ["--out", str(out)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={args.devices}", "-m", "vaekit", *argv]
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


# -- commands on a run folder --------------------------------------------------------------------
def run_folder(path: str | Path) -> Path:
    """``path`` if it is a vaekit run folder, else a one-line :class:`UsageError`."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"no run folder at {path}")
    if not (path / runs.CONFIG).is_file():
        raise UsageError(f"{path} is not a vaekit run folder (no {runs.CONFIG})")
    return path


def load_run(args: argparse.Namespace) -> tuple[Path, VAE, dict[str, Any]]:
    run = run_folder(args.run)
    return run, api.load(run, args.device), api.read_config(run)


def conditions(model: VAE, y: torch.Tensor | None, data: Dataset) -> torch.Tensor | None:
    """The labels a conditional model needs for a split (None for an unconditional model)."""
    if not model.y_dim:
        return None
    if y is None:
        raise UsageError(f"this model is conditional, but {data.name} has no labels to give it")
    return y


def write_examples(
    x: torch.Tensor, path: Path, ncols: int, title: str, columns: list[str] | None = None
) -> None:
    """Examples (N, *shape) as an array file (a CSV headed by ``columns``, the data's feature
    names, if given), a PNG mosaic (images) or a heatmap (vectors)."""
    from vaekit.viz import plots  # matplotlib: slow to import, only needed for pictures

    if path.suffix.lower() != ".png":
        write_array(x.cpu().numpy(), path, columns)
    elif plots.is_image(x.shape[1:]):
        plots.save_mosaic(x, path, ncols)
    else:
        plots.save_rows_png(x, path, title)


def encode(args: argparse.Namespace) -> int:
    """Write the posterior means E[z|x] (N, L) of a split."""
    run, model, saved = load_run(args)
    data, split = select_data(args, saved)
    out = output_path(args.out or run / f"z_{split}.npy", ARRAY_FORMATS)
    x, y = data.split(split)
    z = model.encode(x, y=conditions(model, y, data)).cpu().numpy()  # (N, L)
    write_array(z, out, [f"z{j}" for j in range(z.shape[1])])
    order = ", in file order" if split == "all" else ""
    print(f"wrote {len(x)} latent means ({model.config.latent_dim}-D) of {split}{order} to {out}")
    return 0


def sample(args: argparse.Namespace) -> int:
    """Write n samples (means of p(x|z[, y]) for z ~ p(z)); a conditional model draws them all
    of class ``--label``, or without it one row per class."""
    run, model, saved = load_run(args)
    formats = IMAGE_FORMATS + ARRAY_FORMATS
    label = "" if args.label is None else f"_label{args.label}"
    out = output_path(args.out or run / f"samples_n{args.n}_seed{args.seed}{label}.png", formats)
    if args.label is not None and not model.y_dim:
        raise UsageError("--label needs a conditional model (trained with --conditional)")
    if args.label is not None and not 0 <= args.label < model.y_dim:
        raise UsageError(f"--label must lie in 0..{model.y_dim - 1}, got {args.label}")
    n, ncols, y = args.n, 8, args.label
    if model.y_dim and y is None:  # one row of samples per class
        ncols = max(1, args.n // model.y_dim)
        y = torch.arange(model.y_dim).repeat_interleave(ncols)  # (n,)
        n = len(y)
    x = model.sample(n, seed=args.seed, y=y)
    what = f" of class {args.label}" if args.label is not None else ""
    what = what or (f", one row per class ({model.y_dim} classes)" if model.y_dim else "")
    write_examples(x, out, ncols, f"{n} samples", feature_columns(None, saved))
    print(f"wrote {n} samples{what} to {out}")
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    """Write reconstructions; a PNG shows originals (top) above reconstructions (bottom)."""
    run, model, saved = load_run(args)
    data, split = select_data(args, saved)
    formats = IMAGE_FORMATS + ARRAY_FORMATS
    out = output_path(args.out or run / f"reconstructions_{split}.png", formats)
    x, y = data.split(split)
    x, y = (x[: args.n], None if y is None else y[: args.n]) if args.n > 0 else (x, y)
    x_hat = model.reconstruct(x, y=conditions(model, y, data))
    if out.suffix.lower() == ".png":
        write_examples(
            torch.cat([model.check_data(x), x_hat]), out, len(x), "top: x, bottom: x_hat"
        )
    else:
        write_array(x_hat.cpu().numpy(), out, feature_columns(data, saved))
    order = ", in file order" if split == "all" else ""
    print(f"wrote {len(x)} reconstructions of {split}{order} to {out}")
    return 0


def interpolate(args: argparse.Namespace) -> int:
    """Write the decoded line between the latent means of examples I and J of a split."""
    run, model, saved = load_run(args)
    data, split = select_data(args, saved)
    name = f"interpolate_{split}_{args.from_}_{args.to}.png"
    out = output_path(args.out or run / name, IMAGE_FORMATS + ARRAY_FORMATS)
    x, y = data.split(split)
    for index in (args.from_, args.to):
        if not 0 <= index < len(x):
            raise UsageError(f"index {index} is out of range: the {split} split has {len(x)} rows")
    y = conditions(model, y, data)
    y_a, y_b = (None, None) if y is None else (y[args.from_], y[args.to])
    strip = model.interpolate(x[args.from_], x[args.to], args.steps, y_a=y_a, y_b=y_b)
    write_examples(strip, out, args.steps, f"{split} {args.from_} -> {args.to}")
    print(f"wrote {args.steps} steps from {split}[{args.from_}] to {split}[{args.to}] to {out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate on a split, print a table, write evaluation.json (and refresh the report);
    ``--data FILE``: every row in file order, written only to ``--out``, never over the run's."""
    from vaekit.evaluation.evaluate import evaluate as run_evaluation

    run = run_folder(args.run)
    own = "dataset" not in options.given(args, DataConfig)
    own_file = run / runs.EVALUATION
    out = output_path(args.out, (".json",)) if args.out else (own_file if own else None)
    if not own and out is not None and out.resolve() == own_file.resolve():
        raise UsageError(f"--data must not overwrite {own_file}; choose another --out")
    per_example = output_path(args.per_example, (".csv",)) if args.per_example else None
    device = distributed.init(resolve_device(args.device))  # under torchrun: this rank's share
    model, saved = api.load(run, str(device)), api.read_config(run)
    with distributed.main_first():
        data, split = select_data(args, saved)
    result = run_evaluation(
        model,
        data,
        split=split,
        k=args.k,
        seed=args.seed,
        probes=args.probes and split != "all",  # probes need training rows apart from these
        progress=sys.stderr.isatty() and not args.quiet,
        per_example=per_example is not None,
    )
    if not distributed.is_main():
        return 0
    rows = result.pop("per_example", None)
    what = f"{data.name}, {split}" + (", every row in file order" if split == "all" else " split")
    print(table(report.flatten(result).items(), f"evaluation of {run} ({what})"))
    if per_example is not None and rows is not None:
        print(write_per_example(rows, data.split(split)[1], data.classes, per_example))
    if out is None:
        print("not written: pass --out FILE.json to keep this evaluation")
        return 0
    runs.RunFolder(run).write_evaluation(result, out)
    print(f"wrote {out}")
    if own and out == own_file and (run / runs.REPORT).exists():
        print(f"report: {report.write_report(model, data, run, saved['raw'], evaluation=result)}")
        model_card.write(run, model, saved["raw"], runs.RunFolder(run).history(), result)
    return 0


def info(args: argparse.Namespace) -> int:
    """Print a run's configuration, its final and best epochs, and its evaluation if any."""
    run = run_folder(args.run)
    raw = api.read_config(run)["raw"]
    for section in ("dataset", "model", "train", "data"):
        print(table(raw.get(section, {}).items(), section))
    folder = runs.RunFolder(run)
    s = runs.summarize(folder.history())
    if s is not None:
        keys = [k for k in s.last if k != "epoch"]
        print(table(((k, s.last[k]) for k in keys), f"final epoch ({s.last['epoch']})"))
        rows = ((k, s.best.get(k, "")) for k in keys)
        print(table(rows, f"best epoch by {s.score} ({s.best['epoch']})"))
        print(f"  training time: {s.seconds:.1f} s over {s.last['epoch']} epochs")
    else:
        print("no epochs completed yet")
    evaluation = folder.evaluation()
    if evaluation is not None:
        print(table(report.flatten(evaluation).items(), "evaluation"))
    if (run / runs.REPORT).exists():
        print(f"report: {run / runs.REPORT}")
    return 0


def serve(args: argparse.Namespace) -> int:
    """Serve the explorer of a run until Ctrl-C (see :mod:`vaekit.serve`)."""
    run = run_folder(args.run)
    if args.port > 65535:
        raise UsageError(f"--port must be <= 65535, got {args.port}")
    try:
        from vaekit.serve.app import serve as serve_run
    except ImportError as e:
        raise UsageError(
            f"vaekit serve needs the web packages ({e.name} is missing): "
            "pip install 'vaekit[serve]'"
        ) from None
    serve_run(run, args.host, args.port, args.device)
    return 0
