"""Assembly output: the widgets of finished builds, sent to ``widget-assembly``.

A build stays in progress in the planner (and in the changelog) until its widget's
record is acknowledged; a delivery that fails puts the build back in line, and it is
sent again on the next turn of the loop with the same ``event_id``. Builds recovered
from the changelog whose widget was never confirmed go the same way.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, Message

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import BuildRecord
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.topics import WIDGET_ASSEMBLY
from widget_factory.stations.reports import StationReports

__all__ = ["WidgetSender"]


class WidgetSender:
    """Sends the widgets of one assembly process and keeps those to send again."""

    def __init__(
        self, planner: AssemblyPlanner, producer: EventProducer, reports: StationReports
    ) -> None:
        self._planner = planner
        self._producer = producer
        self._reports = reports
        self.waiting: list[BuildRecord] = []
        """Builds whose widget is to be sent (again) on the next :meth:`send`."""
        self.sent = 0

    def send(self, completed: list[BuildRecord]) -> None:
        """The widgets waiting to be sent again, then those of ``completed``."""
        builds, self.waiting = self.waiting + completed, []
        for build in builds:
            self._send(build)

    def _send(self, build: BuildRecord) -> None:
        widget = build.widget

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._producer.count_delivery(error, message)
            if error is None:
                self._planner.delivered(widget.widget_id)
            else:
                self.waiting.append(build)

        self._producer.send(WIDGET_ASSEMBLY, widget, on_delivery=on_delivery)
        self.sent += 1
        self._reports.widget(widget)
