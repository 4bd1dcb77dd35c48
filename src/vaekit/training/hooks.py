"""What the training loop does at the end of each epoch, as hooks of the kind users write.

A hook is any callable that takes the :class:`LoopState`; the loop calls its built-in hooks
(:class:`EarlyStopping`, then :class:`Checkpointing` when there is a run folder), then the user's
``hooks=[...]``, then :class:`Summary` when progress is shown. A hook may set ``state.stop``;
under torchrun rank 0's decision is shared after all hooks have run.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaekit.config import TrainConfig
from vaekit.model.vae import VAE
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
    #: the weights (``model.state_dict()`` copies) of the best epoch so far
    best_weights: dict[str, Tensor] = field(default_factory=dict)
    step_losses: Tensor | None = None  #: (S,) the last epoch's loss per step (mean per example)


Hook = Callable[[LoopState], None]


class EarlyStopping:
    """Keep the best epoch (by ``val_elbo``, else ``train_elbo``) and a copy of its weights;
    with a ``patience``, stop after that many epochs in a row without a better one."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience

    def __call__(self, state: LoopState) -> None:
        record = state.history[-1]
        score: float = record["val_elbo"] if "val_elbo" in record else record["train_elbo"]
        if score > state.best_val:
            state.best_val, state.best_epoch, state.bad_epochs = score, state.epoch, 0
            state.best_weights = {
                k: v.detach().clone() for k, v in state.model.state_dict().items()
            }
        else:
            state.bad_epochs += 1
            if self.patience is not None and state.bad_epochs >= self.patience:
                state.stop = True


class Checkpointing:
    """Rank 0 saves every epoch to the run folder ``out`` (see :func:`_save_epoch`)."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __call__(self, state: LoopState) -> None:
        if distributed.is_main():
            _save_epoch(self.out, state, state.best_weights)


def _save_epoch(out: Path, state: LoopState, best: dict[str, Tensor]) -> None:
    """Atomically rewrite ``out/train_state.safetensors`` (all a resume needs), then
    ``out/model.safetensors`` and ``out/metrics.jsonl`` (the whole history)."""
    checkpoint.save_epoch(out, state, best)  # in the order of checkpoint's resume rule


class Summary:
    """One console line per epoch on stderr (kept above the progress bar)."""

    def __call__(self, state: LoopState) -> None:
        tqdm.write(summary(state.history[-1]), file=sys.stderr)


def summary(r: Record) -> str:
    """An epoch record as one line: ELBO terms in nats per example, and the seconds it took."""
    val = f"  val ELBO {r['val_elbo']:9.3f}" if "val_elbo" in r else ""
    return (
        f"epoch {r['epoch']:3d}  train ELBO {r['train_elbo']:9.3f}  "
        f"log p(x|z) {r['train_log_px_z']:9.3f}  KL {r['train_kl_z']:7.3f}{val}  "
        f"{r['seconds']:.2f}s"
    )
