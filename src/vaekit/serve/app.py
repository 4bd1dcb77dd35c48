"""The web app of ``vaekit serve``: one page and a JSON API over an :class:`Explorer`.

Routes only translate between JSON and the explorer (which calls the model's public methods).
Every error is a JSON body ``{"detail": ...}`` with a 4xx status: 400 for a Host header that
names another server (DNS rebinding), 413 for a body over ``MAX_BODY`` bytes, 415 for an upload
that is not a PNG, 404 for an example out of range, 422 for anything else the model or the
schemas reject (a damaged image or a decompression bomb included). The page, its script and
its style are files of this package: nothing is fetched from elsewhere, and no request names a
file.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import Tensor

from vaekit.errors import DataError
from vaekit.serve import schemas
from vaekit.serve.explorer import Explorer

STATIC = Path(__file__).parent / "static"
MAX_BODY = 4 * 2**20  # bytes: 256 flat 28x28 examples as JSON take about 1.5 MB
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # every interface of this machine


def host_name(header: bytes) -> str | None:
    """The name in a Host header, lower case, without port or IPv6 brackets; None if malformed.

    ``localhost:8000`` -> ``localhost``; ``[::1]:8000`` -> ``::1``.
    """
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):
        name, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
        return name
    name, colon, port = text.partition(":")
    if colon and not port.isdigit():
        return None
    return name or None


def is_ip(name: str) -> bool:
    """Whether ``name`` is an IPv4 or IPv6 address (not a DNS name)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostGuard:
    """ASGI middleware against DNS rebinding: a request whose Host header names another server
    is answered 400. Accepted: 127.0.0.1, localhost, [::1] and the served ``host``, with or
    without a port; when serving on every interface (0.0.0.0 or ::), any IP address too
    (a rebinding attack needs a DNS name) and this machine's own name."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1") -> None:
        self.app = app
        self.names = {*LOOPBACK, host.strip("[]").lower()}
        self.any_ip = host in WILDCARDS
        if self.any_ip:
            self.names.add(socket.gethostname().lower())

    def allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether exactly one Host header is present and names this server."""
        hosts = [value for key, value in headers if key.lower() == b"host"]
        name = host_name(hosts[0]) if len(hosts) == 1 else None
        return name is not None and (name in self.names or (self.any_ip and is_ip(name)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(scope["headers"]):
            detail = "the Host header must name this server (127.0.0.1, localhost or --host)"
            return await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413, whether announced
    by Content-Length or streamed in chunks; smaller bodies are passed on unchanged."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await too_large(self.limit, scope, receive, send)
        body, more = b"", True
        while more:  # read the (bounded) body up front, then replay it to the app
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await too_large(self.limit, scope, receive, send)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    detail = f"the request body must be a number of bytes up to {limit}"
    await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


def examples(x: Tensor) -> dict[str, Any]:
    """A batch (N, *shape) as the JSON of :class:`schemas.Examples`."""
    return {"x": x.reshape(len(x), -1).tolist(), "shape": list(x.shape[1:])}


def create_app(explorer: Explorer, host: str = "127.0.0.1") -> FastAPI:
    """The FastAPI app serving ``explorer``'s page and API (schema at ``/openapi.json``).

    ``host``: the address served on; requests must name it (or a loopback name) in their Host
    header (:class:`HostGuard`).
    """
    from vaekit import __version__

    app = FastAPI(
        title="vaekit explorer",
        version=__version__,
        description="Decode, encode and sample a trained VAE; its latent map and model card.",
        docs_url=None,  # the interactive docs load their scripts from a CDN: not offline
        redoc_url=None,
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(HostGuard, host=host)  # the outermost: checked before the body is read
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    _add_routes(app, explorer)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Bad input is a 4xx JSON error with the reason, never a 500."""

    @app.exception_handler(DataError)
    async def data_error(request: Request, e: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        # without the inputs: they may be large, or NaN, which JSON cannot carry back
        fields = ("loc", "msg", "type")
        detail = [{k: v for k, v in err.items() if k in fields} for err in e.errors()]
        return JSONResponse({"detail": detail}, status_code=422)


def _add_routes(app: FastAPI, explorer: Explorer) -> None:
    """The page and the JSON API: each route calls the explorer, the public API's user."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/card", response_model=schemas.Card)
    def card() -> dict[str, Any]:
        """The model card: data, latent size, slider order, config, training curves, metrics."""
        return explorer.card()

    @app.get("/api/map", response_model=schemas.LatentMap)
    def latent_map() -> dict[str, Any]:
        """The test examples' latent means in 2-D (a PCA projection for L > 2)."""
        return explorer.latent_map()

    @app.get(
        "/api/examples/{index}",
        response_model=schemas.Example,
        responses={404: {"description": "no such example"}},
    )
    def example(index: int) -> dict[str, Any]:
        """Test example ``index`` of the map: its x, posterior mean z and label."""
        found = explorer.example(index)
        if found is None:
            raise HTTPException(404, f"no example {index}: the map has {len(explorer.x)}")
        return found

    @app.post("/api/decode", response_model=schemas.Examples)
    def decode(body: schemas.DecodeRequest) -> dict[str, Any]:
        """The means of p(x|z) for a batch of z (N, latent_dim)."""
        return examples(explorer.decode(body.z, body.label))

    @app.post("/api/encode", response_model=schemas.Latents)
    def encode(body: schemas.EncodeRequest) -> dict[str, Any]:
        """The posterior means E[z|x] of a batch of flat examples (N, prod(shape))."""
        return {"z": explorer.encode(body.x, body.label).tolist()}

    @app.post(
        "/api/encode/image",
        response_model=schemas.Latents,
        responses={415: {"description": "not a PNG"}},
    )
    def encode_image(file: Annotated[UploadFile, File(description="a PNG, model-sized")]) -> Any:
        """The posterior mean E[z|x] of an uploaded PNG image of the model's height and width."""
        if file.content_type not in ("image/png", "application/octet-stream"):
            raise HTTPException(415, f"expected a PNG image, got {file.content_type}")
        x = explorer.image_to_x(file.file.read(MAX_BODY))
        scored = {"score": explorer.score(x), "score_method": explorer.score_method}
        return {"z": explorer.encode(x).tolist(), **scored}

    @app.post("/api/sample", response_model=schemas.Examples)
    def sample(body: schemas.SampleRequest) -> dict[str, Any]:
        """n samples: the means of p(x|z) for z ~ p(z), repeatable for a seed."""
        return examples(explorer.sample(body.n, body.seed, body.label))

    @app.post("/api/interpolate", response_model=schemas.Examples)
    def interpolate(body: schemas.InterpolateRequest) -> dict[str, Any]:
        """Decoded steps on the line between the latent means of two test examples."""
        return examples(explorer.interpolate(body.a, body.b, body.steps))


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), or an ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def serve(run: str | Path, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu") -> None:
    """Serve the explorer of the run folder ``run`` on ``host:port`` until interrupted."""
    import uvicorn

    if host not in LOOPBACK:
        print(
            f"vaekit: warning: serving on {host}, not only this machine: anyone who can reach "
            f"it can use the model",
            file=sys.stderr,
        )
    sock = bind(host, port)
    app = create_app(Explorer.open(run, device), host)
    where = sock.getsockname()
    url = f"http://{f'[{host}]' if ':' in host else host}:{where[1]}/"
    print(f"vaekit explorer of {run}: {url} (Ctrl-C stops it)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
