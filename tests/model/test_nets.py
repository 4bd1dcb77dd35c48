import math

import pytest
import torch

from vaekit.errors import ConfigError
from vaekit.model.nets import ACTIVATIONS, MLPDecoder, MLPEncoder, join, make_networks


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
    with pytest.raises(ConfigError, match="unknown network 'resnet'"):
        make_networks("resnet", (1, 8, 8), 2, (), (4,), "relu")


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 7, 9), (8, 8)])
def test_conv_networks_fit_any_image_size(shape):
    enc, dec = make_networks("conv", shape, 3, (16,), (4, 8), "relu", y_dim=2)
    x, y = torch.randn(5, *shape), torch.randn(5, 2)
    loc, log_var = enc(x, y)
    assert loc.shape == log_var.shape == (5, 3)
    out = dec(torch.randn(4, 5, 3), y)  # (k, B, L) samples share the batch's conditions
    assert out.shape == (4, 5, math.prod(shape))


def test_conv_network_rejects_vectors_and_too_small_images():
    with pytest.raises(ConfigError, match="needs image data"):
        make_networks("conv", (64,), 2, (), (4,), "relu")
    with pytest.raises(ConfigError, match="too small for 3 stride-2"):
        make_networks("conv", (1, 4, 4), 2, (), (4, 4, 4), "relu")


def test_condition_reaches_encoder_and_decoder():
    enc, dec = MLPEncoder(6, 2, (8,), "tanh", y_dim=3), MLPDecoder(2, 6, (8,), "tanh", y_dim=3)
    x, z = torch.randn(4, 6), torch.randn(4, 2)
    y0, y1 = torch.eye(3)[[0, 0, 0, 0]], torch.eye(3)[[1, 1, 1, 1]]
    assert not torch.allclose(enc(x, y0)[0], enc(x, y1)[0])
    assert not torch.allclose(dec(z, y0), dec(z, y1))


def test_join_broadcasts_the_condition_over_sample_dimensions():
    h, y = torch.zeros(7, 4, 5), torch.arange(8.0).reshape(4, 2)
    out = join(h, y)  # (7, 4, 7)
    assert out.shape == (7, 4, 7) and torch.equal(out[3, :, 5:], y)
    assert join(h, None) is h
