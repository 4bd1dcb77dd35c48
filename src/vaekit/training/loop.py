"""The one training loop, for every model.

Per epoch: a seeded shuffle (:mod:`vaekit.training.batching`), Adam steps on the (beta-)ELBO or
IWAE bound (:mod:`vaekit.training.step`) with the KL weight of :func:`kl_weight`, validation, then
the end-of-epoch hooks (:mod:`vaekit.training.hooks`): early stopping, checkpointing, the user's
hooks, the console summary.

Data-parallel (under torchrun, see :mod:`vaekit.training.distributed`): every rank computes its
rows of each global batch and reads as if there were one process; metrics are all-reduced, rank
0's epoch record and stop decision are shared, and only rank 0 writes files.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Sequence, Sized
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from vaekit._fast import fpenv
from vaekit.config import TrainConfig
from vaekit.errors import ConfigError, TrainingError
from vaekit.model.vae import VAE, split_batches
from vaekit.training import checkpoint, distributed, interrupt
from vaekit.training.batching import Batch, batches, noise
from vaekit.training.hooks import Checkpointing, EarlyStopping, Hook, LoopState, Record, Summary
from vaekit.training.step import Step, kl_weight, make_optimizer

__all__ = ["Hook", "LoopState", "Record", "resolve_device", "train", "validate"]

Data = Tensor | TorchDataset[Any]  #: examples (N, *shape) in memory, or a streaming dataset


@fpenv.flush_denormals()  # Adam's decaying moments would turn subnormal: see vaekit._fast.fpenv
@interrupt.interruptible()  # a Ctrl-C swallowed by a finalizer still stops the run
def train(
    model: VAE,
    x_train: Data,
    x_val: Tensor | None,
    config: TrainConfig,
    *,
    y_train: Tensor | None = None,
    y_val: Tensor | None = None,
    binarize: bool = False,
    out: str | Path | None = None,
    resume: bool = False,
    hooks: Sequence[Hook] = (),
    progress: bool | None = None,
) -> LoopState:
    """Fit ``model`` by maximising the objective of ``config`` on ``x_train`` (N, *shape).

    ``x_val`` (M, *shape) drives early stopping (``config.patience``), after which the best
    weights are restored. A conditional model (``model.y_dim`` > 0) also needs the labels or
    condition vectors ``y_train`` (N, ...) and ``y_val`` (M, ...) (a streaming dataset yields
    ``(x, y)`` pairs instead). ``binarize`` draws a fresh Bernoulli sample of every training batch
    (dynamic binarisation; the validation set is binarised once, with a fixed seed). With ``out``
    every epoch atomically rewrites ``out/metrics.jsonl`` (the whole history),
    ``out/model.safetensors`` and ``out/train_state.safetensors``; ``resume`` continues from the
    latter. ``hooks`` run after each epoch's checkpoint (see :mod:`vaekit.training.hooks`). A
    non-finite loss raises :class:`TrainingError` naming the epoch and step, before anything is
    written.

    In a process group (torchrun, :func:`vaekit.training.distributed.init`) every rank passes the
    same data and config and trains its share of each global batch of ``config.batch_size``; only
    rank 0 writes to ``out``, and every rank reads it to resume.
    """
    x_train, y_train, x_val, y_val = _check_inputs(
        model, x_train, y_train, x_val, y_val, binarize, config.seed
    )
    optimizer = make_optimizer(model, config)
    state = LoopState(model, optimizer, config, best_weights=_copy(model))
    out = Path(out) if out is not None else None
    if resume:
        _resume(out, model, optimizer, state)
    else:
        torch.manual_seed(config.seed)
    show = (progress if progress is not None else sys.stderr.isatty()) and distributed.is_main()
    n = len(cast(Sized, x_train))  # a streaming dataset must know its length
    step = Step(model, optimizer, config, n, in_memory=isinstance(x_train, Tensor))
    every_epoch: list[Hook] = [EarlyStopping(config.patience)]
    every_epoch += [Checkpointing(out)] if out is not None else []
    every_epoch += [*hooks, *([Summary()] if show else [])]
    model.train()
    while state.epoch < config.epochs and not state.stop:
        shuffled = batches(
            x_train, y_train, config.batch_size, binarize, model.device, model.y_dim > 0
        )
        record = _epoch(state, step, shuffled, show, out)
        if x_val is not None:
            v = validate(model, x_val, y=y_val)
            record.update(val_elbo=v["elbo"], val_log_px_z=v["log_px_z"], val_kl_z=v["kl_z"])
        record = distributed.broadcast(record)  # rank 0's record decides, on every rank
        state.epoch = record["epoch"]
        state.history.append(record)
        for hook in every_epoch:
            hook(state)
            interrupt.check()
        state.stop = distributed.broadcast(state.stop)  # a stop is decided once, by rank 0
    if config.patience is not None:
        _keep_best(out, state)
    interrupt.check()
    return state


def _epoch(
    state: LoopState, step: Step, shuffled: Iterator[Batch], show: bool, out: Path | None
) -> Record:
    """One pass of Adam steps over the training data: the epoch's record of training terms
    (nats per example), its last beta and its seconds."""
    model, config, epoch = state.model, state.config, state.epoch + 1
    steps = math.ceil(step.n / config.batch_size)
    losses = torch.zeros(steps, device=model.device)  # (S,) checked lazily: no sync per step
    sums = torch.zeros(2, device=model.device)  # log_px_z, kl summed over examples
    bar = tqdm(
        total=steps,
        desc=f"epoch {epoch}/{config.epochs}",
        disable=not show,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    start, checked, beta = time.perf_counter(), 0, config.beta
    for i, batch in enumerate(shuffled):
        interrupt.check()
        beta = kl_weight(epoch, i, steps, config)
        loss, part = step(batch, noise(batch, config.k, model.config.latent_dim), beta)
        with torch.no_grad():
            losses[i] = loss
            sums += batch.weight * part
        if i % 50 == 49 or i == steps - 1:
            # the ranks' losses average to the global batch's: every rank sees the same
            distributed.all_reduce_mean(losses[checked : i + 1])
            checked = i + 1
            _check_finite(losses, epoch, i, out)
            if show:
                bar.set_postfix(loss=f"{losses[max(0, i - 49) : i + 1].mean():.2f}")
        if show:
            bar.update(1)
    seconds = time.perf_counter() - start
    bar.close()
    state.step_losses = losses
    train_log_px_z, train_kl_z = (distributed.all_reduce_sum(sums) / step.n).tolist()
    return {
        "epoch": epoch,
        "train_elbo": train_log_px_z - train_kl_z,
        "train_log_px_z": train_log_px_z,
        "train_kl_z": train_kl_z,
        "beta": beta,
        "seconds": seconds,
    }


def _check_inputs(
    model: VAE,
    x_train: Data,
    y_train: Tensor | None,
    x_val: Tensor | None,
    y_val: Tensor | None,
    binarize: bool,
    seed: int,
) -> tuple[Data, Tensor | None, Tensor | None, Tensor | None]:
    """The data as the loop uses them: in-memory examples checked against the model, labels
    turned into condition vectors (dropped for an unconditional model), an empty validation set
    dropped, and with ``binarize`` the validation set binarised once with ``seed``."""
    conditional = model.y_dim > 0
    if not conditional:
        y_train = y_val = None
    if isinstance(x_train, Tensor):
        x_train = model.check_data(x_train, "training data")
        if conditional:
            y_train = _check_labels(model, y_train, len(x_train), "training")  # (N, C)
    if x_val is not None and len(x_val) == 0:
        x_val = None
    if x_val is not None:
        x_val = model.check_data(x_val, "validation data")
        if conditional:
            y_val = _check_labels(model, y_val, len(x_val), "validation")
        if binarize:
            x_val = torch.bernoulli(
                x_val, generator=torch.Generator(model.device).manual_seed(seed)
            )
    return x_train, y_train, x_val, y_val


def _check_labels(model: VAE, y: Tensor | None, n: int, split: str) -> Tensor:
    """The labels (or condition vectors) of a conditional model's ``split``, checked once."""
    if y is None:
        raise TrainingError(
            f"a conditional model needs labels for its {split} data; this dataset has none"
        )
    c = model.condition(y, n)  # (n, C) vectors; DataError for a wrong shape or range
    assert c is not None
    return c


def _check_finite(losses: Tensor, epoch: int, step: int, out: Path | None) -> None:
    bad = (~torch.isfinite(losses[: step + 1])).nonzero()
    if len(bad):
        where = f"; the last good checkpoint in {out} is untouched" if out else ""
        raise TrainingError(
            f"the loss became {losses[bad[0, 0]].item()} at epoch {epoch}, "
            f"step {int(bad[0, 0]) + 1}{where}. Try a lower --lr or --clip-norm"
        )


def _copy(model: VAE) -> dict[str, Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _resume(
    out: Path | None, model: VAE, optimizer: torch.optim.Optimizer, state: LoopState
) -> None:
    """Load ``out/train_state.safetensors`` into ``model``, ``optimizer`` and ``state`` (its
    epoch, history, best epoch and weights, and the random state); the model file and
    metrics.jsonl are rewritten from it (:func:`vaekit.training.checkpoint.resume`)."""
    state.best_weights = checkpoint.resume(out, state)  # the state file decides


def _keep_best(out: Path | None, state: LoopState) -> None:
    """After early stopping: the best epoch's weights, in the model and in ``out``."""
    state.model.load_state_dict(state.best_weights)
    if out is not None and distributed.is_main():
        checkpoint.save_model(state.model, out, {"best_epoch": state.best_epoch})


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {name!r}: {e}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but no CUDA GPU is available")
    if device.type == "meta":  # shapes only: nothing can be trained or computed on it
        raise ConfigError("device 'meta' holds no data; use cpu, cuda, cuda:N or auto")
    return device


@torch.no_grad()
def validate(
    model: VAE, x: Tensor, batch_size: int = 1024, y: Tensor | None = None
) -> dict[str, float]:
    """Mean ELBO terms per example (nats) over ``x`` (and its conditions ``y`` for a conditional
    model), one posterior sample each.

    With several ranks, each computes its share of every batch (with its rows of the whole
    batch's noise) and the sums are all-reduced: every rank returns the same numbers.
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=model.device)
    for xb, yb in split_batches(x, y, batch_size):
        rows = distributed.share(len(xb))
        eps = torch.randn(len(xb), model.config.latent_dim, device=model.device)[rows]
        if rows.stop > rows.start:
            y_rows = None if yb is None else yb[rows].to(model.device)
            t = model.terms(xb[rows].to(model.device), y=y_rows, eps=eps)
            sums += torch.stack([t.elbo.sum(), t.log_px_z.sum(), t.kl_z.sum()])
    distributed.all_reduce_sum(sums)
    model.train(was_training)
    elbo, log_px_z, kl_z = (sums / max(len(x), 1)).tolist()
    return {"elbo": elbo, "log_px_z": log_px_z, "kl_z": kl_z}
