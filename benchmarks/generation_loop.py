"""CPU per record of the two generating services' work, without a broker.

What the component production and telemetry services do for each record at ``--speed
max``, in their own order and with their own classes: the core builds the events, the
component service tallies them into true-OEE windows and builds those records, and the
service's ``EventProducer.send_all`` encodes, keys, timestamps and hands each record to
librdkafka's ``produce()``. The producer points at a closed port, so records only queue:
no network, no broker, nothing delivered. Process CPU time per record of each kind, the
best of the rounds (a busy machine slows every round alike, so the best is the truest).

    python benchmarks/generation_loop.py --rounds 6

To compare with an earlier revision, run the same script against that tree:

    git archive REV | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python benchmarks/generation_loop.py
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

if not any(Path(p, "widget_factory").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402

from widget_factory.core.ids import IdSource  # noqa: E402
from widget_factory.core.machines import MachineFleet  # noqa: E402
from widget_factory.core.oee_truth import OeeTruthTracker  # noqa: E402
from widget_factory.core.production import ComponentProduction  # noqa: E402
from widget_factory.factory_config import FactoryConfig, default_config  # noqa: E402
from widget_factory.kafka_io.client import BrokerHealth, EventProducer  # noqa: E402
from widget_factory.kafka_io.settings import KafkaSettings  # noqa: E402

START = 1_767_225_600.0
STEP_S = 600.0
"""Simulated seconds per loop step, as the services move at unlimited speed."""


def _config() -> FactoryConfig:
    """The reference factory flat out, as the bench's generation phase runs it."""
    config = default_config()
    return msgspec.structs.replace(
        config, kanban=msgspec.structs.replace(config.kanban, enabled=False)
    )


def _producer() -> EventProducer:
    settings = KafkaSettings("127.0.0.1:1", source="flag")
    return EventProducer(
        settings,
        client_id="generation-loop",
        health=BrokerHealth("generation-loop", settings.bootstrap_servers),
        report_successes=False,
        **{"queue.buffering.max.kbytes": 2_000_000, "queue.buffering.max.messages": 2_000_000},
    )


def _components(events: int) -> tuple[dict[str, float], float]:
    """Microseconds per record of each kind, and true-OEE records per component."""
    config = _config()
    production = ComponentProduction(config, random.Random(1), IdSource(random.Random(2)), START)
    oee = OeeTruthTracker(config, START)
    producer = _producer()
    made = truth = 0
    spent = dict.fromkeys(("build", "send", "truth build", "truth send"), 0.0)
    clock = time.process_time
    now = START
    fast = hasattr(production, "produce_records")  # (an older tree has only events)
    while made < events:
        now += STEP_S
        t0 = clock()
        if fast:
            batch = production.produce_records(now, limit=2000)
            t1 = clock()
            producer.send_encoded("components", batch)
            t2 = clock()
            oee.made_records(batch)
            records = oee.close_until_encoded(min(now, production.next_time()))
            t3 = clock()
            producer.send_encoded("truth", records)
        else:
            batch = production.produce_until(now, limit=2000)
            t1 = clock()
            producer.send_all("components", batch)
            t2 = clock()
            if hasattr(oee, "made_all"):
                oee.made_all(batch)
            else:  # (an older tree)
                for event in batch:
                    oee.made(event)
            records = oee.close_until(min(now, production.next_time()))
            t3 = clock()
            producer.send_all("truth", records)
        t4 = clock()
        spent["build"] += t1 - t0
        spent["send"] += t2 - t1
        spent["truth build"] += t3 - t2
        spent["truth send"] += t4 - t3
        made += len(batch)
        truth += len(records)
    producer.raw.purge()
    us = 1e6
    return {
        "component build": spent["build"] / made * us,
        "component send": spent["send"] / made * us,
        "truth build": spent["truth build"] / truth * us,
        "truth send": spent["truth send"] / truth * us,
        "components per record": sum(spent.values()) / (made + truth) * us,
    }, truth / made


def _telemetry(events: int) -> dict[str, float]:
    fleet = MachineFleet(_config(), random.Random(1), IdSource(random.Random(2)), START)
    producer = _producer()
    made = 0
    build = send = 0.0
    clock = time.process_time
    now = START
    while made < events:
        now += STEP_S
        t0 = clock()
        if hasattr(fleet, "report_records_until"):
            reports, _changes = fleet.report_records_until(now)
            t1 = clock()
            producer.send_encoded("telemetry", reports)
        else:  # (an older tree)
            reports, _changes = fleet.report_until(now)  # type: ignore[assignment]
            t1 = clock()
            producer.send_all("telemetry", reports)
        t2 = clock()
        build += t1 - t0
        send += t2 - t1
        made += len(reports)
    producer.raw.purge()
    us = 1e6
    return {
        "telemetry build": build / made * us,
        "telemetry send": send / made * us,
        "telemetry per record": (build + send) / made * us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=40_000, help="components (and reports)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the closed port's connection errors
    best: dict[str, float] = {}
    truth_ratio = 0.0
    for _ in range(args.rounds):
        components, truth_ratio = _components(args.events)
        for figures in (components, _telemetry(args.events)):
            for key, value in figures.items():
                best[key] = min(best.get(key, float("inf")), value)
    print(f"true-OEE records per component: {truth_ratio:.2f}")
    for key, value in best.items():
        print(f"{key:22s} {value:6.2f} us")


if __name__ == "__main__":
    main()
