"""``widget-factory run``: broker, topics and every service, in one terminal."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from widget_factory.cli import common_options, settings_from_args, simulation_options
from widget_factory.commands.services_command import SERVICES, options_from_args, prepare_cluster
from widget_factory.runtime import describe_speed
from widget_factory.supervisor import FactoryRun, common_service_args, embedded_or_given

ORDER = 10

__all__ = ["register", "run_factory"]

log = logging.getLogger("factory")


def run_factory(args: argparse.Namespace) -> int:
    options = options_from_args(args)  # validates every option before anything starts
    with embedded_or_given(settings_from_args(args)) as (settings, broker):
        prepare_cluster(settings)
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
            overrides=args.kafka_overrides,
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
        run = FactoryRun(
            {name: list(shared) for name in SERVICES},
            bounded=options.duration is not None,
        )
        run.start()
        status = run.wait()
        log.info("Widget Factory stopped.")
        return status


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        "run",
        "the whole factory: embedded broker (unless --bootstrap-servers), topics, every service",
        run_factory,
    )
    simulation_options(parser)
    common_options(parser)
