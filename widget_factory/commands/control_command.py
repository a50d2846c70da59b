"""Commands to a running factory: ``order``, ``anomaly``, ``stop-machine``,
``start-machine``, ``maintenance``.

Orders go to ``production-orders``; machine commands to ``factory-commands``, which the
telemetry service applies (it owns machine status; production and assembly follow it).
Everything is checked against the factory's configuration first: an unknown widget type
or machine, or an absurd quantity, is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from widget_factory.core.clock import to_datetime
from widget_factory.core.control import (
    MAX_ORDER_QUANTITY,
    build_command,
    build_order,
    check_priority,
    check_quantity,
    check_widget_type,
    expand_targets,
)
from widget_factory.core.event_format import format_time
from widget_factory.core.ids import IdSource
from widget_factory.factory_config import FactoryConfig, load_config
from widget_factory.kafka_io.control import FactoryControl, StatusWatch, factory_time
from widget_factory.kafka_io.topics import connect_admin
from widget_factory.options import common_options, settings_from_args
from widget_factory.schemas import MachineStatus

ORDER = 70

__all__ = ["register", "EXPECTED_STATUS"]

EXPECTED_STATUS: dict[str, set[MachineStatus]] = {
    "anomaly": {MachineStatus.ERROR},
    "stop-machine": {MachineStatus.SHUTDOWN},
    "start-machine": {MachineStatus.RUNNING, MachineStatus.IDLE},
    "maintenance": {MachineStatus.MAINTENANCE},
}
"""What telemetry reports once each command has taken effect (``--wait``)."""

_WAIT_S = 30.0
"""A command takes effect at the machine's next report: up to one report interval (15
simulated seconds, as long in wall time at speed 1) after telemetry reads it."""


def _widget_type(config: FactoryConfig, text: str) -> str:
    if text not in config.widget_types and f"{text}_widget" in config.widget_types:
        return f"{text}_widget"  # `order basic 5` means basic_widget
    return text


def _order(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_quantity(args.quantity)
    check_priority(args.priority)
    widget_type = check_widget_type(config, _widget_type(config, args.widget_type))
    settings = settings_from_args(args)
    connect_admin(settings)
    simulated = factory_time(settings)
    at = simulated if simulated is not None else time.time()
    order = build_order(
        config, IdSource(random.Random()), widget_type, args.quantity, args.priority, at
    )
    control = FactoryControl(settings, client_id="order")
    [(topic, partition, offset)] = control.send_orders([order])
    clock = (
        f"simulated {format_time(to_datetime(at))}"
        if simulated is not None
        else "now (no telemetry yet: is the factory running?)"
    )
    print(
        f"Ordered {order.quantity}x {order.widget_type} as {order.order_id} "
        f"(priority {order.priority}), created {clock}; {topic}[{partition}]@{offset}.\n"
        f"Assembly builds it; follow it with: widget-factory tail widget-assembly "
        f"--bootstrap-servers {settings.bootstrap_servers}"
    )
    return 0


def _machine_command(name: str, args: argparse.Namespace) -> int:
    config = load_config(args.config)
    machines = expand_targets(config, args.machine_ids)
    ids = IdSource(random.Random())
    now = datetime.now(UTC)
    commands = [build_command(config, ids, name, machine, now) for machine in machines]
    settings = settings_from_args(args)
    connect_admin(settings)
    watch = StatusWatch(settings) if args.wait else None
    try:
        control = FactoryControl(settings, client_id="factory-command")
        deliveries = control.send_commands(commands)
        for command, (topic, partition, offset) in zip(commands, deliveries, strict=True):
            print(f"Sent {command.command} for {command.target_id}: {topic}[{partition}]@{offset}")
        if watch is None:
            print(
                "The telemetry service reads it within a second and applies it at the "
                "machine's next report, up to 15 simulated seconds later (commands older "
                "than two minutes are ignored); confirm with --wait or: widget-factory tail "
                f"machine-telemetry --bootstrap-servers {settings.bootstrap_servers}"
            )
            return 0
        expected = EXPECTED_STATUS[name]
        confirmed = watch.wait_for(dict.fromkeys(machines, expected), _WAIT_S)
    finally:
        if watch is not None:
            watch.close()
    for machine in machines:
        report = confirmed.get(machine)
        if report is not None:
            print(
                f"{machine} is {report.status.value} "
                f"(telemetry at simulated {format_time(report.timestamp)})"
            )
    missing = [m for m in machines if m not in confirmed]
    if missing:
        print(
            f"No telemetry showed {' or '.join(sorted(s.value for s in expected))} for "
            f"{', '.join(missing)} within {_WAIT_S:.0f} s: is the telemetry service running?",
            file=sys.stderr,
        )
        return 1
    return 0


def _quantity(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of units, got {text!r}"
        ) from None


def _priority(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number 0..100, got {text!r}") from None


_MACHINE_HELP = {
    "anomaly": "inject an anomaly: the machine goes into ERROR with anomalous readings until "
    "repaired (the walkthrough's simulate_anomaly)",
    "stop-machine": "shut machines down (status shutdown) until start-machine: they produce or "
    "assemble nothing",
    "start-machine": "start machines that were shut down (idle, then running at the next report)",
    "maintenance": "send machines to scheduled maintenance (resets wear; takes 15-30 simulated "
    "minutes by default)",
}


_ORDER_HELP = "add a production order to a running factory (to production-orders)"


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    order = command("order", _ORDER_HELP, _order)
    order.epilog = (
        "example: widget-factory order premium_widget 20 --priority 5\n"
        "Its creation time is the factory's simulated time, read from the newest telemetry."
    )
    order.add_argument("widget_type", metavar="WIDGET_TYPE", help="e.g. basic_widget (or basic)")
    order.add_argument(
        "quantity",
        metavar="QUANTITY",
        type=_quantity,
        help=f"units to build, 1..{MAX_ORDER_QUANTITY}",
    )
    order.add_argument(
        "--priority",
        type=_priority,
        default=2,
        metavar="P",
        help="0..100, higher is built first (default 2; random orders use 1-3)",
    )
    common_options(order)

    for name, help_text in _MACHINE_HELP.items():
        parser = command(
            name,
            help_text + " (to factory-commands)",
            lambda args, name=name: _machine_command(name, args),
        )
        parser.epilog = (
            f"example: widget-factory {name} FRAME_MACHINE_01\n"
            "It takes effect at the machine's next telemetry report (every 15 simulated "
            "seconds by default), which shows the new status.\n"
            "Groups of machines: @production (every production machine), @stations (every "
            "assembly station),\n@all, @makes:<component_type> (e.g. @makes:circuit_board)."
        )
        parser.add_argument(
            "machine_ids",
            metavar="MACHINE_ID",
            nargs="+",
            help="machine or assembly station id, e.g. FRAME_MACHINE_01, or a @group",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help=f"wait (up to {_WAIT_S:.0f} s) until telemetry shows the new status; exit 1 if it does not",
        )
        common_options(parser)
