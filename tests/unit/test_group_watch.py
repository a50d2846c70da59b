"""The group watch's judgement: which partitions held elsewhere are read by nobody."""

from __future__ import annotations

from widget_factory.kafka_io.group_watch import UnreadPartitions

P0, P1 = ("widget-assembly", 0), ("widget-assembly", 1)


def test_a_partition_whose_committed_offset_stands_still_behind_its_end_is_unread() -> None:
    unread = UnreadPartitions(after=30.0)
    assert unread.update({P0: 100}, now=0.0) == []
    assert unread.update({P0: 100}, now=29.0) == []
    assert unread.update({P0: 100}, now=30.0) == [P0]


def test_a_moving_committed_offset_means_someone_reads_it() -> None:
    unread = UnreadPartitions(after=30.0)
    for second, offset in enumerate(range(100, 200, 5)):
        assert unread.update({P0: offset}, now=second * 10.0) == []


def test_a_partition_that_caught_up_starts_over() -> None:
    unread = UnreadPartitions(after=30.0)
    unread.update({P0: 100, P1: -1001}, now=0.0)
    unread.update({P1: -1001}, now=20.0)  # P0 reached its end
    assert unread.update({P0: 100, P1: -1001}, now=40.0) == [P1]
    unread.clear()
    assert unread.update({P0: 100, P1: -1001}, now=50.0) == []
