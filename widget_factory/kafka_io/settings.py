"""Connection settings for any Kafka: the embedded broker, Apache Kafka, Redpanda, a cloud.

Resolved once, in this order: ``--bootstrap-servers``, then ``KAFKA_BOOTSTRAP_SERVERS``,
then the embedded broker (``run`` starts one; a lone service looks for the one
``widget-factory broker`` runs on 127.0.0.1:9092). Extra librdkafka settings
(``security.protocol``, ``sasl.*``, ``ssl.*``, ...) come from ``-X key=value``, a
properties file (``--kafka-config``) or ``KAFKA_*`` environment variables
(``KAFKA_SASL_MECHANISM=PLAIN`` becomes ``sasl.mechanism``), later sources overriding
earlier ones: file, then environment, then ``-X``.

The factory's own client settings (idempotence, batching, short group session for a
local broker) are defaults; user settings always win.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from widget_factory.errors import ConfigError

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "KafkaSettings",
    "resolve_settings",
    "parse_properties",
    "parse_overrides",
    "redact",
    "is_secret",
    "split_secret_overrides",
    "validate_client_settings",
    "SECRET_KEYS",
    "PACE_ENV",
    "pace_for_speed",
    "RACING_PACE_MS",
]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
"""Where ``widget-factory broker`` listens by default."""

SECRET_KEYS = ("password", "secret", "key.pem", "keystore", "token", "sasl.jaas.config")
"""Settings whose values are never printed (matched as substrings of the key)."""

_ENV_PREFIX = "KAFKA_"
_ENV_IGNORED = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_CONFIG"}

_NO_AUTO_CREATE: dict[str, Any] = {
    # Never let a metadata request create a topic (librdkafka's producers do by
    # default): topics are created with their partition counts by `setup`, and an
    # emptied broker would otherwise get them back with its default of 4 partitions.
    "allow.auto.create.topics": False,
}

_PRODUCER_DEFAULTS: dict[str, Any] = {
    **_NO_AUTO_CREATE,
    # Idempotence: retries after a broker hiccup are deduplicated by the broker, and a
    # restarted embedded broker fails sends visibly instead of acking lost records.
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "batch.num.messages": 10_000,
    "compression.type": "none",
    # A bound on what waits in librdkafka's queue (records and bytes): at unlimited
    # speed a producer outruns any broker, and the queue is process memory. 16 MiB is
    # a third of a second of the fastest producer here (docs/performance.md).
    "queue.buffering.max.messages": 100_000,
    "queue.buffering.max.kbytes": 16_384,
    "message.timeout.ms": 300_000,
}

_CONSUMER_DEFAULTS: dict[str, Any] = {
    **_NO_AUTO_CREATE,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    # Start from the beginning when a group has no offsets: components produced before
    # assembly started must not be lost (never rely on `latest`).
    "auto.offset.reset": "earliest",
    "partition.assignment.strategy": "range",
    "fetch.wait.max.ms": 50,
    # Records prefetched ahead of the service, and the most one fetch may bring
    # (librdkafka's defaults: 64 MiB and 50 MiB): a lagging consumer holds this much in
    # memory; 8 MiB is some 17,000 events, plenty to keep a service busy.
    "queued.max.messages.kbytes": 8_192,
    "fetch.max.bytes": 8 * 1024 * 1024,
}

PACE_ENV = "WIDGET_FACTORY_PACE_MS"
"""Environment variable: the clients' pace in ms (``run`` sets it for its children)."""

PACE_SIM_S = 30.0
"""Simulated seconds a client may hold a record back, once in the producer (linger)
and once in the consumer (fetch wait): at speed 120 a quarter of a wall second each,
the freshness a dashboard needs, and small beside the minutes an assembly or an
inspection takes."""
MIN_PACE_MS = 5
MAX_PACE_MS = 250
"""Never slower than this in wall time, whatever the speed (dashboards, commands)."""
WIDE_READ_LINGER_MS = 500
"""``linger.ms`` at the slowest pace (:data:`MAX_PACE_MS`: speeds of 120 and below) for a
producer whose topic many services read on many partitions: telemetry. The embedded
broker answers a fetch with records waiting by listing every batch the partition holds,
so its CPU grows with the batches stored (docs/performance.md, "What grows"); telemetry
wrote most of them, some 40 small ones a second over 12 partitions at speed 120, each
read by four services. Twice the pace halves them; a report then reaches its readers
within 0.75 s (linger plus fetch wait), inside the one second a dashboard may lag."""
RACING_PACE_MS = 50
"""Linger and fetch wait of a factory at unlimited speed (``--speed max``) whose
services never wait on each other's records: every consumer polls the embedded broker
1000 / wait times a second and every producer sends a request per partition per linger,
whatever the data rate, and each request costs the broker 0.1-0.5 ms of CPU (at 5 ms
that was over half its CPU per component in the bench's pipeline). A virtual run with a
feedback loop (lockstep's status watermark, kanban's lead on assembly) waits a round
trip per step instead, so it keeps :data:`MIN_PACE_MS` (docs/performance.md)."""


def pace_for_speed(speed: float | None) -> int:
    """Milliseconds for the producers' ``linger.ms`` and the consumers'
    ``fetch.wait.max.ms`` in a factory running at ``speed``.

    The embedded broker answers a fetch only when the fetch wait has passed, so the
    wait is both every hop's latency and every idle consumer's poll rate (each poll
    costs the broker: 8 idle consumers took 80 % of a core at 5 ms, 10 % at 200 ms).
    The linger sets how many records share a batch, and the broker keeps ~1.3 kB per
    batch on top of its records (paced producers also compress their batches with lz4). Both are chosen from the latency the simulation
    needs: :data:`PACE_SIM_S` of simulated time, within 5-250 ms of wall time;
    unlimited speed (``None``) gives the shortest, 5 ms, which a factory at unlimited
    speed keeps only when its services wait on each other (:meth:`KafkaSettings.paced`,
    :data:`RACING_PACE_MS`). The data rate never binds:
    one fetch carries up to 8 MiB, some 17,000 events, while the reference factory at
    speed 120 makes ~250 records a wall second.
    """
    if speed is None or speed <= 0:
        return MIN_PACE_MS
    pace = PACE_SIM_S * 1000.0 / speed
    return int(min(MAX_PACE_MS, max(MIN_PACE_MS, pace)))


_LOCAL_GROUP_DEFAULTS: dict[str, Any] = {
    # The embedded broker makes every join round wait session.timeout.ms / 2; a short
    # session keeps joins at ~3 s. Only applied to brokers on this machine, where a
    # short session cannot be cut by a network hiccup.
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    # The embedded broker answers a fetch only when fetch.wait.max.ms has passed, even
    # with records waiting (measured: p50 18 ms from produce to consume at 50 ms); a
    # short wait keeps each hop of the pipeline within a few milliseconds.
    "fetch.wait.max.ms": 5,
}


def _is_loopback(bootstrap: str) -> bool:
    hosts = []
    for server in bootstrap.split(","):
        server = server.strip().split("://")[-1]
        host = server.rsplit(":", 1)[0] if ":" in server else server
        hosts.append(host.strip("[]"))
    if not hosts:
        return False
    for host in hosts:
        if host == "localhost":
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return True


def is_secret(key: str) -> bool:
    """True for settings whose values must never be printed (passwords, keys, tokens)."""
    return any(s in key.lower() for s in SECRET_KEYS)


def split_secret_overrides(pairs: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """``-X`` pairs for child processes: public ones stay flags; secret ones become
    ``KAFKA_*`` environment variables, which ``ps`` does not show to other users."""
    public: list[str] = []
    secret: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if sep and is_secret(key.strip()):
            secret[_ENV_PREFIX + key.strip().upper().replace(".", "_")] = value.strip()
        else:
            public.append(pair)
    return public, secret


_JAAS_FIELD = re.compile(r'(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"')


def _from_jaas(extra: dict[str, Any]) -> None:
    """Java clients' ``sasl.jaas.config`` (PlainLoginModule, ScramLoginModule), as
    managed clusters hand it out, becomes librdkafka's sasl.username and sasl.password."""
    jaas = extra.pop("sasl.jaas.config", None)
    if not jaas:
        return
    fields = {k: v.replace('\\"', '"') for k, v in _JAAS_FIELD.findall(str(jaas))}
    if "username" not in fields or "password" not in fields:
        raise ConfigError(
            'sasl.jaas.config: expected username="..." and password="..." '
            "(or give sasl.username and sasl.password instead)"
        )
    extra.setdefault("sasl.username", fields["username"])
    extra.setdefault("sasl.password", fields["password"])


def validate_client_settings(extra: Mapping[str, Any]) -> None:
    """Refuse settings librdkafka does not accept, in one line naming the setting (the
    value only when it is not a secret). No connection is made."""
    if not extra:
        return
    from confluent_kafka import KafkaException, Producer

    try:
        Producer({**extra, "logger": logging.getLogger("widget_factory.librdkafka")})
    except KafkaException as exc:
        error = exc.args[0]
        message = error.str() if hasattr(error, "str") else str(error)
        for key, value in extra.items():
            if is_secret(key) and str(value):
                message = message.replace(str(value), "***")
        raise ConfigError(f"Kafka client settings: {message}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Kafka client settings: {exc}") from None


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` fit for logs and errors: secret values replaced by ``***``."""
    return {
        key: ("***" if any(s in key.lower() for s in SECRET_KEYS) else value)
        for key, value in config.items()
    }


@dataclass(frozen=True)
class KafkaSettings:
    """Where the brokers are and how to talk to them; passed down, never re-read."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str = "default"
    """Where ``bootstrap_servers`` came from: ``flag``, ``environment``, ``embedded``, ``default``."""
    pace_ms: int | None = None
    """Producers' ``linger.ms`` and consumers' ``fetch.wait.max.ms`` (see
    :func:`pace_for_speed`); None: the defaults above. ``-X`` settings and per-client
    overrides still win."""
    racing: bool = False
    """A factory at unlimited speed: batches as large as the pace allows, uncompressed."""

    @property
    def is_local(self) -> bool:
        return _is_loopback(self.bootstrap_servers)

    def with_bootstrap(self, bootstrap_servers: str, source: str) -> KafkaSettings:
        return replace(self, bootstrap_servers=bootstrap_servers, source=source)

    def paced(self, speed: float | None, *, feedback: bool = False) -> KafkaSettings:
        """These settings with the pace a factory at ``speed`` needs, unless one was
        given (``WIDGET_FACTORY_PACE_MS``); at unlimited speed :data:`RACING_PACE_MS`,
        unless ``feedback``: its services wait on each other's records (lockstep, kanban)."""
        racing = speed is None or speed <= 0
        if self.pace_ms is not None:
            return replace(self, racing=racing)
        if racing:
            return replace(self, pace_ms=MIN_PACE_MS if feedback else RACING_PACE_MS, racing=True)
        return replace(self, pace_ms=pace_for_speed(speed))

    def _base(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "logger": logging.getLogger("widget_factory.librdkafka"),
        }

    def for_viewer(self, refresh_s: float) -> KafkaSettings:
        """Settings for a long-running viewer (the dashboard) that refreshes every
        ``refresh_s``: a fetch wait of a quarter of that, within 5-250 ms, unless a pace
        was given. A viewer at 5 ms would cost the embedded broker a tenth of a core."""
        if self.pace_ms is not None:
            return self
        pace = int(min(MAX_PACE_MS, max(MIN_PACE_MS, refresh_s * 250)))
        return replace(self, pace_ms=pace)

    def admin_config(self, **overrides: Any) -> dict[str, Any]:
        return {**self._base(), **self.extra, **overrides}

    def producer_config(
        self, records_per_s: float | None = None, *, widely_read: bool = False, **overrides: Any
    ) -> dict[str, Any]:
        """``records_per_s``: the producer's expected rate in wall time, when known. A
        producer with fewer than one record per linger window batches nothing by
        lingering (each batch holds one record either way) and only delays every record
        by the whole linger, so it sends at once (``linger.ms`` 0; ``-X`` still wins):
        telemetry at the latency run's speed 100 (93 reports a second, one per 11 ms),
        not at the default speed 120 with its 250 ms pace (28 reports per linger).
        ``widely_read``: at the slowest pace, linger :data:`WIDE_READ_LINGER_MS`."""
        paced: dict[str, Any] = {}
        if self.pace_ms is not None:
            paced["linger.ms"] = self.pace_ms
            if widely_read and self.pace_ms >= MAX_PACE_MS and not self.racing:
                paced["linger.ms"] = max(self.pace_ms, WIDE_READ_LINGER_MS)
        if records_per_s is not None:
            linger_ms = paced.get("linger.ms", _PRODUCER_DEFAULTS["linger.ms"])
            if records_per_s * linger_ms / 1000.0 < 1.0:
                paced["linger.ms"] = 0
        if self.pace_ms is not None and self.pace_ms > MIN_PACE_MS and not self.racing:
            # Real time, long runs, idle CPU: the embedded broker keeps every batch in
            # memory with ~1.3 kB of its own on top, and lz4 makes ten telemetry records
            # 2 kB instead of 10 kB (docs/performance.md). Consumers decompress
            # transparently; values stay JSON. Racing speeds keep the CPU for throughput.
            paced["compression.type"] = "lz4"
        return {**self._base(), **_PRODUCER_DEFAULTS, **paced, **self.extra, **overrides}

    def consumer_config(self, group_id: str | None, **overrides: Any) -> dict[str, Any]:
        config = {**self._base(), **_CONSUMER_DEFAULTS}
        if self.is_local:
            config.update(_LOCAL_GROUP_DEFAULTS)
        if self.pace_ms is not None:
            config["fetch.wait.max.ms"] = self.pace_ms
        config["group.id"] = group_id or "widget-factory-reader"
        config.update(self.extra)
        config.update(overrides)
        # A consumer whose prefetch queue is full (queued.max.messages.kbytes) fetches
        # again only after librdkafka's fetch.queue.backoff.ms, 1000 ms by default: a
        # service that caught up then sat idle for up to a second with records waiting.
        # One fetch wait instead (docs/performance.md, "a second-long pause").
        wait = str(config["fetch.wait.max.ms"]).strip()
        if wait.isdigit():  # anything else is librdkafka's to refuse, in its own words
            config.setdefault("fetch.queue.backoff.ms", int(wait))
        return config

    def describe(self) -> str:
        """One line for logs: the address and the extra settings, secrets redacted."""
        extra = ", ".join(f"{k}={v}" for k, v in redact(self.extra).items())
        return f"{self.bootstrap_servers} ({self.source})" + (f" [{extra}]" if extra else "")


def parse_properties(text: str, source: str) -> dict[str, str]:
    """``key=value`` lines, as in a Java client.properties file; ``#`` starts a comment."""
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if not sep or not key.strip():
            shown = "a line naming a secret (not shown)" if is_secret(line) else repr(line)
            raise ConfigError(f"{source}:{number}: expected key=value, got {shown}")
        result[key.strip()] = value.strip()
    return result


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``-X key=value`` flags as a dict."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-X {pair!r}: expected key=value, e.g. -X security.protocol=SSL")
        result[key.strip()] = value.strip()
    return result


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    result = {}
    for name, value in environ.items():
        if name.startswith(_ENV_PREFIX) and name not in _ENV_IGNORED:
            key = name.removeprefix(_ENV_PREFIX).lower().replace("_", ".")
            result[key] = value
    return result


def resolve_settings(
    bootstrap_servers: str | None,
    environ: Mapping[str, str],
    kafka_config_file: str | None = None,
    overrides: Iterable[str] = (),
) -> KafkaSettings:
    """Settings from flags, then environment, then defaults (see the module docstring)."""
    extra: dict[str, Any] = {}
    file = kafka_config_file or environ.get("KAFKA_CONFIG")
    if file:
        try:
            extra.update(parse_properties(Path(file).read_text(encoding="utf-8"), file))
        except OSError as exc:
            raise ConfigError(f"--kafka-config {file}: cannot read it ({exc.strerror})") from None
    extra.update(_from_environment(environ))
    extra.update(parse_overrides(overrides))
    extra.pop("bootstrap.servers", None)
    _from_jaas(extra)
    validate_client_settings(extra)
    wait = _pace_from(environ)
    if bootstrap_servers:
        return KafkaSettings(bootstrap_servers.strip(), extra, "flag", wait)
    env_bootstrap = environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if env_bootstrap:
        return KafkaSettings(env_bootstrap, extra, "environment", wait)
    return KafkaSettings(DEFAULT_BOOTSTRAP, extra, "default", wait)


def _pace_from(environ: Mapping[str, str]) -> int | None:
    text = environ.get(PACE_ENV, "").strip()
    if not text:
        return None
    try:
        wait = int(text)
    except ValueError:
        raise ConfigError(f"{PACE_ENV}={text!r}: expected whole milliseconds, e.g. 250") from None
    if not 0 <= wait <= 60_000:
        raise ConfigError(f"{PACE_ENV}={wait}: expected 0 to 60000 milliseconds")
    return wait
