import pytest
import torch

from vaekit.errors import ConfigError
from vaekit.nets import ACTIVATIONS, MLPDecoder, MLPEncoder
from vaekit.priors import make_prior


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_networks_output_parameters_of_the_right_shapes(act):
    enc, dec = MLPEncoder(12, 3, (8, 5), act), MLPDecoder(3, 12, (5, 8), act)
    loc, log_var = enc(torch.randn(4, 12))
    assert loc.shape == log_var.shape == (4, 3)
    assert dec(torch.randn(2, 4, 3)).shape == (2, 4, 12)  # any leading sample dimensions


def test_no_hidden_layer_is_a_linear_map():
    enc = MLPEncoder(6, 2, (), "relu")
    assert [type(m).__name__ for m in enc.net] == ["Linear"]


def test_unknown_names():
    with pytest.raises(ConfigError, match="unknown activation 'swish'"):
        MLPEncoder(4, 2, (3,), "swish")
    with pytest.raises(ConfigError, match="unknown prior 'vamp'"):
        make_prior("vamp", 2)


def test_standard_normal_prior():
    pz = make_prior("normal", 3)()
    assert pz.event_shape == (3,)
    torch.testing.assert_close(pz.mean, torch.zeros(3))
    torch.testing.assert_close(pz.stddev, torch.ones(3))
