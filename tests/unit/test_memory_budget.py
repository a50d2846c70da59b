"""The broker's memory budget: sizes, the default, and when to warn and stop."""

from __future__ import annotations

import pytest

from widget_factory.core.memory_budget import (
    DEFAULT_BUDGET_BYTES,
    BudgetWatch,
    Verdict,
    default_budget,
    format_size,
    parse_size,
)

MIB = 1 << 20


def test_sizes_parse_in_powers_of_1024() -> None:
    assert parse_size("512M") == 512 * MIB
    assert parse_size("1.5G") == 1536 * MIB
    assert parse_size("2GiB") == 2048 * MIB
    assert parse_size(" 64 mb ") == 64 * MIB
    assert parse_size(str(8 * MIB)) == 8 * MIB
    assert parse_size("off") is None
    assert parse_size("0") is None


@pytest.mark.parametrize("text", ["", "lots", "12Q", "-1G", "1e3M", "100K"])
def test_bad_sizes_are_refused_with_a_readable_message(text: str) -> None:
    with pytest.raises(ValueError, match="size|MiB"):
        parse_size(text)


def test_default_is_1_gib_or_a_quarter_of_a_small_machine() -> None:
    assert default_budget(None) == DEFAULT_BUDGET_BYTES
    assert default_budget(64 << 30) == DEFAULT_BUDGET_BYTES
    assert default_budget(2 << 30) == 512 * MIB


def test_format_size() -> None:
    assert format_size(512 * MIB) == "512 MiB"
    assert format_size(1 << 30) == "1.0 GiB"


def test_slow_growth_warns_at_80_percent_then_stops_at_90_once() -> None:
    watch = BudgetWatch(1000 * MIB)
    verdicts = []
    for second in range(0, 1000):
        rss = (500 + second) * MIB  # 1 MiB/s: 30 s of drain need 30 MiB
        verdicts += [(rss // MIB, v) for v in watch.observe(float(second), rss)]
    assert verdicts == [(800, Verdict.WARN), (900, Verdict.STOP)]
    assert watch.warned and watch.stopped


def test_fast_growth_stops_early_enough_for_the_drain() -> None:
    watch = BudgetWatch(1000 * MIB)
    verdicts = []
    for second in range(0, 100):
        rss = (100 + 20 * second) * MIB  # 20 MiB/s: 30 s of drain need 600 MiB
        verdicts += [(rss // MIB, v) for v in watch.observe(float(second), rss)]
    assert [v for _, v in verdicts] == [Verdict.WARN, Verdict.STOP]
    stopped_at = verdicts[-1][0]
    assert stopped_at + 20 * 30 >= 1000 > stopped_at
    assert stopped_at < 800  # before the warning share: both said at once


def test_a_burst_far_under_the_budget_does_not_stop() -> None:
    """A bounded run at --speed max grows the broker fast for a few seconds: projected
    30 s ahead it would pass the budget, but it is far from it and ends long before."""
    watch = BudgetWatch(1024 * MIB)
    verdicts = []
    for second in range(0, 12):
        verdicts += watch.observe(float(second), (10 + 40 * second) * MIB)  # 40 MiB/s
    assert verdicts == []
    assert watch.observe(12.0, 530 * MIB) == [Verdict.WARN, Verdict.STOP]


def test_steady_memory_under_the_budget_says_nothing() -> None:
    watch = BudgetWatch(1000 * MIB)
    assert not any(watch.observe(float(s), 700 * MIB) for s in range(600))
    assert watch.growth_per_s() == 0.0
