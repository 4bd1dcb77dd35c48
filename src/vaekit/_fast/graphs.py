"""A training step replayed as one CUDA graph.

A small VAE's step on a GPU is a hundred or so tiny kernels (forward, backward, Adam), each
launched from Python: the launches, not the arithmetic, set the epoch time. Captured once as a
CUDA graph (``torch.cuda.graph``), a step becomes one launch. The step itself stays the training
step's own (:meth:`vaekit.training.step.Step.eager`, which decides when to use a graph); this
module only gives it static input buffers, captures it after a few eager warm-up steps (on a side
stream, as CUDA graph capture requires) and replays it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: eager steps before the capture (cuBLAS and autograd set themselves up on the first calls)
WARMUP_STEPS = 3

Step = Callable[[Tensor, Tensor | None, Tensor, Tensor, Tensor | None], tuple[Tensor, Tensor]]


class GraphedStep:
    """Run ``step(x, y, eps, beta, lr) -> (loss, sums)`` for full batches as a CUDA graph.

    The first :data:`WARMUP_STEPS` calls run eagerly on a side stream, the next captures the
    step and replays it; every later call copies its inputs into the static buffers and replays.
    ``lr`` is read from ``lr_of()`` at each call, so a schedule that changes the optimiser's
    learning rate between steps still applies.
    """

    def __init__(self, step: Step, lr_of: Callable[[], float], device: torch.device) -> None:
        self.step, self.lr_of, self.device = step, lr_of, device
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.stream = torch.cuda.Stream(device)
        self.inputs: tuple[Tensor, Tensor | None, Tensor, Tensor, Tensor] | None = None
        self.outputs: tuple[Tensor, Tensor] | None = None

    def __call__(
        self, x: Tensor, y: Tensor | None, eps: Tensor, beta: float
    ) -> tuple[Tensor, Tensor]:
        if self.inputs is None:
            self.inputs = (
                torch.empty_like(x),
                None if y is None else torch.empty_like(y),
                torch.empty_like(eps),
                torch.zeros((), device=self.device),
                torch.zeros((), device=self.device),
            )
        sx, sy, seps, sbeta, slr = self.inputs
        sx.copy_(x, non_blocking=True)
        if sy is not None and y is not None:
            sy.copy_(y, non_blocking=True)
        seps.copy_(eps, non_blocking=True)
        sbeta.fill_(beta)
        slr.fill_(self.lr_of())
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
        elif self.calls <= WARMUP_STEPS:
            self.stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.stream):
                self.outputs = self.step(sx, sy, seps, sbeta, slr)
            torch.cuda.current_stream(self.device).wait_stream(self.stream)
        else:
            torch.cuda.synchronize(self.device)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = self.step(sx, sy, seps, sbeta, slr)
            self.graph.replay()  # capturing records the step; replaying runs it
        assert self.outputs is not None
        return self.outputs


def usable(device: torch.device, in_memory: bool, world: int, enabled: bool) -> bool:
    """Whether the training loop can replay its steps as CUDA graphs: a CUDA device, data in
    memory (fixed batch shapes), a single process, and not switched off."""
    return enabled and device.type == "cuda" and in_memory and world == 1
