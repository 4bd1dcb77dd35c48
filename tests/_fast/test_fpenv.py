from pathlib import Path

import pytest
import torch

from vaekit._fast import fpenv
from vaekit.config import ModelConfig, TrainConfig
from vaekit.model.vae import VAE
from vaekit.training.loop import train

SUBNORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


SUBNORMALS = torch.full((1 << 22,), SUBNORMAL)  # made unflushed, at import


def _halved() -> torch.Tensor:
    """Subnormals halved by an op large enough for torch to split it over its threads (with
    the flush on, its input reads as zero too)."""
    return SUBNORMALS * 0.5  # (n,)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_flush_reaches_every_thread_and_is_undone(two_threads):
    assert not fpenv.flushing()
    assert (_halved() > 0).all()  # gradual underflow, as IEEE 754 has it
    with fpenv.flush_denormals():
        assert fpenv.flushing()
        assert (_halved() == 0).all()  # on the workers' share of the elements too
    assert not fpenv.flushing()
    assert (_halved() > 0).all()


def test_a_flush_the_caller_had_set_is_left_on():
    fpenv.set_flush(True)
    try:
        with fpenv.flush_denormals():
            pass
        assert fpenv.flushing()
    finally:
        fpenv.set_flush(False)
    assert not fpenv.flushing()


def test_the_flush_is_undone_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"), fpenv.flush_denormals():
        raise RuntimeError("boom")
    assert not fpenv.flushing()


@pytest.mark.slow
def test_training_flushes_and_restores(binary_data, two_threads):
    seen = []
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (1, 4, 4))
    train(
        model,
        binary_data,
        None,
        TrainConfig(epochs=1, batch_size=64),
        hooks=[lambda state: seen.append((fpenv.flushing(), bool((_halved() == 0).all())))],
    )
    assert seen == [(True, True)]
    assert not fpenv.flushing()


def test_the_runtime_is_torchs_own_beside_another_packages_copy():
    import sklearn.linear_model  # noqa: F401  (scikit-learn's wheels map their own libgomp)

    home = Path(torch.__file__).resolve().parent
    if not any(home.glob("lib/lib*omp*")):
        pytest.skip("this torch build ships no OpenMP runtime of its own")
    fpenv._openmp.cache_clear()
    lib = fpenv._openmp()
    assert lib is not None and Path(lib._name).resolve().is_relative_to(home)


def test_the_flush_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("VAEKIT_FLUSH_DENORMALS", "0")
    with fpenv.flush_denormals():
        assert not fpenv.flushing()
