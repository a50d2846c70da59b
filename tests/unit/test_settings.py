"""Settings precedence: flag, then environment, then the default local broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from widget_factory.errors import ConfigError
from widget_factory.kafka_io.settings import (
    DEFAULT_BOOTSTRAP,
    PACE_ENV,
    RACING_PACE_MS,
    WIDE_READ_LINGER_MS,
    pace_for_speed,
    resolve_settings,
)


def test_flag_beats_environment() -> None:
    settings = resolve_settings("flag:1", {"KAFKA_BOOTSTRAP_SERVERS": "env:2"})
    assert settings.bootstrap_servers == "flag:1"
    assert settings.source == "flag"


def test_environment_beats_default() -> None:
    settings = resolve_settings(None, {"KAFKA_BOOTSTRAP_SERVERS": "env:2"})
    assert (settings.bootstrap_servers, settings.source) == ("env:2", "environment")


def test_default_is_the_local_embedded_broker() -> None:
    settings = resolve_settings(None, {})
    assert (settings.bootstrap_servers, settings.source) == (DEFAULT_BOOTSTRAP, "default")


def test_extra_settings_from_file_environment_and_flags(tmp_path: Path) -> None:
    props = tmp_path / "client.properties"
    props.write_text(
        "# a comment\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=file\n"
    )
    settings = resolve_settings(
        "b:9092",
        {"KAFKA_SASL_USERNAME": "env", "KAFKA_SASL_PASSWORD": "s3cret"},
        kafka_config_file=str(props),
        overrides=["sasl.username=flag"],
    )
    assert settings.extra["security.protocol"] == "SASL_SSL"
    assert settings.extra["sasl.mechanism"] == "PLAIN"
    assert settings.extra["sasl.username"] == "flag"  # -X beats env beats file
    assert settings.extra["sasl.password"] == "s3cret"
    producer = settings.producer_config()
    assert producer["security.protocol"] == "SASL_SSL"
    assert producer["enable.idempotence"] is True


def test_secrets_never_appear_in_descriptions() -> None:
    settings = resolve_settings("b:9092", {"KAFKA_SASL_PASSWORD": "s3cret"})
    assert "s3cret" not in settings.describe()
    assert "sasl.password=***" in settings.describe()


def test_user_settings_override_factory_defaults() -> None:
    settings = resolve_settings("b:9092", {}, overrides=["linger.ms=50", "acks=1"])
    assert settings.producer_config()["linger.ms"] == "50"
    assert settings.producer_config()["acks"] == "1"


def test_short_group_session_only_for_local_brokers() -> None:
    local = resolve_settings("127.0.0.1:9092", {}).consumer_config("g")
    remote = resolve_settings("kafka.example.com:9092", {}).consumer_config("g")
    assert local["session.timeout.ms"] == 6000
    assert "session.timeout.ms" not in remote
    assert local["auto.offset.reset"] == remote["auto.offset.reset"] == "earliest"
    assert local["enable.auto.commit"] is False


def test_user_can_override_the_session_timeout() -> None:
    config = resolve_settings("localhost:9092", {}, overrides=["session.timeout.ms=10000"])
    assert config.consumer_config("g")["session.timeout.ms"] == "10000"


def test_bad_override_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        resolve_settings(None, {}, overrides=["nonsense"])


def test_missing_kafka_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        resolve_settings(None, {}, kafka_config_file=str(tmp_path / "missing.properties"))


def test_pace_follows_the_simulated_speed_within_bounds() -> None:
    assert pace_for_speed(None) == 5  # unlimited speed: throughput first
    assert pace_for_speed(120) == 250  # the default factory: a dashboard's freshness
    assert pace_for_speed(600) == 50
    assert pace_for_speed(1) == 250  # real time: never staler than a quarter second
    assert pace_for_speed(1_000_000) == 5


def test_paced_settings_set_linger_and_fetch_wait_unless_the_user_did() -> None:
    settings = resolve_settings("127.0.0.1:9092", {}).paced(120)
    assert settings.producer_config()["linger.ms"] == 250
    assert settings.consumer_config("g")["fetch.wait.max.ms"] == 250
    assert settings.with_bootstrap("127.0.0.1:1", "embedded").pace_ms == 250
    user = resolve_settings("127.0.0.1:9092", {}, overrides=["fetch.wait.max.ms=20"]).paced(120)
    assert user.consumer_config("g")["fetch.wait.max.ms"] == "20"
    assert user.consumer_config("g", **{"fetch.wait.max.ms": 10})["fetch.wait.max.ms"] == 10


def test_a_full_prefetch_queue_waits_one_fetch_wait_not_a_second() -> None:
    """librdkafka's default (1000 ms) idled a caught-up service with records waiting."""
    racing = resolve_settings("127.0.0.1:9092", {}).paced(None)
    assert racing.consumer_config("g")["fetch.queue.backoff.ms"] == RACING_PACE_MS
    status = racing.consumer_config("g", **{"fetch.wait.max.ms": 5})
    assert status["fetch.queue.backoff.ms"] == 5
    user = resolve_settings("127.0.0.1:9092", {}, overrides=["fetch.wait.max.ms=20"]).paced(120)
    assert user.consumer_config("g")["fetch.queue.backoff.ms"] == 20
    chosen = resolve_settings("127.0.0.1:9092", {}, overrides=["fetch.queue.backoff.ms=300"])
    assert chosen.paced(None).consumer_config("g")["fetch.queue.backoff.ms"] == "300"
    odd = racing.consumer_config("g", **{"fetch.wait.max.ms": "soon"})  # librdkafka refuses it
    assert "fetch.queue.backoff.ms" not in odd


def test_pace_from_the_environment_wins_over_the_speed() -> None:
    settings = resolve_settings("b:9092", {PACE_ENV: "40"}).paced(120)
    assert settings.pace_ms == 40
    assert settings.consumer_config("g")["fetch.wait.max.ms"] == 40
    with pytest.raises(ConfigError, match=PACE_ENV):
        resolve_settings("b:9092", {PACE_ENV: "soon"})
    with pytest.raises(ConfigError, match=PACE_ENV):
        resolve_settings("b:9092", {PACE_ENV: "-1"})


def test_unpaced_settings_keep_the_defaults() -> None:
    local = resolve_settings("127.0.0.1:9092", {})
    assert local.pace_ms is None
    assert local.consumer_config("g")["fetch.wait.max.ms"] == 5
    assert local.producer_config()["compression.type"] == "none"
    assert local.paced(None).producer_config()["compression.type"] == "none"
    assert local.paced(120).producer_config()["compression.type"] == "lz4"


def test_viewers_wait_a_quarter_of_their_refresh_unless_paced() -> None:
    settings = resolve_settings("127.0.0.1:9092", {})
    assert settings.for_viewer(1.0).consumer_config(None)["fetch.wait.max.ms"] == 250
    assert settings.for_viewer(0.1).consumer_config(None)["fetch.wait.max.ms"] == 25
    assert settings.paced(600).for_viewer(1.0).pace_ms == 50


def test_unlimited_speed_batches_by_the_racing_pace_uncompressed() -> None:
    racing = resolve_settings("127.0.0.1:9092", {}).paced(None)
    assert racing.racing and racing.pace_ms == RACING_PACE_MS
    assert racing.producer_config()["linger.ms"] == RACING_PACE_MS
    assert racing.producer_config()["compression.type"] == "none"
    assert racing.consumer_config("g")["fetch.wait.max.ms"] == RACING_PACE_MS
    assert racing.with_bootstrap("127.0.0.1:1", "embedded").racing
    # a child of `run --speed max` gets the pace in the environment: still uncompressed
    child = resolve_settings("127.0.0.1:9092", {PACE_ENV: str(RACING_PACE_MS)}).paced(None)
    assert child.pace_ms == RACING_PACE_MS and child.racing
    assert child.producer_config()["compression.type"] == "none"
    # services that wait on each other's records (lockstep, kanban) keep the shortest pace
    looped = resolve_settings("127.0.0.1:9092", {}).paced(None, feedback=True)
    assert looped.pace_ms == 5 and looped.racing
    assert looped.consumer_config("g")["fetch.wait.max.ms"] == 5
    assert looped.producer_config()["compression.type"] == "none"
    # a paced factory is not racing, whatever its pace
    paced = resolve_settings("127.0.0.1:9092", {PACE_ENV: str(RACING_PACE_MS)}).paced(600)
    assert not paced.racing and paced.producer_config()["compression.type"] == "lz4"


def test_a_producer_with_less_than_one_record_per_linger_sends_at_once() -> None:
    pinned = resolve_settings("127.0.0.1:9092", {PACE_ENV: "5"}).paced(100)
    assert pinned.producer_config(records_per_s=93.0)["linger.ms"] == 0
    assert pinned.producer_config(records_per_s=1000.0)["linger.ms"] == 5
    assert pinned.producer_config()["linger.ms"] == 5  # rate unknown: the pace
    default_speed = resolve_settings("127.0.0.1:9092", {}).paced(120)
    assert default_speed.producer_config(records_per_s=112.0)["linger.ms"] == 250
    assert resolve_settings("b:9092", {}).producer_config(records_per_s=50.0)["linger.ms"] == 0
    user = resolve_settings("127.0.0.1:9092", {PACE_ENV: "5"}, overrides=["linger.ms=7"])
    assert user.producer_config(records_per_s=10.0)["linger.ms"] == "7"


def test_a_widely_read_producer_lingers_longer_only_at_the_slowest_pace() -> None:
    default_speed = resolve_settings("127.0.0.1:9092", {}).paced(120)
    assert default_speed.producer_config(widely_read=True)["linger.ms"] == WIDE_READ_LINGER_MS
    assert default_speed.producer_config()["linger.ms"] == 250  # other producers: the pace
    # a faster factory, a racing one and a pinned short pace keep their pace
    assert resolve_settings("b:9092", {}).paced(600).producer_config(widely_read=True)[
        "linger.ms"
    ] == pace_for_speed(600)
    racing = resolve_settings("b:9092", {}).paced(None)
    assert racing.producer_config(widely_read=True)["linger.ms"] == RACING_PACE_MS
    pinned = resolve_settings("b:9092", {PACE_ENV: "5"}).paced(120)
    assert pinned.producer_config(widely_read=True)["linger.ms"] == 5
    # the user's -X still wins, and a sparse producer still sends at once
    user = resolve_settings("b:9092", {}, overrides=["linger.ms=100"]).paced(120)
    assert user.producer_config(widely_read=True)["linger.ms"] == "100"
    sparse = default_speed.producer_config(records_per_s=1.0, widely_read=True)
    assert sparse["linger.ms"] == 0
