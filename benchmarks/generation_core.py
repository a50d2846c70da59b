"""CPU per generated event of the two generator cores, this tree against a git revision.

Loads ``core/production.py`` and ``core/machines.py`` as they are in REV (``git show``)
next to this tree's, and times both alternately in one process: process CPU time per
event (not wall time, so a busy machine slows both alike), the best of several rounds.

    python benchmarks/generation_core.py --against main~5 --rounds 8
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from widget_factory.core import machines, production  # noqa: E402
from widget_factory.core.ids import IdSource  # noqa: E402
from widget_factory.factory_config import load_config  # noqa: E402

START = 1_767_225_600.0


def _module_at(revision: str, path: str, name: str) -> ModuleType:
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _cost_us(made_until: Callable[[float], int], events: int) -> float:
    """CPU microseconds per event of ``made_until`` (the events made up to a simulated
    time), called ten simulated minutes further each time until ``events`` are made."""
    now, count, began = START, 0, time.process_time()
    while count < events:
        now += 600
        count += made_until(now)
    return (time.process_time() - began) / count * 1e6


def _components(module: ModuleType, events: int) -> float:
    made = module.ComponentProduction(
        load_config(None), random.Random(1), IdSource(random.Random(2)), START
    )
    return _cost_us(lambda now: len(made.produce_until(now, limit=2000)), events)


def _telemetry(module: ModuleType, events: int) -> float:
    fleet = module.MachineFleet(
        load_config(None), random.Random(1), IdSource(random.Random(2)), START
    )
    # the service's own path: records (a batch at a time where the revision has it)
    report = getattr(fleet, "report_records_until", fleet.report_until)
    return _cost_us(lambda now: len(report(now)[0]), events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--events", type=int, default=30_000)
    args = parser.parse_args()
    old_production = _module_at(args.against, "widget_factory/core/production.py", "old_prod")
    old_machines = _module_at(args.against, "widget_factory/core/machines.py", "old_machines")
    best = {key: float("inf") for key in ("components", "telemetry")}
    old = dict(best)
    for _ in range(args.rounds):
        old["components"] = min(old["components"], _components(old_production, args.events))
        best["components"] = min(best["components"], _components(production, args.events))
        old["telemetry"] = min(old["telemetry"], _telemetry(old_machines, args.events))
        best["telemetry"] = min(best["telemetry"], _telemetry(machines, args.events))
    for key in best:
        print(
            f"{key}: {old[key]:.2f} us/event at {args.against}, {best[key]:.2f} here "
            f"({old[key] / best[key]:.2f}x)"
        )


if __name__ == "__main__":
    main()
