import dataclasses

import pytest

from vaekit.config import ModelConfig, TrainConfig, from_dict, to_dict
from vaekit.errors import ConfigError


@pytest.mark.parametrize(
    ("cls", "kw", "message"),
    [
        (ModelConfig, {"latent_dim": 0}, "latent_dim must be >= 1"),
        (ModelConfig, {"hidden": (400, 0)}, "hidden sizes must be >= 1"),
        (ModelConfig, {"gaussian_scale": -1.0}, "gaussian_scale must be > 0"),
        (TrainConfig, {"epochs": 0}, "epochs must be >= 1"),
        (TrainConfig, {"lr": 0.0}, "lr must be > 0"),
        (TrainConfig, {"k": 0}, "k must be >= 1"),
        (TrainConfig, {"patience": 0}, "patience must be >= 1"),
        (TrainConfig, {"k": 5, "beta": 0.5}, "beta != 1 applies to the ELBO only"),
    ],
)
def test_bad_values_are_named(cls, kw, message):
    with pytest.raises(ConfigError, match=message):
        cls(**kw)


def test_round_trip_through_json_types_and_unknown_keys():
    config = ModelConfig(hidden=[64, 32])  # a list from JSON becomes a tuple
    assert config.hidden == (64, 32)
    assert from_dict(ModelConfig, to_dict(config)) == config
    with pytest.raises(ConfigError, match=r"unknown TrainConfig fields: \['epoch'\]"):
        from_dict(TrainConfig, {"epoch": 3})


def test_every_field_has_a_one_line_help():
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata["help"] and "\n" not in f.metadata["help"], f.name


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: ModelConfig(activation="foo"), "activation"),
        (lambda: ModelConfig(likelihood="Gaussian"), "likelihood"),
        (lambda: TrainConfig(seed=-1), "seed"),
    ],
)
def test_names_and_seeds_are_checked_when_the_config_is_made(make, field) -> None:
    with pytest.raises(ConfigError, match=field):
        make()


def test_the_configs_name_every_activation_and_likelihood_the_model_has() -> None:
    from vaekit.config import _choices
    from vaekit.model.likelihoods import LIKELIHOODS
    from vaekit.model.nets import ACTIVATIONS

    assert set(_choices(ModelConfig, "activation")) == set(ACTIVATIONS)
    assert set(_choices(ModelConfig, "likelihood")) == {"auto", *LIKELIHOODS}


@pytest.mark.parametrize("name", ["meta", "no-such-device"])
def test_a_device_that_cannot_train_is_one_clear_error(name) -> None:
    from vaekit.training.loop import resolve_device

    with pytest.raises(ConfigError, match="device"):
        resolve_device(name)
    assert resolve_device("cpu").type == "cpu"
