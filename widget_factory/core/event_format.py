"""One readable line per event, for ``widget-factory tail`` and the monitor.

The walkthrough watched topics with ``kafka-console-consumer``, which prints raw JSON;
these lines carry the same facts in a form a person can follow at a glance, led by the
event's simulated time. Records that are not factory events (dead letters, metrics,
garbage) still get one line, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from widget_factory.schemas import (
    ComponentProduced,
    DelayTruth,
    Event,
    FactoryAlert,
    FactoryCommand,
    FaultTruth,
    InfluenceTruth,
    InventoryUpdate,
    MachineTelemetry,
    OeeTruth,
    ProductionOrder,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode,
)

__all__ = ["format_event", "format_record", "format_time", "format_duration"]

_PREVIEW = 120
"""Characters of an unreadable value shown in its line."""

_any_json = msgspec.json.Decoder()
_compact = msgspec.json.Encoder()


def format_time(moment: datetime) -> str:
    """``2026-11-25 08:00:15``: simulated time in UTC, to the second."""
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def format_duration(seconds: float) -> str:
    """``7m30s``, ``1h02m``, ``45s``: a simulated duration."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _component(e: ComponentProduced) -> str:
    defects = e.quality_metrics.defect_count
    return (
        f"component  {e.component_id} ({e.component_type}) on {e.machine_id}, "
        f"{e.production_line}, {e.quality_metrics.weight_grams:g} g"
        + (f", {_plural(defects, 'defect')}" if defects else "")
    )


def _widget(e: WidgetAssembled) -> str:
    order = f", order {e.order_id}" if e.order_id else ""
    return (
        f"widget     {e.widget_id} ({e.widget_type}) at {e.assembly_station_id} by "
        f"{e.worker_id} in {format_duration(e.assembly_duration_seconds)}{order}"
    )


def _check(e: QualityCheck) -> str:
    score = e.test_results.performance_score
    verdict = f"FAIL {', '.join(e.defects_found)}" if e.defects_found else "PASS"
    line = f"quality    {e.widget_id} ({e.widget_type}) {verdict} (score {score:g}) by {e.inspector_id}"
    traced = e.traced_to
    if traced is not None:
        source = traced.component_id or "a component"
        machine = f" of {traced.machine_id}" if traced.machine_id else ""
        line += f", traced to {source}{machine} ({traced.reason})"
    return line


def _telemetry(e: MachineTelemetry) -> str:
    m = e.metrics
    return (
        f"telemetry  {e.machine_id} {e.status.value}: {m.temperature_celsius:.1f} °C, "
        f"vibration {m.vibration_level:.1f}, {m.power_consumption_watts:.0f} W, "
        f"efficiency {m.efficiency_percent:.0f}%, {m.cycle_count} cycles"
    )


def _inventory(e: InventoryUpdate) -> str:
    return (
        f"inventory  {e.sku} {e.quantity_change:+d} -> {e.current_stock} ({e.reason}, {e.item_id})"
    )


def _order(e: ProductionOrder) -> str:
    return f"order      {e.order_id}: {e.quantity}x {e.widget_type}, priority {e.priority}"


def _alert(e: FactoryAlert) -> str:
    return f"alert      {e.severity.upper()} {e.source_id}: {e.message}"


def _command(e: FactoryCommand) -> str:
    args = "".join(f" {k}={v}" for k, v in sorted(e.args.items()))
    return f"command    {e.command} {e.target_id}{args}"


def _fault(e: FaultTruth) -> str:
    spell = f"from {format_time(e.started_at)}"
    if e.ended_at is not None:
        spell += f" to {format_time(e.ended_at)}"
    lost = f", {e.effects.units_not_made} {e.effects.unit}s not made" if e.effects else ""
    return f"truth      {e.kind} {e.phase} {e.target_id} ({e.cause}) {spell}{lost}"


def _oee(e: OeeTruth) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.0f}%"

    return (
        f"oee truth  {e.target_id} availability {pct(e.availability)}, performance "
        f"{pct(e.performance)}, quality {pct(e.quality)}, oee {pct(e.oee)} ({e.made} made)"
    )


def _delay(e: DelayTruth) -> str:
    return (
        f"delay truth {e.target_id} {e.topic}: {e.records_delayed} records held from "
        f"{format_time(e.started_at)}, sent late by up to {e.max_delay_s:.0f} s"
    )


def _influence(e: InfluenceTruth) -> str:
    parts = ", ".join(e.component_ids)
    traced = ", traced to it" if e.traced else ""
    return (
        f"influence  {e.kind} of {e.target_id} in {e.widget_id}: {e.status.value}{traced} ({parts})"
    )


def format_event(event: Event) -> str:
    """``<simulated time>  <kind>  <what happened>`` for any factory event."""
    if isinstance(event, ComponentProduced):
        body = _component(event)
    elif isinstance(event, WidgetAssembled):
        body = _widget(event)
    elif isinstance(event, QualityCheck):
        body = _check(event)
    elif isinstance(event, MachineTelemetry):
        body = _telemetry(event)
    elif isinstance(event, InventoryUpdate):
        body = _inventory(event)
    elif isinstance(event, ProductionOrder):
        body = _order(event)
    elif isinstance(event, FactoryAlert):
        body = _alert(event)
    elif isinstance(event, FactoryCommand):
        body = _command(event)
    elif isinstance(event, FaultTruth):
        body = _fault(event)
    elif isinstance(event, OeeTruth):
        body = _oee(event)
    elif isinstance(event, DelayTruth):
        body = _delay(event)
    elif isinstance(event, InfluenceTruth):
        body = _influence(event)
    else:  # pragma: no cover - every event type is listed above
        body = f"{event.event_type} {event.event_id}"
    return f"{format_time(event.occurred_at)}  {body}"


def _preview(value: bytes) -> str:
    text = value[:_PREVIEW].decode("utf-8", errors="replace")
    text = text.replace("\n", " ").replace("\r", " ")
    return text + ("..." if len(value) > _PREVIEW else "")


Headers = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


def _header_text(headers: Headers, name: str) -> str | None:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name:
            if value is None:
                return ""
            return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return None


def format_record(
    value: bytes | None,
    *,
    headers: Headers = (),
    where: str = "",
) -> str:
    """A line for any record: a factory event, a dead letter, other JSON, or garbage.

    ``where`` (e.g. ``widget-assembly[0]@41``) leads lines that are not events, so an
    odd record can be found again.
    """
    data = value or b""
    source = _header_text(headers, "source.topic")
    if source is not None:
        error = _header_text(headers, "error") or "unknown error"
        origin = (
            f"{source}[{_header_text(headers, 'source.partition')}]"
            f"@{_header_text(headers, 'source.offset')}"
        )
        service = _header_text(headers, "service")
        by = f" by {service}" if service else ""
        return f"{where}  dead letter from {origin}{by}: {error} | {_preview(data)}".lstrip()
    try:
        return format_event(decode(data))
    except SchemaError as exc:
        reason = str(exc)
    try:
        document = _any_json.decode(data)
    except msgspec.DecodeError:
        document = None
    if isinstance(document, dict) and "event_type" not in document:
        # Not an event of the contract (e.g. windowed metrics): show it compactly.
        return f"{where}  {_compact.encode(document).decode()[:400]}".lstrip()
    return f"{where}  unreadable record ({reason}): {_preview(data)}".lstrip()
