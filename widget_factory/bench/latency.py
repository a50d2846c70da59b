"""Per-hop processing latency at a steady rate, measured by an independent reader.

The factory runs in real time at the speed that makes its machines produce the wanted
number of components per second (``bench_factory.toml``: 1,000 per second at 100x).
Its simulated clock starts a few seconds after the services do, so every consumer group
has joined before the first component is made: the figures are the steady state.

A probe in the bench process reads ``component-production``, ``widget-assembly`` and
``quality-control`` from the beginning, without a consumer group, and notes the wall
time each record becomes **available** to consumers (the moment the probe receives it;
the probe's own fetch delay applies to both ends of a hop alike).

A hop's latency is the time from the moment its output *could* exist to the moment it
is available, so simulated work time (assembling, inspecting) is not counted:

- ``produce``: a component is made at simulated time ``produced_at``; the hop ends when
  its record is available (the producer's batching and the broker's append);
- ``assemble``: a widget can exist once its last component is available **and** its
  simulated assembly has finished (``assembly_completed_at``); the hop ends when the
  widget's record is available (assembly's consume, plan, changelog write, produce);
- ``inspect``: a check can exist once its widget is available **and** the simulated
  inspection has finished (``checked_at``); the hop ends when the check is available.

Simulated times become wall times through the run's shared clock: ``wall = anchor +
(t - start) / speed``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer

from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.reader import topic_partitions
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import COMPONENT_PRODUCTION, QUALITY_CONTROL, WIDGET_ASSEMBLY

__all__ = [
    "HOPS",
    "HopStats",
    "LatencyProbe",
    "components_per_sim_second",
    "hop_stats",
    "percentile",
    "produce_p99_by_second",
]

HOPS = ("produce", "assemble", "inspect")


class _Component(msgspec.Struct):
    component_id: str
    produced_at: datetime


class _Widget(msgspec.Struct):
    widget_id: str
    component_ids: list[str]
    assembly_completed_at: datetime


class _Check(msgspec.Struct):
    widget_id: str
    checked_at: datetime


_components = msgspec.json.Decoder(_Component)
_widgets = msgspec.json.Decoder(_Widget)
_checks = msgspec.json.Decoder(_Check)


def components_per_sim_second(config: FactoryConfig) -> float:
    """Mean components per simulated second of the factory's machines (no stoppages)."""
    return sum(2.0 / (m.cycle_time_s[0] + m.cycle_time_s[1]) for m in config.machines)


@dataclass(frozen=True)
class HopStats:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LatencyProbe:
    """Reads the three topics in a thread, noting when each record became available."""

    settings: KafkaSettings
    components: dict[str, tuple[float, float]] = field(default_factory=dict)
    """component_id -> (available, produced_at)"""
    widgets: dict[str, tuple[float, float, list[str]]] = field(default_factory=dict)
    """widget_id -> (available, assembly_completed_at, component ids)"""
    checks: dict[str, tuple[float, float]] = field(default_factory=dict)
    """widget_id -> (available, checked_at)"""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-probe", daemon=True)

    def _run(self) -> None:
        config = self.settings.consumer_config(
            None, **{"client.id": "bench-latency-probe", "fetch.wait.max.ms": 5}
        )
        consumer = Consumer(config)
        partitions = topic_partitions(
            consumer, [COMPONENT_PRODUCTION, WIDGET_ASSEMBLY, QUALITY_CONTROL]
        )
        for tp in partitions:
            tp.offset = OFFSET_BEGINNING
        consumer.assign(partitions)
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.05)
                if message is None or message.error() is not None:
                    continue
                available = time.time()
                topic, value = message.topic(), message.value() or b""
                if topic == COMPONENT_PRODUCTION:
                    c = _components.decode(value)
                    self.components[c.component_id] = (available, c.produced_at.timestamp())
                elif topic == WIDGET_ASSEMBLY:
                    w = _widgets.decode(value)
                    self.widgets[w.widget_id] = (
                        available,
                        w.assembly_completed_at.timestamp(),
                        w.component_ids,
                    )
                else:
                    q = _checks.decode(value)
                    self.checks.setdefault(q.widget_id, (available, q.checked_at.timestamp()))
        finally:
            consumer.close()

    def __enter__(self) -> LatencyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hop_stats(
    probe: LatencyProbe, *, start: float, anchor: float, speed: float, skip_s: float = 1.0
) -> tuple[dict[str, HopStats], float]:
    """Per-hop latency statistics (see the module docstring), and the component rate
    actually achieved (per wall second). Events of the first ``skip_s`` simulated-wall
    seconds are left out."""

    def wall(t: float) -> float:
        return anchor + (t - start) / speed

    begin = anchor + skip_s
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    times = []
    for available, produced_at in probe.components.values():
        due = wall(produced_at)
        if due >= begin:
            hops["produce"].append(available - due)
            times.append(due)
    for widget_id, (available, completed_at, component_ids) in probe.widgets.items():
        inputs = [probe.components[c][0] for c in component_ids if c in probe.components]
        if len(inputs) != len(component_ids):
            continue
        ready = max(max(inputs), wall(completed_at))
        if ready >= begin:
            hops["assemble"].append(available - ready)
        check = probe.checks.get(widget_id)
        if check is not None:
            ready = max(available, wall(check[1]))
            if ready >= begin:
                hops["inspect"].append(check[0] - ready)
    stats = {
        hop: HopStats(
            len(values),
            1000 * percentile(values, 0.50),
            1000 * percentile(values, 0.99),
            1000 * max(values),
        )
        for hop, values in hops.items()
        if values
    }
    rate = (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else 0.0
    return stats, rate


def produce_p99_by_second(
    probe: LatencyProbe, *, start: float, anchor: float, speed: float
) -> list[float]:
    """The produce hop's p99 (ms) in each wall second of the run: shows whether latency
    holds steady or grows as the topics fill (the embedded broker's fetches get slower
    the more a partition holds)."""
    seconds: dict[int, list[float]] = {}
    for available, produced_at in probe.components.values():
        due = anchor + (produced_at - start) / speed
        seconds.setdefault(int(due - anchor), []).append(available - due)
    return [
        round(1000 * percentile(values, 0.99), 1)
        for second, values in sorted(seconds.items())
        if second >= 0
    ]
