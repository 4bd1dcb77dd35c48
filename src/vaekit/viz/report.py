"""The run report: a trained model's pictures, drawn into its run folder, and ``report.html``.

``report.html`` is one self-contained file (pictures embedded as base64 PNG data URIs, inline
CSS, no JavaScript), so it opens offline and survives being mailed or moved. The same pictures
are also written beside it as PNG files:

- ``loss_curves.png``: ELBO, log p(x|z) and KL per epoch, train and validation;
- ``samples.png``: decoded samples z ~ p(z);
- ``reconstructions.png``: held-out originals above their reconstructions;
- ``latent_map.png``: held-out latent means, coloured by label where there are labels (PCA
  when L > 2);
- ``manifold.png``: for a 2-D latent, the decoded grid over standard-normal quantiles.

For vector data (event shape (D,)) ``samples.png`` and ``reconstructions.png`` show feature-wise
comparisons instead (histograms of data vs samples; original vs reconstruction scatter) and there
is no manifold picture. The held-out split is the test split (validation, then training, when
the test split is empty).
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from vaekit.data import Dataset
from vaekit.model.vae import VAE
from vaekit.runs import CONFIG, RunFolder, summarize

MAX_POINTS = 5000  # latent map: at most this many held-out examples


@dataclass(frozen=True)
class Picture:
    """One picture of the report: its PNG file name in the run folder, a title and a caption."""

    file: str
    title: str
    caption: str


def held_out(data: Dataset) -> tuple[str, Tensor, Tensor | None]:
    """``(split name, x, y)`` of the split pictures use: test, else validation, else training."""
    for name in ("test", "val", "train"):
        x, y = data.split(name)
        if len(x):
            return name, x, y
    raise AssertionError("a Dataset always has training data")  # pragma: no cover


def draw_pictures(
    model: VAE,
    data: Dataset,
    out: str | Path,
    history: Sequence[dict[str, Any]],
    n_samples: int = 64,
    n_reconstructions: int = 10,
    seed: int = 0,
) -> list[Picture]:
    """Draw the report's pictures of ``model`` on ``data`` into the folder ``out`` (PNG files)."""
    from vaekit.viz import plots  # matplotlib: slow to import, only needed here

    out = Path(out)
    split, x, y = held_out(data)
    image = plots.is_image(data.shape)
    value_range = plots.display_range(x) if image else None
    pictures: list[Picture] = []

    def add(fig: Any, file: str, title: str, caption: str) -> None:
        plots.save_figure(fig, out / file)
        pictures.append(Picture(file, title, caption))

    if history:
        add(
            plots.loss_curves_figure(history),
            "loss_curves.png",
            "Training curves",
            "Per-example means in nats; higher ELBO and log p(x|z) are better. "
            "Solid: training (averaged over the epoch), dashed: validation (end of epoch).",
        )
    ncols, y_samples = 8, None
    if model.y_dim:  # a conditional model: one row per class
        ncols = max(1, min(10, n_samples // model.y_dim))
        y_samples = torch.arange(model.y_dim).repeat_interleave(ncols)  # (C * ncols,)
        n_samples = len(y_samples)
    samples = model.sample(n_samples, seed=seed, y=y_samples)  # (n, *shape)
    if image:
        fig = plots.images_figure(samples, f"{n_samples} samples (seed {seed})", ncols, value_range)
        caption = "Means of p(x|z) for z drawn from the prior p(z)." + (
            " One row per class: row c decodes with the label c." if model.y_dim else ""
        )
    else:
        n = max(len(x), 500)
        y_n = None if not model.y_dim else torch.arange(n) % model.y_dim
        fig = plots.marginals_figure(x, model.sample(n, seed=seed, y=y_n))
        caption = (
            f"Histograms of the {split} data beside the model's samples (decoder means for "
            "z ~ p(z), so narrower than the data: the noise of p(x|z) is not added)."
        )
    add(fig, "samples.png", "Samples", caption)

    originals = x[:n_reconstructions] if image else x[:MAX_POINTS]
    c = None if not model.y_dim or y is None else y[: len(originals)]
    x_hat = model.reconstruct(originals, y=c)
    if image:
        fig = plots.reconstructions_figure(originals, x_hat)
    else:
        fig = plots.reconstruction_scatter_figure(originals, x_hat)
    add(fig, "reconstructions.png", "Reconstructions", f"First examples of the {split} split.")

    c = None if not model.y_dim or y is None else y[:MAX_POINTS]
    z = model.encode(x[:MAX_POINTS], y=c)  # (N, L) posterior means
    labels = None if y is None else y[:MAX_POINTS]
    add(
        plots.latent_map_figure(z, labels, data.classes),
        "latent_map.png",
        "Latent map",
        f"Posterior means of {len(z)} {split} examples"
        + (", coloured by label." if labels is not None else " (the data has no labels)."),
    )
    if image and model.config.latent_dim == 2 and not model.y_dim:
        add(
            plots.manifold_figure(model, 15, value_range),
            "manifold.png",
            "Decoded manifold",
            "Decoder means over a grid of z at standard-normal quantiles (the prior's mass).",
        )
    return pictures


def data_line(data: Dataset, likelihood: str) -> str:
    """``data: NAME, kind grey, 1 channel, 256 levels; likelihood discretized-logistic`` (for
    images; ``N features`` for vectors)."""
    if len(data.shape) == 3:
        size = f"{data.channels} channel" + ("s" if data.channels > 1 else "")
    else:
        size = f"{data.n_features} features"
    levels = f", {data.levels} levels" if data.levels else ""
    return f"data: {data.name}, kind {data.kind}, {size}{levels}; likelihood {likelihood}"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def metrics_rows(
    history: Sequence[dict[str, Any]], evaluation: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """The report's metric table: the final epoch, the best epoch, time, and any evaluation."""
    rows: list[tuple[str, str]] = []
    s = summarize(history)
    if s is not None:
        rows.append(("epochs trained", str(s.last["epoch"])))
        rows.append(("training time (s)", f"{s.seconds:.1f}"))
        for split in ("train", "val"):
            for term in ("elbo", "log_px_z", "kl_z"):
                if f"{split}_{term}" in s.last:
                    rows.append(
                        (f"final {split}_{term} (nats)", _number(s.last[f"{split}_{term}"]))
                    )
        best = f"{_number(s.best[s.score])} at epoch {s.best['epoch']}"
        rows.append((f"best {s.score} (nats)", best))
    for key, value in flatten(evaluation or {}).items():
        rows.append((f"evaluation: {key}", _number(value)))
    return rows


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys; scalars (numbers, strings, bools) only."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, str | int | float | bool) or value is None:
            out[f"{prefix}{key}"] = value
    return out


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
td.v { font-family: monospace; }
figure { margin: 1.5em 0; } img { max-width: 100%; image-rendering: pixelated; }
figcaption { color: #555; font-size: 0.9em; } .note { color: #555; }
"""


def render_html(
    title: str,
    rows: Sequence[tuple[str, str]],
    config: dict[str, Any],
    pictures: Sequence[Picture],
    folder: Path,
    note: str = "",
) -> str:
    """The HTML text of the report; each picture is read from ``folder`` and embedded."""
    esc = html.escape
    table = "".join(f"<tr><td>{esc(k)}</td><td class=v>{esc(v)}</td></tr>" for k, v in rows)
    sections = []
    for name, values in config.items():
        if isinstance(values, dict):
            body = "".join(
                f"<tr><td>{esc(k)}</td><td class=v>{esc(json.dumps(v))}</td></tr>"
                for k, v in values.items()
            )
            sections.append(f"<h3>{esc(name)}</h3><table>{body}</table>")
    figures = []
    for p in pictures:
        data = base64.b64encode((folder / p.file).read_bytes()).decode("ascii")
        figures.append(
            f"<figure><h2>{esc(p.title)}</h2><img alt='{esc(p.title)}' "
            f"src='data:image/png;base64,{data}'><figcaption>{esc(p.caption)} "
            f"({esc(p.file)})</figcaption></figure>"
        )
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
        f"<p class=note>{esc(note)}</p><h2>Metrics</h2><table>{table}</table>"
        f"{''.join(figures)}<h2>Configuration</h2>{''.join(sections)}</body></html>\n"
    )


def write_report(
    model: VAE,
    data: Dataset,
    out: str | Path,
    config: dict[str, Any] | None = None,
    history: Sequence[dict[str, Any]] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> Path:
    """Draw the pictures of ``model`` into the run folder ``out`` and write ``out/report.html``.

    ``config``: the run's resolved config (``config.json``; read from ``out`` when None);
    ``history``: its epochs (``metrics.jsonl``); ``evaluation``: ``evaluation.json``, if any.
    Returns the path of the report.
    """
    out = Path(out)
    run = RunFolder(out)
    history = run.history() if history is None else history
    evaluation = run.evaluation() if evaluation is None else evaluation
    if config is None:
        config = run.config()["raw"] if (out / CONFIG).is_file() else {}
    out.mkdir(parents=True, exist_ok=True)
    pictures = draw_pictures(model, data, out, history)
    note = f"Run folder {out.resolve()}, written {time.strftime('%Y-%m-%d %H:%M:%S')}. "
    note += data_line(data, model.config.likelihood) + "."
    if evaluation is None:
        note += f" Test-set likelihood and probes: vaekit evaluate {out}"
    title = f"vaekit run: {data.name}, {model.config.latent_dim}-D latent"
    text = render_html(title, metrics_rows(history, evaluation), config, pictures, out, note)
    return run.write_report(text)
