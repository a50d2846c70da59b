"""Generation with several worker processes, as ``components --workers N`` runs it.

Each worker is a process of its own (spawned, so no Kafka client crosses a fork) running
the service on its share of the machines (:class:`MachineShare`), measured exactly as
:mod:`.generation` measures one process. The workers start their loops together (a
barrier after each has built its service and connected); the rate is every worker's
acknowledged events over the time from the common start to the last worker's last
acknowledgement.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from widget_factory.bench.generation import GenerationResult
from widget_factory.core.machine_share import MachineShare
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["measure_with_workers"]

_START_TIMEOUT_S = 120.0


def _worker(
    service: str,
    settings: KafkaSettings,
    config: FactoryConfig,
    seconds: float,
    seed: int,
    share: MachineShare,
    barrier: Any,
    results: Any,
) -> None:
    from widget_factory.bench.generation import measure_components, measure_telemetry

    measure = measure_components if service == "components" else measure_telemetry
    barrier.wait(_START_TIMEOUT_S)
    started = time.monotonic()
    result = measure(settings, config, seconds, seed, share)
    results.put((result.events, started, started + result.seconds))


def measure_with_workers(
    service: str,
    settings: KafkaSettings,
    config: FactoryConfig,
    seconds: float,
    seed: int,
    workers: int,
) -> GenerationResult:
    """Events per second of ``service`` (``components`` or ``telemetry``) run as
    ``workers`` processes, each making its share of the machines."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(
                service,
                settings,
                config,
                seconds,
                seed,
                MachineShare(k, workers),
                barrier,
                results,
            ),
            daemon=True,
        )
        for k in range(workers)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=_START_TIMEOUT_S + seconds + 90) for _ in processes]
    for process in processes:
        process.join(30)
    events = sum(r[0] for r in collected)
    span = max(r[2] for r in collected) - min(r[1] for r in collected)
    return GenerationResult(f"{service} x{workers}", events, span)
