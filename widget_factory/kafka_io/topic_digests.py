"""A digest per topic of everything a cluster holds: how a rerun proves it wrote the
same records (``tests/integration/test_reproducible.py``, ``benchmarks/topic_digests.py``).

Each partition's records (timestamp, key, value) are hashed in offset order. Topics
several services write are hashed as sets per partition: how two producers' records
interleave depends on timing, while each service's own records keep their order. The
stations' changelog is left out: it is private state carrying consumer positions,
which depend on how the input arrived.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    ASSEMBLY_CHANGELOG,
    FACTORY_ALERTS,
    FACTORY_DEADLETTER,
    FACTORY_GROUND_TRUTH,
    TOPICS,
)

__all__ = ["NOT_COMPARED", "SHARED", "topic_digests"]

SHARED = frozenset({FACTORY_ALERTS, FACTORY_GROUND_TRUTH, FACTORY_DEADLETTER})
"""Topics several services write: compared as sets of records per partition."""

NOT_COMPARED = frozenset({ASSEMBLY_CHANGELOG})
"""The stations' changelog: its records carry the consumer positions of each step."""


def topic_digests(bootstrap: str) -> dict[str, tuple[int, str]]:
    """Per compared topic: the records read and a SHA-256 over its partitions."""
    settings = KafkaSettings(bootstrap, source="flag")
    out = {}
    for spec in TOPICS:
        if spec.name in NOT_COMPARED:
            continue
        partitions: dict[int, list[bytes]] = defaultdict(list)
        for m in read_to_end(settings, [spec.name]):
            record = b"%d|%s|%s" % (m.timestamp()[1], m.key() or b"", m.value() or b"")
            partitions[int(m.partition() or 0)].append(record)
        digest = hashlib.sha256()
        for partition in sorted(partitions):
            records = partitions[partition]
            for record in sorted(records) if spec.name in SHARED else records:
                digest.update(b"%d:" % partition + hashlib.sha256(record).digest())
        out[spec.name] = (sum(map(len, partitions.values())), digest.hexdigest())
    return out
