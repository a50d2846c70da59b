"""One valid event of every type, for round trips and validation tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from widget_factory import schemas as s

T0 = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)


def _id() -> str:
    return str(uuid.uuid4())


def sample_events() -> list[s.Event]:
    return [
        s.ComponentProduced(
            event_id=_id(),
            component_id="COMP_METAL_FRAME_a1b2c3d4",
            component_type="metal_frame",
            machine_id="FRAME_MACHINE_01",
            batch_id="BATCH_20261125_0800_0001",
            produced_at=T0,
            quality_metrics=s.QualityMetrics(
                weight_grams=150.2,
                dimensions_mm=s.Dimensions(100.0, 50.0, 25.0),
                temperature_celsius=22.1,
                defect_count=0,
            ),
            production_line="LINE_A",
        ),
        s.WidgetAssembled(
            event_id=_id(),
            widget_id="WIDGET_BASIC_WIDGET_0000abcd",
            widget_type="basic_widget",
            assembly_station_id="ASSEMBLY_STATION_A",
            component_ids=[
                "COMP_METAL_FRAME_a1b2c3d4",
                "COMP_PLASTIC_HOUSING_e5f6a7b8",
                "COMP_CIRCUIT_BOARD_0a0b0c0d",
            ],
            assembly_started_at=T0,
            assembly_completed_at=T0,
            assembly_duration_seconds=300.0,
            worker_id="WORKER_001",
            batch_id="ASSEMBLY_BATCH_1",
            order_id=None,
        ),
        s.QualityCheck(
            event_id=_id(),
            check_id="QC_0001",
            widget_id="WIDGET_BASIC_WIDGET_0000abcd",
            widget_type="basic_widget",
            inspector_id="QC_INSPECTOR_A",
            checked_at=T0,
            status=s.QualityStatus.FAIL,
            test_results=s.TestResults(True, True, True, 60.5),
            defects_found=["performance_below_standard"],
            notes="score 60.5 below 75",
        ),
        s.MachineTelemetry(
            event_id=_id(),
            machine_id="PCB_ASSEMBLER_01",
            machine_type="electronics_assembly",
            timestamp=T0,
            status=s.MachineStatus.RUNNING,
            metrics=s.TelemetryMetrics(45.0, 1.2, 800.0, 17, 92.5),
            location=s.Location("C", 2, "A"),
        ),
        s.InventoryUpdate(
            event_id=_id(),
            item_type="component",
            sku="metal_frame",
            item_id="COMP_METAL_FRAME_a1b2c3d4",
            warehouse_location="WAREHOUSE_MAIN",
            quantity_change=1,
            current_stock=12,
            updated_at=T0,
            reason="production",
            batch_id="BATCH_20261125_0800_0001",
        ),
        s.ProductionOrder(
            event_id=_id(),
            order_id="ORDER_0001",
            widget_type="premium_widget",
            quantity=5,
            priority=3,
            created_at=T0,
        ),
        s.FactoryAlert(
            event_id=_id(),
            alert_id="ALERT_0001",
            severity="critical",
            source_id="PCB_ASSEMBLER_01",
            message="Machine PCB_ASSEMBLER_01 in ERROR state",
            raised_at=T0,
        ),
        s.FactoryCommand(
            event_id=_id(),
            command="inject_anomaly",
            target_id="FRAME_MACHINE_01",
            issued_at=T0,
        ),
    ]
