"""Export a trained model's networks for deployment without vaekit: ONNX or TorchScript.

``export(model, out, "onnx")`` writes into the folder ``out``:

- ``encoder.onnx``: ``x`` (B, *shape) in data units [, ``y`` (B, C) one-hot conditions] ->
  ``loc``, ``log_var`` (B, L), the mean and log-variance of the diagonal Gaussian q(z|x);
- ``decoder.onnx``: ``z`` (B, L) [, ``y`` (B, C)] -> ``params`` (B, *shape), the parameters of
  p(x|z) in model space (logits for the Bernoulli likelihoods, the mean for the Gaussian);
- ``card.json``: shapes, names, the likelihood and the prior, the standardisation constants and
  how to turn ``params`` into samples in data units.

The batch size B is dynamic. ``"torchscript"`` writes ``encoder.pt`` and ``decoder.pt``
(``torch.jit.load``) with the same inputs and outputs. ONNX needs the ``export`` extra.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vaekit import runs
from vaekit.errors import ConfigError
from vaekit.extras import require
from vaekit.model.likelihoods import GaussianLikelihood
from vaekit.model.vae import VAE

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}  #: format -> file suffix
CARD_FILE = "card.json"
OPSET = 18


class Encoder(nn.Module):
    """x (B, *shape) in data units [, y (B, C)] -> (loc, log_var), each (B, L)."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.vae.encoder(self.vae.to_model_space(x), y)


class Decoder(nn.Module):
    """z (B, L) [, y (B, C)] -> the parameters of p(x|z) (B, *shape), in model space."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.vae.decoder(z, y).unflatten(-1, self.vae.shape)


def example_inputs(model: VAE, batch: int = 3) -> dict[str, tuple[Tensor, ...]]:
    """Random inputs of the exported networks: ``{"encoder": (x[, y]), "decoder": (z[, y])}``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *model.shape, generator=gen)  # (B, *shape)
    z = torch.randn(batch, model.config.latent_dim, generator=gen)  # (B, L)
    if not model.y_dim:
        return {"encoder": (x,), "decoder": (z,)}
    y = torch.nn.functional.one_hot(torch.arange(batch) % model.y_dim, model.y_dim).float()
    return {"encoder": (x, y), "decoder": (z, y)}  # y (B, C)


def card(model: VAE, fmt: str) -> dict[str, Any]:
    """The JSON card beside the exported networks: what goes in, what comes out, what it means."""
    name, L = model.likelihood.name, model.config.latent_dim
    y = {"y": ["B", model.y_dim]} if model.y_dim else {}
    std = (
        {"x_loc": model.x_loc.tolist(), "x_scale": model.x_scale.tolist()}
        if model.standardized
        else None
    )
    if name == "gaussian":
        assert isinstance(model.likelihood, GaussianLikelihood)
        scale = model.likelihood.scale().detach().expand(model.shape).tolist()
        how = "x_model = params + scale * e, e ~ N(0, I); the mean is params"
    else:
        scale = None
        dist = "Bernoulli" if name == "bernoulli" else "ContinuousBernoulli"
        how = f"x_model ~ {dist}(logits=params) per feature (torch.distributions.{dist})"
        how += "; the Bernoulli mean is sigmoid(params)" if name == "bernoulli" else ""
    if std:
        how += "; then x = x_model * x_scale + x_loc (data units)"
    return {
        "format": fmt,
        "files": {net: f"{net}{FORMATS[fmt]}" for net in ("encoder", "decoder")},
        "encoder": {
            "inputs": {"x": ["B", *model.shape], **y},
            "outputs": {"loc": ["B", L], "log_var": ["B", L]},
            "meaning": "q(z|x) = Normal(loc, exp(0.5 * log_var)); x in data units",
        },
        "decoder": {
            "inputs": {"z": ["B", L], **y},
            "outputs": {"params": ["B", *model.shape]},
            "meaning": f"the parameters of p(x|z) in model space: {how}",
        },
        "conditional": "y: one-hot class vectors (B, C), float32" if model.y_dim else None,
        "likelihood": name,
        "gaussian_scale": scale,
        "prior": model.config.prior,
        "sample_z": "z ~ N(0, I)"
        if model.config.prior == "normal"
        else f"the {model.config.prior} prior: draw z with vaekit (vaekit.load(run).pz())",
        "standardization": std,
        "data": {"shape": list(model.shape), "kind": model.kind},
        "latent_dim": L,
    }


def export(model: VAE, out: str | Path, fmt: str = "onnx") -> Path:
    """Write ``model``'s encoder, decoder and card into the folder ``out``; return ``out``."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "onnx":
        require("export", "ONNX export", "onnx", "onnxscript")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().eval()  # the caller's model stays where it is
    inputs = example_inputs(model)
    for net, wrap in (("encoder", Encoder), ("decoder", Decoder)):
        path = out / f"{net}{FORMATS[fmt]}"
        module = wrap(model).eval()
        if fmt == "onnx":
            _onnx(module, inputs[net], net, path)
        else:
            _torchscript(module, inputs[net], path)
    runs.write_json(out / CARD_FILE, card(model, fmt))
    return out


def input_names(net: str, n: int) -> list[str]:
    return ["x" if net == "encoder" else "z", "y"][:n]


def output_names(net: str) -> list[str]:
    return ["loc", "log_var"] if net == "encoder" else ["params"]


def _onnx(module: nn.Module, args: tuple[Tensor, ...], net: str, path: Path) -> None:
    batch = torch.export.Dim("B")
    names = input_names(net, len(args))
    log = logging.getLogger("torch.onnx")  # its notes (no torchvision, ...) are not the user's
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # nor are the exporter's warnings
            program = torch.onnx.export(
                module,
                args,
                dynamic_shapes={name: {0: batch} for name in names},
                input_names=names,
                output_names=output_names(net),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    finally:
        log.setLevel(level)
    if program is None:  # pragma: no cover - dynamo=True always returns the program
        raise RuntimeError("torch.onnx.export returned no program")
    runs.atomic_write(path, program.save)


def _torchscript(module: nn.Module, args: tuple[Tensor, ...], path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        traced = torch.jit.trace(module, args)
    runs.atomic_write(path, traced.save)
