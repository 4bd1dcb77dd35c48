import json

import pytest
import torch

from vaekit import runs
from vaekit.config import ModelConfig
from vaekit.errors import CheckpointError, RunWriteError
from vaekit.model.vae import VAE
from vaekit.training import checkpoint


def _model(**kw):
    torch.manual_seed(0)
    return VAE(ModelConfig(latent_dim=3, hidden=(8, 6), **kw), (1, 4, 4))


@pytest.mark.parametrize("name", ["run_dir", "weights.safetensors"])
def test_save_load_round_trips_bit_exactly(tmp_path, name):
    model = _model(likelihood="gaussian")
    path = checkpoint.save_model(model, tmp_path / name)
    loaded = checkpoint.load_model(tmp_path / name)
    assert loaded.config == model.config and loaded.shape == model.shape
    for (k, v), w in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    assert path.suffix == ".safetensors"


def test_standardisation_statistics_are_saved(tmp_path):
    loc, scale = torch.arange(4.0), torch.full((4,), 2.0)
    model = VAE(ModelConfig(latent_dim=1, hidden=(4,)), (4,), "real", loc, scale)
    checkpoint.save_model(model, tmp_path)
    loaded = checkpoint.load_model(tmp_path)
    assert torch.equal(loaded.x_loc, loc) and torch.equal(loaded.x_scale, scale)


def test_no_pickle_anywhere(tmp_path):
    checkpoint.save_model(_model(), tmp_path)
    data = (tmp_path / checkpoint.MODEL_FILE).read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])  # safetensors: a JSON header + raw tensors
    assert header["__metadata__"]["format"] == checkpoint.FORMAT


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        checkpoint.load_model(tmp_path / "nope")


def test_truncated_checkpoint(tmp_path):
    path = checkpoint.save_model(_model(), tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load_model(tmp_path)


def test_garbage_checkpoint(tmp_path):
    (tmp_path / checkpoint.MODEL_FILE).write_bytes(b"\x00" * 50)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load_model(tmp_path)


def test_incompatible_checkpoint(tmp_path):
    from safetensors.torch import save_file

    tensors = {k: v for k, v in _model().state_dict().items()}
    tensors["encoder.net.0.weight"] = torch.zeros(2, 2)
    meta = {
        "format": checkpoint.FORMAT,
        **{k: json.dumps(v) for k, v in checkpoint.model_meta(_model()).items()},
    }
    save_file(tensors, str(tmp_path / checkpoint.MODEL_FILE), metadata=meta)
    with pytest.raises(CheckpointError, match=r"'encoder.net.0.weight' is F32 \[2, 2\]"):
        checkpoint.load_model(tmp_path)


def test_foreign_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a vaekit checkpoint"):
        checkpoint.load_model(tmp_path / "other.safetensors")


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = checkpoint.save_model(_model(), tmp_path)
    before = path.read_bytes()

    def fail(tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(RunWriteError, match="disk full; the previous file is kept"):
        runs.atomic_write(path, fail)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.MODEL_FILE]  # no temp left over
