"""The one training loop, for every model.

Fast path: data that fits in memory stays one tensor on the training device and is batched by
index (no per-sample Python, no DataLoader). Streaming path: any ``torch.utils.data.Dataset``
goes through a DataLoader. Per epoch: a seeded shuffle, Adam steps on the (beta-)ELBO or IWAE
bound with linear KL warm-up and optional gradient clipping, validation, history, checkpoint.

Data-parallel (under torchrun, see :mod:`vaekit.training.distributed`): every rank holds the same
data, draws the same permutation and the random numbers of the whole global batch, and computes
its own rows of it (:func:`_batches`); DistributedDataParallel averages the gradients. So the global
batch is ``config.batch_size`` and the result does not depend on the number of ranks beyond
floating-point order. Metrics are all-reduced, rank 0's epoch record and stop decision are shared,
and only rank 0 writes files.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from vaekit._fast import fpenv, graphs, optim
from vaekit.config import TrainConfig
from vaekit.errors import ConfigError, TrainingError
from vaekit.model.vae import VAE, split_batches
from vaekit.training import checkpoint, distributed

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


class Batch(NamedTuple):
    """This rank's part of one global batch (all of it in a single process)."""

    x: Tensor  #: (b, *shape) this rank's examples, on the training device
    y: Tensor | None  #: (b, ...) their labels or condition vectors (conditional models)
    rows: slice  #: where they sit in the global batch
    size: int  #: B, the examples in the global batch
    weight: float  #: 1, or 0 for a stand-in row (see :func:`_share`)


def _share(size: int) -> tuple[slice, float]:
    """This rank's rows of a global batch of ``size`` examples and their weight in the loss.

    A rank left without rows (a last batch smaller than the number of ranks) takes the first row
    with weight 0: it must still join the gradient all-reduce, and an empty batch has no ELBO.
    """
    rows = distributed.share(size)
    return (rows, 1.0) if rows.stop > rows.start else (slice(0, 1), 0.0)


def _batches(
    x: Tensor | TorchDataset,
    y: Tensor | None,
    batch_size: int,
    binarize: bool,
    device: torch.device,
    conditional: bool = False,
) -> Iterator[Batch]:
    """One shuffled epoch of global batches of ``batch_size``, this rank's part of each on
    ``device``. Every rank draws the same permutation (the global RNG is seeded alike) and the
    binarisation noise of the whole global batch, so no draw depends on the number of ranks.

    In memory, the labels ``y`` ride along with ``x``; a streaming dataset yields ``(x, y)``
    items, whose y is kept when the model is ``conditional``.
    """
    local: Iterator[tuple[Tensor, Tensor | None]]
    if isinstance(x, Tensor):
        perm = torch.randperm(x.shape[0], device=x.device)  # (N,)
        shares = [(idx, *_share(len(idx))) for idx in perm.split(batch_size)]
        local = (
            (
                x.index_select(0, idx[rows]),
                None if y is None else y.index_select(0, idx[rows].to(y.device)),
            )
            for idx, rows, _ in shares
        )
    else:
        gen = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        perm = torch.randperm(len(x), generator=gen)  # (N,)
        shares = [(idx, *_share(len(idx))) for idx in perm.split(batch_size)]
        mine = [idx[rows].tolist() for idx, rows, _ in shares]
        loader = DataLoader(x, batch_sampler=mine, generator=gen)
        local = (_item(b, conditional) for b in loader)
    for (idx, rows, weight), (xb, yb) in zip(shares, local, strict=True):
        xb = xb.to(device, torch.float32, non_blocking=True)
        yb = None if yb is None else yb.to(device, non_blocking=True)
        xb = _bernoulli(xb, rows, len(idx)) if binarize else xb
        yield Batch(xb, yb, rows, len(idx), weight)


def _item(b: Any, conditional: bool) -> tuple[Tensor, Tensor | None]:
    """A streaming dataset's batch as (x, y or None)."""
    if not isinstance(b, list | tuple):
        return b, None
    if conditional and len(b) < 2:
        raise TrainingError("a conditional model needs a dataset of (x, y) pairs")
    return b[0], (b[1] if conditional else None)


def _bernoulli(x: Tensor, rows: slice, size: int) -> Tensor:
    """A Bernoulli draw of this rank's ``x`` (b, *shape), equal to its rows of the draw of the
    whole global batch of ``size`` examples (torch draws one number per element, whatever p)."""
    if len(x) == size:
        return torch.bernoulli(x)
    p = x.new_zeros(size, *x.shape[1:])  # (B, *shape)
    p[rows] = x
    return torch.bernoulli(p)[rows]


def _noise(batch: Batch, k: int, latent_dim: int) -> Tensor:
    """Reparameterisation noise for this rank's rows, (b, L) or (k, b, L): the rows of the noise
    of the whole global batch, so every example gets the noise a single process would give it."""
    shape = (batch.size, latent_dim) if k == 1 else (k, batch.size, latent_dim)
    eps = torch.randn(shape, device=batch.x.device)
    return eps[batch.rows] if k == 1 else eps[:, batch.rows]


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
    return {"elbo": elbo, "log_px_z": log_px_z, "kl": kl_z}


def _l1(model: VAE) -> Tensor:
    return sum(p.abs().sum() for n, p in model.named_parameters() if n.endswith("weight"))


@fpenv.flush_denormals()  # Adam's decaying moments would turn subnormal: see vaekit._fast.fpenv
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

    In a process group (torchrun, :func:`vaekit.training.distributed.init`) every rank passes the
    same data and config and trains its share of each global batch of ``config.batch_size``; only
    rank 0 writes to ``out``, and every rank reads it to resume.
    """
    device = model.device
    in_memory = isinstance(x_train, Tensor)
    conditional = model.y_dim > 0
    if not conditional:
        y_train = y_val = None
    if in_memory:
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
                x_val, generator=torch.Generator(device).manual_seed(config.seed)
            )
    optimizer = make_optimizer(model, config)
    state = LoopState(model, optimizer, config)
    out = Path(out) if out is not None else None
    best = {k: v.clone() for k, v in model.state_dict().items()}
    if resume:
        best = checkpoint.resume(out, state)  # the state file decides; see checkpoint.resume
    else:
        torch.manual_seed(config.seed)
    n = len(x_train)
    steps = math.ceil(n / config.batch_size)
    show = (progress if progress is not None else sys.stderr.isatty()) and distributed.is_main()
    weights_l1 = config.l1 > 0
    net, world = distributed.wrap(model), distributed.world_size()  # DDP with several ranks
    # vaekit's Adam: its step without torch's per-call wrapper
    update = optimizer.update if isinstance(optimizer, optim.Adam) else None

    def optimise(
        x: Tensor,
        y: Tensor | None,
        eps: Tensor,
        beta: float | Tensor,
        lr: Tensor | None = None,
        scale: float = 1.0,
    ) -> tuple[Tensor, Tensor]:
        """One step on this rank's part of a batch: (loss, (2,) sums of log_px_z and kl_z)."""
        t = net(x, beta, config.k, eps=eps, y=y, free_bits=config.free_bits, dreg=config.dreg)
        # DDP averages over the ranks: scaled so, the gradient is the global batch's mean
        loss = -t.objective.sum() * scale
        if weights_l1:
            loss = loss + config.l1 * _l1(model) / n
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        update(lr) if update is not None else optimizer.step()
        with torch.no_grad():
            return loss.detach(), torch.stack([t.log_px_z, t.kl_z]).sum(1)

    graphed = None
    if graphs.usable(device, in_memory, world, config.cuda_graph) and isinstance(
        optimizer, optim.Adam
    ):
        graphed = graphs.GraphedStep(
            functools.partial(optimise, scale=1 / config.batch_size),
            lambda: optimizer.param_groups[0]["lr"],
            device,
        )
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
        start, checked = time.perf_counter(), 0
        batches = _batches(x_train, y_train, config.batch_size, binarize, device, conditional)
        for step, batch in enumerate(batches):
            warm = min(1.0, (epoch - 1 + step / steps) / config.warmup) if config.warmup else 1.0
            eps = _noise(batch, config.k, model.config.latent_dim)
            beta = config.beta * warm
            if graphed is not None and batch.size == config.batch_size:
                loss, part = graphed(batch.x, batch.y, eps, beta)
            else:
                scale = (batch.weight * world) / batch.size
                loss, part = optimise(batch.x, batch.y, eps, beta, scale=scale)
            with torch.no_grad():
                losses[step] = loss
                sums += batch.weight * part
            if step % 50 == 49 or step == steps - 1:
                # the ranks' losses average to the global batch's: every rank sees the same
                distributed.all_reduce_mean(losses[checked : step + 1])
                checked = step + 1
                _check_finite(losses, epoch, step, out)
                if show:
                    bar.set_postfix(loss=f"{losses[max(0, step - 49) : step + 1].mean():.2f}")
            if show:
                bar.update(1)
        seconds = time.perf_counter() - start
        bar.close()
        train_log_px_z, train_kl = (distributed.all_reduce_sum(sums) / n).tolist()
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
        record = distributed.broadcast(record)  # rank 0's record decides, on every rank
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
        if out is not None and distributed.is_main():
            _save_epoch(out, state, best)
        for hook in hooks:
            hook(state)
        state.stop = distributed.broadcast(state.stop)  # a stop is decided once, by rank 0
        if show:
            tqdm.write(_summary(record), file=sys.stderr)
    if config.patience is not None:
        model.load_state_dict(best)
        if out is not None and distributed.is_main():
            checkpoint.save_model(model, out, {"best_epoch": state.best_epoch})
    return state


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


def _save_epoch(out: Path, state: LoopState, best: dict[str, Tensor]) -> None:
    checkpoint.save_epoch(out, state, best)  # in the order of checkpoint's resume rule


def _summary(r: Record) -> str:
    val = f"  val ELBO {r['val_elbo']:9.3f}" if "val_elbo" in r else ""
    return (
        f"epoch {r['epoch']:3d}  train ELBO {r['train_elbo']:9.3f}  "
        f"log p(x|z) {r['train_log_px_z']:9.3f}  KL {r['train_kl']:7.3f}{val}  "
        f"{r['seconds']:.2f}s"
    )
