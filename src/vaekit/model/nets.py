"""Plain networks. They map tensors to distribution *parameters* and know no probability."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from vaekit._fast.kernels import Linear
from vaekit.errors import ConfigError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (see :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(sizes: Sequence[int], act: str) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i > 0:
            layers.append(activation(act))
        layers.append(Linear(n_in, n_out))
    return nn.Sequential(*layers)


def join(h: Tensor, y: Tensor | None) -> Tensor:
    """Append the condition ``y`` (B, C) to features ``h`` (..., B, F), broadcasting over the
    leading sample dimensions: (..., B, F + C). No condition: ``h`` itself."""
    if y is None:
        return h
    return torch.cat([h, y.expand(*h.shape[:-1], y.shape[-1])], dim=-1)


class MLPEncoder(nn.Module):
    """x (B, *shape) [, y (B, C)] -> (loc, log_var), each (B, L): the parameters of q(z|x[, y])."""

    def __init__(
        self, x_dim: int, z_dim: int, hidden: Sequence[int], act: str = "relu", y_dim: int = 0
    ) -> None:
        super().__init__()
        self.net = mlp([x_dim + y_dim, *hidden, 2 * z_dim], act)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        loc, log_var = self.net(join(x.flatten(1), y)).chunk(2, dim=-1)  # (B, L), (B, L)
        return loc, log_var


class MLPDecoder(nn.Module):
    """z (..., L) [, y (B, C)] -> (..., D): the parameters of p(x|z[, y]) (logits, or means)."""

    def __init__(
        self, z_dim: int, x_dim: int, hidden: Sequence[int], act: str = "relu", y_dim: int = 0
    ) -> None:
        super().__init__()
        self.net = mlp([z_dim + y_dim, *hidden, x_dim], act)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        logits: Tensor = self.net(join(z, y))  # (..., D) the likelihood's parameters
        return logits


def image_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) of image data of shape (C, H, W) or (H, W); ConfigError for other data."""
    if len(shape) == 2:
        return 1, int(shape[0]), int(shape[1])
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    raise ConfigError(
        f"a conv network needs image data of shape (C, H, W) or (H, W), got {tuple(shape)}; "
        'use network="mlp"'
    )


def strided_sizes(h: int, w: int, layers: int) -> list[tuple[int, int]]:
    """Spatial sizes after each of ``layers`` 4x4 stride-2 padding-1 convolutions, input first."""
    sizes = [(h, w)]
    for _ in range(layers):
        h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ConfigError(
                f"images of {sizes[0][0]}x{sizes[0][1]} are too small for {layers} stride-2 "
                "conv layers; use fewer channels"
            )
        sizes.append((h, w))
    return sizes


class ConvEncoder(nn.Module):
    """x (B, C, H, W) [, y (B, C')] -> (loc, log_var), each (B, L).

    Stride-2 4x4 convolutions halve the image per layer (``channels`` each); the flattened
    features, joined with y, go through dense ``hidden`` layers to the Gaussian's parameters.
    """

    def __init__(
        self,
        shape: Sequence[int],
        z_dim: int,
        channels: Sequence[int],
        hidden: Sequence[int],
        act: str = "relu",
        y_dim: int = 0,
    ) -> None:
        super().__init__()
        c, h, w = image_shape(shape)
        self.image = (c, h, w)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *channels[:-1]], channels, strict=True):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), activation(act)]
        self.trunk = nn.Sequential(*layers)
        h_out, w_out = strided_sizes(h, w, len(channels))[-1]
        features = channels[-1] * h_out * w_out
        self.head = mlp([features + y_dim, *hidden, 2 * z_dim], act)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.trunk(x.reshape(-1, *self.image)).flatten(1)  # (B, F)
        loc, log_var = self.head(join(h, y)).chunk(2, dim=-1)  # (B, L), (B, L)
        return loc, log_var


class ConvDecoder(nn.Module):
    """z (..., L) [, y (B, C')] -> (..., C*H*W): the mirror of :class:`ConvEncoder`.

    Dense layers map z (joined with y) to the smallest feature map; 4x4 stride-2 transposed
    convolutions double it per layer, with ``output_padding`` restoring odd sizes exactly.
    """

    def __init__(
        self,
        z_dim: int,
        shape: Sequence[int],
        channels: Sequence[int],
        hidden: Sequence[int],
        act: str = "relu",
        y_dim: int = 0,
    ) -> None:
        c, h, w = image_shape(shape)  # checked before any layer is built
        super().__init__()
        sizes = strided_sizes(h, w, len(channels))  # [(H, W), ..., (h, w)]
        self.start = (channels[-1], *sizes[-1])
        self.net = nn.Sequential(
            mlp([z_dim + y_dim, *hidden, math.prod(self.start)], act), activation(act)
        )
        outs = [c, *channels[:-1]]  # channels after each transposed conv, coarse to fine
        layers: list[nn.Module] = []
        for i in reversed(range(len(channels))):
            (h_out, w_out), (h_in, w_in) = sizes[i], sizes[i + 1]
            pad = (h_out - 2 * h_in, w_out - 2 * w_in)  # (0|1, 0|1)
            layers.append(nn.ConvTranspose2d(channels[i], outs[i], 4, 2, 1, output_padding=pad))
            if i > 0:
                layers.append(activation(act))
        self.trunk = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        lead = z.shape[:-1]
        h = self.net(join(z, y)).reshape(-1, *self.start)  # (N, C_last, h, w)
        params: Tensor = self.trunk(h)  # (N, C, H, W)
        return params.reshape(*lead, -1)  # (..., C*H*W)


def make_networks(
    network: str,
    shape: Sequence[int],
    z_dim: int,
    hidden: Sequence[int],
    channels: Sequence[int],
    act: str,
    y_dim: int = 0,
    n_params: int = 1,
    in_shape: Sequence[int] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """The (encoder, decoder) pair called ``network`` ("mlp" or "conv") for data of ``shape``;
    the decoder gives ``n_params`` values per feature (as n_params blocks of ``shape``);
    ``in_shape``: the encoder's input shape, when it is not ``shape`` (e.g. data and mask)."""
    in_shape = shape if in_shape is None else in_shape
    if network == "mlp":
        x_dim = math.prod(shape)
        return (
            MLPEncoder(math.prod(in_shape), z_dim, hidden, act, y_dim),
            MLPDecoder(z_dim, n_params * x_dim, hidden[::-1], act, y_dim),
        )
    if network == "conv":
        c, h, w = image_shape(shape)
        return (
            ConvEncoder(in_shape, z_dim, channels, hidden, act, y_dim),
            ConvDecoder(z_dim, (n_params * c, h, w), channels, hidden[::-1], act, y_dim),
        )
    raise ConfigError(f"unknown network {network!r}; choose from conv, mlp")
