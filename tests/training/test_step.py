"""The step object and the KL schedule (the CUDA-graph path: tests/_fast/test_graphs.py)."""

import pytest
import torch

from vaekit._fast import optim
from vaekit.config import ModelConfig, TrainConfig
from vaekit.model.vae import VAE
from vaekit.training.batching import Batch
from vaekit.training.step import Step, kl_weight, make_optimizer


def test_kl_weight_ramps_linearly_over_the_warmup_epochs_then_holds():
    config = TrainConfig(warmup=2, beta=0.5)
    assert kl_weight(1, 0, 10, config) == 0.0
    assert kl_weight(1, 5, 10, config) == pytest.approx(0.5 * 0.25)
    assert kl_weight(2, 5, 10, config) == pytest.approx(0.5 * 0.75)
    assert kl_weight(3, 0, 10, config) == 0.5 == kl_weight(9, 9, 10, config)
    assert kl_weight(1, 0, 10, TrainConfig(beta=0.5)) == 0.5  # no warm-up: beta from the start


def _step(config, optimizer=None):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (1, 2, 2))
    optimizer = optimizer(model) if optimizer else make_optimizer(model, config)
    return model, Step(model, optimizer, config, n=4, in_memory=True)


def test_the_path_is_chosen_once_lean_adam_on_the_cpu():
    config = TrainConfig(batch_size=4)
    model, step = _step(config)
    assert step.graphed is None  # no CUDA graph on the CPU
    assert step.update == step.optimizer.update and isinstance(step.optimizer, optim.Adam)
    _, torch_step = _step(config, lambda m: torch.optim.Adam(m.parameters(), fused=True))
    assert not hasattr(torch_step.optimizer, "update")


@pytest.mark.parametrize("fallback", [False, True])
def test_a_step_returns_the_loss_and_the_summed_terms_and_moves_the_weights(fallback):
    config = TrainConfig(batch_size=4)
    adam = (lambda m: torch.optim.Adam(m.parameters(), fused=True)) if fallback else None
    model, step = _step(config, adam)
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]] * 4).view(4, 1, 2, 2)
    eps = torch.zeros(4, 2)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        t = model(x, 1.0, 1, eps=eps)
    loss, sums = step(Batch(x, None, slice(0, 4), 4, 1.0), eps, 1.0)
    torch.testing.assert_close(loss, -t.objective.mean())  # the batch mean, in nats
    torch.testing.assert_close(sums, torch.stack([t.log_px_z.sum(), t.kl_z.sum()]))
    assert all(not torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))


def test_full_batches_replay_the_graph_and_a_short_last_batch_runs_eagerly(
    binary_data, monkeypatch
):
    """The graphed path's routing, on the CPU: a stand-in for GraphedStep runs the captured
    function eagerly with tensor beta and lr, as the replayed graph would."""
    from vaekit._fast import graphs
    from vaekit.training.loop import train

    calls = []

    class Replay:
        def __init__(self, step, lr_of, device):
            self.step, self.lr_of = step, lr_of

        def __call__(self, x, y, eps, beta):
            calls.append(len(x))
            return self.step(x, y, eps, torch.tensor(float(beta)), torch.tensor(self.lr_of()))

    def fit(graphed):
        monkeypatch.setattr(graphs, "usable", lambda *a: graphed)
        monkeypatch.setattr(graphs, "GraphedStep", Replay)
        torch.manual_seed(0)
        model = VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4))
        train(model, binary_data[:250], None, TrainConfig(epochs=2, batch_size=64, warmup=1))
        return model

    eager, graphed = fit(False), fit(True)
    assert calls == [64, 64, 64] * 2  # the last batch of 58 in each epoch ran eagerly
    for p, q in zip(eager.parameters(), graphed.parameters(), strict=True):
        torch.testing.assert_close(p, q)
