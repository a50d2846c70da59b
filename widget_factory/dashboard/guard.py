"""Who may talk to the dashboard: its own page, at its own address, and nobody else.

The server listens on 127.0.0.1 only, but a browser on the same machine visits other
sites too, and any of them could otherwise reach it:

- a cross-site form or ``fetch`` can POST to ``/api/machines/X/stop`` (a "simple"
  request needs no CORS permission to be *sent*, only to read the answer);
- a name that a hostile DNS server first resolves to its own site and then to
  127.0.0.1 ("DNS rebinding") makes the dashboard same-origin with that site, which
  may then read ``/api/state`` too.

So every request must name the dashboard's own address in ``Host`` (loopback names
with the served port), a browser's ``Origin``, when sent, must be that address too,
and a state-changing request must be ``application/json`` (no HTML form can send
that without a CORS preflight, which this server never grants) and carry the per-run
token that only the dashboard's own page gets (in a ``<meta>`` tag of ``/``) in the
``X-Widget-Factory-Token`` header. Anything else gets 403 with a one-line reason.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["RequestGuard", "GuardMiddleware", "TOKEN_HEADER", "LOOPBACK_NAMES", "new_token"]

log = logging.getLogger("dashboard")

TOKEN_HEADER = "X-Widget-Factory-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods that only read; every other one changes the factory and needs the token."""


def new_token() -> str:
    """A fresh secret for one run of the server (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class RequestGuard:
    """The dashboard's own address and token, and the rule for every request."""

    port: int
    token: str
    hosts: frozenset[str]
    """Accepted ``Host`` values (lower case), e.g. ``127.0.0.1:8765``."""

    @classmethod
    def for_port(cls, port: int, token: str, also: Iterable[str] = ()) -> RequestGuard:
        """Loopback names (and ``also``, e.g. the configured listen host) with ``port``."""
        names = {_bracketed(name.strip().lower()) for name in (*LOOPBACK_NAMES, *also)}
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:  # a browser leaves the default port out of Host and Origin
            hosts |= names
        return cls(port, token, frozenset(hosts))

    @property
    def address(self) -> str:
        return f"http://{LOOPBACK_NAMES[0]}:{self.port}"

    def refusal(self, method: str, headers: Mapping[str, str]) -> str | None:
        """Why this request is refused (one line), or None to let it through.

        ``headers`` has lower-case names. Checked in the order an attack fails first:
        the address it was sent to, the page it came from, then what it carries.
        """
        host = headers.get("host", "").strip().lower()
        if host not in self.hosts:
            return (
                f"Host {host or '(none)'!r} is not this dashboard's address; open {self.address}/"
            )
        origin = headers.get("origin")
        if origin is not None and not self._own_origin(origin):
            return (
                f"requests from {origin!r} are refused; only the dashboard's own page may call it"
            )
        if method.upper() in SAFE_METHODS:
            return None
        if origin is None and headers.get("sec-fetch-site", "same-origin") not in {
            "same-origin",
            "none",
        }:
            return "cross-site requests are refused; only the dashboard's own page may call it"
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return f"Content-Type must be application/json, got {media_type or '(none)'!r}"
        sent = headers.get(TOKEN_HEADER.lower())
        if sent is None:
            return f"missing {TOKEN_HEADER} header (the dashboard's page sends it)"
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            return f"wrong {TOKEN_HEADER} (each run of the dashboard has its own; reload the page)"
        return None

    def _own_origin(self, origin: str) -> bool:
        scheme, _, rest = origin.strip().lower().partition("://")
        return scheme == "http" and rest.rstrip("/") in self.hosts


def _bracketed(name: str) -> str:
    """An IPv6 address as it appears in ``Host`` and ``Origin``: ``[::1]``."""
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


class GuardMiddleware:
    """ASGI middleware: answers 403 ``{"ok": false, "error": reason}`` to refused requests.

    Plain ASGI (not ``BaseHTTPMiddleware``), so the server-sent event stream passes
    through untouched.
    """

    def __init__(self, app: Any, guard: RequestGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        duplicated = False
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            duplicated |= name in headers and name in {"host", "origin", TOKEN_HEADER.lower()}
            headers[name] = raw_value.decode("latin-1")
        reason = (
            "repeated Host, Origin or token header"
            if duplicated
            else self.guard.refusal(scope["method"], headers)
        )
        if reason is None:
            await self.app(scope, receive, send)
            return
        log.warning("dashboard: refused %s %s: %s", scope["method"], scope["path"], reason)
        response = JSONResponse({"ok": False, "error": reason}, status_code=403)
        await response(scope, receive, send)
