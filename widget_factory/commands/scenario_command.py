"""``widget-factory scenario NAME``: the walkthrough's experiments, runnable.

Shipped: supply-disruption, quality-issues, machine-downtime, demand-spike,
performance-analytics and back-pressure; or the path of your own scenario file (timed
commands in the factory config's TOML style: docs/experiments.md). Each prints what to
watch, runs a real factory at an accelerated speed with its timed commands, and ends
with a summary per phase and the effects it claims, each checked (exit status 1 when
one is not observed).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable

import msgspec

from widget_factory.core.scenario_plan import METRICS, REPORTS, Scenario
from widget_factory.errors import UsageError
from widget_factory.kafka_io.cluster import embedded_or_given, prepare_cluster
from widget_factory.options import common_options, settings_from_args, speed_and_seed_options
from widget_factory.scenarios import builtin_names, load_scenario
from widget_factory.scenarios.printing import print_plan, print_summary
from widget_factory.scenarios.runner import ScenarioOptions, prepare_config, run_scenario

ORDER = 80

__all__ = ["register"]


def _list() -> int:
    print("Shipped scenarios (widget-factory scenario NAME):")
    for name in builtin_names():
        scenario, _folder = load_scenario(name)
        print(f"  {name:<22} {scenario.summary or scenario.title}")
    print("Or give the path of your own scenario file (docs/experiments.md).")
    return 0


def _speed(text: str | None, scenario: Scenario) -> float | None:
    if text is None:
        return scenario.speed
    if text.strip().lower() == "max":
        if scenario.has_commands():
            raise UsageError(
                f"--speed max: {scenario.name} has timed commands, which need a real-time "
                "speed such as 1200"
            )
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--speed {text!r}: expected simulated seconds per wall second, e.g. 1200 "
            "(scenarios run in real time: their commands are timed)"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--speed {text!r}: must be a positive number")
    if value > 20_000:
        raise UsageError(
            f"--speed {text!r}: at most 20000 (faster, the services cannot keep simulated "
            "time and the commands in step)"
        )
    return value


def _run(args: argparse.Namespace) -> int:
    if args.name is None or args.name == "list":
        return _list()
    scenario, folder = load_scenario(args.name)
    config, config_text = prepare_config(scenario, folder, args.config)
    speed = _speed(args.speed, scenario)
    settings = settings_from_args(args)
    if args.plan:
        print_plan(scenario, config, settings.bootstrap_servers, sys.stdout)
        return 0
    log_path = None
    if not args.verbose:
        log_path = args.log or os.path.join(
            tempfile.gettempdir(), f"widget-factory-scenario-{scenario.name}-{os.getpid()}.log"
        )
    options = ScenarioOptions(
        speed=speed,
        seed=args.seed,
        base_config=args.config,
        kafka_config=args.kafka_config,
        overrides=tuple(args.kafka_overrides),
        debug=args.debug,
        service_log=log_path,
    )
    if speed != scenario.speed:
        scenario = _with_speed(scenario, speed)
    with embedded_or_given(settings) as (settings, broker):
        prepare_cluster(settings)
        print_plan(scenario, config, settings.bootstrap_servers, sys.stdout)
        if broker is not None:
            print(
                f"(The embedded broker on {settings.bootstrap_servers} lives as long as the scenario.)"
            )
        if log_path:
            print(f"Service logs: {log_path} (--verbose shows them here)")
        result = run_scenario(scenario, config, config_text, settings, options, sys.stdout)
        print_summary(scenario, result, sys.stdout)
    if result.interrupted:
        return 130
    if result.status != 0:
        print(
            f"The factory did not run cleanly (see {log_path or 'the log above'}).", file=sys.stderr
        )
        return 1
    return 0 if all(o.ok for o in result.outcomes) else 1


def _with_speed(scenario: Scenario, speed: float | None) -> Scenario:
    return msgspec.structs.replace(scenario, speed=speed)


_HELP = (
    "run one of the walkthrough's experiments (or your own scenario file) and summarise its effect"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("scenario", _HELP, _run)
    parser.epilog = (
        "shipped scenarios: "
        + ", ".join(builtin_names())
        + "\n`widget-factory scenario list` describes them; --plan shows one's timeline.\n"
        "Scenario files: [scenario] (name, title, speed, duration, watch), [factory] overrides,\n"
        "[[step]] (at, action, targets | widget_type + quantity, phase, say), [[expect]].\n"
        "actions: order, anomaly, stop-machine, start-machine, maintenance, note\n"
        "reports: " + ", ".join(REPORTS) + "\n"
        "metrics for [[expect]]: " + ", ".join(METRICS)
    )
    parser.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="a shipped scenario, `list`, or the path of a scenario .toml file",
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the scenario's timeline and claims; run nothing"
    )
    speed_and_seed_options(
        parser, "for virtual time (scenarios without commands only; default: the scenario's)"
    )
    parser.add_argument(
        "--log",
        metavar="FILE",
        help="write the services' logs here (default: a file in the temp folder)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the services' logs in this terminal"
    )
    common_options(parser)
