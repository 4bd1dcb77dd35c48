"""Export a trained model's networks for deployment without vaekit: ONNX or TorchScript.

``export(model, out, "onnx")`` writes into the folder ``out``:

- ``encoder.onnx``: ``x`` (B, *shape) in data units [, ``y`` (B, C) one-hot conditions] ->
  ``loc``, ``log_var`` (B, L), the mean and log-variance of the diagonal Gaussian q(z|x), as
  :meth:`VAE.qz <vaekit.model.vae.VAE.qz>` computes them: for a model made for incomplete data
  (``mask_input``, MIWAE) NaN in ``x`` marks a missing entry, and the encoder builds the
  zero-filled data and the mask itself;
- ``decoder.onnx``: ``z`` (B, L) [, ``y`` (B, C)] -> ``params`` (B, *param_shape), the parameters
  of p(x|z) in model space: logits (Bernoulli, continuous Bernoulli), the mean (Gaussian), or the
  location and log-scale stacked on axis 1 (discretized logistic, (B, 2, *shape));
- ``card.json``: shapes, names, the likelihood and the prior, the standardisation constants and
  ``recipes``: numpy expressions that turn ``params`` into the mean, a sample (and the levels'
  probabilities) in data units.

The batch size B is dynamic. ``"torchscript"`` writes ``encoder.pt`` and ``decoder.pt``
(``torch.jit.load``) with the same inputs and outputs. ONNX needs the ``export`` extra.

The export is all or nothing: every file is built in a temp folder beside ``out`` and moved in
only when all succeeded. ``out`` may be new, empty or hold a previous export (replaced whole);
a folder holding anything else is refused.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vaekit import runs
from vaekit.errors import ConfigError, RunExistsError, RunWriteError
from vaekit.extras import require
from vaekit.model.likelihoods import (
    LOG_SCALE_MIN,
    DiscretizedLogisticLikelihood,
    GaussianLikelihood,
    Likelihood,
)
from vaekit.model.missing import with_mask
from vaekit.model.vae import VAE

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}  #: format -> file suffix
CARD_FILE = "card.json"
EXPORT_FILES = ("encoder.*", "decoder.*", CARD_FILE)  #: what a previous export left in a folder
OPSET = 18


class Encoder(nn.Module):
    """x (B, *shape) in data units (NaN: missing, for a ``mask_input`` model) [, y (B, C)] ->
    (loc, log_var), each (B, L): the parameters :meth:`VAE.qz` gives."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = self.vae.to_model_space(x)  # (B, *shape), NaN stays NaN
        if self.vae.config.mask_input:  # as VAE.qz: zero-filled data beside the mask
            x = with_mask(x, self.vae.shape)  # (B, *masked_shape)
        loc, log_var = self.vae.encoder(x, y)  # (B, L), (B, L)
        return loc, log_var


class Decoder(nn.Module):
    """z (B, L) [, y (B, C)] -> the parameters of p(x|z) (B, *param_shape), in model space."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        likelihood = self.vae.likelihood
        params = self.vae.decoder(z, y).unflatten(-1, likelihood.param_shape)  # (B, *p)
        if isinstance(likelihood, DiscretizedLogisticLikelihood):  # the floored log-scale
            px = likelihood(params).base_dist  # loc, log_scale (B, *shape) each
            return torch.stack([px.loc, px.log_scale], 1)  # (B, 2, *shape)
        return params


def example_inputs(model: VAE, batch: int = 3) -> dict[str, tuple[Tensor, ...]]:
    """Random inputs of the exported networks: ``{"encoder": (x[, y]), "decoder": (z[, y])}``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *model.shape, generator=gen)  # (B, *shape)
    z = torch.randn(batch, model.config.latent_dim, generator=gen)  # (B, L)
    if not model.y_dim:
        return {"encoder": (x,), "decoder": (z,)}
    y = torch.nn.functional.one_hot(torch.arange(batch) % model.y_dim, model.y_dim).float()
    return {"encoder": (x, y), "decoder": (z, y)}  # y (B, C)


# -- the card: what each likelihood's params mean, and recipes over them ------------------------
SIGMOID = "(0.5 + 0.5 * np.tanh(({}) / 2))"  #: sigmoid(a), without exp's overflow for large |a|
RECIPE_NAMES = (
    "numpy expressions over the decoder's output, mean and sample in data units (x); evaluate "
    "each with these globals: np (numpy), rng (a numpy.random.Generator), params (the "
    "decoder's output as a numpy array) and, where the card has them, x_loc, x_scale "
    "(np.asarray of standardization's) and gaussian_scale (np.asarray of it): "
    "eval(card['recipes']['mean'], {'np': np, 'rng': rng, 'params': params, ...})"
)
Describe = Callable[[Likelihood], tuple[str, dict[str, str]]]


def _bernoulli(likelihood: Likelihood) -> tuple[str, dict[str, str]]:
    p = SIGMOID.format("params")
    how = (
        "x_model ~ Bernoulli(logits=params) per feature (torch.distributions.Bernoulli): "
        "P(x_model = 1) = sigmoid(params), which is also the mean"
    )
    return how, {"mean": p, "sample": f"(rng.random(params.shape) < {p}).astype(np.float32)"}


def _continuous_bernoulli(likelihood: Likelihood) -> tuple[str, dict[str, str]]:
    how = (
        "x_model ~ ContinuousBernoulli(logits=params) per feature on [0, 1] "
        "(torch.distributions.ContinuousBernoulli, Loaiza-Ganem & Cunningham 2019); its mean is "
        "1 / (1 - exp(-params)) - 1 / params (0.5 + params / 12 near 0), not sigmoid(params); "
        "a sample is log1p(u * expm1(params)) / params for u ~ U(0, 1)"
    )
    near = "np.abs(params) < 1e-2"
    safe = f"np.where({near}, 1.0, params)"  # the exact forms, kept away from 0
    mean = f"-1 / np.expm1(-({safe})) - 1 / {safe}"
    sample = f"np.log1p(u * np.expm1({safe})) / {safe}"
    return how, {
        "mean": f"np.where({near}, 0.5 + params / 12 - params**3 / 720, {mean})",
        "sample": f"(lambda u: np.where({near}, u + params * u * (1 - u) / 2, {sample}))"
        "(rng.random(params.shape))",
    }


def _gaussian(likelihood: Likelihood) -> tuple[str, dict[str, str]]:
    assert isinstance(likelihood, GaussianLikelihood)
    kind = "learned" if likelihood.fixed_scale is None else "fixed"
    how = (
        "x_model ~ Normal(params, gaussian_scale) per feature: the mean is params "
        f"(gaussian_scale: the {kind} standard deviation, in model space)"
    )
    sample = "params + gaussian_scale * rng.standard_normal(params.shape)"
    return how, {"mean": "params", "sample": sample}


def _discretized_logistic(likelihood: Likelihood) -> tuple[str, dict[str, str]]:
    assert isinstance(likelihood, DiscretizedLogisticLikelihood)
    n = likelihood.levels - 1
    loc, log_s = "params[:, 0]", "params[:, 1]"
    how = (
        f"x_model ~ a logistic rounded to the {n + 1} levels k/{n} of [0, 1] per feature "
        "(PixelCNN++, Salimans et al. 2017): params[:, 0] is the logistic's location loc and "
        "params[:, 1] its log-scale log(s) (natural log; loc and s in the units of x_model, "
        f"log(s) already floored at {LOG_SCALE_MIN}); "
        f"P(x_model = k/{n}) = sigmoid((k/{n} + h - loc) / s) - sigmoid((k/{n} - h - loc) / s), "
        f"h = 1/{2 * n}, the first level's bin open below and the last's open above; the mean "
        f"is the sum over j = 1..{n} of sigmoid((loc - (j - 0.5)/{n}) / s) / {n}; a sample is "
        f"round((loc + s * log(u / (1 - u))) * {n}) / {n}, clipped to [0, 1], u ~ U(0, 1); "
        f"recipes.level_probabilities gives P(x_model = k/{n}), (B, {n + 1}, *shape)"
    )
    above = SIGMOID.format(f"({loc} - (j - 0.5) / {n}) * np.exp(-{log_s})")  # P(x >= level j)
    below = SIGMOID.format(f"((k + 0.5) / {n} - {loc}) * np.exp(-{log_s})")  # P(x <= level k)
    draw = f"np.clip(np.round(({loc} + np.exp({log_s}) * np.log(u / (1 - u))) * {n}), 0, {n})"
    return how, {
        "mean": f"sum({above} for j in range(1, {n + 1})) / {n}",
        "sample": f"(lambda u: {draw} / {n})(rng.uniform(1e-6, 1 - 1e-6, {loc}.shape))",
        "level_probabilities": f"np.diff(np.stack([np.zeros_like({loc}), *({below} for k in "
        f"range({n})), np.ones_like({loc})], 1), axis=1)",
    }


DESCRIBE: dict[str, Describe] = {
    "bernoulli": _bernoulli,
    "continuous-bernoulli": _continuous_bernoulli,
    "gaussian": _gaussian,
    "discretized-logistic": _discretized_logistic,
}  #: likelihood name -> (what params mean, recipes over them in model space)


def card(model: VAE, fmt: str) -> dict[str, Any]:
    """The JSON card beside the exported networks: what goes in, what comes out, what it means."""
    likelihood, L = model.likelihood, model.config.latent_dim
    y = {"y": ["B", model.y_dim]} if model.y_dim else {}
    std = None
    how, recipes = DESCRIBE[likelihood.name](likelihood)
    if model.standardized:
        std = {"x_loc": model.x_loc.tolist(), "x_scale": model.x_scale.tolist()}
        how += "; then x = x_model * x_scale + x_loc (data units)"
        recipes |= {k: f"({recipes[k]}) * x_scale + x_loc" for k in ("mean", "sample")}
    levels = likelihood.levels if isinstance(likelihood, DiscretizedLogisticLikelihood) else None
    scale = None
    if isinstance(likelihood, GaussianLikelihood):
        scale = likelihood.scale().detach().expand(model.shape).tolist()
    missing = (
        "; NaN in x marks a missing entry: the encoder standardises x, sets missing entries "
        "to 0 and adds the mask of observed entries itself, as vaekit's VAE.qz does (a model "
        "trained on incomplete data, MIWAE)"
        if model.config.mask_input
        else "; x complete (no NaN)"
    )
    return {
        "format": fmt,
        "files": {net: f"{net}{FORMATS[fmt]}" for net in ("encoder", "decoder")},
        "encoder": {
            "inputs": {"x": ["B", *model.shape], **y},
            "outputs": {"loc": ["B", L], "log_var": ["B", L]},
            "meaning": f"q(z|x) = Normal(loc, exp(0.5 * log_var)); x in data units{missing}",
        },
        "decoder": {
            "inputs": {"z": ["B", L], **y},
            "outputs": {"params": ["B", *likelihood.param_shape]},
            "meaning": f"the parameters of p(x|z) in model space: {how}",
        },
        "conditional": "y: one-hot class vectors (B, C), float32" if model.y_dim else None,
        "missing_values": model.config.mask_input,
        "likelihood": likelihood.name,
        "levels": levels,
        "gaussian_scale": scale,
        "recipes": {"names": RECIPE_NAMES, **recipes},
        "prior": model.config.prior,
        "sample_z": "z ~ N(0, I)"
        if model.config.prior == "normal"
        else f"the {model.config.prior} prior: draw z with vaekit (vaekit.load(run).pz())",
        "standardization": std,
        "data": {"shape": list(model.shape), "kind": model.kind},
        "latent_dim": L,
    }


# -- writing the folder: all or nothing ----------------------------------------------------------
def export(model: VAE, out: str | Path, fmt: str = "onnx") -> Path:
    """Write ``model``'s encoder, decoder and card into the folder ``out``; return ``out``.

    All or nothing: the files are built in a temp folder beside ``out`` and moved in only when
    all succeeded, replacing a previous export's. :class:`RunExistsError` when ``out`` is a file
    or holds anything but a previous export."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "onnx":
        require("export", "ONNX export", "onnx", "onnxscript")
    out = Path(out)
    check_folder(out)
    model = copy.deepcopy(model).cpu().eval()  # the caller's model stays where it is
    staged = _staging_folder(out)
    try:
        inputs = example_inputs(model)
        for net, wrap in (("encoder", Encoder), ("decoder", Decoder)):
            module = wrap(model).eval()
            path = staged / f"{net}{FORMATS[fmt]}"
            if fmt == "onnx":
                _onnx(module, inputs[net], net, path)
            else:
                _torchscript(module, inputs[net], path)
        runs.write_json(staged / CARD_FILE, card(model, fmt))
        _move_in(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return out


def is_export_file(path: Path) -> bool:
    """Whether ``path`` is a file of a previous export (or a temp file of its writing)."""
    temp = [f"{runs.TEMP_PREFIX}{p}.*{runs.TEMP_SUFFIX}" for p in EXPORT_FILES]
    return path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in (*EXPORT_FILES, *temp))


def check_folder(out: Path) -> None:
    """:class:`RunExistsError` unless ``out`` is new, empty or holds only a previous export."""
    for path in (out, *out.parents):  # the nearest that exists must be a folder
        if path.exists() and not path.is_dir():
            what = "it" if path == out else str(path)
            raise RunExistsError(f"cannot export into {out}: {what} is a file, not a folder")
        if path.exists():
            break
    if not out.is_dir():
        return
    others = sorted(p.name for p in out.iterdir() if not is_export_file(p))
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        raise RunExistsError(
            f"cannot export into {out}: it holds {others[0]!r}{more}, not only a previous "
            "export (encoder.*, decoder.*, card.json); choose a new or empty folder"
        )


def _staging_folder(out: Path) -> Path:
    """A new temp folder beside ``out`` (the same file system: its files move in by rename).
    Its name is not a run's temp-file pattern (``RunFolder.clean`` removes files only)."""
    try:
        parent = out.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        prefix = f"{runs.TEMP_PREFIX}export-{out.name}."
        return Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=".partial"))
    except OSError as e:
        raise RunWriteError(f"cannot write the export folder {out}: {e.strerror or e}") from e


def _move_in(staged: Path, out: Path) -> None:
    """Move the files of ``staged`` into ``out`` (each by an atomic rename, the card last),
    then remove what a previous export left there that this one did not write."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunWriteError(f"cannot write the export folder {out}: {e.strerror or e}") from e
    names = sorted(p.name for p in staged.iterdir() if p.name != CARD_FILE)
    for name in [*names, CARD_FILE]:
        # atomic_write's temp file becomes the staged file, then is renamed into place
        runs.atomic_write(out / name, functools.partial(os.replace, staged / name))
    for old in out.iterdir():
        if old.name not in names and old.name != CARD_FILE and is_export_file(old):
            old.unlink()


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
