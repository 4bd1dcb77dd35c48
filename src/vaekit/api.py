"""The Python API: ``fit`` a model on a dataset name, a path, a :class:`Dataset` or an array;
``load`` and ``save`` it. Everything else is a method of the returned :class:`VAE`::

    import vaekit
    model = vaekit.fit("digits", vaekit.ModelConfig(latent_dim=2), vaekit.TrainConfig(epochs=20))
    z = model.encode(x)            # posterior means (N, 2)
    x_new = model.sample(16, seed=0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit import runs
from vaekit.config import ModelConfig, TrainConfig, to_dict
from vaekit.data import DataConfig, Dataset, from_arrays, load_dataset
from vaekit.data.named import DATASETS, normalize_name
from vaekit.data.splits import observed_moments, relabel, reorder_columns
from vaekit.errors import CheckpointError, ConfigError
from vaekit.model.likelihoods import GaussianLikelihood
from vaekit.model.vae import VAE
from vaekit.training import checkpoint, distributed
from vaekit.training.loop import Hook, LoopState, resolve_device, train

CONFIG_FILE = runs.CONFIG


def build(model_config: ModelConfig, data: Dataset, device: str | torch.device = "cpu") -> VAE:
    """An untrained VAE shaped for ``data`` (its event shape, value kind, levels and
    standardisation; with ``model_config.conditional``, its number of classes). A learned
    Gaussian scale starts at the data's per-feature spread (1 for standardized data)."""
    y_dim = n_classes(data) if model_config.conditional else 0
    vae = VAE(model_config, data.shape, data.kind, data.loc, data.scale, y_dim, data.levels)
    if isinstance(vae.likelihood, GaussianLikelihood) and not vae.standardized:
        vae.likelihood.init_scale(observed_spread(data.x_train))  # (*shape)
    return vae.to(device)


def observed_spread(x: torch.Tensor) -> torch.Tensor:
    """The per-feature standard deviation (*shape) of the observed entries of ``x`` (N, *shape),
    missing values (NaN) left out; a feature with no observed entry takes the mean spread of
    the others (1 if none has one)."""
    if not x.isnan().any():  # complete data: as before missing values were allowed
        return x.std(dim=0, correction=0)
    _, spread = observed_moments(x.double())  # (*shape), NaN where nothing is observed
    fallback = float(spread.nanmean().nan_to_num(1.0))
    return spread.nan_to_num(nan=fallback).float()


def n_classes(data: Dataset) -> int:
    """The number of label classes of ``data`` (its class names, else the largest label + 1)."""
    if data.y_train is None:
        raise ConfigError(
            f"a conditional model needs labels, and the dataset {data.name!r} has none"
        )
    if data.classes:
        return len(data.classes)
    return 1 + max(
        int(y.max()) for y in (data.y_train, data.y_val, data.y_test) if y is not None and len(y)
    )


def as_dataset(
    data: Dataset | DataConfig | str | Path | np.ndarray | torch.Tensor,
    data_config: DataConfig | None = None,
    **data_options: Any,
) -> tuple[Dataset, DataConfig]:
    """Turn any accepted data argument into a loaded :class:`Dataset` (and its config).

    ``data_options``: fields of :class:`DataConfig` (``label_column="diagnosis"``,
    ``val_fraction=0.2``, ...) applied over ``data_config``; not for a loaded Dataset."""
    fields = {f.name for f in dataclasses.fields(DataConfig)} - {"dataset"}
    unknown = sorted(set(data_options) - fields)
    if unknown:
        raise ConfigError(
            f"unknown data option {', '.join(unknown)}; the DataConfig fields are "
            f"{', '.join(sorted(fields))}"
        )
    if isinstance(data, Dataset):
        if data_options:
            raise ConfigError(
                f"{', '.join(sorted(data_options))} apply when data is loaded here (a name, a "
                "path or an array), not to an already loaded Dataset"
            )
        return data, data_config or DataConfig(dataset=data.name)
    if isinstance(data, DataConfig):
        config = dataclasses.replace(data, **data_options)
        return load_dataset(config), config
    if isinstance(data, str | Path):
        base = data_config or DataConfig()
        config = dataclasses.replace(base, dataset=str(data), **data_options)
        return load_dataset(config), config
    config = dataclasses.replace(data_config or DataConfig(dataset="array"), **data_options)
    return from_arrays(np.asarray(data), config=config), config


def fit(
    data: Dataset | DataConfig | str | Path | np.ndarray | torch.Tensor | None = None,
    model: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    data_config: DataConfig | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    hooks: Sequence[Hook] = (),
    **data_options: Any,
) -> VAE:
    """Train a VAE and return it (its epoch history is in ``model.history``).

    ``data``: a dataset name (``digits``, the default, ``mnist``, ...), a file or folder path, a
    loaded :class:`Dataset`, or an array (N, ...) of examples. ``data_options``: any field of
    :class:`DataConfig` by name, e.g. ``fit("data.csv", label_column="diagnosis")``,
    ``image_size="32x32"``, ``val_fraction=0.2`` (over ``data_config`` if given as well).
    ``out``: a run folder that receives config.json, metrics.jsonl and the checkpoints. With
    ``resume=True`` an interrupted run in
    ``out`` continues from its last completed epoch with its own saved configuration (and its
    saved data source, unless ``data`` is given again, as it must be for in-memory arrays); a
    ``train_config`` may then only change ``epochs``, to extend a finished run. Data with missing
    values (NaN) trains with ``DataConfig(missing="allow")``: the model gets the MIWAE encoder
    (``ModelConfig.mask_input``) and the bound of the observed entries (Mattei & Frellsen 2019).
    A run folder is
    never replaced by accident: ``out`` holding a run needs ``resume=True`` or ``overwrite=True``
    (which removes the old run's files, its evaluation included) (:class:`RunExistsError`).

    Under torchrun (several processes) every rank calls ``fit`` alike: it joins the process
    group, trains data-parallel (``batch_size`` is the global batch) and only rank 0 writes ``out``.
    """
    if out is not None and not distributed.launched():  # under torchrun rank 0 checks, below
        runs.RunFolder(out).check(resume, overwrite)  # read only: before anything is loaded
    if resume:
        if out is None:
            raise ConfigError("resume needs the run folder (out=...)")
        model, train_config, dataset, data_config = _resume_setup(
            out, model, train_config, data, data_config, data_options
        )
    else:
        model, train_config = model or ModelConfig(), train_config or TrainConfig()
        data = "digits" if data is None else data
        dataset, data_config = as_dataset(data, data_config, **data_options)
        if data_config.missing == "allow":  # incomplete data: the MIWAE encoder (data and mask)
            model = dataclasses.replace(model, mask_input=True)
    device = distributed.init(resolve_device(train_config.device))
    if out is not None and distributed.is_main():  # rank 0 alone: it may remove an old run
        runs.RunFolder(out).prepare(resume, overwrite)
    torch.manual_seed(train_config.seed)
    vae = build(model, dataset, device)
    if out is not None and distributed.is_main():
        write_config(out, vae.config, train_config, data_config, dataset)
    state: LoopState = train(
        vae,
        dataset.x_train,
        dataset.x_val,
        train_config,
        y_train=dataset.y_train,
        y_val=dataset.y_val,
        binarize=dataset.binarize,
        out=out,
        resume=resume,
        hooks=hooks,
        progress=progress,
    )
    vae.history = [runs.canonical(r) for r in state.history]
    vae.run_config = run_config(model, train_config, data_config, dataset)  # for save's card
    return vae.eval()


def _resume_setup(
    out: str | Path,
    model: ModelConfig | None,
    train_config: TrainConfig | None,
    data: Any,
    data_config: DataConfig | None,
    data_options: dict[str, Any],
) -> tuple[ModelConfig, TrainConfig, Dataset, DataConfig]:
    """The saved configs of the run in ``out`` (``epochs`` may grow) and its data, reloaded (or
    ``data``, which must be the same); :class:`ConfigError` for any other change."""
    saved = read_config(out)
    if model is not None and not _same_model(model, saved["model"]):
        raise ConfigError("resume continues the saved model; it cannot change ModelConfig")
    model, train_config = saved["model"], _resumed(saved["train"], train_config)
    done = runs.RunFolder(out).saved_epoch()
    if train_config.epochs < done:  # config.json would then contradict the run
        raise ConfigError(f"{out} has trained {done} epochs already: resume with epochs >= {done}")
    if data is None and saved["data"].dataset == "array":
        raise ConfigError(
            f"{out} was trained on an in-memory array: pass the same data again to resume"
        )
    if data is None:
        dataset, data_config = as_dataset(saved["data"], **data_options)
    else:
        dataset, data_config = as_dataset(data, data_config or saved["data"], **data_options)
    _check_same_data(out, saved["raw"].get("dataset", {}), dataset)
    return model, train_config, dataset, data_config


def _check_same_data(out: str | Path, saved: dict[str, Any], dataset: Dataset) -> None:
    """:class:`ConfigError` unless ``dataset`` is the data the run in ``out`` was trained on, as
    far as its config.json says (shape, kind, levels, columns, classes, split sizes): a resume
    on other data would mix two trainings, and must not touch the run."""
    now = dataset_facts(dataset)
    keys = ("shape", "kind", "levels", "columns", "classes", "n_train", "n_val", "n_test")
    changed = [k for k in keys if k in saved and saved[k] != now.get(k)]
    if changed:
        k = changed[0]
        raise ConfigError(
            f"{out} was trained on other data ({k}: {runs.shorten(saved[k])}, now "
            f"{runs.shorten(now.get(k))}): resume needs the data it was trained on"
        )


def _resumed(saved: TrainConfig, given: TrainConfig | None) -> TrainConfig:
    """The saved training config, with ``epochs`` taken from ``given`` (the only change allowed)."""
    if given is None:
        return saved
    changed = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name != "epochs" and getattr(given, f.name) != getattr(saved, f.name)
    ]
    if changed:
        raise ConfigError(f"resume can only change epochs, not {', '.join(changed)}")
    return dataclasses.replace(saved, epochs=given.epochs)


def _same_model(given: ModelConfig, saved: ModelConfig) -> bool:
    """Whether ``given`` asks for the ``saved`` model: the fields training resolves (an ``auto``
    likelihood, its levels, the MIWAE encoder for missing data) count as asked for."""
    resolved = dataclasses.replace(
        given,
        likelihood=saved.likelihood if given.likelihood == "auto" else given.likelihood,
        levels=saved.levels if given.levels is None else given.levels,
        mask_input=given.mask_input or saved.mask_input,
    )
    return resolved == saved


def write_config(
    out: str | Path,
    model: ModelConfig,
    train_config: TrainConfig,
    data_config: DataConfig,
    dataset: Dataset,
) -> None:
    """Save the resolved configuration of a run as ``out/config.json`` (atomically); a data
    file or folder given by a relative path is saved absolute, so the run's commands find it
    from any working folder."""
    path = Path(data_config.dataset).expanduser()
    if normalize_name(data_config.dataset) not in DATASETS and path.exists():
        data_config = dataclasses.replace(data_config, dataset=str(path.resolve()))
    runs.RunFolder(out).write_config(run_config(model, train_config, data_config, dataset))


def run_config(
    model: ModelConfig, train_config: TrainConfig, data_config: DataConfig, dataset: Dataset
) -> dict[str, Any]:
    """The resolved configuration of a run, as config.json holds it."""
    from vaekit import __version__

    return {
        "vaekit": __version__,
        "model": to_dict(model),
        "train": to_dict(train_config),
        "data": to_dict(data_config),
        "dataset": dataset_facts(dataset, model.likelihood),
    }


def dataset_facts(dataset: Dataset, likelihood: str | None = None) -> dict[str, Any]:
    """The dataset section of config.json: what the data are (shape, kind, levels, columns,
    classes, split sizes) and the ``likelihood`` a model chose for them."""
    return {
        "name": dataset.name,
        "shape": list(dataset.shape),
        **dataset.describe(),
        **({"likelihood": likelihood} if likelihood is not None else {}),
        **({"columns": list(dataset.columns)} if dataset.columns else {}),
        **({"classes": list(dataset.classes)} if dataset.classes else {}),
        "n_train": len(dataset.x_train),
        "n_val": len(dataset.x_val),
        "n_test": len(dataset.x_test),
    }


def dataset_names(saved: dict[str, Any], key: str) -> tuple[str, ...] | None:
    """The names a run's config.json keeps in its dataset section under ``key``: ``"columns"``
    (the features, in order) or ``"classes"`` (the labels' class names, in code order); None
    where it keeps none (no header, integer labels, or a run of an older vaekit)."""
    names = saved["raw"].get("dataset", {}).get(key)
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(
            f"{CONFIG_FILE}: dataset.{key} = {runs.shorten(names)} is not a list of names"
        )
    return tuple(names)


def for_run(data: Dataset, saved: dict[str, Any]) -> Dataset:
    """A new file's ``data`` as a run's model reads it: a table's columns in the run's order,
    found by their header names (:func:`vaekit.data.splits.reorder_columns`); for a
    conditional model, its labels coded as the classes the run was trained with
    (:func:`vaekit.data.splits.relabel`), so a file holding some of the classes gives each its
    own code."""
    data = reorder_columns(data, dataset_names(saved, "columns"))
    if not saved["model"].conditional:
        return data
    return relabel(data, dataset_names(saved, "classes"))


def read_config(out: str | Path) -> dict[str, Any]:
    """The configs of a run folder: ``{"model": ModelConfig, "train": ..., "data": ..., "raw":
    dict}``, checked (see :meth:`vaekit.runs.RunFolder.config`)."""
    return runs.RunFolder(out).config()


def save(model: VAE, path: str | Path) -> Path:
    """Save ``model`` to a ``.safetensors`` file, or to a model folder: ``model.safetensors``
    and a README.md model card that a model hub renders (:mod:`vaekit.viz.model_card`), with
    the configuration and training curves of a model from :func:`fit`, and the evaluation of a
    run folder's evaluation.json. Returns the weights' path."""
    if Path(path).suffix == ".safetensors":
        return checkpoint.save_model(model, path)
    from vaekit.viz import model_card

    folder = runs.RunFolder(path)
    is_run = (Path(path) / runs.CONFIG).is_file()
    if is_run:
        saved_run = read_config(path)
        other = _other_data(model, saved_run["raw"].get("dataset", {}))
        if other or not _same_model(model.config, saved_run["model"]):
            why = f" ({other})" if other else ""
            raise ConfigError(f"{path} holds a run of another model{why}; save this one elsewhere")
    evaluation = None if _other_weights(model, folder) else folder.evaluation()
    saved = checkpoint.save_model(model, path)
    config = read_config(path)["raw"] if is_run else getattr(model, "run_config", None)
    history = getattr(model, "history", None) or folder.history()
    model_card.write(path, model, config, history, evaluation)
    return saved


def _other_data(model: VAE, dataset: dict[str, Any]) -> str | None:
    """How ``model`` differs from the data a run's config.json describes, or None."""
    classes = dataset.get("classes")
    theirs = {"shape": dataset.get("shape"), "kind": dataset.get("kind")}
    theirs["classes"] = len(classes) if isinstance(classes, list) and model.y_dim else None
    mine = {"shape": list(model.shape), "kind": model.kind, "classes": model.y_dim}
    for key, value in theirs.items():
        if value is not None and value != mine[key]:
            return f"its data: {key} {runs.shorten(value)}; this model's: {mine[key]}"
    return None


def _other_weights(model: VAE, folder: runs.RunFolder) -> bool:
    """Whether ``folder`` holds weights other than ``model``'s (its evaluation is of them)."""
    path = folder.path / runs.MODEL
    if not path.is_file():
        return False
    try:
        sums = checkpoint.read_header(path).meta.get("sha256")
    except CheckpointError:  # a damaged file: whatever it held, its evaluation is not this one's
        return True
    return sums != {k: checkpoint.sha256(v) for k, v in model.state_dict().items()}


def load(path: str | Path, device: str = "cpu") -> VAE:
    """Load a model from a run or model folder (:func:`save`; a model hub's download of one)
    or a ``.safetensors`` file."""
    return checkpoint.load_model(path, resolve_device(device))
