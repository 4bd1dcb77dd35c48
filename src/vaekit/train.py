"""The one training loop, for every model.

Fast path: data that fits in memory stays one tensor on the training device and is batched by
index (no per-sample Python, no DataLoader). Streaming path: any ``torch.utils.data.Dataset``
goes through a DataLoader. Per epoch: a seeded shuffle, Adam steps on the (beta-)ELBO or IWAE
bound with linear KL warm-up and optional gradient clipping, validation, history, checkpoint.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from vaekit import checkpoint, optim
from vaekit.config import TrainConfig
from vaekit.errors import ConfigError, TrainingError
from vaekit.model import VAE

Record = dict[str, Any]  #: one epoch of history: epoch, train_elbo, val_elbo, ..., seconds


@dataclass
class LoopState:
    """What a hook sees at the end of each epoch."""

    model: VAE
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    epoch: int = 0
    history: list[Record] = field(default_factory=list)
    best_val: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stop: bool = False  #: a hook may set this to end training after the current epoch


Hook = Callable[[LoopState], None]


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
    return device


def make_optimizer(model: VAE, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam: the fused kernel with a lean step on CPU and CUDA, torch's own elsewhere."""
    if model.device.type in ("cpu", "cuda"):
        return optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


Batch = tuple[Tensor, Tensor | None]  #: examples (B, *shape) and their labels/conditions or None


def _batches(
    x: Tensor | TorchDataset,
    y: Tensor | None,
    batch_size: int,
    binarize: bool,
    device: torch.device,
    conditional: bool = False,
) -> Iterator[Batch]:
    """One shuffled epoch of batches ``(x (B, *shape), y (B, ...) or None)`` on ``device``.

    In memory, ``y`` rides along with ``x``; a streaming dataset yields ``(x, y)`` items, whose y
    is kept when the model is ``conditional``.
    """
    batches: Iterator[tuple[Tensor, Tensor | None]]
    if isinstance(x, Tensor):
        perm = torch.randperm(x.shape[0], device=x.device)  # (N,)
        batches = (
            (x.index_select(0, idx), None if y is None else y.index_select(0, idx.to(y.device)))
            for idx in perm.split(batch_size)
        )
    else:
        gen = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        loader = DataLoader(x, batch_size=batch_size, shuffle=True, generator=gen)
        batches = (_item(b, conditional) for b in loader)
    for xb, yb in batches:
        xb = xb.to(device, torch.float32, non_blocking=True)
        yb = None if yb is None else yb.to(device, non_blocking=True)
        yield (torch.bernoulli(xb) if binarize else xb), yb


def _item(b: Any, conditional: bool) -> tuple[Tensor, Tensor | None]:
    if not isinstance(b, list | tuple):
        return b, None
    if conditional and len(b) < 2:
        raise TrainingError("a conditional model needs a dataset of (x, y) pairs")
    return b[0], (b[1] if conditional else None)


@torch.no_grad()
def validate(
    model: VAE, x: Tensor, batch_size: int = 1024, y: Tensor | None = None
) -> dict[str, float]:
    """Mean ELBO terms per example (nats) over ``x`` (and its conditions ``y`` for a conditional
    model), one posterior sample each."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=model.device)
    ys = y.split(batch_size) if y is not None else [None] * math.ceil(len(x) / batch_size)
    for xb, yb in zip(x.split(batch_size), ys, strict=True):
        t = model.terms(xb.to(model.device), y=None if yb is None else yb.to(model.device))
        sums += torch.stack([t.elbo.sum(), t.log_px_z.sum(), t.kl_z.sum()])
    model.train(was_training)
    elbo, log_px_z, kl_z = (sums / max(len(x), 1)).tolist()
    return {"elbo": elbo, "log_px_z": log_px_z, "kl": kl_z}


def _l1(model: VAE) -> Tensor:
    return sum(p.abs().sum() for n, p in model.named_parameters() if n.endswith("weight"))


def train(
    model: VAE,
    x_train: Tensor | TorchDataset,
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
    latter. A non-finite loss
    raises :class:`TrainingError` naming the epoch and step, before anything is written.
    """
    device = model.device
    in_memory = isinstance(x_train, Tensor)
    conditional = model.y_dim > 0
    if not conditional:
        y_train = y_val = None
    if in_memory:
        x_train = model.check_data(x_train, "training data")
        if conditional:
            y_train = _check_labels(model, y_train, len(x_train), "training")
    if x_val is not None and len(x_val) == 0:
        x_val = None
    if x_val is not None:
        x_val = model.check_data(x_val, "validation data")
        if conditional:
            y_val = _check_labels(model, y_val, len(x_val), "validation")
        if binarize:
            x_val = torch.bernoulli(
                x_val, generator=torch.Generator(device).manual_seed(config.seed)
            )
    optimizer = make_optimizer(model, config)
    state = LoopState(model, optimizer, config)
    out = Path(out) if out is not None else None
    best = {k: v.clone() for k, v in model.state_dict().items()}
    if resume:
        if out is None or not (out / checkpoint.STATE_FILE).exists():
            raise TrainingError(f"nothing to resume: no {checkpoint.STATE_FILE} in {out}")
        best, info = checkpoint.load_train_state(out, model, optimizer)
        for key in ("epoch", "history", "best_val", "best_epoch", "bad_epochs"):
            setattr(state, key, info[key])
    else:
        torch.manual_seed(config.seed)
    n = len(x_train)
    steps = math.ceil(n / config.batch_size)
    show = progress if progress is not None else sys.stderr.isatty()
    weights_l1 = config.l1 > 0
    model.train()
    while state.epoch < config.epochs and not state.stop:
        epoch = state.epoch + 1
        losses = torch.zeros(steps, device=device)  # (S,) checked lazily: no sync per step
        sums = torch.zeros(2, device=device)  # log_px_z, kl summed over examples
        bar = tqdm(
            total=steps,
            desc=f"epoch {epoch}/{config.epochs}",
            disable=not show,
            leave=False,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        start = time.perf_counter()
        batches = _batches(x_train, y_train, config.batch_size, binarize, device, conditional)
        for step, (xb, yb) in enumerate(batches):
            warm = min(1.0, (epoch - 1 + step / steps) / config.warmup) if config.warmup else 1.0
            t = model.terms(
                xb,
                config.beta * warm,
                config.k,
                y=yb,
                free_bits=config.free_bits,
                dreg=config.dreg,
            )
            loss = -t.objective.mean()
            if weights_l1:
                loss = loss + config.l1 * _l1(model) / n
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            with torch.no_grad():
                losses[step] = loss
                sums += torch.stack([t.log_px_z, t.kl_z]).sum(1)
            if step % 50 == 49 or step == steps - 1:
                _check_finite(losses, epoch, step, out)
                if show:
                    bar.set_postfix(loss=f"{losses[max(0, step - 49) : step + 1].mean():.2f}")
            if show:
                bar.update(1)
        seconds = time.perf_counter() - start
        bar.close()
        train_log_px_z, train_kl = (sums / n).tolist()
        train_elbo = train_log_px_z - train_kl
        record: Record = {
            "epoch": epoch,
            "train_elbo": train_elbo,
            "train_log_px_z": train_log_px_z,
            "train_kl": train_kl,
            "beta": config.beta * warm,
            "seconds": seconds,
        }
        if x_val is not None:
            v = validate(model, x_val, y=y_val)
            record.update(val_elbo=v["elbo"], val_log_px_z=v["log_px_z"], val_kl=v["kl"])
        state.epoch = epoch
        state.history.append(record)
        score = record.get("val_elbo", train_elbo)
        if score > state.best_val:
            state.best_val, state.best_epoch, state.bad_epochs = score, epoch, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
            if config.patience is not None and state.bad_epochs >= config.patience:
                state.stop = True
        if out is not None:
            _save_epoch(out, state, best)
        for hook in hooks:
            hook(state)
        if show:
            tqdm.write(_summary(record), file=sys.stderr)
    if config.patience is not None:
        model.load_state_dict(best)
        if out is not None:
            checkpoint.save_model(model, out, {"best_epoch": state.best_epoch})
    return state


def _check_labels(model: VAE, y: Tensor | None, n: int, split: str) -> Tensor:
    """The labels (or condition vectors) of a conditional model's ``split``, checked once."""
    if y is None:
        raise TrainingError(
            f"a conditional model needs labels for its {split} data; this dataset has none"
        )
    model.condition(y, n)  # raises DataError for a wrong shape or range
    return y.to(model.device)


def _check_finite(losses: Tensor, epoch: int, step: int, out: Path | None) -> None:
    bad = (~torch.isfinite(losses[: step + 1])).nonzero()
    if len(bad):
        where = f"; the last good checkpoint in {out} is untouched" if out else ""
        raise TrainingError(
            f"the loss became {losses[bad[0, 0]].item()} at epoch {epoch}, "
            f"step {int(bad[0, 0]) + 1}{where}. Try a lower --lr or --clip-norm"
        )


def _save_epoch(out: Path, state: LoopState, best: dict[str, Tensor]) -> None:
    info = {
        "epoch": state.epoch,
        "history": state.history,
        "best_val": state.best_val,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
    }
    checkpoint.save_train_state(out, state.model, best, state.optimizer, info)
    checkpoint.save_model(state.model, out, {"epoch": state.epoch})
    checkpoint.write_jsonl(out / "metrics.jsonl", state.history)


def _summary(r: Record) -> str:
    val = f"  val ELBO {r['val_elbo']:9.3f}" if "val_elbo" in r else ""
    return (
        f"epoch {r['epoch']:3d}  train ELBO {r['train_elbo']:9.3f}  "
        f"log p(x|z) {r['train_log_px_z']:9.3f}  KL {r['train_kl']:7.3f}{val}  "
        f"{r['seconds']:.2f}s"
    )
