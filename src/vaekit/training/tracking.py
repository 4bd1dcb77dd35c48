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

On its first epoch it logs the configuration being trained as hyperparameters (the model's
resolved config and this session's training config, or ``params``); :meth:`Tracker.close` logs
the final evaluation as ``final/<name>`` at the last epoch. A tracker checks its destination when
it is made (a bad one is a :class:`~vaekit.errors.ConfigError` before any training); a writer
failing later raises :class:`~vaekit.errors.RunWriteError`, and a failure to draw or log pictures
is a warning. Under torchrun only rank 0 checks and logs. A tracker never draws from the global
RNG, so a run is the same with and without it.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit import runs
from vaekit.config import to_dict
from vaekit.errors import ConfigError, DataError, RunWriteError, VaekitError
from vaekit.extras import require
from vaekit.model.vae import VAE
from vaekit.training import distributed
from vaekit.training.loop import LoopState
from vaekit.viz import plots

N_SAMPLES, N_EXAMPLES = 16, 8
KINDS = ("tensorboard", "mlflow")  #: the values of ``vaekit train --log``
#: the numbers of an evaluation that say how it was made, not how good the model is: not final/
SETTINGS = frozenset("split n_examples k seed channels levels active_unit_threshold".split())
Params = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


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


def numbers(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The finite numbers of ``values`` (nested dicts allowed) as ``{prefix + name: value}``."""
    flat = hyperparameters(values).items()
    return {
        f"{prefix}{k}": float(v) for k, v in flat if not isinstance(v, str) and math.isfinite(v)
    }


def mosaic(x: Tensor, ncols: int) -> np.ndarray:
    """Images (N, *shape) -> one (H, W, 3) uint8 picture."""
    pixels = plots.tile(plots.to_pixels(x), ncols)  # (H, W) grey or (H, W, 3)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    picture: np.ndarray = (pixels * 255).round().astype(np.uint8)
    return picture


def logs() -> bool:
    """Whether this process logs: rank 0, also before it has joined torchrun's process group."""
    rank = os.environ.get("RANK", "0") if distributed.launched() else "0"
    return distributed.is_main() and rank == "0"


def reason(e: BaseException) -> str:
    """What went wrong in a writer or in MLflow, in a few words for a one-line message."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror} ({e.filename})" if e.filename else e.strerror
    text = " ".join(str(e).split())  # MLflow's messages span lines and wrap urllib3's
    errno = re.search(r"\[Errno -?\d+\] ([^'\"()\[\]]+)", text)  # e.g. Connection refused
    schemes = re.search(r"Supported URI schemes are: (\[[^\]]*\])", text)  # an unknown scheme
    first = errno.group(1).strip() if errno else text.split(". ")[0]
    first = f"MLflow here takes only the URI schemes {schemes.group(1)}" if schemes else first
    return (first if len(first) <= 200 else first[:197] + "...") or type(e).__name__


def writable(folder: Path, where: str) -> None:
    """Make ``folder`` if needed and write a temp file in it, or :class:`ConfigError`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in (folder, *folder.parents) if p.exists() and not p.is_dir())
        problem = "it is" if blocker == folder else f"{blocker} is"
        text = f"{problem} a file, not a folder"
    except OSError as e:
        text = e.strerror or type(e).__name__
    raise ConfigError(f"cannot log to {where}: {text}")


def as_rows(values: Any, name: str) -> Tensor:
    """The first :data:`N_EXAMPLES` rows of ``values`` (a tensor, an array, nested lists)."""
    try:
        t = values if isinstance(values, Tensor) else torch.as_tensor(np.asarray(values))
    except (TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"the tracker's {name} must be an array of numbers ({e})") from None
    if t.ndim == 0 or len(t) == 0:
        raise DataError(f"the tracker's {name} must hold at least one row")
    return t.detach()[:N_EXAMPLES]


class Tracker:
    """What every tracker logs, and when (see the module docstring); subclasses say where.

    ``examples`` (n, *shape), a tensor or an array: held-out examples to reconstruct;
    ``labels`` (n,) or (n, y_dim): their labels, which a conditional model needs (without them
    it gets no reconstructions, with a warning); ``params``: the configuration to log, or a
    function that returns it at the first epoch (default: the model's config and the training's
    config being trained).
    """

    where = "the tracker"  #: where it logs, for messages ("TensorBoard in runs/m/tensorboard")
    errors: tuple[type[Exception], ...] = (OSError,)  #: what its writer raises on failure

    def __init__(
        self,
        examples: Any = None,
        labels: Any = None,
        images_every: int = 5,
        params: Params | None = None,
    ) -> None:
        self.examples = None if examples is None else as_rows(examples, "examples")
        self.labels = None if labels is None else as_rows(labels, "labels")
        n = 0 if self.examples is None else len(self.examples)
        if self.labels is not None and len(self.labels) != n:
            raise DataError(f"the tracker has {len(self.labels)} labels for its {n} examples")
        self.images_every, self.params = max(1, images_every), params
        self.started, self.epoch = False, 0  #: the last epoch logged
        self.shown: tuple[Tensor, Tensor | None] | None = None  #: checked (x, y) to reconstruct

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
    @contextmanager
    def failing(self, error: type[VaekitError] = RunWriteError) -> Iterator[None]:
        """Turn the writer's :attr:`errors` into ``error``, one line naming :attr:`where`."""
        try:
            yield
        except VaekitError:
            raise
        except self.errors as e:
            raise error(f"cannot log to {self.where}: {reason(e)}") from e

    def __call__(self, state: LoopState) -> None:
        if not logs():
            return
        if not self.started:
            self.shown = self.checked_examples(state.model)
            self.epoch = state.epoch - 1  # 0, or the epoch a resumed run starts after
            given = self.params() if callable(self.params) else self.params
            model, train = to_dict(state.model.config), to_dict(state.config)
            with self.failing():
                self.start(hyperparameters(given or {"model": model, "train": train}))
            self.started = True
        epoch, record = state.epoch, state.history[-1]
        values = numbers({k: v for k, v in record.items() if k != "epoch"}, "epoch/")
        values["epoch/lr"] = float(state.optimizer.param_groups[0]["lr"])
        with self.failing():
            if state.step_losses is not None:
                losses = state.step_losses.tolist()  # (S,)
                first = (epoch - 1) * len(losses) + 1
                for i, loss in enumerate(losses):
                    self.scalars({"train/loss": loss}, first + i)
            self.scalars(values, epoch)
        self.epoch = epoch
        if epoch % self.images_every == 0 or epoch >= state.config.epochs or state.stop:
            self.images(state.model, epoch)

    def checked_examples(self, model: VAE) -> tuple[Tensor, Tensor | None] | None:
        """The examples to reconstruct as ``model`` takes them, checked (:class:`DataError`), or
        None (none given, data that are no pictures, or a conditional model without labels)."""
        if self.examples is None or not plots.is_image(model.shape):
            return None
        if model.y_dim and self.labels is None:
            self.warn("a conditional model needs labels= with the examples: no reconstructions")
            return None
        x = model.check_data(self.examples, "the tracker's examples")  # (n, *shape)
        return x, model.condition(self.labels, len(x)) if model.y_dim else None  # (n, y_dim)

    @torch.no_grad()
    def images(self, model: VAE, step: int) -> None:
        """Log prior samples and reconstructions of ``model`` (image data only). A failure is a
        warning: it must not cost the trained model."""
        if not plots.is_image(model.shape):
            return
        try:
            y = torch.arange(N_SAMPLES) % model.y_dim if model.y_dim else None
            samples = model.sample(N_SAMPLES, seed=0, y=y)  # (16, *shape)
            self.image("samples", mosaic(samples, 8), step)
            if self.shown is not None:
                x, c = self.shown
                x_hat = model.reconstruct(x, y=c)  # (n, *shape)
                self.image("reconstructions", mosaic(torch.cat([x, x_hat]), len(x)), step)
        except Exception as e:  # pictures are a view of the result, never worth the model
            self.warn(f"no pictures logged at epoch {step} ({reason(e)})")

    def warn(self, text: str) -> None:
        warnings.warn(f"{self.where}: {text}", RuntimeWarning, stacklevel=3)

    def close(
        self, metrics: Mapping[str, Any] | None = None, files: Iterable[str | Path] = ()
    ) -> None:
        """Log the final evaluation ``metrics`` (numbers, nested dicts allowed; the evaluation's
        :data:`SETTINGS` left out) as ``final/<name>`` at the last epoch, and the run's
        ``files`` (MLflow: as artefacts), then close."""
        if not (logs() and self.started):
            return
        final = numbers({k: v for k, v in (metrics or {}).items() if k not in SETTINGS}, "final/")
        with self.failing():
            if final:
                self.scalars(final, self.epoch)
            self.finish([Path(f) for f in files if Path(f).is_file()])


class TensorBoard(Tracker):
    """Log to TensorBoard event files in ``log_dir`` (with ``torch.utils.tensorboard``); the
    folder is made, or refused with a :class:`ConfigError`, when the tracker is."""

    def __init__(self, log_dir: str | Path, **kw: Any) -> None:
        require("tracking", "logging to TensorBoard", "tensorboard")
        super().__init__(**kw)
        self.log_dir = Path(log_dir)
        self.where = f"TensorBoard in {self.log_dir}"
        self.writer: Any = None
        if logs():  # the folder now, not after an epoch
            writable(self.log_dir, self.where)

    def start(self, params: dict[str, str | float]) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(str(self.log_dir))
        names = ("epoch/train_elbo", "epoch/val_elbo", "final/elbo", "final/nll")
        for summary in hparams(params, dict.fromkeys(names, 0.0)):  # the HParams dashboard
            self.writer.file_writer.add_summary(summary)
        config = f"```\n{json.dumps(params, indent=2)}\n```"
        self.writer.add_text("config", config, self.epoch)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def image(self, name: str, pixels: np.ndarray, step: int) -> None:
        self.writer.add_image(name, pixels, step, dataformats="HWC")

    def finish(self, files: Iterable[Path]) -> None:
        self.writer.close()


def allow_file_store(uri: str) -> Path | None:
    """The folder of an MLflow file store (a ``file:`` URI or a path; else None), which MLflow 3
    refuses unless ``MLFLOW_ALLOW_FILE_STORE`` is set: set here, unless the user set it."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("file", ""):
        return None
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Path(urllib.request.url2pathname(parsed.path) if parsed.scheme else uri)


def mlflow_uri(log_dir: str | Path | None = None) -> str:
    """Where MLflow logs: ``log_dir`` as a local file store, else ``$MLFLOW_TRACKING_URI``, else a
    file store in ``./mlruns`` (a file store is allowed: :func:`allow_file_store`)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") if log_dir is None else None
    uri = uri or Path(log_dir if log_dir is not None else "mlruns").resolve().as_uri()
    allow_file_store(uri)
    return uri


class MLflow(Tracker):
    """Log to an MLflow run in the experiment ``experiment`` of the tracking ``uri`` (see
    :func:`mlflow_uri`); images and the run's files become artefacts. The server or store is
    asked for the experiment (made when missing) when the tracker is made, and one MLflow run
    is made per training session, at its first epoch."""

    def __init__(
        self,
        uri: str | None = None,
        experiment: str = "vaekit",
        run_name: str | None = None,
        **kw: Any,
    ) -> None:
        require("tracking", "logging to MLflow", "mlflow")
        from mlflow.exceptions import MlflowException

        super().__init__(**kw)
        self.uri = uri or mlflow_uri()
        self.where, self.errors = f"MLflow at {self.uri}", (OSError, MlflowException)
        self.experiment, self.run_name = experiment, run_name
        self.client: Any = None
        self.experiment_id = self.run_id = ""
        if logs():
            self.check()

    def check(self) -> None:
        """Ask the server or store for the experiment (made when missing), or ConfigError."""
        from mlflow.tracking import MlflowClient

        store = allow_file_store(self.uri)
        if store is not None:
            writable(store, self.where)
        with self.failing(ConfigError):
            self.client = MlflowClient(self.uri)
            found = self.client.get_experiment_by_name(self.experiment)
            if found is not None and found.lifecycle_stage == "deleted":
                raise ConfigError(
                    f"cannot log to {self.where}: experiment {self.experiment!r} is deleted"
                )
            exp = found.experiment_id if found else self.client.create_experiment(self.experiment)
            self.experiment_id = exp

    def start(self, params: dict[str, str | float]) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=self.run_name)
        self.run_id = run.info.run_id
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
    examples: Any = None,
    labels: Any = None,
    params: Params | None = None,
) -> Tracker:
    """The tracker of ``vaekit train --log kind``: TensorBoard in ``log_dir`` (default
    ``run/tensorboard``, :data:`vaekit.runs.TENSORBOARD`), or MLflow at :func:`mlflow_uri` with
    the run folder's name. Its destination is checked now (:class:`ConfigError`)."""
    kw: dict[str, Any] = {"examples": examples, "labels": labels, "params": params}
    if kind == "tensorboard":
        return TensorBoard(log_dir if log_dir is not None else run / runs.TENSORBOARD, **kw)
    if kind == "mlflow":
        return MLflow(mlflow_uri(log_dir), run_name=run.name, **kw)
    raise ConfigError(f"unknown tracker {kind!r}; choose from {', '.join(KINDS)}")
