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
from dataclasses import dataclass, field
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

    @property
    def is_local(self) -> bool:
        return _is_loopback(self.bootstrap_servers)

    def with_bootstrap(self, bootstrap_servers: str, source: str) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers, self.extra, source)

    def _base(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "logger": logging.getLogger("widget_factory.librdkafka"),
        }

    def admin_config(self, **overrides: Any) -> dict[str, Any]:
        return {**self._base(), **self.extra, **overrides}

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        return {**self._base(), **_PRODUCER_DEFAULTS, **self.extra, **overrides}

    def consumer_config(self, group_id: str | None, **overrides: Any) -> dict[str, Any]:
        config = {**self._base(), **_CONSUMER_DEFAULTS}
        if self.is_local:
            config.update(_LOCAL_GROUP_DEFAULTS)
        config["group.id"] = group_id or "widget-factory-reader"
        config.update(self.extra)
        config.update(overrides)
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
    if bootstrap_servers:
        return KafkaSettings(bootstrap_servers.strip(), extra, "flag")
    env_bootstrap = environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if env_bootstrap:
        return KafkaSettings(env_bootstrap, extra, "environment")
    return KafkaSettings(DEFAULT_BOOTSTRAP, extra, "default")
