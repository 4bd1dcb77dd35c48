import json
import resource

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


def _trained(tmp_path, epochs):
    from vaekit.config import TrainConfig
    from vaekit.training.loop import train

    model = _model()
    x = torch.rand(40, 1, 4, 4)
    train(model, x, None, TrainConfig(epochs=epochs, batch_size=20, seed=3), out=tmp_path)
    return model, x, TrainConfig(epochs=epochs, batch_size=20, seed=3)


def test_each_epoch_writes_the_state_first_then_what_derives_from_it(tmp_path, monkeypatch):
    written = []
    real = runs.atomic_write
    monkeypatch.setattr(runs, "atomic_write", lambda p, w: written.append(p.name) or real(p, w))
    _trained(tmp_path, 2)
    assert written == [runs.STATE, runs.MODEL, runs.METRICS] * 2


def test_a_resume_with_nothing_left_to_train_still_rewrites_the_model(tmp_path):
    """The issue: killed after the last state was saved but before its model, a resume found
    nothing to train and left the previous epoch's model."""
    from vaekit.training.loop import train

    model, x, config = _trained(tmp_path, 2)
    final = {k: v.clone() for k, v in model.state_dict().items()}
    checkpoint.save_model(_model(), tmp_path, {"epoch": 1})  # the model of an earlier epoch
    (tmp_path / runs.METRICS).write_text("")
    again = _model()
    state = train(again, x, None, config, out=tmp_path, resume=True)
    assert state.epoch == 2
    saved = checkpoint.load_model(tmp_path).state_dict()
    assert all(torch.equal(saved[k], final[k]) for k in final)
    assert len((tmp_path / runs.METRICS).read_text().splitlines()) == 2


def test_a_training_state_with_a_negative_epoch_is_refused(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model, x, config = _trained(tmp_path, 1)
    path = tmp_path / runs.STATE
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    info = json.loads(meta["info"])
    meta["info"] = json.dumps({**info, "epoch": -5})
    save_file(tensors, str(path), metadata=meta)
    from vaekit.training.loop import train

    with pytest.raises(CheckpointError, match=r"epoch = -5 is not an epoch"):
        train(_model(), x, None, config, out=tmp_path, resume=True)


def test_metadata_claiming_a_huge_model_is_refused_before_allocating(tmp_path):
    path = checkpoint.save_model(_model(), tmp_path)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    model = json.loads(meta["model"])
    meta["model"] = json.dumps({**model, "hidden": [60000, 60000]})  # in bounds, 14 GB of weights
    save_file(tensors, str(path), metadata=meta)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB
    with pytest.raises(CheckpointError, match="its model's is F32 \\[60000, 16\\]"):
        checkpoint.load_model(tmp_path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def test_a_training_state_from_another_run_is_refused(tmp_path):
    """The same model trained with another learning rate: its state copied into this run is
    refused, naming the setting, before anything is written."""
    from vaekit.config import TrainConfig
    from vaekit.training.loop import train

    _, x, config = _trained(tmp_path / "a", 2)
    other = TrainConfig(epochs=2, batch_size=20, seed=3, lr=0.01)
    train(_model(), x, None, other, out=tmp_path / "b")
    (tmp_path / "b" / runs.STATE).replace(tmp_path / "a" / runs.STATE)
    model_before = (tmp_path / "a" / runs.MODEL).read_bytes()
    longer = TrainConfig(epochs=3, batch_size=20, seed=3)
    with pytest.raises(CheckpointError, match=r"another run: trained with lr = 0\.01.* 0\.001"):
        train(_model(), x, None, longer, out=tmp_path / "a", resume=True)
    assert (tmp_path / "a" / runs.MODEL).read_bytes() == model_before
    state = train(_model(), x, None, other, out=tmp_path / "a", resume=True)  # its own settings
    assert state.epoch == 2


@pytest.mark.parametrize("kind", ["binary", "grey", "rgb", "real"])
def test_a_model_of_every_data_kind_loads_back(tmp_path, kind):
    """Every kind the data readers produce (RGB images included) is a kind a checkpoint holds."""
    from vaekit.data.dataset import KINDS

    assert kind in KINDS
    shape = (3, 4, 4) if kind == "rgb" else (1, 4, 4)
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), shape, kind)
    checkpoint.save_model(model, tmp_path)
    assert checkpoint.load_model(tmp_path).kind == kind
