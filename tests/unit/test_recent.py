"""The bounded table of recent keys behind duplicate detection."""

from __future__ import annotations

from widget_factory.core.recent import RecentKeys


def test_the_oldest_key_is_forgotten_first_and_a_repeat_keeps_its_place() -> None:
    recent: RecentKeys[int] = RecentKeys(3)
    for n, key in enumerate(["a", "b", "c", "a", "d"]):
        recent.remember(key, n)
    assert dict(recent) == {"b": 1, "c": 2, "d": 4}
    assert "a" not in recent  # remembered first; its repeat did not move it
    assert recent["b"] == 1 and recent["d"] == 4


def test_a_table_of_capacity_zero_keeps_nothing() -> None:
    recent: RecentKeys[None] = RecentKeys(0)
    recent.remember("a", None)
    assert len(recent) == 0
