"""What does the embedded broker's CPU in the bench's pipeline pay for?

Runs the bench's pipeline phase (the bench factory at unlimited speed on a fresh
embedded broker, as ``widget-factory bench --only pipeline`` does) with every Kafka
client of every service reporting librdkafka's statistics, then prints:

- the broker's CPU seconds before the first widget (start-up), while the pipeline flows,
  and during the audit afterwards, with µs per component end to end;
- per client, the requests it sent by type (Produce, Fetch, ListOffsets, OffsetCommit,
  ...), and in total per 1,000 components.

The statistics come from a ``sitecustomize`` module put on the services' ``PYTHONPATH``
for this run only: it wraps ``confluent_kafka.Producer`` and ``Consumer`` so that each
client writes its latest statistics (``statistics.interval.ms`` 500) to a folder. The
last half second of a client may be missing from its counts.

With ``--latency``, it runs the bench's latency phase instead (``bench --only latency``)
and prints its hops, the broker's CPU and each client's requests. ``--set
MATCH:KEY=VALUE`` (repeatable) changes a librdkafka setting of every client whose name
contains MATCH; a name is ``PID-consumer|producer-CLIENT_ID-GROUP_ID-N``, as printed.
This is how the table "Which readers the broker's core goes to" in docs/performance.md
was made, e.g. the components' status reader at a 100 ms fetch wait::

    python benchmarks/broker_requests.py --latency \
        --set consumer-components-status:fetch.wait.max.ms=100

With ``--costs``, it measures instead what one request of each kind costs the broker:
idle fetches (empty topic, then 300,000 records stored), one-record produce requests,
records produced in large batches and read back.

    python benchmarks/broker_requests.py --seconds 4
    python benchmarks/broker_requests.py --costs
    PYTHONPATH=/path/to/other/tree python benchmarks/broker_requests.py   # compare trees
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

_TREE = str(Path(__file__).resolve().parent.parent)
if not os.environ.get("PYTHONPATH"):  # else the tree given there is the one measured
    sys.path.insert(0, _TREE)

_HOOK = """
import itertools, os
import confluent_kafka

_out = os.environ["WIDGET_FACTORY_CLIENT_STATS"]
_count = itertools.count()


def _wrap(base, kind):
    class Reporting(base):
        def __init__(self, config, *args, **kwargs):
            config = dict(config)
            name = "-".join(
                [str(os.getpid()), kind, str(config.get("client.id", "")),
                 str(config.get("group.id", "")), str(next(_count))]
            )
            path = os.path.join(_out, name + ".json")

            def keep(text, path=path):
                with open(path, "w") as out:
                    out.write(text)

            config["statistics.interval.ms"] = 500
            config["stats_cb"] = keep
            for rule in filter(None, os.environ.get("WIDGET_FACTORY_CLIENT_SET", "").split(";")):
                match, setting = rule.split(":", 1)
                key, value = setting.split("=", 1)
                if match in name:
                    config[key] = value
            super().__init__(config, *args, **kwargs)

    Reporting.__name__ = base.__name__
    return Reporting


confluent_kafka.Producer = _wrap(confluent_kafka.Producer, "producer")
confluent_kafka.Consumer = _wrap(confluent_kafka.Consumer, "consumer")
"""

_SHOWN = ("Produce", "Fetch", "ListOffsets", "OffsetCommit", "Heartbeat", "Metadata")


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _requests(stats: dict) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for broker in stats.get("brokers", {}).values():
        counts.update({k: v for k, v in broker.get("req", {}).items() if v})
    return counts


def _report_clients(stats_dir: Path, per: int | None = None) -> None:
    """Each client's requests by type (and per 1,000 components, given ``per``)."""
    total: collections.Counter[str] = collections.Counter()
    print("requests per client (start-up and audit readers included):")
    for path in sorted(stats_dir.glob("*.json")):
        counts = _requests(json.loads(path.read_text()))
        total.update(counts)
        shown = {k: counts[k] for k in _SHOWN if counts[k]}
        if shown:
            print(f"  {path.stem[:58]:58s} {shown}")
    print("in all:", {k: total[k] for k in _SHOWN if total[k]})
    if per:
        print("per 1,000 components:", {k: round(1000 * total[k] / per, 1) for k in _SHOWN})


def _install_hook(settings: list[str]) -> Path:
    """Every client of the services started from here reports its statistics to the
    returned folder, with ``settings`` (MATCH:KEY=VALUE) applied."""
    stats_dir = Path(tempfile.mkdtemp(prefix="client-stats-"))
    hook_dir = Path(tempfile.mkdtemp(prefix="client-stats-hook-"))
    (hook_dir / "sitecustomize.py").write_text(_HOOK)
    os.environ["WIDGET_FACTORY_CLIENT_STATS"] = str(stats_dir)
    os.environ["WIDGET_FACTORY_CLIENT_SET"] = ";".join(settings)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(hook_dir), *filter(None, [os.environ.get("PYTHONPATH"), _TREE])]
    )
    return stats_dir


def latency(settings: list[str]) -> None:
    stats_dir = _install_hook(settings)
    from widget_factory.bench.runner import BenchOptions, run_bench

    doc = run_bench(BenchOptions(phases=("latency",)), progress=print)
    run = doc["latency"]
    print(f"load average {os.getloadavg()[0]:.1f}; settings changed: {settings or 'none'}")
    print(f"broker CPU {run['broker_cpu_s']} s in a {run['wall_s']} s run")
    for hop, figures in run["hops"].items():
        print(f"  {hop:9s} p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms")
    floor = run["floor"]
    print(
        f"  floor     p50 {floor['p50_ms']:6.1f} ms  p99 {floor['p99_ms']:6.1f} ms (one bare hop)"
    )
    _report_clients(stats_dir)


def pipeline(seconds: float, settings: list[str]) -> None:
    stats_dir = _install_hook(settings)
    from widget_factory.bench import bench_config_path
    from widget_factory.bench.cluster import BenchCluster
    from widget_factory.bench.factory_run import run_factory
    from widget_factory.bench.generation import START
    from widget_factory.bench.runner import _pipeline_duration

    cluster = BenchCluster(None)
    samples: list[tuple[float, float]] = []
    with cluster.phase() as settings:
        pid = cluster.broker_pid
        assert pid is not None
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), _cpu_s(pid)))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started, cpu_start = time.monotonic(), _cpu_s(pid)
        result = run_factory(
            settings,
            duration=_pipeline_duration(seconds),
            log_path=stats_dir / "pipeline.log",
            config=str(bench_config_path()),
            seed=1,
            start=START,
        )
        cpu_end = _cpu_s(pid)
        stop.set()
        sampler.join()

    def cpu_at(moment: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - moment))[1]

    ended = started + result.wall_s
    first = ended - (result.flowing_s or result.wall_s)
    used = result.counts.get("components_used", 0)
    per = 1e6 / used if used else 0.0
    flowing_cpu = cpu_at(ended) - cpu_at(first)
    print(f"{used} components end to end, audit {'passed' if result.audit_ok else 'FAILED'}")
    print(f"load average {os.getloadavg()[0]:.1f}; broker CPU (s) and µs per component:")
    for label, wall, cpu in (
        ("start-up", first - started, cpu_at(first) - cpu_start),
        ("flowing", ended - first, flowing_cpu),
        ("audit", time.monotonic() - ended, cpu_end - cpu_at(ended)),
        ("whole phase", time.monotonic() - started, cpu_end - cpu_start),
    ):
        print(f"  {label:12s} {wall:6.1f} s wall {cpu:6.2f} s CPU {cpu * per:6.1f} µs/component")
    print(
        "services, µs per component: "
        + ", ".join(f"{k} {v * per:.1f}" for k, v in sorted(result.cpu_s.items()))
    )
    _report_clients(stats_dir, per=used)


def costs() -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    from widget_factory.kafka_io.broker import EmbeddedBroker

    stats: dict[str, dict] = {}

    def keep(name: str):  # type: ignore[no-untyped-def]
        def callback(text: str) -> None:
            stats[name] = json.loads(text)

        return callback

    value = b"x" * 480
    with EmbeddedBroker() as broker:
        pid, bootstrap = broker.pid, broker.bootstrap_servers
        assert pid is not None
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(t, 6, 1) for t in ("full", "empty")]).values():
            future.result()

        def consumer(name: str, topic: str, offset: int) -> Consumer:
            c = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": name,
                    "fetch.wait.max.ms": 5,
                    "enable.auto.commit": False,
                    "statistics.interval.ms": 100,
                    "stats_cb": keep(name),
                }
            )
            c.assign([TopicPartition(topic, p, offset) for p in range(6)])
            return c

        def idle_fetches(label: str, topic: str, seconds: float = 4.0) -> None:
            names = [f"{label}-{i}" for i in range(4)]
            clients = [consumer(name, topic, -1) for name in names]
            for c in clients:
                c.consume(100, 0.5)
            before = sum(_requests(stats.get(n, {}))["Fetch"] for n in names)
            cpu, until = _cpu_s(pid), time.monotonic() + seconds
            while time.monotonic() < until:
                for c in clients:
                    c.consume(1000, 0.01)
            for c in clients:
                c.consume(1, 0.15)
            used = _cpu_s(pid) - cpu
            fetches = sum(_requests(stats.get(n, {}))["Fetch"] for n in names) - before
            print(f"  idle fetch of 6 partitions, {label}: {1e6 * used / max(fetches, 1):.0f} µs")
            for c in clients:
                c.close()

        print("embedded broker CPU per request:")
        idle_fetches("empty broker", "full")
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 50,
                "enable.idempotence": True,
                "statistics.interval.ms": 100,
                "stats_cb": keep("batched"),
            }
        )
        records, cpu = 300_000, _cpu_s(pid)
        for i in range(records):
            while True:
                try:
                    producer.produce("full", value, key=str(i % 600).encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush()
        producer.poll(0.3)
        used = _cpu_s(pid) - cpu
        requests = _requests(stats["batched"])["Produce"]
        print(
            f"  produce in large batches: {1e6 * used / records:.2f} µs per record "
            f"({records // max(requests, 1)} records per request)"
        )
        idle_fetches("300,000 records stored", "full")
        idle_fetches("an empty topic beside them", "empty")
        single = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 0,
                "enable.idempotence": True,
                "statistics.interval.ms": 100,
                "stats_cb": keep("single"),
            }
        )
        single.poll(0.3)
        cpu = _cpu_s(pid)
        for i in range(3000):
            single.produce("empty", value, key=str(i).encode())
            single.flush()
        single.poll(0.3)
        used = _cpu_s(pid) - cpu
        print(
            f"  produce request of one record: "
            f"{1e6 * used / max(_requests(stats['single'])['Produce'], 1):.0f} µs"
        )
        reader = consumer("reader", "full", -2)
        cpu, got, deadline = _cpu_s(pid), 0, time.monotonic() + 60
        while got < records and time.monotonic() < deadline:
            got += len(reader.consume(10_000, 0.1))
        print(
            f"  read back from the start: {1e6 * (_cpu_s(pid) - cpu) / max(got, 1):.2f} µs per record"
        )
        reader.close()
    print(f"(load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="pipeline size, as bench --duration"
    )
    parser.add_argument(
        "--costs", action="store_true", help="measure the cost of one request instead"
    )
    parser.add_argument(
        "--latency", action="store_true", help="run the bench's latency phase instead"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MATCH:KEY=VALUE",
        help="a librdkafka setting for every client whose name contains MATCH (repeatable)",
    )
    args = parser.parse_args()
    for rule in args.set:
        if ":" not in rule or "=" not in rule.split(":", 1)[1]:
            parser.error(f"--set {rule!r}: expected MATCH:KEY=VALUE")
    if args.costs:
        costs()
    elif args.latency:
        latency(args.set)
    else:
        pipeline(args.seconds, args.set)


if __name__ == "__main__":
    main()
