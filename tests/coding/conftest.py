"""Tiny trained models on synthetic binary images, shared by the coding tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from vaekit.config import ModelConfig, TrainConfig
from vaekit.model.vae import VAE
from vaekit.training.loop import train


def binary_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 6, 6) 0/1 images from 4 prototypes with 10% pixel noise, and their labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, 1, 6, 6, generator=g) > 0.5).float()
    labels = torch.randint(0, 4, (n,), generator=g)
    flips = (torch.rand(n, 1, 6, 6, generator=g) < 0.1).float()
    return (protos[labels] - flips).abs(), labels


def trained(y_dim: int = 0) -> VAE:
    torch.manual_seed(0)
    x, y = binary_images(400, seed=1)
    model = VAE(ModelConfig(latent_dim=4, hidden=(32,)), (1, 6, 6), "binary", y_dim=y_dim)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train(
        model,
        x,
        None,
        TrainConfig(epochs=30, batch_size=32),
        y_train=y if y_dim else None,
        progress=False,
    )
    torch.set_num_threads(threads)
    return model.eval()


@pytest.fixture(scope="session")
def images() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """:func:`binary_images`, for the tests."""
    return binary_images


@pytest.fixture(scope="session")
def binary_model() -> VAE:
    return trained()


@pytest.fixture(scope="session")
def conditional_model() -> VAE:
    return trained(y_dim=4)
