"""The model card: a README.md beside ``model.safetensors`` that a model hub renders.

A model folder (written by :func:`vaekit.save`) holds ``model.safetensors``, this ``README.md``
and, when the model has a training history, ``training_curves.png``. The README opens with YAML
front matter (``library_name: vaekit``, tags), which the Hugging Face Hub reads; then the data, the
configuration, the training curves and final epoch, the evaluation with its method (when known)
and how to load the model. :func:`vaekit.load` reads the folder back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vaekit import runs
from vaekit.config import to_dict
from vaekit.model.vae import VAE

CARD_FILE, CURVES_FILE = runs.CARD, runs.CURVES
TAGS = ("vaekit", "variational-autoencoder", "pytorch", "safetensors")
EVALUATION_KEYS = (
    "nll",
    "nll_stderr",
    "bits_per_dim",
    "elbo",
    "log_px_z",
    "kl_z",
    "active_units",
    "ess_fraction",
    "probe_accuracy",
)


def _table(rows: Sequence[tuple[str, Any]], head: tuple[str, str] = ("name", "value")) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "| --- | --- |"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in _flat(rows)]
    return "\n".join(lines)


def _flat(rows: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``rows`` with each nested mapping spread into rows of its own, named ``key.inner``
    (``probe_accuracy.vae_logistic``)."""
    out: list[tuple[str, Any]] = []
    for key, value in rows:
        if isinstance(value, Mapping) and value:
            out += _flat([(f"{key}.{k}", v) for k, v in value.items()])
        else:
            out.append((key, value))
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, Mapping):  # inside a list: inline, its numbers formatted alike
        return ", ".join(f"{_cell(k)}: {_cell(v)}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value).replace("|", "\\|")


def front_matter(model: VAE, dataset: str | None) -> str:
    """The YAML header a model hub reads: library, tags (and the dataset, as a tag)."""
    tags = [*TAGS, f"likelihood-{model.likelihood.name}", f"prior-{model.config.prior}"]
    if dataset:
        tags.append(f"dataset-{dataset}")
    if model.y_dim:
        tags.append("conditional")
    return "---\nlibrary_name: vaekit\ntags:\n" + "".join(f"- {t}\n" for t in tags) + "---\n"


def render(
    model: VAE,
    config: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    curves: str | None = None,
) -> str:
    """The README text. ``config``: the run's config.json (model, train, data, dataset sections);
    ``history``: its per-epoch records; ``evaluation``: its evaluation.json; ``curves``: the file
    name of the training curve figure beside it."""
    config = config or {}
    info = config.get("dataset", {})
    name = info.get("name")
    parts = [front_matter(model, name)]
    parts.append(f"# {name + ' ' if name else ''}VAE (vaekit)\n")
    parts.append(
        f"A variational autoencoder with a {model.config.latent_dim}-dimensional latent, "
        f"a {model.likelihood.name} likelihood p(x|z) and a {model.config.prior} prior p(z)"
        + (f", conditional on {model.y_dim} classes" if model.y_dim else "")
        + ", trained with vaekit.\n"
    )
    data_rows = [("dataset", name), ("example shape", list(model.shape)), ("values", model.kind)]
    data_rows += [(k, info[k]) for k in ("n_train", "n_val", "n_test") if k in info]
    data_rows.append(("standardised inside the model", model.standardized))
    parts += ["## Data\n", _table(data_rows) + "\n"]
    model_config = config.get("model", to_dict(model.config))
    parts += ["## Configuration\n", "Model:\n", _table(list(model_config.items())) + "\n"]
    if "train" in config:
        parts += ["Training:\n", _table(list(config["train"].items())) + "\n"]
    if history:
        parts.append("## Training\n")
        if curves:
            parts.append(f"![training curves: ELBO, log p(x|z) and KL per epoch]({curves})\n")
        last = history[-1]
        rows = [(k, v) for k, v in last.items() if k != "epoch"]
        parts += [f"Epoch {last['epoch']} of {len(history)} (nats per example):\n", _table(rows)]
        parts.append("")
    parts.append("## Evaluation\n")
    if evaluation:
        method = evaluation.get("method", "not recorded")
        split, n = evaluation.get("split", "?"), evaluation.get("n_examples", "?")
        where = f"{split} split, {n} examples"
        rows = [(k, evaluation[k]) for k in EVALUATION_KEYS if evaluation.get(k) is not None]
        parts += [f"Method: {method}; {where}. Nats per example.\n", _table(rows) + "\n"]
    else:
        parts.append("Not evaluated; `vaekit evaluate RUN` gives the importance-sampled NLL.\n")
    parts += [
        "## Use\n",
        "```python\nimport vaekit\n\n"
        'model = vaekit.load("path/to/this/folder")  # or the folder snapshot_download gives\n'
        "x = model.sample(16, seed=0)" + (", y=0" if model.y_dim else "") + "  # new examples\n"
        "z = model.encode(x_data)" + (", y=labels" if model.y_dim else "") + "  # latent means\n"
        "```\n",
    ]
    return "\n".join(parts)


def write(
    folder: str | Path,
    model: VAE,
    config: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``folder/README.md`` (and ``training_curves.png`` with a history); its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    curves = None
    if history:
        from vaekit.viz import plots  # matplotlib: slow to import, only needed for pictures

        plots.save_figure(
            plots.loss_curves_figure([dict(r) for r in history]), folder / CURVES_FILE
        )
        curves = CURVES_FILE
    path = folder / CARD_FILE
    return runs.write_text(path, render(model, config, history, evaluation, curves))
