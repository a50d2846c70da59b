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

from widget_factory.cli import common_options, positive_int, settings_from_args, simulation_options
from widget_factory.commands.services_command import (
    SERVICES,
    continue_simulated_time,
    options_from_args,
    prepare_cluster,
)
from widget_factory.dashboard.in_run import add_run_options, run_extras
from widget_factory.errors import UsageError
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.broker_memory import (
    BROKER_MEMORY_ENV,
    BrokerMemoryGuard,
    local_broker_pid,
    resolve_budget,
)
from widget_factory.kafka_io.settings import PACE_ENV, split_secret_overrides
from widget_factory.runtime import ServiceOptions, describe_speed
from widget_factory.supervisor import (
    PRODUCERS,
    FactoryRun,
    common_service_args,
    embedded_or_given,
    service_layout,
)

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
    options = options_from_args(args)  # validates every option before anything starts
    budget = resolve_budget(args.broker_memory, os.environ)
    station_processes, inspector_processes = _scale(args, options)
    public_overrides, secret_env = split_secret_overrides(args.kafka_overrides)
    with embedded_or_given(settings_from_args(args)) as (settings, broker):
        settings = settings.paced(options.speed)
        prepare_cluster(settings)
        options = continue_simulated_time(args, dataclasses.replace(options, settings=settings))
        start = options.start
        anchor_wall = time.time()
        shared = common_service_args(
            bootstrap=settings.bootstrap_servers,
            speed="max" if options.speed is None else repr(options.speed),
            seed=options.seed,
            duration=args.duration,
            start=start,
            anchor_wall=anchor_wall,
            config=args.config,
            kafka_config=args.kafka_config,
            overrides=public_overrides,
            debug=args.debug,
        )
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
        pacing = {PACE_ENV: str(settings.pace_ms)}
        run = FactoryRun(
            layout,
            env={**os.environ, **secret_env, **pacing},
            bounded=options.duration is not None,
        )
        with _environment(pacing), run_extras(args, settings, options):
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


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block: the analytics child,
    started by the dashboard extras, inherits the run's pace from it."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        "run",
        "the whole factory: embedded broker (unless --bootstrap-servers), topics, every service",
        run_factory,
    )
    simulation_options(parser)
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
    add_run_options(parser)
    guard = parser.add_argument_group("memory (docs/performance.md)")
    guard.add_argument(
        "--broker-memory",
        metavar="SIZE",
        help="memory budget of the embedded broker, e.g. 512M, 2G or off (env "
        f"{BROKER_MEMORY_ENV}; default 1G, or a quarter of a smaller machine's memory): "
        "a warning at 80 %%, then production stops and the factory drains before it",
    )
    common_options(parser)
