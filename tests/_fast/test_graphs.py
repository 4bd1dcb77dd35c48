"""CUDA-graph training steps. The GPU tests run where a CUDA device is present (CI has none)."""

import pytest
import torch

from vaekit._fast import graphs
from vaekit.config import ModelConfig, TrainConfig
from vaekit.model.vae import VAE
from vaekit.training.loop import train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_graphs_are_used_only_for_a_single_process_on_a_gpu_with_data_in_memory():
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert graphs.usable(gpu, in_memory=True, world=1, enabled=True)
    assert not graphs.usable(cpu, in_memory=True, world=1, enabled=True)
    assert not graphs.usable(gpu, in_memory=False, world=1, enabled=True)
    assert not graphs.usable(gpu, in_memory=True, world=2, enabled=True)
    assert not graphs.usable(gpu, in_memory=True, world=1, enabled=False)


def _fit(data, cuda_graph, model_kw=None, y=None, hooks=(), epochs=8, **train_kw):
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=2, hidden=(32,), **(model_kw or {}))
    model = VAE(config, (1, 4, 4), y_dim=0 if y is None else 4).cuda()
    config = TrainConfig(
        epochs=epochs, batch_size=32, lr=3e-3, cuda_graph=cuda_graph, device="cuda", **train_kw
    )
    state = train(model, data.cuda(), None, config, y_train=y, hooks=hooks)
    return model, state


@cuda
@pytest.mark.parametrize(
    "model_kw,train_kw",
    [({}, {}), ({}, {"k": 4, "dreg": True}), ({"prior": "vampprior", "components": 5}, {})],
)
def test_graphed_training_learns_like_eager_training(binary_data, model_kw, train_kw):
    data = binary_data[:250]  # a last batch of 26: graphed full batches, an eager last one
    _, eager = _fit(data, False, model_kw, **train_kw)
    _, graphed = _fit(data, True, model_kw, **train_kw)
    first, last = graphed.history[0]["train_elbo"], graphed.history[-1]["train_elbo"]
    assert last > first + 1  # it learns
    assert abs(last - eager.history[-1]["train_elbo"]) < 1.0  # as the eager loop does


@cuda
def test_graphed_steps_read_the_current_learning_rate(binary_data):
    def freeze(state):
        for group in state.optimizer.param_groups:
            group["lr"] = 0.0

    model, _ = _fit(binary_data[:256], True, hooks=[freeze], epochs=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model2, _ = _fit(binary_data[:256], True, hooks=[freeze])
    # after the first epoch the learning rate is 0: epochs 2..8 leave the weights alone
    for k, v in before.items():
        torch.testing.assert_close(model2.state_dict()[k], v)


@cuda
def test_graphed_conditional_training(binary_data):
    y = (torch.arange(256) % 4).cuda()
    model, state = _fit(binary_data, True, y=y)
    assert state.history[-1]["train_elbo"] > state.history[0]["train_elbo"]
    assert model.sample(3, seed=0, y=1).shape == (3, 1, 4, 4)
