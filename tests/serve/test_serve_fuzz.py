"""A property-based fuzz of the explorer's API from its own OpenAPI schema (schemathesis's
strategies, driven by Hypothesis, calling the app in process): valid requests and requests that
break the schema, for every operation; no answer may be a 5xx. Then the hostile inputs the schema
does not describe: Host headers (DNS rebinding), decompression bombs and damaged images.

Schemathesis's pytest plugin (``from_fixture``) does not run under this pytest, so the test
draws cases from each operation's Hypothesis strategy itself.
"""

from __future__ import annotations

import pytest
from hostile_files import (
    EPS,
    PS,
    bmp_claiming,
    flip,
    gif_claiming,
    image_bytes,
    jpeg_claiming,
    png_claiming,
    png_that_warns,
    tiff_claiming,
    webp_claiming,
)

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser: `make test-fast` skips them
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.fixture(scope="module")
def operations(explorer2) -> dict:
    from vaekit.serve.app import create_app

    # schemathesis's client names its server "testserver": that is the host served here
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(explorer2, "testserver"))
    found = [result.ok() for result in schema.get_all_operations()]
    return {f"{op.method.upper()} {op.path}": op for op in found}


def test_the_schema_has_every_operation(operations: dict) -> None:
    assert len(operations) == 8, sorted(operations)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_no_server_errors(operations: dict, mode) -> None:
    for name, operation in operations.items():
        if mode == schemathesis.GenerationMode.NEGATIVE and not ("POST" in name or "{" in name):
            continue  # nothing to break in a request without parameters or a body

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,  # the same cases every run: a failure is a bug, not bad luck
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.text)
            assert response.headers["content-type"] == ["application/json"], case.path

        check()


# -- the Host header: a guard against DNS rebinding ---------------------------------------------
ACCEPTED = ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]", "[::1]:8000"]
REFUSED = [
    "evil.example",
    "evil.example:8000",
    "127.0.0.1.evil.example",
    "localhost.evil.example:8000",
    "",
    "127.0.0.1:port",
    "[::1",
    "[::1]x",
    "10.0.0.7",  # an address, but not the one served on
    "::1",  # IPv6 without brackets is not a Host header
]


@pytest.fixture(scope="module")
def guarded(explorer2):
    """A client of the app served on 127.0.0.1, sending whatever Host header a test gives."""
    from fastapi.testclient import TestClient

    from vaekit.serve.app import create_app

    return TestClient(create_app(explorer2))


@pytest.mark.parametrize("host", ACCEPTED)
def test_loopback_host_headers_are_served(guarded, host: str) -> None:
    response = guarded.get("/api/card", headers={"Host": host})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("host", REFUSED)
def test_other_host_headers_are_refused_with_400(guarded, host: str) -> None:
    for method, path in (("GET", "/"), ("GET", "/api/card"), ("POST", "/api/sample")):
        response = guarded.request(method, path, headers={"Host": host}, json={})
        assert response.status_code == 400, (host, path, response.text)
        assert response.headers["content-type"] == "application/json"
        assert "Host header" in response.json()["detail"]


@pytest.mark.parametrize(
    ("served", "host", "status"),
    [
        ("192.168.1.5", "192.168.1.5:8000", 200),
        ("192.168.1.5", "192.168.1.6:8000", 400),
        ("0.0.0.0", "10.0.0.7:8000", 200),  # every interface: any address, never a DNS name
        ("0.0.0.0", "[fe80::1]:8000", 200),
        ("0.0.0.0", "evil.example:8000", 400),
        ("::1", "[::1]:8000", 200),
        ("my.host.example", "my.host.example", 200),
    ],
)
def test_the_served_host_is_accepted(explorer2, served: str, host: str, status: int) -> None:
    from fastapi.testclient import TestClient

    from vaekit.serve.app import create_app

    client = TestClient(create_app(explorer2, served))
    assert client.get("/api/card", headers={"Host": host}).status_code == status


@given(host=st.text(max_size=40))
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
def test_fuzzed_host_headers_are_refused_unless_loopback(guarded, host: str) -> None:
    from vaekit.serve.app import host_name

    try:
        header = host.encode("latin-1")
    except UnicodeEncodeError:
        return  # not sendable as an HTTP header
    if any(c in host for c in "\r\n\0") or host != host.strip():
        return  # the HTTP layer refuses or trims these before any app sees them
    response = guarded.get("/api/card", headers={"Host": header})
    allowed = host_name(header) in ("127.0.0.1", "localhost", "::1")
    assert response.status_code == (200 if allowed else 400), (host, response.text)


def test_a_live_server_refuses_a_rebound_host(live_url: str) -> None:
    """Over a real socket, as a browser tricked by DNS rebinding would send it."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(live_url)
    for host, status in (("evil.example", 400), (where.netloc, 200)):
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        conn.putrequest("GET", "/api/card", skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == status, (host, response.read())
        conn.close()


# -- uploaded images: bombs, other formats, damage -----------------------------------------------
UPLOADS = {
    "png-bomb-100000": png_claiming(100_000, 100_000),
    "png-over-2^26": png_claiming(9000, 9000),
    "gif-bomb": gif_claiming(65535, 65535),
    "jpeg-bomb": jpeg_claiming(60000, 60000),
    "bmp-bomb": bmp_claiming(100_000, 100_000),
    "tiff-bomb": tiff_claiming(60000, 60000),
    "webp-bomb": webp_claiming(16383, 16383),
    "eps": EPS,
    "ps": PS,
    "truncated-png": image_bytes("PNG")[:-30],
    "png-pillow-warns": png_that_warns(),
    "empty": b"",
    "text": b"hello",
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_bad_uploads_are_422(client, name: str) -> None:
    files = {"file": ("x.png", UPLOADS[name], "image/png")}
    response = client.post("/api/encode/image", files=files)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert detail.startswith("the upload: ") and "\n" not in detail, detail
    if "bomb" in name or "2^26" in name:
        assert "2^26" in detail, detail


@given(at=st.floats(0, 1), bit=st.integers(0, 7), cut=st.integers(0, 200))
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
def test_damaged_pngs_never_give_a_server_error(client, at: float, bit: int, cut: int) -> None:
    data = flip(image_bytes("PNG"), at, bit)
    data = data[: len(data) - cut]
    response = client.post("/api/encode/image", files={"file": ("x.png", data, "image/png")})
    assert response.status_code in (200, 422), response.text
    assert response.headers["content-type"] == "application/json"
