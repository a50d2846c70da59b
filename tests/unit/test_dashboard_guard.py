"""The dashboard's request rule (``RequestGuard.refusal``), without a server."""

from __future__ import annotations

import pytest

from widget_factory.dashboard.guard import TOKEN_HEADER, RequestGuard, new_token

GUARD = RequestGuard.for_port(8765, "s3cret", also=("127.0.0.1",))
PAGE = {
    "host": "127.0.0.1:8765",
    "origin": "http://127.0.0.1:8765",
    "content-type": "application/json",
    TOKEN_HEADER.lower(): "s3cret",
}


def test_the_pages_own_requests_pass() -> None:
    assert GUARD.refusal("POST", PAGE) is None
    assert (
        GUARD.refusal("POST", {**PAGE, "content-type": "application/json; charset=utf-8"}) is None
    )
    assert GUARD.refusal("GET", {"host": "127.0.0.1:8765"}) is None
    assert GUARD.refusal("GET", {"host": "LOCALHOST:8765"}) is None
    # a same-origin GET carries no Origin; a browser's own POST marks itself same-origin
    assert GUARD.refusal("POST", {**PAGE, "sec-fetch-site": "same-origin"}) is None


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765"])
def test_every_loopback_name_with_the_served_port_is_the_dashboard(host: str) -> None:
    assert GUARD.refusal("POST", {**PAGE, "host": host, "origin": f"http://{host}"}) is None


@pytest.mark.parametrize(
    "host",
    ["evil.example:8765", "evil.example", "127.0.0.1:9999", "127.0.0.1", "", "127.0.0.1:8765.x"],
)
def test_any_other_host_is_refused_even_for_reading(host: str) -> None:
    reason = GUARD.refusal("GET", {"host": host})
    assert reason is not None and "not this dashboard's address" in reason


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "https://127.0.0.1:8765",
        "http://127.0.0.1:8766",
        "http://localhost.evil.example:8765",
    ],
)
def test_another_origin_is_refused(origin: str) -> None:
    reason = GUARD.refusal("POST", {**PAGE, "origin": origin})
    assert reason is not None and repr(origin) in reason
    assert GUARD.refusal("GET", {"host": "127.0.0.1:8765", "origin": origin}) == reason


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_change_must_be_json(content_type: str | None) -> None:
    headers = {k: v for k, v in PAGE.items() if k != "content-type"}
    if content_type is not None:
        headers["content-type"] = content_type
    reason = GUARD.refusal("POST", headers)
    assert reason is not None and "application/json" in reason


def test_a_change_needs_this_runs_token() -> None:
    missing = {k: v for k, v in PAGE.items() if k != TOKEN_HEADER.lower()}
    assert "missing" in (GUARD.refusal("POST", missing) or "")
    assert "wrong" in (GUARD.refusal("POST", {**PAGE, TOKEN_HEADER.lower(): "other"}) or "")
    assert "wrong" in (GUARD.refusal("DELETE", {**PAGE, TOKEN_HEADER.lower(): ""}) or "")


def test_a_cross_site_request_without_origin_is_refused() -> None:
    headers = {k: v for k, v in PAGE.items() if k != "origin"}
    assert GUARD.refusal("POST", headers) is None  # a script, not a browser: token decides
    assert "cross-site" in (
        GUARD.refusal("POST", {**headers, "sec-fetch-site": "cross-site"}) or ""
    )


def test_port_80_may_be_left_out_and_ipv6_hosts_are_bracketed() -> None:
    guard = RequestGuard.for_port(80, "t", also=("::1",))
    assert guard.refusal("GET", {"host": "localhost"}) is None
    assert guard.refusal("GET", {"host": "[::1]:80"}) is None
    assert "[::1]" in guard.hosts and "::1" not in guard.hosts


def test_each_token_is_new() -> None:
    assert len({new_token() for _ in range(20)}) == 20
    assert len(new_token()) >= 40
