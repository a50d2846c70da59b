"""The dashboard lets in only its own page: each attack seen against it gets 403 from the
real server (uvicorn over a real socket, the feed on a real broker) and produces nothing,
while the requests its own page makes get through and reach the factory.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from widget_factory.dashboard.server import DashboardServer
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_COMMANDS, PRODUCTION_ORDERS, create_topics
from widget_factory.schemas import FactoryCommand, ProductionOrder, decode_as

pytestmark = pytest.mark.integration

ORDER = {"widget_type": "basic_widget", "quantity": 999, "priority": 100}
EVIL = "http://evil.example"


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Dashboard:
    server: DashboardServer
    settings: KafkaSettings

    @property
    def own(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        *,
        host: str | None = None,
        first_bytes: int | None = None,
    ) -> Answer:
        """One request with exactly these headers (``Host`` too: the test sets it)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host if host is not None else self.own)
            for name, value in headers.items():
                connection.putheader(name, value)
            if body is not None or method == "POST":
                connection.putheader("Content-Length", str(len(body or b"")))
            connection.endheaders(body)
            response = connection.getresponse()
            if first_bytes is not None and response.status == 200:
                return Answer(response.status, response.read1(first_bytes))
            return Answer(response.status, response.read())
        finally:
            connection.close()

    def page_headers(self) -> dict[str, str]:
        """What the dashboard's own page sends with a control request."""
        page = self.call("GET", "/", {})
        assert page.status == 200
        token = re.search(rb'name="widget-factory-token" content="([^"]+)"', page.body)
        assert token, page.body[:500]
        return {
            "Origin": f"http://{self.own}",
            "Content-Type": "application/json",
            "X-Widget-Factory-Token": token.group(1).decode(),
        }


@pytest.fixture
def dashboard(own_broker: EmbeddedBroker) -> Iterator[Dashboard]:
    settings = KafkaSettings(own_broker.bootstrap_servers, source="flag")
    create_topics(settings)
    with DashboardServer(settings, load_config(None), 0) as server:
        yield Dashboard(server, settings)


def _refused(answer: Answer, reason: str) -> None:
    assert answer.status == 403, (answer.status, answer.body)
    body = answer.json()
    assert body["ok"] is False and reason in body["error"], body


def _orders(settings: KafkaSettings) -> list[ProductionOrder]:
    return [
        decode_as(m.value(), ProductionOrder) for m in read_to_end(settings, [PRODUCTION_ORDERS])
    ]


def _commands(settings: KafkaSettings) -> list[FactoryCommand]:
    return [decode_as(m.value(), FactoryCommand) for m in read_to_end(settings, [FACTORY_COMMANDS])]


def test_attacks_are_refused_and_reach_nothing_while_the_page_gets_through(
    dashboard: Dashboard,
) -> None:
    own = dashboard.page_headers()
    order = json.dumps(ORDER).encode()
    stop = "/api/machines/FRAME_MACHINE_01/stop"

    # a cross-site HTML form POST (no body) that would shut a machine down
    _refused(
        dashboard.call(
            "POST", stop, {"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"}
        ),
        "evil.example",
    )
    # the same with everything else right: the Origin alone refuses it
    _refused(dashboard.call("POST", stop, {**own, "Origin": EVIL}), "evil.example")
    _refused(dashboard.call("POST", stop, {**own, "Origin": "null"}), "null")
    # a cross-site request that hides its Origin is still marked cross-site by the browser
    no_origin = {k: v for k, v in own.items() if k != "Origin"}
    _refused(
        dashboard.call("POST", stop, {**no_origin, "Sec-Fetch-Site": "cross-site"}), "cross-site"
    )
    # a text/plain POST of a JSON order (a "simple" request: no preflight asked)
    _refused(
        dashboard.call(
            "POST", "/api/orders", {"Origin": EVIL, "Content-Type": "text/plain"}, order
        ),
        "evil.example",
    )
    _refused(
        dashboard.call("POST", "/api/orders", {**own, "Content-Type": "text/plain"}, order),
        "application/json",
    )
    # no token, or another run's token
    missing = {k: v for k, v in own.items() if k != "X-Widget-Factory-Token"}
    _refused(
        dashboard.call("POST", "/api/orders", missing, order), "missing X-Widget-Factory-Token"
    )
    _refused(dashboard.call("POST", stop, missing), "missing X-Widget-Factory-Token")
    wrong = {**own, "X-Widget-Factory-Token": "not-this-run"}
    _refused(dashboard.call("POST", "/api/orders", wrong, order), "wrong X-Widget-Factory-Token")
    # DNS rebinding: the right socket, another site's name; nothing is read, not even the token
    rebound = f"evil.example:{dashboard.server.port}"
    for path in ("/api/state", "/api/events", "/", "/static/app.js"):
        _refused(dashboard.call("GET", path, {}, host=rebound), "evil.example")
    _refused(dashboard.call("POST", stop, own, host=rebound), "evil.example")
    # the right name on another port is another origin
    _refused(dashboard.call("GET", "/api/state", {}, host="127.0.0.1:1"), "127.0.0.1:1")

    # the page's own requests get through, under each loopback name of the dashboard
    port = dashboard.server.port
    for host in (dashboard.own, f"localhost:{port}", f"[::1]:{port}"):
        state = dashboard.call("GET", "/api/state", {}, host=host)
        assert state.status == 200 and "machines" in state.json()
    events = dashboard.call("GET", "/api/events", {}, first_bytes=64)
    assert events.status == 200 and events.body.startswith(b"retry:")
    assert dashboard.call("GET", "/static/app.js", {}).status == 200
    placed = dashboard.call(
        "POST", "/api/orders", own, json.dumps({**ORDER, "quantity": 3}).encode()
    )
    assert placed.status == 200 and placed.json()["ok"] is True, placed.body
    stopped = dashboard.call("POST", stop, own, b"{}")
    assert stopped.status == 200 and stopped.json()["ok"] is True, stopped.body
    # server-side validation still answers the page with 400 and the reason
    bad = dashboard.call("POST", "/api/orders", own, json.dumps({**ORDER, "quantity": 0}).encode())
    assert bad.status == 400 and "quantity" in bad.json()["error"]

    # only the page's order and command reached the factory
    assert [(o.widget_type, o.quantity, o.order_id) for o in _orders(dashboard.settings)] == [
        ("basic_widget", 3, placed.json()["order_id"])
    ]
    assert [(c.command, c.target_id) for c in _commands(dashboard.settings)] == [
        ("stop_machine", "FRAME_MACHINE_01")
    ]
