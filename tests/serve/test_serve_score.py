"""The explorer shows anomaly scores: beside a test example, and for an uploaded image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="vaekit serve needs the serve extra")


def test_an_example_comes_with_its_score(client, explorer2) -> None:
    out = client.get("/api/examples/3").json()
    expected = explorer2.model.score(explorer2.x[3:4], out["score_method"])
    # a discretized logistic over the digits' 17 levels gives code lengths: see scores.resolve
    assert out["score_method"] == "complexity+regret"
    assert out["score"] == pytest.approx(float(expected[0]), rel=1e-5, abs=1e-5)


def test_an_uploaded_image_is_scored_and_noise_scores_higher(client, explorer2) -> None:
    def upload(pixels: np.ndarray) -> dict:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        files = {"file": ("x.png", buffer.getvalue(), "image/png")}
        return client.post("/api/encode/image", files=files).json()

    digit = (explorer2.x[0, 0].numpy() * 255).round().astype(np.uint8)  # (8, 8)
    out = upload(digit)
    expected = explorer2.model.score(explorer2.x[:1])  # the upload is snapped to its 17 levels
    assert out["score"] == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-5)
    assert out["score_method"] == "complexity+regret" and len(out["z"]) == 1
    noise = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    assert upload(noise)["score"][0] > out["score"][0]


def test_the_page_shows_the_scores() -> None:
    from pathlib import Path

    from vaekit.serve import app as serve_app

    static = Path(serve_app.__file__).parent / "static"
    assert 'id="upload-score"' in (static / "index.html").read_text()
    script = (static / "app.js").read_text()
    assert "ex.score_method" in script and "data.score[0]" in script
