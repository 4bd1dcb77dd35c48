"""The run report: pictures in the run folder and one self-contained report.html."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.data import from_arrays
from vaekit.model.vae import VAE
from vaekit.viz import report

HISTORY = [
    {
        "epoch": 1,
        "train_elbo": -12.0,
        "train_log_px_z": -11.0,
        "train_kl_z": 1.0,
        "seconds": 0.5,
        "val_elbo": -11.5,
        "val_log_px_z": -10.0,
        "val_kl_z": 1.5,
    },
    {
        "epoch": 2,
        "train_elbo": -10.0,
        "train_log_px_z": -9.0,
        "train_kl_z": 1.0,
        "seconds": 0.5,
        "val_elbo": -12.5,
        "val_log_px_z": -11.0,
        "val_kl_z": 1.5,
    },
]


def images(n: int = 120) -> np.ndarray:
    g = np.random.default_rng(0)
    protos = g.random((3, 1, 4, 4)) > 0.5
    return (protos[np.arange(n) % 3] ^ (g.random((n, 1, 4, 4)) < 0.05)).astype(np.float32)


def embedded(html: str) -> list[bytes]:
    return [
        base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    ]


@pytest.mark.parametrize("latent_dim", [2, 3])
def test_image_report(tmp_path: Path, latent_dim: int) -> None:
    data = from_arrays(images(), np.arange(120) % 3)
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=latent_dim, hidden=(8,)), data.shape, data.kind)
    path = report.write_report(
        model, data, tmp_path, {"model": {"latent_dim": latent_dim}}, HISTORY
    )
    html = path.read_text()
    files = ["loss_curves.png", "samples.png", "reconstructions.png", "latent_map.png"]
    files += ["manifold.png"] if latent_dim == 2 else []
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(files)
    pictures = embedded(html)
    assert len(pictures) == len(files) and all(p.startswith(b"\x89PNG") for p in pictures)
    assert "<script" not in html and "http" not in html  # opens offline
    assert "best val_elbo (nats)" in html and "-11.5 at epoch 1" in html
    assert "vaekit evaluate" in html  # no evaluation yet: says how to get one
    assert "coloured by label." in html  # the data has labels
    assert "kind binary" in html and "likelihood bernoulli" in html  # what the model assumes


@pytest.mark.slow
def test_vector_report_with_evaluation(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(80, 6)).astype(np.float32) * 3 + 1
    data = from_arrays(x)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), data.shape, data.kind, data.loc, data.scale)
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    evaluation = {"elbo": -9.5, "nll": 9.0, "probe_accuracy": {"vae_knn": 0.5}, "list": [1, 2]}
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation))
    html = report.write_report(model, data, tmp_path).read_text()
    assert not (tmp_path / "manifold.png").exists()  # no image data: no manifold
    assert len(embedded(html)) == 4
    assert "evaluation: probe_accuracy.vae_knn" in html and "evaluation: list" not in html
    assert "Histograms of the test data" in html  # feature-wise stand-ins for image pictures
    assert "coloured by label" not in html and "the data has no labels" in html
    assert "kind real, 6 features; likelihood gaussian" in html


def test_flatten_and_held_out_fallback() -> None:
    assert report.flatten({"a": {"b": 1, "c": [1]}, "d": "x"}) == {"a.b": 1, "d": "x"}
    data = from_arrays(images(20), config=None)
    name, x, _ = report.held_out(data)
    assert name == "test" and len(x) == 2
