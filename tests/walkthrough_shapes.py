"""Records shaped as the walkthrough's own producers write them (facts in docs/contract.md).

No envelope (no ``event_id``, ``event_type``, ``schema_version``), naive local times as
``datetime.isoformat()`` writes them, quality checks without ``widget_type``, telemetry
lines named ``LINE_A``; values are ``json.dumps(..., default=str)`` with its default
separators, keys the ids as UTF-8.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

NAIVE_T0 = datetime(2026, 11, 25, 14, 3, 7, 123456)
"""A naive local time, as the walkthrough's ``datetime.now()`` gives."""

_WEIGHTS = {
    "metal_frame": 150.0,
    "plastic_housing": 80.0,
    "circuit_board": 45.0,
    "battery": 120.0,
    "display_screen": 90.0,
    "sensor": 15.0,
    "motor": 200.0,
}


def value(document: dict[str, Any]) -> bytes:
    """The record value, serialised as the walkthrough does."""
    return json.dumps(document, default=str).encode()


def component(component_type: str, suffix: str, produced_at: datetime = NAIVE_T0) -> dict:
    return {
        "component_id": f"COMP_{component_type.upper()}_{suffix}",
        "component_type": component_type,
        "machine_id": "FRAME_MACHINE_01",
        "batch_id": "BATCH_20261125_1403_0001",
        "produced_at": produced_at.isoformat(),
        "quality_metrics": {
            "weight_grams": _WEIGHTS.get(component_type, 100.0),
            "dimensions_mm": {"length": 100.0, "width": 50.0, "height": 25.0},
            "temperature_celsius": 22.3,
            "defect_count": 0,
        },
        "production_line": "LINE_A",
    }


def telemetry(machine_id: str = "FRAME_MACHINE_01", at: datetime = NAIVE_T0) -> dict:
    return {
        "machine_id": machine_id,
        "machine_type": "metal_forming",
        "timestamp": at.isoformat(),
        "status": "running",
        "metrics": {
            "temperature_celsius": 41.5,
            "vibration_level": 2.1,
            "power_consumption_watts": 1500.0,
            "cycle_count": 120,
            "efficiency_percent": 93.0,
        },
        "location": {"building": "A", "floor": 1, "line": "LINE_A"},
    }


def quality_check(widget_id: str, checked_at: datetime = NAIVE_T0, passed: bool = True) -> dict:
    return {
        "check_id": f"QC_{widget_id[-8:]}",
        "widget_id": widget_id,
        "inspector_id": "QC_INSPECTOR_A",
        "checked_at": checked_at.isoformat(),
        "status": "pass" if passed else "fail",
        "test_results": {
            "electrical_test": True,
            "mechanical_test": True,
            "visual_inspection": True,
            "performance_score": 91.0 if passed else 40.0,
        },
        "defects_found": [] if passed else ["performance_below_standard"],
        "notes": "",
    }


def widget(
    widget_type: str, suffix: str, component_ids: list[str], at: datetime = NAIVE_T0
) -> dict:
    return {
        "widget_id": f"WIDGET_{widget_type.upper()}_{suffix}",
        "widget_type": widget_type,
        "assembly_station_id": "ASSEMBLY_STATION_A",
        "component_ids": component_ids,
        "assembly_started_at": at.isoformat(),
        "assembly_completed_at": at.isoformat(),
        "assembly_duration_seconds": 0.0,
        "worker_id": "WORKER_001",
        "batch_id": "ASSEMBLY_BATCH_1",
    }
