"""The analytics core: factory events in, windowed metrics out. Pure (no Kafka, no clock).

Events are added as they are read (``add_*``); :meth:`FactoryAnalytics.advance` is
given how far each input is complete (its frontier, see ``core.windows``) and returns
the metrics of every window that closed. Windows are tumbling, ``window_s`` simulated
seconds, aligned to the epoch; a window closes once the frontier of every input its
metrics depend on, minus ``lateness_s``, has passed its end. An event for a window
already closed is *late*: it is counted in ``late_events`` and left out (stock levels
still take it into account from then on, so they converge to the ledger).

Metric families and the inputs each waits for:

========== =========================================== =====================================
family     metrics                                     inputs
========== =========================================== =====================================
production machine_throughput                          components
assembly   station_throughput, assembly_time           widgets
quality    qc_pass_rate, qc_failure_reason             checks
machines   machine_oee (production machines)           telemetry, components
stations   machine_oee (assembly stations)             telemetry, widgets, checks
stock      stock_level                                 inventory
========== =========================================== =====================================

OEE, per machine and window: **availability** = running time / (observed time -
shutdown time - idle time), from the status of each telemetry report held until the next report of
that machine (gaps longer than 4 report intervals are not counted); **performance** =
nominal time of what was made / running time, at most 1 (nominal: the middle of the
machine's ``cycle_time_s``, or the widget type's ``assembly_time_s``); **quality** =
good / made (components without defects; for a station, checks passed / checks of its
widgets); **oee** = their product (None when a factor is undefined). Idle time is a
machine parked by kanban (its component at the stock ceiling, core/kanban.py): like a
shutdown it is planned, no demand to meet, so it is no availability loss, and since
performance and quality count only running time and output, OEE judges a parked machine
on the time it was asked to run.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping

from widget_factory.core.analytics_tallies import FamilyWindows, WindowTally, ratio, rounded
from widget_factory.core.metric_records import Metric, Value, make_metric
from widget_factory.core.windows import HOLD, percentile, split_interval
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import (
    ComponentProduced,
    InventoryUpdate,
    MachineStatus,
    MachineTelemetry,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
)

__all__ = ["FactoryAnalytics", "FAMILIES", "SOURCES", "DEFAULT_WINDOW_S", "DEFAULT_LATENESS_S"]

DEFAULT_WINDOW_S = 60.0
DEFAULT_LATENESS_S = 120.0

SOURCES = ("components", "widgets", "checks", "telemetry", "inventory")
"""The inputs, by the names ``advance`` takes frontiers under."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "production": ("components",),
    "assembly": ("widgets",),
    "quality": ("checks",),
    "machines": ("telemetry", "components"),
    "stations": ("telemetry", "widgets", "checks"),
    "stock": ("inventory",),
}

_WIDGET_MEMORY = 200_000


class FactoryAnalytics:
    def __init__(
        self,
        config: FactoryConfig,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        lateness_s: float = DEFAULT_LATENESS_S,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        if lateness_s < 0:
            raise ValueError(f"lateness_s must not be negative, got {lateness_s}")
        self.config = config
        self.window_s = window_s
        self.lateness_s = lateness_s
        self.families = {name: FamilyWindows(name) for name in FAMILIES}
        self._stations = set(config.station_by_id)
        self._machines = [m.id for m in config.machines]
        self._nominal_cycle = {m.id: sum(m.cycle_time_s) / 2 for m in config.machines}
        self._assembly_time = {n: w.assembly_time_s for n, w in config.widget_types.items()}
        self._max_gap = 4 * config.simulation.telemetry_interval_s
        self._last_report: dict[str, tuple[float, str]] = {}
        self._widget_station: OrderedDict[str, str] = OrderedDict()
        self._stock_base: Counter[str] = Counter()
        self._skus: set[str] = set()
        self.events = 0

    # --- inputs ----------------------------------------------------------------------------

    def _open(self, family: str, t: float, event_id: str | None = None) -> WindowTally | None:
        return self.families[family].window(t, self.window_s, event_id)

    def add_component(self, event: ComponentProduced) -> None:
        self.events += 1
        t = event.produced_at.timestamp()
        defective = event.quality_metrics.defect_count > 0
        window = self._open("production", t, event.event_id)
        if window is not None:
            window.counts[event.machine_id] += 1
            window.defective[event.machine_id] += defective
        window = self._open("machines", t, event.event_id)
        if window is not None:
            unit = window.unit(event.machine_id)
            unit.count_made(self._nominal_cycle.get(event.machine_id))
            unit.good += not defective

    def add_widget(self, event: WidgetAssembled) -> None:
        self.events += 1
        station = event.assembly_station_id
        self._widget_station[event.widget_id] = station
        if len(self._widget_station) > _WIDGET_MEMORY:
            self._widget_station.popitem(last=False)
        t = event.assembly_completed_at.timestamp()
        window = self._open("assembly", t, event.event_id)
        if window is not None:
            window.counts[station] += 1
            window.durations.setdefault(event.widget_type, []).append(
                event.assembly_duration_seconds
            )
        window = self._open("stations", t, event.event_id)
        if window is not None:
            window.unit(station).count_made(self._assembly_time.get(event.widget_type))

    def add_check(self, event: QualityCheck) -> None:
        self.events += 1
        t = event.checked_at.timestamp()
        passed = event.status is QualityStatus.PASS
        window = self._open("quality", t, event.event_id)
        if window is not None:
            window.checks[event.widget_type] += 1
            window.passed[event.widget_type] += passed
            if not passed:
                window.failed += 1
                for reason in set(event.defects_found):
                    window.reasons[reason] += 1
        station = self._widget_station.get(event.widget_id)
        if station is not None:
            window = self._open("stations", t, event.event_id)
            if window is not None:
                unit = window.unit(station)
                unit.inspected += 1
                unit.passed += passed

    def add_telemetry(self, event: MachineTelemetry) -> None:
        """Each report's status holds until that machine's next report."""
        self.events += 1
        machine = event.machine_id
        t = event.timestamp.timestamp()
        previous = self._last_report.get(machine)
        if previous is not None and t <= previous[0]:
            return  # a duplicate or an older report: its interval is already counted
        self._last_report[machine] = (t, event.status.value)
        if previous is None:
            return
        begin, status = previous
        end = min(t, begin + self._max_gap)
        family = self.families["stations" if machine in self._stations else "machines"]
        late = False
        for start, seconds in split_interval(begin, end, self.window_s):
            if family.closed_until is not None and start < family.closed_until:
                late = True
                continue
            window = family.windows.get(start)
            if window is None:
                window = family.windows[start] = WindowTally()
            window.unit(machine).status_s[status] += seconds
        if late:
            family.late += 1
            family.late_unreported += 1

    def add_inventory(self, event: InventoryUpdate) -> None:
        self.events += 1
        self._skus.add(event.sku)
        window = self._open("stock", event.updated_at.timestamp(), event.event_id)
        if window is None:
            self._stock_base[event.sku] += event.quantity_change  # late: counts from now on
            return
        window.change[event.sku] += event.quantity_change
        window.updates[event.sku] += 1

    # --- closing windows -------------------------------------------------------------------

    def advance(self, frontiers: Mapping[str, object]) -> list[Metric]:
        """Close every window the inputs' frontiers allow; their metrics, oldest first.

        ``frontiers`` maps a source name to a float (complete up to that event time),
        None (no data: constrains nothing) or ``HOLD`` (wait); a missing name is None.
        """
        out: list[Metric] = []
        for name, sources in FAMILIES.items():
            values = [frontiers.get(source) for source in sources]
            if any(v is HOLD for v in values):
                continue
            times = [float(v) for v in values if isinstance(v, int | float)]
            if not times:
                continue
            out.extend(self._close(name, min(times) - self.lateness_s))
        return out

    def flush(self) -> list[Metric]:
        """Close every open window (the inputs are finished)."""
        out: list[Metric] = []
        for name, family in self.families.items():
            if family.windows:
                out.extend(self._close(name, max(family.windows) + self.window_s))
        return out

    def _close(self, name: str, watermark: float) -> list[Metric]:
        family = self.families[name]
        cursor = family.closed_until
        if cursor is None:
            if not family.windows:
                return []
            cursor = min(family.windows)
        emit = _EMITTERS[name]
        out: list[Metric] = []
        size = self.window_s
        while cursor + size <= watermark:
            window = family.windows.pop(cursor, None) or WindowTally()
            out.extend(emit(self, cursor, cursor + size, window))
            if family.late_unreported:
                out.append(
                    make_metric(
                        "late_events",
                        name,
                        cursor,
                        cursor + size,
                        {"late": family.late_unreported, "late_total": family.late},
                    )
                )
                family.late_unreported = 0
            cursor += size
            family.closed_until = cursor
        return out

    # --- one closed window's metrics -------------------------------------------------------

    def _production(self, start: float, end: float, window: WindowTally) -> Iterable[Metric]:
        for machine in sorted(set(self._machines) | set(window.counts)):
            count = window.counts[machine]
            yield make_metric(
                "machine_throughput",
                machine,
                start,
                end,
                {
                    "components": count,
                    "defective": window.defective[machine],
                    "per_hour": round(count * 3600 / self.window_s, 3),
                },
            )

    def _assembly(self, start: float, end: float, window: WindowTally) -> Iterable[Metric]:
        for station in sorted(self._stations | set(window.counts)):
            count = window.counts[station]
            yield make_metric(
                "station_throughput",
                station,
                start,
                end,
                {"widgets": count, "per_hour": round(count * 3600 / self.window_s, 3)},
            )
        for widget_type in sorted(window.durations):
            durations = window.durations[widget_type]
            yield make_metric(
                "assembly_time",
                widget_type,
                start,
                end,
                {
                    "widgets": len(durations),
                    "avg_s": rounded(sum(durations) / len(durations), 3),
                    "p95_s": percentile(durations, 0.95),
                    "min_s": min(durations),
                    "max_s": max(durations),
                },
            )

    def _quality(self, start: float, end: float, window: WindowTally) -> Iterable[Metric]:
        for widget_type in sorted(window.checks):
            checks = window.checks[widget_type]
            passed = window.passed[widget_type]
            yield make_metric(
                "qc_pass_rate",
                widget_type,
                start,
                end,
                {
                    "checks": checks,
                    "passed": passed,
                    "failed": checks - passed,
                    "pass_rate": rounded(passed / checks),
                },
            )
        for reason in sorted(window.reasons):
            count = window.reasons[reason]
            yield make_metric(
                "qc_failure_reason",
                reason,
                start,
                end,
                {
                    "failures": count,
                    "failed_checks": window.failed,
                    "share": rounded(ratio(count, window.failed)),
                },
            )

    def _oee(
        self, start: float, end: float, window: WindowTally, stations: bool
    ) -> Iterable[Metric]:
        for unit_id in sorted(window.units):
            unit = window.units[unit_id]
            status = unit.status_s
            observed = sum(status.values())
            if observed <= 0:
                continue  # no telemetry in this window: nothing to say about time
            running = status[MachineStatus.RUNNING.value]
            planned_off = status[MachineStatus.SHUTDOWN.value] + status[MachineStatus.IDLE.value]
            availability = ratio(running, observed - planned_off)
            performance = (
                None if not unit.nominal_known else ratio(min(unit.nominal_s, running), running)
            )
            quality = (
                ratio(unit.passed, unit.inspected) if stations else ratio(unit.good, unit.made)
            )
            factors = (availability, performance, quality)
            oee: float | None = None
            if all(f is not None for f in factors):
                oee = (availability or 0.0) * (performance or 0.0) * (quality or 0.0)
            values: dict[str, Value] = {f"{s}_s": round(v, 3) for s, v in status.items()}
            values.update(
                {
                    "observed_s": round(observed, 3),
                    "made": unit.made,
                    "good": unit.good if not stations else unit.passed,
                    "inspected": unit.inspected if stations else unit.made,
                    "nominal_s": round(unit.nominal_s, 3),
                    "availability": rounded(availability),
                    "performance": rounded(performance),
                    "quality": rounded(quality),
                    "oee": rounded(oee),
                }
            )
            yield make_metric("machine_oee", unit_id, start, end, values)

    def _machines_oee(self, start: float, end: float, window: WindowTally) -> Iterable[Metric]:
        return self._oee(start, end, window, stations=False)

    def _stations_oee(self, start: float, end: float, window: WindowTally) -> Iterable[Metric]:
        return self._oee(start, end, window, stations=True)

    def _stock(self, start: float, end: float, window: WindowTally) -> Iterable[Metric]:
        for sku in sorted(self._skus):
            change = window.change[sku]
            self._stock_base[sku] += change
            yield make_metric(
                "stock_level",
                sku,
                start,
                end,
                {"level": self._stock_base[sku], "change": change, "updates": window.updates[sku]},
            )

    # --- introspection ---------------------------------------------------------------------

    def late_counts(self) -> dict[str, int]:
        return {name: family.late for name, family in self.families.items()}

    def open_windows(self) -> int:
        return sum(len(family.windows) for family in self.families.values())

    def stock_levels(self) -> dict[str, int]:
        """Stock per SKU from every update added so far (closed windows, open ones, late)."""
        levels = Counter(self._stock_base)
        for window in self.families["stock"].windows.values():
            levels.update(window.change)
        return {sku: levels[sku] for sku in sorted(self._skus)}


_Emitter = Callable[[FactoryAnalytics, float, float, WindowTally], Iterable[Metric]]
_EMITTERS: dict[str, _Emitter] = {
    "production": FactoryAnalytics._production,
    "assembly": FactoryAnalytics._assembly,
    "quality": FactoryAnalytics._quality,
    "machines": FactoryAnalytics._machines_oee,
    "stations": FactoryAnalytics._stations_oee,
    "stock": FactoryAnalytics._stock,
}
