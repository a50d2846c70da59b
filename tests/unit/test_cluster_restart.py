"""A broker that came back empty: the cluster id bookkeeping, the folding of repeated
client warnings, and what a service's health check does with them (no broker here)."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from widget_factory.errors import FactoryError
from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.cluster_identity import (
    EXIT_CLUSTER_REPLACED,
    ClusterIdentity,
    ClusterReplaced,
    ClusterWatch,
    is_suspicious,
)
from widget_factory.kafka_io.log_folding import LogFolder
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.shutdown import Shutdown


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_repeats_of_one_cause_are_folded_into_one_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    folder = LogFolder(logging.getLogger("test.folding"), window_s=10.0, clock=clock)
    caplog.set_level(logging.WARNING, "test.folding")
    assert folder.log(logging.WARNING, "gone", "partition 0 is gone")
    for partition in range(1, 30):
        clock.now += 0.1
        assert not folder.log(logging.WARNING, "gone", f"partition {partition} is gone")
    assert folder.log(logging.WARNING, "other", "another cause")
    assert _messages(caplog) == ["partition 0 is gone", "another cause"]
    clock.now = 9.9
    folder.flush()
    assert len(caplog.records) == 2, "nothing more until the window is over"
    clock.now = 10.0
    folder.flush()
    assert _messages(caplog)[2:] == ["partition 29 is gone (29 more in the last 10 s)"]
    clock.now = 10.5
    folder.flush()
    assert len(caplog.records) == 3, "each count is told once; a cause seen once has none"


def test_a_cause_seen_again_after_its_window_is_logged_with_the_count_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    folder = LogFolder(logging.getLogger("test.folding"), window_s=10.0, clock=clock)
    caplog.set_level(logging.WARNING, "test.folding")
    folder.log(logging.WARNING, "gone", "first")
    clock.now = 1.0
    folder.log(logging.WARNING, "gone", "second")
    clock.now = 12.0
    assert folder.log(logging.WARNING, "gone", "third")
    assert _messages(caplog) == ["first", "second (1 more in the last 10 s)", "third"]


def test_the_first_cluster_id_is_kept_and_a_different_one_is_a_replacement() -> None:
    identity = ClusterIdentity()
    assert not identity.observe(None), "a broker without an id decides nothing"
    assert not identity.observe("A")
    assert not identity.observe("A"), "a restart of a durable cluster keeps its id"
    assert identity.observe("B")
    assert identity.observe("A"), "once replaced, replaced"
    assert (identity.known, identity.replaced_by) == ("A", "B")


def test_errors_a_new_cluster_causes_are_suspicious() -> None:
    assert is_suspicious(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    assert is_suspicious(KafkaError(KafkaError._UNKNOWN_PARTITION))
    assert is_suspicious(KafkaError(KafkaError.UNKNOWN_PRODUCER_ID, fatal=True))
    assert not is_suspicious(KafkaError(KafkaError._TRANSPORT))
    assert not is_suspicious(KafkaError(KafkaError._ALL_BROKERS_DOWN))


def test_health_check_raises_once_the_watch_saw_another_cluster() -> None:
    settings = KafkaSettings("127.0.0.1:1", source="flag")
    watch = ClusterWatch(settings, "components")  # not started: no broker needed
    health = BrokerHealth("components", settings.bootstrap_servers, cluster=watch)
    watch.identity.observe("cluster-A")
    health.check()
    health.on_error(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    assert watch._wake.is_set(), "a suspicious error asks for a check at once"
    watch.identity.observe("cluster-B")
    with pytest.raises(ClusterReplaced) as raised:
        health.check()
    message = str(raised.value)
    assert "127.0.0.1:1" in message and "cluster-A" in message and "cluster-B" in message
    assert "widget-factory setup" in message and "\n" not in message
    assert isinstance(raised.value, FactoryError)
    assert raised.value.exit_status == EXIT_CLUSTER_REPLACED != 2


def test_health_folds_repeated_client_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "widget_factory.kafka_io.client")
    health = BrokerHealth("assembly", "127.0.0.1:1")
    for partition in range(24):
        health.on_error(
            KafkaError(KafkaError._UNKNOWN_PARTITION, f"topic[{partition}]: no longer available")
        )
    assert _messages(caplog) == ["assembly: Kafka: topic[0]: no longer available"]


def test_clients_never_ask_the_broker_to_create_topics() -> None:
    settings = KafkaSettings("127.0.0.1:9092", source="flag")
    assert settings.producer_config()["allow.auto.create.topics"] is False
    assert settings.consumer_config("g")["allow.auto.create.topics"] is False


class FailedProducer:
    """Stands in for a producer failed for good: librdkafka's flush then raises."""

    dropped = 0

    def __len__(self) -> int:
        return 7

    def flush(self, timeout: float) -> int:
        raise SystemError("<built-in method flush> returned a result with an exception set")


def test_a_producer_that_cannot_flush_is_reported_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "widget_factory.kafka_io.shutdown")
    assert Shutdown("telemetry").flush(FailedProducer()) is False  # type: ignore[arg-type]
    (line,) = _messages(caplog)
    assert (
        line.startswith("telemetry: the producer cannot deliver any more") and "7 records" in line
    )
