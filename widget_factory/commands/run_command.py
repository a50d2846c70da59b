"""``widget-factory run``: broker, topics and every service, in one terminal."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from collections.abc import Callable

from widget_factory.commands.services_command import continue_simulated_time
from widget_factory.errors import UsageError
from widget_factory.kafka_io.cluster import embedded_or_given, prepare_cluster
from widget_factory.kafka_io.settings import split_secret_overrides
from widget_factory.options import (
    START_HELP,
    common_options,
    port_number,
    positive_int,
    service_options,
    settings_from_args,
    simulation_options,
)
from widget_factory.processes.in_run import (
    DEFAULT_PORT,
    InRunOptions,
    in_run_analytics,
    in_run_dashboard,
)
from widget_factory.processes.lifecycle import ServiceOptions, describe_speed
from widget_factory.processes.service_args import common_service_args, service_layout
from widget_factory.processes.services import SERVICES
from widget_factory.processes.supervisor import FactoryRun

ORDER = 10

__all__ = ["register", "run_factory"]

log = logging.getLogger("factory")


def _scale(args: argparse.Namespace, options: ServiceOptions) -> tuple[int, int]:
    """``--stations N`` and ``--inspectors M``: how many assembly and QC processes."""
    config = options.config
    stations = args.stations or 1
    inspectors = args.inspectors or 1
    if stations > len(config.stations):
        raise UsageError(
            f"--stations {stations}: the factory has {len(config.stations)} stations, and "
            "each station runs in exactly one process"
        )
    if inspectors > len(config.quality.inspectors):
        raise UsageError(
            f"--inspectors {inspectors}: the factory has {len(config.quality.inspectors)} "
            "inspectors, and each process needs at least one"
        )
    return stations, inspectors


def run_factory(args: argparse.Namespace) -> int:
    options = service_options(args)  # validates every option before anything starts
    station_processes, inspector_processes = _scale(args, options)
    public_overrides, secret_env = split_secret_overrides(args.kafka_overrides)
    with embedded_or_given(settings_from_args(args)) as (settings, broker):
        prepare_cluster(settings)
        options = continue_simulated_time(args, dataclasses.replace(options, settings=settings))
        start = options.start
        anchor_wall = time.time()
        shared = common_service_args(
            bootstrap=settings.bootstrap_servers,
            speed=options.speed,
            seed=options.seed,
            duration=args.duration,
            start=start,
            anchor_wall=anchor_wall,
            config=args.config,
            kafka_config=args.kafka_config,
            overrides=public_overrides,
            debug=args.debug,
        )
        if options.speed is None and station_processes == inspector_processes == 1:
            # Every service is here, one process each: event-time order (reproducible).
            shared.append("--lockstep")
        where = (
            f"embedded broker on {settings.bootstrap_servers} (in memory)"
            if broker is not None
            else f"Kafka at {settings.bootstrap_servers}"
        )
        speed_line = describe_speed(options)
        if options.speed is not None:
            speed_line += f" (1 wall second = {options.speed / 60:g} simulated minutes)"
        log.info("Widget Factory: %s; %s. Ctrl-C stops everything.", where, speed_line)
        if broker is not None:
            log.info(
                "From another terminal: widget-factory tail component-production "
                "--bootstrap-servers %s",
                settings.bootstrap_servers,
            )
        layout = service_layout(
            list(SERVICES),
            shared,
            stations=[s.id for s in options.config.stations],
            station_processes=station_processes,
            inspectors=options.config.quality.inspectors,
            inspector_processes=inspector_processes,
        )
        if station_processes > 1 or inspector_processes > 1:
            log.info(
                "Scaled out: %d assembly processes in group assembly-stations, %d quality "
                "control processes in group quality-control",
                station_processes,
                inspector_processes,
            )
        # Secret -X values reach the services as KAFKA_* variables, not on their command
        # lines (which any user of the machine can read with ps).
        run = FactoryRun(
            layout, env={**os.environ, **secret_env}, bounded=options.duration is not None
        )
        extras = _in_run_options(args, public_overrides, secret_env)
        with in_run_dashboard(extras, settings, options) as dashboard_url:
            if dashboard_url is not None:
                print(f"Dashboard: {dashboard_url}", flush=True)
                log.info("Dashboard: %s", dashboard_url)
            with in_run_analytics(
                extras,
                settings,
                bounded=options.duration is not None,
                virtual_time=options.speed is None,
            ):
                run.start()
                status = run.wait()
        log.info("Widget Factory stopped.")
        return status


def _in_run_options(
    args: argparse.Namespace, public_overrides: list[str], secret_env: dict[str, str]
) -> InRunOptions:
    return InRunOptions(
        dashboard=not args.no_dashboard,
        dashboard_port=args.dashboard_port,
        analytics=not args.no_analytics,
        config=args.config,
        kafka_config=args.kafka_config,
        overrides=tuple(public_overrides),
        secret_env=tuple(sorted(secret_env.items())),
        debug=args.debug,
    )


def _add_in_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dashboard and analytics (docs/dashboard.md)")
    group.add_argument(
        "--dashboard-port",
        type=port_number,
        metavar="PORT",
        help=f"port of the dashboard on 127.0.0.1 (default {DEFAULT_PORT}, or a free one if "
        "that is taken; 0: any free one)",
    )
    group.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    group.add_argument(
        "--no-analytics",
        action="store_true",
        help="do not run the analytics service (windowed metrics on factory-metrics)",
    )


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        "run",
        "the whole factory: embedded broker (unless --bootstrap-servers), topics, every service",
        run_factory,
    )
    simulation_options(parser)
    parser.add_argument("--start", metavar="TIME", help=START_HELP)
    scale = parser.add_argument_group("scale-out (docs/scaling.md)")
    scale.add_argument(
        "--stations",
        type=positive_int,
        metavar="N",
        help="run the assembly stations in N processes sharing group assembly-stations "
        "(default 1: one process hosts every station)",
    )
    scale.add_argument(
        "--inspectors",
        type=positive_int,
        metavar="M",
        help="run quality control in M processes sharing group quality-control (default 1)",
    )
    _add_in_run_options(parser)
    common_options(parser)
