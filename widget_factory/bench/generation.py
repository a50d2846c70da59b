"""Generation: the producer services themselves, at unlimited speed.

Each service (component production, then machine telemetry) runs in this process with
its own code path, exactly as ``widget-factory components --speed max`` runs it: the
core builds the events, the schema encodes them, the service's producer sends them (and
follows machine status, logs at its paced rate, polls for commands). It runs for the
given wall time, then stops, flushes and counts the records the broker acknowledged. The
rate is acknowledged events over the wall time from the start of its loop until the
last record sent is acknowledged (the service's own shutdown afterwards, such as leaving
its consumer group, is not generation and not counted).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import msgspec

from widget_factory.core.machine_share import WHOLE_FACTORY, MachineShare
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.processes.lifecycle import Lifecycle, ServiceOptions

__all__ = ["GenerationResult", "generation_config", "measure_components", "measure_telemetry"]

START = 1_767_225_600.0
"""Simulated start of bench runs: 2026-01-01 00:00 UTC (any fixed time would do)."""


def generation_config() -> FactoryConfig:
    """The reference factory with kanban off: its machines run flat out.

    With kanban on, component production alone (nothing uses its components) would
    stop at its stock ceilings and then creep on by a lead every wall second: the bench
    would time that wait, not generation.
    """
    config = default_config()
    return msgspec.structs.replace(
        config, kanban=msgspec.structs.replace(config.kanban, enabled=False)
    )


@dataclass(frozen=True)
class GenerationResult:
    service: str
    events: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class _Producing(Protocol):
    producer: EventProducer

    def run(self) -> int: ...


def _quietly(names: tuple[str, ...]) -> list[tuple[logging.Logger, int]]:
    """The services log machine breakdowns and the like as warnings: not bench output."""
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.ERROR)
    return saved


def _measure(
    name: str, service: _Producing, lifecycle: Lifecycle, seconds: float
) -> GenerationResult:
    producer = service.producer
    finished: list[float] = []

    def stop_and_time_the_last_ack() -> None:
        """Stop the service, then note when its producer has nothing left unacknowledged."""
        time.sleep(seconds)
        lifecycle.stop()
        deadline = time.perf_counter() + 60
        while len(producer) and time.perf_counter() < deadline:
            time.sleep(0.002)
        finished.append(time.perf_counter())

    watcher = threading.Thread(target=stop_and_time_the_last_ack, daemon=True)
    saved = _quietly((name, "widget_factory"))
    started = time.perf_counter()
    watcher.start()
    try:
        service.run()
    finally:
        lifecycle.stop()
        watcher.join()
        for logger, level in saved:
            logger.setLevel(level)
    acknowledged = producer.sent - producer.failed - len(producer)
    return GenerationResult(name, acknowledged, finished[0] - started)


def _options(
    settings: KafkaSettings, config: FactoryConfig, seed: int, share: MachineShare
) -> ServiceOptions:
    # generation alone: no telemetry runs beside it, so production waits for none
    return ServiceOptions(
        settings=settings,
        config=config,
        speed=None,
        seed=seed,
        start=START,
        share=share,
        telemetry_wait_s=0.0,
    )


def measure_components(
    settings: KafkaSettings,
    config: FactoryConfig,
    seconds: float,
    seed: int = 1,
    share: MachineShare = WHOLE_FACTORY,
) -> GenerationResult:
    """Component events per second from the component production service (``share``:
    the machines of one worker of several)."""
    from widget_factory.component_production_simulator import ComponentProductionService

    lifecycle = Lifecycle()
    service = ComponentProductionService(_options(settings, config, seed, share), lifecycle)
    return _measure("components", service, lifecycle, seconds)


def measure_telemetry(
    settings: KafkaSettings,
    config: FactoryConfig,
    seconds: float,
    seed: int = 1,
    share: MachineShare = WHOLE_FACTORY,
) -> GenerationResult:
    """Telemetry events per second from the machine telemetry service (``share``: the
    machines of one worker of several)."""
    from widget_factory.machine_telemetry_simulator import MachineTelemetryService

    lifecycle = Lifecycle()
    service = MachineTelemetryService(_options(settings, config, seed, share), lifecycle)
    return _measure("telemetry", service, lifecycle, seconds)
