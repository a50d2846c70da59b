"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright)
against a running factory: the page loads with no outside asset, numbers move as events
flow, an order, an anomaly and a stop/start reach the factory, the answer key marks the
stop as a true fault (on the tile and in its list, ongoing then ended), a request without the
page's token is refused, bad input is refused by the server, and nothing sticks out
of its panel at 1400 px.

Skipped, with the reason, only where no Chromium is installed (`.ci/run` installs
Debian's `chromium`, so CI always runs it). Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.patience import ceiling
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import PRODUCTION_ORDERS
from widget_factory.schemas import ProductionOrder, decode_as

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


def find_chromium() -> str | None:
    candidates = [
        os.environ.get("WIDGET_FACTORY_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(
        "no Chromium found: install Debian's chromium (apt-get install chromium) to run "
        "the browser test; nothing is downloaded at run time",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright missing")


@pytest.fixture
def live_factory(own_broker: EmbeddedBroker, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A live factory (speed 120) with its dashboard on a free port: (url, log file)."""
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "widget_factory",
                "run",
                "--bootstrap-servers",
                own_broker.bootstrap_servers,
                "--speed",
                "120",
                "--seed",
                "5",
                "--dashboard-port",
                "0",
                "--no-analytics",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
        )
    assert process.stdout is not None
    url: list[str] = []
    found = threading.Event()

    def read_stdout() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            match = re.search(rb"Dashboard: (http://127\.0\.0\.1:\d+/)", raw)
            if match:
                url.append(match.group(1).decode())
                found.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        assert found.wait(ceiling(30)), (
            f"run printed no dashboard address: {log_path.read_text()[-2000:]}"
        )
        yield url[0], log_path
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(ceiling(30))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _number(page: object, selector: str) -> int:
    text = page.inner_text(selector)  # type: ignore[attr-defined]
    return int(text.replace(",", "")) if text.strip() not in {"", "–"} else 0


def test_dashboard_shows_a_live_factory_and_its_controls_reach_it(
    live_factory: tuple[str, Path], own_broker: EmbeddedBroker
) -> None:
    url, log_path = live_factory
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            assert page.title() == "Widget Factory"
            page.wait_for_selector("#connection.live", timeout=ceiling(20_000))

            # every machine and station of the factory is on the floor
            page.wait_for_function(
                "document.querySelectorAll('[data-machine]').length === 13", timeout=ceiling(20_000)
            )
            # numbers change as events flow
            page.wait_for_function(
                "Number(document.querySelector('#components-total').innerText.replace(/,/g, '')) > 0",
                timeout=ceiling(30_000),
            )
            first = _number(page, "#components-total")
            first_time = page.inner_text("#sim-time")
            page.wait_for_function(
                f"Number(document.querySelector('#components-total').innerText.replace(/,/g, '')) > {first}",
                timeout=ceiling(30_000),
            )
            # the clock is the newest event read from any input (telemetry runs ahead of the
            # components counted), so it may not move with the count: wait for it
            page.wait_for_function(
                "(before) => document.querySelector('#sim-time').innerText !== before",
                arg=first_time,
                timeout=ceiling(30_000),
            )
            assert page.inner_text("#sim-time") != first_time
            page.wait_for_selector("#stock .row", timeout=ceiling(30_000))

            # an order from the page raises the orders count and reaches the factory
            page.wait_for_function(
                "document.querySelectorAll('#order-type option').length > 0",
                timeout=ceiling(20_000),
            )
            orders_before = _number(page, "#orders-total")
            page.select_option("#order-type", "premium_widget")
            page.fill("#order-quantity", "2")
            page.fill("#order-priority", "3")
            page.click("#order-submit")
            page.wait_for_function(
                f"Number(document.querySelector('#orders-total').innerText.replace(/,/g, '')) > {orders_before}",
                timeout=ceiling(15_000),
            )
            # the count can move (by the stream) before the POST's answer is shown
            page.wait_for_function(
                "/ORDER_/.test(document.querySelector('#control-message').innerText)",
                timeout=15_000,
            )
            message = page.inner_text("#control-message")
            order_id = re.search(r"ORDER_[0-9A-F]{8}", message)
            assert order_id, message
            settings = KafkaSettings(own_broker.bootstrap_servers, source="flag")
            sent = [
                decode_as(m.value(), ProductionOrder)
                for m in read_to_end(settings, [PRODUCTION_ORDERS])
            ]
            assert [
                (o.widget_type, o.quantity, o.priority)
                for o in sent
                if o.order_id == order_id.group(0)
            ] == [("premium_widget", 2, 3)]
            deadline = time.monotonic() + 20
            while order_id.group(0) not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert f"Added production order: 2x premium_widget ({order_id.group(0)}" in (
                log_path.read_text()
            )

            # an anomaly from the page puts the machine in ERROR (telemetry applied it)
            tile = "[data-machine='FRAME_MACHINE_02']"
            page.click(f"{tile} button[data-action='anomaly']")
            page.wait_for_function(
                f"document.querySelector(\"{tile} .status\").innerText.toLowerCase() === 'error'",
                timeout=ceiling(20_000),
            )

            # stop on the page shuts the machine down; its button then offers start
            tile = "[data-machine='PLASTIC_MOLD_01']"
            page.click(f"{tile} button[data-action='stop']")
            page.wait_for_function(
                f"document.querySelector(\"{tile} .status\").innerText.toLowerCase() === 'shutdown'",
                timeout=20_000,
            )
            # the answer key marks the true fault on the tile and lists it beside the alerts
            page.wait_for_function(
                f"/true fault: shutdown \\(command\\)/.test("
                f'document.querySelector("{tile} .true-fault").innerText)',
                timeout=20_000,
            )
            listed = "#answer-key li[data-target='PLASTIC_MOLD_01'][data-kind='shutdown']"
            page.wait_for_selector(f"{listed}.ongoing", timeout=20_000)
            page.click(f"{tile} button[data-action='start']")
            page.wait_for_function(
                f"document.querySelector(\"{tile} .status\").innerText.toLowerCase() !== 'shutdown'",
                timeout=20_000,
            )
            page.wait_for_selector(f"{listed}.ended", timeout=20_000)
            assert "ended" in page.inner_text(f"{listed}.ended")
            page.wait_for_function(
                f"document.querySelector(\"{tile} .true-fault\").innerText === ''",
                timeout=20_000,
            )

            # a request without the page's token is refused before anything is checked
            token = page.get_attribute("meta[name='widget-factory-token']", "content")
            assert token and token != "{{WIDGET_FACTORY_TOKEN}}"
            own = {"X-Widget-Factory-Token": token, "Content-Type": "application/json"}
            tokenless = page.request.post(url + "api/machines/FRAME_MACHINE_01/stop", data={})
            assert tokenless.status == 403 and "X-Widget-Factory-Token" in tokenless.json()["error"]

            # bad input is refused by the server, with a reason
            bad = page.request.post(
                url + "api/orders",
                data={"widget_type": "basic_widget", "quantity": 0},
                headers=own,
            )
            assert bad.status == 400 and "quantity" in bad.json()["error"]
            unknown = page.request.post(
                url + "api/machines/NO_SUCH_MACHINE/stop", data={}, headers=own
            )
            assert unknown.status == 400 and "unknown machine" in unknown.json()["error"]

            # at 1400 px nothing sticks out of its panel (open orders with progress bars)
            assert page.locator("#orders tbody tr").count() > 0
            sticking_out = page.evaluate(
                """() => [...document.querySelectorAll('.panel *')].filter((node) =>
                    node.getBoundingClientRect().right >
                    node.closest('.panel').getBoundingClientRect().right + 0.5
                ).map((node) => node.className || node.tagName)"""
            )
            assert sticking_out == []

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
        finally:
            browser.close()
    # nothing came from outside the dashboard itself
    assert requests and all(r.startswith(url) for r in requests), [
        r for r in requests if not r.startswith(url)
    ]
