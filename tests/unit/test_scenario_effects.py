"""The shipped scenarios' claims, judged on synthetic event tallies (no broker).

For each of the walkthrough's experiments (and back-pressure) the same claims the
scenario file makes are fed two made-up factories: one that shows the experiment's
before/after effect, where every claim must hold, and one where nothing happens (the
outage never stops production, flawed parts spoil nothing, kanban is missing ...),
where the claims that carry the experiment must fail. So a claim can neither pass on
any run at all nor miss the effect it names.
"""

from __future__ import annotations

import uuid
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_scenarios_core import component_at
from widget_factory import schemas as s
from widget_factory.core.kanban import kanban_limits
from widget_factory.core.scenario_checks import evaluate
from widget_factory.core.scenario_stats import Observations
from widget_factory.scenarios import load_scenario
from widget_factory.scenarios.runner import prepare_config

START = datetime(2026, 3, 2, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def _eid() -> str:
    return str(uuid.uuid4())


def _spread(start_h: float, end_h: float, per_hour: float) -> list[float]:
    """Evenly spaced times (hours) at ``per_hour`` over [start_h, end_h)."""
    n = round((end_h - start_h) * per_hour)
    return [start_h + (i + 0.5) / per_hour for i in range(n)]


class Tally:
    """A made-up run of a shipped scenario: events by simulated hour since its start."""

    def __init__(self, name: str) -> None:
        self.scenario, _folder = load_scenario(name)
        self.config, _text = prepare_config(self.scenario, None, None)
        self.o = Observations(
            START.timestamp(), self.scenario.duration, self.config, self.scenario.settle
        )
        self._open: deque[list] = deque()  # [order id, units left, created (h)]
        self._unchecked: deque[s.WidgetAssembled] = deque()
        self._levels: dict[str, int] = {}

    def components(self, start_h: float, end_h: float, per_hour: float, sku: str) -> None:
        for t in _spread(start_h, end_h, per_hour):
            self.o.add(component_at(_at(t), sku))

    def order(self, at_h: float, quantity: int, widget_type: str = "basic_widget") -> None:
        order_id = f"ORDER_{uuid.uuid4().hex[:8].upper()}"
        self._open.append([order_id, quantity, at_h])
        self.o.add(
            s.ProductionOrder(
                event_id=_eid(),
                order_id=order_id,
                widget_type=widget_type,
                quantity=quantity,
                priority=2,
                created_at=_at(at_h),
            )
        )

    def widgets(
        self,
        start_h: float,
        end_h: float,
        per_hour: float,
        widget_type: str = "basic_widget",
        *,
        passed: float = 1.0,
        defects: int = 0,
        degraded: bool = False,
        time_ratio: float = 1.0,
        checked: bool = True,
    ) -> None:
        """Widgets built for the oldest open orders; checked a minute later (``passed``
        of them pass, spread evenly) unless ``checked`` is False (see :meth:`checks`)."""
        duration = self.config.widget_types[widget_type].assembly_time_s * time_ratio
        flaws = (
            [s.ComponentFlaw("COMP_CIRCUIT_BOARD_0000abcd", "PCB_ASSEMBLER_01", defects, degraded)]
            if defects or degraded
            else []
        )
        for i, t in enumerate(_spread(start_h, end_h, per_hour)):
            order_id = None
            if self._open and self._open[0][2] <= t:
                order_id = self._open[0][0]
                self._open[0][1] -= 1
                if not self._open[0][1]:
                    self._open.popleft()
            widget = s.WidgetAssembled(
                event_id=_eid(),
                widget_id=f"WIDGET_{widget_type.upper()}_{uuid.uuid4().hex[:8]}",
                widget_type=widget_type,
                assembly_station_id="ASSEMBLY_STATION_A",
                component_ids=["COMP_METAL_FRAME_a1b2c3d4"],
                assembly_started_at=_at(t) - timedelta(seconds=duration),
                assembly_completed_at=_at(t),
                assembly_duration_seconds=duration,
                worker_id="WORKER_001",
                batch_id="B",
                order_id=order_id,
                component_defects=defects,
                component_flaws=flaws,
            )
            self.o.add(widget)
            if checked:
                ok = int((i + 1) * passed) > int(i * passed)
                self._check(widget, t + 1 / 60, ok)
            else:
                self._unchecked.append(widget)

    def checks(self, start_h: float, end_h: float, per_hour: float) -> None:
        """Quality control works through the oldest unchecked widgets at ``per_hour``."""
        for t in _spread(start_h, end_h, per_hour):
            if self._unchecked:
                self._check(self._unchecked.popleft(), t, True)

    def _check(self, widget: s.WidgetAssembled, at_h: float, ok: bool) -> None:
        self.o.add(
            s.QualityCheck(
                event_id=_eid(),
                check_id=f"QC_{uuid.uuid4().hex[:8]}",
                widget_id=widget.widget_id,
                widget_type=widget.widget_type,
                inspector_id="QC_INSPECTOR_A",
                checked_at=_at(at_h),
                status=s.QualityStatus.PASS if ok else s.QualityStatus.FAIL,
                test_results=s.TestResults(ok, True, True, 90.0),
                defects_found=[] if ok else ["electrical_failure"],
            )
        )

    def stock(self, sku: str, *levels: tuple[float, int]) -> None:
        """The stock of ``sku`` moves to each (hour, level) in turn."""
        for at_h, level in levels:
            change = level - self._levels.get(sku, 0)
            self._levels[sku] = level
            self.o.add(
                s.InventoryUpdate(
                    event_id=_eid(),
                    item_type="component",
                    sku=sku,
                    item_id="X",
                    warehouse_location="WAREHOUSE_MAIN",
                    quantity_change=change,
                    current_stock=level,
                    updated_at=_at(at_h),
                    reason="production" if change >= 0 else "assembly_consumption",
                    batch_id="B",
                )
            )

    def alert(self, at_h: float, kind: str, source: str) -> None:
        self.o.add(
            s.FactoryAlert(
                event_id=_eid(),
                alert_id=f"ALERT_{uuid.uuid4().hex[:8]}",
                severity="warning",
                source_id=source,
                message=kind,
                raised_at=_at(at_h),
                kind=kind,
            )
        )

    def reports(self, start_h: float, end_h: float, status: str, efficiency: float) -> None:
        for t in _spread(start_h, end_h, 4):
            self.o.add(
                s.MachineTelemetry(
                    event_id=_eid(),
                    machine_id="FRAME_MACHINE_01",
                    machine_type="metal_forming",
                    timestamp=_at(t),
                    status=s.MachineStatus(status),
                    metrics=s.TelemetryMetrics(50.0, 2.0, 2200.0, 1, efficiency),
                    location=s.Location("A", 1, "A"),
                )
            )

    def lag(self, *samples: tuple[float, int]) -> None:
        for at_h, value in samples:
            self.o.add_lag(at_h * 3600, "quality-control", value)

    def verdicts(self) -> list[bool | None]:
        self.o.finish()
        return [outcome.ok for outcome in evaluate(self.scenario, self.o)]


# --- 1. supply chain disruption -----------------------------------------------------------


def _supply(stops: bool, recovers: bool) -> list[bool | None]:
    f = Tally("supply-disruption")  # normal 0-1 h, production stopped 1-3 h, recovery 3-8 h
    f.order(0.0, 30)
    f.components(0, 1, 200, "circuit_board")
    f.widgets(0, 1, 20)
    f.order(1.5, 30)  # a customer orders meanwhile
    if stops:
        f.widgets(1, 3, 1)  # the last components in stock
    else:
        f.components(1, 3, 200, "circuit_board")
        f.widgets(1, 3, 20)
    if recovers:
        f.components(3, 8, 120, "circuit_board")
        f.widgets(3, 8, 25)
    return f.verdicts()


def test_supply_disruption_claims_see_the_outage_and_the_recovery() -> None:
    assert _supply(stops=True, recovers=True) == [True] * 5


def test_supply_disruption_claims_fail_when_production_never_stops() -> None:
    # nothing stops, nothing piles up, so no backlog is there to clear either
    assert _supply(stops=False, recovers=True) == [False, False, False, True, False]


def test_supply_disruption_claims_fail_when_it_never_recovers() -> None:
    assert _supply(stops=True, recovers=False) == [True, True, True, False, False]


# --- 2. quality issues ----------------------------------------------------------------------


def _quality(flaws_matter: bool) -> list[bool | None]:
    f = Tally("quality-issues")
    spoiled = 0.6 if flaws_matter else 0.92
    f.widgets(0, 40, 3, "basic_widget", passed=0.96 if flaws_matter else 0.92)
    f.widgets(0, 40, 3, "industrial_widget", passed=0.85 if flaws_matter else 0.92)
    f.widgets(0, 40, 1.5, "basic_widget", passed=0.84 if flaws_matter else 0.92, defects=1)
    f.widgets(0, 40, 1, "smart_widget", passed=spoiled, defects=2, degraded=True)
    return f.verdicts()


def test_quality_claims_see_flawed_parts_fail_widgets() -> None:
    assert _quality(flaws_matter=True) == [True] * 4


def test_quality_claims_fail_when_flaws_spoil_nothing() -> None:
    # equal pass rates everywhere: no type fails more, flawed parts cost nothing
    assert _quality(flaws_matter=False) == [False, True, False, False]


# --- 3. machine downtime --------------------------------------------------------------------


def _downtime(machines_fail: bool) -> list[bool | None]:
    f = Tally("machine-downtime")  # normal 0-1:30, in error 1:30-3:05, repair, repaired 3:30-7
    f.order(0.0, 60)
    f.components(0, 1.5, 30, "circuit_board")
    f.widgets(0, 1.5, 25)
    f.order(2.0, 20)
    if machines_fail:
        for at_h in (1.5, 1.5, 1.84, 2.17, 2.84):
            f.alert(at_h, "machine_error", "PCB_ASSEMBLER_01")
        f.widgets(1.5, 3.5, 1)
    else:
        f.components(1.5, 3.5, 30, "circuit_board")
        f.widgets(1.5, 3.5, 25)
    f.components(3.5, 7, 32, "circuit_board")
    f.widgets(3.5, 7, 25)
    return f.verdicts()


def test_machine_downtime_claims_see_output_stop_and_resume() -> None:
    assert _downtime(machines_fail=True) == [True] * 6


def test_machine_downtime_claims_fail_when_anomalies_stop_nothing() -> None:
    # output never stops, so no orders pile up that the repair would let through
    assert _downtime(machines_fail=False) == [False, False, False, True, True, False]


# --- 4. demand spike ------------------------------------------------------------------------


def test_the_demand_spike_runs_on_the_scenarios_kanban_limits() -> None:
    f = Tally("demand-spike")
    limits = kanban_limits(f.config)
    assert (limits["circuit_board"].ceiling, limits["circuit_board"].reorder) == (60, 30)


def _spike(kanban: bool) -> list[bool | None]:
    f = Tally("demand-spike")  # before 0-3 h, spike 3-5:30, after 5:30-9
    f.widgets(0, 3, 7)
    if kanban:
        f.widgets(3, 5.5, 35)
        f.stock("circuit_board", (0.5, 20), (2.5, 52), (4.5, 5), (5.0, 30), (6.0, 55), (8.5, 58))
        f.stock("metal_frame", (1.0, 60), (4.0, 20), (7.0, 60))
    else:  # machines run flat out: stock piles up and the spike hardly dents it
        f.widgets(3, 5.5, 10)
        f.stock("circuit_board", (1.0, 120), (2.9, 200), (4.5, 180), (8.0, 250))
        f.stock("metal_frame", (1.0, 150), (7.0, 300))
    f.widgets(5.5, 9, 5)
    return f.verdicts()


def test_demand_spike_claims_see_stock_drain_and_refill_within_its_limits() -> None:
    assert _spike(kanban=True) == [True] * 7


def test_demand_spike_claims_fail_without_kanban_and_a_spike() -> None:
    assert _spike(kanban=False) == [False, False, False, False, True, False, False]


# --- 5. performance analytics ---------------------------------------------------------------


def _analytics(healthy: bool) -> list[bool | None]:
    f = Tally("performance-analytics")  # day 1, day 2
    ratio, efficiency = (1.0, 87.0) if healthy else (1.5, 98.0)
    f.widgets(0, 24, 15, passed=0.9, time_ratio=ratio)
    f.widgets(24, 48, 15, passed=0.9 if healthy else 0.6, time_ratio=ratio)
    f.reports(0, 48, "running", efficiency)
    f.reports(10, 11, "maintenance", 0.0)  # not running: left out of the efficiency
    return f.verdicts()


def test_performance_claims_hold_on_a_steady_factory() -> None:
    assert _analytics(healthy=True) == [True] * 5


def test_performance_claims_fail_on_slow_assembly_impossible_efficiency_and_a_quality_drop() -> (
    None
):
    assert _analytics(healthy=False) == [True, False, True, False, False]


# --- back-pressure --------------------------------------------------------------------------


def _back_pressure(slow_inspector: bool) -> list[bool | None]:
    f = Tally("back-pressure")  # assembly running 0-3 h, assembly paused 3-8 h
    f.widgets(0, 3, 22, checked=not slow_inspector)
    if slow_inspector:
        f.checks(0, 8, 10)
        f.lag((0.5, 6), (1.5, 18), (2.9, 35), (4.0, 25), (6.0, 5), (7.5, 0))
    else:
        f.lag((0.5, 1), (1.5, 2), (2.9, 1), (4.0, 0), (7.5, 0))
    return f.verdicts()


def test_back_pressure_claims_see_lag_grow_then_shrink() -> None:
    assert _back_pressure(slow_inspector=True) == [True] * 4


def test_back_pressure_claims_fail_when_quality_control_keeps_up() -> None:
    assert _back_pressure(slow_inspector=False) == [False, False, False, True]


@pytest.mark.parametrize("name", ["supply-disruption", "quality-issues", "machine-downtime"])
def test_every_claim_needs_data(name: str) -> None:
    """An empty run observes nothing: no claim is judged as observed."""
    assert True not in Tally(name).verdicts()


def test_a_bound_between_two_counts_is_shown_as_given() -> None:
    f = Tally("machine-downtime")
    f.alert(1.6, "machine_error", "PCB_ASSEMBLER_01")
    f.alert(1.7, "machine_error", "PCB_ASSEMBLER_02")
    f.o.finish()
    errors = next(o for o in evaluate(f.scenario, f.o) if o.expectation.metric == "machine_errors")
    assert errors.ok and errors.text.endswith("= 2 > 1.5")
