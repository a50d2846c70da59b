"""The scenario's worker thread: it watches the factory while the services run.

It reads the topics without a group (folding every event into the run's
:class:`~widget_factory.core.scenario_stats.Observations` and a live
:class:`~widget_factory.core.factory_view.FactoryView`), issues each step of the
scenario at its simulated time, samples every group's lag and writes one progress line
per simulated hour or so. :mod:`widget_factory.scenarios.runner` starts and stops it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from widget_factory.compat import SkippedRecords
from widget_factory.core.control import COMMANDS, build_command, build_order, expand_targets
from widget_factory.core.factory_view import FactoryView
from widget_factory.core.ids import IdSource
from widget_factory.core.scenario_plan import Scenario, Step
from widget_factory.core.scenario_report import hours_minutes
from widget_factory.core.scenario_stats import Observations
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.committed import GroupOffsets
from widget_factory.kafka_io.control import FactoryControl
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.lag import FACTORY_GROUPS
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.schemas import SchemaError, decode

__all__ = ["ScenarioWorker"]

log = logging.getLogger("scenario")

_LAG_EVERY_S = 0.5


class ScenarioWorker(threading.Thread):
    """Reads the topics, issues the steps on time, samples lag, prints progress."""

    def __init__(
        self,
        scenario: Scenario,
        config: FactoryConfig,
        settings: KafkaSettings,
        watcher: TopicFollower,
        observations: Observations,
        *,
        start: float,
        anchor_wall: float,
        speed: float | None,
        out: TextIO,
        at_end: Callable[[], None],
    ) -> None:
        super().__init__(name="scenario", daemon=True)
        self.at_end = at_end
        self.ended = False
        self.scenario = scenario
        self.config = config
        self.settings = settings
        self.watcher = watcher
        self.observations = observations
        self.skipped = SkippedRecords(log, "scenario")
        self.view = FactoryView()
        self.start_time = start
        self.anchor_wall = anchor_wall
        self.speed = speed
        self.out = out
        self.finish = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.control = FactoryControl(settings, client_id="scenario")
        self.offsets = GroupOffsets(settings, client_id="scenario-lag")
        self._ids = IdSource(random.Random(f"scenario:{scenario.name}"))
        self._pending = list(scenario.steps)
        self._last_lag = 0.0
        self._next_progress = 3600.0
        self._latest_lag: dict[str, int] = {}
        self._counts = {"components": 0, "widgets": 0, "checks": 0}

    def sim_elapsed(self) -> float:
        """Simulated seconds since the start: from the shared clock in real time, from
        the latest event seen in virtual time."""
        if self.speed is None:
            now = self.view.sim_now
            return 0.0 if now is None else max(0.0, now - self.start_time)
        return (time.time() - self.anchor_wall) * self.speed

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            self.offsets.close()
            self.done.set()

    def _loop(self) -> None:
        while not self.finish.is_set():
            self._read(0.1)
            self._issue_due()
            self._sample_lag()
            self._progress()
            if (
                not self.ended
                and self.speed is not None
                and self.sim_elapsed() >= self.scenario.duration
            ):
                self.ended = True
                self.out.write(
                    f"  +{hours_minutes(self.scenario.duration)}  end: producers stop; assembly, "
                    "quality control and inventory drain\n"
                )
                self.out.flush()
                self.at_end()
        deadline = time.monotonic() + 15.0
        while not self.watcher.at_end() and time.monotonic() < deadline:
            self._read(0.2)
        self._sample_lag(force=True)

    def _read(self, timeout: float) -> None:
        for message in self.watcher.poll(5000, timeout):
            try:
                event = decode(message.value() or b"", topic=str(message.topic()))
            except SchemaError as exc:
                self.skipped.add(message.topic(), message.partition(), message.offset(), str(exc))
                continue
            self.observations.add(event)
            self.view.apply(event)
            kind = event.event_type
            if kind == "component_produced":
                self._counts["components"] += 1
            elif kind == "widget_assembled":
                self._counts["widgets"] += 1
            elif kind == "quality_check":
                self._counts["checks"] += 1

    def _issue_due(self) -> None:
        elapsed = self.sim_elapsed()
        while self._pending and self._pending[0][0] <= elapsed:
            at, step = self._pending.pop(0)
            self._issue(at, step)

    def _issue(self, at: float, step: Step) -> None:
        if step.action == "order":
            assert step.widget_type is not None and step.quantity is not None
            order = build_order(
                self.config,
                self._ids,
                step.widget_type,
                step.quantity,
                step.priority,
                self.start_time + at,
            )
            self.control.send_orders([order])
            did = f"ordered {order.quantity}x {order.widget_type} ({order.order_id}, priority {order.priority})"
        elif step.action in COMMANDS:
            machines = expand_targets(self.config, step.targets)
            now = datetime.now(UTC)
            self.control.send_commands(
                [
                    build_command(self.config, self._ids, step.action, m, now, "scenario")
                    for m in machines
                ]
            )
            did = f"{step.action} {', '.join(machines) if len(machines) <= 3 else f'{len(machines)} machines'}"
        else:
            did = "note"
        phase = f" -> phase '{step.phase}'" if step.phase else ""
        say = f": {step.say}" if step.say else ""
        self.out.write(f"  +{hours_minutes(at)}  {did}{say}{phase}\n")
        self.out.flush()

    def _sample_lag(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_lag < _LAG_EVERY_S:
            return
        self._last_lag = now
        if self.speed is not None and time.time() < self.anchor_wall:
            return
        t = self.sim_elapsed()
        ends = self.watcher.ends()
        for group, topics in FACTORY_GROUPS.items():
            if not any(key[0] in topics for key in ends):
                continue
            try:
                mine = [key for key in ends if key[0] in topics]
                committed = self.offsets.committed(group, mine, timeout=5)
            except Exception as exc:  # noqa: BLE001 - a missed sample is not fatal
                log.debug("lag sample of %s failed: %s", group, exc)
                continue
            if not committed:
                continue
            total = sum(
                max(0, end - committed.get(key, 0)) for key, end in ends.items() if key[0] in topics
            )
            self.observations.add_lag(t, group, total)
            self._latest_lag[group] = total

    def _progress(self) -> None:
        if self.speed is None:
            return  # in virtual time each service runs at its own pace: no common "now"
        elapsed = self.sim_elapsed()
        if elapsed < self._next_progress or elapsed > self.scenario.duration + 1:
            return
        hour = self._next_progress
        self._next_progress += 3600.0 if self.scenario.duration <= 12 * 3600 else 4 * 3600.0
        view = self.view
        down = sum(
            n
            for status, n in view.status_counts().items()
            if status.value not in ("running", "idle")
        )
        qc_lag = self._latest_lag.get("quality-control")
        self.out.write(
            f"  +{hours_minutes(hour)}  so far: {self._counts['components']} components, "
            f"{self._counts['widgets']} widgets, {self._counts['checks']} checks; "
            f"orders waiting {view.book.units_waiting()}, component stock "
            f"{sum(view.component_stock.values())}, machines down {down}"
            + (f", QC lag {qc_lag}" if qc_lag is not None else "")
            + "\n"
        )
        self.out.flush()
