"""The flags that commands share, and turning them into typed values, defined once.

Every command module takes its option groups from here (``cli`` only builds the parser
and dispatches). Each flag that has an environment fallback says so in ``--help``. Values
are parsed here once; code past the CLI gets numbers and dataclasses, never an
argparse ``Namespace``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from datetime import datetime

from widget_factory.core.clock import parse_duration
from widget_factory.core.edge_gateway import check_late_fraction
from widget_factory.errors import UsageError
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.settings import KafkaSettings, resolve_settings
from widget_factory.processes.lifecycle import ServiceOptions

__all__ = [
    "connection_options",
    "config_option",
    "simulation_options",
    "delivery_options",
    "parse_late_delivery",
    "speed_and_seed_options",
    "common_options",
    "settings_from_args",
    "positive_int",
    "port_number",
    "parse_speed",
    "parse_start",
    "START_HELP",
    "service_options",
]


# --- option groups -----------------------------------------------------------------------


def connection_options(parser: argparse.ArgumentParser) -> None:
    """``--bootstrap-servers``, ``--kafka-config``, ``-X``: which cluster, and how."""
    group = parser.add_argument_group("Kafka connection")
    group.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="Kafka brokers to use (env KAFKA_BOOTSTRAP_SERVERS; default: the embedded "
        "broker, 127.0.0.1:9092 for a single service)",
    )
    group.add_argument(
        "--kafka-config",
        metavar="FILE",
        help="librdkafka settings as key=value lines, e.g. security.protocol, sasl.*, ssl.* "
        "(env KAFKA_CONFIG; KAFKA_SASL_MECHANISM=PLAIN style variables work too)",
    )
    group.add_argument(
        "-X",
        dest="kafka_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one librdkafka setting, e.g. -X security.protocol=SASL_SSL (repeatable)",
    )


def config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: the factory layout."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("WIDGET_FACTORY_CONFIG"),
        help="factory layout (TOML) to use instead of the shipped reference factory "
        "(env WIDGET_FACTORY_CONFIG)",
    )


def simulation_options(parser: argparse.ArgumentParser) -> None:
    """``--speed``, ``--seed``, ``--duration``: how simulated time runs."""
    group = parser.add_argument_group("simulation")
    speed_and_seed_options(
        group, "to run as fast as possible (default: the config's simulation.speed, 120)"
    )
    group.add_argument(
        "--duration",
        metavar="D",
        help="stop after this much simulated time: 3600, 90s, 30m, 8h, 1d (default: run until Ctrl-C)",
    )
    delivery_options(parser)


def delivery_options(parser: argparse.ArgumentParser) -> None:
    """``--late-fraction`` and ``--max-delay``: late and out-of-order delivery on purpose
    (core/edge_gateway.py)."""
    group = parser.add_argument_group("late delivery (core/edge_gateway.py)")
    group.add_argument(
        "--late-fraction",
        metavar="F",
        help="producers send about this fraction (0 to below 1) of their records late and "
        "out of order, as an edge gateway does after a network blip; event times unchanged "
        "(default 0: none)",
    )
    group.add_argument(
        "--max-delay",
        metavar="D",
        help="the latest a record is sent after its event time: 90s, 5m, 1h; consuming "
        "services hold their event-time watermarks this far back (default: no delay)",
    )


def speed_and_seed_options(where: argparse._ActionsContainer, speed_default: str) -> None:
    """``--speed`` and ``--seed``; ``speed_default`` ends the ``--speed`` help (what 'max'
    does and what the default is, which differ between a factory run and a scenario)."""
    where.add_argument(
        "--speed",
        metavar="N",
        help="simulated seconds per wall second, or 'max' " + speed_default,
    )
    where.add_argument("--seed", type=int, metavar="N", help="make generation reproducible")


def common_options(parser: argparse.ArgumentParser, *, config: bool = True) -> None:
    """The connection flags, ``--config`` (unless ``config`` is false) and ``--debug``."""
    connection_options(parser)
    if config:
        config_option(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and client logs")


# --- values --------------------------------------------------------------------------------


def settings_from_args(args: argparse.Namespace) -> KafkaSettings:
    """The client settings from the connection flags, the environment and the defaults."""
    return resolve_settings(
        args.bootstrap_servers,
        os.environ,
        kafka_config_file=args.kafka_config,
        overrides=args.kafka_overrides,
    )


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    """An argparse ``type``: a TCP port, 0-65535 (0: any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: any free one), got {port}")
    return port


def parse_speed(text: str | None, default: float) -> float | None:
    """``--speed``: a positive number, or ``max`` for as fast as possible (None).

    Also reads the form in which a parent hands a child its speed
    (:func:`widget_factory.processes.service_args.speed_arg`)."""
    if text is None:
        return default
    if text.strip().lower() in {"max", "unlimited", "inf", "0"}:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--speed {text!r}: expected a number of simulated seconds per second, or 'max'"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--speed {text!r}: must be a positive number, or 'max'")
    return value


START_HELP = (
    "simulated start time, ISO 8601 with offset (2026-01-01T00:00:00+00:00) or epoch "
    "seconds (default: now, or just after the cluster's latest event); the same config, "
    "seed, start and --speed max give the same records"
)
"""``--start`` as ``run`` and the services explain it."""


def parse_start(text: str | None) -> float:
    """``--start``: simulated time at the start, as epoch seconds or ISO 8601 with an
    offset; now when not given."""
    if text is None:
        return time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--start {text!r}: expected an ISO 8601 time with offset, or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"--start {text!r}: give a UTC offset, e.g. 2026-01-01T08:00:00+00:00")
    return moment.timestamp()


def parse_late_delivery(fraction: str | None, max_delay: str | None) -> tuple[float, float]:
    """``--late-fraction`` and ``--max-delay`` as (fraction, seconds); a bad value is a
    :class:`UsageError` naming the flag."""
    value = 0.0
    if fraction is not None:
        try:
            value = float(fraction)
        except ValueError:
            raise UsageError(
                f"--late-fraction {fraction!r}: expected a number from 0 to below 1, e.g. 0.2"
            ) from None
    delay = 0.0
    if max_delay is not None:
        try:
            delay = parse_duration(max_delay)
        except ValueError as exc:
            raise UsageError(f"--max-delay: {exc}") from None
    problem = check_late_fraction(value, delay)
    if problem is not None:
        raise UsageError(problem)
    return value, delay


def service_options(
    args: argparse.Namespace, settings: KafkaSettings | None = None
) -> ServiceOptions:
    """Every service option, parsed and checked against the config before anything
    starts (a :class:`UsageError` names the first bad flag)."""
    config = load_config(args.config)
    duration = None
    if getattr(args, "duration", None):
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--duration: {exc}") from None
    stations = tuple(getattr(args, "station", None) or ())
    for station in stations:
        if station not in config.station_by_id:
            raise UsageError(
                f"--station {station}: unknown station (known: {', '.join(config.station_by_id)})"
            )
    inspectors = tuple(getattr(args, "inspector", None) or ())
    for inspector in inspectors:
        if inspector not in config.quality.inspectors:
            raise UsageError(
                f"--inspector {inspector}: unknown inspector (known: {', '.join(config.quality.inspectors)})"
            )
    speed = parse_speed(args.speed, config.simulation.speed)
    late_fraction, max_delay_s = parse_late_delivery(
        getattr(args, "late_fraction", None), getattr(args, "max_delay", None)
    )
    return ServiceOptions(
        settings=(settings or settings_from_args(args)).paced(
            speed, feedback=getattr(args, "lockstep", False) or config.kanban.enabled
        ),
        config=config,
        speed=speed,
        seed=args.seed,
        duration=duration,
        start=parse_start(getattr(args, "start", None)),
        anchor_wall=getattr(args, "anchor_wall", None),
        stations=stations,
        inspectors=inspectors,
        generate_orders=not getattr(args, "no_orders", False),
        event_time_order=getattr(args, "lockstep", False),
        telemetry_wait_s=getattr(args, "telemetry_wait", None) or 10.0,
        late_fraction=late_fraction,
        max_delay_s=max_delay_s,
    )
