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
from vaekit.errors import ConfigError
from vaekit.model.vae import VAE
from vaekit.training import checkpoint, distributed
from vaekit.training.loop import Hook, LoopState, resolve_device, train

CONFIG_FILE = runs.CONFIG


def build(model_config: ModelConfig, data: Dataset, device: str | torch.device = "cpu") -> VAE:
    """An untrained VAE shaped for ``data`` (its event shape, value kind and standardisation;
    with ``model_config.conditional``, its number of classes)."""
    y_dim = n_classes(data) if model_config.conditional else 0
    return VAE(model_config, data.shape, data.kind, data.loc, data.scale, y_dim).to(device)


def n_classes(data: Dataset) -> int:
    """The number of label classes of ``data`` (its class names, else the largest label + 1)."""
    if data.y_train is None:
        raise ConfigError(
            f"a conditional model needs labels, and the dataset {data.name!r} has none"
        )
    if data.classes:
        return len(data.classes)
    return 1 + max(int(y.max()) for y in (data.y_train, data.y_val, data.y_test) if len(y))


def as_dataset(
    data: Dataset | DataConfig | str | Path | np.ndarray | torch.Tensor,
    data_config: DataConfig | None = None,
) -> tuple[Dataset, DataConfig]:
    """Turn any accepted data argument into a loaded :class:`Dataset` (and its config)."""
    if isinstance(data, Dataset):
        return data, data_config or DataConfig(dataset=data.name)
    if isinstance(data, DataConfig):
        return load_dataset(data), data
    if isinstance(data, str | Path):
        base = data_config or DataConfig()
        config = dataclasses.replace(base, dataset=str(data))
        return load_dataset(config), config
    config = data_config or DataConfig(dataset="array")
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
) -> VAE:
    """Train a VAE and return it (its epoch history is in ``model.history``).

    ``data``: a dataset name (``digits``, the default, ``mnist``, ...), a file or folder path, a
    loaded :class:`Dataset`, or an array (N, ...) of examples. ``out``: a run folder that receives
    config.json, metrics.jsonl and the checkpoints. With ``resume=True`` an interrupted run in
    ``out`` continues from its last completed epoch with its own saved configuration (and its
    saved data source, unless ``data`` is given again, as it must be for in-memory arrays); a
    ``train_config`` may then only change ``epochs``, to extend a finished run. A run folder is
    never replaced by accident: ``out`` holding a run needs ``resume=True`` or ``overwrite=True``
    (which removes the old run's files, its evaluation included) (:class:`RunExistsError`).

    Under torchrun (several processes) every rank calls ``fit`` alike: it joins the process
    group, trains data-parallel (``batch_size`` is the global batch) and only rank 0 writes ``out``.
    """
    if resume:
        if out is None:
            raise ConfigError("resume needs the run folder (out=...)")
        saved = read_config(out)
        if model is not None and model != saved["model"]:
            raise ConfigError("resume continues the saved model; it cannot change ModelConfig")
        model, train_config = saved["model"], _resumed(saved["train"], train_config)
        if data is None:
            dataset, data_config = as_dataset(saved["data"])
        else:
            dataset, data_config = as_dataset(data, data_config or saved["data"])
    else:
        model, train_config = model or ModelConfig(), train_config or TrainConfig()
        dataset, data_config = as_dataset("digits" if data is None else data, data_config)
    device = distributed.init(resolve_device(train_config.device))
    if out is not None and distributed.is_main():  # rank 0 alone: it may remove an old run
        runs.RunFolder(out).prepare(resume, overwrite)
    torch.manual_seed(train_config.seed)
    vae = build(model, dataset, device)
    if out is not None and distributed.is_main():
        write_config(out, model, train_config, data_config, dataset)
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
    return vae.eval()


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


def write_config(
    out: str | Path,
    model: ModelConfig,
    train_config: TrainConfig,
    data_config: DataConfig,
    dataset: Dataset,
) -> None:
    """Save the resolved configuration of a run as ``out/config.json`` (atomically)."""
    from vaekit import __version__

    runs.RunFolder(out).write_config(
        {
            "vaekit": __version__,
            "model": to_dict(model),
            "train": to_dict(train_config),
            "data": to_dict(data_config),
            "dataset": {
                "name": dataset.name,
                "shape": list(dataset.shape),
                "kind": dataset.kind,
                "n_train": len(dataset.x_train),
                "n_val": len(dataset.x_val),
                "n_test": len(dataset.x_test),
            },
        },
    )


def read_config(out: str | Path) -> dict[str, Any]:
    """The configs of a run folder: ``{"model": ModelConfig, "train": ..., "data": ..., "raw":
    dict}``, checked (see :meth:`vaekit.runs.RunFolder.config`)."""
    return runs.RunFolder(out).config()


def save(model: VAE, path: str | Path) -> Path:
    """Save ``model`` to a folder (as ``model.safetensors``) or a ``.safetensors`` file."""
    return checkpoint.save_model(model, path)


def load(path: str | Path, device: str = "cpu") -> VAE:
    """Load a model from a run folder or a ``.safetensors`` file written by :func:`save`."""
    return checkpoint.load_model(path, resolve_device(device))
