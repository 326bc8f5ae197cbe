"""The Starlette application: the page, static assets, health, the WebSocket, and the lifespan
that starts the TCP gateway in the same event loop."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.templating import Jinja2Templates

from app.assets import VersionedStaticFiles
from app.config import Settings
from app.metrics import CONTENT_TYPE
from app.service import ChatService

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
TEMPLATES = ROOT / "templates"

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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            WebSocketRoute("/ws", service.websocket.endpoint),
            Mount("/static", VersionedStaticFiles(directory=STATIC, versions=versions), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.chat = service
    return app
