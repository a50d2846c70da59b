"""What the dashboard shows, built from the factory's events (pure: no Kafka, no web).

``DashboardState`` takes decoded events in (``add``), and ``snapshot()`` returns one
JSON-ready dict for the page. Times are simulated; "now" is the newest event time seen.
Throughput and recent pass rates cover the last simulated hour. Analytics' windowed
metrics (``factory-metrics``), when a service publishes them, add OEE per machine and
assembly times per widget type over the last 15 windows. The answer key
(``factory-ground-truth``) marks each machine or station in a true fault with its kind
and cause, lists the most recent faults (begin, and end once it came) beside the
alerts, and adds the true OEE over the same number of one-minute windows.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from widget_factory.core.clock import to_datetime
from widget_factory.core.metric_records import Metric
from widget_factory.dashboard.experiment_view import ExperimentView
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import (
    ComponentProduced,
    Event,
    FactoryAlert,
    FaultTruth,
    InventoryUpdate,
    MachineTelemetry,
    OeeTruth,
    ProductionOrder,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
)

__all__ = ["DashboardState", "RECENT_S", "METRIC_WINDOWS", "ANSWER_KEY_FAULTS"]

RECENT_S = 3600.0
"""Throughput and recent pass rates: the last simulated hour."""

METRIC_WINDOWS = 15
"""Analytics windows aggregated per machine / widget type."""

ANSWER_KEY_FAULTS = 8
"""Faults of the answer key listed on the page (the newest by start)."""

_MINUTE = 60.0


def _utc(t: float) -> str:
    return to_datetime(t).isoformat()


class DashboardState:
    def __init__(self, config: FactoryConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.version = 0
        self.now: float | None = None
        self.machines: dict[str, dict[str, Any]] = {}
        for m in config.machines:
            self.machines[m.id] = {
                "id": m.id,
                "kind": "machine",
                "machine_type": m.machine_type,
                "makes": m.component_type,
                "location": {
                    "building": m.location.building,
                    "floor": m.location.floor,
                    "line": m.location.line,
                },
                "status": "unknown",
            }
        for s in config.stations:
            self.machines[s.id] = {
                "id": s.id,
                "kind": "station",
                "machine_type": s.machine_type,
                "builds": list(s.builds),
                "location": {
                    "building": s.location.building,
                    "floor": s.location.floor,
                    "line": s.location.line,
                },
                "status": "unknown",
            }
        self.made_by: Counter[str] = Counter()
        self.stock: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.built_for_order: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.checked: Counter[str] = Counter()
        self._recent_components: deque[float] = deque()
        self._recent_widgets: deque[float] = deque()
        self._recent_checks: deque[tuple[float, str, bool]] = deque()
        self._per_minute: Counter[float] = Counter()
        self.alerts: deque[dict[str, Any]] = deque(maxlen=8)
        self.true_faults: dict[str, dict[str, Any]] = {}
        """Target id -> the fault it is in now, by the answer key (the latest begun of
        those going on: a quality drift may outlast its machine's shutdown)."""
        self._open_faults: dict[str, dict[str, dict[str, Any]]] = {}
        """Target id -> fault id -> every fault of the target going on."""
        self.answer_key: dict[str, dict[str, Any]] = {}
        """Fault id -> the newest faults, begin and (once it came) end."""
        self._true_oee: dict[str, deque[OeeTruth]] = {}
        self._oee: dict[str, deque[dict[str, Any]]] = {}
        self._assembly: dict[str, deque[dict[str, Any]]] = {}
        self.metrics_seen = 0
        self.lag: dict[str, dict[str, Any]] = {}
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self.connected = False
        self.experiments = ExperimentView(config)
        """Pass rate by components, machines down, stock against its kanban limits."""

    # --- events in -------------------------------------------------------------------------

    def _tick(self, t: float) -> None:
        if self.now is None or t > self.now:
            self.now = t

    def _fresh(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._seen_order.append(event_id)
        if len(self._seen_order) > 500_000:
            self._seen.discard(self._seen_order.popleft())
        return True

    def add(self, event: Event | Metric) -> None:
        with self._lock:
            self.version += 1
            if isinstance(event, Metric):
                self._add_metric(event)
                return
            if not self._fresh(event.event_id):
                return
            if isinstance(event, MachineTelemetry):
                self._add_telemetry(event)
            elif isinstance(event, ComponentProduced):
                t = event.produced_at.timestamp()
                self._tick(t)
                self.totals["components"] += 1
                self.made_by[event.machine_id] += 1
                self._recent_components.append(t)
                self._per_minute[t // _MINUTE * _MINUTE] += 1
            elif isinstance(event, WidgetAssembled):
                t = event.assembly_completed_at.timestamp()
                self._tick(t)
                self.totals["widgets"] += 1
                self.made_by[event.assembly_station_id] += 1
                self._recent_widgets.append(t)
                if event.order_id:
                    self.built_for_order[event.order_id] += 1
                self.experiments.add_widget(event)
            elif isinstance(event, QualityCheck):
                t = event.checked_at.timestamp()
                self._tick(t)
                ok = event.status is QualityStatus.PASS
                self.totals["checks"] += 1
                self.checked[event.widget_type] += 1
                self.passed[event.widget_type] += ok
                self._recent_checks.append((t, event.widget_type, ok))
                self.experiments.add_check(event)
            elif isinstance(event, InventoryUpdate):
                self._tick(event.updated_at.timestamp())
                self.stock[event.sku] = {
                    "sku": event.sku,
                    "kind": event.item_type,
                    "level": event.current_stock,
                }
            elif isinstance(event, ProductionOrder):
                self._tick(event.created_at.timestamp())
                self.orders[event.order_id] = {
                    "order_id": event.order_id,
                    "widget_type": event.widget_type,
                    "quantity": event.quantity,
                    "priority": event.priority,
                    "created_at": event.created_at.timestamp(),
                }
            elif isinstance(event, FaultTruth):
                self._add_fault(event)
            elif isinstance(event, OeeTruth):
                # machines only: a station's true OEE counts starvation and no-demand time
                # apart, which the stations' measured OEE beside it cannot see
                if event.target_type != "station":
                    windows = self._true_oee.setdefault(
                        event.target_id, deque(maxlen=METRIC_WINDOWS)
                    )
                    windows.append(event)
            elif isinstance(event, FactoryAlert):
                self.alerts.appendleft(
                    {
                        "severity": event.severity,
                        "source": event.source_id,
                        "message": event.message,
                        "at": _utc(event.raised_at.timestamp()),
                    }
                )

    def _add_telemetry(self, event: MachineTelemetry) -> None:
        t = event.timestamp.timestamp()
        self._tick(t)
        machine = self.machines.get(event.machine_id)
        if machine is None:
            machine = self.machines[event.machine_id] = {
                "id": event.machine_id,
                "kind": "machine",
                "machine_type": event.machine_type,
                "location": {
                    "building": event.location.building,
                    "floor": event.location.floor,
                    "line": event.location.line,
                },
                "status": "unknown",
            }
        if machine.get("reported_at", float("-inf")) > t:
            return
        machine["reported_at"] = t
        machine["status"] = event.status.value
        machine["temperature"] = round(event.metrics.temperature_celsius, 1)
        machine["efficiency"] = round(event.metrics.efficiency_percent, 1)
        machine["vibration"] = round(event.metrics.vibration_level, 2)

    def _add_fault(self, event: FaultTruth) -> None:
        started = event.started_at.timestamp()
        entry = self.answer_key.get(event.fault_id)
        if entry is None:
            entry = {
                "fault_id": event.fault_id,
                "target": event.target_id,
                "kind": event.kind,
                "cause": event.cause,
                "started_at": started,
                "ended_at": None,
                "open_at_end": False,
            }
            self.answer_key[event.fault_id] = entry
            if len(self.answer_key) > ANSWER_KEY_FAULTS:
                oldest = min(self.answer_key.values(), key=lambda f: f["started_at"])
                del self.answer_key[oldest["fault_id"]]
        going_on = self._open_faults.setdefault(event.target_id, {})
        if event.phase == "begin":
            if entry["ended_at"] is None:  # (an end read first leaves it ended)
                going_on[event.fault_id] = entry
        else:
            entry["ended_at"] = event.ended_at.timestamp() if event.ended_at else started
            entry["open_at_end"] = event.open_at_end
            going_on.pop(event.fault_id, None)
        if going_on:
            latest = max(going_on.values(), key=lambda f: (f["started_at"], f["fault_id"]))
            self.true_faults[event.target_id] = latest
        else:
            self.true_faults.pop(event.target_id, None)

    def _add_metric(self, metric: Metric) -> None:
        self.metrics_seen += 1
        if metric.metric == "machine_oee":
            windows = self._oee.setdefault(metric.key, deque(maxlen=METRIC_WINDOWS))
            windows.append(dict(metric.values))
        elif metric.metric == "assembly_time":
            windows = self._assembly.setdefault(metric.key, deque(maxlen=METRIC_WINDOWS))
            windows.append(dict(metric.values))

    def set_lag(self, lag: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            self.lag = lag
            self.version += 1

    # --- the page's view -------------------------------------------------------------------

    def _trim(self) -> None:
        if self.now is None:
            return
        horizon = self.now - RECENT_S
        for queue in (self._recent_components, self._recent_widgets):
            while queue and queue[0] < horizon:
                queue.popleft()
        while self._recent_checks and self._recent_checks[0][0] < horizon:
            self._recent_checks.popleft()
        for minute in [m for m in self._per_minute if m < horizon - _MINUTE]:
            del self._per_minute[minute]

    @staticmethod
    def _oee_of(windows: deque[dict[str, Any]]) -> dict[str, Any]:
        # idle (parked by kanban) is planned time out of production, like a shutdown
        running = sum(w.get("running_s") or 0 for w in windows)
        observed = sum(w.get("observed_s") or 0 for w in windows)
        shutdown = sum(w.get("shutdown_s") or 0 for w in windows)
        shutdown += sum(w.get("idle_s") or 0 for w in windows)  # kanban idle: planned too
        nominal = sum(w.get("nominal_s") or 0 for w in windows)
        made = sum(w.get("inspected") or 0 for w in windows)
        good = sum(w.get("good") or 0 for w in windows)
        availability = running / (observed - shutdown) if observed - shutdown > 0 else None
        performance = min(nominal, running) / running if running > 0 else None
        quality = good / made if made > 0 else None
        oee = (
            availability * performance * quality
            if None not in (availability, performance, quality)
            else None
        )

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "availability": r(availability),
            "performance": r(performance),
            "quality": r(quality),
            "oee": r(oee),
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._trim()
            now = self.now
            machines = []
            for machine in self.machines.values():
                view = {k: v for k, v in machine.items() if k != "reported_at"}
                view["made"] = self.made_by[machine["id"]]
                windows = self._oee.get(machine["id"])
                view["oee"] = self._oee_of(windows) if windows else None
                truth = self._true_oee.get(machine["id"])
                view["true_oee"] = _true_oee_of(truth) if truth else None
                fault = self.true_faults.get(machine["id"])
                view["true_fault"] = (
                    None
                    if fault is None
                    else {
                        "kind": fault["kind"],
                        "cause": fault["cause"],
                        "since": _utc(fault["started_at"]),
                    }
                )
                machines.append(view)
            orders = []
            units_open = 0
            for order in self.orders.values():
                built = min(self.built_for_order[order["order_id"]], order["quantity"])
                units_open += order["quantity"] - built
                orders.append({**order, "built": built, "created_at": _utc(order["created_at"])})
            open_orders = [o for o in orders if o["built"] < o["quantity"]]
            open_orders.sort(key=lambda o: (-o["priority"], o["created_at"]))
            recent: dict[str, list[int]] = {}
            for _, widget_type, ok in self._recent_checks:
                pair = recent.setdefault(widget_type, [0, 0])
                pair[0] += 1
                pair[1] += ok
            widget_types = sorted(set(self.config.widget_types) | set(self.checked))
            quality = [
                {
                    "widget_type": w,
                    "checks": self.checked[w],
                    "passed": self.passed[w],
                    "pass_rate": round(self.passed[w] / self.checked[w], 3)
                    if self.checked[w]
                    else None,
                    "recent_checks": recent.get(w, [0, 0])[0],
                    "recent_pass_rate": round(recent[w][1] / recent[w][0], 3)
                    if recent.get(w, [0])[0]
                    else None,
                }
                for w in widget_types
            ]
            assembly = []
            for widget_type, windows in sorted(self._assembly.items()):
                count = sum(w.get("widgets") or 0 for w in windows)
                total = sum((w.get("avg_s") or 0) * (w.get("widgets") or 0) for w in windows)
                assembly.append(
                    {
                        "widget_type": widget_type,
                        "widgets": count,
                        "avg_s": round(total / count, 1) if count else None,
                        "p95_s": round(max((w.get("p95_s") or 0) for w in windows), 1),
                    }
                )
            minutes = []
            if now is not None:
                last = now // _MINUTE * _MINUTE
                minutes = [self._per_minute.get(last - i * _MINUTE, 0) for i in range(59, -1, -1)]
            checks = self.totals["checks"]
            return {
                "version": self.version,
                "connected": self.connected,
                "sim_time": _utc(now) if now is not None else None,
                "totals": {
                    "components": self.totals["components"],
                    "widgets": self.totals["widgets"],
                    "checks": checks,
                    "passed": sum(self.passed.values()),
                    "pass_rate": round(sum(self.passed.values()) / checks, 3) if checks else None,
                    "orders": len(self.orders),
                    "open_orders": len(open_orders),
                    "units_open": units_open,
                    **self.experiments.machines_down(machines),
                },
                "throughput": {
                    "components_per_hour": len(self._recent_components),
                    "widgets_per_hour": len(self._recent_widgets),
                    "components_per_minute": minutes,
                },
                "machines": machines,
                "stock": sorted(self.stock.values(), key=lambda s: (s["kind"], s["sku"])),
                "kanban": self.experiments.kanban,
                "orders": open_orders[:12],
                "quality": quality,
                "quality_by_parts": self.experiments.quality_by_parts(),
                "assembly": assembly,
                "metrics_seen": self.metrics_seen,
                "lag": self.lag,
                "alerts": list(self.alerts),
                "answer_key": [
                    {
                        **f,
                        "started_at": _utc(f["started_at"]),
                        "ended_at": None if f["ended_at"] is None else _utc(f["ended_at"]),
                    }
                    for f in sorted(
                        self.answer_key.values(), key=lambda f: f["started_at"], reverse=True
                    )
                ],
            }


def _true_oee_of(windows: deque[OeeTruth]) -> dict[str, Any]:
    """The answer key's OEE over its last windows, combined as the analytics' are:
    sums of producing, shut-down, observed and nominal time, made and good."""
    producing = sum(w.producing_s for w in windows)
    shutdown = sum(w.shutdown_s for w in windows)
    observed = sum((w.window_end - w.window_start).total_seconds() for w in windows)
    made = sum(w.made for w in windows)
    good = sum(w.good for w in windows)
    # nominal time is not in the record; performance x producing time gives it back
    nominal = sum((w.performance or 0.0) * w.producing_s for w in windows)
    availability = producing / (observed - shutdown) if observed - shutdown > 0 else None
    performance = nominal / producing if producing > 0 else None
    quality = good / made if made > 0 else None
    oee = (
        availability * performance * quality
        if availability is not None and performance is not None and quality is not None
        else None
    )
    return {
        k: None if v is None else round(v, 3)
        for k, v in (
            ("availability", availability),
            ("performance", performance),
            ("quality", quality),
            ("oee", oee),
        )
    }
