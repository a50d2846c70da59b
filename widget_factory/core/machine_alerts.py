"""The alert a machine raises when it goes into ERROR, in the answer key's words.

Kept next to the answer key (:mod:`widget_factory.core.ground_truth`) rather than in the
telemetry service so the two cannot disagree: the alert names the same fault kind and
cause as the ``begin`` record of the fault it announces. Pure: no Kafka, no clock.
"""

from __future__ import annotations

from widget_factory.core.clock import to_datetime
from widget_factory.core.ground_truth import fault_cause, fault_kind
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import StatusChange
from widget_factory.schemas import FactoryAlert, MachineStatus

__all__ = ["machine_error_alert"]


def machine_error_alert(change: StatusChange, ids: IdSource) -> FactoryAlert | None:
    """A critical ``machine_error`` alert for a change into ERROR; None for any other."""
    if change.current is not MachineStatus.ERROR:
        return None
    return FactoryAlert(
        event_id=ids.event_id(),
        alert_id=ids.short_id("ALERT"),
        severity="critical",
        source_id=change.machine_id,
        message=f"Machine {change.machine_id} in ERROR state ({change.reason}: "
        f"{fault_kind(change)}, cause {fault_cause(change)})",
        raised_at=to_datetime(change.at),
        kind="machine_error",
    )
