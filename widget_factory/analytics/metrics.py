"""The records of ``factory-metrics``: one windowed aggregate per record.

Each record carries the envelope of the contract (``event_id``, ``event_type``
``factory_metric``, ``schema_version``), the metric's name (also the Kafka key), the
thing it is about (``key``: a machine, station, widget type, failure reason, SKU or
input), the window in simulated time and its values. ``event_id`` is derived from the
metric, key and window, so a window published twice (a restarted service) is one row
for a consumer that deduplicates by ``event_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from

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


class Metric(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    event_type: Literal["factory_metric"] = "factory_metric"
    schema_version: Literal[1] = 1
    metric: Annotated[str, Meta(min_length=1, max_length=64)]
    key: Annotated[str, Meta(min_length=1, max_length=200)]
    window_start: Annotated[datetime, Meta(tz=True)]
    window_end: Annotated[datetime, Meta(tz=True)]
    values: dict[str, Value]

    @property
    def kafka_key(self) -> str:
        return self.metric

    @property
    def timestamp_ms(self) -> int:
        """The record timestamp: the window's end in simulated epoch milliseconds."""
        return int(round(self.window_end.timestamp() * 1000))


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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Metric)


def encode_metric(metric: Metric) -> bytes:
    return _encoder.encode(metric)


def decode_metric(data: bytes | str) -> Metric:
    """A metric record; :class:`msgspec.ValidationError`/``DecodeError`` for anything else."""
    return _decoder.decode(data)
