"""Shared fixtures: tiny synthetic data and small models, so the suite stays fast."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.model.vae import VAE

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VAEKIT_DATA_DIR", ROOT.parent / "shared" / "data"))

torch.set_num_threads(min(2, torch.get_num_threads()))

# A shell that starts a job in the background (`cmd &`, nohup) makes it ignore SIGINT, and an
# ignored signal stays ignored in every child it starts: the tests that press Ctrl-C on a training
# would see it ignored. A handler (unlike SIG_IGN) is reset to the default at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def binary_data() -> torch.Tensor:
    """(256, 1, 4, 4) binary images made from 4 prototypes with pixel noise."""
    g = torch.Generator().manual_seed(0)
    protos = (torch.rand(4, 1, 4, 4, generator=g) > 0.5).float()
    labels = torch.arange(256) % 4
    flips = (torch.rand(256, 1, 4, 4, generator=g) < 0.05).float()
    return (protos[labels] - flips).abs()


@pytest.fixture
def small_model() -> VAE:
    torch.manual_seed(0)
    return VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4), "binary")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shared_data_dir() -> Path:
    """The offline dataset copies, or skip the test with the reason."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"offline datasets not found at {SHARED_DATA} (set VAEKIT_DATA_DIR)")
    return SHARED_DATA
