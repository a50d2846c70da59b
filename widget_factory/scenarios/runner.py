"""Runs a scenario: a real factory, timed commands, observation, and a summary.

The factory runs as in ``widget-factory run`` (every service a child process, one shared
simulated clock, a bounded run that drains at the end) at an accelerated speed. Its
simulated time starts a few wall seconds after the services do, so every consumer group
has joined before the first component is made. A worker thread reads the topics without
a group, issues each step at its simulated time, samples every group's lag and prints
progress (:mod:`widget_factory.scenarios.worker`); when the run has drained, the summary
compares the phases and checks the effects the scenario claims (printed by
:mod:`widget_factory.scenarios.printing`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from widget_factory.core.clock import format_sim_duration, to_datetime
from widget_factory.core.event_format import format_time
from widget_factory.core.scenario_checks import Outcome, evaluate
from widget_factory.core.scenario_plan import (
    Scenario,
    dump_toml,
    merge_overrides,
)
from widget_factory.core.scenario_stats import Observations
from widget_factory.errors import ConfigError
from widget_factory.factory_config import DEFAULT_CONFIG_NAME, FactoryConfig, parse_config
from widget_factory.kafka_io.follower import TopicFollower
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
from widget_factory.scenarios.worker import ScenarioWorker

__all__ = ["ScenarioOptions", "ScenarioResult", "prepare_config", "run_scenario"]

log = logging.getLogger("scenario")

WARMUP_S = 6.0
"""Wall seconds between starting the services and simulated time starting: enough for
every consumer group to join (about 3 s on a Kafka cluster) before work begins."""
WARMUP_LOCAL_S = 4.0
"""The same on a broker on this machine, where joins take about 1 s (see _quick_joins)."""

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


def run_scenario(
    scenario: Scenario,
    config: FactoryConfig,
    config_text: str,
    settings: KafkaSettings,
    options: ScenarioOptions,
    out: TextIO,
) -> ScenarioResult:
    """Run the factory through ``scenario`` on the cluster of ``settings`` (topics ready)."""
    from widget_factory.processes.service_args import TELEMETRY_WAIT, common_service_args
    from widget_factory.processes.services import SERVICES
    from widget_factory.processes.supervisor import PRODUCERS, FactoryRun

    with tempfile.TemporaryDirectory(prefix="widget-factory-scenario-") as folder:
        config_path = Path(folder) / f"{scenario.name}-factory.toml"
        config_path.write_text(config_text, encoding="utf-8")
        watcher = TopicFollower.from_starts(
            settings, dict.fromkeys(_WATCHED, "end"), client_id="scenario"
        )
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
            speed=options.speed,
            seed=options.seed,
            duration=repr(scenario.duration) if virtual else None,
            start=start,
            anchor_wall=anchor_wall,
            config=str(config_path),
            kafka_config=options.kafka_config,
            overrides=_quick_joins(settings) + tuple(options.overrides),
            debug=options.debug,
            late_fraction=scenario.late_fraction,
            max_delay_s=scenario.max_delay_s,
        )
        if virtual:
            shared.append("--lockstep")  # every service is here: event-time order
        run = FactoryRun(
            {
                name: [*shared, *(TELEMETRY_WAIT if name == "components" else [])]
                for name in SERVICES
            },
            bounded=True,
        )

        def stop_producers() -> None:
            for name, child in run.children.items():
                if name.split("#")[0] in PRODUCERS:
                    child.signal(signal.SIGTERM)

        worker = ScenarioWorker(
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
            f"\nStarting the factory at {format_time(to_datetime(start))} simulated"
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
