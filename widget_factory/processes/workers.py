"""``components --workers N`` and ``telemetry --workers N``: one service, several processes.

Generation is Python work per event, so on a machine with spare cores it scales out:
the parent starts N children of the same service (``widget-factory NAME --worker K/N``),
each making the machines at positions K-1, K-1+N, ... of the configuration
(:class:`~widget_factory.core.machine_share.MachineShare`), and supervises them like
``run`` supervises its services. Every child gets the same seed (one is drawn when
none is given), simulated start and wall anchor, so together they make one factory's
output; for component production, the same events whatever N is.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time

from widget_factory.kafka_io.settings import split_secret_overrides
from widget_factory.processes.lifecycle import ServiceOptions
from widget_factory.processes.service_args import common_service_args
from widget_factory.processes.supervisor import FactoryRun

__all__ = ["worker_layout", "run_workers", "shared_seed"]

log = logging.getLogger("factory")


def shared_seed(seed: int | None) -> int:
    """The seed every worker gets: the one given, or one drawn now (workers seeded apart
    would mint overlapping ids)."""
    return seed if seed is not None else random.SystemRandom().getrandbits(31)


def worker_layout(name: str, shared: list[str], count: int) -> dict[str, list[str]]:
    """Per child (``components#1`` ...), its arguments: the shared ones and its share."""
    return {f"{name}#{k}": [*shared, "--worker", f"{k}/{count}"] for k in range(1, count + 1)}


def child_args(
    args: argparse.Namespace,
    options: ServiceOptions,
    *,
    seed: int | None,
    anchor_wall: float,
    overrides: list[str],
) -> list[str]:
    """The flags every child of a run shares (``common_service_args``), from the parent's
    own flags and parsed options: one place, so a new shared option reaches every child."""
    return common_service_args(
        bootstrap=options.settings.bootstrap_servers,
        speed=options.speed,
        seed=seed,
        duration=args.duration,
        start=options.start,
        anchor_wall=anchor_wall,
        config=args.config,
        kafka_config=args.kafka_config,
        overrides=overrides,
        debug=args.debug,
        late_fraction=options.late_fraction,
        max_delay_s=options.max_delay_s,
    )


def run_workers(name: str, args: argparse.Namespace, options: ServiceOptions, count: int) -> int:
    """Run ``count`` processes of service ``name`` until they end or Ctrl-C; exit status 1
    if any failed."""
    seed = shared_seed(options.seed)
    public_overrides, secret_env = split_secret_overrides(args.kafka_overrides)
    shared = child_args(
        args,
        options,
        seed=seed,
        anchor_wall=options.anchor_wall if options.anchor_wall is not None else time.time(),
        overrides=public_overrides,
    )
    log.info("%s: %d worker processes, machines dealt by position (seed %d)", name, count, seed)
    run = FactoryRun(
        worker_layout(name, shared, count),
        env={**os.environ, **secret_env},
        bounded=options.duration is not None,
    )
    run.start()
    return run.wait()
