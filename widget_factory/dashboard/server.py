"""The dashboard's web server: a static page and its live feed, on 127.0.0.1 only.

Starlette app served by uvicorn in a thread of the calling process:

- ``GET /``: the page (``static/index.html``; every asset is served from the package,
  nothing from the internet)
- ``GET /api/state``: one snapshot (JSON)
- ``GET /api/events``: server-sent events, one snapshot whenever something changed
- ``POST /api/orders`` ``{"widget_type", "quantity", "priority"}``: a production order
- ``POST /api/machines/{id}/{anomaly|stop|start}``: a command to the factory

Control requests are validated on the server (400 with ``{"error": ...}``). Only the
dashboard's own page gets in (``guard.py``): every request must be addressed to the
dashboard itself, and a POST must be JSON with the per-run token that ``/`` puts in
the page; the rest is refused with 403.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from widget_factory.dashboard.feed import CommandRejected, DashboardFeed
from widget_factory.dashboard.guard import GuardMiddleware, RequestGuard, new_token
from widget_factory.dashboard.state import DashboardState
from widget_factory.errors import UsageError
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["DashboardServer", "build_app", "STATIC"]

log = logging.getLogger("dashboard")

STATIC = Path(str(resources.files("widget_factory") / "dashboard" / "static"))
HOST = "127.0.0.1"
TOKEN_PLACEHOLDER = "{{WIDGET_FACTORY_TOKEN}}"
"""Stands in ``static/index.html`` for the run's token, put there when ``/`` is served."""


def build_app(
    state: DashboardState, feed: DashboardFeed, stopping: threading.Event, guard: RequestGuard
) -> Starlette:
    page = (
        (STATIC / "index.html").read_text(encoding="utf-8").replace(TOKEN_PLACEHOLDER, guard.token)
    )

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def snapshot(request: Request) -> Response:
        return JSONResponse(state.snapshot())

    async def events(request: Request) -> Response:
        async def stream() -> Any:
            last = -1
            quiet_since = time.monotonic()
            yield "retry: 1000\n\n"
            while not stopping.is_set():
                if await request.is_disconnected():
                    return
                if state.version != last:
                    last = state.version
                    quiet_since = time.monotonic()
                    yield f"data: {json.dumps(state.snapshot())}\n\n"
                elif time.monotonic() - quiet_since > 10:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.5)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise CommandRejected("expected a JSON object") from None
        if not isinstance(body, dict):
            raise CommandRejected("expected a JSON object")
        return body

    async def order(request: Request) -> Response:
        try:
            body = await _body(request)
            result = await asyncio.to_thread(
                feed.add_order,
                body.get("widget_type"),
                body.get("quantity"),
                body.get("priority", 1),
            )
        except CommandRejected as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse(result)

    async def machine(request: Request) -> Response:
        try:
            result = await asyncio.to_thread(
                feed.machine_command,
                request.path_params["machine_id"],
                request.path_params["action"],
            )
        except CommandRejected as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse(result)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/state", snapshot),
            Route("/api/events", events),
            Route("/api/orders", order, methods=["POST"]),
            Route("/api/machines/{machine_id}/{action}", machine, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ]
    )
    app.add_middleware(GuardMiddleware, guard=guard)
    return app


class DashboardServer:
    """Feed and web server for as long as the ``with`` block (or start/stop) lasts."""

    def __init__(self, settings: KafkaSettings, config: FactoryConfig, port: int = 0) -> None:
        self.state = DashboardState(config)
        self.feed = DashboardFeed(settings, config, self.state)
        self._stopping = threading.Event()
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.token = new_token()
        """The page's key to the controls, new for every server (see ``guard.py``)."""

    @property
    def port(self) -> int:
        assert self._socket is not None
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, self._requested_port))
        except OSError as exc:
            sock.close()
            raise UsageError(
                f"--dashboard-port {self._requested_port}: cannot listen on {HOST} "
                f"({exc.strerror}); pick another port, or 0 for any free one"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def start(self) -> DashboardServer:
        import uvicorn

        self._socket = self._bind()
        guard = RequestGuard.for_port(self.port, self.token, also=(HOST,))
        app = build_app(self.state, self.feed, self._stopping, guard)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        sock = self._socket
        self._thread = threading.Thread(
            target=lambda: self._server.run(sockets=[sock]), name="dashboard-web", daemon=True
        )
        self.feed.start()
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.feed.stop()
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
