"""Which component partitions an assembly process pauses at unlimited speed."""

from __future__ import annotations

from widget_factory.stations.read_ahead import LEAD_S, to_pause, to_resume


def test_a_partition_further_than_the_lead_ahead_of_the_watermark_is_paused() -> None:
    times = {0: 1000.0, 1: 1000.0 + LEAD_S, 2: 1000.0 + LEAD_S + 1}
    assert to_pause(times, 1000.0, set()) == [2]
    assert to_pause(times, 1000.0, {2}) == []  # already paused


def test_the_partition_holding_the_watermark_is_never_paused() -> None:
    times = {0: 5.0, 1: 1e9}
    watermark = min(times.values())
    assert 0 not in to_pause(times, watermark, set())


def test_a_paused_partition_resumes_within_half_the_lead() -> None:
    times = {0: 100.0, 2: 100.0 + LEAD_S}
    assert to_resume(times, 100.0, {2}) == []
    assert to_resume(times, 100.0 + LEAD_S / 2, {2}) == [2]
    # a partition no longer reported (revoked) is released
    assert to_resume({0: 100.0}, 100.0, {2}) == [2]
