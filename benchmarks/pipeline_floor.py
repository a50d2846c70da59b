"""The pipeline's floor: four processes that only move a component's records.

    .venv/bin/python benchmarks/pipeline_floor.py [--components 300000] [--runs 2]

The pipeline target (``widget-factory bench``: components through the whole factory per
second, at least 0.1 of raw) is a budget of CPU per component for the broker and every
service together. This measures the part of that budget no logic can save: the reads,
decodes, encodes and writes a component causes on its way through the factory, done by
processes laid out as the factory's (a source, then assembly, quality control and the
inventory, each its own process and consumer group), with the factory's client settings
at unlimited speed and its real records, on a fresh embedded broker. Nothing is planned,
booked or checked: the assembly relay sends a widget for every ``per_widget``
components it reads, quality control a check for every widget, the inventory as many
updates per input as the factory's own run sent.

First the bench factory runs for ``--sample`` simulated time at unlimited speed; its
records give the relays their bytes and their ratios (widgets and updates per
component; a check per widget, as the contract has it). Then raw
(``bench.raw.measure_raw``) and the floor run on the same broker, one after the other,
``--runs`` times. The rate is components read
by the inventory per second of wall time, from the source's first send to the
inventory's last read; the CPU is each process's own (user + system) over that time,
and the broker's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, replace

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from widget_factory.bench import bench_config_path
from widget_factory.bench.generation import START
from widget_factory.bench.procs import cpu_seconds
from widget_factory.bench.raw import measure_raw
from widget_factory.errors import ConfigError
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.client import ANY_PARTITION
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings, parse_overrides
from widget_factory.kafka_io.topics import (
    ASSEMBLY_CHANGELOG,
    COMPONENT_PRODUCTION,
    INVENTORY_UPDATES,
    QUALITY_CONTROL,
    TOPICS,
    WIDGET_ASSEMBLY,
    connect_admin,
)
from widget_factory.schemas import decode, encode

Record = tuple[bytes, bytes]
"""(key, value) of one record as the factory wrote it."""

_COMMIT_EVERY_S = 0.25
"""As the services: offsets committed about four times a second."""


def _settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap, source="embedded").paced(None)


def _read_all(bootstrap: str, topics: list[str]) -> dict[str, list[Record]]:
    """Every record of ``topics``, from the beginning to the end."""
    found: dict[str, list[Record]] = {t: [] for t in topics}
    for message in read_to_end(_settings(bootstrap), topics, client_id="pipeline-floor-sample"):
        found[str(message.topic())].append((message.key() or b"", message.value() or b""))
    return found


def sample_factory(bootstrap: str, duration: str) -> dict[str, list[Record]]:
    """The bench factory's records after ``duration`` simulated at unlimited speed."""
    factory = ["--bootstrap-servers", bootstrap, "--config", str(bench_config_path())]
    factory += ["--speed", "max", "--duration", duration, "--seed", "1", "--start", str(START)]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "widget_factory",
            "run",
            *factory,
            "--no-dashboard",
            "--no-analytics",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"the sample run failed: {run.stderr[-2000:]}")
    return _read_all(
        bootstrap,
        [
            COMPONENT_PRODUCTION,
            WIDGET_ASSEMBLY,
            QUALITY_CONTROL,
            INVENTORY_UPDATES,
            ASSEMBLY_CHANGELOG,
        ],
    )


@dataclass(frozen=True)
class Relay:
    """One process of the floor: what it reads, and what it sends per record read."""

    name: str
    reads: tuple[str, ...]
    """Topics read (the floor's own copies)."""
    expect: tuple[int, ...]
    """How many records of each topic read the relay waits for."""
    sends: dict[str, tuple[str, int, int]]
    """Per topic read: (topic sent to, n, d): n records sent per d read, counted in
    integers, so a reader downstream waits for exactly ``reads * n // d`` of them."""
    samples: dict[str, list[Record]]
    """Per topic sent to: the records cycled through (decoded once, encoded per send)."""
    changelog: str | None = None
    """Where one record per consumed batch goes (the assembly's changelog), if anywhere."""
    consumer: tuple[tuple[str, str], ...] = ()
    """librdkafka settings of the relay's consumer on top of the factory's (``--consumer``)."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_relay(bootstrap: str, relay: Relay, ready: object, results: object) -> None:
    """Read every expected record, decode it, send what it stands for; report times."""
    settings = _settings(bootstrap)
    consumer = Consumer(settings.consumer_config(relay.name, **dict(relay.consumer)))
    producer = Producer(settings.producer_config(**{"client.id": relay.name}))
    events = {
        t: [decode(v) for _k, v in records]
        for t, records in relay.samples.items()
        if t != relay.changelog
    }
    keys = {t: [k for k, _v in records] for t, records in relay.samples.items()}
    cursor = dict.fromkeys(events, 0)
    owed = dict.fromkeys(relay.reads, 0)
    left = dict(zip(relay.reads, relay.expect, strict=True))
    assigned: list[int] = []
    consumer.subscribe(list(relay.reads), on_assign=lambda _c, parts: assigned.append(len(parts)))
    while not assigned:
        consumer.poll(0.1)
    ready.set()  # type: ignore[attr-defined]
    produce = producer.produce
    first = None
    steps = 0
    next_commit = time.monotonic() + _COMMIT_EVERY_S
    cpu_start = _cpu()
    while any(n > 0 for n in left.values()):
        batch = consumer.consume(1000, 0.1)
        if not batch:
            continue
        if first is None:
            first = time.time()
        for message in batch:
            if message.error() is not None:
                continue
            topic = message.topic()
            decode(message.value())
            left[topic] -= 1
            target, sent, per = relay.sends.get(topic, ("", 0, 1))
            if not sent:
                continue
            owed[topic] += sent
            while owed[topic] >= per:
                owed[topic] -= per
                i = cursor[target]
                cursor[target] = (i + 1) % len(events[target])
                produce(target, encode(events[target][i]), keys[target][i], ANY_PARTITION)
        if relay.changelog is not None:
            # the state the step leaves: bytes of the factory's own (not a contract event)
            key, value = relay.samples[relay.changelog][steps % len(relay.samples[relay.changelog])]
            produce(relay.changelog, value, key, ANY_PARTITION)
            steps += 1
        producer.poll(0)
        if time.monotonic() >= next_commit:
            producer.flush()  # as the services: outputs acknowledged before their inputs' offsets
            consumer.commit(asynchronous=True)
            next_commit = time.monotonic() + _COMMIT_EVERY_S
    producer.flush()
    done = time.time()
    cpu = _cpu() - cpu_start
    consumer.close()
    results.put((relay.name, first, done, cpu))  # type: ignore[attr-defined]


def run_source(
    bootstrap: str, topic: str, records: list[Record], count: int, results: object
) -> None:
    """Send ``count`` component records, cycling through the sample, as fast as acknowledged."""
    producer = Producer(_settings(bootstrap).producer_config(**{"client.id": "floor-source"}))
    produce = producer.produce
    poll = producer.poll
    cpu_start = _cpu()
    started = time.time()
    sent = 0
    while sent < count:
        for key, value in records[: count - sent]:
            while True:
                try:
                    produce(topic, value, key, ANY_PARTITION)
                    break
                except BufferError:
                    poll(0.005)
        sent += min(len(records), count - sent)
        poll(0)
    producer.flush(120)
    results.put(("source", started, time.time(), _cpu() - cpu_start))  # type: ignore[attr-defined]


def _create(bootstrap: str, names: dict[str, str]) -> None:
    admin, _ = connect_admin(_settings(bootstrap))
    partitions = {t.name: t.partitions for t in TOPICS}
    new = [NewTopic(copy, partitions[name], 1) for name, copy in names.items()]
    for future in admin.create_topics(new).values():
        future.result(30)


def measure_floor(
    bootstrap: str,
    broker_pid: int,
    found: dict[str, list[Record]],
    count: int,
    run: int,
    consumer: tuple[tuple[str, str], ...] = (),
) -> dict[str, object]:
    """One floor run on fresh copies of the topics."""
    copy = {t: f"floor{run}-{t}" for t in found}
    _create(bootstrap, copy)
    components = len(found[COMPONENT_PRODUCTION])
    widgets = len(found[WIDGET_ASSEMBLY])
    per_widget = max(1, round(components / widgets))
    made = count // per_widget
    updates = len(found[INVENTORY_UPDATES])
    # updates besides the one per component, per widget, in hundredths
    per_widget_updates = max(0, round(100 * (updates - components) / widgets))
    c, w, q, u, log = (
        copy[t]
        for t in (
            COMPONENT_PRODUCTION,
            WIDGET_ASSEMBLY,
            QUALITY_CONTROL,
            INVENTORY_UPDATES,
            ASSEMBLY_CHANGELOG,
        )
    )
    relays = [
        Relay(
            "floor-assembly",
            (c,),
            (count,),
            {c: (w, 1, per_widget)},
            {w: found[WIDGET_ASSEMBLY][:1000], log: found[ASSEMBLY_CHANGELOG][:200]},
            changelog=log,
        ),
        Relay(
            "floor-quality",
            (w,),
            (made,),
            {w: (q, 1, 1)},  # every widget is inspected once
            {q: found[QUALITY_CONTROL][:1000]},
        ),
        Relay(
            "floor-inventory",
            (c, w, q),
            (count, made, made),
            {c: (u, 1, 1), w: (u, per_widget_updates, 100)},
            {u: found[INVENTORY_UPDATES][:2000]},
        ),
    ]
    relays = [replace(relay, consumer=consumer) for relay in relays]
    context = mp.get_context("spawn")
    results = context.Queue()
    processes = []
    for relay in relays:
        ready = context.Event()
        process = context.Process(target=run_relay, args=(bootstrap, relay, ready, results))
        process.start()
        processes.append((process, ready))
    for process, ready in processes:
        while not ready.wait(0.5):
            if not process.is_alive():
                sys.exit("a relay died before its group joined")
    broker_before = cpu_seconds(broker_pid) or 0.0
    source = context.Process(
        target=run_source, args=(bootstrap, c, found[COMPONENT_PRODUCTION], count, results)
    )
    source.start()
    reports = {}
    for _ in range(len(relays) + 1):
        name, first, done, cpu = results.get(timeout=600)
        reports[name] = (first, done, cpu)
    broker_cpu = (cpu_seconds(broker_pid) or 0.0) - broker_before
    source.join()
    for process, _ready in processes:
        process.join()
    started = reports["source"][0]
    ended = reports["floor-inventory"][1]
    wall = ended - started
    cpu = {name: round(r[2], 2) for name, r in reports.items()}
    timeline = {
        name: [round((r[0] or started) - started, 2), round(r[1] - started, 2)]
        for name, r in reports.items()
    }
    total = sum(r[2] for r in reports.values()) + broker_cpu
    return {
        "components": count,
        "consumer_settings": dict(consumer),
        "widgets": made,
        "checks": made,
        "per_widget": per_widget,
        "updates_per_widget": per_widget_updates / 100,
        "wall_s": round(wall, 2),
        "components_per_s": round(count / wall),
        "timeline_s": timeline,
        "cpu_s": {**cpu, "broker": round(broker_cpu, 2)},
        "cpu_us_per_component": {
            **{n: round(s * 1e6 / count, 1) for n, s in cpu.items()},
            "broker": round(broker_cpu * 1e6 / count, 1),
            "all": round(total * 1e6 / count, 1),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=300_000, help="components per floor run")
    parser.add_argument("--runs", type=int, default=2, help="raw and floor runs, alternating")
    parser.add_argument("--sample", default="10m", help="simulated time of the sample run")
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    parser.add_argument(
        "--consumer",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a librdkafka setting for the relays' consumers on top of the factory's, e.g."
        " --consumer fetch.queue.backoff.ms=1000 (librdkafka's default)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    try:
        consumer = tuple(parse_overrides(args.consumer).items())
    except ConfigError as exc:
        parser.error(f"--consumer: {exc}")
    with EmbeddedBroker() as broker:
        assert broker.pid is not None
        found = sample_factory(broker.bootstrap_servers, args.sample)
        print("sample: " + ", ".join(f"{t} {len(r):,}" for t, r in found.items()), file=sys.stderr)
        runs = []
        for run in range(args.runs):
            raw = measure_raw(_settings(broker.bootstrap_servers), args.raw_seconds)
            floor = measure_floor(
                broker.bootstrap_servers, broker.pid, found, args.components, run, consumer
            )
            floor["raw_per_s"] = round(raw.per_s)
            floor["ratio"] = round(floor["components_per_s"] / raw.per_s, 4)  # type: ignore[operator]
            runs.append(floor)
            print(
                f"run {run + 1}: raw {raw.per_s:,.0f}/s; floor {floor['components_per_s']:,}"
                f" components/s = {floor['ratio']} x raw; CPU per component (µs)"
                f" {floor['cpu_us_per_component']}",
                file=sys.stderr,
            )
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"load_at_end": round(load, 2), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
