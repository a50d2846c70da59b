"""Which offsets a service may commit, and whether it has anything to commit at all."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from widget_factory.kafka_io.offsets import OffsetTracker


def test_open_record_holds_the_committable_offset_back() -> None:
    tracker = OffsetTracker()
    tracker.consumed("t", 0, 4, open_=True)
    tracker.consumed("t", 0, 5)
    assert tracker.committable() == {("t", 0): 4}
    tracker.close("t", 0, 4)
    assert tracker.committable() == {("t", 0): 6}


def test_idle_tracker_has_nothing_pending_once_committed() -> None:
    tracker = OffsetTracker()
    assert not tracker.has_pending()
    tracker.consumed("t", 0, 9)
    assert tracker.has_pending()
    tracker.mark_committed([TopicPartition("t", 0, 10)])
    assert not tracker.has_pending()
    tracker.consumed("t", 0, 10)
    assert tracker.has_pending()


def test_periodic_resend_counts_as_pending() -> None:
    tracker = OffsetTracker()
    tracker.consumed("t", 1, 0)
    tracker.mark_committed([TopicPartition("t", 1, 1)])
    tracker.refreshed -= 3600
    assert tracker.has_pending()
