"""Reduced precision: bf16 autocast with fp32 master weights; fp16 only on a GPU."""

import math

import pytest
import torch

import vaekit
from vaekit._fast import precision
from vaekit._fast.kernels import Linear
from vaekit.config import TrainConfig
from vaekit.errors import ConfigError

CPU = torch.device("cpu")
#: |val ELBO(bf16) - val ELBO(fp32)| after 2 epochs on digits, nats per example (measured:
#: -33.7552 against -33.7555, a difference of 0.0002 nats; the seeded runs see the same data)
TOLERANCE = 0.1


def test_bf16_autocast_runs_products_in_bf16_and_fp32_leaves_them():
    layer = Linear(4, 3)
    x = torch.randn(5, 4)
    with precision.autocast(CPU, "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with precision.autocast(CPU, "fp32"):
        assert layer(x).dtype == torch.float32
    assert layer.weight.dtype == torch.float32


def test_bad_precisions_are_config_errors():
    with pytest.raises(ConfigError, match="unknown precision 'fp8'; choose from fp32, bf16, fp16"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU; use bf16 on a CPU"):
        TrainConfig(precision="fp16")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        precision.Mixed(CPU, "fp16", torch.optim.SGD([torch.zeros(1)], lr=0.1))


def _fit(p: str) -> vaekit.VAE:
    return vaekit.fit(
        "digits",
        vaekit.ModelConfig(latent_dim=4, hidden=(64,)),
        TrainConfig(epochs=2, batch_size=64, precision=p),
        progress=False,
    )


def test_bf16_training_is_finite_close_to_fp32_and_keeps_fp32_weights(one_thread):
    fp32, bf16 = _fit("fp32"), _fit("bf16")
    a, b = fp32.history[-1]["val_elbo"], bf16.history[-1]["val_elbo"]
    assert math.isfinite(b) and abs(a - b) < TOLERANCE, (a, b)
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert bf16.history[-1]["val_elbo"] > bf16.history[0]["val_elbo"] + 1  # it learns


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 trains on a CUDA GPU only")
def test_fp16_trains_on_a_gpu_with_a_gradient_scaler():
    model = vaekit.fit(
        "digits",
        vaekit.ModelConfig(latent_dim=4, hidden=(64,)),
        TrainConfig(epochs=2, batch_size=64, precision="fp16", device="cuda"),
        progress=False,
    )
    assert math.isfinite(model.history[-1]["val_elbo"])
    assert all(p.dtype == torch.float32 for p in model.parameters())
