"""Plain networks. They map tensors to distribution *parameters* and know no probability."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from vaekit.errors import ConfigError
from vaekit.kernels import Linear

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


class MLPEncoder(nn.Module):
    """x (B, D) -> (loc, log_var), each (B, L): the parameters of a diagonal Gaussian q(z|x)."""

    def __init__(self, x_dim: int, z_dim: int, hidden: Sequence[int], act: str = "relu") -> None:
        super().__init__()
        self.net = mlp([x_dim, *hidden, 2 * z_dim], act)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        loc, log_var = self.net(x).chunk(2, dim=-1)  # (B, L), (B, L)
        return loc, log_var


class MLPDecoder(nn.Module):
    """z (..., L) -> (..., D): the parameters of p(x|z) (logits, or means)."""

    def __init__(self, z_dim: int, x_dim: int, hidden: Sequence[int], act: str = "relu") -> None:
        super().__init__()
        self.net = mlp([z_dim, *hidden, x_dim], act)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)
