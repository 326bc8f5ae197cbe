"""The ASGI application: the page, static assets, health, the WebSocket, and the lifespan that
starts the chat service (and with it the TCP gateway) in the server's event loop.

``python -m app`` is the recommended way to run it; any ASGI server runs it too:
``uvicorn app.asgi:app``, ``uvicorn --factory app.asgi:create_app``, or gunicorn with
``uvicorn_worker.UvicornWorker``. Those serve WebSockets on the standard ASGI path.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.ops.logs import HideTokens, OneLine, log_from_a_thread
from app.ops.metrics import CONTENT_TYPE
from app.service import ChatService, StartupRefused
from app.site.assets import VersionedStaticFiles

PACKAGE = Path(__file__).resolve().parent
log = logging.getLogger("app")


def _assets(name: str) -> Path:
    """An asset directory: inside the installed package (the wheel puts it there), or beside the
    package in a source checkout (where it lives)."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name


STATIC = _assets("static")
TEMPLATES = _assets("templates")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)


def asset_versions() -> dict[str, str]:
    """A short content hash per static file, appended as ?v= so browsers never run stale assets."""
    return {
        path.relative_to(STATIC).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in STATIC.rglob("*")
        if path.is_file()
    }


class ChatApp:
    """The Starlette app, with the lifespan run here: a start-up refusal is then reported as its
    one line (``lifespan.startup.failed``) rather than as a traceback."""

    def __init__(self, starlette: Starlette, service: ChatService, warning: str = "") -> None:
        self.starlette = starlette
        self.service = service
        self.warning = warning
        """Said once at start-up, when the log is there (how the doors were set up, if surprising)."""

    @property
    def routes(self) -> list[BaseRoute]:
        return self.starlette.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.starlette(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        # Run by another server (not `python -m app`), the chat log still needs somewhere to go.
        settings = self.service.settings
        logs = None
        if not logging.getLogger().handlers:
            logs = log_from_a_thread(settings.log_level.upper(), settings.per_worker)
        if self.warning:
            log.warning("%s", self.warning)
        try:
            await self.service.start()
        except StartupRefused as refusal:
            await send({"type": "lifespan.startup.failed", "message": str(refusal)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self.service.stop()
        if logs is not None:
            logs.stop()
        await send({"type": "lifespan.shutdown.complete"})


def create_app(settings: Settings | None = None) -> ChatApp:
    """The application, configured from the environment unless ``settings`` are given (as
    ``python -m app`` gives them; without them, another server runs it: see ``doors_warning``)."""
    warning = ""
    if settings is None:
        settings = Settings.from_env().under_another_server()
        warning = doors_warning(settings)
    for name in ("uvicorn.access", "uvicorn.error"):  # where uvicorn logs HTTP and WebSocket requests
        logging.getLogger(name).addFilter(HideTokens())
        logging.getLogger(name).addFilter(OneLine())
    service = ChatService(settings)
    templates = Jinja2Templates(directory=TEMPLATES)
    versions = asset_versions()

    def static_url(name: str) -> str:
        return f"/static/{name}?v={versions.get(name, '0')}"

    flood = service.hub.flood.policy

    async def index(request: Request) -> Response:
        context = {
            "static_url": static_url,
            "max_message": settings.max_message,
            "paste_lines": flood.paste_lines if flood.enabled else 0,
            "paste_size": flood.paste_size,
            "tcp_port": settings.tcp_port,
        }
        response = templates.TemplateResponse(request, "index.html", context)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    async def healthz(request: Request) -> Response:
        return JSONResponse(service.health())

    async def metrics(request: Request) -> Response:
        denied = service.metrics_access.check(request.headers, request.client.host if request.client else "")
        if denied is not None:
            return PlainTextResponse(denied.text, status_code=denied.status, headers=denied.headers)
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    routes = Starlette(
        routes=[
            Route("/", index),
            Route("/r/{room}", index),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            WebSocketRoute(service.websocket.PATH, service.websocket.endpoint),
            Mount("/static", VersionedStaticFiles(directory=STATIC, versions=versions), name="static"),
        ]
    )
    return ChatApp(routes, service, warning)


def doors_warning(settings: Settings) -> str:
    """What to say when uvicorn or gunicorn runs the app with chat doors open and neither HOST nor
    UVICORN_HOST set: those servers' ``--host``/``--bind`` never reach the doors."""
    ports = (("TCP", settings.tcp_port), ("TLS", settings.tls_port), ("SSH", settings.ssh_port))
    doors = [f"{name} port {port}" for name, port in ports if port is not None]
    if settings.host_named or not doors:
        return ""
    return (
        f"the chat doors ({', '.join(doors)}) listen on {settings.host} only: the web server's --host or --bind"
        " does not reach them. Set HOST (or UVICORN_HOST, which uvicorn reads too) to where they should listen."
    )


def __getattr__(name: str) -> Any:
    """``app``: the application as ``uvicorn app.asgi:app`` and gunicorn import it, built on first
    use (importing this module, as ``python -m app`` does, builds nothing)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    app = globals()["app"] = create_app()
    return app
