"""Does the embedded broker's delivery time grow with what it stores, and do fewer,
larger batches keep it flat?

A producer sends ``--rate`` records a second (466-byte values carrying their send
time) for ``--seconds`` to a topic of ``--partitions`` partitions on a fresh embedded
broker; one consumer (no group, every partition from the start, 5 ms fetch wait) notes
when each arrives. Per second of the run: the p99 from send to arrival, and the broker's
CPU seconds. One line per producer ``linger.ms`` given.

    python benchmarks/broker_batches.py --linger 5 20 --seconds 15
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from widget_factory.kafka_io.broker import EmbeddedBroker  # noqa: E402


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(linger: int, partitions: int, seconds: int, rate: int) -> str:
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        assert broker.pid is not None
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("t", partitions, 1)])["t"].result()
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": linger,
                "enable.idempotence": True,
                "acks": "all",
            }
        )
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "probe", "fetch.wait.max.ms": 5}
        )
        consumer.assign([TopicPartition("t", p, OFFSET_BEGINNING) for p in range(partitions)])
        arrivals: list[tuple[float, float]] = []
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set():
                for message in consumer.consume(1000, 0.05):
                    if message.error() is None:
                        now = time.time()
                        arrivals.append((now, now - float(message.value()[:20])))

        reader = threading.Thread(target=consume)
        reader.start()
        time.sleep(1.0)
        began, cpu_began = time.time(), _cpu_s(broker.pid)
        cpu_marks: list[float] = []
        sent = 0
        padding = b"x" * 446
        while time.time() - began < seconds:
            due = began + sent / rate
            if time.time() < due:
                producer.poll(0.0005)
                continue
            producer.produce("t", b"%20.6f" % time.time() + padding, str(sent).encode())
            sent += 1
            producer.poll(0)
            if time.time() - began >= len(cpu_marks) + 1:
                cpu_marks.append(_cpu_s(broker.pid))
        producer.flush(10)
        time.sleep(0.5)
        stop.set()
        reader.join()
        consumer.close()
        p99s = []
        for second in range(seconds):
            window = sorted(d for at, d in arrivals if began + second <= at < began + second + 1)
            if window:
                p99s.append(round(window[max(0, int(len(window) * 0.99) - 1)] * 1000))
        cpu = [round(b - a, 2) for a, b in zip([cpu_began, *cpu_marks], cpu_marks, strict=False)]
        return (
            f"linger.ms {linger}, {partitions} partitions, {rate}/s: p99 ms per second {p99s}; "
            f"broker CPU s per second {cpu}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linger", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()
    for linger in args.linger:
        print(measure(linger, args.partitions, args.seconds, args.rate), flush=True)


if __name__ == "__main__":
    main()
