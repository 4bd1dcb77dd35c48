"""ONNX and TorchScript export: the exported networks compute what the model computes.

Stated tolerance: max abs difference under 1e-4 between the exported networks and PyTorch on
random inputs of a batch size other than the one exported with (the batch is dynamic).
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


def _model(y_dim: int = 0, likelihood: str = "auto") -> VAE:
    """A standardised real-valued (Gaussian) model, conditional with ``y_dim`` > 0."""
    torch.manual_seed(0)
    loc, scale = torch.rand(1, 4, 4), 0.5 + torch.rand(1, 4, 4)
    config = ModelConfig(latent_dim=3, hidden=(16,), likelihood=likelihood)
    return VAE(config, (1, 4, 4), "real", loc=loc, scale=scale, y_dim=y_dim).eval()


def _inputs(model: VAE, batch: int = 7) -> dict[str, tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, *model.shape, generator=g)
    z = torch.randn(batch, model.config.latent_dim, generator=g)
    labels = torch.arange(batch) % max(model.y_dim, 1)
    cond = (torch.nn.functional.one_hot(labels, model.y_dim).float(),) if model.y_dim else ()
    return {"encoder": (x, *cond), "decoder": (z, *cond)}


@torch.no_grad()
def _reference(model: VAE, inputs) -> dict[str, list[np.ndarray]]:
    """The model's own q(z|x) and decoder output, through its public distributions."""
    x, *y = inputs["encoder"]
    qz = model.qz(model.to_model_space(x), *y).base_dist
    z, *y = inputs["decoder"]
    px = model.px(z, *y)
    return {
        "encoder": [qz.loc.numpy(), (2 * qz.scale.log()).numpy()],
        "decoder": [px.base_dist.loc.numpy()],
    }


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    pytest.importorskip("onnxscript", reason="the export extra is not installed")
    out = tmp_path_factory.mktemp("onnx")
    export.export(_model(y_dim=3), out, "onnx")
    return out


def test_onnx_matches_pytorch_with_a_dynamic_batch(onnx_folder):
    import onnxruntime as ort

    model = _model(y_dim=3)
    inputs, ref = _inputs(model), _reference(model, _inputs(model))
    for net in ("encoder", "decoder"):
        session = ort.InferenceSession(str(onnx_folder / f"{net}.onnx"))
        names = [i.name for i in session.get_inputs()]
        assert names == export.input_names(net, 2)
        assert session.get_inputs()[0].shape[0] == "B"
        got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs[net], strict=True)})
        for a, b in zip(got, ref[net], strict=True):
            assert a.shape == b.shape and np.abs(a - b).max() < TOL


def test_card_says_how_to_sample(onnx_folder):
    card = json.loads((onnx_folder / export.CARD_FILE).read_text())
    model = _model(y_dim=3)
    assert card["likelihood"] == "gaussian" and card["latent_dim"] == 3
    assert card["encoder"]["inputs"] == {"x": ["B", 1, 4, 4], "y": ["B", 3]}
    assert np.allclose(card["standardization"]["x_loc"], model.x_loc.numpy())
    assert np.allclose(card["gaussian_scale"], model.likelihood.scale().detach().numpy())
    assert "x_scale + x_loc" in card["decoder"]["meaning"] and card["sample_z"] == "z ~ N(0, I)"


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("y_dim", [0, 2])
def test_torchscript_matches_pytorch(tmp_path, monkeypatch, y_dim):
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


def test_cli_exports_a_saved_model_and_names_a_missing_extra(tmp_path, monkeypatch, capsys):
    import subprocess

    from vaekit import api
    from vaekit.cli import main

    api.save(_model(), tmp_path / "m")
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
