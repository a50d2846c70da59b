"""The records of ``factory-metrics``: one windowed aggregate per record.

Each record carries the envelope of the contract (``event_id``, ``event_type``
``factory_metric``, ``schema_version``), the metric's name (also the Kafka key), the
thing it is about (``key``: a machine, station, widget type, failure reason, SKU or
input), the window in simulated time and its values. ``event_id`` is derived from the
metric, key and window, so a window published twice (a restarted service) is one row
for a consumer that deduplicates by ``event_id``.
"""

from __future__ import annotations

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.schemas import FactoryMetric, decode_as, encode

__all__ = ["METRICS", "Metric", "make_metric", "encode_metric", "decode_metric"]

METRICS: dict[str, str] = {
    "machine_throughput": "components made by a production machine (key: machine id)",
    "station_throughput": "widgets assembled by a station (key: station id)",
    "assembly_time": "assembly duration of widgets completed, average and p95 (key: widget type)",
    "qc_pass_rate": "quality checks and their pass rate (key: widget type)",
    "qc_failure_reason": "failed checks naming a defect (key: defect)",
    "machine_oee": "availability x performance x quality (key: machine or station id)",
    "stock_level": "stock after the window and its net change (key: SKU)",
    "late_events": "events that arrived after their window closed (key: metric family)",
}
"""Every metric the analytics service publishes, with what it counts."""

Value = float | int | None


Metric = FactoryMetric
"""The record type, defined with every other event in :mod:`widget_factory.schemas`."""


def make_metric(
    metric: str, key: str, start: float, end: float, values: dict[str, Value]
) -> Metric:
    return Metric(
        event_id=event_id_from("metric", metric, key, repr(start), repr(end)),
        metric=metric,
        key=key,
        window_start=to_datetime(start),
        window_end=to_datetime(end),
        values=values,
    )


def encode_metric(metric: Metric) -> bytes:
    return encode(metric)


def decode_metric(data: bytes | str) -> Metric:
    """A metric record; :class:`widget_factory.schemas.SchemaError` for anything else."""
    return decode_as(data, FactoryMetric)
