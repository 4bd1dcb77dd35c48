"""One training step: forward, backward, clip, Adam, with its path chosen once.

Three paths compute the same step: replayed as one CUDA graph (:mod:`vaekit._fast.graphs`:
one GPU, data in memory, full batches), eagerly with vaekit's lean Adam update
(:mod:`vaekit._fast.optim`), or eagerly with torch's Adam (the fallback, see
:func:`vaekit._fast.optim.adam`). :class:`Step` picks the path when it is built; the loop only
calls it. The KL weight of each step comes from the pure schedule :func:`kl_weight`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from vaekit._fast import graphs, optim, precision
from vaekit.config import TrainConfig
from vaekit.model.objectives import Terms
from vaekit.model.vae import VAE
from vaekit.training import distributed
from vaekit.training.batching import Batch


def kl_weight(epoch: int, step: int, steps: int, config: TrainConfig) -> float:
    """beta of step ``step`` (0-based, of ``steps``) in epoch ``epoch`` (1-based): a linear ramp
    from 0 to ``config.beta`` over the first ``config.warmup`` epochs, then ``config.beta``."""
    warm = min(1.0, (epoch - 1 + step / steps) / config.warmup) if config.warmup else 1.0
    return config.beta * warm


def make_optimizer(model: VAE, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam with ``config``'s learning rate and weight decay: the fastest kernel that works on the
    model's device (:func:`vaekit._fast.optim.adam`)."""
    return optim.adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


class Step:
    """One optimisation step on this rank's part of a global batch; call it with the batch, its
    reparameterisation noise and beta; it returns (loss, (2,) sums of log_px_z and kl_z).

    ``n``: the number of training examples (the L1 penalty is per example). ``in_memory``: the
    data are one tensor (fixed batch shapes, so full batches may replay a CUDA graph).
    """

    def __init__(
        self,
        model: VAE,
        optimizer: torch.optim.Optimizer,
        config: TrainConfig,
        n: int,
        in_memory: bool,
    ) -> None:
        self.model, self.optimizer, self.config, self.n = model, optimizer, config, n
        self.net = distributed.wrap(model)  # DDP with several ranks
        self.world = distributed.world_size()
        # vaekit's Adam: its step without torch's per-call wrapper; torch's Adam: its step
        self.update: Callable[[Tensor | None], object] = (
            optimizer.update if isinstance(optimizer, optim.Adam) else lambda lr: optimizer.step()
        )
        self.amp = precision.Mixed(model.device, config.precision, optimizer)  # fp16: a scaler
        self.graphed: graphs.GraphedStep | None = None
        usable = graphs.usable(model.device, in_memory, self.world, config.cuda_graph)
        usable = usable and self.amp.graphable
        if usable and isinstance(optimizer, optim.Adam):  # a graph reads lr from a tensor
            self.graphed = graphs.GraphedStep(
                functools.partial(self.eager, scale=1 / config.batch_size),
                lambda: optimizer.param_groups[0]["lr"],
                model.device,
            )

    def __call__(self, batch: Batch, eps: Tensor, beta: float) -> tuple[Tensor, Tensor]:
        if self.graphed is not None and batch.size == self.config.batch_size:
            return self.graphed(batch.x, batch.y, eps, beta)
        # DDP averages over the ranks: scaled so, the gradient is the global batch's mean
        scale = (batch.weight * self.world) / batch.size
        return self.eager(batch.x, batch.y, eps, beta, scale=scale)

    def forward(self, x: Tensor, y: Tensor | None, eps: Tensor, beta: float | Tensor) -> Terms:
        """The objective's terms per example (b,) for ``x`` (b, *shape), noise ``eps`` (b, L) or
        (k, b, L): the one place the model runs forward."""
        c = self.config
        with self.amp.autocast():
            t: Terms = self.net(x, beta, c.k, eps=eps, y=y, free_bits=c.free_bits, dreg=c.dreg)
        return t

    def eager(
        self,
        x: Tensor,
        y: Tensor | None,
        eps: Tensor,
        beta: float | Tensor,
        lr: Tensor | None = None,
        scale: float = 1.0,
    ) -> tuple[Tensor, Tensor]:
        """The step without a graph: ``scale`` times the negative objective summed over the
        rows, plus the L1 penalty; ``lr`` (a 0-d tensor) overrides the learning rate."""
        t = self.forward(x, y, eps, beta)
        loss = -t.objective.sum() * scale
        if self.config.l1 > 0:
            loss = loss + self.config.l1 * _l1(self.model) / self.n
        self.optimizer.zero_grad(set_to_none=True)
        self.amp.backward(loss)
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.amp.step(lambda: self.update(lr))
        with torch.no_grad():
            return loss.detach(), torch.stack([t.log_px_z, t.kl_z]).sum(1)


def _l1(model: VAE) -> Tensor:
    """The sum of the absolute weights (not biases) of ``model``, a 0-d tensor."""
    return sum(  # type: ignore[return-value]
        p.abs().sum() for n, p in model.named_parameters() if n.endswith("weight")
    )
