"""``widget-factory bench``: the factory's speed against the broker's limit, in one run.

Five measurements against the same broker on the same machine (docs/performance.md
defines each one precisely):

1. **raw** (:mod:`.raw`): a bare confluent-kafka producer with the factory's producer
   settings sending pre-serialized records the size of a component event: the ceiling
   for a Python producer here;
2. **generation** (:mod:`.generation`): the component and telemetry services at
   unlimited speed, building, serializing and sending real events;
3. **pipeline** (:mod:`.factory_run`): components flowing end to end (production,
   assembly, quality control, inventory) at unlimited speed, on the bench factory
   (``bench_factory.toml``), measured until every stage has drained;
4. **latency** (:mod:`.latency`): per-hop processing latency at a steady 1,000
   components per second;
5. **virtual day** (:mod:`.factory_run`): how long 24 simulated hours of the reference
   factory take.

Every factory run ends with the audit of what it produced; the services' peak resident
memory is sampled throughout. :mod:`.runner` runs the phases, :mod:`.report` prints them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["BENCH_CONFIG_NAME", "bench_config_path"]

BENCH_CONFIG_NAME = "bench_factory.toml"


def bench_config_path() -> Path:
    """The bench factory's TOML file, as shipped inside the package."""
    return Path(str(resources.files(__name__).joinpath(BENCH_CONFIG_NAME)))
