"""What ``widget-factory scenario`` prints: the plan before a run, the summary after it.

Text only: the rows come from :mod:`widget_factory.core.scenario_report` and the
outcomes from :mod:`widget_factory.core.scenario_checks`; running the factory is
:mod:`widget_factory.scenarios.runner`'s job.
"""

from __future__ import annotations

from typing import TextIO

from widget_factory.core.clock import format_sim_duration
from widget_factory.core.control import COMMANDS, expand_targets
from widget_factory.core.scenario_plan import Scenario, Step
from widget_factory.core.scenario_report import hours_minutes, phase_table, report_lines
from widget_factory.factory_config import FactoryConfig
from widget_factory.scenarios.runner import WARMUP_LOCAL_S, ScenarioResult

__all__ = ["print_plan", "print_summary"]


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
    if scenario.late_fraction:
        write(
            f"Late delivery: about {scenario.late_fraction:.0%} of telemetry and components "
            f"sent up to {format_sim_duration(scenario.max_delay_s)} late, out of order.\n"
        )
    write("Timeline (simulated time since the start):\n")
    write(f"  +0:00  phase '{scenario.first_phase}' begins\n")
    for at, step in scenario.steps:
        phase = f"  [phase '{step.phase}']" if step.phase else ""
        say = f" - {step.say}" if step.say else ""
        write(f"  +{hours_minutes(at)}  {_step_text(config, step)}{say}{phase}\n")
    write(f"  +{hours_minutes(scenario.duration)}  end: producers stop, the rest drains\n")
    if scenario.watch:
        write("What to watch (from another terminal, while it runs):\n")
        for line in scenario.watch:
            write("  " + line.replace("{bootstrap}", bootstrap) + "\n")
    if scenario.expectations:
        write("Effects it should show:\n")
        for expect in scenario.expectations:
            write(f"  - {expect.claim}\n")


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
