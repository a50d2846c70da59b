"""The group watch against a real broker: a partition nobody reads gets a reader again."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.patience import ceiling
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.group_watch import GroupWatch
from widget_factory.kafka_io.settings import KafkaSettings

pytestmark = [pytest.mark.integration]


def test_a_member_whose_assignment_went_missing_gets_its_partitions_back(
    own_broker: EmbeddedBroker, unique: str
) -> None:
    """Members A and B share a topic; B's own assignment then goes missing (``unassign``:
    the coordinator still counts the partitions as B's, nobody reads them). B's watch
    sees them fall behind with their committed offsets standing still, rejoins, and B
    reads them again. Which partitions each member holds after the rejoin is the
    coordinator's choice (members rejoin with new ids); what must hold is that every
    record is read and B is a reading member again."""
    bootstrap = own_broker.bootstrap_servers
    topic, group = f"watch-{unique}", f"watch-{unique}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(ceiling(10))
    settings = KafkaSettings(bootstrap, source="flag")

    def member(name: str) -> GroupWatch:
        config = settings.consumer_config(group, **{"client.id": name})
        return GroupWatch(Consumer(config), [topic], name=name, orphan_after=5.0, check_every=1.0)

    a, b = member("A"), member("B")
    watches = (a, b)
    read: set[bytes] = set()

    def poll_until(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + ceiling(seconds)
        while time.monotonic() < deadline:
            for watch in watches:
                for message in watch.consumer.consume(100, 0.05):
                    if message.error() is None:
                        read.add(message.key() or b"")
                        watch.consumer.commit(message=message, asynchronous=True)
                watch.check()
            if condition():
                return True
        return False

    try:
        assert poll_until(lambda: a.consumer.assignment() and b.consumer.assignment(), 30)
        b_share = {(tp.topic, tp.partition) for tp in b.consumer.assignment()}
        b.consumer.unassign()  # B's assignment goes missing; the group does not know
        producer = Producer({"bootstrap.servers": bootstrap})
        for n in range(300):
            producer.produce(topic, b"x", key=str(n).encode())
        assert producer.flush(ceiling(10)) == 0
        started = time.monotonic()
        assert poll_until(
            lambda: b.rejoins > 0 and len(read) == 300 and bool(b.consumer.assignment()), 60
        ), (
            f"read {len(read)} of 300; A held {a.consumer.assignment()}, "
            f"B held {b.consumer.assignment()}; rejoins A {a.rejoins}, B {b.rejoins}"
        )
        print(
            f"\n[group watch] B lost {sorted(b_share)}; the watch rejoined and all 300 records "
            f"were read after {time.monotonic() - started:.1f} s (orphan_after 5 s; rejoins "
            f"A {a.rejoins}, B {b.rejoins}; B now holds "
            f"{sorted((tp.topic, tp.partition) for tp in b.consumer.assignment())})"
        )
    finally:
        for watch in watches:
            watch.consumer.close()
