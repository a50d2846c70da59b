"""The dashboard figures the walkthrough's experiments are judged by, beyond the counters.

Pure, like :mod:`widget_factory.dashboard.state`, which owns one of these and feeds it:

- **Pass rate by what a widget is made of** (the quality experiment): widgets whose
  components had no defects, some defects, or a part made in its machine's settling-in
  cycles right after a repair (``made_while_degraded``). A check is joined to its widget
  by id; a check whose widget was not seen (the page started late) is left out, as the
  scenarios' summary leaves it out.
- **Machines down** (the machine-downtime experiment): how many machines and stations
  report error, maintenance or shutdown now, and how many of them are in error.
- **Kanban limits** (the demand-spike experiment): each component type's reorder point
  and ceiling, shown beside its stock, so a spike is seen draining stock below the
  reorder point and the refill stopping at the ceiling.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from widget_factory.core.kanban import kanban_limits
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import QualityCheck, QualityStatus, WidgetAssembled

__all__ = ["ExperimentView", "PART_GROUPS", "DOWN_STATUSES"]

PART_GROUPS: Final = ("no defects", "some defects", "a part made after a repair")
"""Rows of the pass rate by components: every widget is in one of the first two; those
with a part made right after its machine's repair are also in the third."""

DOWN_STATUSES: Final = frozenset({"error", "maintenance", "shutdown"})
"""Statuses in which a machine or station makes nothing."""

_UNCHECKED_MAX: Final = 20_000
"""Widgets remembered while they wait for their check (the oldest are dropped first)."""


class ExperimentView:
    def __init__(self, config: FactoryConfig) -> None:
        limits = kanban_limits(config) if config.kanban.enabled else {}
        self.kanban = {
            sku: {"reorder": limit.reorder, "ceiling": limit.ceiling}
            for sku, limit in sorted(limits.items())
        }
        """Reorder point and ceiling of each component type under kanban (none without)."""
        self._unchecked: OrderedDict[str, tuple[bool, bool]] = OrderedDict()
        self.checked = dict.fromkeys(PART_GROUPS, 0)
        self.passed = dict.fromkeys(PART_GROUPS, 0)

    def add_widget(self, event: WidgetAssembled) -> None:
        degraded = any(f.made_while_degraded for f in event.component_flaws)
        self._unchecked[event.widget_id] = (event.component_defects > 0, degraded)
        if len(self._unchecked) > _UNCHECKED_MAX:
            self._unchecked.popitem(last=False)

    def add_check(self, event: QualityCheck) -> None:
        parts = self._unchecked.pop(event.widget_id, None)
        if parts is None:
            return
        defective, degraded = parts
        groups = ["some defects" if defective else "no defects"]
        if degraded:
            groups.append("a part made after a repair")
        for group in groups:
            self.checked[group] += 1
            self.passed[group] += event.status is QualityStatus.PASS

    def quality_by_parts(self) -> list[dict[str, Any]]:
        return [
            {
                "components": group,
                "checks": self.checked[group],
                "pass_rate": round(self.passed[group] / self.checked[group], 3)
                if self.checked[group]
                else None,
            }
            for group in PART_GROUPS
        ]

    @staticmethod
    def machines_down(machines: list[dict[str, Any]]) -> dict[str, int]:
        down = [m for m in machines if m.get("status") in DOWN_STATUSES]
        return {
            "down": len(down),
            "in_error": sum(1 for m in down if m["status"] == "error"),
            "reporting": sum(1 for m in machines if m.get("status") != "unknown"),
        }
