"""Bytes the assembly service keeps per component it holds in stock (no Kafka).

    python benchmarks/assembly_memory.py [--components 100000]

At unlimited speed the assembly reads far ahead of its virtual clock: in the bench's
pipeline phase its stations held up to ~158,000 components in stock at once, and the
intake remembers the last 50,000 event ids. This builds that state from decoded records
(as the service does: every string fresh from the decoder) and reports what it costs
in Python memory (tracemalloc), per component.
"""

from __future__ import annotations

import argparse
import random
import tracemalloc

from widget_factory.bench import bench_config_path
from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource
from widget_factory.core.intake import EventMemory
from widget_factory.factory_config import load_config
from widget_factory.schemas import (
    ComponentProduced,
    Dimensions,
    ProductionOrder,
    QualityMetrics,
    decode_as,
    encode,
)

START = 1_767_225_600.0


def records(count: int) -> list[bytes]:
    """``count`` encoded component records of the bench factory's types."""
    config = load_config(bench_config_path())
    types = sorted(config.component_types)
    ids = IdSource(random.Random(7))
    out = []
    for n in range(count):
        kind = types[n % len(types)]
        event = ComponentProduced(
            event_id=ids.event_id(),
            component_id=ids.component_id(kind),
            component_type=kind,
            machine_id=f"{kind.upper()}_MACHINE_{n % 3 + 1:02d}",
            batch_id=f"BATCH_{n // 100:06d}",
            produced_at=to_datetime(START + n * 0.01),
            quality_metrics=QualityMetrics(0.98, Dimensions(10.1, 5.2, 1.3), 22.4, n % 2),
            production_line="LINE_A",
        )
        out.append(encode(event))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=100_000)
    args = parser.parse_args()
    config = load_config(bench_config_path())
    encoded = records(args.components)
    planner = AssemblyPlanner(
        config, [s.id for s in config.stations], random.Random(1), IdSource(random.Random(2))
    )
    widget_type = sorted(config.widget_types)[0]
    planner.add_order(
        ProductionOrder(
            event_id="order-1",
            order_id="ORDER_1",
            widget_type=widget_type,
            quantity=1_000_000,
            priority=1,
            created_at=to_datetime(START + 1e9),
        )
    )
    memory = EventMemory(50_000)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for value in encoded:
        event = decode_as(value, ComponentProduced, topic="component-production")
        memory.check(event)
        planner.receive_component(event)
    planner.take_changes()
    held = tracemalloc.get_traced_memory()[0] - base
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    n = args.components
    print(f"{n:,} components in stock, {len(memory):,} event ids remembered")
    print(f"Python memory held: {held / 2**20:.1f} MiB, {held / n:.0f} bytes per component")
    for stat in snapshot.statistics("lineno")[:8]:
        print(f"  {stat.size / 2**20:6.1f} MiB  {stat.traceback}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
