"""Runs a scenario: a real factory, timed commands, observation, and a summary.

The factory runs as in ``widget-factory run`` (every service a child process, one shared
simulated clock, a bounded run that drains at the end) at an accelerated speed. Its
simulated time starts a few wall seconds after the services do, so every consumer group
has joined before the first component is made. A worker thread reads the topics without
a group, issues each step at its simulated time, samples every group's lag and prints
progress; when the run has drained, the summary compares the phases and checks the
effects the scenario claims.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka.admin import AdminClient

from widget_factory.core.clock import format_sim_duration, to_datetime
from widget_factory.core.control import COMMANDS, build_command, build_order, expand_targets
from widget_factory.core.factory_view import FactoryView
from widget_factory.core.ids import IdSource
from widget_factory.core.scenario_plan import (
    Scenario,
    Step,
    dump_toml,
    merge_overrides,
)
from widget_factory.core.scenario_stats import (
    Observations,
    Outcome,
    evaluate,
    phase_table,
    report_lines,
)
from widget_factory.errors import ConfigError
from widget_factory.factory_config import DEFAULT_CONFIG_NAME, FactoryConfig, parse_config
from widget_factory.kafka_io.control import FactoryControl
from widget_factory.kafka_io.lag import FACTORY_GROUPS, committed_offsets
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_ALERTS,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.kafka_io.watch import TopicWatcher
from widget_factory.schemas import SchemaError, decode

__all__ = ["ScenarioOptions", "ScenarioResult", "prepare_config", "run_scenario", "print_plan"]

log = logging.getLogger("scenario")

WARMUP_S = 6.0
"""Wall seconds between starting the services and simulated time starting: enough for
every consumer group to join (about 3 s on a Kafka cluster) before work begins."""
WARMUP_LOCAL_S = 4.0
"""The same on a broker on this machine, where joins take about 1 s (see _quick_joins)."""

_LAG_EVERY_S = 0.5
_WATCHED = (
    COMPONENT_PRODUCTION,
    WIDGET_ASSEMBLY,
    QUALITY_CONTROL,
    INVENTORY_UPDATES,
    PRODUCTION_ORDERS,
    FACTORY_ALERTS,
    MACHINE_TELEMETRY,
)


@dataclass(frozen=True)
class ScenarioOptions:
    speed: float | None
    """Simulated seconds per wall second; None: virtual time (scenarios without commands)."""
    seed: int | None
    base_config: str | None
    """``--config``: the factory the scenario's overrides apply to (default: the reference)."""
    kafka_config: str | None
    overrides: tuple[str, ...]
    debug: bool
    service_log: str | None
    """Where the services' logs go: a file, or None for the terminal."""


@dataclass
class ScenarioResult:
    status: int
    outcomes: list[Outcome]
    observations: Observations
    interrupted: bool


def _base_data(scenario: Scenario, folder: Path | None, base_config: str | None) -> dict[str, Any]:
    if scenario.config:
        if folder is None:
            text = resources.files("widget_factory.scenarios").joinpath(scenario.config).read_text()
            source = scenario.config
        else:
            path = folder / scenario.config
            source = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read the scenario's config ({exc})") from None
    elif base_config:
        source = base_config
        try:
            text = Path(base_config).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{base_config}: cannot read it ({exc.strerror})") from None
    else:
        text = resources.files("widget_factory").joinpath(DEFAULT_CONFIG_NAME).read_text()
        source = DEFAULT_CONFIG_NAME
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None


def prepare_config(
    scenario: Scenario, folder: Path | None, base_config: str | None
) -> tuple[FactoryConfig, str]:
    """The scenario's factory (base config plus its ``[factory]`` overrides), checked,
    and the TOML text the services will read."""
    data = merge_overrides(_base_data(scenario, folder, base_config), scenario.factory)
    config = parse_config(data, f"{scenario.name} (factory)")
    scenario.check_against(config)
    return config, dump_toml(data)


def _step_text(config: FactoryConfig, step: Step) -> str:
    if step.action == "order":
        return f"order {step.quantity}x {step.widget_type} (priority {step.priority})"
    if step.action in COMMANDS:
        machines = expand_targets(config, step.targets)
        names = ", ".join(machines) if len(machines) <= 3 else f"{len(machines)} machines"
        return f"{step.action} {' '.join(step.targets)}" + (
            f" ({names})" if any(t.startswith("@") for t in step.targets) else ""
        )
    return "note"


def print_plan(scenario: Scenario, config: FactoryConfig, bootstrap: str, out: TextIO) -> None:
    write = out.write
    write(f"== {scenario.title} ({scenario.name}) ==\n")
    if scenario.description:
        write(scenario.description + "\n")
    hours = scenario.duration / 3600
    if scenario.speed is None:
        write(f"\n{hours:g} simulated hours in virtual time, as fast as the machine allows.\n")
    else:
        wall = scenario.duration / scenario.speed + WARMUP_LOCAL_S
        write(
            f"\n{hours:g} simulated hours at {scenario.speed:g}x real time (about {wall:.0f} "
            "wall seconds, then the factory drains).\n"
        )
    write("Timeline (simulated time since the start):\n")
    write(f"  +0:00  phase '{scenario.first_phase}' begins\n")
    for at, step in scenario.steps:
        phase = f"  [phase '{step.phase}']" if step.phase else ""
        say = f" - {step.say}" if step.say else ""
        write(f"  +{_clock(at)}  {_step_text(config, step)}{say}{phase}\n")
    write(f"  +{_clock(scenario.duration)}  end: producers stop, the rest drains\n")
    if scenario.watch:
        write("What to watch (from another terminal, while it runs):\n")
        for line in scenario.watch:
            write("  " + line.replace("{bootstrap}", bootstrap) + "\n")
    if scenario.expectations:
        write("Effects it should show:\n")
        for expect in scenario.expectations:
            write(f"  - {expect.claim}\n")


def _clock(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


@contextlib.contextmanager
def _children_output(path: str | None) -> Iterator[None]:
    """Children inherit stdout/stderr at start: point them at ``path`` meanwhile, so the
    services' logs go to the file and this terminal keeps the scenario's narrative."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


class _Worker(threading.Thread):
    """Reads the topics, issues the steps on time, samples lag, prints progress."""

    def __init__(
        self,
        scenario: Scenario,
        config: FactoryConfig,
        settings: KafkaSettings,
        watcher: TopicWatcher,
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
        self.view = FactoryView()
        self.start_time = start
        self.anchor_wall = anchor_wall
        self.speed = speed
        self.out = out
        self.finish = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.control = FactoryControl(settings, client_id="scenario")
        self.admin = AdminClient(settings.admin_config())
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
                    f"  +{_clock(self.scenario.duration)}  end: producers stop; assembly, "
                    "quality control and inventory drain\n"
                )
                self.out.flush()
                self.at_end()
        deadline = time.monotonic() + 15.0
        while not self.watcher.caught_up() and time.monotonic() < deadline:
            self._read(0.2)
        self._sample_lag(force=True)

    def _read(self, timeout: float) -> None:
        for message in self.watcher.poll(5000, timeout):
            try:
                event = decode(message.value() or b"")
            except SchemaError:
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
        self.out.write(f"  +{_clock(at)}  {did}{say}{phase}\n")
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
                committed = committed_offsets(self.settings, group, admin=self.admin, timeout=5)
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
            f"  +{_clock(hour)}  so far: {self._counts['components']} components, "
            f"{self._counts['widgets']} widgets, {self._counts['checks']} checks; "
            f"orders waiting {view.book.units_waiting()}, component stock "
            f"{sum(view.component_stock.values())}, machines down {down}"
            + (f", QC lag {qc_lag}" if qc_lag is not None else "")
            + "\n"
        )
        self.out.flush()


def run_scenario(
    scenario: Scenario,
    config: FactoryConfig,
    config_text: str,
    settings: KafkaSettings,
    options: ScenarioOptions,
    out: TextIO,
) -> ScenarioResult:
    """Run the factory through ``scenario`` on the cluster of ``settings`` (topics ready)."""
    from widget_factory.commands.services_command import SERVICES
    from widget_factory.supervisor import PRODUCERS, FactoryRun, common_service_args

    with tempfile.TemporaryDirectory(prefix="widget-factory-scenario-") as folder:
        config_path = Path(folder) / f"{scenario.name}-factory.toml"
        config_path.write_text(config_text, encoding="utf-8")
        watcher = TopicWatcher(settings, dict.fromkeys(_WATCHED, "end"), client_id="scenario")
        held = sum(
            n for (topic, _p), n in watcher.start_offsets.items() if topic == PRODUCTION_ORDERS
        )
        if held:
            out.write(
                f"Note: {settings.bootstrap_servers} already holds factory data ({held} orders): "
                "stations and ledger resume from it and place no opening orders; the summary "
                "covers only what happens from now. A fresh embedded broker (no "
                "--bootstrap-servers) gives the scenario a clean factory.\n"
            )
        start = float(int(time.time()))
        virtual = options.speed is None
        warmup = 0.0 if virtual else (WARMUP_LOCAL_S if settings.is_local else WARMUP_S)
        anchor_wall = time.time() + warmup
        observations = Observations(start, scenario.duration, config, scenario.settle)
        # In real time the producers get no --duration: the runner stops them at the end
        # itself, because component production given a --duration exits early when every
        # machine is stopped at once (its next component is then "never", past the end).
        shared = common_service_args(
            bootstrap=settings.bootstrap_servers,
            speed="max" if options.speed is None else repr(options.speed),
            seed=options.seed,
            duration=repr(scenario.duration) if virtual else None,
            start=start,
            anchor_wall=anchor_wall,
            config=str(config_path),
            kafka_config=options.kafka_config,
            overrides=_quick_joins(settings) + tuple(options.overrides),
            debug=options.debug,
        )
        if virtual:
            shared.append("--lockstep")  # every service is here: event-time order
        run = FactoryRun({name: list(shared) for name in SERVICES}, bounded=True)

        def stop_producers() -> None:
            for name, child in run.children.items():
                if name.split("#")[0] in PRODUCERS:
                    child.signal(signal.SIGTERM)

        worker = _Worker(
            scenario,
            config,
            settings,
            watcher,
            observations,
            start=start,
            anchor_wall=anchor_wall,
            speed=options.speed,
            out=out,
            at_end=stop_producers,
        )
        out.write(
            f"\nStarting the factory at {to_datetime(start):%Y-%m-%d %H:%M:%S} simulated"
            + (
                "; in virtual time (each service as fast as it can; the summary follows once "
                "all have drained).\n"
                if virtual
                else f"; simulated time starts in {warmup:.0f} s, once every consumer group "
                "has joined.\n"
            )
        )
        out.flush()
        wall_started = time.monotonic()
        try:
            with _children_output(options.service_log):
                run.start()
            worker.start()
            status = run.wait()
        finally:
            worker.finish.set()
            worker.done.wait(30)
            watcher.close()
        wall = time.monotonic() - wall_started
        if worker.error is not None:
            raise worker.error
        interrupted = worker.sim_elapsed() < scenario.duration * 0.99 or (
            not virtual and not worker.ended
        )
        if interrupted:  # judge only the part that ran
            observations.duration = min(scenario.duration, max(0.0, worker.sim_elapsed()))
        observations.finish()
        outcomes = evaluate(scenario, observations)
        out.write(
            f"\nFactory {'interrupted' if interrupted else 'drained'} after {wall:.0f} wall s "
            f"({format_sim_duration(min(scenario.duration, max(0.0, worker.sim_elapsed())))} "
            "simulated).\n"
        )
        return ScenarioResult(status, outcomes, observations, interrupted)


def _quick_joins(settings: KafkaSettings) -> tuple[str, ...]:
    """On a broker on this machine, a 2 s group session: the embedded broker makes every
    join wait half the session (3 s at the usual 6 s), and at scenario speeds each wall
    second is many simulated minutes. Given later, the user's own -X settings win."""
    if not settings.is_local:
        return ()
    return ("session.timeout.ms=2000", "heartbeat.interval.ms=250")


def _table(rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n"
        for row in rows
    )


def print_summary(scenario: Scenario, result: ScenarioResult, out: TextIO) -> None:
    o = result.observations
    write = out.write
    write(f"\n== Summary: {scenario.title} ==\n")
    write(
        f"{len(o.components)} components, {len(o.widgets)} widgets, {len(o.checks)} quality "
        f"checks, {sum(q for _t, _w, q in o.orders.values())} units ordered in "
        f"{len(o.orders)} orders.\n\n"
    )
    write(_table(phase_table(scenario, o)))
    if scenario.settle:
        write(
            f"  (Rates per hour leave out the first {scenario.settle / 60:.0f} simulated minutes "
            "of each phase, while its commands take effect.)\n"
        )
    for name in scenario.reports:
        title, rows = report_lines(name, o)
        write(f"\n{title}:\n")
        write(_table(rows))
    if result.outcomes:
        write("\nEffects:\n")
        for outcome in result.outcomes:
            mark = {True: " ok ", False: "FAIL", None: " ?? "}[outcome.ok]
            write(f"  [{mark}] {outcome.text}\n")
        observed = sum(1 for x in result.outcomes if x.ok)
        write(
            f"{observed} of {len(result.outcomes)} effects observed"
            + ("." if observed == len(result.outcomes) else " (see above).")
            + "\n"
        )
    out.flush()
