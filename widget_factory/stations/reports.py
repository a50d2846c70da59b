"""What the assembly service says: its log lines and its starvation alerts.

Shortages and assembled widgets are logged at a paced rate (a virtual-time run makes
thousands a second); a station starved with orders waiting is a warning and a
``station_starved`` alert on ``factory-alerts``, once per starvation.
"""

from __future__ import annotations

import logging

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import StepResult
from widget_factory.core.clock import format_sim_duration, to_datetime
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.topics import FACTORY_ALERTS
from widget_factory.processes.lifecycle import LogPacer
from widget_factory.schemas import FactoryAlert, WidgetAssembled

__all__ = ["StationReports", "stock_total"]

log = logging.getLogger("assembly")


def stock_total(planner: AssemblyPlanner) -> int:
    """Components in stock at every station (and unplaced)."""
    return sum(n for levels in planner.stock_levels().values() for n in levels.values())


class StationReports:
    """Logs and alerts of the stations of one assembly process."""

    def __init__(self, planner: AssemblyPlanner, producer: EventProducer, ids: IdSource) -> None:
        self._planner = planner
        self._producer = producer
        self._ids = ids
        self._widget_log = LogPacer(log, "widgets")
        self._shortage_log = LogPacer(log, "shortage notes", per_second=5)

    def restored(self, replayed: int) -> None:
        log.info(
            "Restored from the changelog (%d records): %s, %d open orders",
            replayed,
            self._state(),
            len(self._planner.orders),
        )

    def widget(self, widget: WidgetAssembled) -> None:
        if self._widget_log.allow():
            log.info(
                "Widget assembled: %s (%s) at %s",
                widget.widget_id,
                widget.widget_type,
                widget.assembly_station_id,
            )

    def step(self, result: StepResult, now: float) -> None:
        """Shortages, starvations (alerts) and completed orders of one planner step."""
        for shortage in result.shortages:
            if self._shortage_log.allow():
                log.info(
                    "%s lacks %s for %s (order %s)",
                    shortage.station_id,
                    ", ".join(shortage.missing),
                    shortage.widget_type,
                    shortage.order_id,
                )
        for starvation in result.starvations:
            # the simulated moment the threshold was crossed, not the end of this step
            # (virtual time may jump far past it in one step)
            found_at = now if starvation.at is None else starvation.at
            message = (
                f"Station {starvation.station_id} starved of {', '.join(starvation.missing)} "
                f"for {format_sim_duration(found_at - starvation.since)} with orders waiting"
            )
            log.warning(message)
            alert_id = self._ids.short_id("ALERT")
            self._producer.send(
                FACTORY_ALERTS,
                FactoryAlert(
                    event_id=event_id_from("factory_alert", self._planner.instance, alert_id),
                    alert_id=alert_id,
                    severity="warning",
                    source_id=starvation.station_id,
                    message=message,
                    raised_at=to_datetime(found_at),
                    kind="station_starved",
                ),
            )
        for order_id in self._planner.orders_completed:
            log.info("Order %s completed!", order_id)
        self._planner.orders_completed.clear()
        for late in self._planner.orders_late:
            log.warning(
                "Order %s completed late by %s (%d late so far)",
                late.order_id,
                format_sim_duration(late.late_by),
                self._planner.late_orders,
            )
        self._planner.orders_late.clear()

    def loop_step(self, records: int, now: float) -> None:
        """One turn of the service's loop, at debug level."""
        if log.isEnabledFor(logging.DEBUG):  # the stock count copies the whole stock
            planner = self._planner
            log.debug(
                "step: %d records, now %s, stock %d, orders %d, building %d",
                records,
                to_datetime(now).isoformat(),
                len(planner.stocked_ids()),
                len(planner.orders),
                len(planner.in_progress()),
            )

    def stopped(self, widgets_sent: int, notes: str) -> None:
        """The summary line; ``notes`` adds what was upgraded or dead-lettered on read."""
        log.info(
            "Assembly stopped: %d widgets sent, %s, %d units on order%s",
            widgets_sent,
            self._state(),
            self._planner.orders_waiting(),
            notes,
        )

    def _state(self) -> str:
        planner = self._planner
        return (
            f"{stock_total(planner)} components in stock, "
            f"{len(planner.in_progress())} builds in progress"
        )
