"""The dashboard shows each experiment's key figure: pass rate by what a widget is made
of, machines down, and stock against its kanban limits (pure state, no broker)."""

from __future__ import annotations

import msgspec

from tests.unit.test_analytics import check, report, stock, widget
from widget_factory import schemas as s
from widget_factory.core.kanban import kanban_limits
from widget_factory.dashboard.state import DashboardState
from widget_factory.factory_config import default_config


def _flawed(at: float, widget_id: str, defects: int, degraded: bool = False) -> s.WidgetAssembled:
    flaw = s.ComponentFlaw("COMP_CIRCUIT_BOARD_0000abcd", "PCB_ASSEMBLER_01", defects, degraded)
    return msgspec.structs.replace(
        widget(at, widget_id=widget_id),
        component_defects=defects,
        component_flaws=[flaw] if defects or degraded else [],
    )


def test_pass_rate_by_the_flaws_of_a_widgets_components() -> None:
    state = DashboardState(default_config())
    clean = [f"WIDGET_BASIC_WIDGET_0000000{i}" for i in range(4)]
    flawed = [f"WIDGET_BASIC_WIDGET_0000001{i}" for i in range(4)]
    for i, widget_id in enumerate(clean):
        state.add(_flawed(10 + i, widget_id, 0))
    for i, widget_id in enumerate(flawed):
        state.add(_flawed(20 + i, widget_id, 2, degraded=i < 2))
    for i, widget_id in enumerate(clean):  # 4 of 4 pass
        state.add(check(30 + i, widget_id=widget_id))
    for i, widget_id in enumerate(flawed):  # the two degraded ones fail, 1 of the others
        state.add(check(40 + i, ["electrical_failure"] if i < 3 else None, widget_id=widget_id))
    state.add(check(50, widget_id="WIDGET_BASIC_WIDGET_unseen00"))  # its widget never seen
    rows = {r["components"]: r for r in state.snapshot()["quality_by_parts"]}
    assert rows["no defects"] == {"components": "no defects", "checks": 4, "pass_rate": 1.0}
    assert rows["some defects"]["checks"] == 4 and rows["some defects"]["pass_rate"] == 0.25
    assert (
        rows["a part made after a repair"]["checks"] == 2
        and rows["a part made after a repair"]["pass_rate"] == 0.0
    )
    assert state.snapshot()["totals"]["checks"] == 9  # the counters still count every check


def test_machines_down_counts_error_maintenance_and_shutdown() -> None:
    state = DashboardState(default_config())
    snap = state.snapshot()["totals"]
    assert (snap["down"], snap["in_error"], snap["reporting"]) == (0, 0, 0)
    state.add(report(10, "error", "PCB_ASSEMBLER_01"))
    state.add(report(10, "error", "PCB_ASSEMBLER_02"))
    state.add(report(10, "maintenance", "DISPLAY_ASSEMBLY_01"))
    state.add(report(10, "running", "FRAME_MACHINE_01"))
    state.add(report(10, "idle", "FRAME_MACHINE_02"))  # parked by kanban: not down
    snap = state.snapshot()["totals"]
    assert (snap["down"], snap["in_error"], snap["reporting"]) == (3, 2, 5)
    state.add(report(20, "running", "PCB_ASSEMBLER_01"))  # repaired
    assert state.snapshot()["totals"]["down"] == 2


def test_stock_comes_with_each_component_types_kanban_limits() -> None:
    config = default_config()
    state = DashboardState(config)
    state.add(stock(10, 5, sku="circuit_board"))
    snap = state.snapshot()
    limits = kanban_limits(config)["circuit_board"]
    assert snap["kanban"]["circuit_board"] == {
        "reorder": limits.reorder,
        "ceiling": limits.ceiling,
    }
    assert limits.reorder < limits.ceiling and set(snap["kanban"]) == set(config.component_types)
    off = msgspec.structs.replace(
        config, kanban=msgspec.structs.replace(config.kanban, enabled=False)
    )
    assert DashboardState(off).snapshot()["kanban"] == {}


def test_the_page_shows_the_experiment_figures() -> None:
    from importlib import resources

    static = resources.files("widget_factory.dashboard").joinpath("static")
    page = static.joinpath("index.html").read_text()
    script = static.joinpath("app.js").read_text()
    for element in ("machines-down", "machines-error", "quality-parts"):
        assert f'id="{element}"' in page
    assert "s.quality_by_parts" in script and "s.kanban" in script and "s.totals.down" in script
