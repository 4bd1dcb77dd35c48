"""The subcommands: each reads its arguments, calls the public API, and writes or prints the result.

No training or evaluation logic lives here; see :mod:`vaekit.api`,
:mod:`vaekit.evaluation.evaluate`, :mod:`vaekit.viz.report`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from vaekit import api, runs
from vaekit.cli import options
from vaekit.cli.console import (
    ARRAY_FORMATS,
    IMAGE_FORMATS,
    UsageError,
    output_path,
    run_folder,
    table,
    write_array,
)
from vaekit.cli.rows import examples, feature_columns, select_data, write_per_example
from vaekit.cli.train import train  # noqa: F401 (a command: dispatch finds it here)
from vaekit.data import DataConfig, Dataset
from vaekit.model.vae import VAE
from vaekit.training import distributed
from vaekit.training.loop import resolve_device
from vaekit.viz import model_card, report


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
    x, y = examples(data, split, "encode")
    z = model.encode(x, y=conditions(model, y, data)).cpu().numpy()  # (N, L)
    write_array(z, out, [f"z{j}" for j in range(z.shape[1])])
    order = ", in file order" if split == "all" else ""
    print(f"wrote {len(x)} latent means ({model.config.latent_dim}-D) of {split}{order} to {out}")
    return 0


def class_label(text: str | None, model: VAE, saved: dict[str, Any]) -> tuple[int | None, str]:
    """``--label``: a class name of the run (config.json's dataset.classes) or its number
    0..K-1, as ``(number, name)``; ``(None, "")`` without it. :class:`UsageError` for an
    unconditional model, an unknown name or a number out of range."""
    if text is None:
        return None, ""
    if not model.y_dim:
        raise UsageError("--label needs a conditional model (trained with --conditional)")
    names = api.dataset_names(saved, "classes")
    if names and text in names:
        return names.index(text), text
    try:
        label = int(text)
    except ValueError:
        known = f"its classes are {', '.join(names)}" if names else "its labels are numbers"
        raise UsageError(
            f"--label {text!r} is no class of this model: {known} (or 0..{model.y_dim - 1})"
        ) from None
    if not 0 <= label < model.y_dim:
        raise UsageError(f"--label must lie in 0..{model.y_dim - 1}, got {label}")
    return label, names[label] if names and label < len(names) else str(label)


def sample(args: argparse.Namespace) -> int:
    """Write n samples (means of p(x|z[, y]) for z ~ p(z)); a conditional model draws them all
    of class ``--label`` (a name or a number), or without it one row per class."""
    run, model, saved = load_run(args)
    label, name = class_label(args.label, model, saved)
    formats = IMAGE_FORMATS + ARRAY_FORMATS
    suffix = "" if label is None else f"_label{label}"
    out = output_path(args.out or run / f"samples_n{args.n}_seed{args.seed}{suffix}.png", formats)
    n, ncols = args.n, 8
    if model.y_dim and label is None:  # one row of samples per class
        ncols = max(1, args.n // model.y_dim)
        classes = torch.arange(model.y_dim).repeat_interleave(ncols)  # (n,)
        n = len(classes)
        x = model.sample(n, seed=args.seed, y=classes)
    else:
        x = model.sample(n, seed=args.seed, y=label)
    what = f" of class {name}" if label is not None else ""
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
    x, y = examples(data, split, "reconstruct")
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
    x, y = examples(data, split, "interpolate")
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
