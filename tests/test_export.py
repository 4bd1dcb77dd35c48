"""ONNX and TorchScript export: the exported networks compute what the model computes.

Stated tolerance: max abs difference under 1e-4 between the exported networks and PyTorch on
random inputs of batch sizes other than the one exported with (the batch is dynamic), for every
likelihood, a conditional model and models for incomplete data (NaN in x); and the card's numpy
recipes, applied literally, give the mean vaekit's own ``decode`` gives.
"""

import json
import sys

import numpy as np
import pytest
import torch

from vaekit import export
from vaekit._fast import kernels
from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, MissingExtraError
from vaekit.model.vae import VAE

TOL = 1e-4
BATCHES = (1, 7)  # export traces with 3 (export.example_inputs)
NAN = float("nan")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


def _model(y_dim: int = 0, likelihood: str = "auto") -> VAE:
    """A standardised real-valued (Gaussian) model, conditional with ``y_dim`` > 0."""
    torch.manual_seed(0)
    loc, scale = torch.rand(1, 4, 4), 0.5 + torch.rand(1, 4, 4)
    config = ModelConfig(latent_dim=3, hidden=(16,), likelihood=likelihood)
    return VAE(config, (1, 4, 4), "real", loc=loc, scale=scale, y_dim=y_dim).eval()


def _make(name: str) -> VAE:
    """The tiny random-init model ``name`` of :data:`MODELS`."""
    torch.manual_seed(0)
    small = {"latent_dim": 3, "hidden": (16,)}
    if name == "bernoulli-conditional":
        return VAE(ModelConfig(**small), (1, 4, 4), "binary", y_dim=2).eval()
    if name == "continuous-bernoulli":
        config = ModelConfig(**small, likelihood="continuous-bernoulli")
        return VAE(config, (1, 4, 4), "grey").eval()
    if name == "gaussian-fixed":
        return _gaussian(ModelConfig(**small, gaussian_scale=0.3), (6,))
    if name == "gaussian-learned-conditional":
        return _model(y_dim=3)
    if name == "dlog-conv":  # the default digits data: 8-bit images
        config = ModelConfig(**small, network="conv", channels=(4,))
        return VAE(config, (1, 8, 8), "grey", levels=256).eval()
    if name == "miwae":  # vaekit train --missing allow on a CSV
        return _gaussian(ModelConfig(**small, mask_input=True), (5,))
    assert name == "miwae-dlog-image"  # (H, W) images: the mask is stacked as a channel
    config = ModelConfig(**small, mask_input=True)
    return VAE(config, (4, 4), "grey", levels=16).eval()


def _gaussian(config: ModelConfig, shape: tuple[int, ...]) -> VAE:
    loc, scale = 3 * torch.randn(shape), 0.5 + torch.rand(shape)
    model = VAE(config, shape, "real", loc=loc, scale=scale).eval()
    return model


MODELS = (
    "bernoulli-conditional",
    "continuous-bernoulli",
    "gaussian-fixed",
    "gaussian-learned-conditional",
    "dlog-conv",
    "miwae",
    "miwae-dlog-image",
)


def _inputs(model: VAE, batch: int = 7) -> dict[str, tuple[torch.Tensor, ...]]:
    """Random inputs of another batch size than exported; NaN entries for a MIWAE model."""
    g = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, *model.shape, generator=g)
    if model.config.mask_input:
        x[torch.rand(x.shape, generator=g) < 0.3] = NAN  # missing entries
        x[0] = NAN  # an example with nothing observed
    z = torch.randn(batch, model.config.latent_dim, generator=g)
    labels = torch.arange(batch) % max(model.y_dim, 1)
    cond = (torch.nn.functional.one_hot(labels, model.y_dim).float(),) if model.y_dim else ()
    return {"encoder": (x, *cond), "decoder": (z, *cond)}


def _params(px) -> torch.Tensor:
    """The parameters of p(x|z) as the exported decoder gives them, read from vaekit's px."""
    d = px.base_dist
    if hasattr(d, "log_scale"):  # discretized logistic: loc and log-scale on axis 1
        return torch.stack([d.loc, d.log_scale], 1)
    return d.loc if isinstance(d, torch.distributions.Normal) else d.logits


@torch.no_grad()
def _reference(model: VAE, inputs) -> dict[str, list[np.ndarray]]:
    """The model's own q(z|x) and p(x|z) parameters, through its public distributions."""
    x, *y = inputs["encoder"]
    qz = model.qz(model.to_model_space(x), *y).base_dist
    z, *y = inputs["decoder"]
    return {
        "encoder": [qz.loc.numpy(), (2 * qz.scale.log()).numpy()],
        "decoder": [_params(model.px(z, *y)).numpy()],
    }


def _run_onnx(folder, net: str, inputs) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / f"{net}.onnx"))
    names = [i.name for i in session.get_inputs()]
    assert names == export.input_names(net, len(inputs)) and session.get_inputs()[0].shape[0] == "B"
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})


@torch.no_grad()
def _run_torchscript(folder, net: str, inputs) -> list[np.ndarray]:
    out = torch.jit.load(str(folder / f"{net}.pt"))(*inputs)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


RUNNERS = {"onnx": _run_onnx, "torchscript": _run_torchscript}
_done: dict[tuple[str, str], object] = {}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``exported(name, fmt)``: the folder of model ``name`` exported as ``fmt`` (once each)."""

    def get(name: str, fmt: str):
        if fmt == "onnx":
            pytest.importorskip("onnxruntime", reason="the export extra is not installed")
            pytest.importorskip("onnxscript", reason="the export extra is not installed")
        if (name, fmt) not in _done:
            _done[name, fmt] = export.export(_make(name), tmp_path_factory.mktemp(name), fmt)
        return _done[name, fmt]

    return get


def max_differences(name: str, fmt: str, folder) -> dict[str, float]:
    """The largest |exported - PyTorch| per network over :data:`BATCHES` (asserts the shapes)."""
    model, worst = _make(name), {"encoder": 0.0, "decoder": 0.0}
    for batch in BATCHES:
        inputs = _inputs(model, batch)
        ref = _reference(model, inputs)
        for net in worst:
            got = RUNNERS[fmt](folder, net, inputs[net])
            for a, b in zip(got, ref[net], strict=True):
                assert a.shape == b.shape and np.isfinite(a).all()
                worst[net] = max(worst[net], float(np.abs(a - b).max()))
    return worst


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", MODELS)
def test_exported_networks_match_pytorch(exported, name, fmt):
    worst = max_differences(name, fmt, exported(name, fmt))
    assert max(worst.values()) < TOL, worst


def _recipe(card, key: str, params: np.ndarray, seed: int = 0) -> np.ndarray:
    """The card's recipe ``key`` applied literally, with the globals its ``names`` lists."""
    names = {"np": np, "rng": np.random.default_rng(seed), "params": params.astype(np.float64)}
    for k, v in (card["standardization"] or {}).items():
        names[k] = np.asarray(v)
    if card["gaussian_scale"] is not None:
        names["gaussian_scale"] = np.asarray(card["gaussian_scale"])
    return np.asarray(eval(card["recipes"][key], names))  # the card's text, applied literally


@pytest.mark.parametrize("name", MODELS)
def test_the_card_recipes_give_vaekits_mean(exported, name):
    folder, model = exported(name, "torchscript"), _make(name)
    card = json.loads((folder / export.CARD_FILE).read_text())
    z, *y = _inputs(model)["decoder"]
    (params,) = _run_torchscript(folder, "decoder", (z, *y))
    assert card["decoder"]["outputs"]["params"] == ["B", *params.shape[1:]]
    mean = _recipe(card, "mean", params)
    sample = _recipe(card, "sample", params)
    assert mean.shape == sample.shape == (len(z), *model.shape)
    with torch.no_grad():
        px = model.px(z, *y)
    if card["likelihood"] == "continuous-bernoulli":  # against the float64 mean: vaekit's float32
        logits = px.base_dist.logits.double()  # one loses digits near logits 0
        expected = torch.distributions.ContinuousBernoulli(logits=logits).mean.numpy()
    else:
        expected = model.decode(z, y=y[0] if y else None).numpy()
    assert np.abs(mean - expected).max() < TOL
    if card["likelihood"] == "discretized-logistic":
        n = card["levels"] - 1
        assert np.array_equal(sample, np.round(sample * n) / n) and (0 <= sample).all()
        probs = _recipe(card, "level_probabilities", params)  # (B, levels, *shape)
        grid = np.arange(n + 1).reshape(-1, 1, *[1] * len(model.shape)) / n  # (levels, 1, ...)
        log_p = px.base_dist.log_prob(torch.from_numpy(grid).float())  # (levels, B, *shape)
        assert np.abs(probs - np.moveaxis(log_p.exp().numpy(), 0, 1)).max() < TOL
        assert np.abs(probs.sum(1) - 1).max() < 1e-9
        assert np.abs((probs * np.moveaxis(grid, 0, 1)).sum(1) - mean).max() < 1e-9
    if card["likelihood"] in ("bernoulli", "continuous-bernoulli"):
        assert (0 <= sample).all() and (sample <= 1).all()


def test_a_gaussian_card_samples_around_the_mean(exported):
    folder, model = exported("gaussian-fixed", "torchscript"), _make("gaussian-fixed")
    card = json.loads((folder / export.CARD_FILE).read_text())
    params = np.zeros((1, *model.shape))
    draws = np.stack([_recipe(card, "sample", params, seed) for seed in range(400)])
    spread = draws.std(0)[0]  # data units: the scale times x_scale
    assert np.allclose(spread, 0.3 * model.x_scale.numpy(), rtol=0.15)
    assert np.allclose(draws.mean(0)[0], model.x_loc.numpy(), atol=5 * spread.max() / 20)


def test_cards_describe_each_likelihood(exported):
    cards = {
        name: json.loads((exported(name, "torchscript") / export.CARD_FILE).read_text())
        for name in ("bernoulli-conditional", "continuous-bernoulli", "dlog-conv", "miwae")
    }
    bern, cb = cards["bernoulli-conditional"], cards["continuous-bernoulli"]
    assert "Bernoulli(logits=params)" in bern["decoder"]["meaning"]
    assert "ContinuousBernoulli(logits=params)" in cb["decoder"]["meaning"]
    assert "not sigmoid(params)" in cb["decoder"]["meaning"] and cb["standardization"] is None
    dlog = cards["dlog-conv"]
    assert dlog["likelihood"] == "discretized-logistic" and dlog["levels"] == 256
    assert dlog["decoder"]["outputs"]["params"] == ["B", 2, 1, 8, 8]
    meaning = dlog["decoder"]["meaning"]
    assert (
        "params[:, 0] is the logistic's location" in meaning and "params[:, 1] its log" in meaning
    )
    assert "ContinuousBernoulli" not in meaning and "k/255" in meaning
    miwae = cards["miwae"]
    assert (
        miwae["missing_values"] is True
        and "NaN in x marks a missing" in (miwae["encoder"]["meaning"])
    )
    assert "x_scale + x_loc" in miwae["decoder"]["meaning"]
    assert miwae["recipes"]["mean"] == "(params) * x_scale + x_loc"


def test_every_likelihood_has_a_card_text_and_recipes():
    from vaekit.model.likelihoods import LIKELIHOODS

    assert set(export.DESCRIBE) == set(LIKELIHOODS)
    assert {_make(name).likelihood.name for name in MODELS} == set(LIKELIHOODS)


def test_card_says_how_to_sample(exported):
    card = json.loads((exported("gaussian-learned-conditional", "onnx") / "card.json").read_text())
    model = _model(y_dim=3)
    assert card["likelihood"] == "gaussian" and card["latent_dim"] == 3
    assert card["encoder"]["inputs"] == {"x": ["B", 1, 4, 4], "y": ["B", 3]}
    assert np.allclose(card["standardization"]["x_loc"], model.x_loc.numpy())
    assert np.allclose(card["gaussian_scale"], model.likelihood.scale().detach().numpy())
    assert "x_scale + x_loc" in card["decoder"]["meaning"] and card["sample_z"] == "z ~ N(0, I)"
    assert card["files"] == {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}


@pytest.mark.parametrize("y_dim", [0, 2])
def test_torchscript_traces_the_onednn_products_as_linear_layers(tmp_path, monkeypatch, y_dim):
    # the oneDNN products (vaekit's GEMM on non-Intel CPUs) are traced as plain linear layers
    monkeypatch.setattr(kernels, "use_onednn", lambda: True)
    model = _model(y_dim=y_dim, likelihood="bernoulli")
    x, *y = _inputs(model)["encoder"]
    export.export(model, tmp_path, "torchscript")
    encoder = torch.jit.load(str(tmp_path / "encoder.pt"))
    decoder = torch.jit.load(str(tmp_path / "decoder.pt"))
    assert "mkldnn" not in str(encoder.inlined_graph)
    with torch.no_grad():
        loc, log_var = encoder(x, *y)
        qz = model.qz(model.to_model_space(x), *y).base_dist
        assert (loc - qz.loc).abs().max() < TOL
        assert (log_var - 2 * qz.scale.log()).abs().max() < TOL
        logits = decoder(loc, *y)  # (B, 1, 4, 4)
        assert logits.shape == (len(x), *model.shape)
        assert (logits - model.px(qz.loc, *y).base_dist.logits).abs().max() < TOL
    card = json.loads((tmp_path / export.CARD_FILE).read_text())
    assert card["files"] == {"encoder": "encoder.pt", "decoder": "decoder.pt"}
    assert "sigmoid(params)" in card["decoder"]["meaning"]


def test_unknown_format_and_missing_extra(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown export format 'tflite'"):
        export.export(_model(), tmp_path, "tflite")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"needs the 'export' extra .*vaekit\[export\]"):
        export.export(_model(), tmp_path, "onnx")


def test_cli_exports_a_discretized_logistic_model_and_names_a_missing_extra(
    tmp_path, monkeypatch, capsys
):
    import subprocess

    from vaekit import api
    from vaekit.cli import main

    api.save(_make("dlog-conv"), tmp_path / "m")  # what vaekit train gives for 8-bit images
    done = subprocess.run(
        [sys.executable, "-m", "vaekit", "export", str(tmp_path / "m"), "--format", "torchscript"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = tmp_path / "m" / "export-torchscript"
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported: {out}"
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "decoder.pt", "encoder.pt"]
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(tmp_path / "m"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "vaekit: error: ONNX export needs the 'export' extra (onnx is missing): "
        "pip install 'vaekit[export]'"
    ]
