"""Frozen configuration dataclasses, one per concern: the model and the training run.

Each field carries a one-line ``help`` in its metadata; the CLI builds its options from these
fields, so the two never drift apart. ``__post_init__`` first checks every field's type
against its annotation (:func:`check_types`), then the ranges and cross-field rules.
The data config lives beside the data code (:class:`vaekit.data.DataConfig`).
"""

from __future__ import annotations

import dataclasses
import numbers
import reprlib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from vaekit.checks import MAX_ITEMS, fits
from vaekit.errors import ConfigError


def _help(text: str, default: Any, **kw: Any) -> Any:
    return field(default=default, metadata={"help": text, **kw})


@dataclass(frozen=True)
class ModelConfig:
    """The VAE: sizes of the networks, the likelihood p(x|z) and the prior p(z)."""

    latent_dim: int = _help("dimension of the latent z", 2)
    hidden: tuple[int, ...] = _help("hidden layer sizes of encoder and decoder (mirrored)", (400,))
    activation: str = _help(
        "activation between hidden layers",
        "relu",
        choices=("relu", "leaky_relu", "tanh", "elu", "gelu", "silu", "softplus"),
    )
    likelihood: str = _help(
        "p(x|z): auto (from the data: bernoulli for binary data, discretized-logistic for "
        "8-bit images and other data on a grid of levels, else gaussian), bernoulli, "
        "continuous-bernoulli, gaussian or discretized-logistic",
        "auto",
        choices=("auto", "bernoulli", "continuous-bernoulli", "gaussian", "discretized-logistic"),
    )
    levels: int | None = _help(
        "discretized-logistic: number of equally spaced values k/(levels-1) of the data in "
        "[0, 1] (default: from the data, 256 for 8-bit)",
        None,
    )
    gaussian_scale: float | None = _help(
        "fixed standard deviation of a gaussian likelihood (default: learned per feature)", None
    )
    prior: str = _help(
        "p(z): normal (standard), mixture (learned Gaussian mixture) or vampprior "
        "(Tomczak & Welling 2018)",
        "normal",
        choices=("normal", "mixture", "vampprior"),
    )
    components: int = _help("mixture components, or VampPrior pseudo-inputs", 50)
    network: str = _help(
        "encoder/decoder: mlp, or conv (images: strided convolutions, then the hidden layers)",
        "mlp",
        choices=("mlp", "conv"),
    )
    channels: tuple[int, ...] = _help("conv network: channels per stride-2 layer", (32, 64))
    conditional: bool = _help(
        "condition encoder and decoder on the dataset's labels (one-hot): a conditional VAE", False
    )
    mask_input: bool = _help(
        "incomplete data (MIWAE): the encoder sees the zero-filled data and the mask of observed "
        "entries (set by --missing allow)",
        False,
    )

    def __post_init__(self) -> None:
        check_types(self)
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden sizes must be >= 1, got {self.hidden}")
        if self.components < 1:
            raise ConfigError(f"components must be >= 1, got {self.components}")
        if self.network == "conv" and (not self.channels or any(c < 1 for c in self.channels)):
            raise ConfigError(f"a conv network needs channels >= 1, got {self.channels}")
        for name in ("activation", "likelihood", "prior", "network"):
            choices = _choices(type(self), name)
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"unknown {name} {getattr(self, name)!r}; choose from {', '.join(choices)}"
                )
        if self.levels is not None and self.levels < 2:
            raise ConfigError(f"levels must be >= 2, got {self.levels}")
        if self.gaussian_scale is not None and not self.gaussian_scale > 0:
            raise ConfigError(f"gaussian_scale must be > 0, got {self.gaussian_scale}")


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: objective, optimiser, schedule and stopping rule."""

    epochs: int = _help("number of passes over the training data", 100)
    batch_size: int = _help("examples per gradient step", 128)
    lr: float = _help("Adam learning rate", 1e-3)
    weight_decay: float = _help("L2 weight decay (Adam's coupled form)", 0.0)
    l1: float = _help("L1 penalty on network weights, added to the per-example loss", 0.0)
    beta: float = _help("weight of KL(q(z|x) || p(z)) in the objective (1 = the ELBO)", 1.0)
    k: int = _help("importance samples: 1 trains the ELBO, k > 1 the IWAE bound", 1)
    dreg: bool = _help(
        "with k > 1: the doubly reparameterised encoder gradient (DReG, Tucker et al. 2018)", False
    )
    free_bits: float = _help(
        "free bits: a floor in nats on each latent dimension's batch-mean KL (0 = off)", 0.0
    )
    warmup: int = _help("epochs of linear KL warm-up from 0 to beta (0 = off)", 0)
    patience: int | None = _help(
        "early stopping: epochs without validation improvement (default: off)", None
    )
    clip_norm: float | None = _help("clip the gradient norm to this value (default: off)", None)
    seed: int = _help("random seed for initialisation, shuffling and sampling", 0)
    device: str = _help("cpu, cuda, cuda:N or auto", "cpu")
    cuda_graph: bool = _help(
        "on a GPU, replay each training step as one CUDA graph (fast for small models)", True
    )
    precision: str = _help(
        "training arithmetic: fp32, bf16 (autocast, fp32 weights and optimizer) or fp16 "
        "(GPU only, with a gradient scaler)",
        "fp32",
        choices=("fp32", "bf16", "fp16"),
    )

    def __post_init__(self) -> None:
        check_types(self)
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.l1 >= 0, f"l1 must be >= 0, got {self.l1}"),
            (self.beta >= 0, f"beta must be >= 0, got {self.beta}"),
            (self.k >= 1, f"k must be >= 1, got {self.k}"),
            (self.warmup >= 0, f"warmup must be >= 0, got {self.warmup}"),
            (self.patience is None or self.patience >= 1, "patience must be >= 1 or unset"),
            (self.clip_norm is None or self.clip_norm > 0, "clip_norm must be > 0 or unset"),
            (self.seed >= 0, f"seed must be an integer >= 0, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.k > 1 and self.beta != 1.0:
            raise ConfigError("beta != 1 applies to the ELBO only; use k=1 with beta")
        if self.free_bits < 0:
            raise ConfigError(f"free_bits must be >= 0, got {self.free_bits}")
        if self.k > 1 and self.free_bits > 0:
            raise ConfigError("free_bits applies to the ELBO only; use k=1 with free_bits")
        if self.dreg and self.k == 1:
            raise ConfigError("dreg is a gradient estimator for the IWAE bound: set k > 1")
        if self.precision not in _choices(type(self), "precision"):
            choices = ", ".join(_choices(type(self), "precision"))
            raise ConfigError(f"unknown precision {self.precision!r}; choose from {choices}")
        if self.precision == "fp16" and self.device == "cpu":
            raise ConfigError("precision fp16 needs a CUDA GPU; use bf16 on a CPU")


def check_types(config: Any) -> None:
    """Check every field of the frozen config dataclass ``config`` against its annotation (int,
    float, str, bool, tuples of them, optional), before any range check: :class:`ConfigError`
    naming the field, the value and the type expected.

    An int field takes an integer, never a bool (NumPy integers become int); a float field any
    finite real number (it becomes a float); a tuple field a list or tuple (it becomes a tuple).
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        given = getattr(config, f.name)
        value = _normal(hints[f.name], given)
        if not fits(hints[f.name], value, None):
            expected = _expected(hints[f.name])
            raise ConfigError(f"{f.name} must be {expected}, got {reprlib.repr(given)}")
        object.__setattr__(config, f.name, value)


def _normal(hint: Any, value: Any) -> Any:
    """``value`` in the plain Python type of ``hint`` where it is one in another guise (a NumPy
    number, an int for a float, a list for a tuple); anything else unchanged, for :func:`fits`
    to refuse."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        fitting = (_normal(a, value) for a in args if a is not type(None))
        return next((v for v in fitting if fits(hint, v, None)), value)
    if typing.get_origin(hint) is tuple and isinstance(value, list | tuple):
        return tuple(_normal(args[0], v) for v in value)
    if isinstance(value, bool) or hint not in (int, float):
        return value
    if hint is int and isinstance(value, numbers.Integral):
        return int(value)
    if hint is float and isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float
            return float("inf")
    return value


#: each field type in words, as one value and as the items of a tuple
_WORDS = {int: ("an integer", "integers"), float: ("a finite number", "finite numbers")}
_WORDS |= {bool: ("True or False", "booleans"), str: ("a string", "strings")}


def _expected(hint: Any) -> str:
    """What a value of type ``hint`` must be, in words."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return " or ".join([_expected(a) for a in args if a is not type(None)] + ["None"])
    if typing.get_origin(hint) is tuple:
        return f"a list or tuple of at most {MAX_ITEMS} {_WORDS[args[0]][1]}"
    return _WORDS[hint][0]


def layer_sizes(value: Any) -> Any:
    """Layer sizes as the scikit-learn estimators take them (one integer for one layer, or a
    list, tuple or 1-d array of integers) as the tuple :class:`ModelConfig` takes; anything else
    unchanged, for :class:`ModelConfig` to refuse naming the field."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (value,)
    if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):  # a NumPy array
        return tuple(value.tolist())
    return value


def _choices(cls: type, name: str) -> tuple[str, ...]:
    return next(f.metadata["choices"] for f in dataclasses.fields(cls) if f.name == name)


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config dataclass from :func:`to_dict` output, rejecting unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**values)
