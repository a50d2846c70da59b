"""A whole factory run, as ``widget-factory run`` does it, watched from outside.

The five services run as their own processes (``FactoryRun``), bounded by a simulated
duration and drained in order at the end. While they run, the bench samples each one's
peak resident memory and its consumer groups' lag, and notes when the first widget is on
Kafka (every consumer group has joined and the pipeline is flowing). Their logs go to a
file. Afterwards the audit reads what the run produced and checks every invariant.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from widget_factory.bench.procs import RssSampler, cpu_seconds, output_to
from widget_factory.core.audit import AuditReport
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.audit import audit_topics
from widget_factory.kafka_io.lag import EndOffsetProbe, group_lag
from widget_factory.kafka_io.settings import PACE_ENV, KafkaSettings
from widget_factory.kafka_io.topics import WIDGET_ASSEMBLY, connect_admin
from widget_factory.processes.service_args import TELEMETRY_WAIT, common_service_args
from widget_factory.processes.services import SERVICES
from widget_factory.processes.supervisor import FactoryRun

__all__ = ["FactoryRunResult", "run_factory", "LAG_GROUPS"]

LAG_GROUPS = ("assembly-stations", "quality-control", "inventory")
"""The pipeline's consumer groups, whose lag is sampled during a run."""


@dataclass
class FactoryRunResult:
    status: int
    """The supervisor's exit status (0: every service drained and exited cleanly)."""
    wall_s: float
    """From starting the services until the last one exited."""
    flowing_s: float | None
    """From the first widget on Kafka until the last service exited (None: no widget)."""
    rss_mb: dict[str, float]
    """Peak resident memory of each service (MiB)."""
    cpu_s: dict[str, float]
    """CPU seconds each service used (user + system), start-up included."""
    max_lag: dict[str, int]
    """The largest lag seen of each consumer group (records)."""
    audit: AuditReport
    unreadable: int
    log: Path
    lag_samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    broker_cpu_flowing_s: float | None = None
    """CPU seconds the embedded broker used while the pipeline flowed (from the first
    widget until the last service exited): no start-up, no audit. None: no broker pid."""

    @property
    def audit_ok(self) -> bool:
        return self.status == 0 and self.audit.ok and self.unreadable == 0

    @property
    def counts(self) -> dict[str, int]:
        return self.audit.counts


class _Watcher:
    """Notes when the first widget reaches Kafka, and samples the groups' lag."""

    def __init__(
        self, settings: KafkaSettings, lag_every: float, broker_pid: int | None = None
    ) -> None:
        self._settings = settings
        self._broker_pid = broker_pid
        self._lag_every = lag_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watcher", daemon=True)
        self.first_widget: float | None = None
        self.broker_cpu_at_first: float | None = None
        self.samples: list[tuple[float, dict[str, int]]] = []

    def _widgets_present(self, consumer: Consumer) -> bool:
        for partition in range(3):
            with contextlib.suppress(KafkaException):
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(WIDGET_ASSEMBLY, partition), timeout=1
                )
                if high > 0:
                    return True
        return False

    def _run(self) -> None:
        consumer = Consumer(self._settings.consumer_config(None))
        probe = EndOffsetProbe(self._settings, client_id="bench-lag") if self._lag_every else None
        admin = connect_admin(self._settings)[0] if self._lag_every else None
        next_lag = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.first_widget is None and self._widgets_present(consumer):
                    self.first_widget = time.monotonic()
                    if self._broker_pid is not None:
                        self.broker_cpu_at_first = cpu_seconds(self._broker_pid)
                if probe is not None and time.monotonic() >= next_lag:
                    next_lag = time.monotonic() + self._lag_every
                    lags = {}
                    for group in LAG_GROUPS:
                        with contextlib.suppress(Exception):
                            report = group_lag(self._settings, group, probe=probe, admin=admin)
                            lags[group] = report.total
                    self.samples.append((time.monotonic(), lags))
                self._stop.wait(0.05 if self.first_widget is None else 0.2)
        finally:
            consumer.close()
            if probe is not None:
                probe.close()

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def run_factory(
    settings: KafkaSettings,
    *,
    duration: str,
    log_path: Path,
    config: str | None = None,
    seed: int = 1,
    speed: float | None = None,
    start: float,
    anchor_wall: float | None = None,
    lag_every: float = 1.0,
    pace_ms: int | None = None,
    broker_pid: int | None = None,
) -> FactoryRunResult:
    """Run the factory on ``settings`` (topics already created), then audit it.

    ``speed``: simulated seconds per wall second; None runs as fast as possible.
    ``pace_ms`` pins the clients' linger and fetch wait (else they follow the speed);
    ``broker_pid``: the embedded broker, whose CPU while the pipeline flows is noted."""
    shared = common_service_args(
        bootstrap=settings.bootstrap_servers,
        speed=speed,
        seed=seed,
        duration=duration,
        start=start,
        anchor_wall=time.time() if anchor_wall is None else anchor_wall,
        config=config,
        kafka_config=None,
        overrides=[],
        debug=False,
    )
    env = dict(os.environ)
    if pace_ms is not None:
        env[PACE_ENV] = str(pace_ms)
    run = FactoryRun(
        {name: [*shared, *(TELEMETRY_WAIT if name == "components" else [])] for name in SERVICES},
        env=env,
        bounded=True,
    )

    def pids() -> dict[str, int]:
        return {
            name: child.process.pid
            for name, child in list(run.children.items())
            if child.process is not None and child.alive
        }

    sampler = RssSampler(pids)
    with output_to(log_path), sampler, _Watcher(settings, lag_every, broker_pid) as watcher:
        started = time.monotonic()
        run.start()
        status = run.wait()
        ended = time.monotonic()
        broker_cpu_at_end = cpu_seconds(broker_pid) if broker_pid is not None else None
    sampler.sample()
    report, unreadable = audit_topics(settings, load_config(config).recipes)
    max_lag: dict[str, int] = {}
    for _at, lags in watcher.samples:
        for group, lag in lags.items():
            max_lag[group] = max(max_lag.get(group, 0), lag)
    return FactoryRunResult(
        status=status,
        wall_s=ended - started,
        flowing_s=None if watcher.first_widget is None else ended - watcher.first_widget,
        rss_mb={name.split("#")[0]: mb for name, mb in sampler.peaks.items()},
        cpu_s=dict(sampler.cpu),
        max_lag=max_lag,
        audit=report,
        unreadable=unreadable,
        log=log_path,
        lag_samples=[(at - started, lags) for at, lags in watcher.samples],
        broker_cpu_flowing_s=(
            None
            if broker_cpu_at_end is None or watcher.broker_cpu_at_first is None
            else round(broker_cpu_at_end - watcher.broker_cpu_at_first, 2)
        ),
    )
