"""Watermarks and read progress of the assembly stations, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime

from widget_factory.core.progress import InputProgress, PublishedOrders
from widget_factory.schemas import ProductionOrder

COMP = "component-production"
ORDERS = "production-orders"
START = 1_767_225_600.0


def progress() -> InputProgress:
    return InputProgress(COMP, ORDERS, START)


def order(order_id: str, at: float) -> ProductionOrder:
    return ProductionOrder(
        event_id=f"e-{order_id}",
        order_id=order_id,
        widget_type="widget_a",
        quantity=1,
        priority=1,
        created_at=datetime.fromtimestamp(at, UTC),
    )


# --- merging reports ---------------------------------------------------------------------


def test_a_newer_report_replaces_an_older_one_and_an_older_one_never_wins() -> None:
    p = progress()
    p.merge({f"{COMP}:0": (10, 20, START + 5)})
    p.merge({f"{COMP}:0": (15, 20, START + 8), f"{COMP}:1": (3, 3, None)})
    assert p.remote == {f"{COMP}:0": (15, 20, START + 8), f"{COMP}:1": (3, 3, None)}
    p.merge({f"{COMP}:0": (12, 25, START + 6)})  # late delivery of an older report
    assert p.remote[f"{COMP}:0"] == (15, 20, START + 8)
    p.merge({f"{COMP}:0": (15, 30, START + 9)})  # same position, newer high: taken
    assert p.remote[f"{COMP}:0"] == (15, 30, START + 9)


def test_the_report_covers_assigned_partitions_read_here_with_component_times() -> None:
    p = progress()
    p.read(COMP, 0, 7)
    p.component_read(0, START + 3)
    p.read(ORDERS, 0, 2)
    ends = {(COMP, 0): (0, 9), (COMP, 1): (0, 4), (ORDERS, 0): (0, 2)}
    assert p.report(ends) == {f"{COMP}:0": (7, 9, START + 3), f"{ORDERS}:0": (2, 2, None)}


def test_the_publisher_report_is_kept_as_known() -> None:
    p = progress()
    report = p.publisher_report(START + 60, {0: 3, 2: 1})
    assert report == {
        "@orders": (0, 0, START + 60),
        "@orders:0": (3, 0, None),
        "@orders:2": (1, 0, None),
    }
    assert p.remote == report


# --- the watermark of one process --------------------------------------------------------


def test_local_watermark_is_the_slowest_partition_still_being_read() -> None:
    p = progress()
    for partition, (offset, at) in enumerate([(5, START + 50), (8, START + 20)]):
        p.read(COMP, partition, offset)
        p.component_read(partition, at)
    ends = {(COMP, 0): (0, 10), (COMP, 1): (0, 10), (ORDERS, 0): (0, 99)}
    assert p.local_watermark(ends) == START + 20


def test_a_partition_read_to_its_end_does_not_hold_time_back() -> None:
    p = progress()
    p.read(COMP, 0, 5)
    p.component_read(0, START + 50)
    p.read(COMP, 1, 10)
    p.component_read(1, START + 20)
    assert p.local_watermark({(COMP, 0): (0, 10), (COMP, 1): (0, 10)}) == START + 50


def test_every_partition_at_its_end_gives_the_latest_time_seen_including_handoffs() -> None:
    p = progress()
    p.read(COMP, 0, 10)
    p.component_read(0, START + 50)
    p.handoff_read(START + 70)
    p.handoff_read(START + 60)  # inbox records come in any order: the latest stays
    assert p.handoff_time == START + 70
    assert p.local_watermark({(COMP, 0): (0, 10)}) == START + 70


def test_data_waiting_in_a_partition_not_read_yet_holds_everything() -> None:
    p = progress()
    p.read(COMP, 0, 5)
    p.component_read(0, START + 50)
    assert p.local_watermark({(COMP, 0): (0, 10), (COMP, 1): (0, 3)}) is None
    # An empty partition, or one whose high watermark is unknown, holds nothing.
    assert p.local_watermark({(COMP, 0): (0, 10), (COMP, 1): (0, 0)}) == START + 50
    assert p.local_watermark({(COMP, 0): (0, 10), (COMP, 1): (-1, -1)}) == START + 50


def test_nothing_read_anywhere_gives_no_watermark() -> None:
    assert progress().local_watermark({(COMP, 0): (0, 0)}) is None


# --- the watermark across processes ------------------------------------------------------


def scaled_out() -> InputProgress:
    p = progress()
    p.group_partitions = [(COMP, 0), (COMP, 1), (COMP, 2), (ORDERS, 0)]
    return p


def test_global_watermark_waits_for_a_partition_nobody_has_reported() -> None:
    p = scaled_out()
    p.read(COMP, 0, 4)
    p.component_read(0, START + 40)
    p.merge({f"{COMP}:1": (2, 9, START + 30)})
    assert p.global_watermark({(COMP, 0): (0, 9)}) is None  # partition 2: no word yet


def test_global_watermark_is_the_slowest_partition_wherever_it_is_read() -> None:
    p = scaled_out()
    p.read(COMP, 0, 4)
    p.component_read(0, START + 40)
    p.merge({f"{COMP}:1": (2, 9, START + 30), f"{COMP}:2": (5, 9, START + 45)})
    assert p.global_watermark({(COMP, 0): (0, 9)}) == START + 30


def test_global_watermark_skips_partitions_at_their_end_and_takes_the_latest() -> None:
    p = scaled_out()
    p.read(COMP, 0, 9)
    p.component_read(0, START + 40)
    p.merge({f"{COMP}:1": (9, 9, START + 55), f"{COMP}:2": (0, 0, None)})
    assert p.global_watermark({(COMP, 0): (0, 9)}) == START + 55
    p.handoff_read(START + 80)
    assert p.global_watermark({(COMP, 0): (0, 9)}) == START + 80


def test_global_watermark_holds_for_a_remote_partition_with_unread_data() -> None:
    p = scaled_out()
    p.read(COMP, 0, 9)
    p.component_read(0, START + 40)
    p.merge({f"{COMP}:1": (0, 7, None), f"{COMP}:2": (3, 3, START + 10)})
    assert p.global_watermark({(COMP, 0): (0, 9)}) is None


# --- the orders watermark ----------------------------------------------------------------


def test_orders_watermark_is_infinite_until_a_publisher_speaks() -> None:
    assert progress().orders_watermark({(ORDERS, 0): (0, 0)}) == float("inf")


def test_orders_watermark_moves_once_every_published_order_is_read() -> None:
    p = progress()
    p.publisher_report(START + 100, {0: 3, 1: 2})
    ends = {(ORDERS, 0): (0, 3)}
    p.read(ORDERS, 0, 3)
    # Partition 1 is read elsewhere and not reported: the start holds.
    assert p.orders_watermark(ends) == START
    p.merge({f"{ORDERS}:1": (1, 2, None)})
    assert p.orders_watermark(ends) == START
    p.merge({f"{ORDERS}:1": (2, 2, None)})
    assert p.orders_watermark(ends) == START + 100
    # The publisher moves on; until those orders are read the last reached time stays.
    p.publisher_report(START + 200, {0: 5, 1: 2})
    assert p.orders_watermark(ends) == START + 100
    p.read(ORDERS, 0, 5)
    assert p.orders_watermark(ends) == START + 200


# --- the end of the inputs ---------------------------------------------------------------


def test_inputs_are_not_at_end_without_an_assignment() -> None:
    assert not progress().inputs_at_end({}, {}, inbox_at_end=None, virtual=True)


def test_group_at_end_needs_every_partition_read_to_its_known_high_watermark() -> None:
    p = progress()
    ends = {(COMP, 0): (0, 10), (ORDERS, 0): (0, 2)}
    assert not p.group_at_end(ends, {(COMP, 0): 9, (ORDERS, 0): 2})
    assert p.group_at_end(ends, {(COMP, 0): 10, (ORDERS, 0): 2})
    assert not p.group_at_end({(COMP, 0): (-1, -1)}, {(COMP, 0): 10})  # high unknown


def test_a_partition_without_a_consumer_position_counts_its_recorded_one() -> None:
    p = progress()
    ends = {(COMP, 0): (0, 10)}
    assert not p.group_at_end(ends, {(COMP, 0): -1001})
    p.read(COMP, 0, 10)  # assigned at the position another process recorded at the end
    assert p.group_at_end(ends, {(COMP, 0): -1001})
    # No position at all: only a partition with nothing past its low watermark is done.
    assert progress().group_at_end({(COMP, 0): (4, 4)}, {})
    assert not progress().group_at_end({(COMP, 0): (4, 6)}, {})


def test_scaled_out_inputs_wait_for_the_inbox_and_in_virtual_time_for_others() -> None:
    p = scaled_out()
    ends = {(COMP, 0): (0, 5), (ORDERS, 0): (0, 1)}
    positions = {(COMP, 0): 5, (ORDERS, 0): 1}
    assert p.inputs_at_end(ends, positions, inbox_at_end=None, virtual=True)
    assert not p.inputs_at_end(ends, positions, inbox_at_end=False, virtual=False)
    assert p.inputs_at_end(ends, positions, inbox_at_end=True, virtual=False)
    # Virtual time: partitions 1 and 2 are read by others, who must say they are done.
    assert not p.inputs_at_end(ends, positions, inbox_at_end=True, virtual=True)
    p.merge({f"{COMP}:1": (8, 8, START), f"{COMP}:2": (3, 4, START)})
    assert not p.inputs_at_end(ends, positions, inbox_at_end=True, virtual=True)
    p.merge({f"{COMP}:2": (4, 4, START)})
    assert p.inputs_at_end(ends, positions, inbox_at_end=True, virtual=True)
    p.merge({f"{COMP}:2": (4, -1, START)})  # an unknown high watermark is not an end
    assert not p.inputs_at_end(ends, positions, inbox_at_end=True, virtual=True)


# --- published orders --------------------------------------------------------------------


def test_published_orders_are_confirmed_only_when_none_waits_for_the_broker() -> None:
    published = PublishedOrders(START)
    published.sent(order("O1", START + 10), awaited=False)
    published.published_until(START + 30)
    published.published_until(START + 20)  # never goes back
    assert published.until == START + 30
    assert published.confirmed() == START  # O1 unacknowledged
    published.delivered("O1", 1, 6)
    assert published.confirmed() == START + 30
    assert published.ends == {1: 7}
    published.sent(order("O2", START + 40), awaited=False)
    published.delivered("O2", None, 0)  # not stored: no end moves, but it is answered
    assert published.ends == {1: 7} and published.unacked == 0


def test_awaited_orders_are_those_this_process_reads_back_itself() -> None:
    published = PublishedOrders(START)
    for order_id, at in (("O1", 10), ("O2", 20), ("O3", 30)):
        published.sent(order(order_id, START + at), awaited=True)
    published.delivered("O1", 0, 0)
    published.delivered("O2", 1, 0)
    # O2 went to partition 1, read by another process; O3 has no answer yet.
    assert published.awaited({0}) == [START + 10, START + 30]
    assert published.awaited({0, 1}) == [START + 10, START + 30]  # O2 is forgotten
    published.read_back("O1")
    assert published.awaited({0}) == [START + 30]
    assert published.pending
    published.read_back("O3")
    assert not published.pending and published.awaited({0}) == []
    unawaited = PublishedOrders(START)
    unawaited.sent(order("O4", START), awaited=False)
    assert not unawaited.pending and unawaited.awaited({0}) == []
