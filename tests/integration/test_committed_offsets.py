"""Committed offsets read with a consumer's ``committed()`` (no admin API), as the
dashboard inside ``run`` reads them every two seconds."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.committed import GroupOffsets
from widget_factory.kafka_io.lag import committed_offsets
from widget_factory.kafka_io.settings import KafkaSettings

pytestmark = pytest.mark.integration


def test_group_offsets_match_what_the_group_committed(own_broker: EmbeddedBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("offsets-demo", 3, 1)])["offsets-demo"].result(10)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(30):
        producer.produce("offsets-demo", b"x", partition=i % 3)
    assert producer.flush(10) == 0
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-readers"})
    group.commit(
        offsets=[TopicPartition("offsets-demo", 0, 7), TopicPartition("offsets-demo", 2, 10)],
        asynchronous=False,
    )
    group.close()
    settings = KafkaSettings(bootstrap, source="flag")
    reader = GroupOffsets(settings)
    try:
        keys = [("offsets-demo", p) for p in range(3)]
        for _ in range(2):  # the consumer is kept and asked again
            assert reader.committed("demo-readers", keys) == {
                ("offsets-demo", 0): 7,
                ("offsets-demo", 2): 10,
            }
        assert reader.committed("nobody", keys) == {}
        assert reader.committed("demo-readers", []) == {}
    finally:
        reader.close()
    assert committed_offsets(settings, "demo-readers") == {
        ("offsets-demo", 0): 7,
        ("offsets-demo", 2): 10,
    }
