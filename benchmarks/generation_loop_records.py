"""The generating services' loops without a producer: to count their instructions.

On a machine other work keeps busy, CPU times move by half from run to run; the number
of instructions a loop executes does not. This runs one service's loop (``components``:
components and their true-OEE records; ``telemetry``: reports) for about ``--records``
records, each built, encoded, keyed and timestamped as the service hands it to
``produce()`` (which is left out: the same call in every tree). Count it with valgrind,
twice, and take the difference per record so that start-up cancels out:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python benchmarks/generation_loop_records.py components --records 2000
    (the same with --records 22000; "Collected" is the count; the script prints records)

It runs against an older tree too (``PYTHONPATH=/tmp/old``), through the path that tree
has (events and ``send_all``'s work, or the encoded records).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

if not any(Path(p, "widget_factory").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402

from widget_factory.core.ids import IdSource  # noqa: E402
from widget_factory.core.machines import MachineFleet  # noqa: E402
from widget_factory.core.oee_truth import OeeTruthTracker  # noqa: E402
from widget_factory.core.production import ComponentProduction  # noqa: E402
from widget_factory.factory_config import FactoryConfig, default_config  # noqa: E402
from widget_factory.schemas import encode  # noqa: E402

START = 1_767_225_600.0
STEP_S = 600.0


def _config() -> FactoryConfig:
    config = default_config()
    return msgspec.structs.replace(
        config, kanban=msgspec.structs.replace(config.kanban, enabled=False)
    )


def _as_sent(events: list) -> None:  # type: ignore[type-arg]
    """What ``EventProducer.send_all`` does for each event before ``produce()``."""
    for event in events:
        encode(event)
        event.kafka_key.encode()
        int(event.occurred_at.timestamp() * 1000)


def _read(records: list) -> None:  # type: ignore[type-arg]
    """What ``EventProducer.send_encoded`` reads of each record before ``produce()``."""
    for record in records:
        record.value, record.key, record.timestamp_ms  # noqa: B018


def components(records: int) -> int:
    config = _config()
    production = ComponentProduction(config, random.Random(1), IdSource(random.Random(2)), START)
    oee = OeeTruthTracker(config, START)
    fast = hasattr(production, "produce_records")
    now, made = START, 0
    while made < records:
        now += STEP_S
        if fast:
            batch = production.produce_records(now, limit=2000)
            _read(batch)
            oee.made_records(batch)
            truth = oee.close_until_encoded(min(now, production.next_time()))
            _read(truth)
        else:
            batch = production.produce_until(now, limit=2000)
            _as_sent(batch)
            oee.made_all(batch)
            truth = oee.close_until(min(now, production.next_time()))
            _as_sent(truth)
        made += len(batch) + len(truth)
    return made


def telemetry(records: int) -> int:
    fleet = MachineFleet(_config(), random.Random(1), IdSource(random.Random(2)), START)
    fast = hasattr(fleet, "report_records_until")
    now, made = START, 0
    while made < records:
        now += STEP_S
        if fast:
            reports, _ = fleet.report_records_until(now)
            _read(reports)
        else:
            reports, _ = fleet.report_until(now)  # type: ignore[assignment]
            _as_sent(reports)
        made += len(reports)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=("components", "telemetry"))
    parser.add_argument("--records", type=int, default=2000)
    args = parser.parse_args()
    run = components if args.service == "components" else telemetry
    print(run(args.records))


if __name__ == "__main__":
    main()
