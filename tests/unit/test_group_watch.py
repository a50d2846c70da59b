"""The group watch's judgement: which partitions held elsewhere are read by nobody."""

from __future__ import annotations

import itertools

from widget_factory.kafka_io.group_watch import PEER_PATIENCE, RejoinBackoff, UnreadPartitions

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


def test_rejoins_that_do_not_settle_the_group_come_ever_further_apart() -> None:
    """A join round slower than the orphan time: after each rejoin the watch sees nothing
    stuck for a while (the tally starts over), then everything stuck again. The rejoins
    must not keep the pace of the tally, or the group never settles."""
    backoff = RejoinBackoff(after=5.0)
    changed, rejoined_at = 0.0, []
    for second in range(1, 400):
        now = float(second)
        stuck = now - changed >= 6.0  # stuck again 6 s after each rejoin
        if backoff.allows(now, changed, stuck=stuck):
            rejoined_at.append(now)
            changed = now
    gaps = [b - a for a, b in itertools.pairwise(rejoined_at)]
    assert gaps[:4] == [10.0, 20.0, 40.0, 80.0]
    assert all(gap == 80.0 for gap in gaps[4:])  # at most 16x the orphan time


def test_the_wait_starts_over_once_the_group_has_settled() -> None:
    backoff = RejoinBackoff(after=5.0)
    assert backoff.allows(10.0, changed=0.0, stuck=True)
    assert backoff.allows(30.0, changed=10.0, stuck=True)  # did not help: 10 s later
    assert backoff.wait() == 20.0
    assert not backoff.allows(60.0, changed=30.0, stuck=False)  # quiet, but not long enough
    assert backoff.wait() == 20.0
    assert not backoff.allows(70.0, changed=30.0, stuck=False)  # quiet for twice the wait
    assert backoff.wait() == 5.0
    assert backoff.allows(75.0, changed=70.0, stuck=True)


def test_a_member_holding_all_it_was_given_judges_later_than_the_one_that_lost_some() -> None:
    """The member that lost its own assignment goes first (``after``); a peer asks for
    the same partition to stand still ``PEER_PATIENCE`` times as long."""
    unread = UnreadPartitions(after=5.0)
    unread.update({P0: 100}, now=0.0)
    assert unread.update({P0: 100}, now=5.0) == [P0]
    assert unread.update({P0: 100}, now=5.0, after=5.0 * PEER_PATIENCE) == []
    assert unread.update({P0: 100}, now=15.0, after=5.0 * PEER_PATIENCE) == [P0]
