"""Experiment tracking as training hooks: TensorBoard and MLflow (the ``tracking`` extra).

A tracker is a :data:`~vaekit.training.loop.Hook`, passed as ``hooks=[...]`` to
:func:`vaekit.fit` or :func:`vaekit.train`, or chosen by ``vaekit train --log``. After each epoch
it logs:

- ``train/loss``: the loss of every step (minus the objective, nats per example), at the global
  step ``(epoch - 1) * steps + step``;
- ``epoch/<name>``: every number of the epoch's record (``train_elbo``, ``train_log_px_z``,
  ``train_kl_z``, ``val_*``, the KL weight ``beta``, ``seconds``) and the learning rate ``lr``;
- every ``images_every`` epochs and at the last one, image data only: 16 samples from the prior
  (seed 0) and the reconstructions of up to 8 held-out ``examples`` (originals above them).

On its first epoch it logs the configuration as hyperparameters, and :meth:`Tracker.close` logs
the final evaluation as ``final/<name>``. Under torchrun only rank 0 logs. A tracker never draws
from the global RNG, so a run is the same with and without it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit.config import to_dict
from vaekit.errors import ConfigError
from vaekit.extras import require
from vaekit.model.vae import VAE
from vaekit.training import distributed
from vaekit.training.loop import LoopState
from vaekit.viz import plots

N_SAMPLES, N_EXAMPLES = 16, 8
KINDS = ("tensorboard", "mlflow")  #: the values of ``vaekit train --log``


def hyperparameters(config: Mapping[str, Any], prefix: str = "") -> dict[str, str | float]:
    """Nested config dicts -> ``{"model.latent_dim": 2, "model.hidden": "400,400", ...}``:
    numbers stay numbers, everything else becomes text (both trackers take these)."""
    out: dict[str, str | float] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(hyperparameters(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, list | tuple):
            out[f"{prefix}{key}"] = ",".join(map(str, value))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


def mosaic(x: Tensor, ncols: int) -> np.ndarray:
    """Images (N, *shape) -> one (H, W, 3) uint8 picture."""
    pixels = plots.tile(plots.to_pixels(x), ncols)  # (H, W) grey or (H, W, 3)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    picture: np.ndarray = (pixels * 255).round().astype(np.uint8)
    return picture


class Tracker:
    """What every tracker logs, and when (see the module docstring); subclasses say where.

    ``examples`` (n, *shape): held-out examples to reconstruct (``labels``: their labels, for a
    conditional model); ``params``: the configuration to log (default: the model's and the
    training's config).
    """

    def __init__(
        self,
        examples: Tensor | None = None,
        labels: Tensor | None = None,
        images_every: int = 5,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.examples = None if examples is None else examples[:N_EXAMPLES]
        self.labels = None if labels is None else labels[:N_EXAMPLES]
        self.images_every, self.params = max(1, images_every), params
        self.started = False

    # -- what subclasses provide --------------------------------------------------------------
    def start(self, params: dict[str, str | float]) -> None:
        raise NotImplementedError

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        raise NotImplementedError

    def image(self, name: str, pixels: np.ndarray, step: int) -> None:
        """Log an (H, W, 3) uint8 picture."""
        raise NotImplementedError

    def finish(self, files: Iterable[Path]) -> None:
        raise NotImplementedError

    # -- the hook -----------------------------------------------------------------------------
    def __call__(self, state: LoopState) -> None:
        if not distributed.is_main():
            return
        if not self.started:
            params = self.params or {
                "model": to_dict(state.model.config),
                "train": to_dict(state.config),
            }
            self.start(hyperparameters(params))
            self.started = True
        epoch, record = state.epoch, state.history[-1]
        if state.step_losses is not None:
            losses = state.step_losses.tolist()  # (S,)
            first = (epoch - 1) * len(losses) + 1
            for i, loss in enumerate(losses):
                self.scalars({"train/loss": loss}, first + i)
        values = {
            f"epoch/{k}": float(v)
            for k, v in record.items()
            if k != "epoch" and isinstance(v, int | float) and not isinstance(v, bool)
        }
        values["epoch/lr"] = float(state.optimizer.param_groups[0]["lr"])
        self.scalars(values, epoch)
        if epoch % self.images_every == 0 or epoch >= state.config.epochs or state.stop:
            self.images(state.model, epoch)

    @torch.no_grad()
    def images(self, model: VAE, step: int) -> None:
        """Log prior samples and reconstructions of ``model`` (image data only)."""
        if not plots.is_image(model.shape):
            return
        y = torch.arange(N_SAMPLES) % model.y_dim if model.y_dim else None
        samples = model.sample(N_SAMPLES, seed=0, y=y)  # (16, *shape)
        self.image("samples", mosaic(samples, 8), step)
        if self.examples is not None:
            x = self.examples.to(model.device)
            x_hat = model.reconstruct(x, y=self.labels if model.y_dim else None)  # (n, *shape)
            self.image("reconstructions", mosaic(torch.cat([x, x_hat]), len(x)), step)

    def close(
        self, metrics: Mapping[str, Any] | None = None, files: Iterable[str | Path] = ()
    ) -> None:
        """Log the final evaluation ``metrics`` (numbers, nested dicts allowed) as
        ``final/<name>`` and the run's ``files`` (MLflow: as artefacts), then close."""
        if not (distributed.is_main() and self.started):
            return
        flat = hyperparameters(metrics or {})
        numbers = {
            f"final/{k}": float(v)
            for k, v in flat.items()
            if isinstance(v, int | float) and math.isfinite(v)
        }
        if numbers:
            self.scalars(numbers, 0)
        self.finish([Path(f) for f in files if Path(f).is_file()])


class TensorBoard(Tracker):
    """Log to TensorBoard event files in ``log_dir`` (with ``torch.utils.tensorboard``)."""

    def __init__(self, log_dir: str | Path, **kw: Any) -> None:
        require("tracking", "logging to TensorBoard", "tensorboard")
        super().__init__(**kw)
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def start(self, params: dict[str, str | float]) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(str(self.log_dir))
        names = ("epoch/train_elbo", "epoch/val_elbo", "final/elbo", "final/nll")
        for summary in hparams(params, dict.fromkeys(names, 0.0)):  # the HParams dashboard
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", f"```\n{json.dumps(params, indent=2)}\n```", 0)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def image(self, name: str, pixels: np.ndarray, step: int) -> None:
        self.writer.add_image(name, pixels, step, dataformats="HWC")

    def finish(self, files: Iterable[Path]) -> None:
        self.writer.close()


def mlflow_uri(log_dir: str | Path | None = None) -> str:
    """Where MLflow logs: ``log_dir`` as a local file store, else ``$MLFLOW_TRACKING_URI``, else a
    file store in ``./mlruns``. MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is
    set, so it is set (unless the user set it) for the file stores named here."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") if log_dir is None else None
    if uri:
        return uri
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Path(log_dir if log_dir is not None else "mlruns").resolve().as_uri()


class MLflow(Tracker):
    """Log to an MLflow run in the experiment ``experiment`` of the tracking ``uri`` (see
    :func:`mlflow_uri`); images and the run's files become artefacts."""

    def __init__(
        self,
        uri: str | None = None,
        experiment: str = "vaekit",
        run_name: str | None = None,
        **kw: Any,
    ) -> None:
        require("tracking", "logging to MLflow", "mlflow")
        super().__init__(**kw)
        self.uri = uri or mlflow_uri()
        self.experiment, self.run_name = experiment, run_name
        self.client: Any = None
        self.run_id = ""

    def start(self, params: dict[str, str | float]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(self.uri)
        found = self.client.get_experiment_by_name(self.experiment)
        exp = found.experiment_id if found else self.client.create_experiment(self.experiment)
        self.run_id = self.client.create_run(exp, run_name=self.run_name).info.run_id
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per call
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(1000 * time.time())
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def image(self, name: str, pixels: np.ndarray, step: int) -> None:
        self.client.log_image(self.run_id, pixels, f"images/{name}_{step:04d}.png")

    def finish(self, files: Iterable[Path]) -> None:
        for f in files:
            self.client.log_artifact(self.run_id, str(f))
        self.client.set_terminated(self.run_id)


def make_tracker(
    kind: str,
    run: Path,
    log_dir: str | Path | None = None,
    examples: Tensor | None = None,
    labels: Tensor | None = None,
    params: Mapping[str, Any] | None = None,
) -> Tracker:
    """The tracker of ``vaekit train --log kind``: TensorBoard in ``log_dir`` (default
    ``run/tensorboard``), or MLflow at :func:`mlflow_uri` with the run folder's name."""
    kw: dict[str, Any] = {"examples": examples, "labels": labels, "params": params}
    if kind == "tensorboard":
        return TensorBoard(log_dir if log_dir is not None else run / "tensorboard", **kw)
    if kind == "mlflow":
        return MLflow(mlflow_uri(log_dir), run_name=run.name, **kw)
    raise ConfigError(f"unknown tracker {kind!r}; choose from {', '.join(KINDS)}")
