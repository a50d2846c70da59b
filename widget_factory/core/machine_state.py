"""One reporting machine's state, and what its sensors read in each status.

:class:`MachineUnit` holds a machine's constants (type, location, mean cycle, running
power) and its state (status, wear, cycles, the end of a repair or maintenance, an
injected anomaly); :func:`sensor_reading` turns it into a telemetry event
(:func:`sensor_record`: straight into its record's bytes). How the state
evolves between reports and under commands is the fleet's job,
:mod:`widget_factory.core.machines`.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Final

from widget_factory.core.fast_encode import TelemetryRecord, TelemetryWire, encode_wire
from widget_factory.core.ids import EventIds
from widget_factory.factory_config import LocationSpec
from widget_factory.schemas import (
    SCHEMA_VERSION,
    Location,
    MachineStatus,
    MachineTelemetry,
    TelemetryMetrics,
)

__all__ = [
    "BASE_POWER_W",
    "DEFAULT_BASE_POWER_W",
    "MachineUnit",
    "sensor_reading",
    "sensor_record",
]

BASE_POWER_W: Final[dict[str, float]] = {
    "metal_forming": 2200.0,
    "injection_molding": 2500.0,
    "electronics_assembly": 1200.0,
    "battery_assembly": 1000.0,
    "display_assembly": 900.0,
    "calibration": 800.0,
    "motor_assembly": 1500.0,
    "widget_assembly": 1100.0,
}
"""Mean power draw of a RUNNING machine by machine type, in watts (± 5% per reading)."""

DEFAULT_BASE_POWER_W: Final = 1500.0
"""Mean running power of a machine type missing from :data:`BASE_POWER_W`, in watts."""

_RUNNING = MachineStatus.RUNNING
_ERROR = MachineStatus.ERROR
_SHUTDOWN = MachineStatus.SHUTDOWN
_TWO_PI: Final = 2.0 * math.pi


class MachineUnit:
    """One reporting machine: its constants and its state (slots, for speed). The fleet
    (:class:`~widget_factory.core.machines.MachineFleet`) evolves it and reads it."""

    __slots__ = (
        "index",
        "id",
        "machine_type",
        "location",
        "mean_cycle",
        "base_power",
        "status",
        "wear",
        "cycles",
        "last",
        "until",
        "anomalous",
        "key",
    )

    def __init__(
        self,
        index: int,
        machine_id: str,
        machine_type: str,
        location: LocationSpec,
        mean_cycle: float,
        wear: float,
        start: float,
    ) -> None:
        self.index = index
        self.id = machine_id
        self.machine_type = machine_type
        self.location = Location(location.building, location.floor, location.line)
        self.mean_cycle = mean_cycle
        self.base_power = BASE_POWER_W.get(machine_type, DEFAULT_BASE_POWER_W)
        self.status = _RUNNING
        self.wear = wear
        self.cycles = 0.0
        """Cycles completed, as a float so short intervals are not lost; reported as int."""
        self.last = start
        """Time up to which the state has evolved."""
        self.until = math.inf
        """End of the current ERROR or MAINTENANCE."""
        self.anomalous = False
        """An injected anomaly: anomalous readings until repaired."""
        self.key = machine_id.encode()
        """Its reports' record key."""


def sensor_reading(
    unit: MachineUnit, t: float, rng: random.Random, ids: EventIds
) -> MachineTelemetry:
    """A telemetry event of the machine at ``t``: :func:`sensor_record`'s, as an event."""
    wire = sensor_record(unit, t, rng, ids).wire
    assert wire is not None  # (sensor_record always keeps it)
    return MachineTelemetry(
        event_id=wire.event_id,
        machine_id=wire.machine_id,
        machine_type=wire.machine_type,
        timestamp=wire.timestamp,
        status=wire.status,
        metrics=wire.metrics,
        location=wire.location,
    )


def sensor_record(
    unit: MachineUnit, t: float, rng: random.Random, ids: EventIds
) -> TelemetryRecord:
    """A telemetry report of the machine at ``t`` as its record (the service's fast path:
    the bytes, key and timestamp ``send_all`` would give the event, core/fast_encode.py).

    Readings are shaped by its status: running warm and busy (hotter and shakier with
    wear), error hot, shaking and near-zero power (an injected anomaly more so),
    maintenance and idle cool and quiet, shut down cold."""
    status = unit.status
    if status is _RUNNING:  # (the common case: four normals from two Box-Muller pairs)
        wear = unit.wear
        rand = rng.random
        r = math.sqrt(-2.0 * math.log(1.0 - rand()))
        a = _TWO_PI * rand()
        temperature = 50.0 + 4.0 * r * math.cos(a) + 15.0 * wear
        vibration = 2.0 + 0.4 * r * math.sin(a) + 3.0 * wear
        r = math.sqrt(-2.0 * math.log(1.0 - rand()))
        a = _TWO_PI * rand()
        power = unit.base_power * (1.0 + 0.05 * r * math.cos(a))
        efficiency = 95.0 - 20.0 * wear + 2.0 * r * math.sin(a)
    elif status is _ERROR and unit.anomalous:
        temperature = rng.gauss(115.0, 5.0)
        vibration = rng.gauss(12.0, 1.5)
        power = rng.uniform(0.0, 20.0)
        efficiency = rng.uniform(0.0, 5.0)
    elif status is _ERROR:
        temperature = rng.gauss(85.0, 6.0)
        vibration = rng.gauss(7.0, 1.0)
        power = rng.uniform(5.0, 50.0)
        efficiency = rng.uniform(0.0, 20.0)
    elif status is _SHUTDOWN:
        temperature = rng.gauss(22.0, 1.0)
        vibration = power = efficiency = 0.0
    else:  # MAINTENANCE, IDLE
        temperature = rng.gauss(26.0, 1.5)
        vibration = rng.gauss(0.1, 0.05)
        power = rng.uniform(50.0, 150.0)
        efficiency = 0.0
    timestamp = datetime.fromtimestamp(t, UTC)
    wire = TelemetryWire(
        ids.event_id(),  # after the readings: one generator may serve both
        SCHEMA_VERSION,
        unit.id,
        unit.machine_type,
        timestamp,
        status,
        TelemetryMetrics(  # round(x * 100) / 100: round(x, 2) at a quarter the cost
            round(temperature * 100.0) / 100.0,
            round(vibration * 100.0) / 100.0 if vibration > 0.0 else 0.0,
            round(power * 100.0) / 100.0 if power > 0.0 else 0.0,
            int(unit.cycles),
            0.0
            if efficiency <= 0.0
            else 100.0
            if efficiency >= 100.0
            else round(efficiency * 100.0) / 100.0,
        ),
        unit.location,
    )
    return TelemetryRecord(unit.key, encode_wire(wire), int(timestamp.timestamp() * 1000), wire)
