"""The five services as subcommands: ``components``, ``assembly``, ``quality``,
``telemetry``, ``inventory`` - the walkthrough's terminals, one service each."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

from widget_factory.core.machine_share import parse_share
from widget_factory.errors import UsageError
from widget_factory.kafka_io.cluster import prepare_cluster, start_after_latest_event
from widget_factory.kafka_io.shutdown import hard_exit_needed
from widget_factory.options import (
    START_HELP,
    common_options,
    positive_int,
    service_options,
    simulation_options,
)
from widget_factory.processes.lifecycle import Lifecycle, ServiceOptions
from widget_factory.processes.services import SERVICES
from widget_factory.processes.workers import run_workers

ORDER = 40

__all__ = ["register", "continue_simulated_time"]


def continue_simulated_time(args: argparse.Namespace, options: ServiceOptions) -> ServiceOptions:
    """Without ``--start``, simulated time starts now, or just after the latest event the
    cluster already holds (a durable cluster keeps a previous run's, possibly far ahead)."""
    if getattr(args, "start", None) is not None:
        return options
    return dataclasses.replace(
        options, start=start_after_latest_event(options.settings, options.start)
    )


def _run_service(name: str, args: argparse.Namespace) -> int:
    options = service_options(args)
    if getattr(args, "worker", None):
        try:
            options = dataclasses.replace(options, share=parse_share(args.worker))
        except ValueError as exc:
            raise UsageError(f"--worker: {exc}") from None
    prepare_cluster(options.settings)
    options = continue_simulated_time(args, options)
    if getattr(args, "workers", 1) > 1:
        return run_workers(name, args, options, args.workers)
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    service = SERVICES[name][1](options, lifecycle)
    try:
        status = service.run()
    finally:
        lifecycle.ignore_drain_requests()
    if hard_exit_needed():
        # librdkafka's destructors would wait for the unanswering broker: exit now
        logging.shutdown()
        os._exit(status)
    return status


def _service_arguments(parser: argparse.ArgumentParser) -> None:
    simulation_options(parser)
    common_options(parser)
    hidden: dict[str, Any] = {"help": argparse.SUPPRESS}
    parser.add_argument("--start", metavar="TIME", help=START_HELP)
    parser.add_argument("--anchor-wall", type=float, **hidden)
    parser.add_argument("--lockstep", action="store_true", **hidden)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    for name, (help_text, _factory) in SERVICES.items():
        parser = command(name, help_text, lambda args, name=name: _run_service(name, args))
        _service_arguments(parser)
        if name == "assembly":
            parser.add_argument(
                "--station",
                action="append",
                metavar="ID",
                help="run only this station (repeatable); scale out by running one process per station",
            )
            parser.add_argument(
                "--no-orders",
                action="store_true",
                help="do not publish the opening and random orders (another process does)",
            )
        if name in ("components", "telemetry"):
            parser.add_argument(
                "--workers",
                type=positive_int,
                default=1,
                metavar="N",
                help="split the machines between N processes (machine i goes to process "
                "i mod N); use it where there are spare cores",
            )
            parser.add_argument("--worker", help=argparse.SUPPRESS)
        if name == "components":
            parser.add_argument(
                "--telemetry-wait",
                type=float,
                default=10.0,
                metavar="SECONDS",
                help="wall seconds to wait for the first machine telemetry before machines "
                "run without it (default 10; run and scenarios, which start telemetry too, "
                "wait 120)",
            )
        if name == "quality":
            parser.add_argument(
                "--inspector",
                action="append",
                metavar="ID",
                help="run only this inspector (repeatable)",
            )
