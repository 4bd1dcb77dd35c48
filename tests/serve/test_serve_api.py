"""The explorer's JSON API, in process: each endpoint against the model's own methods, and the
bad inputs each must answer with a 4xx JSON error."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="vaekit serve needs the serve extra")

import vaekit  # noqa: E402
from vaekit.config import ModelConfig, TrainConfig  # noqa: E402
from vaekit.serve import app as serve_app  # noqa: E402
from vaekit.serve.explorer import Explorer  # noqa: E402
from vaekit.serve.schemas import MAX_N  # noqa: E402

STATIC = Path(serve_app.__file__).parent / "static"


def error(response, status: int) -> str:
    """The detail of a JSON error response with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return json.dumps(response.json()["detail"])


def png_bytes(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def test_card_describes_the_run(client, explorer2, run2: Path) -> None:
    card = client.get("/api/card").json()
    assert card["shape"] == [1, 8, 8] and card["latent_dim"] == 2 and card["classes"] == 0
    assert card["config"] == json.loads((run2 / "config.json").read_text())
    assert [r["epoch"] for r in card["history"]] == [1, 2]
    assert card["evaluation"] is None  # no vaekit evaluate yet
    activity = np.array(card["activity"])
    assert sorted(card["sliders"]) == [0, 1]
    assert list(activity[card["sliders"]]) == sorted(activity, reverse=True)


def test_sliders_are_ordered_by_activity_and_at_most_16(explorer5) -> None:
    card = explorer5.card()
    activity = np.array(card["activity"])
    assert np.allclose(activity, explorer5.z.var(axis=0))
    assert np.all(np.diff(activity[card["sliders"]]) <= 0) and len(card["sliders"]) == 5


def test_map_is_the_test_latent_means(client, explorer2) -> None:
    m = client.get("/api/map").json()
    z = explorer2.model.encode(explorer2.x).numpy()  # (N, 2)
    assert np.allclose(m["points"], z, atol=1e-5)  # 2-D: the latent means themselves
    assert m["labels"] == explorer2.y.tolist() and m["split"] == "test"
    assert m["axes"] == ["z1", "z2"]


def test_map_of_a_5d_latent_is_a_labelled_pca_that_maps_back(explorer5) -> None:
    m = explorer5.latent_map()
    assert m["title"].startswith("PCA projection of the 5-D latent means")
    p = np.array(m["points"][:3])  # (3, 2)
    z = np.array(m["mean"]) + p @ np.array(m["basis"])  # where a click on them decodes
    assert np.allclose(explorer5.view.points(z), p)


def test_example_and_its_bounds(client, explorer2) -> None:
    ex = client.get("/api/examples/3").json()
    assert np.allclose(ex["x"], explorer2.x[3].flatten().numpy())
    assert np.allclose(ex["z"], explorer2.model.encode(explorer2.x[3:4])[0].numpy(), atol=1e-6)
    assert ex["label"] == int(explorer2.y[3])
    assert "the map has" in error(client.get(f"/api/examples/{len(explorer2.x)}"), 404)
    error(client.get("/api/examples/-1"), 404)
    error(client.get("/api/examples/abc"), 422)


def test_decode_matches_the_model(client, explorer2) -> None:
    z = [[0.0, 0.0], [1.5, -2.0]]
    out = client.post("/api/decode", json={"z": z}).json()
    assert out["shape"] == [1, 8, 8]
    expected = explorer2.model.decode(torch.tensor(z)).reshape(2, -1).numpy()
    assert np.allclose(out["x"], expected, atol=1e-6)
    assert len(client.post("/api/decode", json={"z": [[0.0, 0.0]] * MAX_N}).json()["x"]) == MAX_N


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"z": [[0.0, 0.0, 0.0]]}, 422, "expected (N, 2)"),
        ({"z": [[0.0], [0.0, 1.0]]}, 422, "the same length"),
        ({"z": []}, 422, "at least 1"),
        ({"z": [[0.0, 0.0]] * (MAX_N + 1)}, 422, "at most 256"),
        ({"z": [[1e300, 0.0]]}, 422, "less than or equal"),
        ({"z": [["a", 0.0]]}, 422, "valid number"),
        ({"z": [[0.0, 0.0]], "label": 1}, 422, "unconditional"),
        ({"z": [[0.0, 0.0]], "path": "/etc/passwd"}, 422, "Extra inputs"),
        ({}, 422, "Field required"),
    ],
)
def test_decode_rejects_bad_input(client, body, status: int, says: str) -> None:
    assert says in error(client.post("/api/decode", json=body), status)


def test_decode_rejects_nan_and_broken_json(client) -> None:
    headers = {"content-type": "application/json"}
    for text in ('{"z": [[NaN, 0]]}', '{"z": [[Infinity, 0]]}', '{"z": [[0, 0]', "\xff"):
        error(client.post("/api/decode", content=text, headers=headers), 422)


def test_encode_matches_the_model_and_checks_the_data(client, explorer2) -> None:
    x = explorer2.x[:4].reshape(4, -1)  # (4, 64)
    out = client.post("/api/encode", json={"x": x.tolist()}).json()
    assert np.allclose(out["z"], explorer2.model.encode(x).numpy(), atol=1e-6)
    assert "expects (N, 1, 8, 8) or (N, 64)" in error(
        client.post("/api/encode", json={"x": [[0.5] * 63]}), 422
    )
    assert "[0, 1]" in error(client.post("/api/encode", json={"x": [[2.0] * 64]}), 422)


def test_encode_image_reads_a_png_of_the_model_size(client, explorer2) -> None:
    pixels = (explorer2.x[0, 0].numpy() * 255).round().astype(np.uint8)  # (8, 8)
    files = {"file": ("x.png", png_bytes(pixels), "image/png")}
    out = client.post("/api/encode/image", files=files).json()
    n = explorer2.model.config.levels - 1  # the upload is snapped to the model's levels
    x = torch.tensor(np.round(pixels / 255 * n) / n, dtype=torch.float32)[None, None]
    expected = explorer2.model.encode(x)
    assert np.allclose(out["z"], expected.numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        ("png9", "image/png", 422, "the model's is 8x8"),
        ("jpeg", "image/png", 422, "expected a PNG image, got JPEG"),
        ("junk", "image/png", 422, "not a readable image"),
        ("png8", "text/plain", 415, "expected a PNG"),
    ],
)
def test_encode_image_rejects_other_files(client, content, content_type, status, says) -> None:
    data = {
        "png9": png_bytes(np.zeros((9, 9), np.uint8)),
        "jpeg": png_bytes(np.zeros((8, 8), np.uint8), "JPEG"),
        "junk": b"\x89PNG not really",
        "png8": png_bytes(np.zeros((8, 8), np.uint8)),
    }[content]
    files = {"file": ("x.png", data, content_type)}
    assert says in error(client.post("/api/encode/image", files=files), status)
    error(client.post("/api/encode/image", data={"file": "x"}), 422)  # not a file upload


def test_sample_is_the_models_and_repeatable(client, explorer2) -> None:
    out = client.post("/api/sample", json={"n": 5, "seed": 7}).json()
    assert np.allclose(out["x"], explorer2.model.sample(5, seed=7).reshape(5, -1), atol=1e-6)
    assert out == client.post("/api/sample", json={"n": 5, "seed": 7}).json()
    for body in ({"n": 0}, {"n": MAX_N + 1}, {"seed": -1}, {"n": 2.5}, {"label": 0}):
        error(client.post("/api/sample", json=body), 422)


def test_interpolate_is_the_models(client, explorer2) -> None:
    out = client.post("/api/interpolate", json={"a": 0, "b": 5, "steps": 4}).json()
    expected = explorer2.model.interpolate(explorer2.x[0], explorer2.x[5], 4).reshape(4, -1)
    assert np.allclose(out["x"], expected, atol=1e-6)
    n = len(explorer2.x)
    assert "out of range" in error(client.post("/api/interpolate", json={"a": 0, "b": n}), 422)
    error(client.post("/api/interpolate", json={"a": 0, "b": 1, "steps": 1}), 422)


def test_large_bodies_are_refused_with_413(client) -> None:
    big = b'{"z": [' + b"[0.0, 0.0]," * (serve_app.MAX_BODY // 10) + b"[0.0, 0.0]]}"
    headers = {"content-type": "application/json"}
    assert "up to" in error(client.post("/api/decode", content=big, headers=headers), 413)

    def chunks():  # no Content-Length: streamed, and counted as it arrives
        for _ in range(serve_app.MAX_BODY // 2**16 + 2):
            yield b" " * 2**16

    error(client.post("/api/decode", content=chunks(), headers=headers), 413)


def test_openapi_documents_every_endpoint_and_the_page_is_offline(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("card", "map", "examples/{index}", "decode", "encode", "encode/image", "sample"):
        assert f"/api/{path}" in paths
    assert client.get("/docs").status_code == 404  # the CDN-backed docs page is off
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    for name in ("index.html", "app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
        assert "://" not in (STATIC / name).read_text()  # nothing fetched from elsewhere
    error(client.get("/static/../explorer.py"), 404)


def test_requests_leave_the_model_unchanged(client, explorer2) -> None:
    before = {k: v.clone() for k, v in explorer2.model.state_dict().items()}
    client.post("/api/decode", json={"z": [[0.0, 1.0]]})
    client.post("/api/encode", json={"x": [[0.5] * 64]})
    client.post("/api/sample", json={"n": 3})
    after = explorer2.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.requires_grad for p in explorer2.model.parameters())
    assert not explorer2.model.training


def test_a_conditional_model_takes_and_checks_labels(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from vaekit.serve.app import create_app

    run = tmp_path / "cvae"
    vaekit.fit(
        "digits",
        ModelConfig(latent_dim=2, hidden=(32,), conditional=True),
        TrainConfig(epochs=2, batch_size=256),
        out=run,
        progress=False,
    )
    explorer = Explorer.open(run)
    api = TestClient(create_app(explorer), base_url="http://127.0.0.1")
    assert api.get("/api/card").json()["classes"] == 10
    z = [[0.0, 0.0]]
    seven = api.post("/api/decode", json={"z": z, "label": 7})
    assert seven.status_code == 200
    torch.testing.assert_close(
        torch.tensor(seven.json()["x"]).reshape(1, 1, 8, 8),
        explorer.model.decode(torch.zeros(1, 2), y=7),
    )
    assert seven.json() != api.post("/api/decode", json={"z": z, "label": 1}).json()
    sample = api.post("/api/sample", json={"n": 3, "seed": 0, "label": 4})
    assert sample.status_code == 200
    assert api.post("/api/interpolate", json={"a": 0, "b": 1, "steps": 4}).status_code == 200
    for body, says in (({"z": z}, "give a label in 0..9"), ({"z": z, "label": 10}, "0..9")):
        r = api.post("/api/decode", json=body)
        assert r.status_code == 422 and says in r.text
