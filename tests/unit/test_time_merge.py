"""Merging partitions by event time (``TimeMerge``), without a broker."""

from __future__ import annotations

from widget_factory.core.time_merge import TimeMerge


def test_records_come_out_earliest_first_across_sources() -> None:
    merge: TimeMerge[str] = TimeMerge(["p0", "p1"])
    for t in (0, 30, 60):
        merge.add("p0", t, f"p0@{t}")
    for t in (10, 20, 70):
        merge.add("p1", t, f"p1@{t}")
    assert merge.release(quiet={"p0", "p1"}) == [
        "p0@0",
        "p1@10",
        "p1@20",
        "p0@30",
        "p0@60",
        "p1@70",
    ]
    assert len(merge) == 0


def test_a_source_that_may_still_bring_an_earlier_record_holds_the_rest_back() -> None:
    merge: TimeMerge[str] = TimeMerge(["p0", "p1"])
    merge.add("p0", 50, "late")
    assert merge.release(quiet=set()) == []  # p1 not read to its end yet
    merge.add("p1", 10, "early")
    assert merge.release(quiet=set()) == ["early"]  # p1 is empty again, and not quiet
    assert merge.release(quiet={"p1"}) == ["late"]


def test_a_quiet_source_does_not_hold_the_others_back() -> None:
    merge: TimeMerge[str] = TimeMerge(["p0", "p1", "p2"])
    merge.add("p2", 5, "a")
    merge.add("p2", 6, "b")
    assert merge.release(quiet={"p0", "p1"}) == ["a", "b"]  # what p2 brings next comes after b
    merge.add("p0", 1, "c")
    assert merge.release(quiet={"p1", "p2"}) == ["c"]


def test_ties_keep_the_sources_order_and_a_record_without_time_stays_in_place() -> None:
    merge: TimeMerge[str] = TimeMerge(["p0", "p1"])
    merge.add("p1", 10, "p1-first")
    merge.add("p1", None, "p1-untimed")
    merge.add("p1", 40, "p1-last")
    merge.add("p0", 10, "p0-first")
    merge.add("p0", 20, "p0-second")
    assert merge.release(quiet={"p0", "p1"}) == [
        "p0-first",
        "p1-first",
        "p1-untimed",
        "p0-second",
        "p1-last",
    ]


def test_release_stops_at_the_limit_and_keeps_the_rest() -> None:
    merge: TimeMerge[int] = TimeMerge(["p0"])
    for t in range(5):
        merge.add("p0", t, t)
    assert merge.release(quiet={"p0"}, limit=2) == [0, 1]
    assert len(merge) == 3
    assert merge.release(quiet={"p0"}) == [2, 3, 4]
