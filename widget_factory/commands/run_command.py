"""``widget-factory run``: broker, topics and every service, in one terminal."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator

from widget_factory.commands.services_command import continue_simulated_time
from widget_factory.core.analytics_windows import DEFAULT_LATENESS_S
from widget_factory.errors import UsageError
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.broker_memory import (
    BROKER_MEMORY_ENV,
    BrokerMemoryGuard,
    local_broker_pid,
    resolve_budget,
)
from widget_factory.kafka_io.cluster import embedded_or_given, prepare_cluster
from widget_factory.kafka_io.settings import PACE_ENV, split_secret_overrides
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
from widget_factory.processes.service_args import service_layout
from widget_factory.processes.services import SERVICES
from widget_factory.processes.supervisor import PRODUCERS, FactoryRun
from widget_factory.processes.workers import child_args, shared_seed

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
    budget = resolve_budget(args.broker_memory, os.environ)
    station_processes, inspector_processes = _scale(args, options)
    public_overrides, secret_env = split_secret_overrides(args.kafka_overrides)
    generation_workers = args.generation_workers or 1
    lockstep = (
        options.speed is None
        and station_processes == inspector_processes == generation_workers == 1
    )
    with embedded_or_given(settings_from_args(args)) as (settings, broker):
        settings = settings.paced(options.speed, feedback=lockstep or options.config.kanban.enabled)
        prepare_cluster(settings)
        options = continue_simulated_time(args, dataclasses.replace(options, settings=settings))
        anchor_wall = time.time()
        shared = child_args(
            args,
            options,
            seed=options.seed if (args.generation_workers or 1) == 1 else shared_seed(options.seed),
            anchor_wall=anchor_wall,
            overrides=public_overrides,
        )
        if lockstep:
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
            generation_workers=generation_workers,
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
        # The clients' pace (docs/performance.md) reaches every child the same way.
        pacing = {PACE_ENV: str(settings.pace_ms)}
        run = FactoryRun(
            layout,
            env={**os.environ, **secret_env, **pacing},
            bounded=options.duration is not None,
        )
        extras = dataclasses.replace(
            _in_run_options(args, public_overrides, {**secret_env, **pacing}),
            lockstep=lockstep,
            # records up to --max-delay late still land in their windows
            lateness_s=(
                max(DEFAULT_LATENESS_S, options.max_delay_s) if options.max_delay_s else None
            ),
        )
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
                with _memory_guard(run, broker, settings.bootstrap_servers, budget):
                    status = run.wait()
        log.info("Widget Factory stopped.")
        return status


@contextlib.contextmanager
def _memory_guard(
    run: FactoryRun, broker: EmbeddedBroker | None, bootstrap: str, budget: int | None
) -> Iterator[None]:
    """Watch the embedded broker's memory for the block (docs/performance.md), ours or
    one of ``widget-factory broker`` on this machine: past the budget's stop share,
    production stops and the factory drains like a bounded run."""
    pid = broker.pid if broker is not None else local_broker_pid(bootstrap)
    if pid is None or budget is None:
        yield
        return

    def stop_production() -> None:
        run.bounded = True  # the supervisor drains once the producers have exited
        for name, child in run.children.items():
            if name.split("#", 1)[0] in PRODUCERS:
                child.signal(signal.SIGUSR1)

    guard = BrokerMemoryGuard(pid, budget, stop_production).start()
    try:
        yield
    finally:
        guard.stop()


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


_HELP = "the whole factory: embedded broker (unless --bootstrap-servers), topics, every service"


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("run", _HELP, run_factory)
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
    parser.add_argument(
        "--generation-workers",
        type=positive_int,
        metavar="N",
        help="run component production and telemetry in N processes each, the machines "
        "dealt between them (default 1; worth it where there are spare cores)",
    )
    _add_in_run_options(parser)
    guard = parser.add_argument_group("memory (docs/performance.md)")
    guard.add_argument(
        "--broker-memory",
        metavar="SIZE",
        help="memory budget of the embedded broker, e.g. 512M, 2G or off (env "
        f"{BROKER_MEMORY_ENV}; default 1G, or a quarter of a smaller machine's memory): "
        "a warning at 80 %%, then production stops and the factory drains before it",
    )
    common_options(parser)
